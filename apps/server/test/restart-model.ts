// The model-based restart campaign (issue 9 §2): seeded random sequences of writes, DDL,
// checkpoints, box.cfg changes, SIGTERM, SIGKILL and restarts against real `tarantype start`
// processes, checked against a model of what the server acknowledged. Layer: apps/server tests
// (used by restart-campaign.test.ts and scripts/restart-campaign.ts).
//
// Steps: insert / replace / delete (colliding keys, so duplicates and misses happen),
// multi-statement transactions (`campaign.batch`, restart-campaign-init.mjs: several
// statements, the same key more than once, sometimes aborted or failing on a duplicate),
// bulk transactions of hundreds of rows, create/drop space, create index, truncate,
// box.snapshot(), box.cfg{checkpoint_count}, and stops: SIGTERM or SIGKILL, idle or with
// writes, DDL and a box.snapshot() in flight, a signal a few ms into a snapshot, and starts
// interrupted on purpose (during bootstrap or recovery). Per sequence the config varies too
// (wal_mode write/fsync, a tiny wal_max_size for frequent rotation, checkpoint_count).
//
// What a sequence proves after every restart:
// - the server starts without force_recovery (a failed start is a failure, never retried);
// - every acknowledged write is there, and nothing the server refused or never saw is;
// - a multi-statement transaction is all or nothing, whether it committed, failed, aborted
//   or was in flight at a signal, and a failed one leaves nothing visible even before;
// - a write or DDL request in flight at a signal is wholly present or wholly absent, and
//   present if it was acknowledged, even when the reply arrived after the signal was sent;
// - no `.inprogress` file survives a start (each stray one is logged), a clean stop exits 0
//   and leaves no "wasn't correctly closed" warning for the next start, and after a
//   box.snapshot() at most checkpoint_count snapshots remain;
// - the invariants of invariants.ts hold: box.info's signature is the sum of its vclock, whose
//   components never go back across the sequence, and checkWalDir finds the data directory
//   sound (names, the PrevVClock chain, no rows missing between xlogs, no file GC removed
//   that a kept checkpoint or a consumer of box.info.gc() needs).
// Writes in flight at a signal touch pairwise distinct keys (and DDL in flight a space no
// other write of that signal touches), so each outcome can be read off the recovered state
// independently. Not modelled: wal_mode 'none' (it loses everything after the last checkpoint
// on a crash by design) and OS crashes (page-cache loss).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type IprotoClient, RemoteError } from '@tarantype/iproto';
import { checkDataDir, VclockHistory } from './invariants.js';

const CLI = join(import.meta.dirname, '..', 'bin', 'tarantype.js');
const INIT = join(import.meta.dirname, 'restart-campaign-init.mjs');
const USER = 'campaign';
const PASSWORD = 'campaign-secret';
/** Bounds: a start, a stop and one request each get this long before the sequence fails. */
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 15_000;
const REQUEST_TIMEOUT_MS = 10_000;
/** Keys of ordinary writes come from 1..KEY_RANGE so inserts collide and deletes hit. */
const KEY_RANGE = 40;
/** Keys of writes in flight at a signal start here, so they never collide with others. */
const FRESH_KEY_BASE = 1_000_000;
const SPACES_MAX = 4;
/** Keys of bulk transactions (hundreds of rows: bigger snapshots, bigger xlog writes). */
const BULK_KEY_BASE = 2_000_000;
const BULK_KEY_RANGE = 2000;
const ER_TUPLE_FOUND = 3;

type Tuple = [number, string, number];

interface SpaceModel {
  readonly name: string;
  /** Index names by id: 'pk' (unsigned, field 1), optionally 'sk' (string, field 2, non-unique). */
  readonly indexes: string[];
  /** Acknowledged rows by primary key. */
  readonly rows: Map<number, Tuple>;
  /**
   * 'temporary': rows are never logged nor snapshotted and vanish at a restart (the space
   * stays); 'is_local': rows are logged as local (group 1, vclock component 0).
   */
  readonly kind: 'normal' | 'temporary' | 'is_local';
}

/** One statement's effect on one key: the row before it and after it (undefined = absent). */
interface Effect {
  readonly space: string;
  readonly key: number;
  readonly before: Tuple | undefined;
  readonly after: Tuple | undefined;
}

/** DDL in flight at a signal: applied wholly or not at all. */
interface DdlEffect {
  readonly kind: 'drop' | 'create_index' | 'truncate';
  readonly space: string;
}

/** A write in flight at a signal: one statement, one transaction or one DDL request. */
interface InFlight {
  readonly label: string;
  readonly effects: readonly Effect[];
  readonly ddl?: DdlEffect;
  /** acked: a success reply; rejected: an error reply; unknown: no reply (connection lost). */
  outcome: 'acked' | 'rejected' | 'unknown';
}

export interface CampaignStats {
  sequences: number;
  steps: number;
  starts: number;
  /** Starts interrupted by a signal on purpose (during recovery or just after). */
  interruptedStarts: number;
  failedStarts: number;
  /** Acknowledged statements whose effect was checked after a restart. */
  writesChecked: number;
  /** Writes in flight at a signal whose outcome was resolved after the restart. */
  inFlightResolved: number;
  /** Acknowledged writes missing or different after a restart. */
  lost: number;
  /** Transactions or in-flight writes found partly applied. */
  halfApplied: number;
  /** SIGKILLs sent (stops, starts interrupted, kills during a box.snapshot()). */
  kills: number;
  /** Broken invariants (invariants.ts) seen after a start: vclock, signature, xlog chain, GC. */
  invariantViolations: number;
  failures: number;
}

export function emptyStats(): CampaignStats {
  return {
    sequences: 0,
    steps: 0,
    starts: 0,
    interruptedStarts: 0,
    failedStarts: 0,
    writesChecked: 0,
    inFlightResolved: 0,
    lost: 0,
    halfApplied: 0,
    kills: 0,
    invariantViolations: 0,
    failures: 0,
  };
}

export function addStats(into: CampaignStats, from: CampaignStats): void {
  for (const key of Object.keys(into) as (keyof CampaignStats)[]) into[key] += from[key];
}

export class CampaignFailure extends Error {
  constructor(
    message: string,
    readonly seed: number,
    readonly step: number,
    readonly history: readonly string[],
    readonly serverLog: readonly string[],
  ) {
    super(message);
  }

  report(): string {
    return [
      `restart campaign failure (seed ${this.seed}, step ${this.step}): ${this.message}`,
      `replay: SEED=${this.seed} SEQUENCES=1`,
      'steps:',
      ...this.history.map((h, i) => `  ${i + 1}. ${h}`),
      'server log (last lines):',
      ...this.serverLog.slice(-40).map((l) => `  ${l}`),
    ].join('\n');
  }
}

/** mulberry32: a small, fast, seeded PRNG (the campaign only needs reproducibility). */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(low: number, high: number): number {
    return low + Math.floor(this.next() * (high - low + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }
}

// {{{ server processes

export interface StartResult {
  readonly server?: ServerProcess;
  /** Why the start failed: the exit code and the log. */
  readonly failure?: string;
  readonly log: readonly string[];
}

/** A `tarantype start` child process and its log (stderr lines). */
export class ServerProcess {
  readonly log: string[] = [];
  port = 0;
  exitCode: number | null | undefined;
  exitSignal: NodeJS.Signals | null | undefined;
  readonly exited: Promise<void>;

  private constructor(readonly child: ChildProcess) {
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        resolve();
      }),
    );
  }

  /** Spawns `tarantype start` on `dataDir`; `ready` resolves at "ready to accept requests". */
  static spawn(dataDir: string, configPath: string): ServerProcess {
    const child = spawn(
      process.execPath,
      [
        CLI,
        'start',
        '--listen',
        '127.0.0.1:0',
        '--data-dir',
        dataDir,
        '--config',
        configPath,
        '--init',
        INIT,
        '--no-console',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const server = new ServerProcess(child);
    let buffer = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      server.log.push(...lines);
      for (const line of lines) {
        const bound = /binary: bound to [\d.]+:(\d+)/.exec(line);
        if (bound !== null) server.port = Number(bound[1]);
        if (line.includes('ready to accept requests')) server.markReady();
        for (const listener of server.lineListeners) listener(line);
      }
    });
    child.stderr!.on('end', () => {
      if (buffer !== '') server.log.push(buffer);
      buffer = '';
    });
    return server;
  }

  private readonly lineListeners: Array<(line: string) => void> = [];
  private markReady: () => void = () => {};
  readonly ready = new Promise<void>((resolve) => (this.markReady = resolve));

  /** Spawns and waits until it is ready, has exited or START_TIMEOUT_MS passed. */
  static async start(dataDir: string, configPath: string): Promise<StartResult> {
    const server = ServerProcess.spawn(dataDir, configPath);
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      server.ready.then(() => 'ready' as const),
      server.exited.then(() => 'exited' as const),
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), START_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (outcome === 'ready' && server.port !== 0) return { server, log: server.log };
    if (outcome !== 'exited') {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    return {
      failure:
        outcome === 'timeout'
          ? `no "ready to accept requests" within ${START_TIMEOUT_MS} ms`
          : `exited with code ${server.exitCode} signal ${server.exitSignal} before it was ready`,
      log: server.log,
    };
  }

  /** Resolves at the first log line (from now on) that matches `pattern`. */
  nextLine(pattern: RegExp): Promise<string> {
    return new Promise((resolve) => {
      const listener = (line: string) => {
        if (!pattern.test(line)) return;
        this.lineListeners.splice(this.lineListeners.indexOf(listener), 1);
        resolve(line);
      };
      this.lineListeners.push(listener);
    });
  }

  /** Sends `signal` and waits for the exit (SIGKILL after STOP_TIMEOUT_MS). */
  async stop(signal: 'SIGTERM' | 'SIGKILL'): Promise<{ code: number | null; timedOut: boolean }> {
    if (this.exitCode === undefined) this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    return { code: this.exitCode ?? null, timedOut };
  }
}

// }}}
// {{{ the sequence

export interface SequenceConfig {
  wal_mode: 'write' | 'fsync';
  /** Small values make the journal rotate often (many xlogs, many PrevVClock links). */
  wal_max_size?: number | undefined;
  checkpoint_count: number;
}

export interface SequenceOptions {
  readonly seed: number;
  /** Overrides the seeded choice of config. */
  readonly config?: Partial<SequenceConfig>;
  /** Keep the data directory (printed) instead of removing it. */
  readonly keepDir?: boolean;
  /**
   * The final stop of runRandomSequence: by default a seeded SIGKILL or SIGTERM; 'kill during
   * checkpoint' makes it a SIGKILL with writes and a box.snapshot() in flight (chaos kill-9).
   */
  readonly finalStop?: 'random' | 'kill during checkpoint';
}

type StopKind = 'SIGTERM' | 'SIGKILL';

/**
 * One sequence: a data directory, the server running on it (or not), and the model of what
 * the server acknowledged. Every public step method counts as a step and throws
 * CampaignFailure on the first divergence.
 */
export class Sequence {
  readonly rng: Rng;
  readonly stats = emptyStats();
  readonly spaces = new Map<string, SpaceModel>();
  readonly history: string[] = [];
  config: SequenceConfig;
  dir = '';
  server: ServerProcess | undefined;
  private client: IprotoClient | undefined;
  private inFlight: InFlight[] = [];
  private lastStop: StopKind | undefined;
  /** Xlogs left without an EOF marker by a SIGKILL (warned about at the start after it). */
  private readonly uncleanXlogs = new Set<string>();
  private acknowledgedSinceCheck = 0;
  /** box.info samples of this sequence: signature = sum, components only grow. */
  private readonly vclocks = new VclockHistory();
  private spaceCounter = 0;
  /** Makes every written tuple distinct, so "before" and "after" never look alike. */
  private version = 0;

  constructor(readonly options: SequenceOptions) {
    this.rng = new Rng(options.seed);
    this.config = {
      wal_mode: this.rng.chance(0.2) ? 'fsync' : 'write',
      ...(this.rng.chance(0.5) ? { wal_max_size: this.rng.pick([600, 2048, 8192]) } : {}),
      checkpoint_count: this.rng.int(1, 3),
      ...options.config,
    };
    this.stats.sequences = 1;
  }

  /** Tells the next start that `path` may be warned about (damage made by the test). */
  expectUncleanXlog(path: string): void {
    this.uncleanXlogs.add(path);
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  async open(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'tarantype-restart-'));
    this.history.push(`config ${JSON.stringify(this.config)}`);
  }

  /** Stops the server (SIGKILL: nothing more to check) and removes the directory. */
  async close(): Promise<void> {
    await this.client?.close().catch(() => {});
    this.client?.destroy();
    this.client = undefined;
    await this.server?.stop('SIGKILL');
    this.server = undefined;
    if (this.dir === '') return;
    if (this.options.keepDir === true) process.stderr.write(`kept ${this.dir}\n`);
    else await rm(this.dir, { recursive: true, force: true });
  }

  fail(message: string): never {
    this.stats.failures++;
    throw new CampaignFailure(
      message,
      this.options.seed,
      this.stats.steps,
      this.history,
      this.server?.log ?? this.lastLog,
    );
  }
  private lastLog: readonly string[] = [];

  private step(description: string): void {
    this.stats.steps++;
    this.history.push(description);
  }

  /** A CALL on the running server, for tests that check more than the model does. */
  callForTest(name: string, args: readonly unknown[] = []): Promise<unknown[]> {
    return this.call(name, args);
  }

  private async call(name: string, args: readonly unknown[] = []): Promise<unknown[]> {
    if (this.client === undefined) this.fail(`call ${name} while the server is down`);
    return this.client.call(name, args, { timeoutMs: REQUEST_TIMEOUT_MS });
  }

  private tuple(key: number): Tuple {
    this.version++;
    return [key, this.rng.pick(['a', 'b', 'c', 'd', 'e']), this.version];
  }

  private randomSpace(): SpaceModel | undefined {
    const all = [...this.spaces.values()];
    return all.length === 0 ? undefined : this.rng.pick(all);
  }

  private spaceOrFail(name: string | undefined): SpaceModel {
    const space = name === undefined ? this.randomSpace() : this.spaces.get(name);
    if (space === undefined) this.fail(`no space ${name ?? '(any)'} in the model`);
    return space;
  }

  // {{{ start and verification

  /** Starts the server and checks the recovered state against the model. */
  async start(): Promise<void> {
    if (this.running) this.fail('start while running');
    this.step('start');
    await writeFile(join(this.dir, 'config.yaml'), this.configYaml());
    const stray = (await this.files()).filter((f) => f.endsWith('.inprogress'));
    this.stats.starts++;
    const result = await ServerProcess.start(this.dataDir, join(this.dir, 'config.yaml'));
    this.lastLog = result.log;
    if (result.server === undefined) {
      this.stats.failedStarts++;
      this.fail(`start failed: ${result.failure}`);
    }
    this.server = result.server;
    const log = result.log;
    this.checkUncleanWarnings(log);
    for (const file of stray)
      if (!log.some((l) => l.includes(join(this.dataDir, file))))
        this.fail(`the start did not log the removal of the stray ${file}`);
    const left = (await this.files()).filter((f) => f.endsWith('.inprogress'));
    if (left.length > 0) this.fail(`.inprogress files after the start: ${left.join(', ')}`);
    this.client = await connect({
      host: '127.0.0.1',
      port: this.server.port,
      user: USER,
      password: PASSWORD,
      reconnect: false,
      connectTimeoutMs: REQUEST_TIMEOUT_MS,
    });
    // Temporary spaces come back empty (Tarantool 2.6 §6d: "temporary data is gone").
    for (const space of this.spaces.values()) if (space.kind === 'temporary') space.rows.clear();
    await this.verify();
    await this.checkInvariants('after the start');
  }

  /** invariants.ts on the running server: box.info's vclock, the files, GC consumers. */
  async checkInvariants(label: string): Promise<void> {
    const [info] = (await this.call('box.info')) as [Record<string, unknown>];
    const [gc] = (await this.call('box.info.gc')) as [Record<string, unknown>];
    const violations = [
      ...this.vclocks.check(info, label),
      ...(await checkDataDir(this.dataDir, { gc, label })),
    ];
    if (violations.length === 0) return;
    this.stats.invariantViolations += violations.length;
    this.fail(violations.join('\n'));
  }

  /**
   * A file a SIGKILL left without its EOF marker keeps warning at every start until GC
   * removes it (so does Tarantool 2.6). After a clean stop no other file may warn.
   */
  private checkUncleanWarnings(log: readonly string[]): void {
    const warned = log
      .map((l) => /file `([^`]+)` wasn't correctly closed/.exec(l)?.[1])
      .filter((path) => path !== undefined);
    if (this.lastStop !== 'SIGKILL')
      for (const path of warned)
        if (!this.uncleanXlogs.has(path))
          this.fail(`after a clean stop the start says ${path} was not correctly closed`);
    for (const path of warned) this.uncleanXlogs.add(path);
  }

  private configYaml(): string {
    const lines = [
      'checkpoint_interval: 0',
      `checkpoint_count: ${this.config.checkpoint_count}`,
      `wal_mode: ${this.config.wal_mode}`,
    ];
    if (this.config.wal_max_size !== undefined)
      lines.push(`wal_max_size: ${this.config.wal_max_size}`);
    lines.push(
      'credentials:',
      '  users:',
      `    ${USER}:`,
      `      password: ${PASSWORD}`,
      '      roles: [super]',
    );
    return `${lines.join('\n')}\n`;
  }

  async files(): Promise<string[]> {
    return (await readdir(this.dataDir).catch(() => [] as string[])).sort();
  }

  /** Reads every user space, its indexes and rows, and compares them with the model. */
  private async verify(): Promise<void> {
    const [spaceRows] = (await this.call('box.space._space:select')) as [unknown[][]];
    const user = spaceRows.filter((t) => (t[0] as number) >= 512);
    const names = user.map((t) => String(t[2])).sort();
    const ddl = this.inFlight.find((w) => w.ddl !== undefined);
    if (ddl?.ddl?.kind === 'drop') {
      const applied = !names.includes(ddl.ddl.space);
      this.resolveDdl(ddl, applied);
      if (applied) this.spaces.delete(ddl.ddl.space);
    }
    const expected = [...this.spaces.keys()].sort();
    if (JSON.stringify(names) !== JSON.stringify(expected))
      this.fail(
        `spaces after restart: ${JSON.stringify(names)}, expected ${JSON.stringify(expected)}`,
      );
    const [indexRows] = (await this.call('box.space._index:select')) as [unknown[][]];
    const observed = new Map<string, Map<number, Tuple>>();
    for (const row of user) {
      const name = String(row[2]);
      const model = this.spaces.get(name)!;
      const indexes = indexRows
        .filter((i) => i[0] === row[0])
        .sort((a, b) => (a[1] as number) - (b[1] as number))
        .map((i) => String(i[2]));
      if (ddl?.ddl?.kind === 'create_index' && ddl.ddl.space === name) {
        const applied = indexes.includes('sk');
        this.resolveDdl(ddl, applied);
        if (applied) model.indexes.push('sk');
      }
      if (JSON.stringify(indexes) !== JSON.stringify(model.indexes))
        this.fail(
          `indexes of ${name}: ${JSON.stringify(indexes)}, expected ${JSON.stringify(model.indexes)}`,
        );
      const [tuples] = (await this.call(`box.space.${name}:select`)) as [Tuple[]];
      if (ddl?.ddl?.kind === 'truncate' && ddl.ddl.space === name) {
        // The model had rows (a truncate of an empty space is never sent in flight).
        const applied = tuples.length === 0;
        this.resolveDdl(ddl, applied);
        if (applied) model.rows.clear();
      }
      observed.set(name, new Map(tuples.map((t) => [t[0], t])));
    }
    this.resolveInFlight(observed);
    for (const [name, model] of this.spaces) {
      const rows = observed.get(name)!;
      for (const [key, tuple] of model.rows) {
        const got = rows.get(key);
        if (!sameTuple(got, tuple)) {
          this.stats.lost++;
          this.fail(
            `${name}[${key}]: acknowledged ${JSON.stringify(tuple)}, found ${JSON.stringify(got)}`,
          );
        }
      }
      for (const [key, tuple] of rows)
        if (!model.rows.has(key))
          this.fail(`${name}[${key}] = ${JSON.stringify(tuple)} was never acknowledged`);
      if (model.indexes.includes('sk')) {
        const [bySk] = (await this.call(`box.space.${name}.index.sk:select`)) as [Tuple[]];
        const want = [...model.rows.values()].sort((a, b) =>
          a[1] === b[1] ? a[0] - b[0] : a[1] < b[1] ? -1 : 1,
        );
        if (JSON.stringify(bySk) !== JSON.stringify(want))
          this.fail(
            `${name}.index.sk after restart: ${JSON.stringify(bySk)}, expected ${JSON.stringify(want)}`,
          );
      }
    }
    this.stats.writesChecked += this.acknowledgedSinceCheck;
    this.acknowledgedSinceCheck = 0;
  }

  private resolveDdl(write: InFlight, applied: boolean): void {
    if (write.outcome === 'acked' && !applied) {
      this.stats.lost++;
      this.fail(`${write.label} was acknowledged before the signal and is not there`);
    }
    if (write.outcome === 'rejected' && applied)
      this.fail(`${write.label} was refused with an error and happened`);
    this.stats.inFlightResolved++;
    if (write.outcome === 'acked') this.acknowledgedSinceCheck++;
  }

  /** Each write in flight at the last signal: wholly applied or wholly absent. */
  private resolveInFlight(observed: Map<string, Map<number, Tuple>>): void {
    for (const write of this.inFlight) {
      if (write.ddl !== undefined) continue;
      const states = write.effects.map((e) => {
        const got = observed.get(e.space)?.get(e.key);
        if (sameTuple(got, e.after)) return 'after';
        if (sameTuple(got, e.before)) return 'before';
        return `other ${JSON.stringify(got)}`;
      });
      const applied = states.every((s) => s === 'after');
      const absent = states.every((s) => s === 'before');
      if (!applied && !absent) {
        this.stats.halfApplied++;
        this.fail(`${write.label} (${write.outcome}) is half applied: ${states.join(', ')}`);
      }
      if (write.outcome === 'acked' && !applied) {
        this.stats.lost++;
        this.fail(`${write.label} was acknowledged before the signal and is missing`);
      }
      if (write.outcome === 'rejected' && applied)
        this.fail(`${write.label} was refused with an error and is present`);
      if (applied) for (const e of write.effects) setRow(this.spaces.get(e.space)!, e.key, e.after);
      this.stats.inFlightResolved++;
      if (write.outcome === 'acked') this.acknowledgedSinceCheck += write.effects.length;
    }
    this.inFlight = [];
  }

  // }}}
  // {{{ stops

  /**
   * Stops the server with `signal`. With `load`, writes are in flight when the signal is sent
   * (some may be acknowledged before it, some after, some never); `afterAcks` waits for that
   * many replies first, else the signal goes after `delayMs`.
   */
  async stop(
    signal: StopKind,
    load:
      | { writes: number; delayMs?: number; afterAcks?: number; snapshot?: boolean }
      | undefined = undefined,
  ): Promise<void> {
    const server = this.server;
    if (server === undefined) this.fail('stop while stopped');
    const pending: Promise<void>[] = [];
    const writes: InFlight[] = [];
    if (load !== undefined && this.spaces.size > 0) {
      const used = new Set<string>();
      let acks = 0;
      let onAck: () => void = () => {};
      const acked = new Promise<void>((resolve) => (onAck = resolve));
      const ddl = this.rng.chance(0.3) ? this.inFlightDdl() : undefined;
      const ddlAt = this.rng.int(0, load.writes);
      // Temporary rows vanish at the restart whatever happened: nothing to learn in flight.
      const candidates = [...this.spaces.values()].filter(
        (space) => space.name !== ddl?.space && space.kind !== 'temporary',
      );
      const snapshotAt = load.snapshot === true ? this.rng.int(0, load.writes) : -1;
      for (let i = 0; i <= load.writes; i++) {
        if (i === snapshotAt) {
          // A checkpoint racing the writes and the signal: its outcome changes no row.
          const snapshot = this.client!.call('box.snapshot', [], { timeoutMs: REQUEST_TIMEOUT_MS });
          pending.push(
            snapshot.then(
              () => {},
              () => {},
            ),
          );
        }
        let next: { write: InFlight; run: () => Promise<unknown> } | undefined;
        if (i === ddlAt && ddl !== undefined) next = this.inFlightDdlWrite(ddl);
        else if (i < load.writes && candidates.length > 0)
          next = this.inFlightWrite(used, candidates);
        if (next === undefined) continue;
        const { write, run } = next;
        writes.push(write);
        pending.push(
          run().then(
            () => {
              write.outcome = 'acked';
              if (++acks >= (load.afterAcks ?? Number.POSITIVE_INFINITY)) onAck();
            },
            (error: unknown) => {
              if (error instanceof RemoteError) write.outcome = 'rejected';
            },
          ),
        );
      }
      if (load.afterAcks !== undefined) await Promise.race([acked, Promise.allSettled(pending)]);
      else if (load.delayMs !== undefined && load.delayMs > 0)
        await new Promise((resolve) => setTimeout(resolve, load.delayMs));
    }
    this.step(
      `${signal}${load === undefined ? '' : ` with ${writes.length} writes${load.snapshot === true ? ' and box.snapshot()' : ''} in flight (${load.afterAcks === undefined ? `after ${load.delayMs ?? 0} ms` : `after ${load.afterAcks} acks`}): ${writes.map((w) => w.label).join('; ')}`}`,
    );
    if (signal === 'SIGKILL') this.stats.kills++;
    const { code, timedOut } = await server.stop(signal);
    await Promise.allSettled(pending);
    this.client?.destroy();
    this.client = undefined;
    this.lastLog = server.log;
    this.server = undefined;
    this.inFlight = writes;
    this.lastStop = signal;
    if (signal === 'SIGTERM') await this.checkCleanStop(server, code, timedOut);
  }

  /**
   * `signal` `delayMs` after box.snapshot() was called: a SIGKILL may leave the snapshot half
   * written (.snap.inprogress); a SIGTERM lets it finish or fail, and then stops cleanly.
   */
  async signalDuringSnapshot(signal: StopKind, delayMs: number): Promise<void> {
    const server = this.server;
    if (server === undefined || this.client === undefined) this.fail('snapshot while stopped');
    this.step(`${signal} ${delayMs} ms into box.snapshot()`);
    const snapshot = this.client.call('box.snapshot', [], { timeoutMs: REQUEST_TIMEOUT_MS });
    snapshot.catch(() => {});
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (signal === 'SIGKILL') this.stats.kills++;
    const { code, timedOut } = await server.stop(signal);
    await snapshot.catch(() => {});
    this.client.destroy();
    this.client = undefined;
    this.lastLog = server.log;
    this.server = undefined;
    this.lastStop = signal;
    if (signal === 'SIGTERM') await this.checkCleanStop(server, code, timedOut);
  }

  /**
   * A start interrupted on purpose: `signal` `delayMs` after the spawn, or after the first log
   * line matching `after`, or at "ready" if that comes first. Recovery repairs
   * files (truncates a torn tail, removes leftovers): a signal in the middle must not break
   * the next start.
   */
  async interruptedStart(signal: StopKind, delayMs: number, after?: RegExp): Promise<void> {
    if (this.running) this.fail('start while running');
    this.step(
      `${signal} ${delayMs} ms ${after === undefined ? 'into a start' : `after the log line ${after}`}`,
    );
    await writeFile(join(this.dir, 'config.yaml'), this.configYaml());
    this.stats.interruptedStarts++;
    const server = ServerProcess.spawn(this.dataDir, join(this.dir, 'config.yaml'));
    const sleep = () => new Promise((resolve) => setTimeout(resolve, delayMs));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      after === undefined ? sleep() : server.nextLine(after).then(sleep),
      server.ready,
      server.exited,
      new Promise((resolve) => {
        timer = setTimeout(resolve, START_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (server.exitCode !== undefined) {
      this.lastLog = server.log;
      this.stats.failedStarts++;
      this.fail(`start failed before the signal: exit code ${server.exitCode}`);
    }
    if (signal === 'SIGKILL') this.stats.kills++;
    const { code, timedOut } = await server.stop(signal);
    this.lastLog = server.log;
    this.checkUncleanWarnings(server.log);
    if (server.log.some((l) => l.includes('cannot start')))
      this.fail('the interrupted start failed on its own ("cannot start")');
    // A SIGTERM before Node installed the handler kills the process like a SIGKILL.
    const clean =
      signal === 'SIGTERM' &&
      code === 0 &&
      !timedOut &&
      server.log.some((l) => l.includes('stopped:'));
    if (signal === 'SIGTERM' && code === 0 && !clean)
      this.fail('SIGTERM during a start: exit 0 without "stopped: the xlog is closed"');
    this.lastStop = clean ? 'SIGTERM' : 'SIGKILL';
    if (clean) await this.checkCleanStop(server, code, timedOut);
  }

  private async checkCleanStop(
    server: ServerProcess,
    code: number | null,
    timedOut: boolean,
  ): Promise<void> {
    if (timedOut) this.fail(`SIGTERM: no exit within ${STOP_TIMEOUT_MS} ms`);
    if (code !== 0) this.fail(`SIGTERM: exit code ${code}, expected 0`);
    if (!server.log.some((l) => l.includes('stopped: the xlog is closed')))
      this.fail('SIGTERM: no "stopped: the xlog is closed" in the log');
    const left = (await this.files()).filter((f) => f.endsWith('.inprogress'));
    if (left.length > 0) this.fail(`.inprogress files after a clean stop: ${left.join(', ')}`);
  }

  private inFlightDdl(): DdlEffect | undefined {
    const persistent = [...this.spaces.values()].filter((s) => s.kind !== 'temporary');
    if (persistent.length === 0) return undefined;
    const space = this.rng.pick(persistent);
    const kinds: DdlEffect['kind'][] = ['drop'];
    if (!space.indexes.includes('sk')) kinds.push('create_index');
    if (space.rows.size > 0) kinds.push('truncate');
    return { kind: this.rng.pick(kinds), space: space.name };
  }

  private inFlightDdlWrite(ddl: DdlEffect): { write: InFlight; run: () => Promise<unknown> } {
    const write: InFlight = {
      label: `${ddl.kind} ${ddl.space}`,
      effects: [],
      ddl,
      outcome: 'unknown',
    };
    const client = this.client!;
    const run = () =>
      ddl.kind === 'create_index'
        ? client.call(`box.space.${ddl.space}:create_index`, [
            'sk',
            { parts: [2, 'string'], unique: false },
          ])
        : client.call(`box.space.${ddl.space}:${ddl.kind}`);
    return { write, run };
  }

  /** A write for a signal's load: keys distinct from every other write of the same load. */
  private inFlightWrite(
    used: Set<string>,
    spaces: readonly SpaceModel[],
  ): { write: InFlight; run: () => Promise<unknown> } {
    const effects: Effect[] = [];
    const statements: [string, string, unknown][] = [];
    const count = this.rng.chance(0.4) ? this.rng.int(2, this.rng.chance(0.2) ? 60 : 8) : 1;
    for (let i = 0; i < count; i++) {
      const space = this.rng.pick(spaces);
      const existing = [...space.rows.keys()].filter((k) => !used.has(`${space.name}/${k}`));
      const kind =
        existing.length === 0 ? 'insert' : this.rng.pick(['insert', 'insert', 'replace', 'delete']);
      const key = kind === 'insert' ? FRESH_KEY_BASE + this.version + 1 : this.rng.pick(existing);
      used.add(`${space.name}/${key}`);
      const before = space.rows.get(key);
      if (kind === 'delete') {
        effects.push({ space: space.name, key, before, after: undefined });
        statements.push([space.name, 'delete', [key]]);
      } else {
        const tuple = this.tuple(key);
        effects.push({ space: space.name, key, before, after: tuple });
        statements.push([space.name, kind, tuple]);
      }
    }
    const label =
      count > 10
        ? `batch of ${count} (${statements[0]![1]} ${statements[0]![0]}[${effects[0]!.key}] …)`
        : count === 1
          ? `${statements[0]![1]} ${statements[0]![0]}[${effects[0]!.key}]`
          : `batch of ${count} (${statements.map((s) => `${s[1]} ${s[0]}[${effects[statements.indexOf(s)]!.key}]`).join(', ')})`;
    const write: InFlight = { label, effects, outcome: 'unknown' };
    const client = this.client!;
    const run = () => {
      const [space, kind, argument] = statements[0]!;
      if (count > 1) return client.call('campaign.batch', [statements, false]);
      return client.call(`box.space.${space}:${kind}`, [argument]);
    };
    return { write, run };
  }

  // }}}
  // {{{ writes and DDL

  async insert(spaceName?: string, key?: number): Promise<void> {
    const space = this.spaceOrFail(spaceName);
    const k = key ?? this.rng.int(1, KEY_RANGE);
    const tuple = this.tuple(k);
    const exists = space.rows.has(k);
    this.step(`insert ${space.name} ${JSON.stringify(tuple)}${exists ? ' (duplicate)' : ''}`);
    const result = await this.expect(this.call(`box.space.${space.name}:insert`, [tuple]), exists);
    if (exists) return;
    if (!sameTuple((result as [Tuple])[0], tuple))
      this.fail(`insert returned ${JSON.stringify(result)}`);
    this.acknowledge(space, k, tuple);
  }

  async replace(spaceName?: string, key?: number): Promise<void> {
    const space = this.spaceOrFail(spaceName);
    const tuple = this.tuple(key ?? this.rng.int(1, KEY_RANGE));
    this.step(`replace ${space.name} ${JSON.stringify(tuple)}`);
    const result = await this.expect(this.call(`box.space.${space.name}:replace`, [tuple]), false);
    if (!sameTuple((result as [Tuple])[0], tuple))
      this.fail(`replace returned ${JSON.stringify(result)}`);
    this.acknowledge(space, tuple[0], tuple);
  }

  async delete(spaceName?: string, key?: number): Promise<void> {
    const space = this.spaceOrFail(spaceName);
    const existing = [...space.rows.keys()];
    const k =
      key ??
      (existing.length > 0 && this.rng.chance(0.8)
        ? this.rng.pick(existing)
        : this.rng.int(1, KEY_RANGE));
    const before = space.rows.get(k);
    this.step(`delete ${space.name}[${k}]${before === undefined ? ' (absent)' : ''}`);
    const [result] = (await this.expect(
      this.call(`box.space.${space.name}:delete`, [[k]]),
      false,
    )) as [Tuple | null];
    if (!sameTuple(result ?? undefined, before))
      this.fail(`delete returned ${JSON.stringify(result)}, expected ${JSON.stringify(before)}`);
    this.acknowledge(space, k, undefined);
  }

  /**
   * A multi-statement transaction over distinct keys. It must fail as a whole when it
   * inserts an existing key or when `abort` is set, and then leave every key as it was.
   */
  async batch(options: { statements?: number; abort?: boolean } = {}): Promise<void> {
    const count = options.statements ?? this.rng.int(2, 6);
    const abort = options.abort ?? this.rng.chance(0.2);
    const statements: [string, string, unknown][] = [];
    // Statements may hit one key several times (insert, delete, insert again …): the model
    // applies them in order, and a rollback must undo them in reverse order to the original.
    const current = new Map<
      string,
      { space: string; key: number; before: Tuple | undefined; now: Tuple | undefined }
    >();
    let duplicate = false;
    for (let i = 0; i < count; i++) {
      const reuse = current.size > 0 && this.rng.chance(0.3);
      const space = reuse
        ? this.spaces.get(this.rng.pick([...current.values()]).space)!
        : this.randomSpace()!;
      const k = reuse
        ? this.rng.pick([...current.values()].filter((c) => c.space === space.name)).key
        : this.rng.int(1, KEY_RANGE);
      const id = `${space.name}/${k}`;
      const state = current.get(id) ?? {
        space: space.name,
        key: k,
        before: space.rows.get(k),
        now: space.rows.get(k),
      };
      current.set(id, state);
      const kind = this.rng.pick(['insert', 'insert', 'replace', 'delete']);
      if (kind === 'delete') {
        statements.push([space.name, 'delete', [k]]);
        state.now = undefined;
      } else {
        const tuple = this.tuple(k);
        if (kind === 'insert' && state.now !== undefined) duplicate = true;
        statements.push([space.name, kind, tuple]);
        state.now = tuple;
      }
    }
    const effects: Effect[] = [...current.values()].map((c) => ({
      space: c.space,
      key: c.key,
      before: c.before,
      after: c.now,
    }));
    const fails = duplicate || abort;
    this.step(
      `batch ${JSON.stringify(statements)}${abort ? ' (abort)' : ''}${duplicate ? ' (duplicate insert)' : ''}`,
    );
    let error: unknown;
    const result = await this.call('campaign.batch', [statements, abort]).catch((e: unknown) => {
      error = e;
      return undefined;
    });
    if (fails) {
      if (!(error instanceof RemoteError))
        this.fail(`a failing batch returned ${JSON.stringify(result)} (${String(error)})`);
      // Nothing of it may be visible, right now as after a restart.
      for (const e of effects) {
        const [got] = (await this.call(`box.space.${e.space}:get`, [[e.key]])) as [Tuple | null];
        if (!sameTuple(got ?? undefined, e.before)) {
          this.stats.halfApplied++;
          this.fail(`failed batch left ${e.space}[${e.key}] = ${JSON.stringify(got)}`);
        }
      }
      return;
    }
    if (error !== undefined) this.fail(`batch failed: ${(error as Error).message}`);
    if ((result as [number])[0] !== statements.length)
      this.fail(`batch returned ${JSON.stringify(result)}`);
    for (const e of effects) this.acknowledge(this.spaces.get(e.space)!, e.key, e.after);
  }

  /** One transaction of `count` replaces of bulk keys (hundreds of rows, big WAL writes). */
  async bulk(count: number, spaceName?: string): Promise<void> {
    const space = this.spaceOrFail(spaceName);
    const keys = new Set<number>();
    while (keys.size < count) keys.add(BULK_KEY_BASE + this.rng.int(0, BULK_KEY_RANGE - 1));
    const tuples = [...keys].map((k) => this.tuple(k));
    this.step(`bulk: ${count} replaces into ${space.name} in one transaction`);
    const [applied] = await this.expect(
      this.call('campaign.batch', [tuples.map((t) => [space.name, 'replace', t]), false]),
      false,
    );
    if (applied !== count) this.fail(`bulk batch returned ${String(applied)}`);
    for (const t of tuples) this.acknowledge(space, t[0], t);
  }

  async createSpace(kind?: SpaceModel['kind']): Promise<void> {
    const name = `s${++this.spaceCounter}`;
    const k =
      kind ?? (this.rng.chance(0.7) ? 'normal' : this.rng.chance(0.5) ? 'temporary' : 'is_local');
    this.step(`create ${k === 'normal' ? '' : `${k} `}space ${name} with index pk`);
    await this.expect(
      this.call('box.schema.space.create', [name, k === 'normal' ? {} : { [k]: true }]),
      false,
    );
    await this.expect(
      this.call(`box.space.${name}:create_index`, ['pk', { parts: [1, 'unsigned'] }]),
      false,
    );
    this.spaces.set(name, { name, indexes: ['pk'], rows: new Map(), kind: k });
  }

  async createIndex(spaceName?: string): Promise<void> {
    const space = this.spaceOrFail(spaceName);
    if (space.indexes.includes('sk')) this.fail(`${space.name} already has sk`);
    this.step(`create index ${space.name}.sk`);
    await this.expect(
      this.call(`box.space.${space.name}:create_index`, [
        'sk',
        { parts: [2, 'string'], unique: false },
      ]),
      false,
    );
    space.indexes.push('sk');
  }

  async dropSpace(spaceName?: string): Promise<void> {
    const space = this.spaceOrFail(spaceName);
    this.step(`drop space ${space.name}`);
    await this.expect(this.call(`box.space.${space.name}:drop`), false);
    this.acknowledgedSinceCheck++;
    this.spaces.delete(space.name);
  }

  async truncate(spaceName?: string): Promise<void> {
    const space = this.spaceOrFail(spaceName);
    this.step(`truncate ${space.name}`);
    await this.expect(this.call(`box.space.${space.name}:truncate`), false);
    this.acknowledgedSinceCheck++;
    space.rows.clear();
  }

  /** box.snapshot(); then at most checkpoint_count snapshots may remain. */
  async snapshot(): Promise<void> {
    this.step('box.snapshot()');
    const [result] = await this.expect(this.call('box.snapshot'), false);
    if (result !== 'ok') this.fail(`box.snapshot() returned ${JSON.stringify(result)}`);
    const snaps = (await this.files()).filter((f) => f.endsWith('.snap'));
    if (snaps.length > this.config.checkpoint_count)
      this.fail(
        `${snaps.length} snapshots after box.snapshot() with checkpoint_count = ${this.config.checkpoint_count}: ${snaps.join(', ')}`,
      );
    // GC just ran: the files and the vclock after it.
    await this.checkInvariants('after box.snapshot()');
  }

  /** box.cfg{checkpoint_count = n}; later starts get it from the config file too. */
  async checkpointCount(count: number): Promise<void> {
    this.step(`box.cfg{checkpoint_count = ${count}}`);
    await this.expect(this.call('box.cfg', [{ checkpoint_count: count }]), false);
    const [values] = (await this.call('box.cfg')) as [Record<string, unknown>];
    if (values.checkpoint_count !== count)
      this.fail(
        `box.cfg.checkpoint_count is ${String(values.checkpoint_count)} after setting ${count}`,
      );
    this.config.checkpoint_count = count;
  }

  private acknowledge(space: SpaceModel, key: number, tuple: Tuple | undefined): void {
    setRow(space, key, tuple);
    this.acknowledgedSinceCheck++;
  }

  /** Awaits a request that must succeed, or fail with ER_TUPLE_FOUND when `duplicate`. */
  private async expect(request: Promise<unknown[]>, duplicate: boolean): Promise<unknown[]> {
    try {
      const result = await request;
      if (duplicate) this.fail(`expected ER_TUPLE_FOUND, got ${JSON.stringify(result)}`);
      return result;
    } catch (error) {
      if (error instanceof CampaignFailure) throw error;
      if (duplicate && error instanceof RemoteError && error.code === ER_TUPLE_FOUND) return [];
      this.fail(`request failed: ${(error as Error).message}`);
    }
  }

  // }}}
  // {{{ the random driver

  /** One random step (a stop is followed by a start, which counts as its own step). */
  async randomStep(): Promise<void> {
    const rng = this.rng;
    if (!this.running) {
      // Sometimes the operator changes the WAL options between runs.
      if (rng.chance(0.15)) {
        this.config.wal_mode = rng.chance(0.5) ? 'fsync' : 'write';
        this.config.wal_max_size = rng.chance(0.5) ? rng.pick([600, 2048, 8192]) : undefined;
        this.history.push(`config for the next start ${JSON.stringify(this.config)}`);
      }
      return this.start();
    }
    if (this.spaces.size === 0) return this.createSpace();
    const withoutSk = [...this.spaces.values()].filter((s) => !s.indexes.includes('sk'));
    const choices: [number, () => Promise<void>][] = [
      [14, () => this.insert()],
      [8, () => this.replace()],
      [6, () => this.delete()],
      [8, () => this.batch()],
      [this.spaces.size < SPACES_MAX ? 3 : 0, () => this.createSpace()],
      [1.5, () => this.dropSpace()],
      [withoutSk.length > 0 ? 2 : 0, () => this.createIndex(rng.pick(withoutSk).name)],
      [1, () => this.truncate()],
      [6, () => this.snapshot()],
      [2, () => this.checkpointCount(rng.int(1, 3))],
      [1.5, () => this.stop('SIGTERM')],
      [
        2.5,
        () =>
          this.stop('SIGTERM', {
            writes: rng.int(1, 6),
            delayMs: rng.int(0, 3),
            snapshot: rng.chance(0.3),
          }),
      ],
      [1, () => this.stop('SIGKILL')],
      [
        3.5,
        () =>
          this.stop(
            'SIGKILL',
            rng.chance(0.5)
              ? { writes: rng.int(1, 8), delayMs: rng.int(0, 5), snapshot: rng.chance(0.3) }
              : { writes: rng.int(2, 8), afterAcks: rng.int(1, 2), snapshot: rng.chance(0.3) },
          ),
      ],
      [1.5, () => this.signalDuringSnapshot('SIGKILL', rng.int(0, 8))],
      [1, () => this.signalDuringSnapshot('SIGTERM', rng.int(0, 4))],
      [2, () => this.bulk(rng.int(50, 400))],
      [
        1.2,
        async () => {
          await this.stop(rng.chance(0.5) ? 'SIGKILL' : 'SIGTERM');
          await this.interruptedStart(
            rng.chance(0.7) ? 'SIGKILL' : 'SIGTERM',
            rng.int(0, 30),
            rng.chance(0.7) ? /recovery start/ : undefined,
          );
        },
      ],
    ];
    const total = choices.reduce((sum, [weight]) => sum + weight, 0);
    let at = rng.next() * total;
    for (const [weight, run] of choices) {
      at -= weight;
      if (at < 0) return run();
    }
    return choices[0]![1]();
  }

  // }}}
}

function sameTuple(a: Tuple | undefined, b: Tuple | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function setRow(space: SpaceModel, key: number, tuple: Tuple | undefined): void {
  if (tuple === undefined) space.rows.delete(key);
  else space.rows.set(key, tuple);
}

/**
 * Runs one random sequence of at least `steps` steps from `seed`: start, random steps, then a
 * final stop (SIGKILL or SIGTERM) and start, so the last acknowledged writes are checked too.
 */
export async function runRandomSequence(
  seed: number,
  steps: number,
  options: Omit<SequenceOptions, 'seed'> = {},
): Promise<{ sequence: Sequence; failure: CampaignFailure | undefined }> {
  const sequence = new Sequence({ seed, ...options });
  try {
    await sequence.open();
    // Sometimes the very first start (bootstrap: the first snapshot, the credentials) is
    // killed first; the next start must bootstrap or recover whatever it left.
    if (sequence.rng.chance(0.15))
      await sequence.interruptedStart(
        'SIGKILL',
        sequence.rng.int(0, 15),
        /initializing an empty data directory/,
      );
    await sequence.start();
    while (sequence.stats.steps < steps - 2 || !sequence.running) await sequence.randomStep();
    if (options.finalStop === 'kill during checkpoint') {
      // A kill while a checkpoint runs and writes are in flight (some acknowledged before it).
      await sequence.stop('SIGKILL', {
        writes: sequence.rng.int(2, 8),
        delayMs: sequence.rng.int(0, 4),
        snapshot: true,
      });
    } else await sequence.stop(sequence.rng.chance(0.5) ? 'SIGKILL' : 'SIGTERM');
    await sequence.start();
    return { sequence, failure: undefined };
  } catch (error) {
    if (error instanceof CampaignFailure) return { sequence, failure: error };
    sequence.stats.failures++;
    return {
      sequence,
      failure: new CampaignFailure(
        `unexpected error: ${(error as Error).stack ?? String(error)}`,
        seed,
        sequence.stats.steps,
        sequence.history,
        sequence.server?.log ?? [],
      ),
    };
  } finally {
    await sequence.close();
  }
}

export interface CampaignResult {
  readonly stats: CampaignStats;
  readonly failures: CampaignFailure[];
  readonly elapsedMs: number;
}

/** Runs sequences seed, seed+1, … with `concurrency` of them at a time. */
export async function runCampaign(options: {
  seed: number;
  sequences: number;
  steps: number;
  concurrency: number;
  onSequence?: (done: number, stats: CampaignStats, failure: CampaignFailure | undefined) => void;
}): Promise<CampaignResult> {
  const started = performance.now();
  const stats = emptyStats();
  const failures: CampaignFailure[] = [];
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < options.sequences) {
      const seed = (options.seed + next++) >>> 0;
      const { sequence, failure } = await runRandomSequence(seed, options.steps);
      addStats(stats, sequence.stats);
      if (failure !== undefined) failures.push(failure);
      options.onSequence?.(++done, stats, failure);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return { stats, failures, elapsedMs: performance.now() - started };
}

/** The final table: one row per figure. */
export function formatStats(stats: CampaignStats): string {
  const rows: [string, number][] = [
    ['sequences', stats.sequences],
    ['steps', stats.steps],
    ['starts', stats.starts],
    ['interrupted starts', stats.interruptedStarts],
    ['failed starts', stats.failedStarts],
    ['acknowledged writes checked', stats.writesChecked],
    ['in-flight writes resolved', stats.inFlightResolved],
    ['lost', stats.lost],
    ['half applied', stats.halfApplied],
    ['kills (SIGKILL)', stats.kills],
    ['invariant violations', stats.invariantViolations],
    ['failed sequences', stats.failures],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows
    .map(([name, value]) => `| ${name.padEnd(width)} | ${String(value).padStart(8)} |`)
    .join('\n');
}
