// The instance's HTTP endpoint (`tarantype start --http host:port`, or `http:` in the config
// file): a node:http server over a list of HttpRoute (routes.ts). Layer: apps/server. It only
// matches method and exact path: an unknown path is 404, a known path with another method is
// 405 (with Allow), a handler that throws or rejects is 500 with the error's message. It starts
// before box.cfg{} so /health can say `loading` during recovery or a join, and stops in
// Instance.stop(). It serves only what the routes write: no files, no auth (bind it to
// loopback or a private network, as Tarantool's metrics HTTP role is).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Instance } from '../instance.js';
import type { ServerLogger } from '../logger.js';
import { healthRoutes } from './health.js';
import { metricsRoutes } from './metrics.js';
import type { HttpRoute } from './routes.js';
import { statusPageRoutes } from './status-page.js';

/**
 * Every route the instance serves. FEATURES REGISTER THEIR ROUTES HERE, one line each: a
 * function of the instance returning its HttpRoute list (metrics.ts, health.ts, the status
 * page). Each route reads the instance when a request comes, so this runs once, before
 * box.cfg{}.
 */
export function instanceRoutes(instance: Instance): HttpRoute[] {
  return [...metricsRoutes(instance), ...healthRoutes(instance), ...statusPageRoutes(instance)];
}

/** Where the HTTP endpoint listens: `--http 8081` (loopback) or `--http host:port`. */
export interface HttpAddress {
  readonly host: string;
  readonly port: number;
}

/** The default host of `--http <port>`: metrics and health stay on this machine unless told. */
export const HTTP_DEFAULT_HOST = '127.0.0.1';

/** Parses `--http` / `http:`: a port, or host:port ([v6]:port); throws a one-line reason. */
export function parseHttpAddress(value: unknown): HttpAddress {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string' || text.trim() === '')
    throw new Error('expected a port or host:port');
  const at = text.lastIndexOf(':');
  const host = at < 0 ? HTTP_DEFAULT_HOST : text.slice(0, at).replace(/^\[|\]$/g, '');
  const port = at < 0 ? text : text.slice(at + 1);
  if (!/^\d+$/.test(port)) throw new Error(`'${text}': expected a port or host:port`);
  if (Number(port) > 65535) throw new Error(`'${text}': port ${port} is out of range (0..65535)`);
  if (host === '') throw new Error(`'${text}': expected a host before ':'`);
  return { host: host === 'localhost' ? '127.0.0.1' : host, port: Number(port) };
}

export interface HttpEndpoint {
  /** "host:port" bound (the real port when 0 was asked for). */
  readonly address: string;
  close(): Promise<void>;
}

/** Listens on `where` and serves `routes`; resolves once bound (rejects on EADDRINUSE …). */
export async function startHttpServer(
  where: HttpAddress,
  routes: readonly HttpRoute[],
  logger: ServerLogger,
): Promise<HttpEndpoint> {
  const byPath = new Map<string, HttpRoute[]>();
  for (const route of routes) {
    const list = byPath.get(route.path) ?? [];
    if (list.some((other) => other.method === route.method))
      throw new Error(`two HTTP routes for ${route.method} ${route.path}`);
    list.push(route);
    byPath.set(route.path, list);
  }
  const server = createServer((req, res) => {
    serve(byPath, req, res).catch((error: unknown) => {
      logger.error(`http: ${req.method} ${req.url}: ${(error as Error).message}`);
    });
  });
  // A scraper that keeps its connection open must not hold the stop for the keep-alive time.
  server.keepAliveTimeout = 5000;
  const bound = await new Promise<string>((resolveBound, reject) => {
    server.once('error', reject);
    server.listen(where.port, where.host, () => {
      server.off('error', reject);
      const address = server.address() as { address: string; port: number; family: string };
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      resolveBound(`${host}:${address.port}`);
    });
  });
  logger.info(`http: bound to ${bound}`);
  let closed: Promise<void> | undefined;
  return { address: bound, close: () => (closed ??= closeServer(server)) };
}

async function serve(
  byPath: ReadonlyMap<string, HttpRoute[]>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const candidates = byPath.get(url.pathname);
  if (candidates === undefined) return plain(res, 404, `no such path: ${url.pathname}\n`);
  // HEAD is served by a GET route (node drops the body) unless a HEAD route exists.
  const route =
    candidates.find((r) => r.method === req.method) ??
    (req.method === 'HEAD' ? candidates.find((r) => r.method === 'GET') : undefined);
  if (route === undefined) {
    res.setHeader('Allow', candidates.map((r) => r.method).join(', '));
    return plain(res, 405, `method ${req.method} not allowed on ${url.pathname}\n`);
  }
  try {
    await route.handle(req, res, url);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (!res.headersSent) plain(res, 500, `${message}\n`);
    else res.destroy();
    throw error;
  }
}

function plain(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(body);
}

/** Stops accepting and closes idle keep-alive connections; in-flight responses finish. */
function closeServer(server: Server): Promise<void> {
  return new Promise<void>((done) => {
    server.close(() => done());
    server.closeIdleConnections();
    // A response still streaming after a second is cut: a stop must not wait on a scraper.
    setTimeout(() => server.closeAllConnections(), 1000).unref();
  });
}
