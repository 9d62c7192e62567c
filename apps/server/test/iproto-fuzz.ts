// Protocol fuzzing of a live `tarantype start` process (issue 15, "protocol fuzzing"): seeded
// random and mutated iproto frames over real sockets on 127.0.0.1, many frames per write and
// many connections at once, and the server's rules checked after every batch. Layer:
// apps/server tests (the `fuzz` campaign of `npm run chaos` and a seeded subset in npm test).
//
// The corpus is every request type a client or a replica sends (PING, SELECT, INSERT, REPLACE,
// UPDATE, UPSERT, DELETE, CALL, CALL_16, EVAL, EXECUTE, AUTH, VOTE, JOIN, SUBSCRIBE,
// FETCH_SNAPSHOT, REGISTER, ID and unknown types) with valid and invalid vclocks (ids ≥ 32,
// negative and huge lsns), good, nil and malformed uuids. Mutations: bit flips, random bytes,
// truncation inside the frame, trailing garbage, msgpack type swaps and huge or negative
// integers inside the structure, deep nesting, headers that are not maps, unknown types; and
// as the last frame of a connection (the stream loses its boundaries there): a length prefix
// that is not a uint, one above 2 GiB, a length that lies (longer or shorter) and a frame cut
// short.
//
// Lanes: most connections are guest (read/write on space `fuzz`, read on `known`); some AUTH
// as a super user first and send mutated EVAL/CALL (so the Lua runtime parses the mutations);
// some AUTH as a replication user and send one (mutated) replication request, whose answer is
// a stream. Rules checked (PROTOCOL.md F1–F3, R1–R15 of packages/iproto):
// - every well-framed packet gets exactly one reply (guest and super lanes), within a timeout;
// - an unmutated request's reply carries its sync; an unknown type gives ER_UNKNOWN_REQUEST_TYPE
//   with the sync; a header that is not a map gives ER_INVALID_MSGPACK with sync 0; trailing
//   bytes after a body give ER_INVALID_MSGPACK with the request's sync;
// - a length prefix that is not a uint or is above 2 GiB: ER_INVALID_MSGPACK, sync 0, then the
//   server closes; a frame cut short: after our FIN the server closes;
// - a replication request gets a packet or a close within the timeout;
// - after every batch: the process is alive, a PING on a fresh connection answers within
//   PING_TIMEOUT_MS, its RSS is below RSS_LIMIT_BYTES.
// At the end the `known` tuples (inserted before) are exactly there, and again after a restart.

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type Socket, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { MsgpackReader, MsgpackWriter } from '@tarantype/core';
import { chapSha1Scramble, decodeGreeting } from '@tarantype/iproto';
import { type Client, Cluster, type Node, STANDARD_USERS } from './replication/cluster.js';

/** mulberry32: a small seeded PRNG (uniform in [0, 1)). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seed for stream `n` of base seed `seed` (a murmur3 finalizer over both). */
function mix(seed: number, n: number): number {
  let h = (seed ^ Math.imul(n, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** FUZZ_DUMP=<dir>: every connection's bytes go to <dir>/b<batch>-c<i>.bin (the last 3 batches kept). */
function dump(batch: number, i: number, bytes: Uint8Array): void {
  const dir = process.env.FUZZ_DUMP;
  if (dir === undefined) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `b${batch}-c${i}.bin`), bytes);
  for (let j = 0; j < 64 && i === 0; j++)
    rmSync(join(dir, `b${batch - 3}-c${j}.bin`), { force: true });
}

export const KNOWN_TUPLES = 500;
/** Frames per guest connection (one write), at most. */
const FRAMES_PER_CONNECTION = 400;
/** Connections in flight at once. */
const CONCURRENCY = 12;
/** A connection that sent complete frames must be answered (or closed) within this. */
const REPLY_TIMEOUT_MS = 15_000;
/** How long a connection whose last frame has a shorter length waits for replies before its FIN. */
const SHORTER_WAIT_MS = 1000;
/** A PING on a fresh connection after every batch answers within this. */
export const PING_TIMEOUT_MS = 1000;
export const RSS_LIMIT_BYTES = 1024 * 1024 * 1024;
/** Rows of `fuzz` above which the space is truncated (by the admin) to keep memory flat. */
const FUZZ_ROWS_MAX = 50_000;

const T = {
  SELECT: 1,
  INSERT: 2,
  REPLACE: 3,
  UPDATE: 4,
  DELETE: 5,
  CALL_16: 6,
  AUTH: 7,
  EVAL: 8,
  UPSERT: 9,
  CALL: 10,
  EXECUTE: 11,
  PING: 64,
  JOIN: 65,
  SUBSCRIBE: 66,
  VOTE_DEPRECATED: 67,
  VOTE: 68,
  FETCH_SNAPSHOT: 69,
  REGISTER: 70,
  ID: 73,
} as const;
const KNOWN_TYPES = new Set<number>([...Object.values(T)].filter((t) => t !== T.ID));
const UNKNOWN_TYPES = [0, 12, 40, 41, 73, 99, 0x7f, 0x1234, 0xffff_ffff];
const ER_INVALID_MSGPACK = 20;
const ER_UNKNOWN_REQUEST_TYPE = 48;

// ---- a msgpack value model the generator and the structural mutations share ----

/** Raw bytes spliced in as they are (type swaps, huge ints, deep nesting). */
class Raw {
  constructor(readonly bytes: Uint8Array) {}
}
type V = number | bigint | string | boolean | null | Uint8Array | Raw | V[] | Map<V, V>;

function write(w: MsgpackWriter, v: V): void {
  if (v === null) w.nil();
  else if (typeof v === 'number') {
    if (Number.isInteger(v)) v >= 0 ? w.uint(v) : w.int(v);
    else w.double(v);
  } else if (typeof v === 'bigint') w.bigint(v);
  else if (typeof v === 'string') w.str(v);
  else if (typeof v === 'boolean') w.bool(v);
  else if (v instanceof Raw) w.raw(v.bytes);
  else if (v instanceof Uint8Array) w.bin(v);
  else if (Array.isArray(v)) {
    w.arrayHeader(v.length);
    for (const x of v) write(w, x);
  } else {
    w.mapHeader(v.size);
    for (const [k, x] of v) {
      write(w, k);
      write(w, x);
    }
  }
}

const writer = new MsgpackWriter(64 * 1024);
function encodeAll(values: readonly V[]): Uint8Array {
  writer.reset();
  for (const v of values) write(writer, v);
  return writer.toBytes();
}

const m = (...entries: Array<[V, V]>): Map<V, V> => new Map(entries);

// ---- the corpus ----

interface Ctx {
  readonly r: () => number;
  readonly fuzzSpace: number;
  readonly knownSpace: number;
  readonly clusterUuid: string;
  readonly instanceUuid: string;
}

const int = (r: () => number, n: number) => Math.floor(r() * n);
const pick = <X>(r: () => number, xs: readonly X[]): X => xs[int(r, xs.length)]!;

function uuid(r: () => number): string {
  const hex = () => int(r, 16).toString(16);
  const part = (n: number) => Array.from({ length: n }, hex).join('');
  return `${part(8)}-${part(4)}-4${part(3)}-a${part(3)}-${part(12)}`;
}

function anyUuid(ctx: Ctx): V {
  const r = ctx.r;
  switch (int(r, 8)) {
    case 0:
      return '00000000-0000-0000-0000-000000000000';
    case 1:
      return ctx.instanceUuid;
    case 2:
      return 'not-a-uuid';
    case 3:
      return new Raw(
        new Uint8Array([0xd8, 0x02, ...Array.from({ length: 16 }, () => int(r, 256))]),
      );
    case 4:
      return int(r, 1000);
    default:
      return uuid(r);
  }
}

function vclock(ctx: Ctx): V {
  const r = ctx.r;
  const entries: Array<[V, V]> = [];
  const n = int(r, 5);
  for (let i = 0; i < n; i++) {
    const kind = int(r, 10);
    const id = kind === 0 ? 32 + int(r, 200) : kind === 1 ? -1 : int(r, 32);
    const lsn =
      kind === 2
        ? 2 ** 53 + 7
        : kind === 3
          ? -5
          : kind === 4
            ? 0xffff_ffff_ffff_ffffn
            : int(r, 1e6);
    entries.push([id, lsn]);
  }
  if (int(r, 10) === 0) return [1, 2, 3];
  return new Map(entries);
}

function scalar(r: () => number): V {
  switch (int(r, 9)) {
    case 0:
      return int(r, 1000);
    case 1:
      return -int(r, 1000) - 1;
    case 2:
      return `s${int(r, 1e6)}`;
    case 3:
      return null;
    case 4:
      return r() < 0.5;
    case 5:
      return r() * 100 + 0.5;
    case 6:
      return new Uint8Array([1, 2, 3]);
    case 7:
      return [int(r, 10), 'x'];
    default:
      return m(['a', 1]);
  }
}

function tuple(r: () => number): V {
  const fields: V[] = [int(r, 100_000)];
  const n = int(r, 5);
  for (let i = 0; i < n; i++) fields.push(scalar(r));
  return fields;
}

function ops(r: () => number): V {
  const list: V[] = [];
  const n = 1 + int(r, 3);
  for (let i = 0; i < n; i++) {
    const op = pick(r, ['=', '+', '-', '&', '|', '^', ':', '!', '#', '?']);
    const field = int(r, 6) - 1;
    list.push(op === ':' ? [op, field, 0, 1, 'x'] : [op, field, int(r, 10)]);
  }
  return list;
}

const EVAL_EXPRS = [
  'return 1',
  'return ...',
  'return 1 + 2, "x"',
  'return {1, 2, {3, "a"}}',
  'local t = {} for i = 1, 10 do t[i] = i end return t',
  'return string.rep("x", 10)',
  'return box.info.id',
  'return box.space.fuzz:count()',
  'error("boom")',
  'return nil',
  'syntax error here (',
];
const CALL_NAMES = [
  'box.info',
  'box.info.vclock',
  'box.space.fuzz:count',
  'nosuch',
  'box.session.id',
];

/** A request: header + body values (the body may be absent). */
interface Request {
  readonly type: number;
  header: Map<V, V>;
  body: V | undefined;
}

function request(ctx: Ctx, type: number, sync: V): Request {
  const r = ctx.r;
  const space = r() < 0.8 ? ctx.fuzzSpace : pick(r, [ctx.knownSpace, 280, 281, 320, 99999]);
  const header = m([0, type], [1, sync]);
  const body = (() => {
    switch (type) {
      case T.PING:
      case T.VOTE:
      case T.VOTE_DEPRECATED:
        return undefined;
      case T.SELECT:
        return m(
          [0x10, space],
          [0x11, int(r, 3)],
          [0x12, int(r, 20)],
          [0x13, int(r, 3)],
          [0x14, int(r, 12)],
          [0x20, r() < 0.3 ? [] : [int(r, 100_000)]],
        );
      case T.INSERT:
      case T.REPLACE:
        return m([0x10, space], [0x21, tuple(r)]);
      case T.UPDATE:
        return m([0x10, space], [0x11, 0], [0x20, [int(r, 100_000)]], [0x21, ops(r)]);
      case T.UPSERT:
        return m([0x10, space], [0x21, tuple(r)], [0x28, ops(r)]);
      case T.DELETE:
        return m([0x10, space], [0x20, [int(r, 100_000)]]);
      case T.CALL:
      case T.CALL_16:
        return m([0x22, pick(r, CALL_NAMES)], [0x21, [scalar(r)]]);
      case T.EVAL:
        return m([0x27, pick(r, EVAL_EXPRS)], [0x21, [scalar(r), scalar(r)]]);
      case T.EXECUTE:
        return m([0x40, 'SELECT 1'], [0x41, []]);
      case T.AUTH:
        return m(
          [0x23, pick(r, ['guest', 'alice', 'nobody', 'replicator', ''])],
          [
            0x21,
            pick<V>(r, [
              ['chap-sha1', new Uint8Array(Array.from({ length: 20 }, () => int(r, 256)))],
              ['chap-sha1', new Uint8Array(7)],
              [],
              ['chap-sha1'],
              ['chap-sha1', 42],
            ]),
          ],
        );
      case T.JOIN:
        return m([0x24, anyUuid(ctx)], ...(r() < 0.3 ? [[0x06, 0x020600] as [V, V]] : []));
      case T.SUBSCRIBE:
        return m(
          [0x25, r() < 0.7 ? ctx.clusterUuid : anyUuid(ctx)],
          [0x24, anyUuid(ctx)],
          [0x26, vclock(ctx)],
          [0x06, r() < 0.8 ? 0x020600 : 'v'],
          [0x50, r() < 0.8 ? false : pick<V>(r, [true, 1, 'no'])],
          ...(r() < 0.3
            ? [[0x51, pick<V>(r, [[1], [33], ['x'], 5, [0, 1, 2, 31]])] as [V, V]]
            : []),
        );
      case T.FETCH_SNAPSHOT:
      case T.REGISTER:
        return m([0x24, anyUuid(ctx)], [0x26, vclock(ctx)], [0x06, 0x020600]);
      case T.ID:
        return m([0x54, 3], [0x55, [1, 2]]);
      default:
        return m([0x10, space]);
    }
  })();
  return { type, header, body };
}

// ---- mutations ----

export type Mutation =
  | 'none'
  | 'bitflip'
  | 'random-bytes'
  | 'truncate-inside'
  | 'trailing'
  | 'type-swap'
  | 'huge-int'
  | 'deep-nesting'
  | 'header-not-map'
  | 'unknown-type'
  | 'random-packet';
export type TailFault =
  | 'prefix-not-uint'
  | 'prefix-too-big'
  | 'length-longer'
  | 'length-shorter'
  | 'cut-short';

function swapValue(r: () => number): V {
  return pick<V>(r, [
    null,
    true,
    'str',
    -1,
    1.5,
    [],
    m(),
    new Uint8Array(3),
    new Raw(new Uint8Array([0xd4, 0x01, 0x00])), // fixext 1
    new Raw(new Uint8Array([0xc1])), // never used
  ]);
}

function hugeInt(r: () => number): V {
  return pick<V>(r, [
    0xffff_ffff_ffff_ffffn,
    -(2n ** 63n),
    2 ** 53 + 1,
    -(2 ** 31),
    0xffff_ffff,
    2 ** 32,
    -1,
    new Raw(new Uint8Array([0xcf, 0x80, 0, 0, 0, 0, 0, 0, 1])),
    new Raw(new Uint8Array([0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])),
  ]);
}

function deep(r: () => number): V {
  const depth = pick(r, [100, 511, 513, 600, 5000]);
  const bytes = new Uint8Array(depth + 1);
  const kind = int(r, 2);
  for (let i = 0; i < depth; i++) bytes[i] = kind === 0 ? 0x91 : 0x81;
  if (kind === 1) {
    // map of 1: key, value — key 1 then nested; rewrite as 81 01 81 01 ... nil
    const out = new Uint8Array(depth * 2 + 1);
    for (let i = 0; i < depth; i++) {
      out[2 * i] = 0x81;
      out[2 * i + 1] = 0x01;
    }
    out[depth * 2] = 0xc0;
    return new Raw(out);
  }
  bytes[depth] = 0xc0;
  return new Raw(bytes);
}

/** Replaces one value somewhere inside `v` (a path of random steps). */
function mutateIn(r: () => number, v: V, make: (r: () => number) => V, depth = 0): V {
  if (depth > 3 || r() < 0.3) return make(r);
  if (Array.isArray(v) && v.length > 0) {
    const copy = [...v];
    const i = int(r, copy.length);
    copy[i] = mutateIn(r, copy[i]!, make, depth + 1);
    return copy;
  }
  if (v instanceof Map && v.size > 0) {
    const copy = new Map(v);
    const key = pick(r, [...copy.keys()]);
    if (r() < 0.2) {
      copy.delete(key);
      copy.set(make(r), copy.get(key) ?? null);
    } else copy.set(key, mutateIn(r, copy.get(key)!, make, depth + 1));
    return copy;
  }
  return make(r);
}

function flipBits(r: () => number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes);
  const n = 1 + int(r, 4);
  for (let i = 0; i < n; i++) out[int(r, out.length)]! ^= 1 << int(r, 8);
  return out;
}

function randomBytes(r: () => number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => int(r, 256));
}

/** What the server must answer for one well-framed packet. */
interface Expect {
  /** The sync a reply must carry (undefined: unpredictable after the mutation). */
  readonly sync?: bigint;
  /** The error code the reply must have (undefined: any status). */
  readonly code?: number;
}

interface Framed {
  readonly bytes: Uint8Array;
  readonly mutation: Mutation;
  readonly expect: Expect;
}

function frameOf(packet: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + packet.length);
  out[0] = 0xce;
  new DataView(out.buffer).setUint32(1, packet.length);
  out.set(packet, 5);
  return out;
}

function syncOf(r: () => number, n: number): bigint {
  return r() < 0.05 ? 2n ** 60n + BigInt(n) : BigInt(n * 7 + 1);
}

/** One packet (not a tail fault), mutated or not. */
function packet(ctx: Ctx, types: readonly number[], n: number, mutationRate: number): Framed {
  const r = ctx.r;
  const sync = syncOf(r, n);
  const req = request(ctx, pick(r, types), sync > 2n ** 53n ? sync : Number(sync));
  const mutation: Mutation =
    r() >= mutationRate
      ? 'none'
      : pick<Mutation>(r, [
          'bitflip',
          'bitflip',
          'bitflip',
          'random-bytes',
          'truncate-inside',
          'trailing',
          'type-swap',
          'type-swap',
          'huge-int',
          'huge-int',
          'deep-nesting',
          'header-not-map',
          'unknown-type',
          'random-packet',
        ]);
  const plain = () => encodeAll(req.body === undefined ? [req.header] : [req.header, req.body]);
  switch (mutation) {
    case 'none':
      return { bytes: frameOf(plain()), mutation, expect: { sync } };
    case 'bitflip':
      return { bytes: frameOf(flipBits(r, plain())), mutation, expect: {} };
    case 'random-bytes': {
      const p = plain();
      const at = int(r, p.length);
      p.set(randomBytes(r, Math.min(1 + int(r, 8), p.length - at)), at);
      return { bytes: frameOf(p), mutation, expect: {} };
    }
    case 'truncate-inside': {
      const p = plain();
      return { bytes: frameOf(p.subarray(0, int(r, p.length))), mutation, expect: {} };
    }
    case 'trailing': {
      if (req.body === undefined) req.body = m([0x10, 1]);
      const p = plain();
      const extra = randomBytes(r, 1 + int(r, 4));
      const all = new Uint8Array(p.length + extra.length);
      all.set(p);
      all.set(extra, p.length);
      // Trailing bytes after the one body value: "packet body" with the request's sync (R5).
      return {
        bytes: frameOf(all),
        mutation,
        expect: KNOWN_TYPES.has(req.type) ? { sync, code: ER_INVALID_MSGPACK } : {},
      };
    }
    case 'type-swap':
    case 'huge-int':
    case 'deep-nesting': {
      const make = mutation === 'type-swap' ? swapValue : mutation === 'huge-int' ? hugeInt : deep;
      if (r() < 0.2 || req.body === undefined)
        req.header = mutateIn(r, req.header, make) as Map<V, V>;
      else req.body = mutateIn(r, req.body, make);
      const values = req.body === undefined ? [req.header] : [req.header, req.body];
      return { bytes: frameOf(encodeAll(values)), mutation, expect: {} };
    }
    case 'header-not-map': {
      const header = pick<V>(r, [[0, 64, 1, 1], 'hdr', 7, null, new Raw(new Uint8Array([0xc1]))]);
      const values = req.body === undefined ? [header] : [header, req.body];
      // R1: the header is not one well-formed map → "packet header", sync 0.
      return {
        bytes: frameOf(encodeAll(values)),
        mutation,
        expect: { sync: 0n, code: ER_INVALID_MSGPACK },
      };
    }
    case 'unknown-type': {
      req.header.set(0, pick(r, UNKNOWN_TYPES));
      // R15 (R9 for NOP without a body): "Unknown request type N" with the request's sync.
      const type = req.header.get(0) as number;
      const clean = type !== 12 || req.body === undefined;
      return {
        bytes: frameOf(plain()),
        mutation,
        expect: clean ? { sync, code: ER_UNKNOWN_REQUEST_TYPE } : { sync },
      };
    }
    case 'random-packet':
      return { bytes: frameOf(randomBytes(r, int(r, 40))), mutation, expect: {} };
  }
}

/** The last frame of a connection when it carries a framing fault. */
function tail(ctx: Ctx, fault: TailFault): Uint8Array {
  const r = ctx.r;
  const p = encodeAll([m([0, T.PING], [1, 999_999])]);
  switch (fault) {
    case 'prefix-not-uint':
      return Uint8Array.from([pick(r, [0xc1, 0xa3, 0x93, 0xd0, 0xca, 0xc0, 0xff, 0xe0]), ...p]);
    case 'prefix-too-big':
      return pick(r, [
        Uint8Array.from([0xce, 0xff, 0xff, 0xff, 0xff, ...p]),
        Uint8Array.from([0xce, 0x80, 0x00, 0x00, 0x01, ...p]),
        Uint8Array.from([0xcf, 0, 0, 0, 1, 0, 0, 0, 0, ...p]),
        Uint8Array.from([0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, ...p]),
      ]);
    case 'length-longer': {
      const f = frameOf(p);
      new DataView(f.buffer).setUint32(1, p.length + 1 + int(r, 1000));
      return f;
    }
    case 'length-shorter': {
      const f = frameOf(p);
      new DataView(f.buffer).setUint32(1, int(r, p.length));
      return f;
    }
    case 'cut-short':
      return frameOf(p).subarray(0, 1 + int(r, 5 + p.length - 1));
  }
}

// ---- replies ----

interface Reply {
  readonly status: number;
  readonly sync: bigint;
}

/** Parses reply frames from a connection's input; a reader that keeps the remainder. */
class ReplyReader {
  private pending: Buffer = Buffer.alloc(0);
  readonly replies: Reply[] = [];
  violation: string | undefined;
  push(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 5 && this.violation === undefined) {
      if (this.pending[0] !== 0xce) {
        this.violation = `reply length prefix 0x${this.pending[0]!.toString(16)}`;
        return;
      }
      const length = this.pending.readUInt32BE(1);
      if (this.pending.length < 5 + length) return;
      const frame = this.pending.subarray(5, 5 + length);
      this.pending = this.pending.subarray(5 + length);
      try {
        const reader = new MsgpackReader(frame);
        const n = reader.readMapHeader();
        let status = -1;
        let sync = 0n;
        for (let i = 0; i < n; i++) {
          const key = reader.readUint();
          if (key === 0) status = reader.readUint();
          else if (key === 1) {
            const at = reader.offset;
            if (frame[at] === 0xcf) {
              sync = frame.readBigUInt64BE(at + 1);
              reader.skip();
            } else sync = BigInt(reader.readUint());
          } else reader.skip();
        }
        this.replies.push({ status, sync });
      } catch (error) {
        this.violation = `undecodable reply header: ${(error as Error).message}`;
      }
    }
  }
}

// ---- connections ----

interface Conn {
  readonly socket: Socket;
  readonly reader: ReplyReader;
  readonly salt: Uint8Array;
  /** Resolves when the socket closed. */
  readonly closed: Promise<void>;
  isClosed(): boolean;
  /** Resolves when `cond()` holds or the socket closed; false after timeoutMs. */
  until(cond: () => boolean, timeoutMs: number): Promise<boolean>;
}

function randomLoopback(r: () => number): string {
  return `127.${1 + int(r, 254)}.${int(r, 256)}.${1 + int(r, 254)}`;
}

async function open(port: number, localAddress: string, timeoutMs: number): Promise<Conn> {
  const socket = tcpConnect({ host: '127.0.0.1', port, localAddress });
  socket.setNoDelay(true);
  const reader = new ReplyReader();
  let greeting = Buffer.alloc(0);
  let greeted = false;
  let closed = false;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  const closedPromise = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closed = true;
      wake();
      resolve();
    }),
  );
  socket.on('error', () => undefined);
  const salt = await new Promise<Uint8Array>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no greeting within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('data', (chunk: Buffer) => {
      if (!greeted) {
        greeting = Buffer.concat([greeting, chunk]);
        if (greeting.length < 128) return;
        greeted = true;
        clearTimeout(timer);
        try {
          resolve(decodeGreeting(greeting.subarray(0, 128)).salt);
        } catch (error) {
          reject(error as Error);
        }
        if (greeting.length > 128) reader.push(greeting.subarray(128));
      } else reader.push(chunk);
      wake();
    });
    socket.once('close', () => {
      clearTimeout(timer);
      if (!greeted) reject(new Error('closed before the greeting'));
    });
  });
  return {
    socket,
    reader,
    salt,
    closed: closedPromise,
    isClosed: () => closed,
    until(cond, ms) {
      if (cond()) return Promise.resolve(true);
      if (closed) return Promise.resolve(false);
      return new Promise((resolve) => {
        const check = () => {
          if (cond()) finish(true);
          else if (closed) finish(false);
        };
        const finish = (value: boolean) => {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(value);
        };
        const timer = setTimeout(() => finish(cond()), ms);
        waiters.add(check);
      });
    },
  };
}

function authFrame(sync: number, user: string, password: string, salt: Uint8Array): Uint8Array {
  return frameOf(
    encodeAll([
      m([0, T.AUTH], [1, sync]),
      m([0x23, user], [0x21, ['chap-sha1', chapSha1Scramble(password, salt)]]),
    ]),
  );
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// ---- one connection of each lane ----

export interface FuzzStats {
  frames: number;
  mutated: number;
  connections: number;
  replies: number;
  closesChecked: number;
  byMutation: Record<string, number>;
}

const GUEST_TYPES = [
  T.PING,
  T.SELECT,
  T.SELECT,
  T.INSERT,
  T.INSERT,
  T.REPLACE,
  T.UPDATE,
  T.UPSERT,
  T.DELETE,
  T.CALL,
  T.CALL_16,
  T.EVAL,
  T.EXECUTE,
  T.VOTE,
  T.VOTE_DEPRECATED,
  T.JOIN,
  T.SUBSCRIBE,
  T.FETCH_SNAPSHOT,
  T.REGISTER,
  T.ID,
];
const SUPER_TYPES = [T.EVAL, T.EVAL, T.CALL, T.CALL_16, T.SELECT, T.PING];
const REPLICATION_TYPES = [T.JOIN, T.SUBSCRIBE, T.SUBSCRIBE, T.VOTE, T.FETCH_SNAPSHOT, T.REGISTER];

type Lane = 'guest' | 'super' | 'replication';

/** Runs one connection; returns failures (empty when every rule held). */
async function connection(
  ctx: Ctx,
  port: number,
  lane: Lane,
  frameBudget: number,
  stats: FuzzStats,
  sent: (bytes: Uint8Array) => void,
): Promise<string[]> {
  const r = ctx.r;
  const failures: string[] = [];
  const conn = await open(port, randomLoopback(r), 5000);
  stats.connections++;
  try {
    let prefix: Uint8Array[] = [];
    let authReplies = 0;
    if (lane !== 'guest') {
      const [user, password] =
        lane === 'super' ? ['alice', STANDARD_USERS.alice!.password] : ['replicator', 'password'];
      prefix = [authFrame(1, user, password, conn.salt)];
      authReplies = 1;
    }
    if (lane === 'replication') {
      const f = packet(ctx, REPLICATION_TYPES, 2, 0.5);
      stats.frames += 2;
      stats.byMutation[f.mutation] = (stats.byMutation[f.mutation] ?? 0) + 1;
      if (f.mutation !== 'none') stats.mutated++;
      const bytes = concat([...prefix, f.bytes]);
      sent(bytes);
      conn.socket.write(bytes);
      // A stream (JOIN, SUBSCRIBE) or one reply: at least one packet after AUTH's, or a close.
      const got = await conn.until(() => conn.reader.replies.length >= 2, REPLY_TIMEOUT_MS);
      if (!got && !conn.isClosed())
        failures.push(
          `replication lane: no reply to ${f.mutation} request within ${REPLY_TIMEOUT_MS} ms`,
        );
      const auth = conn.reader.replies[0];
      if (auth !== undefined && auth.status !== 0)
        failures.push(
          `replication lane: AUTH as replicator failed with status 0x${auth.status.toString(16)}`,
        );
      stats.replies += conn.reader.replies.length;
      return failures;
    }
    const count = Math.max(1, Math.min(frameBudget, 1 + int(r, FRAMES_PER_CONNECTION)));
    const framed: Framed[] = [];
    let auths = 0;
    for (let i = 0; i < count; i++) {
      let f = packet(ctx, lane === 'guest' ? GUEST_TYPES : SUPER_TYPES, i + 2, 0.6);
      // AUTH failures are delayed (250 ms) and throttled: at most one per connection.
      if (isAuth(f)) {
        if (auths++ > 0)
          f = { bytes: frameOf(encodeAll([m([0, T.PING], [1, 1])])), mutation: 'none', expect: {} };
      }
      framed.push(f);
    }
    const fault: TailFault | undefined =
      r() < 0.15
        ? pick<TailFault>(r, [
            'prefix-not-uint',
            'prefix-too-big',
            'length-longer',
            'length-shorter',
            'cut-short',
          ])
        : undefined;
    const parts = [...prefix, ...framed.map((f) => f.bytes)];
    const lastTail = fault === undefined ? undefined : tail(ctx, fault);
    if (lastTail !== undefined) parts.push(lastTail);
    stats.frames += framed.length + authReplies + (fault === undefined ? 0 : 1);
    stats.mutated +=
      framed.filter((f) => f.mutation !== 'none').length + (fault === undefined ? 0 : 1);
    for (const f of framed) stats.byMutation[f.mutation] = (stats.byMutation[f.mutation] ?? 0) + 1;
    if (fault !== undefined) stats.byMutation[fault] = (stats.byMutation[fault] ?? 0) + 1;
    const bytes = concat(parts);
    sent(bytes);
    conn.socket.write(bytes);
    const what = `${lane} connection of ${framed.length} frames${fault === undefined ? '' : ` + ${fault}`}`;
    if (fault === 'prefix-not-uint' || fault === 'prefix-too-big') {
      // F1/F2: the error (sync 0, ER_INVALID_MSGPACK) is the last reply, then the server closes
      // by itself. Requests still in flight then are dropped with the connection (as 2.6's
      // iproto_connection_close discards their replies): at most one reply per packet.
      const closed = await closedWithin(conn, REPLY_TIMEOUT_MS);
      stats.closesChecked++;
      const replies = conn.reader.replies;
      stats.replies += replies.length;
      if (conn.reader.violation !== undefined) failures.push(`${what}: ${conn.reader.violation}`);
      const expected = authReplies + framed.length + 1;
      const last = replies.at(-1);
      if (!closed)
        failures.push(
          `${what}: the server did not close within ${REPLY_TIMEOUT_MS} ms after a framing error`,
        );
      else if (
        last === undefined ||
        last.status !== (0x8000 | ER_INVALID_MSGPACK) ||
        last.sync !== 0n
      )
        failures.push(
          `${what}: the last reply before the close is ${last === undefined ? 'none' : `status 0x${last.status.toString(16)} sync ${last.sync}`}, not the framing error${describe(framed, replies)}`,
        );
      else if (replies.length > expected) {
        if (process.env.FUZZ_DEBUG !== undefined)
          failures.push(...(await isolate(port, framed, lastTail)));
        failures.push(
          `${what}: ${replies.length} replies before the close, at most ${expected} expected${describe(framed, replies)}`,
        );
      }
      if (closed) failures.push(...checkReplies(what, framed, replies.slice(authReplies), 'some'));
      if (authReplies === 1 && replies[0] !== undefined && replies[0].status !== 0)
        failures.push(
          `${what}: AUTH as alice failed with status 0x${replies[0].status.toString(16)}`,
        );
      return failures;
    }
    const expected = authReplies + framed.length;
    const atLeast = fault === 'length-shorter';
    // A shorter length makes packets of the rest: they may wait for bytes that never come.
    const answered = await conn.until(
      () => conn.reader.replies.length >= expected,
      atLeast ? SHORTER_WAIT_MS : REPLY_TIMEOUT_MS,
    );
    const replies = conn.reader.replies;
    if (conn.reader.violation !== undefined) failures.push(`${what}: ${conn.reader.violation}`);
    if (!answered && !atLeast)
      failures.push(
        `${what}: ${replies.length} of ${expected} replies within ${REPLY_TIMEOUT_MS} ms${conn.isClosed() ? ' (the server closed)' : ' (hang)'}${describe(framed, replies)}`,
      );
    if (answered || atLeast)
      failures.push(
        ...checkReplies(what, framed, replies.slice(authReplies), atLeast ? 'some' : 'all'),
      );
    if (answered && authReplies === 1 && replies[0]!.status !== 0)
      failures.push(
        `${what}: AUTH as alice failed with status 0x${replies[0]!.status.toString(16)}`,
      );
    if (!conn.isClosed()) {
      // Our FIN: a server waiting for the rest of a frame (cut short, longer length) closes too.
      conn.socket.end();
      const closed = await closedWithin(conn, 5000);
      stats.closesChecked++;
      if (!closed) failures.push(`${what}: the server did not close after the client's FIN`);
    }
    stats.replies += conn.reader.replies.length;
    if (answered && !atLeast && conn.reader.replies.length !== expected)
      failures.push(
        `${what}: ${conn.reader.replies.length} replies to ${expected} packets${describe(framed, conn.reader.replies)}`,
      );
    return failures;
  } finally {
    conn.socket.destroy();
  }
}

/** With FUZZ_DEBUG set: the shortest prefix of `framed` (+ a PING) not answered once per packet. */
async function isolate(
  port: number,
  framed: readonly Framed[],
  tailBytes?: Uint8Array,
): Promise<string[]> {
  const count = async (n: number, withTail: boolean): Promise<number> => {
    const conn = await open(port, '127.0.0.1', 5000);
    const parts = framed.slice(0, n).map((f) => f.bytes);
    if (withTail && tailBytes !== undefined) parts.push(tailBytes);
    else parts.push(frameOf(encodeAll([m([0, T.PING], [1, 4242])])));
    conn.socket.write(concat(parts));
    await conn.until(() => conn.reader.replies.length >= n + 1, 3000);
    await sleep(500);
    conn.socket.destroy();
    return conn.reader.replies.length;
  };
  const out: string[] = [];
  for (const withTail of [false, true]) {
    if ((await count(framed.length, withTail)) === framed.length + 1) {
      out.push(`isolated (tail ${withTail}): the whole list is answered once per packet`);
      continue;
    }
    let lo = 0;
    let hi = framed.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((await count(mid, withTail)) !== mid + 1) hi = mid;
      else lo = mid + 1;
    }
    const got = await count(lo, withTail);
    out.push(
      `isolated (tail ${withTail}): prefix of ${lo} frames gives ${got} replies; frames ${framed
        .slice(Math.max(0, lo - 3), lo)
        .map((f) => `${f.mutation} ${Buffer.from(f.bytes).toString('hex')}`)
        .join(' | ')}`,
    );
  }
  return out;
}

/** With FUZZ_DEBUG set: the frames and replies of a failing connection. */
function describe(framed: readonly Framed[], replies: readonly Reply[]): string {
  if (process.env.FUZZ_DEBUG === undefined) return '';
  const frames = framed.map(
    (f, i) =>
      `${i}:${f.mutation}:${f.expect.sync ?? '?'}:${Buffer.from(f.bytes.subarray(0, 48)).toString('hex')}`,
  );
  const got = replies.map((r) => `${r.sync}/${r.status.toString(16)}`);
  return `\n  frames ${frames.join('\n    ')}\n  replies ${got.join(' ')}`;
}

function isAuth(f: Framed): boolean {
  // The type key (00) is the header's first entry: map header, 00, 07.
  return f.bytes[6] === 0x00 && f.bytes[7] === T.AUTH;
}

/**
 * The replies of the packets whose answer is predictable. 'all': each has its reply; 'some':
 * a missing reply is allowed (the connection closed, or a lying length made packets of the rest).
 */
function checkReplies(
  what: string,
  framed: readonly Framed[],
  replies: readonly Reply[],
  mode: 'all' | 'some',
): string[] {
  const failures: string[] = [];
  const bySync = new Map<bigint, Reply[]>();
  for (const reply of replies) {
    const list = bySync.get(reply.sync) ?? [];
    list.push(reply);
    bySync.set(reply.sync, list);
  }
  let headerErrors = 0;
  for (const f of framed) {
    if (f.expect.sync === undefined) continue;
    if (f.expect.sync === 0n) {
      headerErrors++;
      continue;
    }
    // A mutated frame may carry the same sync: take the reply that fits if there is one.
    const list = bySync.get(f.expect.sync) ?? [];
    const fits = (r: Reply) => f.expect.code === undefined || r.status === (0x8000 | f.expect.code);
    const at = Math.max(0, list.findIndex(fits));
    const reply = list.splice(at, 1)[0];
    if (reply === undefined) {
      if (mode === 'all')
        failures.push(`${what}: no reply with sync ${f.expect.sync} (${f.mutation})`);
      continue;
    }
    if (!fits(reply))
      failures.push(
        `${what}: a ${f.mutation} frame with sync ${f.expect.sync} got status 0x${reply.status.toString(16)}, expected 0x${(0x8000 | f.expect.code!).toString(16)}: ${Buffer.from(f.bytes.subarray(0, 120)).toString('hex')}`,
      );
  }
  const zero = (bySync.get(0n) ?? []).filter((r) => r.status === (0x8000 | ER_INVALID_MSGPACK));
  if (mode === 'all' && zero.length < headerErrors)
    failures.push(
      `${what}: ${zero.length} "packet header" errors with sync 0 for ${headerErrors} headers that are not maps`,
    );
  return failures.slice(0, 5);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Whether the connection closed within `ms` (its timer cleared either way). */
async function closedWithin(conn: Conn, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      conn.closed.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// ---- checks of the server as a whole ----

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const line = /VmRSS:\s+(\d+) kB/.exec(status);
  return line === null ? 0 : Number(line[1]) * 1024;
}

/** A PING on a fresh connection: its latency in ms, or a failure text. */
async function ping(port: number): Promise<number | string> {
  const started = performance.now();
  let conn: Conn;
  try {
    conn = await open(port, '127.0.0.1', PING_TIMEOUT_MS);
  } catch (error) {
    return `fresh connection failed: ${(error as Error).message}`;
  }
  try {
    conn.socket.write(frameOf(encodeAll([m([0, T.PING], [1, 77])])));
    const left = PING_TIMEOUT_MS - (performance.now() - started);
    const ok = await conn.until(() => conn.reader.replies.length >= 1, Math.max(1, left));
    const reply = conn.reader.replies[0];
    if (!ok || reply === undefined)
      return `PING on a fresh connection: no reply within ${PING_TIMEOUT_MS} ms`;
    if (reply.status !== 0 || reply.sync !== 77n)
      return `PING reply status ${reply.status} sync ${reply.sync}`;
    return performance.now() - started;
  } finally {
    conn.socket.destroy();
  }
}

// ---- the run ----

export interface FuzzOptions {
  readonly seed: number;
  /** Frames to send (the campaign's rounds). */
  readonly frames: number;
  readonly deadlineMs: number;
  readonly progress?: (line: string) => void;
}

export interface FuzzResult {
  readonly stats: FuzzStats;
  readonly knownChecked: number;
  readonly lost: number;
  readonly diverged: number;
  readonly failedStarts: number;
  readonly failures: string[];
  readonly maxRssBytes: number;
  readonly maxPingMs: number;
  readonly seconds: number;
}

function knownTuple(i: number): unknown[] {
  return [i, `known-${i}`, i * 3];
}

async function checkKnown(client: Client): Promise<{ lost: number; diverged: number }> {
  const rows = (await client.select('known')) as unknown[][];
  const have = new Map(rows.map((t) => [Number(t[0]), t]));
  let lost = 0;
  let diverged = 0;
  for (let i = 1; i <= KNOWN_TUPLES; i++) {
    const t = have.get(i);
    if (t === undefined) lost++;
    else if (JSON.stringify(t) !== JSON.stringify(knownTuple(i))) diverged++;
    have.delete(i);
  }
  diverged += have.size;
  return { lost, diverged };
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzResult> {
  const started = performance.now();
  const progress = options.progress ?? (() => {});
  const replay = `SEED=${options.seed} ROUNDS=${options.frames} CAMPAIGNS=fuzz npm run chaos`;
  const stats: FuzzStats = {
    frames: 0,
    mutated: 0,
    connections: 0,
    replies: 0,
    closesChecked: 0,
    byMutation: {},
  };
  const failures: string[] = [];
  let failedStarts = 0;
  let maxRss = 0;
  let maxPing = 0;
  const cluster = new Cluster('fuzz');
  try {
    const node: Node = cluster.node('fuzzed', 'tarantype', { users: STANDARD_USERS });
    await node.start(30_000);
    let admin = await node.client();
    await admin.createSpace('fuzz');
    await admin.createIndex('fuzz', 'pk', { parts: [1, 'unsigned'] });
    await admin.createSpace('known');
    await admin.createIndex('known', 'pk', { parts: [1, 'unsigned'] });
    for (let i = 1; i <= KNOWN_TUPLES; i++) await admin.insert('known', knownTuple(i));
    await admin.box('box.schema.user.grant', ['guest', 'read,write', 'space', 'fuzz']);
    await admin.box('box.schema.user.grant', ['guest', 'read', 'space', 'known']);
    await admin.snapshot();
    const info = await admin.info();
    const spaces = (await admin.iproto.select(281, 2, ['fuzz'], { iterator: 'EQ' })) as unknown[][];
    const knownRow = (await admin.iproto.select(281, 2, ['known'], {
      iterator: 'EQ',
    })) as unknown[][];
    const ctx: Ctx = {
      r: prng(options.seed),
      fuzzSpace: Number(spaces[0]![0]),
      knownSpace: Number(knownRow[0]![0]),
      clusterUuid: info.cluster.uuid,
      instanceUuid: info.uuid,
    };
    let lastProgress = started;
    let batch = 0;
    while (stats.frames < options.frames && performance.now() - started < options.deadlineMs) {
      batch++;
      // Each batch and each connection has its own PRNG: a replay gives every connection the
      // same frames whatever the timing of the others.
      const r = prng(mix(options.seed, batch));
      const lanes: Lane[] = Array.from({ length: CONCURRENCY }, () => {
        const x = r();
        return x < 0.04 ? 'replication' : x < 0.14 ? 'super' : 'guest';
      });
      const budget = Math.max(1, Math.ceil((options.frames - stats.frames) / CONCURRENCY));
      const results = await Promise.all(
        lanes.map((lane, i) =>
          connection(
            { ...ctx, r: prng(mix(options.seed, batch * 64 + i + 1)) },
            node.port,
            lane,
            budget,
            stats,
            (bytes) => dump(batch, i, bytes),
          ).catch((error: unknown) => [`${lane} connection: ${(error as Error).message}`]),
        ),
      );
      const batchFailures = results.flat();
      // The server as a whole, after every batch.
      if (!node.running)
        batchFailures.push(`the server died: exit ${node.exitCode ?? node.exitSignal}`);
      else {
        const pong = await ping(node.port);
        if (typeof pong === 'string') batchFailures.push(pong);
        else maxPing = Math.max(maxPing, pong);
        const rss = rssBytes(node.pid!);
        maxRss = Math.max(maxRss, rss);
        if (rss > RSS_LIMIT_BYTES)
          batchFailures.push(
            `RSS ${(rss / 2 ** 20).toFixed(0)} MiB above ${RSS_LIMIT_BYTES / 2 ** 20} MiB`,
          );
      }
      for (const f of batchFailures) {
        const line = `batch ${batch} (frames ${stats.frames}): ${f}\n  replay: ${replay}`;
        failures.push(line);
        progress(line);
      }
      if (!node.running) break;
      if (failures.length > 50) break;
      if (batch % 20 === 0) {
        const [count] = await admin.box<[number]>('box.space.fuzz:count');
        if (count > FUZZ_ROWS_MAX) await admin.box('box.space.fuzz:truncate');
      }
      const now = performance.now();
      if (now - lastProgress > 3000) {
        lastProgress = now;
        const rate = stats.frames / ((now - started) / 1000);
        progress(
          `fuzz: ${stats.frames}/${options.frames} frames (${rate.toFixed(0)}/s), ${stats.mutated} mutated, ${stats.connections} connections, max RSS ${(maxRss / 2 ** 20).toFixed(0)} MiB, max PING ${maxPing.toFixed(0)} ms, ${failures.length} failures`,
        );
      }
    }
    // Data intact, then a clean restart from the data directory, then intact again.
    let knownChecked = 0;
    let lost = 0;
    let diverged = 0;
    if (node.running) {
      const before = await checkKnown(admin);
      knownChecked += KNOWN_TUPLES;
      lost += before.lost;
      diverged += before.diverged;
      admin.destroy();
      try {
        await node.restart('stop');
        admin = await node.client();
        const after = await checkKnown(admin);
        knownChecked += KNOWN_TUPLES;
        lost += after.lost;
        diverged += after.diverged;
        const pong = await ping(node.port);
        if (typeof pong === 'string')
          failures.push(`after the restart: ${pong}\n  replay: ${replay}`);
      } catch (error) {
        failedStarts++;
        failures.push(`restart failed: ${(error as Error).message}\n  replay: ${replay}`);
      }
    }
    return {
      stats,
      knownChecked,
      lost,
      diverged,
      failedStarts,
      failures,
      maxRssBytes: maxRss,
      maxPingMs: maxPing,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await cluster.cleanup();
  }
}
