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
    const { Box } = await import('@tarantype/box');

    // The first call bootstraps (or recovers) the data directory, like box.cfg{}.
    const box = await Box.cfg({ work_dir: dir, wal_mode: 'write' });
    const users = await box.schema.space.create('users', {
      format: [
        { name: 'id', type: 'unsigned' },
        { name: 'name', type: 'string' },
      ],
    });
    await users.createIndex('primary'); // TREE on field 0 (fields are 0-based here)

    await users.insert([1, 'Ada']); // resolves once the WAL has it
    await box.atomic(async () => {
      // One WAL entry for both: all or nothing.
      await users.insert([2, 'Grace']);
      await users.update([1], [['=', 1, 'Ada L.']]);
    });
    print(JSON.stringify(users.select())); // reads are synchronous

    try {
      await users.insert([1, 'again']);
    } catch (error) {
      print((error as Error).message); // Tarantool's text
    }

    await box.schema.user.create('app', { password: 'secret' });
    await box.schema.user.grant('app', 'read,write', 'space', 'users');
    await box.snapshot();
    await box.close();

    const again = await Box.cfg({ work_dir: dir }); // recovers: snapshot, then xlogs
    print(JSON.stringify(again.space.users!.get([2])));
    await again.close();
    // README-END
  } finally {
    await cleanup();
  }
  expect(log).toEqual([
    '[[1,"Ada L."],[2,"Grace"]]',
    "Duplicate key exists in unique index 'primary' in space 'users'",
    '[2,"Grace"]',
  ]);
  expect(
    readmeContains(
      new URL('../README.md', import.meta.url).pathname,
      exampleRegion(fileURLToPath(import.meta.url)),
    ),
  ).toBe(true);
});
