// RELIABILITY.md #24 (an oversized tuple), #28 (protocol misuse on the replication channel,
// gh-10155) and the "Protocol robustness" bullets not covered in packages/iproto (IPROTO_ID and
// watchers, gh-6253/gh-6257; string headers of 33..255 bytes, gh-522) against a real instance
// (box + iproto) over 127.0.0.1 sockets.
import { connect as netConnect, type Socket } from 'node:net';
import { ErrorCode, MsgpackReader, MsgpackWriter } from '@tarantype/core';
import { connect } from '@tarantype/iproto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Instance } from '../src/index.js';
import { startInstance, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let instance: Instance | undefined;
let port: number;
const sockets: Socket[] = [];

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  ({ instance, port } = await startInstance(dir));
  const box = instance.box;
  await box.schema.user.create('tester', { password: 'secret' });
  await box.schema.user.grant('tester', 'read,write,execute,create,drop,alter', 'universe');
  // gh-10155's reproducers speak to the replication channel as guest with the replication role.
  await box.schema.user.grant('guest', 'replication');
  const space = await box.schema.space.create('test');
  await space.createIndex('primary');
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await instance?.stop();
  instance = undefined;
  await cleanup();
});

interface Reply {
  readonly type: number;
  readonly sync: number;
  readonly body: Map<number, unknown>;
}

/** A byte-level iproto client: frames requests, reads whole replies, sees the close. */
class Raw {
  private buffer = Buffer.alloc(0);
  private readonly replies: Reply[] = [];
  private wake: (() => void) | undefined;
  closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.parse();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
  }

  static async open(): Promise<Raw> {
    const socket = netConnect({ host: '127.0.0.1', port });
    sockets.push(socket);
    const raw = new Raw(socket);
    await raw.waitFor(() => raw.greeting !== undefined, 'the greeting');
    return raw;
  }

  private greeting: Buffer | undefined;

  private parse(): void {
    if (this.greeting === undefined) {
      if (this.buffer.length < 128) return;
      this.greeting = this.buffer.subarray(0, 128);
      this.buffer = this.buffer.subarray(128);
    }
    while (this.buffer.length >= 5 && this.buffer[0] === 0xce) {
      const length = this.buffer.readUInt32BE(1);
      if (this.buffer.length < 5 + length) break;
      const bytes = new Uint8Array(this.buffer.subarray(5, 5 + length));
      this.buffer = this.buffer.subarray(5 + length);
      const reader = new MsgpackReader(bytes);
      const header = toMap(reader.readValue());
      const body = reader.offset < bytes.length ? toMap(reader.readValue()) : new Map();
      this.replies.push({
        type: Number(header.get(0x00)),
        sync: Number(header.get(0x01)),
        body,
      });
    }
    this.wake?.();
  }

  private async waitFor(ready: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!ready()) {
      if (this.closed) throw new Error(`connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  send(type: number, sync: number, body?: Uint8Array): void {
    const w = new MsgpackWriter(64);
    w.mapHeader(2);
    w.uint(0x00);
    w.uint(type);
    w.uint(0x01);
    w.uint(sync);
    const header = w.toBytes();
    const length = header.length + (body?.length ?? 0);
    const out = Buffer.alloc(5 + length);
    out[0] = 0xce;
    out.writeUInt32BE(length, 1);
    out.set(header, 5);
    if (body !== undefined) out.set(body, 5 + header.length);
    this.socket.write(out);
  }

  async reply(): Promise<Reply> {
    await this.waitFor(() => this.replies.length > 0, 'reply');
    return this.replies.shift()!;
  }

  async roundTrip(type: number, sync: number, body?: Uint8Array): Promise<Reply> {
    this.send(type, sync, body);
    return this.reply();
  }
}

function toMap(value: unknown): Map<number, unknown> {
  if (value instanceof Map) return value as Map<number, unknown>;
  const out = new Map<number, unknown>();
  for (const [k, v] of Object.entries(value as object)) out.set(Number(k), v);
  return out;
}

/** An error reply: status 0x8000 | code, the message under IPROTO_ERROR_24 (0x31). */
function errorOf(reply: Reply): { code: number; message: string } {
  expect(reply.type & 0x8000, `reply type 0x${reply.type.toString(16)} is an error`).toBe(0x8000);
  return { code: reply.type & 0x7fff, message: String(reply.body.get(0x31)) };
}

function body(entries: ReadonlyArray<readonly [number, unknown]>): Uint8Array {
  const w = new MsgpackWriter(256);
  w.mapHeader(entries.length);
  for (const [key, value] of entries) {
    w.uint(key);
    w.value(value);
  }
  return w.toBytes();
}

const T = { OK: 0, PING: 0x40, SUBSCRIBE: 0x42, FETCH_SNAPSHOT: 0x45, ID: 0x49, WATCH: 0x4a };
const K = { INSTANCE_UUID: 0x24, CLUSTER_UUID: 0x25, VCLOCK: 0x26, REPLICA_ANON: 0x50 };
const STRANGER = 'dddddddd-dddd-4ddd-8ddd-dddddddddddd';
const NIL_UUID = '00000000-0000-0000-0000-000000000000';
const ANON = 'Replication does not support anonymous replicas';

/** The instance still serves: a fresh connection pings, and a client writes and reads. */
async function stillServing(): Promise<void> {
  const raw = await Raw.open();
  expect((await raw.roundTrip(T.PING, 9)).type).toBe(0);
  const client = await connect(`tester:secret@127.0.0.1:${port}`);
  try {
    await client.replace('test', [42, 'after']);
    expect(await client.select('test', 0, [42])).toEqual([[42, 'after']]);
  } finally {
    await client.close();
  }
}

describe('RELIABILITY.md #24: a tuple above memtx_max_tuple_size', () => {
  it('#24: ER_MEMTX_MAX_TUPLE_SIZE (110) with 2.6 text, nothing stored, the connection stays', async () => {
    const client = await connect(`tester:secret@127.0.0.1:${port}`);
    try {
      const big = 'x'.repeat(1024 * 1024 + 1);
      await expect(client.insert('test', [1, big])).rejects.toMatchObject({
        code: ErrorCode.ER_MEMTX_MAX_TUPLE_SIZE,
        message: expect.stringMatching(
          /^Failed to allocate \d+ bytes for tuple: tuple is too large\. Check 'memtx_max_tuple_size' configuration option\.$/,
        ),
      });
      // Same connection: it was not closed, and nothing was stored.
      expect(await client.select('test', 0, [1])).toEqual([]);
      expect(await client.insert('test', [1, 'small'])).toEqual([1, 'small']);
    } finally {
      await client.close();
    }
    expect(instance!.box.space.test!.len()).toBe(1);
  });
});

describe('RELIABILITY.md #28: protocol misuse on the replication channel (gh-10155)', () => {
  it('#28: stray OKs before SUBSCRIBE, FETCH_SNAPSHOT, an OK after it and anonymous or nil-uuid SUBSCRIBEs are refused; no crash', async () => {
    const replicasetUuid = instance!.box.catalog.replicasetUuid!;
    // Stray IPROTO_OK packets: each one is an unknown request, the connection stays.
    const a = await Raw.open();
    for (let sync = 1; sync <= 5; sync++) {
      const reply = await a.roundTrip(T.OK, sync);
      expect(reply.sync).toBe(sync);
      expect(errorOf(reply)).toEqual({
        code: ErrorCode.ER_UNKNOWN_REQUEST_TYPE,
        message: 'Unknown request type 0',
      });
    }
    // Then a SUBSCRIBE of an instance the replica set does not know: refused by name.
    const subscribe = await a.roundTrip(
      T.SUBSCRIBE,
      6,
      body([
        [K.CLUSTER_UUID, replicasetUuid],
        [K.INSTANCE_UUID, STRANGER],
        [K.VCLOCK, new Map()],
      ]),
    );
    expect(subscribe.sync).toBe(6);
    expect(errorOf(subscribe).code).toBe(ErrorCode.ER_UNKNOWN_REPLICA);
    expect(errorOf(subscribe).message).toBe(
      `Replica ${STRANGER} is not registered with replica set ${replicasetUuid}`,
    );

    // FETCH_SNAPSHOT (an anonymous replica's join), an OK after it, then an anonymous SUBSCRIBE.
    const b = await Raw.open();
    const fetch = await b.roundTrip(T.FETCH_SNAPSHOT, 1, body([[K.INSTANCE_UUID, STRANGER]]));
    expect(fetch.sync).toBe(1);
    // tarantype has no anonymous replicas (2.6 has): refused by name, the connection kept.
    expect(errorOf(fetch)).toEqual({ code: ErrorCode.ER_UNSUPPORTED, message: ANON });
    const ok = await b.roundTrip(T.OK, 2);
    expect(errorOf(ok).code).toBe(ErrorCode.ER_UNKNOWN_REQUEST_TYPE);
    const c = await Raw.open();
    for (const [sync, uuid] of [
      [1, STRANGER],
      [2, NIL_UUID],
    ] as const) {
      const anon = await c.roundTrip(
        T.SUBSCRIBE,
        sync,
        body([
          [K.CLUSTER_UUID, replicasetUuid],
          [K.INSTANCE_UUID, uuid],
          [K.VCLOCK, new Map()],
          [K.REPLICA_ANON, true],
        ]),
      );
      expect(anon.sync).toBe(sync);
      expect(errorOf(anon)).toEqual({ code: ErrorCode.ER_UNSUPPORTED, message: ANON });
    }
    await stillServing();
  });
});

describe('Protocol robustness: requests of later versions and string headers', () => {
  it('IPROTO_ID (73) and IPROTO_WATCH (74) are unknown request types, as in 2.6; the connection stays', async () => {
    const raw = await Raw.open();
    for (const [type, sync] of [
      [T.ID, 11],
      [T.WATCH, 12],
    ] as const) {
      const reply = await raw.roundTrip(type, sync, body([[0x54, 3]]));
      expect(reply.sync).toBe(sync);
      expect(errorOf(reply)).toEqual({
        code: ErrorCode.ER_UNKNOWN_REQUEST_TYPE,
        message: `Unknown request type ${type}`,
      });
    }
    expect((await raw.roundTrip(T.PING, 13)).type).toBe(0);
  });

  it('strings of 31, 32, 33, 255 and 256 bytes (fixstr, str8, str16 headers) round-trip (gh-522)', async () => {
    const client = await connect(`tester:secret@127.0.0.1:${port}`);
    try {
      for (const length of [31, 32, 33, 200, 255, 256]) {
        const value = 's'.repeat(length);
        expect(await client.replace('test', [length, value])).toEqual([length, value]);
        expect(await client.select('test', 0, [length])).toEqual([[length, value]]);
      }
    } finally {
      await client.close();
    }
  });
});
