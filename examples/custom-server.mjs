#!/usr/bin/env node
// A custom server from the layers, without the tarantype CLI: box (the database) + iproto (the
// protocol) + replication (box's relay serves replicas) + wal (whose FileSystem it replaces with
// one that counts bytes) + core (errors); its own function, and its own auth rule: an allow-list.
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
    file.write = (data, at) => write(data, at).then(() => void (this.bytesWritten += data.length));
    return file;
  }
}

/** @param {{ dir: string, port?: number, allowed: string[] }} options */
export async function startServer({ dir, port = 0, allowed }) {
  const fs = new CountingFileSystem();
  const box = await Box.cfg({ work_dir: dir, wal_mode: 'write' }, { fs });
  await box.once('schema-v1', async () => {
    await box.schema.user.create('app', { password: 'secret' });
    await box.schema.user.grant('app', 'read,write,execute', 'universe');
    await box.schema.user.create('replicator', { password: 'pw' });
    await box.schema.user.grant('replicator', 'replication');
    const kv = await box.schema.space.create('kv');
    await kv.createIndex('primary', { parts: [{ field: 0, type: 'string' }] });
  });
  const functions = new FunctionRegistry(); // called over iproto CALL, by name
  functions.register('bump', async (key) => {
    await box.space.kv?.upsert([key, 1], [['+', 1, 1]]);
    return box.space.kv?.get([key])?.[1];
  });
  const handler = new BoxHandler(box, functions);
  const authenticate = handler.authenticate.bind(handler); // the auth rule: allow-list first
  handler.authenticate = (session, request) => {
    if (allowed.includes(request.userName)) return authenticate(session, request);
    throw new AccessDeniedError('Session', 'universe', '', request.userName);
  };
  const server = createServer({ handler, replication: box.replicaSet.relay });
  const address = await server.listen(port, '127.0.0.1');
  box.setListen(`127.0.0.1:${address.port}`);
  const close = () => server.close().then(() => box.close());
  return { box, fs, port: address.port, close };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[3] ?? '.';
  const started = await startServer({
    dir,
    port: Number(process.argv[2] ?? 3301),
    allowed: ['app', 'replicator'],
  });
  console.log(`listening on 127.0.0.1:${started.port}: app:secret@…, call('bump', ['some key'])`);
}
