// Storage faults under load (issue 15; RELIABILITY.md #5–#8): one seeded round puts concurrent
// writers on an in-process Box whose FileSystem is a FaultyFileSystem over real files, and
// injects one fault — EIO on a write, a torn (short) write, a failed fdatasync, or a full disk
// (ENOSPC, FaultyFileSystem.limitSpace) — into one target:
// - 'wal': the xlogs, while the writers commit (group commit batches, rotations);
// - 'snapshot': the snapshot writer during box.snapshot(), writers still running;
// - 'join': a joining replica's files (its snapshot and first xlog), the master under load;
// - 'master-join': the master (wal_mode fsync, on a PowerLossDisk) loses power while a replica
//   JOINs it (fault 'power-loss').
// Layer: apps/server tests (storage-faults.test.ts and the chaos campaign storage-faults).
//
// Checked every round:
// - a transaction that failed got ER_WAL_IO or ER_CASCADE_ROLLBACK (nothing else), and its
//   rows are absent; every acknowledged one is whole in memory (reads run all through the
//   fault and must not throw);
// - the instance keeps serving: once the fault clears, writes are acknowledged again (unless a
//   failed truncation sync made the WAL refuse writes until a restart, which is logged);
// - a restart on the same directory recovers exactly the acknowledged transactions, and the
//   file invariants of invariants.ts hold;
// - snapshot: a failed box.snapshot() rejects, leaves the previous checkpoint the newest, and
//   a restart from it (and its xlogs) recovers everything; the next box.snapshot() succeeds;
// - join: a replica whose JOIN failed starts again on the same directory, joins (or recovers
//   what the join completed), catches up, and then holds the master's rows and vclock;
// - master-join: the master reboots with every acknowledged write (a transaction refused by
//   the power loss itself may be there or not), and the replica's Box.cfg, still in progress,
//   JOINs again once the master is back (never resolving half-joined), then matches it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Box, BoxHandler, FunctionRegistry } from '@tarantype/box';
import { ER_CASCADE_ROLLBACK, ErrorCode } from '@tarantype/core';
import { createServer } from '@tarantype/iproto';
import { type FileSystem, NodeFileSystem } from '@tarantype/wal';
import { FaultyFileSystem, PowerLossDisk, RecordingLogger } from '@tarantype/wal/testing';
import { checkDataDir, VclockHistory } from './invariants.js';
import { Rng } from './restart-model.js';

export type StorageFaultTarget = 'wal' | 'snapshot' | 'join' | 'master-join';
export type StorageFaultKind = 'eio' | 'torn' | 'fdatasync' | 'enospc' | 'power-loss';

export interface StorageFaultResult {
  readonly seed: number;
  readonly target: StorageFaultTarget;
  readonly kind: StorageFaultKind;
  /** Faults the file system injected (a rule firing, a write refused for space). */
  readonly faults: number;
  /** Transactions that failed (ER_WAL_IO or the cascade) and were checked absent. */
  readonly failedChecked: number;
  /** Acknowledged transactions checked present (in memory, after restart, on the replica). */
  readonly acknowledgedChecked: number;
  readonly lost: number;
  readonly diverged: number;
  readonly failedStarts: number;
  /** What the round did, in order (printed with each failure). */
  readonly steps: readonly string[];
  readonly failures: readonly string[];
}

const USER = 'replicator';
const PASSWORD = 'replicator-secret';
const FAULT_WAIT_MS = 3000;
const CATCH_UP_TIMEOUT_MS = 15_000;
const CLOSE_TIMEOUT_MS = 10_000;
const KEYS_PER_WRITER = 10_000_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no end within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function until(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await sleep(2);
  }
  return true;
}

type Outcome = 'pending' | 'acknowledged' | 'failed';

/**
 * Writers on one Box: each transaction inserts 1–3 rows with keys of its own, and its outcome
 * is recorded when its promise settles. `check` compares a Box's `log` space with the outcomes.
 */
class Ledger {
  readonly outcomes = new Map<string, { rows: number; outcome: Outcome }>();
  private stopped = false;
  private loops: Promise<void>[] = [];
  acknowledged = 0;
  failed = 0;
  /** Failed transactions found present anyway (allowed only where `failedMayPersist`). */
  failedPresent = 0;

  constructor(
    private readonly fail: (message: string) => void,
    /** A power loss refused them: their rows may have reached the device (fsyncgate). */
    private readonly failedMayPersist = false,
  ) {}

  static key(writer: number, seq: number, row: number): number {
    return writer * KEYS_PER_WRITER + seq * 4 + row;
  }

  start(box: Box, writers: number, firstWriter = 1): void {
    this.stopped = false;
    for (let w = 0; w < writers; w++) this.loops.push(this.loop(box, firstWriter + w));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await withTimeout(Promise.all(this.loops), CLOSE_TIMEOUT_MS, 'the writers');
    this.loops = [];
  }

  private async loop(box: Box, writer: number): Promise<void> {
    const space = box.space.log!;
    for (let seq = 1; !this.stopped; seq++) {
      const rows = ((seq + writer) % 3) + 1;
      const id = `${writer}/${seq}`;
      const entry = { rows, outcome: 'pending' as Outcome };
      this.outcomes.set(id, entry);
      try {
        await box.atomic(async () => {
          for (let j = 0; j < rows; j++)
            await space.insert([Ledger.key(writer, seq, j), writer, seq]);
        });
        entry.outcome = 'acknowledged';
        this.acknowledged++;
      } catch (error) {
        entry.outcome = 'failed';
        this.failed++;
        const code = (error as { code?: unknown }).code;
        if (code !== ErrorCode.ER_WAL_IO && code !== ER_CASCADE_ROLLBACK)
          this.fail(`transaction ${id} failed with ${String(code)}: ${(error as Error).message}`);
        // A WAL that refuses every write (a failed truncation sync) must not spin.
        await sleep(1);
      }
      if (seq % 16 === 0) await sleep(0);
    }
  }

  /** Rows of `box`'s log against the outcomes: returns [acknowledged checked, lost, failed checked]. */
  check(box: Box, label: string): [number, number, number] {
    const present = new Map<string, number>();
    for (const t of box.space.log?.select() ?? []) {
      if (t[1] === 0) continue; // rows loaded before the writers (writer 0)
      const id = `${t[1]}/${t[2]}`;
      present.set(id, (present.get(id) ?? 0) + 1);
    }
    let acknowledged = 0;
    let lost = 0;
    let failed = 0;
    for (const [id, { rows, outcome }] of this.outcomes) {
      const count = present.get(id) ?? 0;
      present.delete(id);
      if (outcome === 'acknowledged') {
        acknowledged++;
        if (count !== rows) {
          lost++;
          if (lost <= 3) this.fail(`${label}: acknowledged ${id} has ${count} of its ${rows} rows`);
        }
      } else if (outcome === 'failed') {
        failed++;
        if (count !== 0 && count !== rows)
          this.fail(`${label}: failed ${id} is half present (${count} of ${rows} rows)`);
        else if (count !== 0 && !this.failedMayPersist)
          this.fail(`${label}: failed ${id} is present (${count} of ${rows} rows)`);
        else if (count !== 0) this.failedPresent++;
      } else this.fail(`${label}: ${id} never settled`);
    }
    for (const id of present.keys()) this.fail(`${label}: holds ${id}, never written`);
    return [acknowledged, lost, failed];
  }
}

/** Reads all through the fault: a get of a key and a bounded select; none may throw. */
function startReader(box: Box, fail: (m: string) => void): { stop: () => Promise<number> } {
  let stopped = false;
  let reads = 0;
  const loop = (async () => {
    while (!stopped) {
      try {
        const space = box.space.log!;
        space.get([Ledger.key(1, 1, 0)]);
        space.select([], { limit: 50 });
        reads++;
      } catch (error) {
        fail(`a read during the fault threw: ${(error as Error).message}`);
        return;
      }
      await sleep(1);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return reads;
    },
  };
}

/** Schedules `kind` on files whose path includes `path` (skipping `skip` matching operations). */
async function inject(
  fs: FaultyFileSystem,
  rng: Rng,
  kind: StorageFaultKind,
  path: string,
  spaceDirs: readonly string[],
  steps: string[],
): Promise<void> {
  const skip = rng.int(0, 3);
  switch (kind) {
    case 'eio': {
      const count = rng.int(1, 3);
      fs.failNext('write', 'EIO', { pathIncludes: path, skip, count });
      steps.push(`EIO on ${count} write(s) of ${path} after ${skip}`);
      return;
    }
    case 'torn': {
      const keep = rng.int(1, 600);
      fs.tearNextWrite(keep, { pathIncludes: path, skip });
      steps.push(`a write of ${path} torn at ${keep} bytes after ${skip}`);
      return;
    }
    case 'fdatasync': {
      // Two in a row: the sync of the truncation fails too, and the WAL refuses writes.
      const count = rng.chance(0.3) ? 2 : 1;
      fs.failNext('datasync', 'EIO', { pathIncludes: path, skip, count });
      steps.push(`${count} failed fdatasync(s) of ${path} after ${skip}`);
      return;
    }
    case 'enospc': {
      if (spaceDirs.length === 0) {
        fs.failNext('write', 'ENOSPC', { pathIncludes: path, skip });
        steps.push(`ENOSPC on a write of ${path} after ${skip}`);
        return;
      }
      await fs.limitSpace(0, spaceDirs);
      const free = rng.int(0, 3000);
      await fs.limitSpace(fs.usedBytes + free);
      steps.push(`disk full: ${free} bytes free`);
      return;
    }
  }
}

async function clearFaults(fs: FaultyFileSystem): Promise<void> {
  fs.clearFaults();
  await fs.limitSpace(undefined);
}

/** One round; `only` pins the target and the fault (tests cover each pair), else the seed picks. */
export async function runStorageFaultRound(
  seed: number,
  only: { target?: StorageFaultTarget; kind?: StorageFaultKind } = {},
): Promise<StorageFaultResult> {
  const rng = new Rng(seed);
  const pickedTarget = rng.pick(['wal', 'wal', 'snapshot', 'join', 'master-join'] as const);
  const pickedKind = rng.pick(['eio', 'torn', 'fdatasync', 'enospc'] as const);
  const target = only.target ?? pickedTarget;
  const kind = target === 'master-join' ? 'power-loss' : (only.kind ?? pickedKind);
  const failures: string[] = [];
  const steps: string[] = [`${target}, ${kind}`];
  const fail = (message: string) => failures.push(message);
  const root = await mkdtemp(join(tmpdir(), 'tarantype-storage-faults-'));
  const counters = { faults: 0, acknowledgedChecked: 0, failedChecked: 0, lost: 0, diverged: 0 };
  const state = { failedStarts: 0 };
  try {
    if (target === 'join') await joinRound(rng, kind, root, steps, fail, counters, state);
    else if (target === 'master-join')
      await masterPowerLossRound(rng, root, steps, fail, counters, state);
    else await localRound(rng, target, kind, root, steps, fail, counters, state);
  } catch (error) {
    fail(`unexpected error: ${(error as Error).stack ?? String(error)}`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return {
    seed,
    target,
    kind,
    ...counters,
    failedStarts: state.failedStarts,
    steps,
    failures: failures.map(
      (f) =>
        `storage-faults seed ${seed}: ${f}\n  steps: ${steps.join('; ')}\n  replay: SEED=${seed} ROUNDS=1 CAMPAIGNS=storage-faults`,
    ),
  };
}

type Counters = {
  faults: number;
  acknowledgedChecked: number;
  failedChecked: number;
  lost: number;
  diverged: number;
};

/** The 'wal' and 'snapshot' targets: one instance, its restart on the same directory. */
async function localRound(
  rng: Rng,
  target: 'wal' | 'snapshot' | 'master-join',
  kind: StorageFaultKind,
  dir: string,
  steps: string[],
  fail: (m: string) => void,
  counters: Counters,
  state: { failedStarts: number },
): Promise<void> {
  const mode = kind === 'fdatasync' && target === 'wal' ? 'fsync' : rng.pick(['write', 'fsync']);
  const config = {
    work_dir: dir,
    wal_mode: mode,
    checkpoint_interval: 0,
    checkpoint_count: rng.int(1, 3),
    wal_max_size: rng.pick([4096, 65536, 1 << 20]),
  };
  steps.push(`config ${JSON.stringify({ ...config, work_dir: undefined })}`);
  const fs = new FaultyFileSystem(new NodeFileSystem());
  const logger = new RecordingLogger();
  let box: Box | undefined = await Box.cfg(config, { fs, logger });
  const ledger = new Ledger(fail);
  try {
    const log = await box.schema.space.create('log');
    await log.createIndex('primary');
    await box.snapshot();
    const writers = rng.int(2, 4);
    ledger.start(box, writers);
    await until(() => ledger.acknowledged >= 20, FAULT_WAIT_MS);
    const reader = startReader(box, fail);
    const injectedBefore = fs.counts.injected;
    const checkpointBefore = box.checkpoints.at(-1)?.signature;
    let snapshotFailed = false;
    if (target === 'wal') {
      // Held until a transaction failed (a full disk first gives up what GC can free), then
      // a little longer, so the writers run into the fault and the queue behind it.
      const failedBefore = ledger.failed;
      await inject(fs, rng, kind, '.xlog', [dir], steps);
      await until(
        () => fs.counts.injected > injectedBefore && ledger.failed > failedBefore,
        FAULT_WAIT_MS,
      );
      await sleep(rng.int(5, 60));
    } else {
      // Half the rounds fill the whole disk (the WAL is hit too); the rest hit the .snap only.
      const wholeDisk = kind === 'enospc' && rng.chance(0.5);
      await inject(fs, rng, kind, '.snap', wholeDisk ? [dir] : [], steps);
      try {
        await box.snapshot();
      } catch (error) {
        snapshotFailed = true;
        steps.push(`box.snapshot() failed: ${(error as Error).message}`);
      }
      const fired = fs.counts.injected > injectedBefore;
      if (fired && !wholeDisk && !snapshotFailed)
        fail('box.snapshot() succeeded although a fault hit its file');
      if (snapshotFailed && box.checkpoints.at(-1)?.signature !== checkpointBefore)
        fail(
          `a failed box.snapshot() changed the newest checkpoint: ${checkpointBefore} → ${box.checkpoints.at(-1)?.signature}`,
        );
    }
    counters.faults += fs.counts.injected - injectedBefore;
    steps.push(`${fs.counts.injected - injectedBefore} fault(s) fired`);
    await clearFaults(fs);
    // The fault is over: new writes are acknowledged again, unless the WAL refuses them
    // until a restart (its truncation could not be made durable; that is logged).
    const acknowledgedAfterFault = ledger.acknowledged;
    const refusing = () =>
      logger.messages().some((m) => m.includes('the WAL refuses further writes'));
    if (
      !(await until(
        () => ledger.acknowledged > acknowledgedAfterFault + 5 || refusing(),
        FAULT_WAIT_MS,
      ))
    )
      fail('no write was acknowledged after the fault cleared');
    if (refusing()) steps.push('the WAL refuses writes until a restart');
    // A full WAL that refused a batch first tried GC, then said what holds the space.
    if (target === 'wal' && kind === 'enospc' && ledger.failed > 0) {
      const text = logger.messages().join('\n');
      for (const line of [
        'ran out of disk space, try to delete old WAL files',
        'disk is full and no WAL can be freed',
      ])
        if (!text.includes(line)) fail(`a full disk refused writes without logging '${line}'`);
    }
    await ledger.stop();
    const reads = await reader.stop();
    steps.push(`${ledger.acknowledged} acknowledged, ${ledger.failed} failed, ${reads} reads`);
    ledger.check(box, 'in memory');

    // A restart on the same directory: exactly what was acknowledged. After a failed
    // snapshot half the rounds restart at once, from the previous checkpoint and its xlogs.
    const restart = async (label: string) => {
      await withTimeout(box!.close(), CLOSE_TIMEOUT_MS, 'close');
      box = undefined;
      try {
        box = await Box.cfg(config, { fs, logger });
      } catch (error) {
        state.failedStarts++;
        throw new Error(`${label}: the restart failed: ${(error as Error).message}`);
      }
      const [acknowledged, lost, failed] = ledger.check(box, label);
      counters.acknowledgedChecked += acknowledged;
      counters.lost += lost;
      counters.failedChecked += failed;
      for (const v of await checkDataDir(dir, { fs, gc: box.infoGc(), label })) fail(v);
      for (const v of new VclockHistory().check(box.info(), label)) fail(v);
    };
    if (target === 'snapshot' && snapshotFailed && rng.chance(0.5))
      await restart('restart after the failed snapshot');
    if (target === 'snapshot') {
      try {
        await box!.snapshot();
      } catch (error) {
        fail(`box.snapshot() after the fault cleared failed: ${(error as Error).message}`);
      }
    }
    await restart('restart');
  } finally {
    await ledger.stop().catch(() => {});
    await box?.close().catch(() => {});
  }
}

/** The 'join' target: a master under load, a replica whose files fail during its JOIN. */
async function joinRound(
  rng: Rng,
  kind: StorageFaultKind,
  root: string,
  steps: string[],
  fail: (m: string) => void,
  counters: Counters,
  state: { failedStarts: number },
): Promise<void> {
  const masterDir = join(root, 'master');
  const replicaDir = join(root, 'replica');
  const fs = new FaultyFileSystem(new NodeFileSystem());
  const logger = new RecordingLogger();
  let master: Box | undefined;
  let replica: Box | undefined;
  let server: ReturnType<typeof createServer> | undefined;
  const ledger = new Ledger(fail);
  try {
    master = await Box.cfg(
      { work_dir: masterDir, wal_mode: 'write', checkpoint_interval: 0 },
      { logger: new RecordingLogger() },
    );
    await master.schema.user.create(USER, { password: PASSWORD });
    await master.schema.user.grant(USER, 'replication');
    const log = await master.schema.space.create('log');
    await log.createIndex('primary');
    server = createServer({
      handler: new BoxHandler(master, new FunctionRegistry()),
      replication: master.replicaSet.relay,
    });
    const address = await server.listen(0, '127.0.0.1');
    master.setListen(`127.0.0.1:${address.port}`);
    const replicaConfig = {
      work_dir: replicaDir,
      wal_mode: rng.pick(['write', 'fsync']),
      read_only: true,
      checkpoint_interval: 0,
      replication: [`${USER}:${PASSWORD}@127.0.0.1:${address.port}`],
      replication_timeout: 0.1,
      replication_connect_timeout: 5,
      replication_sync_timeout: 5,
    };
    ledger.start(master, rng.int(1, 3));
    await until(() => ledger.acknowledged >= rng.int(20, 200), FAULT_WAIT_MS);
    await fs.mkdir(replicaDir);
    const path = rng.pick(['.snap', '.xlog']);
    if (kind === 'enospc') {
      // A disk too small for the replica's snapshot or its first xlogs.
      const capacity = rng.int(1000, 12_000);
      await fs.limitSpace(capacity, [replicaDir]);
      steps.push(`the replica's disk holds ${capacity} bytes`);
    } else await inject(fs, rng, kind, path, [], steps);
    const injectedBefore = fs.counts.injected;
    try {
      replica = await withTimeout(
        Box.cfg(replicaConfig, { fs, logger }),
        CATCH_UP_TIMEOUT_MS,
        'the JOIN',
      );
      steps.push('the replica started');
      // The fault may come with its first xlog: let it apply a little.
      await sleep(rng.int(10, 100));
    } catch (error) {
      steps.push(`the JOIN failed: ${(error as Error).message.split('\n')[0]}`);
    }
    counters.faults += fs.counts.injected - injectedBefore;
    await replica?.close().catch(() => {});
    replica = undefined;
    await clearFaults(fs);
    // The fault cleared: the replica starts on the same directory (a new JOIN, or recovery of
    // a completed one) and catches up with the master, still under load.
    try {
      replica = await withTimeout(
        Box.cfg(replicaConfig, { fs, logger }),
        CATCH_UP_TIMEOUT_MS,
        'the second start',
      );
    } catch (error) {
      state.failedStarts++;
      throw new Error(
        `the replica's start after the fault failed: ${(error as Error).message}\n  log: ${logger.messages().slice(-8).join(' | ')}`,
      );
    }
    await sleep(rng.int(0, 50));
    await ledger.stop();
    const masterId = master.instanceId;
    const caught = await until(
      () => replica!.journal.vclock.get(masterId) >= master!.journal.vclock.get(masterId),
      CATCH_UP_TIMEOUT_MS,
    );
    if (!caught) {
      counters.diverged++;
      fail(
        `the replica did not catch up: ${replica.journal.vclock.toString()} vs ${master.journal.vclock.toString()}`,
      );
    }
    ledger.check(master, 'master');
    const [acknowledged, lost, failed] = ledger.check(replica, 'replica');
    counters.acknowledgedChecked += acknowledged;
    counters.lost += lost;
    counters.failedChecked += failed;
    if (JSON.stringify(log.select()) !== JSON.stringify(replica.space.log?.select() ?? [])) {
      counters.diverged++;
      fail("the replica's rows differ from the master's");
    }
    for (const v of await checkDataDir(replicaDir, { fs, gc: replica.infoGc(), label: 'replica' }))
      fail(v);
    for (const v of await checkDataDir(masterDir, { gc: master.infoGc(), label: 'master' }))
      fail(v);
  } finally {
    await ledger.stop().catch(() => {});
    await replica?.close().catch(() => {});
    await server?.close().catch(() => {});
    await master?.close().catch(() => {});
  }
}

/** Creates the replication user and the `log` space, and serves `master` on `port` (0: any). */
async function serve(
  master: Box,
  port: number,
  setup: boolean,
): Promise<{ server: ReturnType<typeof createServer>; port: number }> {
  if (setup) {
    await master.schema.user.create(USER, { password: PASSWORD });
    await master.schema.user.grant(USER, 'replication');
    const log = await master.schema.space.create('log');
    await log.createIndex('primary');
  }
  const server = createServer({
    handler: new BoxHandler(master, new FunctionRegistry()),
    replication: master.replicaSet.relay,
  });
  const address = await server.listen(port, '127.0.0.1');
  master.setListen(`127.0.0.1:${address.port}`);
  return { server, port: address.port };
}

/**
 * The 'master-join' target: a master with wal_mode fsync on a PowerLossDisk loses power at a
 * seeded operation once a replica's JOIN began; it reboots on the same port and directory.
 */
async function masterPowerLossRound(
  rng: Rng,
  root: string,
  steps: string[],
  fail: (m: string) => void,
  counters: Counters,
  state: { failedStarts: number },
): Promise<void> {
  const masterDir = join(root, 'master');
  const replicaDir = join(root, 'replica');
  const disk = new PowerLossDisk(new NodeFileSystem(), { innerSync: false });
  const masterLogger = new RecordingLogger();
  const logger = new RecordingLogger();
  const masterConfig = {
    work_dir: masterDir,
    wal_mode: 'fsync',
    checkpoint_interval: 0,
    wal_max_size: rng.pick([8192, 65536, 1 << 20]),
  };
  let fs: FileSystem = disk.mount();
  let master: Box | undefined;
  let replica: Box | undefined;
  let server: ReturnType<typeof createServer> | undefined;
  let joining: Promise<Box> | undefined;
  // The power loss refuses what is in flight: those may be on the device or not.
  const ledger = new Ledger(fail, true);
  try {
    master = await Box.cfg(masterConfig, { fs, logger: masterLogger });
    let port: number;
    ({ server, port } = await serve(master, 0, true));
    const rows = rng.int(100, 1500);
    const log = master.space.log!;
    await Promise.all(
      Array.from({ length: rows }, (_, i) => log.insert([i + 1, 0, 0, 'x'.repeat(200)])),
    );
    steps.push(`${rows} rows before the JOIN, wal_max_size ${masterConfig.wal_max_size}`);
    ledger.start(master, rng.int(1, 3));
    joining = Box.cfg(
      {
        work_dir: replicaDir,
        read_only: true,
        checkpoint_interval: 0,
        replication: [`${USER}:${PASSWORD}@127.0.0.1:${port}`],
        replication_timeout: 0.1,
        replication_connect_timeout: 10,
      },
      { logger },
    );
    // Keep its rejection for later; an unhandled one would end the process.
    joining.catch(() => {});
    await until(
      () => masterLogger.messages().some((m) => m.includes('joining replica')),
      FAULT_WAIT_MS,
    );
    const at = rng.int(1, 60);
    disk.schedulePowerLoss(at, rng.chance(0.5) ? () => rng.next() : undefined);
    const timer = setTimeout(() => disk.powerLoss(), FAULT_WAIT_MS);
    await disk.whenPoweredOff();
    clearTimeout(timer);
    counters.faults++;
    steps.push(`the master lost power at operation ${at} after the JOIN began`);
    await ledger.stop();
    await server.close().catch(() => {});
    server = undefined;
    await withTimeout(
      master.close().catch(() => {}),
      CLOSE_TIMEOUT_MS,
      'the dead master',
    );
    master = undefined;

    fs = await disk.reboot();
    try {
      master = await Box.cfg(masterConfig, { fs, logger: masterLogger });
    } catch (error) {
      state.failedStarts++;
      throw new Error(
        `the master's start after the power loss failed: ${(error as Error).message}`,
      );
    }
    const [acknowledged, lost, failed] = ledger.check(master, 'master after the power loss');
    counters.acknowledgedChecked += acknowledged;
    counters.lost += lost;
    counters.failedChecked += failed;
    ({ server } = await serve(master, port, false));
    try {
      replica = await withTimeout(joining, CATCH_UP_TIMEOUT_MS, "the replica's Box.cfg");
    } catch (error) {
      state.failedStarts++;
      throw new Error(
        `the replica did not start: ${(error as Error).message}\n  log: ${logger.messages().slice(-8).join(' | ')}`,
      );
    }
    steps.push(
      logger.messages().some((m) => m.includes('the JOIN broke'))
        ? 'the replica joined again'
        : 'the JOIN had completed',
    );
    const masterId = master.instanceId;
    const ahead = replica.journal.vclock.get(masterId) > master.journal.vclock.get(masterId);
    if (ahead)
      fail(
        `the replica is ahead of the rebooted master: ${replica.journal.vclock.toString()} vs ${master.journal.vclock.toString()}`,
      );
    const caught = await until(
      () => replica!.journal.vclock.get(masterId) >= master!.journal.vclock.get(masterId),
      CATCH_UP_TIMEOUT_MS,
    );
    const masterRows = JSON.stringify(master.space.log!.select());
    if (!caught || ahead || masterRows !== JSON.stringify(replica.space.log?.select() ?? [])) {
      counters.diverged++;
      fail(
        `the replica differs from the master: ${replica.journal.vclock.toString()} vs ${master.journal.vclock.toString()}`,
      );
    }
    for (const v of await checkDataDir(masterDir, { fs, gc: master.infoGc(), label: 'master' }))
      fail(v);
    for (const v of await checkDataDir(replicaDir, { gc: replica.infoGc(), label: 'replica' }))
      fail(v);
  } finally {
    await ledger.stop().catch(() => {});
    if (replica === undefined && joining !== undefined)
      replica = await withTimeout(joining, CLOSE_TIMEOUT_MS, 'the JOIN').catch(() => undefined);
    await replica?.close().catch(() => {});
    await server?.close().catch(() => {});
    await master?.close().catch(() => {});
  }
}
