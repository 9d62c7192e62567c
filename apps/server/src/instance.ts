// A running tarantype server: a box instance, its iproto listener, an optional admin console,
// the application's functions, and a graceful stop. Layer: apps/server.
// Startup order: box.cfg (recovery or bootstrap) → the --init module (receives box and the
// function registry, like a Tarantool instance file) → declarative credentials → listen →
// "ready to accept requests". Stop: stop accepting, let in-flight requests finish (3 s at
// most, as Tarantool's on_shutdown timeout), write what is queued, close the xlog cleanly.
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Box } from '@tarantype/box';
import { createServer, type IprotoServer } from '@tarantype/iproto';
import { applyCredentials, type CredentialsConfig } from './config.js';
import { ConsoleEvaluator, startAdminConsole } from './console.js';
import {
  type ConsoleLanguage,
  type ConsoleSession,
  LanguageConsoleSession,
} from './console-session.js';
import { FunctionRegistry, multi } from './functions.js';
import { BoxHandler } from './handler.js';
import type { ServerLogger } from './logger.js';
import { LuaRuntime } from './lua/lua-runtime.js';

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
}

export interface InitContext {
  readonly box: Box;
  readonly functions: FunctionRegistry;
  readonly logger: ServerLogger;
  readonly multi: typeof multi;
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
  evaluator: ConsoleEvaluator;
  /** The instance's Lua state (consoles, EVAL, functions defined in Lua). */
  lua!: LuaRuntime;
  consoleLanguage: ConsoleLanguage = 'lua';
  private admin: { close(): Promise<void> } | undefined;
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly box: Box,
    readonly logger: ServerLogger,
  ) {
    this.evaluator = new ConsoleEvaluator({
      box,
      instance: this,
      functions: this.functions,
      multi,
    });
  }

  static async start(options: InstanceOptions): Promise<Instance> {
    const { logger } = options;
    // An empty instance with replication joins inside Box.cfg; the upstreams' sync waits
    // until the port listens, so that peers listing this instance can reach it meanwhile.
    const box = await Box.cfg(options.cfg, { logger, waitForReplication: false });
    const instance = new Instance(box, logger);
    instance.consoleLanguage = options.consoleLanguage ?? 'lua';
    instance.lua = await LuaRuntime.create({
      box,
      functions: instance.functions,
      logger,
      onExit:
        options.onExit ??
        ((code) => {
          instance.stop().finally(() => process.exit(code));
        }),
    });
    try {
      if (options.init !== undefined) await instance.runInit(options.init);
      if (options.credentials !== undefined && !box.readOnly) {
        for (const change of await applyCredentials(box, options.credentials, logger))
          logger.info(`credentials: ${change}`);
      }
      if (box.cfgValues.listen !== undefined) await instance.listen(box.cfgValues.listen);
      if (box.cfgValues.replication.length > 0)
        await box.replicaSet.configure(box.cfgValues.replication);
      if (options.admin !== undefined) {
        const admin = await startAdminConsole(() => instance.consoleSession(), options.admin);
        instance.admin = admin;
        instance.adminAddress = admin.address;
        logger.info(`admin console: bound to ${admin.address}`);
      }
    } catch (error) {
      await instance.stop();
      throw error;
    }
    logger.info('ready to accept requests');
    return instance;
  }

  private async runInit(path: string): Promise<void> {
    const absolute = isAbsolute(path) ? path : resolve(process.cwd(), path);
    if (/\.[cm]?ts$/.test(absolute)) {
      const { register } = await import('tsx/esm/api');
      register();
    }
    const module = (await import(pathToFileURL(absolute).href)) as {
      default?: unknown;
      init?: unknown;
    };
    const init = typeof module.default === 'function' ? module.default : module.init;
    if (typeof init !== 'function')
      throw new Error(`${path}: the init module must export a default function (or 'init')`);
    const context: InitContext = {
      box: this.box,
      functions: this.functions,
      logger: this.logger,
      multi,
    };
    await (init as (context: InitContext) => unknown)(context);
    this.logger.info(`init module ${path} done`);
  }

  private async listen(listen: string): Promise<void> {
    const where = parseListen(listen);
    if ('path' in where)
      throw new Error(
        `listen '${listen}': the binary protocol listens on TCP ports only (UNIX sockets are not supported yet)`,
      );
    const server = createServer({
      handler: new BoxHandler(this.box, this.functions, this.lua),
      replication: this.box.replicaSet.relay,
      netMsgMax: this.box.cfgValues.net_msg_max,
      // Bad frames and undecodable requests: "iproto E> ER_INVALID_MSGPACK: … (peer h:p)".
      logger: this.logger.child('iproto'),
      onHandlerError: (error: unknown) =>
        this.logger.error(`request failed: ${(error as Error).message}`),
    });
    const bound = await server.listen(where.port, where.host);
    this.server = server;
    this.listenAddress = `${bound.host}:${bound.port}`;
    this.box.setListen(this.listenAddress);
    this.logger.info(`binary: bound to ${this.listenAddress}`);
  }

  /** A console session (interactive terminal, admin connection) in the instance's language. */
  consoleSession(): ConsoleSession {
    return new LanguageConsoleSession(this.evaluator, this.lua, this.consoleLanguage);
  }

  /** Graceful stop (SIGTERM/SIGINT): idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.logger.info('stopping: no new connections, finishing requests in flight');
      await this.server?.close({ timeoutMs: 3000 });
      await this.admin?.close();
      await this.box.close();
      this.logger.info('stopped: the xlog is closed');
    })();
    return this.stopping;
  }
}
