// Power loss on a replica while it applies (issue 15): an in-process master (real files, its
// relay on an ephemeral port) under concurrent writers, and an in-process replica on a
// PowerLossDisk (wal_mode fsync) that applies the master's rows and checkpoints, loses power
// at a seeded file-system operation (sometimes during its JOIN). Layer: apps/server tests
// (replica-power-loss.test.ts and the chaos campaign power-loss-replica).
//
// After the reboot the replica must start (recover, or JOIN again if the power went before its
// first checkpoint) and:
// - hold, per master writer, whole transactions 1..m with nothing after a hole: the rows of
//   one origin are applied once, in order, as whole transactions, and a power loss keeps a
//   prefix of them;
// - never be ahead of the master (its vclock component of the master ≤ the master's);
// - then catch up: the same vclock component and the same rows as the master, and the
//   invariants of invariants.ts on both.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Box, BoxHandler, FunctionRegistry } from '@tarantype/box';
import { createServer } from '@tarantype/iproto';
import { type FileSystem, NodeFileSystem } from '@tarantype/wal';
import { PowerLossDisk, RecordingLogger, seededRandom } from '@tarantype/wal/testing';
import { checkDataDir, VclockHistory } from './invariants.js';
import { Rng } from './restart-model.js';

export interface ReplicaPowerLossResult {
  readonly seed: number;
  readonly powerLosses: number;
  /** Rows of the master the replica applied between its JOIN and the power loss. */
  readonly appliedBeforePowerLoss: number;
  /** Transactions acknowledged by the master and compared on the caught-up replica. */
  readonly acknowledgedChecked: number;
  /** Acknowledged transactions of the master missing on the caught-up replica. */
  readonly lost: number;
  /** 1 when the replica's rows or vclock differ from the master's after catching up. */
  readonly diverged: number;
  readonly failedStarts: number;
  readonly failures: readonly string[];
}

const CATCH_UP_TIMEOUT_MS = 20_000;
const CLOSE_TIMEOUT_MS = 10_000;
const LOAD_MS_MAX = 3000;
const USER = 'replicator';
const PASSWORD = 'replicator-secret';

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no end within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Per master writer: whole transactions 1..m on `box`, nothing after a hole. */
function checkPrefixes(box: Box, sizes: Map<string, number>, fail: (m: string) => void): void {
  const counts = new Map<string, number>();
  for (const t of box.space.log?.select() ?? []) {
    const key = `${t[1]}/${t[2]}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const bySeq = new Map<number, number[]>();
  for (const [key, count] of counts) {
    const [writer, seq] = key.split('/').map(Number) as [number, number];
    const rows = sizes.get(key);
    if (rows === undefined) fail(`replica holds ${key}, never written`);
    else if (count !== rows) fail(`replica holds ${count} of the ${rows} rows of ${key}`);
    bySeq.set(writer, [...(bySeq.get(writer) ?? []), seq]);
  }
  for (const [writer, seqs] of bySeq) {
    seqs.sort((a, b) => a - b);
    if (seqs.some((seq, i) => seq !== i + 1))
      fail(
        `replica holds writer ${writer}'s transactions ${seqs.slice(0, 8).join(',')}…: not 1..m`,
      );
  }
}

export async function runReplicaPowerLossRound(seed: number): Promise<ReplicaPowerLossResult> {
  const rng = new Rng(seed);
  const failures: string[] = [];
  const steps: string[] = [];
  const disk = new PowerLossDisk(new NodeFileSystem(), { innerSync: false });
  const root = await mkdtemp(join(tmpdir(), 'tarantype-replica-power-'));
  const masterDir = join(root, 'master');
  const replicaDir = join(root, 'replica');
  const logger = new RecordingLogger();
  let master: Box | undefined;
  let replica: Box | undefined;
  let server: ReturnType<typeof createServer> | undefined;
  let acknowledgedChecked = 0;
  let lost = 0;
  let diverged = 0;
  let failedStarts = 0;
  let appliedBeforePowerLoss = 0;
  const fail = (message: string) => failures.push(message);
  let uri = '';
  const replicaConfig = {
    work_dir: replicaDir,
    wal_mode: 'fsync',
    read_only: true,
    checkpoint_interval: 0,
    checkpoint_count: rng.int(1, 3),
    wal_max_size: rng.pick([1024, 8192, 65536]),
    replication_timeout: 0.2,
    replication_connect_timeout: 10,
  };
  const startReplica = (fs: FileSystem) =>
    Box.cfg({ ...replicaConfig, replication: [uri] }, { fs, logger });
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
    uri = `${USER}:${PASSWORD}@127.0.0.1:${address.port}`;
    steps.push(`replica config ${JSON.stringify(replicaConfig)}`);

    let fs = disk.mount();
    if (rng.chance(0.2)) {
      const at = rng.int(1, 60);
      steps.push(`power loss at operation ${at} of the replica's JOIN`);
      disk.schedulePowerLoss(at);
      const joined = await startReplica(fs).catch(() => undefined);
      if (joined !== undefined) disk.powerLoss();
      await joined?.close().catch(() => {});
      fs = await disk.reboot();
    }
    try {
      replica = await startReplica(fs);
    } catch (error) {
      failedStarts++;
      throw new Error(`the replica's first start failed: ${(error as Error).message}`);
    }

    // Load: master writers; replica checkpoints; the replica's power goes.
    const writers = rng.int(2, 4);
    const at = rng.int(20, 800);
    const writeback = rng.chance(0.5);
    steps.push(`${writers} master writers, replica power loss at operation ${at}`);
    const acked = new Map<number, number>();
    const sizes = new Map<string, number>();
    disk.schedulePowerLoss(at, writeback ? seededRandom(seed ^ 0x7e91) : undefined);
    const timer = setTimeout(() => disk.powerLoss(), LOAD_MS_MAX);
    let stop = false;
    const writerLoops = Array.from({ length: writers }, async (_, w) => {
      const writer = w + 1;
      for (let seq = 1; !stop; seq++) {
        const rows = ((seq + writer) % 4) + 1;
        sizes.set(`${writer}/${seq}`, rows);
        await master!.atomic(async () => {
          for (let j = 0; j < rows; j++)
            await log.insert([writer * 10_000_000 + seq * 8 + j, writer, seq]);
        });
        acked.set(writer, seq);
        if (seq % 20 === 0) await sleep(1);
      }
    });
    const current = replica;
    const checkpointer = (async () => {
      while (!disk.isPoweredOff) {
        await sleep(rng.int(0, 10));
        await current.snapshot().catch(() => {});
      }
    })();
    const joinedAt = current.journal.vclock.get(master.instanceId);
    await disk.whenPoweredOff();
    clearTimeout(timer);
    appliedBeforePowerLoss = current.journal.vclock.get(master.instanceId) - joinedAt;
    steps.push(
      `power lost after the replica applied ${appliedBeforePowerLoss} rows, ${master.journal.vclock.get(master.instanceId) - current.journal.vclock.get(master.instanceId)} behind`,
    );
    await withTimeout(checkpointer, CLOSE_TIMEOUT_MS, 'the replica checkpointer');
    await withTimeout(
      current.close().catch(() => {}),
      CLOSE_TIMEOUT_MS,
      'the dead replica',
    );
    replica = undefined;
    // The master keeps writing while the replica is down.
    await sleep(rng.int(0, 50));
    stop = true;
    await withTimeout(Promise.all(writerLoops), CLOSE_TIMEOUT_MS, 'the master writers');

    fs = await disk.reboot();
    steps.push('reboot');
    // What the power loss left, before any catching up: the replica alone (no upstream). A
    // directory without a snapshot (the power went before the JOIN's checkpoint) JOINs again.
    const names = await fs.readdir(replicaDir).catch(() => [] as string[]);
    if (names.some((n) => n.endsWith('.snap'))) {
      const alone = await Box.cfg({ ...replicaConfig, replication: [] }, { fs, logger });
      checkPrefixes(alone, sizes, fail);
      for (const v of await checkDataDir(replicaDir, {
        fs,
        gc: alone.infoGc(),
        label: 'replica after recovery',
      }))
        fail(v);
      await alone.close();
    } else steps.push('no snapshot on the replica: a new JOIN');
    try {
      replica = await startReplica(fs);
    } catch (error) {
      failedStarts++;
      throw new Error(
        `the replica's start after the power loss failed: ${(error as Error).message}\n  log: ${logger.messages().slice(-10).join(' | ')}`,
      );
    }
    const masterId = master.instanceId;
    const recovered = replica.journal.vclock.get(masterId);
    if (recovered > master.journal.vclock.get(masterId))
      fail(
        `the replica is ahead of the master: ${recovered} > ${master.journal.vclock.get(masterId)}`,
      );
    // Catch up, then compare.
    const deadline = Date.now() + CATCH_UP_TIMEOUT_MS;
    while (replica.journal.vclock.get(masterId) < master.journal.vclock.get(masterId)) {
      if (Date.now() > deadline) {
        diverged = 1;
        fail(
          `the replica did not catch up in ${CATCH_UP_TIMEOUT_MS} ms: ${replica.journal.vclock} vs ${master.journal.vclock}`,
        );
        break;
      }
      await sleep(20);
    }
    const masterRows = log.select();
    const replicaRows = replica.space.log?.select() ?? [];
    const replicaKeys = new Set(replicaRows.map((t) => t[0] as number));
    for (const [writer, last] of acked) {
      for (let seq = 1; seq <= last; seq++) {
        acknowledgedChecked++;
        const rows = sizes.get(`${writer}/${seq}`)!;
        let present = 0;
        for (let j = 0; j < rows; j++)
          if (replicaKeys.has(writer * 10_000_000 + seq * 8 + j)) present++;
        if (present !== rows) {
          lost++;
          if (lost <= 3)
            fail(`transaction ${writer}/${seq}: ${present} of ${rows} rows on the replica`);
        }
      }
    }
    if (JSON.stringify(masterRows) !== JSON.stringify(replicaRows)) {
      diverged = 1;
      fail(
        `the replica's rows differ from the master's (${replicaRows.length} vs ${masterRows.length})`,
      );
    }
    const history = new VclockHistory();
    for (const [box, dir, label] of [
      [master, masterDir, 'master'],
      [replica, replicaDir, 'replica'],
    ] as const) {
      for (const v of history.check(box.info(), label)) fail(v);
      history.reset();
      for (const v of await checkDataDir(dir, {
        ...(box === replica ? { fs } : {}),
        gc: box.infoGc(),
        label,
      }))
        fail(v);
    }
  } catch (error) {
    fail(`unexpected error: ${(error as Error).stack ?? String(error)}`);
  } finally {
    await replica?.close().catch(() => {});
    await server?.close().catch(() => {});
    await master?.close().catch(() => {});
    await rm(root, { recursive: true, force: true });
  }
  return {
    seed,
    powerLosses: disk.counts.powerLosses,
    appliedBeforePowerLoss,
    acknowledgedChecked,
    lost,
    diverged,
    failedStarts,
    failures: failures.map(
      (f) =>
        `power-loss-replica seed ${seed}: ${f}\n  steps: ${steps.join('; ')}\n  replay: SEED=${seed} ROUNDS=1 CAMPAIGNS=power-loss-replica`,
    ),
  };
}
