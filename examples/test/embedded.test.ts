// examples/memtx-table.mjs and examples/durable-box.mjs, run as a user runs them.
import { expect, it } from 'vitest';
import { runExample, tempDir } from './helpers.js';

it('memtx-table: an in-memory table with a TREE range query', async () => {
  const out = await runExample('memtx-table.mjs');
  expect(out.trim().split('\n')).toEqual([
    '1994 Design Patterns (978-0201633610)',
    '1996 SICP (978-0262510875)',
    '3 books',
  ]);
});

it('durable-box: rows written, closed, and found again in the data dir on every run', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    expect(await runExample('durable-box.mjs', [dir])).toMatch(/: 1 visits, last \[1,"/);
    expect(await runExample('durable-box.mjs', [dir])).toMatch(/: 2 visits, last \[2,"/);
    expect(await runExample('durable-box.mjs', [dir])).toMatch(/: 3 visits, last \[3,"/);
  } finally {
    await cleanup();
  }
});
