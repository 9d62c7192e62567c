#!/usr/bin/env node
// An embedded durable box: a data directory (WAL + snapshots), closed and reopened.
// Run: node examples/durable-box.mjs [data-dir]   (a fresh temp dir when none is given)
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Box } from '@tarantype/box';

const dir = process.argv[2] ?? (await mkdtemp(join(tmpdir(), 'tarantype-durable-')));

const box = await Box.cfg({ work_dir: dir, wal_mode: 'fsync' });
const visits = box.space.visits ?? (await box.schema.space.create('visits'));
if (visits.index[0] === undefined) await visits.createIndex('primary');
const last = visits.max();
const id = last === undefined ? 1 : Number(last[0]) + 1;
await visits.insert([id, new Date().toISOString()]); // resolves once fsync'ed
await box.close();

// A new Box on the same directory recovers the rows from its files.
const reopened = await Box.cfg({ work_dir: dir });
console.log(
  `${dir}: ${reopened.space.visits?.len()} visits, last ${JSON.stringify(reopened.space.visits?.max())}`,
);
await reopened.close();
