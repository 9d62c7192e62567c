// The server's request path in process, without sockets: a real Box behind BoxHandler and the
// iproto server, fed batches of pipelined requests through a stand-in socket, as netload.lua's
// requests arrive (a fixmap header with sync and schema version; SELECT by primary key, INSERT
// of a new key, REPLACE and UPDATE of an existing one, PING). What is measured is the CPU of the
// whole process (main thread and libuv's pool, which writes the WAL) per request, with no
// socket I/O and no client on the machine: the server's own share of the network rows of
// `npm run bench:compare`, steadier than those on a shared 2-core VM. The checksum counts the
// replies read back from the stand-in socket.
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Box, BoxHandler, FunctionRegistry } from '@tarantype/box';
import { encode } from '@tarantype/core';
import { createServer } from '@tarantype/iproto';
import type { BenchFigure, BenchScale, BenchSuite } from '../harness.js';

const OPS = ['ping', 'select', 'insert', 'replace', 'update'] as const;
type Op = (typeof OPS)[number];

const SCALES: Record<BenchScale, { keys: number; batch: number; rounds: number }> = {
  small: { keys: 1000, batch: 10, rounds: 20 },
  large: { keys: 100_000, batch: 100, rounds: 3000 },
};

/** The Socket members a ServerConnection uses; write() counts the reply frames it is given. */
class StandInSocket extends EventEmitter {
  writableLength = 0;
  destroyed = false;
  readableEnded = false;
  remoteAddress = '127.0.0.1';
  remotePort = 1;
  replies = 0;
  /** Replies whose header carries an error code (the response type 0x8000 + code). */
  errors = 0;
  private greeted = false;
  private want = 0;
  private wake: (() => void) | undefined;

  setNoDelay(): void {}
  pause(): void {}
  resume(): void {}
  end(): void {}
  destroy(): void {
    this.destroyed = true;
  }

  write(b: Uint8Array): boolean {
    // The first write is the 128-byte greeting, not a reply.
    if (!this.greeted) {
      this.greeted = true;
      return true;
    }
    // Each reply: 0xce, a 4-byte length, then the header map, REQUEST_TYPE (0x00) first.
    for (
      let p = 0;
      p < b.length;
      p += 5 + b[p + 1]! * 0x1000000 + ((b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!)
    ) {
      this.replies++;
      // REQUEST_TYPE is 0 (OK) on success, written as a uint 32 (0xce) as Tarantool does.
      const code =
        b[p + 7] === 0xce
          ? b[p + 8]! * 0x1000000 + ((b[p + 9]! << 16) | (b[p + 10]! << 8) | b[p + 11]!)
          : b[p + 7];
      if (b[p + 6] !== 0x00 || code !== 0) this.errors++;
    }
    if (this.wake !== undefined && this.replies >= this.want) {
      const wake = this.wake;
      this.wake = undefined;
      wake();
    }
    return true;
  }

  /** Feeds one batch of `count` requests and resolves once all their replies were written. */
  feed(batch: Buffer, count: number): Promise<void> {
    this.want = this.replies + count;
    return new Promise((resolve) => {
      this.wake = () => setImmediate(resolve);
      this.emit('data', batch);
      if (this.replies >= this.want && this.wake !== undefined) this.wake();
    });
  }
}

function frame(header: Map<number, unknown>, body: Map<number, unknown>): Buffer {
  const h = encode(header);
  const b = encode(body);
  const out = Buffer.alloc(5 + h.length + b.length);
  out[0] = 0xce;
  out.writeUInt32BE(h.length + b.length, 1);
  out.set(h, 5);
  out.set(b, 5 + h.length);
  return out;
}

const STRING = 'abcdefghijklmnopqrstuvwxyz012345';

/** netload.lua's requests of `op`, `count` per batch; inserts take fresh keys from `nextKey`. */
function batches(
  op: Op,
  spaceId: number,
  schemaVersion: number,
  count: number,
  keys: number,
  rounds: number,
): Buffer[] {
  let sync = 1;
  let random = 12345;
  let nextKey = keys + 1;
  const distinct = op === 'insert' ? rounds : Math.min(rounds, 64);
  const out: Buffer[] = [];
  for (let r = 0; r < distinct; r++) {
    const frames: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      random = (random * 1103515245 + 12345) & 0x7fffffff;
      const k = 1 + (random % keys);
      const header = new Map<number, unknown>([
        [0, { ping: 64, select: 1, insert: 2, replace: 3, update: 4 }[op]],
        [1, sync++],
        [5, schemaVersion],
      ]);
      let body: Map<number, unknown>;
      switch (op) {
        case 'ping':
          body = new Map();
          break;
        case 'select':
          body = new Map<number, unknown>([
            [0x10, spaceId],
            [0x11, 0],
            [0x12, 0xffffffff],
            [0x13, 0],
            [0x14, 0],
            [0x20, [k]],
          ]);
          break;
        case 'insert': {
          const key = nextKey++;
          body = new Map<number, unknown>([
            [0x10, spaceId],
            [0x21, [key, STRING, key * 2]],
          ]);
          break;
        }
        case 'replace':
          body = new Map<number, unknown>([
            [0x10, spaceId],
            [0x21, [k, STRING, k * 2]],
          ]);
          break;
        case 'update':
          body = new Map<number, unknown>([
            [0x10, spaceId],
            [0x11, 0],
            [0x15, 1],
            [0x20, [k]],
            [0x21, [['+', 3, 1]]],
          ]);
          break;
      }
      frames.push(frame(header, body));
    }
    out.push(Buffer.concat(frames));
  }
  return out;
}

async function measure(op: Op, scale: BenchScale): Promise<{ cpu: number; replies: number }> {
  const { keys, batch, rounds } = SCALES[scale];
  const dir = mkdtempSync(join(tmpdir(), 'tarantype-request-path-'));
  const box = await Box.cfg({
    work_dir: dir,
    wal_mode: 'write',
    checkpoint_interval: 0,
    log_level: 2,
  });
  try {
    const space = await box.schema.space.create('bench');
    await space.createIndex('pk', { type: 'TREE', parts: [{ field: 0, type: 'unsigned' }] });
    for (let first = 1; first <= keys; first += 1000) {
      await box.atomic(() => {
        for (let k = first; k < first + 1000 && k <= keys; k++)
          void space.insert([k, STRING, k * 2]);
      });
    }
    await box.schema.user.grant('guest', 'read,write,execute', 'universe');
    const handler = new BoxHandler(box, new FunctionRegistry());
    const server = createServer({ handler });
    const socket = new StandInSocket();
    server.accept(socket as never);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const warmup = Math.max(2, Math.floor(rounds / 10));
    const input = batches(op, space.id, handler.schemaVersion(), batch, keys, rounds + warmup);
    let next = 0;
    for (let r = 0; r < warmup; r++) await socket.feed(input[next++ % input.length]!, batch);
    const before = socket.replies;
    const started = process.cpuUsage();
    for (let r = 0; r < rounds; r++) await socket.feed(input[next++ % input.length]!, batch);
    const used = process.cpuUsage(started);
    const replies = socket.replies - before;
    if (socket.errors > 0) throw new Error(`${op}: ${socket.errors} error replies`);
    if (replies !== rounds * batch)
      throw new Error(`${op}: ${replies} replies to ${rounds * batch} requests`);
    socket.emit('close');
    await server.close({ timeoutMs: 1000 });
    return { cpu: (used.user + used.system) / replies, replies };
  } finally {
    await box.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const suite: BenchSuite = {
  name: 'request-path',
  async run(scale) {
    const figures: BenchFigure[] = [];
    let checksum = 0;
    for (const op of OPS) {
      const { cpu, replies } = await measure(op, scale);
      figures.push({
        name: `${op}, ${SCALES[scale].batch} pipelined, CPU per request`,
        value: cpu,
        unit: 'µs',
      });
      checksum += replies;
    }
    return { suite: 'request path (in process)', figures, checksum };
  },
};

export default suite;
