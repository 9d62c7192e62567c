// BoxRuntime.onProgress end to end: recovery (snapshot, then xlogs), box.snapshot(), and a JOIN
// seen from both sides, each task as start → progress… → one end, counters within totals.
import { join } from 'node:path';
import { createServer, type IprotoServer } from '@tarantype/iproto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Box, BoxHandler, FunctionRegistry, type ProgressEvent } from '../src/index.js';
import { open, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
const boxes: Box[] = [];
const servers: IprotoServer[] = [];
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close({ timeoutMs: 500 });
  for (const box of boxes.splice(0)) await box.close().catch(() => {});
  await cleanup();
});

const PAD = 'x'.repeat(50);

/** `count` tuples [i, PAD] in space `bulk`, in transactions of 1000; a snapshot after `snapshotAt`. */
async function fill(box: Box, count: number, snapshotAt: number): Promise<void> {
  const space = await box.schema.space.create('bulk');
  await space.createIndex('primary');
  for (let i = 0; i < count; i += 1000) {
    box.begin();
    for (let j = i; j < Math.min(i + 1000, count); j++) void space.replace([j, PAD]);
    await box.commit();
    if (i + 1000 === snapshotAt) await box.snapshot();
  }
}

/** The events of each task id, in arrival order; checks the port's invariants on each. */
function byTask(events: readonly ProgressEvent[]): ProgressEvent[][] {
  const tasks = new Map<number, ProgressEvent[]>();
  for (const event of events) {
    const list = tasks.get(event.id) ?? [];
    tasks.set(event.id, [...list, event]);
  }
  for (const list of tasks.values()) {
    expect(list[0]!.phase).toBe('start');
    expect(list.at(-1)!.phase).toBe('end');
    expect(list.filter((e) => e.phase === 'end')).toHaveLength(1);
    for (let i = 1; i < list.length; i++) {
      const [before, event] = [list[i - 1]!, list[i]!];
      expect(event.done).toBeGreaterThanOrEqual(before.done);
      expect(event.bytesDone).toBeGreaterThanOrEqual(before.bytesDone);
      expect(event.elapsedMs).toBeGreaterThanOrEqual(before.elapsedMs);
      if (event.total !== undefined) expect(event.done).toBeLessThanOrEqual(event.total);
      if (event.bytesTotal !== undefined)
        expect(event.bytesDone).toBeLessThanOrEqual(event.bytesTotal);
    }
  }
  return [...tasks.values()];
}

describe('BoxRuntime.onProgress', () => {
  it('reports recovery of the snapshot and of the xlogs, and box.snapshot()', async () => {
    const first = await open(dir);
    await fill(first.box, 30_000, 20_000);
    await first.box.close();

    const events: ProgressEvent[] = [];
    const { box } = await open(dir, {}, { onProgress: (e) => events.push(e) });
    boxes.push(box);
    const [snapshot, xlogs, ...rest] = byTask(events);
    expect(rest).toEqual([]);
    const snapshotEnd = snapshot!.at(-1)!;
    expect(snapshotEnd).toMatchObject({ task: 'recovery', unit: 'rows', outcome: 'done' });
    expect(snapshotEnd.detail).toMatch(/^snapshot \d{20}\.snap$/);
    // Every user row and the system spaces' rows; the whole file read.
    expect(snapshotEnd.done).toBeGreaterThan(20_000);
    expect(snapshotEnd.bytesDone).toBe(snapshotEnd.bytesTotal);
    const xlogEnd = xlogs!.at(-1)!;
    expect(xlogEnd).toMatchObject({ task: 'recovery', outcome: 'done', done: 10_000 });
    expect(xlogEnd.detail).toMatch(/^xlog \d{20}\.xlog$/);
    expect(xlogEnd.bytesDone).toBe(xlogEnd.bytesTotal);

    events.length = 0;
    await box.space.bulk!.replace([1_000_000, 'new']);
    await box.snapshot();
    const [checkpoint, ...none] = byTask(events);
    expect(none).toEqual([]);
    const end = checkpoint!.at(-1)!;
    expect(end).toMatchObject({ task: 'checkpoint', unit: 'tuples', outcome: 'done' });
    expect(end.done).toBe(end.total);
    expect(end.done).toBeGreaterThan(30_000);
    expect(end.bytesDone).toBeGreaterThan(30_000 * PAD.length);
  });

  it('reports a JOIN on the replica (received) and on the master (sent, to which replica)', async () => {
    const masterEvents: ProgressEvent[] = [];
    const { box: master } = await open(
      join(dir, 'master'),
      {},
      {
        onProgress: (e) => masterEvents.push(e),
      },
    );
    boxes.push(master);
    await master.schema.user.grant('guest', 'replication');
    await fill(master, 20_000, 0);
    const server = createServer({
      handler: new BoxHandler(master, new FunctionRegistry()),
      replication: master.replicaSet.relay,
    });
    servers.push(server);
    const address = await server.listen(0, '127.0.0.1');
    masterEvents.length = 0;

    const replicaEvents: ProgressEvent[] = [];
    const { box: replica } = await open(
      join(dir, 'replica'),
      { replication: `127.0.0.1:${address.port}`, replication_timeout: 0.1 },
      { onProgress: (e) => replicaEvents.push(e) },
    );
    boxes.push(replica);
    expect(replica.space.bulk!.len()).toBe(20_000);

    const [sent, ...noMore] = byTask(masterEvents);
    expect(noMore).toEqual([]);
    const sentEnd = sent!.at(-1)!;
    expect(sentEnd).toMatchObject({
      task: 'relay',
      outcome: 'done',
      detail: `initial data to replica ${replica.instanceUuid}`,
    });
    expect(sentEnd.done).toBe(sentEnd.total);
    expect(sentEnd.bytesDone).toBe(sentEnd.bytesTotal);

    const tasks = byTask(replicaEvents);
    const initial = tasks.find((t) => t[0]!.detail.startsWith('initial data'))!;
    expect(initial.at(-1)).toMatchObject({
      task: 'join',
      outcome: 'done',
      total: undefined,
      detail: `initial data from 127.0.0.1:${address.port}`,
      done: sentEnd.done,
    });
    expect(initial.at(-1)!.bytesDone).toBeGreaterThan(20_000 * PAD.length);
    // The replica's first snapshot is a checkpoint task after the join's.
    expect(tasks.at(-1)![0]).toMatchObject({ task: 'checkpoint' });
    expect(tasks.at(-1)!.at(-1)).toMatchObject({ outcome: 'done' });
  });
});
