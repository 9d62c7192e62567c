// The power-loss campaign (issue 15): an in-process Box on a PowerLossDisk (@tarantype/wal/testing)
// under concurrent writers, with checkpoints running, loses power at a seeded moment; after the
// reboot (the disk keeps only what was durable) recovery must give back exactly what
// CONSISTENCY.md promises. Layer: apps/server tests (used by power-loss.test.ts and the chaos
// campaigns power-loss and power-loss-write).
//
// One round, from its seed: a fresh directory; a start (sometimes the power goes during the
// bootstrap); two spaces; W writers, each committing transactions one after another (its
// sequence numbers 1, 2, 3 …): a transaction of writer w, number s, inserts n rows
// (w, s, j) into `log` (n from 1 to 6; n = 1 is an autocommit) and, for n > 1, replaces w's
// row in `reg` with s in the same transaction; a checkpointer calls box.snapshot() again and
// again; the power goes at the k-th file-system operation (k seeded), and half the rounds let
// the kernel's writeback keep a seeded prefix of the unsynced bytes. Then: reboot, the
// file invariants of the raw directory, a start (it must succeed without force_recovery), and
// the check:
// - whole transactions: every (w, s) present has all its n rows, and `reg` agrees;
// - per writer, the present transactions are 1..m (a writer waits for each commit);
// - fsync: every acknowledged transaction is present;
// - write: the present acknowledged transactions are a prefix of the acknowledgement order
//   (= WAL order), and that prefix holds every transaction acknowledged before the last
//   durable point (a completed box.snapshot() or a closed xlog: the journal syncs a file when
//   it closes it). What is lost beyond that point is the unsynced tail CONSISTENCY.md allows.
// Then a few more writes on the recovered instance, a clean close, a clean start, and the
// invariants again (vclock signature = sum, the xlog chain, only the newest xlog unclosed).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Box } from '@tarantype/box';
import { type FileSystem, NodeFileSystem, type WalPosition } from '@tarantype/wal';
import { PowerLossDisk, RecordingLogger, seededRandom } from '@tarantype/wal/testing';
import { checkDataDir, VclockHistory } from './invariants.js';
import { Rng } from './restart-model.js';

export type PowerLossMode = 'fsync' | 'write';

export interface PowerLossRoundResult {
  readonly seed: number;
  readonly powerLosses: number;
  /** fdatasync failures injected (fsync mode). */
  readonly syncFailures: number;
  /** Acknowledged transactions checked after the reboot and after the clean restart. */
  readonly acknowledgedChecked: number;
  /** Acknowledged transactions missing where CONSISTENCY.md promises them. */
  readonly lost: number;
  /** Write mode: acknowledged transactions lost in the unsynced tail (allowed). */
  readonly lostUnsynced: number;
  readonly halfApplied: number;
  /** The load's power loss came while box.snapshot() was running. */
  readonly duringCheckpoint: boolean;
  readonly failedStarts: number;
  readonly failures: readonly string[];
}

interface Tx {
  readonly writer: number;
  readonly seq: number;
  readonly rows: number;
  /** Refused (ER_WAL_IO / ER_CASCADE_ROLLBACK after an injected fdatasync failure). */
  rejected: boolean;
}

const WRITERS_MAX = 5;
/** The load never runs longer than this before the power goes (if the k-th operation is late). */
const LOAD_MS_MAX = 3000;
const CLOSE_TIMEOUT_MS = 10_000;
const PAYLOAD = 'p'.repeat(60);

function rowId(writer: number, seq: number, j: number): number {
  return writer * 10_000_000 + seq * 8 + j;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no end within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export async function runPowerLossRound(
  seed: number,
  mode: PowerLossMode,
  options: { keepDir?: boolean } = {},
): Promise<PowerLossRoundResult> {
  const round = new PowerLossRound(seed, mode);
  try {
    await round.run();
  } catch (error) {
    round.failures.push(`unexpected error: ${(error as Error).stack ?? String(error)}`);
  } finally {
    await round.cleanup(options.keepDir === true);
  }
  return round.result();
}

class PowerLossRound {
  readonly rng: Rng;
  readonly failures: string[] = [];
  private dir = '';
  private readonly disk = new PowerLossDisk(new NodeFileSystem(), { innerSync: false });
  private readonly config: Record<string, unknown>;
  private readonly history = new VclockHistory();
  private logger = new RecordingLogger();
  private box: Box | undefined;
  private acknowledgedChecked = 0;
  private lost = 0;
  private lostUnsynced = 0;
  private halfApplied = 0;
  private duringCheckpoint = false;
  private failedStarts = 0;
  /** Acknowledged transactions in acknowledgement order (= WAL order). */
  private readonly acked: Tx[] = [];
  /** Every transaction submitted, by writer then seq. */
  private readonly submitted = new Map<number, Tx[]>();
  /** Write mode: acknowledgements before the last durable point (must survive). */
  private durableAcks = 0;
  private steps: string[] = [];
  private injectedSyncFailures = 0;
  /** Write mode: the spaces' DDL reached a durable point (else a power loss may undo it). */
  private ddlDurable = false;

  constructor(
    readonly seed: number,
    readonly mode: PowerLossMode,
  ) {
    this.rng = new Rng(seed);
    this.config = {
      wal_mode: mode,
      checkpoint_interval: 0,
      checkpoint_count: this.rng.int(1, 3),
      wal_max_size: this.rng.pick([1024, 4096, 65536]),
    };
  }

  result(): PowerLossRoundResult {
    return {
      seed: this.seed,
      powerLosses: this.disk.counts.powerLosses,
      syncFailures: this.injectedSyncFailures,
      acknowledgedChecked: this.acknowledgedChecked,
      lost: this.lost,
      lostUnsynced: this.lostUnsynced,
      halfApplied: this.halfApplied,
      duringCheckpoint: this.duringCheckpoint,
      failedStarts: this.failedStarts,
      failures: this.failures.map(
        (f) =>
          `power-loss (${this.mode}) seed ${this.seed}: ${f}\n  steps: ${this.steps.join('; ')}\n  replay: SEED=${this.seed} ROUNDS=1`,
      ),
    };
  }

  private fail(message: string): void {
    this.failures.push(message);
  }

  async cleanup(keep: boolean): Promise<void> {
    if (this.box !== undefined)
      await withTimeout(this.box.close(), CLOSE_TIMEOUT_MS, 'close').catch(() => {});
    this.box = undefined;
    if (this.dir === '') return;
    if (keep) process.stderr.write(`kept ${this.dir}\n`);
    else await rm(this.dir, { recursive: true, force: true });
  }

  private async start(fs: FileSystem, what: string): Promise<Box | undefined> {
    this.logger = new RecordingLogger();
    try {
      const box = await Box.cfg(
        { ...this.config, work_dir: this.dir },
        { fs, logger: this.logger },
      );
      this.box = box;
      return box;
    } catch (error) {
      this.failedStarts++;
      this.fail(
        `${what} failed: ${(error as Error).message}\n  log: ${this.logger.messages().slice(-15).join(' | ')}`,
      );
      return undefined;
    }
  }

  async run(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'tarantype-power-loss-'));
    this.steps.push(`config ${JSON.stringify(this.config)}`);
    let fs = this.disk.mount();
    if (this.rng.chance(0.15)) {
      // The power goes during the very first start (the bootstrap snapshot).
      const at = this.rng.int(1, 40);
      this.steps.push(`power loss at operation ${at} of the bootstrap`);
      this.disk.schedulePowerLoss(at, this.rng.chance(0.5) ? seededRandom(this.seed) : undefined);
      const box = await Box.cfg(
        { ...this.config, work_dir: this.dir },
        { fs, logger: this.logger },
      ).catch(() => undefined);
      if (box !== undefined) {
        // The start finished before the k-th operation: power off now.
        this.disk.powerLoss();
        await withTimeout(box.close(), CLOSE_TIMEOUT_MS, 'close after the power loss').catch(
          () => {},
        );
      }
      fs = await this.disk.reboot();
    }
    const box = await this.start(fs, 'the first start');
    if (box === undefined) return;
    await this.ensureSpaces(box);
    // fsync mode: the DDL was synced before it was acknowledged.
    this.ddlDurable = this.mode === 'fsync';
    for (const v of this.history.check(box.info(), 'after the first start')) this.fail(v);
    await this.load(box, fs);
    this.box = undefined;
    let rebooted = await this.disk.reboot();
    this.steps.push('reboot');
    for (const v of await checkDataDir(this.dir, {
      fs: rebooted,
      allowTorn: true,
      label: 'after the reboot, before recovery',
    }))
      this.fail(v);
    if (this.rng.chance(0.2)) {
      // The power goes again while recovery repairs the files (truncates a torn tail, removes
      // .inprogress leftovers, creates the next xlog).
      const at = this.rng.int(1, 80);
      this.steps.push(`power loss at operation ${at} of the recovery`);
      this.disk.schedulePowerLoss(at);
      const box = await Box.cfg(
        { ...this.config, work_dir: this.dir },
        { fs: rebooted, logger: this.logger },
      ).catch(() => undefined);
      if (box !== undefined) {
        this.disk.powerLoss();
        await withTimeout(box.close(), CLOSE_TIMEOUT_MS, 'close after the power loss').catch(
          () => {},
        );
      }
      rebooted = await this.disk.reboot();
    }
    const recovered = await this.start(rebooted, 'the start after the power loss');
    if (recovered === undefined) return;
    if (this.mode === 'write') this.history.reset();
    this.verify(recovered, 'after the power loss');
    await this.ensureSpaces(recovered);
    await this.invariants(recovered, rebooted, 'after recovery');
    // The recovered instance keeps working; a clean stop and start keep all of it.
    const extra = this.rng.int(1, 20);
    for (let i = 0; i < extra; i++) await this.commit(recovered, 0, i + 1, this.rng.int(1, 4));
    await withTimeout(recovered.close(), CLOSE_TIMEOUT_MS, 'clean close');
    this.box = undefined;
    // A clean close syncs the xlog: everything acknowledged is durable.
    this.durableAcks = this.acked.length;
    this.ddlDurable = true;
    this.steps.push(`${extra} writes after recovery, clean close`);
    const again = await this.start(rebooted, 'the start after a clean stop');
    if (again === undefined) return;
    this.verify(again, 'after the clean restart');
    await this.invariants(again, rebooted, 'after the clean restart');
    await withTimeout(again.close(), CLOSE_TIMEOUT_MS, 'clean close');
    this.box = undefined;
  }

  private async invariants(box: Box, fs: FileSystem, label: string): Promise<void> {
    for (const v of this.history.check(box.info(), label)) this.fail(v);
    for (const v of await checkDataDir(this.dir, { fs, gc: box.infoGc(), label })) this.fail(v);
  }

  /** One transaction of writer `writer` (0: the post-recovery writer), number `seq`. */
  private async commit(box: Box, writer: number, seq: number, rows: number): Promise<void> {
    const tx: Tx = { writer, seq, rows, rejected: false };
    const list = this.submitted.get(writer) ?? [];
    list.push(tx);
    this.submitted.set(writer, list);
    const log = box.space.log!;
    const reg = box.space.reg!;
    try {
      if (rows === 1) await log.insert([rowId(writer, seq, 0), writer, seq, PAYLOAD]);
      else
        await box.atomic(async () => {
          for (let j = 0; j < rows; j++)
            await log.insert([rowId(writer, seq, j), writer, seq, PAYLOAD]);
          await reg.replace([writer, seq]);
        });
    } catch (error) {
      // Refused while the power is on: it must be absent. An error the power loss caused
      // (EIO) leaves the outcome unknown, like a lost reply.
      tx.rejected = !this.disk.isPoweredOff;
      throw error;
    }
    this.acked.push(tx);
  }

  /** Writers and a checkpointer until the power goes. */
  private async load(box: Box, fs: FileSystem): Promise<void> {
    const { rng, disk } = this;
    // Half the rounds hold a lagging GC consumer (as a replica's relay would): checkpoints must
    // keep every xlog it has not passed, whatever checkpoint_count says.
    const consumer = rng.chance(0.5) ? 'campaign lagging reader' : undefined;
    if (consumer !== undefined) box.gcConsumers.register(consumer, box.journal.vclock);
    let consumerNext = box.journal.vclock.copy();
    const writers = rng.int(2, WRITERS_MAX);
    const at = rng.int(20, this.mode === 'fsync' ? 1500 : 800);
    const writeback = rng.chance(0.5);
    this.steps.push(
      `${writers} writers, power loss at operation ${at}${writeback ? ' with a random writeback' : ''}`,
    );
    const onClose = box.journal.onWrite((position: WalPosition) => {
      // The journal synced the file before it reports it closed: all acknowledged so far is durable.
      // (A close whose sync the power loss interrupted still reports: it proves nothing then.)
      if (position.closed && !disk.isPoweredOff) {
        this.durableAcks = Math.max(this.durableAcks, this.acked.length);
        this.ddlDurable = true;
      }
    });
    disk.schedulePowerLoss(at, writeback ? seededRandom(this.seed ^ 0x5eed) : undefined);
    // fsync mode: sometimes an xlog fdatasync fails first (fsyncgate): its batch is refused,
    // never retried and acknowledged, and what is acknowledged later must survive.
    const syncFailureAt = this.mode === 'fsync' && rng.chance(0.4) ? rng.int(0, 40) : undefined;
    if (syncFailureAt !== undefined) {
      // Half of them wrote the batch to the device all the same (it must not come back).
      const reachedDevice = rng.chance(0.5);
      disk.failNextSync({ pathIncludes: '.xlog', skip: syncFailureAt, reachedDevice });
      this.steps.push(
        `xlog fdatasync ${syncFailureAt + 1} fails${reachedDevice ? ' (its bytes reached the device)' : ''}`,
      );
    }
    // Sometimes the power goes a few operations after the refusal, before a later batch's sync
    // could make the truncation of the refused batch durable by chance.
    const powerLossAfterRefusal =
      syncFailureAt !== undefined && rng.chance(0.5) ? rng.int(1, 3) : undefined;
    let refused = false;
    const poweredOff = disk.whenPoweredOff().then(() => {
      this.duringCheckpoint = box.checkpointInProgress;
    });
    const timer = setTimeout(() => disk.powerLoss(), LOAD_MS_MAX);
    const sizes = Array.from({ length: writers }, () => rng.int(1, 6));
    const writerLoops = sizes.map(async (size, w) => {
      const writer = w + 1;
      for (let seq = 1; !disk.isPoweredOff; seq++) {
        try {
          await this.commit(box, writer, seq, ((seq + size) % 6) + 1);
        } catch (error) {
          if (disk.isPoweredOff) return;
          // A failed fdatasync refuses its batch and the ones queued behind it: the writer
          // goes on (the refused transaction must then be absent, verify() checks).
          if (disk.counts.failedSyncs > 0) {
            if (!refused && powerLossAfterRefusal !== undefined) {
              this.steps.push(`power loss ${powerLossAfterRefusal} operations after the refusal`);
              disk.schedulePowerLoss(powerLossAfterRefusal);
            }
            refused = true;
            continue;
          }
          this.fail(
            `writer ${writer} seq ${seq} failed before the power loss: ${(error as Error).message}`,
          );
          return;
        }
      }
    });
    const pauses = Array.from({ length: 64 }, () => rng.int(0, 15));
    const checkpointer = (async () => {
      for (let i = 0; !disk.isPoweredOff; i++) {
        await new Promise((resolve) => setTimeout(resolve, pauses[i % pauses.length]));
        if (disk.isPoweredOff) return;
        const before = this.acked.length;
        try {
          await box.snapshot();
        } catch (error) {
          if (disk.isPoweredOff) return;
          // The checkpoint's new xlog may be what the injected fdatasync failure hit.
          if (disk.counts.failedSyncs > 0) continue;
          this.fail(`box.snapshot() failed before the power loss: ${(error as Error).message}`);
          return;
        }
        // Everything acknowledged before the call is in the snapshot, which is synced.
        this.durableAcks = Math.max(this.durableAcks, before);
        this.ddlDurable = true;
        if (disk.isPoweredOff) return;
        for (const v of this.history.check(box.info(), `after checkpoint ${i + 1}`)) this.fail(v);
        if (consumer !== undefined && rng.chance(0.5)) {
          // The reader moves to where the WAL was one checkpoint ago.
          box.gcConsumers.advance(consumer, consumerNext);
          consumerNext = box.journal.vclock.copy();
        }
        // The files after each checkpoint (GC just ran): no checkpoint or consumer lost rows.
        const violations = await checkDataDir(this.dir, {
          fs,
          gc: box.infoGc(),
          label: `after checkpoint ${i + 1}`,
        }).catch((error: unknown) => {
          if (disk.isPoweredOff) return [];
          throw error;
        });
        if (!disk.isPoweredOff) for (const v of violations) this.fail(v);
      }
    })();
    await poweredOff;
    clearTimeout(timer);
    await withTimeout(
      Promise.all([...writerLoops, checkpointer]),
      CLOSE_TIMEOUT_MS,
      'the load after the power loss',
    );
    onClose();
    this.injectedSyncFailures += disk.counts.failedSyncs;
    this.steps.push(
      `${this.acked.length} acknowledged, ${this.durableAcks} before the last durable point, ${disk.counts.failedSyncs} failed fdatasyncs`,
    );
    // The dead process's lock: close() fails every I/O (EIO) but releases the directory lock.
    await withTimeout(box.close(), CLOSE_TIMEOUT_MS, 'close after the power loss').catch(() => {});
  }

  /** Creates `log` and `reg` unless they exist (write mode may lose their unsynced DDL). */
  private async ensureSpaces(box: Box): Promise<void> {
    for (const name of ['log', 'reg']) {
      if (box.space[name] !== undefined) continue;
      const space = await box.schema.space.create(name);
      await space.createIndex('primary');
    }
  }

  /** Compares the recovered `log` and `reg` with what was submitted and acknowledged. */
  private verify(box: Box, label: string): void {
    const present = new Map<string, number>();
    for (const tuple of box.space.log?.select() ?? []) {
      const key = `${tuple[1]}/${tuple[2]}`;
      present.set(key, (present.get(key) ?? 0) + 1);
    }
    const registers = new Map<number, number>(
      (box.space.reg?.select() ?? []).map((t) => [t[0] as number, t[1] as number]),
    );
    if (box.space.log === undefined || box.space.reg === undefined) {
      // Write mode: DDL acknowledged but never synced goes with the unsynced tail.
      if (this.mode === 'fsync' || this.ddlDurable)
        this.fail(`${label}: the spaces created before the load are gone`);
      else this.steps.push(`${label}: the unsynced DDL of the spaces is gone (allowed)`);
    }
    // Whole transactions and per-writer prefixes.
    for (const [writer, txs] of this.submitted) {
      let prefixEnded = false;
      let lastMulti = 0;
      for (const tx of txs) {
        const count = present.get(`${writer}/${tx.seq}`) ?? 0;
        present.delete(`${writer}/${tx.seq}`);
        if (count !== 0 && count !== tx.rows) {
          this.halfApplied++;
          this.fail(
            `${label}: transaction ${writer}/${tx.seq} has ${count} of its ${tx.rows} rows`,
          );
        }
        if (tx.rejected) {
          if (count !== 0)
            this.fail(`${label}: transaction ${writer}/${tx.seq} was refused and is present`);
          continue;
        }
        if (count === 0) prefixEnded = true;
        else if (prefixEnded)
          this.fail(
            `${label}: writer ${writer}'s transaction ${tx.seq} is present after a missing one`,
          );
        if (count !== 0 && tx.rows > 1) lastMulti = tx.seq;
      }
      const register = registers.get(writer);
      if ((register ?? 0) !== lastMulti)
        this.fail(
          `${label}: reg[${writer}] = ${register}, but its last present multi-row transaction is ${lastMulti}`,
        );
    }
    for (const key of present.keys()) this.fail(`${label}: rows of ${key}, never submitted`);
    // Acknowledged transactions.
    const isPresent = (tx: Tx) => box.space.log?.get([rowId(tx.writer, tx.seq, 0)]) !== undefined;
    let prefix = 0;
    while (prefix < this.acked.length && isPresent(this.acked[prefix]!)) prefix++;
    const after = this.acked.slice(prefix).filter(isPresent);
    this.acknowledgedChecked += this.acked.length;
    if (this.mode === 'fsync') {
      const missing = this.acked.filter((tx) => !isPresent(tx));
      this.lost += missing.length;
      if (missing.length > 0)
        this.fail(
          `${label}: ${missing.length} acknowledged transactions missing (wal_mode fsync), first ${missing[0]!.writer}/${missing[0]!.seq}`,
        );
      return;
    }
    if (after.length > 0)
      this.fail(
        `${label}: not a prefix: ${after.length} acknowledged transactions present after the missing ${this.acked[prefix]!.writer}/${this.acked[prefix]!.seq}`,
      );
    if (prefix < this.durableAcks) {
      this.lost += this.durableAcks - prefix;
      this.fail(
        `${label}: ${this.durableAcks - prefix} acknowledged transactions lost before the last durable point (${prefix} of ${this.durableAcks} survived)`,
      );
    }
    this.lostUnsynced += this.acked.length - Math.max(prefix, this.durableAcks);
    // What survived is what the model holds from now on.
    this.acked.splice(prefix);
    for (const [writer, txs] of this.submitted)
      this.submitted.set(
        writer,
        txs.filter((tx) => box.space.log?.get([rowId(writer, tx.seq, 0)]) !== undefined),
      );
    this.durableAcks = this.acked.length;
  }
}
