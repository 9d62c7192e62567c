// The README's usage example, run as a test (and checked to be the README's text verbatim).
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs helper shared by the packages' readme tests.
import { exampleRegion, readmeContains } from '../../../scripts/readme-example.mjs';
import { tempDir } from './helpers.js';

it('README example works and is the README text', async () => {
  const { dir, cleanup } = await tempDir();
  const log: string[] = [];
  const print = (line: string) => log.push(line);
  try {
    // README-BEGIN
    const { IprotoType, Vclock, encode, loadHasher, makeXrow } = await import('@tarantype/core');
    const { Journal, NodeFileSystem, XlogCursor, XlogDir } = await import('@tarantype/wal');

    const hasher = await loadHasher(); // xxhash-wasm, loaded once
    const fs = new NodeFileSystem();
    const journal = new Journal({
      fs,
      dir,
      hasher,
      mode: 'fsync',
      instanceId: 1,
      vclock: new Vclock(),
      instanceUuid: '7c6b0e53-8e5c-4b36-9f62-7c6d0b7f4b11',
    });
    // Submit without awaiting each one: everything queued during a write shares one fdatasync.
    const body = (id: number) =>
      encode(
        new Map<number, unknown>([
          [0x10, 512],
          [0x21, [id, 'hello']],
        ]),
      );
    await Promise.all(
      [1, 2, 3].map((id) => journal.submit([makeXrow(IprotoType.INSERT, body(id))])),
    );
    print(`vclock ${journal.vclock}`); // {1: 3}
    await journal.close();

    const files = (await XlogDir.scan(fs, dir, 'XLOG', hasher)).files;
    const cursor = await XlogCursor.open(fs, files[0]!.path, 'XLOG', hasher);
    for (let tx = await cursor!.next(); tx !== undefined; tx = await cursor!.next()) {
      print(`lsn ${tx.rows[0]!.lsn}`);
    }
    await cursor!.close();
    // README-END
  } finally {
    await cleanup();
  }
  expect(log).toEqual(['vclock {1: 3}', 'lsn 1', 'lsn 2', 'lsn 3']);
  const here = fileURLToPath(import.meta.url);
  expect(
    readmeContains(new URL('../README.md', import.meta.url).pathname, exampleRegion(here)),
  ).toBe(true);
});
