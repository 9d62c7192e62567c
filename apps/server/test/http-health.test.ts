// /health of real processes: ok (200), read-only (200), orphan (503) and loading (503) as the
// instance's box.info says at that moment, in plain text and as JSON; /metrics answers 503
// while loading; the endpoint closes when the process stops or its start fails.
import { afterEach, describe, expect, it } from 'vitest';
import { HTTP_CFG, httpGet, httpPort } from './http-helpers.js';
import { Cluster, STANDARD_USERS } from './replication/cluster.js';
import { FAST } from './replication/mesh-helpers.js';

let cluster: Cluster;
afterEach(async () => {
  await cluster?.cleanup();
});

async function health(port: number): Promise<{ status: number; word: string; json: unknown }> {
  const text = await httpGet(port, '/health');
  const json = await httpGet(port, '/health?format=json');
  expect(text.headers['content-type']).toBe('text/plain; charset=utf-8');
  expect(json.headers['content-type']).toBe('application/json');
  expect(json.status).toBe(text.status);
  return { status: text.status, word: text.body, json: JSON.parse(json.body) };
}

describe('/health', () => {
  it('ok, read-only and orphan follow box.cfg changes at runtime', async () => {
    cluster = new Cluster('http-health');
    const node = await cluster
      .node('i1', 'tarantype', { users: STANDARD_USERS, cfg: { ...FAST, ...HTTP_CFG } })
      .start();
    const port = await httpPort(node);
    const client = await node.client();
    const info = await client.info();

    expect(await health(port)).toEqual({
      status: 200,
      word: 'ok\n',
      json: {
        state: 'ok',
        status: 'running',
        ro: false,
        id: info.id,
        uuid: info.uuid,
        uptime: expect.any(Number),
      },
    });

    await client.cfg({ read_only: true });
    expect(await health(port)).toMatchObject({
      status: 200,
      word: 'read-only\n',
      json: { state: 'read-only', status: 'running', ro: true },
    });

    // Upstream nobody listens on: the instance stays an orphan once box.cfg gave up waiting.
    const dead = `replicator:password@127.0.0.1:${await cluster.deadPort()}`;
    await client.cfg({
      read_only: false,
      replication_connect_timeout: 0.5,
      replication_sync_timeout: 0.5,
      replication: [dead],
    });
    expect((await client.info()).status).toBe('orphan');
    expect(await health(port)).toMatchObject({
      status: 503,
      word: 'orphan\n',
      json: { state: 'orphan', status: 'orphan', ro: true },
    });

    await client.cfg({ replication: [] });
    expect(await health(port)).toMatchObject({ status: 200, word: 'ok\n' });

    await node.stop();
    await expect(httpGet(port, '/health')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('loading (503) while box.cfg{} waits for its master, then the endpoint closes with the failed start', async () => {
    cluster = new Cluster('http-health-loading');
    const dead = `replicator:password@127.0.0.1:${await cluster.deadPort()}`;
    // A fresh instance must join its master first; the master is unreachable for 1.5 s.
    const node = cluster.node('r1', 'tarantype', {
      replication: [dead],
      cfg: { ...HTTP_CFG, replication_connect_timeout: 1.5, replication_timeout: 0.3 },
    });
    node.spawn();
    const port = await httpPort(node);
    expect(await health(port)).toEqual({
      status: 503,
      word: 'loading\n',
      json: { state: 'loading', status: 'loading', ro: true, id: null, uuid: null, uptime: null },
    });
    const metrics = await httpGet(port, '/metrics');
    expect(metrics.status).toBe(503);
    expect(metrics.body).toBe('loading: box.cfg{} has not finished\n');
    expect(await node.exit(10_000)).toBe(1);
    expect(node.log).toMatch(/cannot start: .*failed to connect to one or more replicas/);
    await expect(httpGet(port, '/health')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
