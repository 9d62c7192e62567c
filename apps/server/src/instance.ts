// A running tarantype server: a box instance, its iproto listener, an optional admin console,
// the application's functions, and a graceful stop. Layer: apps/server.
// Startup order: box.cfg (recovery or bootstrap) → the --init module (receives box and the
// function registry, like a Tarantool instance file) → declarative credentials → listen →
// "ready to accept requests". Stop: stop accepting, let in-flight requests finish (3 s at
// most, as Tarantool's on_shutdown timeout), write what is queued, close the xlog cleanly.
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import {
  Box,
  BoxHandler,
  FunctionRegistry,
  multi,
  type ProgressSink,
  setCfgHook,
} from '@tarantype/box';
import { ClientError, ErrorCode } from '@tarantype/core';
import { createServer, type IprotoServer } from '@tarantype/iproto';
import { applyCredentials, type CredentialsConfig } from './config.js';
import { ConsoleEvaluator, startAdminConsole } from './console.js';
import {
  type ConsoleLanguage,
  type ConsoleSession,
  LanguageConsoleSession,
} from './console-session.js';
import { prepareFirstCfg, translateDeprecatedCfg } from './first-cfg.js';
import {
  type HttpAddress,
  type HttpEndpoint,
  instanceRoutes,
  startHttpServer,
} from './http/server.js';
import { loadInitModule } from './init-module.js';
import type { ServerLogger } from './logger.js';
import { LuaRuntime } from './lua/lua-runtime.js';
import { NetMeter } from './net-meter.js';
import { EventLoopWatchdog, STALL_THRESHOLD_DEFAULT_S } from './watchdog.js';

export interface InstanceOptions {
  /** box.cfg options (listen, wal_mode, memtx_dir …). */
  readonly cfg: Record<string, unknown>;
  readonly logger: ServerLogger;
  /** Admin console: a UNIX socket path, a port or host:port. */
  readonly admin?: string;
  /** A JS/TS module whose default export (or `init`) receives { box, functions, logger }. */
  readonly init?: string;
  readonly credentials?: CredentialsConfig;
  /** The consoles' language at start (Lua, as Tarantool's, unless told otherwise). */
  readonly consoleLanguage?: ConsoleLanguage;
  /** os.exit() typed in a console or sent by EVAL; the default stops and exits the process. */
  readonly onExit?: (code: number) => void;
  /**
   * Start without a database, as `tarantool` does: the consoles work, box calls answer
   * "Please call box.cfg{} first", and the first box.cfg{…} typed (merged over `cfg`)
   * recovers or bootstraps, then listens and replicates.
   */
  readonly unconfigured?: boolean;
  /** Progress of recovery, joins and checkpoints (BoxRuntime.onProgress): progress.ts renders it. */
  readonly onProgress?: ProgressSink;
  /** The HTTP endpoint (/metrics, /health …: http/server.ts); started before box.cfg{}. */
  readonly http?: HttpAddress;
}

export interface InitContext {
  readonly box: Box;
  readonly functions: FunctionRegistry;
  readonly logger: ServerLogger;
  readonly multi: typeof multi;
}

/**
 * A listen URI the binary protocol can bind (TCP host:port), or an Error saying why not
 * (box.cfg reports it as "Incorrect value for option 'listen': <why>").
 */
function checkListen(listen: string): { host: string; port: number } {
  let where: ReturnType<typeof parseListen>;
  try {
    where = parseListen(listen);
  } catch {
    throw new Error('expected host:service or /unix.socket');
  }
  if ('path' in where)
    throw new Error(
      'the binary protocol listens on TCP ports only (UNIX sockets are not supported yet)',
    );
  if (!Number.isInteger(where.port) || where.port > 65535)
    throw new Error(`port ${where.port} is out of range`);
  return where;
}

/** Parses Tarantool's listen forms: "3301", "host:3301", "unix/:/path/to.sock". */
export function parseListen(listen: string): { host: string; port: number } | { path: string } {
  if (listen.startsWith('unix/:')) return { path: listen.slice('unix/:'.length) };
  if (/^\d+$/.test(listen)) return { host: '0.0.0.0', port: Number(listen) };
  const at = listen.lastIndexOf(':');
  if (at > 0 && /^\d+$/.test(listen.slice(at + 1))) {
    const host = listen.slice(0, at).replace(/^\[|\]$/g, '');
    return { host: host === 'localhost' ? '127.0.0.1' : host, port: Number(listen.slice(at + 1)) };
  }
  if (listen.includes('/')) return { path: listen };
  throw new Error(`cannot parse listen URI '${listen}'`);
}

export class Instance {
  readonly functions = new FunctionRegistry();
  server: IprotoServer | undefined;
  /** "host:port" or socket path the binary protocol listens on. */
  listenAddress: string | undefined;
  adminAddress: string | undefined;
  /** "host:port" the HTTP endpoint listens on (--http), once bound. */
  httpAddress: string | undefined;
  evaluator: ConsoleEvaluator;
  /** The instance's Lua state (consoles, EVAL, functions defined in Lua). */
  lua!: LuaRuntime;
  consoleLanguage: ConsoleLanguage = 'lua';
  private admin: { close(): Promise<void> } | undefined;
  private http: HttpEndpoint | undefined;
  /** The binary port's connections and bytes (metrics' tnt_net_*). */
  readonly net = new NetMeter();
  /** Logs event-loop stalls longer than box.cfg.too_long_threshold (metrics' tarantype_event_loop_*). */
  readonly watchdog: EventLoopWatchdog;
  private resolveBoxReady: (box: Box) => void = () => {};
  /** Resolves with the box once the first box.cfg{} has opened it (before init and listen). */
  readonly boxReady: Promise<Box> = new Promise((resolve) => {
    this.resolveBoxReady = resolve;
  });
  private stopping: Promise<void> | undefined;
  /** The socket accepting binary connections; box.cfg{listen} replaces it at runtime. */
  private listener: NetServer | undefined;
  /** box.cfg.listen as configured ('3301'), while box.info.listen is the bound address. */
  configuredListen: string | undefined;

  private configuredBox: Box | undefined;
  private configuring: Promise<void> | undefined;

  private constructor(
    readonly logger: ServerLogger,
    private readonly options: InstanceOptions,
  ) {
    this.consoleLanguage = options.consoleLanguage ?? 'lua';
    this.watchdog = new EventLoopWatchdog({
      thresholdS: () =>
        this.configuredBox?.cfgValues.too_long_threshold ?? STALL_THRESHOLD_DEFAULT_S,
      warn: (message) => logger.warn(message),
    });
    this.evaluator = new ConsoleEvaluator({ instance: this, functions: this.functions, multi });
  }

  /** The database; throws before the first box.cfg{} of an unconfigured start. */
  get box(): Box {
    if (this.configuredBox === undefined) throw new Error('Please call box.cfg{} first');
    return this.configuredBox;
  }

  /** True from the moment stop() is called (/health says stopping while the rest stops). */
  get stopRequested(): boolean {
    return this.stopping !== undefined;
  }

  /** False until box.cfg{} ran (an unconfigured start). */
  get configured(): boolean {
    return this.configuredBox !== undefined;
  }

  static async start(options: InstanceOptions): Promise<Instance> {
    const instance = new Instance(options.logger, options);
    instance.lua = await LuaRuntime.create({
      box: () => instance.configuredBox,
      configure: (cfg) => instance.configure(cfg),
      functions: instance.functions,
      logger: options.logger,
      configuredListen: () => instance.configuredListen,
      onExit:
        options.onExit ??
        ((code) => {
          instance.stop().finally(() => process.exit(code));
        }),
    });
    // From here on: a long recovery step or init module is a stall worth a log line too.
    instance.watchdog.start();
    // Before box.cfg{}: /health answers `loading` during recovery or a join.
    if (options.http !== undefined) {
      instance.http = await startHttpServer(options.http, instanceRoutes(instance), options.logger);
      instance.httpAddress = instance.http.address;
    }
    if (options.unconfigured === true) {
      await instance.startAdmin();
      return instance;
    }
    try {
      await instance.configure({});
    } catch (error) {
      await instance.http?.close();
      instance.watchdog.stop();
      throw error;
    }
    return instance;
  }

  /**
   * The first box.cfg{}: `typed` over the start options' cfg, then recovery or bootstrap, the
   * init module, credentials, listen, replication, the admin console. Once only.
   */
  configure(typed: Readonly<Record<string, unknown>>): Promise<void> {
    if (this.configuring !== undefined) return this.configuring.then(() => this.reconfigure(typed));
    this.configuring = this.bootstrap({ ...this.options.cfg, ...typed });
    return this.configuring;
  }

  private async bootstrap(cfg: Record<string, unknown>): Promise<void> {
    const { options, logger } = this;
    // An empty instance with replication joins inside Box.cfg; the upstreams' sync waits
    // until the port listens, so that peers listing this instance can reach it meanwhile.
    let box: Box;
    try {
      // Deprecated names, the log's file and level, the banner (refused values change nothing).
      cfg = await prepareFirstCfg(cfg, logger);
      box = await Box.cfg(cfg, {
        logger,
        waitForReplication: false,
        ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
        // With several replication sources the port listens before the join, as 2.6's does:
        // the peers of a fresh replica set read this instance's ballot to pick their
        // bootstrap leader (box's replica-set.ts).
        beforeStart: async (starting) => {
          const listen = starting.cfgValues.listen;
          if (listen === undefined || starting.cfgValues.replication.length < 2) return;
          // A second start within this box.cfg (a rebootstrap): the port served the box
          // that gave up; serve the new one.
          if (this.server !== undefined) await this.closeBinaryPort();
          await this.listen(String(listen), starting);
        },
      });
    } catch (error) {
      // A refused first box.cfg{} may be typed again, as in Tarantool.
      this.configuring = undefined;
      this.listener?.close();
      this.listener = undefined;
      this.listenAddress = undefined;
      this.server = undefined;
      throw error;
    }
    this.configuredBox = box;
    this.resolveBoxReady(box);
    this.evaluator = new ConsoleEvaluator({
      box,
      instance: this,
      functions: this.functions,
      multi,
    });
    try {
      if (options.init !== undefined) await this.runInit(options.init);
      if (options.credentials !== undefined && !box.readOnly) {
        for (const change of await applyCredentials(
          box,
          options.credentials,
          logger,
          this.functions,
        ))
          logger.info(`credentials: ${change}`);
      }
      setCfgHook(box, (cfg) => this.reconfigure(cfg));
      if (box.cfgValues.listen !== undefined) {
        const listen = box.cfgValues.listen;
        try {
          checkListen(listen);
        } catch (error) {
          throw new Error(`listen '${listen}': ${(error as Error).message}`);
        }
        if (this.listener === undefined) await this.listen(listen);
      }
      if (box.cfgValues.replication.length > 0)
        await box.replicaSet.configure(box.cfgValues.replication);
      await this.startAdmin();
    } catch (error) {
      await this.stop();
      throw error;
    }
    logger.info('ready to accept requests');
  }

  private async startAdmin(): Promise<void> {
    if (this.options.admin === undefined || this.admin !== undefined) return;
    const admin = await startAdminConsole(() => this.consoleSession(), this.options.admin);
    this.admin = admin;
    this.adminAddress = admin.address;
    this.logger.info(`admin console: bound to ${admin.address}`);
  }

  private async runInit(path: string): Promise<void> {
    const init = await loadInitModule(path);
    const context: InitContext = {
      box: this.box,
      functions: this.functions,
      logger: this.logger,
      multi,
    };
    await (init as (context: InitContext) => unknown)(context);
    this.logger.info(`init module ${path} done`);
  }

  /**
   * box.cfg{…} at runtime (console, EVAL, CALL): `listen` binds, rebinds or (with '') closes
   * the binary port, as Tarantool's; a bad value is refused with ER_CFG before anything
   * changes. Connections already accepted stay open on a rebind.
   */
  async reconfigure(typed: Readonly<Record<string, unknown>>): Promise<void> {
    // 1.x names (snapshot_count …) are translated at every box.cfg, as 2.6's load_cfg.lua.
    const options = translateDeprecatedCfg(typed, (warning) => this.logger.warn(warning));
    const listen = options.listen;
    const changed =
      listen !== undefined && listen !== null && String(listen) !== this.configuredListen;
    if (changed && String(listen) !== '') {
      try {
        checkListen(String(listen));
      } catch (error) {
        throw new ClientError(ErrorCode.ER_CFG, 'listen', (error as Error).message);
      }
    }
    const previous = this.box.cfgValues.listen;
    await this.box.cfg(options);
    if (!changed) {
      // box.cfg took the value as given: keep box.info.listen on the bound address.
      this.box.setListen(this.listenAddress);
      return;
    }
    try {
      if (String(listen) === '') this.unlisten();
      else await this.listen(String(listen));
    } catch (error) {
      this.box.setListen(previous);
      throw new ClientError(ErrorCode.ER_CFG, 'listen', (error as Error).message);
    }
    this.logger.info(`set 'listen' configuration option to ${JSON.stringify(listen)}`);
  }

  /** Stops listening and drops the iproto server with its connections. */
  private async closeBinaryPort(): Promise<void> {
    const listener = this.listener;
    this.listener = undefined;
    this.listenAddress = undefined;
    const closed = new Promise<void>((done) =>
      listener === undefined ? done() : listener.close(() => done()),
    );
    await this.server?.close({ timeoutMs: 1000 });
    this.server = undefined;
    await closed;
  }

  private unlisten(): void {
    const listener = this.listener;
    this.listener = undefined;
    this.listenAddress = undefined;
    this.configuredListen = undefined;
    this.box.setListen(undefined);
    // Stops accepting at once; the close callback would wait for accepted connections to end.
    listener?.close();
  }

  private async listen(listen: string, box: Box = this.box): Promise<void> {
    const where = checkListen(listen);
    this.server ??= this.createIprotoServer(box);
    const server = this.server;
    const listener = createNetServer({ noDelay: true }, (socket) => {
      this.net.track(socket);
      server.accept(socket);
    });
    const bound = await new Promise<{ host: string; port: number }>((resolveBound, reject) => {
      listener.once('error', reject);
      listener.listen(where.port, where.host, () => {
        listener.off('error', reject);
        const address = listener.address() as { address: string; port: number };
        resolveBound({ host: address.address, port: address.port });
      });
    });
    const old = this.listener;
    this.listener = listener;
    old?.close();
    this.configuredListen = listen;
    this.listenAddress = `${bound.host}:${bound.port}`;
    box.setListen(this.listenAddress);
    this.logger.info(`binary: bound to ${this.listenAddress}`);
  }

  private createIprotoServer(box: Box = this.box): IprotoServer {
    return createServer({
      handler: new BoxHandler(box, this.functions, this.lua),
      replication: box.replicaSet.relay,
      netMsgMax: box.cfgValues.net_msg_max,
      // Bad frames and undecodable requests: "iproto E> ER_INVALID_MSGPACK: … (peer h:p)".
      logger: this.logger.child('iproto'),
      onHandlerError: (error: unknown) =>
        this.logger.error(`request failed: ${(error as Error).message}`),
    });
  }

  /** A console session (interactive terminal, admin connection) in the instance's language. */
  consoleSession(): ConsoleSession {
    return new LanguageConsoleSession(() => this.evaluator, this.lua, this.consoleLanguage);
  }

  /** Graceful stop (SIGTERM/SIGINT): idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.logger.info('stopping: no new connections, finishing requests in flight');
      const listener = this.listener;
      this.listener = undefined;
      const unbound = new Promise<void>((done) =>
        listener === undefined ? done() : listener.close(() => done()),
      );
      await this.server?.close({ timeoutMs: 3000 });
      await unbound;
      await this.admin?.close();
      // Not waiting for a box.cfg{} in progress: a failing one calls stop() itself.
      await this.configuredBox?.close();
      // Last: /health says `stopping` (503) while the rest stops.
      await this.http?.close();
      this.watchdog.stop();
      this.logger.info('stopped: the xlog is closed');
    })();
    return this.stopping;
  }
}
