// Shared helpers for box tests: temp data dirs, a recording logger, instance lifecycle.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingLogger } from '@tarantype/wal/testing';
import { Box, type BoxRuntime } from '../src/index.js';

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tarantype-box-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function open(
  dir: string,
  options: Record<string, unknown> = {},
  runtime: BoxRuntime = {},
): Promise<{ box: Box; logger: RecordingLogger }> {
  const logger = new RecordingLogger();
  const box = await Box.cfg(
    { work_dir: dir, checkpoint_interval: 0, ...options },
    { logger, ...runtime },
  );
  return { box, logger };
}

/** Creates space `tester` {id unsigned, name string} with a TREE primary key. */
export async function tester(box: Box) {
  const space = await box.schema.space.create('tester', {
    format: [
      { name: 'id', type: 'unsigned' },
      { name: 'name', type: 'string', is_nullable: true },
    ],
  });
  await space.createIndex('primary');
  return space;
}
