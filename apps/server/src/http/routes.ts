// The seam between the instance's HTTP server (server.ts) and what it serves: metrics,
// /health, the status page. Layer: apps/server. Each feature contributes routes; the server
// only matches method and path, so a feature is added or removed without touching the others.
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface HttpRoute {
  readonly method: 'GET' | 'HEAD';
  /** An exact path ("/metrics"); the query string is not part of it. */
  readonly path: string;
  /** Writes the whole response; a thrown error or rejection becomes a 500 with its message. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): void | Promise<void>;
}
