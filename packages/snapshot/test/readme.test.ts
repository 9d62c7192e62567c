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
    const { Vclock, decode, encode, loadHasher } = await import('@tarantype/core');
    const { NodeFileSystem } = await import('@tarantype/wal');
    const { SnapshotDir, SnapshotReader, writeSnapshot } = await import('@tarantype/snapshot');

    const hasher = await loadHasher(); // xxhash-wasm, loaded once
    const fs = new NodeFileSystem();
    // box builds the source from memtx read views; here, two spaces given as arrays.
    const source = {
      vclock: new Vclock([[1, 42]]),
      spaces: [
        { id: 512, groupId: 0, tuples: () => [encode([1, 'a']), encode([2, 'b'])] },
        { id: 272, groupId: 0, tuples: () => [encode(['version', 2, 3, 1])] },
      ],
      release: () => print('read views released'),
    };
    const written = await writeSnapshot({
      fs,
      dir,
      hasher,
      source,
      instanceUuid: '7c6b0e53-8e5c-4b36-9f62-7c6d0b7f4b11',
      ioRateLimitMBps: 100, // snap_io_rate_limit
      onProgress: (p) => p.done && print(`saved ${p.rows} rows`), // also every second while running
    });
    print(`${written.status} ${written.path.slice(dir.length + 1)}`);

    // Recovery: the newest snapshot, every row verified; system spaces come first.
    const latest = (await SnapshotDir.scan(fs, dir, hasher)).latest()!;
    const reader = await SnapshotReader.open(fs, latest.path, hasher, { forceRecovery: false });
    for await (const batch of reader) {
      for (const row of batch.rows)
        print(`lsn ${row.lsn} space ${row.spaceId} ${JSON.stringify(decode(row.tuple))}`);
    }
    print(`vclock ${reader.vclock}`);

    // checkpoint_count = 2: older snapshots go; xlogs below `oldestKeptVclock` may go too.
    const gc = await (await SnapshotDir.scan(fs, dir, hasher)).collectGarbage(2);
    print(`removed ${gc.removed.length}, WAL needed from ${gc.oldestKeptVclock}`);
    // README-END
    expect(log).toEqual([
      'read views released',
      'saved 3 rows',
      'written 00000000000000000042.snap',
      'lsn 0 space 272 ["version",2,3,1]',
      'lsn 1 space 512 [1,"a"]',
      'lsn 2 space 512 [2,"b"]',
      'vclock {1: 42}',
      'removed 0, WAL needed from {1: 42}',
    ]);
  } finally {
    await cleanup();
  }
  expect(
    readmeContains(
      new URL('../README.md', import.meta.url).pathname,
      exampleRegion(fileURLToPath(import.meta.url)),
    ),
  ).toBe(true);
});
