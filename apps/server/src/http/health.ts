// GET /health: one word for a load balancer or a supervisor, read from the running instance
// when asked. Layer: apps/server (an HttpRoute of server.ts). Plain text by default, JSON with
// ?format=json. The words and codes (OPERATING.md documents them):
//   ok         200  box.cfg{} done, writable
//   read-only  200  box.cfg{} done, box.info.ro (read_only, or a replica set as a replica)
//   orphan     503  box.info.status is orphan: not synced with its upstreams, read-only
//   loading    503  box.cfg{} has not finished (recovery, a join, an unconfigured start)
//   stopping   503  Instance.stop() was called (SIGTERM): requests in flight finish, then
//                   the box closes; the endpoint closes last
// 503 means "do not send requests here": a balancer drops the instance, nothing restarts it.
import type { Instance } from '../instance.js';
import type { HttpRoute } from './routes.js';

export type HealthState = 'ok' | 'read-only' | 'orphan' | 'loading' | 'stopping';

/** The HTTP status of each health word. */
export const HEALTH_CODES: Readonly<Record<HealthState, 200 | 503>> = {
  ok: 200,
  'read-only': 200,
  orphan: 503,
  loading: 503,
  stopping: 503,
};

export interface Health {
  readonly state: HealthState;
  /** box.info.status as the instance reports it ('loading' before box.cfg{}). */
  readonly status: string;
  readonly ro: boolean;
  /** box.info.id and uuid; null before box.cfg{} knows them. */
  readonly id: number | null;
  readonly uuid: string | null;
  readonly uptime: number | null;
}

/** The instance's health now. */
export function healthOf(instance: Instance): Health {
  if (!instance.configured)
    return {
      state: instance.stopRequested ? 'stopping' : 'loading',
      status: 'loading',
      ro: true,
      id: null,
      uuid: null,
      uptime: null,
    };
  const info = instance.box.info();
  const status = String(info.status);
  const ro = info.ro === true;
  const state = stateOf(instance.stopRequested, status, ro);
  return {
    state,
    status,
    ro,
    id: info.id as number,
    uuid: info.uuid as string,
    uptime: info.uptime as number,
  };
}

function stateOf(stopRequested: boolean, status: string, ro: boolean): HealthState {
  // From SIGTERM on: requests in flight finish while box.info still says running.
  if (stopRequested || status === 'closing' || status === 'closed') return 'stopping';
  if (status === 'orphan') return 'orphan';
  if (status === 'loading') return 'loading';
  return ro ? 'read-only' : 'ok';
}

export function healthRoutes(instance: Instance): HttpRoute[] {
  return [
    {
      method: 'GET',
      path: '/health',
      handle(_req, res, url) {
        const health = healthOf(instance);
        const code = HEALTH_CODES[health.state];
        // A balancer must never see a cached answer.
        res.setHeader('Cache-Control', 'no-store');
        if (url.searchParams.get('format') === 'json') {
          res.writeHead(code, { 'Content-Type': 'application/json' });
          res.end(`${JSON.stringify(health)}\n`);
          return;
        }
        res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(`${health.state}\n`);
      },
    },
  ];
}
