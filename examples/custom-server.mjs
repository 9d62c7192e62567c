#!/usr/bin/env node
// A custom server assembled from the layers, without the tarantype CLI: box (database) +
// iproto (binary protocol) + replication (box's relay serves replicas) + wal (its file system,
// replaced here by one that counts bytes) + core (errors). It adds a function of its own and an
// auth rule of its own: only the users of an allow-list may log in.
// Run: node examples/custom-server.mjs [port] [data-dir]
import { fileURLToPath } from 'node:url';
import { Box, BoxHandler, FunctionRegistry } from '@tarantype/box';
import { AccessDeniedError } from '@tarantype/core';
import { createServer } from '@tarantype/iproto';
import { NodeFileSystem } from '@tarantype/wal';

/** The replaced layer: every byte box writes (xlogs, snapshots) goes through `open`. */
export class CountingFileSystem extends NodeFileSystem {
  bytesWritten = 0;
  /** @override @type {NodeFileSystem['open']} */
  async open(path, mode) {
    const file = await super.open(path, mode);
    const write = file.write.bind(file);
    file.write = (data, position) => {
      this.bytesWritten += data.length;
      return write(data, position);
    };
    return file;
  }
}

/** BoxHandler with one more rule: logins outside `allowed` are refused before the password. */
class AllowListHandler extends BoxHandler {
  /** @param {Box} box @param {FunctionRegistry} functions @param {Set<string>} allowed */
  constructor(box, functions, allowed) {
    super(box, functions);
    this.allowed = allowed;
  }
  /** @override @type {BoxHandler['authenticate']} */
  authenticate(session, request) {
    if (!this.allowed.has(request.userName))
      throw new AccessDeniedError('Session', 'universe', '', request.userName);
    return super.authenticate(session, request);
  }
}

/** @param {{ dir: string, port?: number, allowed: string[] }} options */
export async function startServer({ dir, port = 0, allowed }) {
  const fs = new CountingFileSystem();
  const box = await Box.cfg({ work_dir: dir, wal_mode: 'write' }, { fs });
  await box.schema.user.create('app', { password: 'secret', if_not_exists: true });
  await box.schema.user.grant('app', 'read,write,execute', 'universe', undefined, {
    if_not_exists: true,
  });
  await box.schema.user.create('replicator', { password: 'pw', if_not_exists: true });
  await box.schema.user.grant('replicator', 'replication', undefined, undefined, {
    if_not_exists: true,
  });
  const kv = box.space.kv ?? (await box.schema.space.create('kv'));
  if (kv.index[0] === undefined)
    await kv.createIndex('primary', { parts: [{ field: 0, type: 'string' }] });

  const functions = new FunctionRegistry();
  // The server's own function: increments a counter under a key, returns the new value.
  functions.register('bump', async (key) => {
    const tuple = await kv.upsert([key, 1], [['+', 1, 1]]).then(() => kv.get([key]));
    return tuple?.[1];
  });
  const server = createServer({
    handler: new AllowListHandler(box, functions, new Set(allowed)),
    replication: box.replicaSet.relay,
  });
  const address = await server.listen(port, '127.0.0.1');
  box.setListen(`127.0.0.1:${address.port}`);
  return {
    box,
    fs,
    port: address.port,
    close: async () => {
      await server.close();
      await box.close();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] ?? 3301);
  const { fs } = await startServer({
    dir: process.argv[3] ?? '.',
    port,
    allowed: ['app', 'replicator'],
  });
  console.log(
    `listening on 127.0.0.1:${port}; try: app:secret@127.0.0.1:${port}, call('bump', ['x'])`,
  );
  setInterval(() => console.log(`${fs.bytesWritten} bytes written`), 10_000).unref();
}
