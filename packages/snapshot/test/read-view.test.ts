// The read-view property: writes that continue while a snapshot is being written never reach
// the file. The file equals the state at the moment the source was taken — no torn tuple, no
// mix of before and after — even though the writer interleaves with the writes at every block.
import { loadHasher, Vclock } from '@tarantype/core';
import { NodeFileSystem } from '@tarantype/wal';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeSnapshot } from '../src/index.js';
import { type MemorySpace, readViewSource } from '../src/testing.js';
import {
  buildSpaces,
  expectedRows,
  INSTANCE_UUID,
  readAll,
  rowTriples,
  tempDir,
  testSeed,
  tuple,
} from './helpers.js';

const hasher = await loadHasher();
const fs = new NodeFileSystem();
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

type Mutation = { space: number; key: number; kind: 'set' | 'delete'; version: number };

/** Applies mutations one per event-loop turn (setImmediate) until `stop` resolves. */
function mutateConcurrently(
  spaces: MemorySpace[],
  mutations: readonly Mutation[],
  stop: Promise<unknown>,
) {
  let applied = 0;
  let stopped = false;
  void stop.finally(() => (stopped = true));
  const done = new Promise<void>((resolve) => {
    const step = () => {
      if (stopped || applied >= mutations.length) return resolve();
      const mutation = mutations[applied++]!;
      const space = spaces[mutation.space % spaces.length]!;
      if (mutation.kind === 'set')
        space.data.set(mutation.key, tuple(mutation.key, `changed-${mutation.version}`));
      else space.data.delete(mutation.key);
      setImmediate(step);
    };
    setImmediate(step);
  });
  return { done, applied: () => applied };
}

describe('snapshot from a read view', () => {
  it('a write continuing during the snapshot leaks nothing into the file', async () => {
    const spaces = buildSpaces([
      { id: 280, keys: Array.from({ length: 300 }, (_, i) => i) },
      { id: 512, keys: Array.from({ length: 3000 }, (_, i) => i * 2) },
      { id: 513, groupId: 1, keys: Array.from({ length: 2000 }, (_, i) => i) },
    ]);
    const expected = expectedRows(spaces);
    const source = readViewSource(new Vclock([[1, 100]]), spaces);
    // From here on, every change is "after the vclock" and must not be in the file.
    const mutations: Mutation[] = [];
    for (let i = 0; i < 5000; i++) {
      mutations.push({
        space: i % 3,
        key: (i * 7919) % 7000,
        kind: i % 4 === 0 ? 'delete' : 'set',
        version: i,
      });
    }
    const written = writeSnapshot({
      fs,
      dir,
      hasher,
      instanceUuid: INSTANCE_UUID,
      source,
      blockSizeBytes: 512,
      yieldIntervalMs: 0,
    });
    const mutator = mutateConcurrently(spaces, mutations, written);
    const result = await written;
    const appliedDuringWrite = mutator.applied();
    await mutator.done;
    expect(appliedDuringWrite).toBeGreaterThan(50);
    const { rows } = await readAll(result.path, hasher);
    expect(rowTriples(rows)).toEqual(expected);
    expect(source.releaseCount).toBe(1);
    // And the maps did change: the live state differs from the file.
    expect(expectedRows(spaces)).not.toEqual(expected);
  });

  it('control: a source without read views (live iteration) does leak the concurrent writes', async () => {
    const spaces = buildSpaces([{ id: 512, keys: Array.from({ length: 3000 }, (_, i) => i * 2) }]);
    const expected = expectedRows(spaces);
    const live = spaces[0]!.data;
    const source = {
      vclock: new Vclock([[1, 1]]),
      spaces: [
        {
          id: 512,
          groupId: 0,
          *tuples() {
            for (const [, value] of live.entries()) yield value;
          },
        },
      ],
      release() {},
    };
    const mutations: Mutation[] = Array.from({ length: 3000 }, (_, i) => ({
      space: 0,
      key: 6000 - i * 2,
      kind: 'set' as const,
      version: i,
    }));
    const written = writeSnapshot({
      fs,
      dir,
      hasher,
      instanceUuid: INSTANCE_UUID,
      source,
      blockSizeBytes: 512,
      yieldIntervalMs: 0,
    });
    const mutator = mutateConcurrently(spaces, mutations, written);
    const result = await written;
    await mutator.done;
    const { rows } = await readAll(result.path, hasher);
    expect(rowTriples(rows)).not.toEqual(expected);
  });

  it('holds for random contents and random concurrent writes (seeded)', async () => {
    const seed = testSeed();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uniqueArray(fc.integer({ min: 0, max: 400 }), { maxLength: 120 }), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.array(
          fc.record({
            space: fc.nat(3),
            key: fc.integer({ min: 0, max: 400 }),
            kind: fc.constantFrom('set' as const, 'delete' as const),
            version: fc.nat(),
          }),
          { maxLength: 300 },
        ),
        async (keySets, mutations) => {
          const ids = [276, 512, 600, 1000];
          const spaces = buildSpaces(
            keySets.map((keys, i) => ({ id: ids[i]!, keys })),
            2,
          );
          const expected = expectedRows(spaces);
          const runDir = `${dir}/run-${run++}`;
          await fs.mkdir(runDir);
          const source = readViewSource(new Vclock([[1, run]]), spaces);
          const written = writeSnapshot({
            fs,
            dir: runDir,
            hasher,
            instanceUuid: INSTANCE_UUID,
            source,
            blockSizeBytes: 64,
            yieldIntervalMs: 0,
          });
          const mutator = mutateConcurrently(spaces, mutations, written);
          const result = await written;
          await mutator.done;
          const { rows } = await readAll(result.path, hasher);
          expect(rowTriples(rows), `seed ${seed}`).toEqual(expected);
        },
      ),
      { seed, numRuns: 40 },
    );
  });
});
