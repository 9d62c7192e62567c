#!/usr/bin/env node
// A replica embedded in a Node service: box follows a master (tarantype or Tarantool 2.6) and
// node:http serves reads from the local copy. Writes go to the master; this box is read-only.
// Run: node examples/http-replica.mjs replicator:pw@127.0.0.1:3301 [http-port] [data-dir]
//      curl localhost:8080/kv/some-key   → the tuple as JSON, or 404
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { Box } from '@tarantype/box';

/** @param {{ master: string, dir: string, port?: number }} options */
export async function startReplicaService({ master, dir, port = 0 }) {
  // The first box.cfg joins the master (or recovers dir) and waits until it is in sync.
  const box = await Box.cfg({ work_dir: dir, replication: [master], read_only: true });
  const http = createServer((request, response) => {
    const [, spaceName, key] = (request.url ?? '').split('/').map(decodeURIComponent);
    if (spaceName === 'status') {
      // box.info.replication: each member's id, uuid, lsn and the upstream's status and lag.
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify(box.info().replication));
      return;
    }
    const space = spaceName === undefined ? undefined : box.space[spaceName];
    const tuple = space === undefined || key === undefined ? undefined : space.get([key]);
    response.statusCode = tuple === undefined ? 404 : 200;
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify(tuple ?? null));
  });
  await new Promise((resolve) => http.listen(port, '127.0.0.1', () => resolve(undefined)));
  const address = /** @type {import('node:net').AddressInfo} */ (http.address());
  return {
    box,
    url: `http://127.0.0.1:${address.port}`,
    close: async () => {
      await new Promise((resolve) => http.close(resolve));
      await box.close();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [master, port, dir] = process.argv.slice(2);
  if (master === undefined) throw new Error('usage: http-replica.mjs <master-uri> [port] [dir]');
  const service = await startReplicaService({
    master,
    dir: dir ?? '.',
    port: Number(port ?? 8080),
  });
  console.log(`serving reads of ${master} on ${service.url}`);
}
