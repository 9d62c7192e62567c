// A harness for replication tests against real processes on 127.0.0.1: tarantype servers
// (`node apps/server/bin/tarantype.js start`) and real Tarantool 2.6 instances (a generated
// Lua instance file), each on an ephemeral port read back from its "binary: bound to" log line,
// with its whole log kept for assertions; a client for both kinds (@tarantype/iproto's client,
// CALL of the Lua names on tarantype, EVAL on Tarantool), net.box scripts run by `tarantool`,
// and a TCP proxy that delays traffic. Layer: apps/server tests.
//
// Every process, client and proxy belongs to one Cluster; `cluster.cleanup()` (call it from
// afterEach) stops them by PID — SIGCONT first if paused, SIGKILL if SIGTERM is not enough — and
// removes the cluster's temporary directory. A process 'exit' hook SIGKILLs whatever is left
// if the test worker itself dies. Ports: every listener binds port 0 and reports what it got,
// so parallel test files never collide; a restart reuses the port it had (its peers know it).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  rmSync,
  type WriteStream,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type IprotoClient } from '@tarantype/iproto';

const HERE = dirname(fileURLToPath(import.meta.url));
const BIN = resolve(HERE, '../../bin/tarantype.js');

export const hasTarantool: boolean = (() => {
  try {
    return spawnSync('tarantool', ['--version'], { timeout: 5000 }).status === 0;
  } catch {
    return false;
  }
})();

/**
 * Tests that need `tarantool`: they run when it is installed, FAIL under CI=true when it is
 * missing, and otherwise skip with a visible reason.
 */
export const needsTarantool: { skip: boolean; reason: string } = {
  skip: !hasTarantool && process.env.CI !== 'true',
  reason: hasTarantool
    ? ''
    : process.env.CI === 'true'
      ? 'tarantool is missing (CI=true: these tests fail)'
      : 'SKIPPED: tarantool (2.6) is not installed; install it to run the interop tests',
};
if (needsTarantool.skip) console.warn(needsTarantool.reason);

/** Throws (failing the test) when `tarantool` is missing: the first line of a 2.6 test. */
export function requireTarantool(): void {
  if (!hasTarantool) throw new Error('tarantool (2.6) is not installed; CI=true requires it');
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every `everyMs` until it returns a value that is not undefined/false. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 5000,
  everyMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value as T;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${(last as Error).message}`}`,
      );
    await sleep(everyMs);
  }
}

export const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

/** Asserts that `patterns` occur in `log` in this order (other lines may come between). */
export function expectInOrder(log: string, patterns: readonly RegExp[]): void {
  let at = 0;
  for (const pattern of patterns) {
    const re = new RegExp(pattern.source, 'm');
    const m = re.exec(log.slice(at));
    if (m === null)
      throw new Error(
        `log line ${pattern} not found after offset ${at}; log from there:\n${log.slice(at).slice(0, 3000)}`,
      );
    at += m.index + m[0].length;
  }
}

// ---- normalization of what the two kinds return over msgpack ----

/**
 * A vclock as {id: lsn}. Tarantool sends {1: 10} as the array [10] (a Lua sequence) and
 * {0: 1, 1: 24} as a map with integer keys; tarantype sends an object with string keys.
 */
export function vclockOf(value: unknown): Record<number, number> {
  const out: Record<number, number> = {};
  if (value === undefined || value === null) return out;
  if (Array.isArray(value)) {
    // A sparse Lua sequence may come with nil holes.
    for (let i = 0; i < value.length; i++) if (value[i] !== null) out[i + 1] = Number(value[i]);
  } else if (value instanceof Map) for (const [k, v] of value) out[Number(k)] = Number(v);
  else for (const [k, v] of Object.entries(value as object)) out[Number(k)] = Number(v);
  return out;
}

export interface UpstreamView {
  status: string;
  idle: number;
  peer: string;
  lag: number;
  message?: string;
  system_message?: string;
}
export interface DownstreamView {
  status: string;
  idle?: number;
  vclock?: Record<number, number>;
  lag?: number;
  message?: string;
  system_message?: string;
}
export interface MemberView {
  id: number;
  uuid: string;
  lsn: number;
  upstream?: UpstreamView;
  downstream?: DownstreamView;
}

function plain(value: unknown): Record<string, unknown> {
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), v]));
  return value as Record<string, unknown>;
}

/** box.info.replication as {id: member}, whatever shape it came in (array, Map, object). */
export function replicationOf(value: unknown): Record<number, MemberView> {
  const members: unknown[] = Array.isArray(value)
    ? value
    : value instanceof Map
      ? [...value.values()]
      : Object.values((value ?? {}) as object);
  const out: Record<number, MemberView> = {};
  for (const raw of members) {
    if (raw === null || raw === undefined) continue;
    const m = plain(raw);
    const member: MemberView = { id: Number(m.id), uuid: String(m.uuid), lsn: Number(m.lsn) };
    if (m.upstream !== undefined && m.upstream !== null)
      member.upstream = plain(m.upstream) as never;
    if (m.downstream !== undefined && m.downstream !== null) {
      const d = plain(m.downstream);
      member.downstream = {
        ...(d as unknown as DownstreamView),
        ...(d.vclock === undefined ? {} : { vclock: vclockOf(d.vclock) }),
      };
    }
    out[member.id] = member;
  }
  return out;
}

export interface InfoView {
  id: number;
  uuid: string;
  ro: boolean;
  status: string;
  lsn: number;
  signature: number;
  vclock: Record<number, number>;
  cluster: { uuid: string };
  replication: Record<number, MemberView>;
  [key: string]: unknown;
}

// ---- processes ----

export type Kind = 'tarantype' | 'tarantool';

export interface Credentials {
  /** user name → password and roles ('replication', 'super'). */
  readonly [user: string]: { readonly password: string; readonly roles: readonly string[] };
}

/** The users most scenarios use: the reference's 'replicator' and an admin 'alice'. */
export const STANDARD_USERS: Credentials = {
  replicator: { password: 'password', roles: ['replication'] },
  alice: { password: 'secret', roles: ['super'] },
};

export interface NodeOptions {
  /** box.cfg.replication: URIs (user:pass@host:port). */
  readonly replication?: readonly string[];
  readonly readOnly?: boolean;
  /** Users created at the first start (tarantype: the config's credentials; 2.6: box.once). */
  readonly users?: Credentials;
  /** Grant guest read,write,execute on universe (reference §1a), or these privileges. */
  readonly guestGrants?: boolean | readonly string[];
  /** Other box.cfg options (replication_timeout, replication_connect_timeout, …). */
  readonly cfg?: Record<string, unknown>;
  /** The port to listen on (0: ephemeral). */
  readonly port?: number;
}

/** One log line a waiter looks for. */
interface LogWaiter {
  readonly pattern: RegExp;
  readonly from: number;
  readonly resolve: (match: RegExpExecArray) => void;
  timer?: NodeJS.Timeout;
}

/**
 * One instance: its directory survives stop/kill/restart (that is the point), its log is the
 * concatenation of every run's output (a "=== start N ===" line separates runs).
 */
export class Node {
  pid: number | undefined;
  port = 0;
  /** Every run's output, whole. */
  log = '';
  exitCode: number | null | undefined;
  exitSignal: NodeJS.Signals | null | undefined;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** Resolves when the current run's process exited and its stdout and stderr closed. */
  private closed: Promise<void> = Promise.resolve();
  private paused = false;
  private waiters: LogWaiter[] = [];
  private runs = 0;
  private file: WriteStream | undefined;
  private readonly clients: Client[] = [];

  constructor(
    readonly cluster: Cluster,
    readonly name: string,
    readonly kind: Kind,
    readonly dir: string,
    public options: NodeOptions,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  get running(): boolean {
    return this.child !== undefined && this.exitCode === undefined;
  }

  /** host:port of the binary listener. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** A replication URI of this node: user:password@127.0.0.1:port. */
  uri(user = 'replicator', password = STANDARD_USERS[user]?.password): string {
    return password === undefined
      ? `${user}@${this.address}`
      : `${user}:${password}@${this.address}`;
  }

  /** Log offset now: pass to waitLog/logSince to look only at what comes after. */
  mark(): number {
    return this.log.length;
  }

  logSince(mark: number): string {
    return this.log.slice(mark);
  }

  /** Log lines (since `mark`) without the timestamp/pid prefix, for exact comparisons. */
  lines(mark = 0): string[] {
    return this.logSince(mark)
      .split('\n')
      .filter((l) => l !== '');
  }

  /** Resolves with the first match of `pattern` in the log after `from`; rejects after timeoutMs. */
  waitLog(pattern: RegExp, timeoutMs = 3000, from = 0): Promise<RegExpExecArray> {
    const found = this.search(pattern, from);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolvePromise, reject) => {
      const waiter: LogWaiter = {
        pattern,
        from,
        resolve: (m) => {
          clearTimeout(timer);
          resolvePromise(m);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(
          new Error(
            `${this.name}: no log line matching ${pattern} within ${timeoutMs} ms; log since offset ${from}:\n${this.log.slice(from).slice(-4000)}`,
          ),
        );
      }, timeoutMs);
      waiter.timer = timer;
      this.waiters.push(waiter);
    });
  }

  private search(pattern: RegExp, from: number): RegExpExecArray | undefined {
    const flags = pattern.flags.includes('m') ? pattern.flags : `${pattern.flags}m`;
    const re = new RegExp(pattern.source, flags.replace('g', ''));
    return re.exec(this.log.slice(from)) ?? undefined;
  }

  private append(text: string): void {
    this.log += text;
    this.file?.write(text);
    for (const waiter of [...this.waiters]) {
      const m = this.search(waiter.pattern, waiter.from);
      if (m !== undefined) {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        waiter.resolve(m);
      }
    }
  }

  /**
   * Spawns the process and returns at once: call ready() to wait for "ready to accept
   * requests" (a replica that cannot join never says it). The bound port is read from the log.
   */
  spawn(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    this.runs += 1;
    this.exitCode = undefined;
    this.exitSignal = undefined;
    this.paused = false;
    this.append(`=== start ${this.runs} ===\n`);
    const { command, args, cwd } =
      this.kind === 'tarantype' ? this.tarantypeCommand() : this.tarantoolCommand();
    this.file ??= createWriteStream(join(this.dir, '..', `${this.name}.log`), { flags: 'a' });
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.pid = child.pid;
    if (child.pid !== undefined) liveChildren.add(child.pid);
    child.stdout?.on('data', (chunk: Buffer) => this.append(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => this.append(chunk.toString()));
    this.closed = new Promise((resolveClose) => child.on('close', () => resolveClose()));
    this.exited = new Promise((resolveExit) => {
      child.on('exit', (code, signal) => {
        if (child.pid !== undefined) liveChildren.delete(child.pid);
        this.exitCode = code;
        this.exitSignal = signal;
        this.append(`=== exit ${code ?? signal} ===\n`);
        resolveExit();
      });
    });
    const from = this.mark();
    this.waitLog(/binary: bound to 127\.0\.0\.1:(\d+)/, 120_000, from).then(
      (m) => {
        if (this.child === child) this.port = Number(m[1]);
      },
      () => {},
    );
  }

  /** Waits for "ready to accept requests" of the current run and for the bound port. */
  async ready(timeoutMs = 10_000): Promise<this> {
    const start = this.log.lastIndexOf('=== start ');
    const bound = await this.waitLog(/binary: bound to 127\.0\.0\.1:(\d+)/, timeoutMs, start);
    this.port = Number(bound[1]);
    if (this.kind === 'tarantool') {
      // 2.6 logs "ready to accept requests" before a replica's sync; the instance file
      // prints this marker once box.cfg returned.
      await this.waitLog(/^harness: box\.cfg done$/, timeoutMs, start);
    } else await this.waitLog(/ready to accept requests/, timeoutMs, start);
    return this;
  }

  async start(timeoutMs = 10_000): Promise<this> {
    this.spawn();
    return this.ready(timeoutMs);
  }

  /** Resolves when the process has exited (with its code). */
  async exit(timeoutMs = 10_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`${this.name} did not exit within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    return this.exitCode ?? null;
  }

  /**
   * After the process is gone (cleanup): waits for its pipes to close, closes its log file and
   * gives up the log waiters, so that nothing of this node keeps the event loop alive.
   */
  async release(timeoutMs = 2000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.closed,
      new Promise<void>((resolveWait) => {
        timer = setTimeout(resolveWait, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    for (const waiter of this.waiters.splice(0)) clearTimeout(waiter.timer);
    const file = this.file;
    this.file = undefined;
    if (file !== undefined) await new Promise<void>((resolveEnd) => file.end(resolveEnd));
  }

  private signal(signal: NodeJS.Signals): void {
    if (this.pid === undefined || !this.running) return;
    process.kill(this.pid, signal);
  }

  /** SIGTERM and wait (SIGKILL after timeoutMs). */
  async stop(timeoutMs = 5000): Promise<void> {
    if (!this.running) return;
    this.closeClients();
    if (this.paused) this.resume();
    this.signal('SIGTERM');
    try {
      await this.exit(timeoutMs);
    } catch {
      this.signal('SIGKILL');
      await this.exit(timeoutMs);
    }
  }

  /** SIGKILL and wait. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.closeClients();
    this.signal('SIGKILL');
    await this.exit();
  }

  pause(): void {
    this.signal('SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    this.signal('SIGCONT');
    this.paused = false;
  }

  /** Stops (gracefully unless told to kill) and starts again on the same port and directory. */
  async restart(how: 'stop' | 'kill' = 'stop', changes: Partial<NodeOptions> = {}): Promise<this> {
    if (how === 'kill') await this.kill();
    else await this.stop();
    this.options = { ...this.options, ...changes, port: this.port };
    return this.start();
  }

  /** Removes the data directory (the node must be stopped): the reference's "wipe". */
  wipe(): void {
    if (this.running) throw new Error(`${this.name}: wipe a stopped node`);
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
    this.port = this.options.port ?? this.port;
  }

  /** A client of this node (closed by stop/kill/cleanup); 'alice' (super) unless told. */
  async client(user = 'alice', password = STANDARD_USERS[user]?.password): Promise<Client> {
    const iproto = await connect({
      host: '127.0.0.1',
      port: this.port,
      ...(user === 'guest' ? {} : { user }),
      ...(password === undefined || user === 'guest' ? {} : { password }),
      connectTimeoutMs: 3000,
      reconnect: false,
    });
    const client = new Client(this, iproto);
    this.clients.push(client);
    return client;
  }

  private closeClients(): void {
    for (const c of this.clients.splice(0)) c.destroy();
  }

  private tarantypeCommand(): { command: string; args: string[]; cwd: string } {
    const o = this.options;
    const config: Record<string, unknown> = { ...o.cfg };
    const users: Record<string, unknown> = Object.fromEntries(
      Object.entries(o.users ?? {}).map(([name, u]) => [
        name,
        { password: u.password, roles: u.roles },
      ]),
    );
    if (o.guestGrants !== undefined && o.guestGrants !== false)
      users.guest = {
        privileges: [{ permissions: guestPrivileges(o.guestGrants), universe: true }],
      };
    if (Object.keys(users).length > 0) config.credentials = { users };
    const configPath = join(this.dir, '..', `${this.name}.config.json`);
    // YAML is a superset of JSON: the config file takes JSON text as it is.
    writeFileSync(configPath, JSON.stringify(config));
    const args = [
      BIN,
      'start',
      '--listen',
      `127.0.0.1:${o.port ?? this.port}`,
      '--data-dir',
      this.dir,
      '--config',
      configPath,
      '--no-console',
    ];
    if (o.replication !== undefined && o.replication.length > 0)
      args.push('--replication', o.replication.join(','));
    if (o.readOnly === true) args.push('--read-only');
    return { command: process.execPath, args, cwd: this.dir };
  }

  private tarantoolCommand(): { command: string; args: string[]; cwd: string } {
    const o = this.options;
    const cfg: Record<string, unknown> = {
      listen: `127.0.0.1:${o.port ?? this.port}`,
      ...o.cfg,
    };
    if (o.replication !== undefined) cfg.replication = [...o.replication];
    if (o.readOnly === true) cfg.read_only = true;
    const setup: string[] = [];
    for (const [name, u] of Object.entries(o.users ?? {})) {
      setup.push(
        `box.schema.user.create(${lua(name)}, {password = ${lua(u.password)}, if_not_exists = true})`,
      );
      for (const role of u.roles)
        setup.push(
          `box.schema.user.grant(${lua(name)}, 'execute', 'role', ${lua(role)}, {if_not_exists = true})`,
        );
    }
    if (o.guestGrants !== undefined && o.guestGrants !== false)
      setup.push(
        `box.schema.user.grant('guest', ${lua(guestPrivileges(o.guestGrants).join(','))}, 'universe', nil, {if_not_exists = true})`,
      );
    const script = [
      `box.cfg(${lua(cfg)})`,
      // Users are created once (box.once is replicated: a joining replica skips it); never on
      // a read_only instance, where box.once would wait for it to become writable.
      setup.length === 0 || o.readOnly === true
        ? ''
        : `box.once('harness-users', function()\n  ${setup.join('\n  ')}\nend)`,
      `io.stderr:write('harness: box.cfg done\\n')`,
    ].join('\n');
    const path = join(this.dir, '..', `${this.name}.lua`);
    writeFileSync(path, script);
    return { command: 'tarantool', args: [path], cwd: this.dir };
  }
}

function guestPrivileges(grants: true | readonly string[]): readonly string[] {
  return grants === true ? ['read', 'write', 'execute'] : grants;
}

/** A Lua literal of a JSON-like value. */
export function lua(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `{${value.map(lua).join(', ')}}`;
  return `{${Object.entries(value as object)
    .map(([k, v]) => `[${JSON.stringify(k)}] = ${lua(v)}`)
    .join(', ')}}`;
}

/**
 * A client of one node: plain iproto requests work on both kinds; box API calls go through
 * CALL of the Lua names on tarantype and through EVAL on Tarantool 2.6.
 */
export class Client {
  constructor(
    readonly node: Node,
    readonly iproto: IprotoClient,
  ) {}

  destroy(): void {
    this.iproto.destroy();
  }

  /** Calls a box function by its Lua name with arguments (box.cfg, box.snapshot, …). */
  async box<R extends unknown[] = unknown[]>(
    name: string,
    args: readonly unknown[] = [],
  ): Promise<R> {
    if (this.node.kind === 'tarantype')
      return this.iproto.call<R>(name, args, { timeoutMs: 30_000 });
    return this.iproto.eval<R>(`return ${name}(...)`, args, { timeoutMs: 30_000 });
  }

  /** EVAL of Lua on either kind (tarantype runs it in its Lua runtime). */
  eval<R extends unknown[] = unknown[]>(expr: string, args: readonly unknown[] = []): Promise<R> {
    return this.iproto.eval<R>(expr, args, { timeoutMs: 30_000 });
  }

  async info(): Promise<InfoView> {
    const [raw] =
      this.node.kind === 'tarantype'
        ? await this.iproto.call<[unknown]>('box.info', [], { timeoutMs: 5000 })
        : await this.iproto.eval<[unknown]>(
            'local i = box.info() return {id = i.id, uuid = i.uuid, ro = i.ro, status = i.status, lsn = i.lsn, signature = i.signature, vclock = i.vclock, cluster = i.cluster, replication = i.replication}',
            [],
            { timeoutMs: 5000 },
          );
    const info = plain(raw) as InfoView;
    return {
      ...info,
      vclock: vclockOf(info.vclock),
      cluster: plain(info.cluster) as { uuid: string },
      replication: replicationOf(info.replication),
    };
  }

  async replication(): Promise<Record<number, MemberView>> {
    return (await this.info()).replication;
  }

  /** box.cfg{...} (reconfiguration); resolves when box.cfg returned. */
  async cfg(options: Record<string, unknown>): Promise<void> {
    if (this.node.kind === 'tarantype')
      await this.iproto.call('box.cfg', [options], { timeoutMs: 60_000 });
    else await this.iproto.eval('box.cfg(...)', [options], { timeoutMs: 60_000 });
  }

  async cfgValue(key: string): Promise<unknown> {
    if (this.node.kind === 'tarantool')
      return (await this.iproto.eval<[unknown]>(`return box.cfg.${key}`))[0];
    const [values] = await this.iproto.call<[Record<string, unknown>]>('box.cfg');
    return plain(values)[key];
  }

  async createSpace(name: string, options: Record<string, unknown> = {}): Promise<void> {
    if (this.node.kind === 'tarantype')
      await this.iproto.call('box.schema.space.create', [name, options]);
    else await this.iproto.eval('box.schema.space.create(...)', [name, options]);
  }

  async createIndex(
    space: string,
    name: string,
    options: Record<string, unknown> = {},
  ): Promise<void> {
    if (this.node.kind === 'tarantype')
      await this.iproto.call(`box.space.${space}:create_index`, [name, options]);
    else
      await this.iproto.eval(`box.space[...]:create_index(select(2, ...))`, [space, name, options]);
  }

  async snapshot(): Promise<void> {
    if (this.node.kind === 'tarantype') await this.iproto.call('box.snapshot');
    else await this.iproto.eval('box.snapshot()');
  }

  insert(space: string, tuple: readonly unknown[]): Promise<unknown[]> {
    return this.iproto.insert(space, tuple, { timeoutMs: 5000 });
  }

  select(
    space: string,
    key: readonly unknown[] = [],
    iterator: 'ALL' | 'EQ' | 'GE' = 'ALL',
  ): Promise<unknown[][]> {
    return this.iproto.select(space, 0, key, { iterator, timeoutMs: 5000 });
  }

  /** box.space._cluster:select{} as [id, uuid] pairs. */
  async cluster(): Promise<Array<[number, string]>> {
    return (await this.iproto.select(320, 0, [], { iterator: 'ALL' })) as Array<[number, string]>;
  }

  /** box.info.gc() */
  async gc(): Promise<Record<string, unknown>> {
    const [raw] =
      this.node.kind === 'tarantype'
        ? await this.iproto.call<[unknown]>('box.info.gc')
        : await this.iproto.eval<[unknown]>('return box.info.gc()');
    return plain(raw);
  }
}

// ---- the cluster: owner of everything a test started ----

/** PIDs of every child still alive, SIGKILLed if the worker exits with them running. */
const liveChildren = new Set<number>();
process.on('exit', () => {
  for (const pid of liveChildren) {
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

export class Cluster {
  readonly root: string;
  private readonly nodes: Node[] = [];
  private readonly proxies: DelayProxy[] = [];
  private readonly scripts = new Set<ChildProcess>();

  constructor(label = 'cluster') {
    this.root = mkdtempSync(
      join(tmpdir(), `tarantype-repl-${label.replace(/[^a-z0-9]+/gi, '-')}-`),
    );
  }

  /** A node (not started): `cluster.node('m1', 'tarantype', {users: STANDARD_USERS})`. */
  node(name: string, kind: Kind, options: NodeOptions = {}): Node {
    const node = new Node(this, name, kind, join(this.root, name), options);
    this.nodes.push(node);
    return node;
  }

  /** A delaying TCP proxy in front of `target` (host:port). */
  async proxy(targetPort: number, delayMs: number): Promise<DelayProxy> {
    const proxy = await DelayProxy.start(targetPort, delayMs);
    this.proxies.push(proxy);
    return proxy;
  }

  /** A port nothing listens on (bound then released; for the "unreachable master" cases). */
  async deadPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((r) => server.close(() => r()));
    return port;
  }

  /**
   * Runs a Lua script with `tarantool` (real net.box as a client); resolves with its stdout
   * lines. The script should end with os.exit(); it is SIGKILLed after timeoutMs.
   */
  netbox(script: string, timeoutMs = 20_000): Promise<string[]> {
    const path = join(this.root, `netbox-${Math.random().toString(36).slice(2)}.lua`);
    writeFileSync(path, `${script}\nos.exit(0)\n`);
    return new Promise((resolvePromise, reject) => {
      const child = spawn('tarantool', [path], {
        cwd: this.root,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      this.scripts.add(child);
      if (child.pid !== undefined) liveChildren.add(child.pid);
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        this.scripts.delete(child);
        if (child.pid !== undefined) liveChildren.delete(child.pid);
        if (code === 0) resolvePromise(stdout.split('\n').filter((l) => l !== ''));
        else reject(new Error(`net.box script exited ${code ?? signal}\n${stderr}\n${stdout}`));
      });
    });
  }

  /** Stops every process (by PID), client and proxy; removes the directory. */
  async cleanup(): Promise<void> {
    for (const child of this.scripts) child.kill('SIGKILL');
    await Promise.all(this.nodes.map((n) => n.kill().catch(() => {})));
    await Promise.all(this.nodes.map((n) => n.release()));
    await Promise.all(this.proxies.map((p) => p.close()));
    if (process.env.KEEP_DIRS === undefined) rmSync(this.root, { recursive: true, force: true });
    else console.log(`kept ${this.root}`);
  }
}

/**
 * A TCP proxy on 127.0.0.1 (ephemeral port) that forwards to 127.0.0.1:targetPort and delays
 * every chunk by delayMs in both directions, keeping the order.
 */
export class DelayProxy {
  private readonly sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
    public delayMs: number,
  ) {}

  static async start(targetPort: number, delayMs: number): Promise<DelayProxy> {
    let proxy: DelayProxy | undefined;
    const server = createServer((client) => {
      const upstream = tcpConnect(targetPort, '127.0.0.1');
      proxy!.sockets.add(client);
      proxy!.sockets.add(upstream);
      const pipe = (from: Socket, to: Socket) => {
        from.on('data', (chunk) => {
          setTimeout(() => {
            if (!to.destroyed) to.write(chunk);
          }, proxy!.delayMs);
        });
        from.on('end', () => setTimeout(() => to.end(), proxy!.delayMs));
        from.on('error', () => to.destroy());
        from.on('close', () => {
          proxy!.sockets.delete(from);
          setTimeout(() => to.destroy(), proxy!.delayMs + 1);
        });
      };
      pipe(client, upstream);
      pipe(upstream, client);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    proxy = new DelayProxy(server, (server.address() as { port: number }).port, delayMs);
    return proxy;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** One distinct state seen by poll(): its offset from the start of polling. */
export interface Seen {
  readonly t: number;
  readonly state: string;
}

/**
 * Evaluates `probe` about every 20 ms (as the reference's driver) and records each distinct
 * value with its time offset in ms, for `forMs` or until `stopWhen` matches a value.
 */
export async function poll(
  probe: () => Promise<string>,
  options: { forMs: number; everyMs?: number; stopWhen?: (state: string) => boolean },
): Promise<Seen[]> {
  const seen: Seen[] = [];
  const start = Date.now();
  while (Date.now() - start < options.forMs) {
    let state: string;
    try {
      state = await probe();
    } catch (error) {
      state = `error: ${(error as Error).message}`;
    }
    if (seen.at(-1)?.state !== state) seen.push({ t: Date.now() - start, state });
    if (options.stopWhen?.(state) === true) break;
    await sleep(options.everyMs ?? 20);
  }
  return seen;
}

/** "status | message | system_message" of an upstream or downstream, as the reference prints it. */
export function stateLine(s: UpstreamView | DownstreamView | undefined): string {
  if (s === undefined) return 'nil';
  return `${s.status} | ${s.message ?? 'nil'} | ${s.system_message ?? 'nil'}`;
}
