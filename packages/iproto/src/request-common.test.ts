// The one-pass decoder of common requests against the general decoder: same result whenever
// it answers, and it answers for the shapes net.box and tarantool-driver send.
import { IprotoType, MsgpackWriter } from '@tarantype/core';
import { describe, expect, it } from 'vitest';
import {
  decodeAnyRequest,
  decodeCommonRequest,
  decodeRequest,
  type Request,
  RequestDecodeError,
} from './request.js';

type Entries = ReadonlyArray<readonly [number, unknown]>;

function packet(header: Entries, body?: Entries | Uint8Array): Uint8Array {
  const w = new MsgpackWriter();
  const map = (entries: Entries) => {
    w.mapHeader(entries.length);
    for (const [k, v] of entries) {
      w.uint(k);
      w.value(v);
    }
  };
  map(header);
  if (body instanceof Uint8Array) w.raw(body);
  else if (body !== undefined) map(body);
  // Inside a larger buffer, as packets cut from a socket chunk are.
  const bytes = w.toBytes();
  const chunk = Buffer.alloc(bytes.length + 16);
  chunk.set(bytes, 7);
  return chunk.subarray(7, 7 + bytes.length);
}

/** A request's fields, with raw arrays as plain byte lists, for comparison. */
function plain(r: Request | RequestDecodeError): unknown {
  if (r instanceof RequestDecodeError) return { error: r.error.message, sync: r.sync };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r))
    out[k] = v instanceof Uint8Array ? { bytes: [...v], plain: v.constructor === Uint8Array } : v;
  return out;
}

const header = (type: number, sync: number, schemaVersion?: number): Entries =>
  schemaVersion === undefined
    ? [
        [0, type],
        [1, sync],
      ]
    : [
        [0, type],
        [1, sync],
        [5, schemaVersion],
      ];

/** The requests clients send: each must take the one-pass path. */
const COMMON: readonly Uint8Array[] = [
  packet(header(IprotoType.PING, 1)),
  packet(header(IprotoType.PING, 2), []),
  packet(header(IprotoType.SELECT, 3, 80), [
    [0x10, 512],
    [0x11, 0],
    [0x12, 0xffffffff],
    [0x13, 0],
    [0x14, 0],
    [0x20, [12345]],
  ]),
  packet(header(IprotoType.SELECT, 2 ** 40), [
    [0x10, 512],
    [0x12, 10],
    [0x20, []],
  ]),
  packet(header(IprotoType.INSERT, 70000, 12), [
    [0x10, 512],
    [0x21, [1, 'x'.repeat(32), 2, [3, { a: 1 }], null, 1.5]],
  ]),
  packet(header(IprotoType.REPLACE, 5), [
    [0x10, 600],
    [0x21, [2 ** 33, -1]],
  ]),
  packet(header(IprotoType.UPDATE, 6, 1), [
    [0x10, 512],
    [0x11, 1],
    [0x15, 1],
    [0x20, [7]],
    [0x21, [['+', 3, 1]]],
  ]),
  packet(header(IprotoType.DELETE, 7), [
    [0x10, 512],
    [0x11, 2],
    [0x20, [7, 'a']],
  ]),
  packet(header(IprotoType.UPSERT, 8), [
    [0x10, 512],
    [0x15, 1],
    [0x21, [9, 'b']],
    [0x28, [['=', 2, 'c']]],
  ]),
];

/** Valid requests in shapes left to the general path. */
const UNCOMMON: readonly Uint8Array[] = [
  // a header key other than type, sync and schema version
  packet(
    [
      [0, IprotoType.PING],
      [1, 1],
      [0x0a, 3],
    ],
    [],
  ),
  // a body key the DML decoder skips
  packet(header(IprotoType.SELECT, 9), [
    [0x10, 512],
    [0x12, 1],
    [0x20, [1]],
    [0x40, 'ignored'],
  ]),
  // a mandatory key missing: the general path's error
  packet(header(IprotoType.SELECT, 10), [
    [0x10, 512],
    [0x20, [1]],
  ]),
  // no body
  packet(header(IprotoType.INSERT, 11)),
  // CALL
  packet(header(IprotoType.CALL, 12), [
    [0x22, 'f'],
    [0x21, []],
  ]),
];

function bigSync(): Uint8Array {
  const w = new MsgpackWriter();
  w.mapHeader(2);
  w.uint(0);
  w.uint(IprotoType.PING);
  w.uint(1);
  w.value(2n ** 60n);
  return w.toBytes();
}

/** Every truncation and every single-byte change of `bytes`. */
function* mutations(bytes: Uint8Array): Generator<Uint8Array> {
  for (let n = 0; n < bytes.length; n++) yield bytes.subarray(0, n);
  const values = [0x00, 0x01, 0x05, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x9f, 0xc0, 0xc1, 0xcc, 0xcd];
  for (const v of [...values, 0xce, 0xcf, 0xd0, 0xdc, 0xdd, 0xde, 0xe0, 0xff]) {
    for (let i = 0; i < bytes.length; i++) {
      const copy = Uint8Array.from(bytes);
      copy[i] = v;
      yield copy;
    }
  }
}

describe('decodeCommonRequest', () => {
  it('decodes the requests clients send, as the general decoder does', () => {
    for (const bytes of COMMON) {
      const fast = decodeCommonRequest(bytes);
      expect(fast, `one-pass path for ${Buffer.from(bytes).toString('hex')}`).toBeDefined();
      expect(plain(fast!)).toEqual(plain(decodeAnyRequest(bytes)));
      expect(plain(decodeRequest(bytes))).toEqual(plain(fast!));
    }
  });

  it('views the packet without copying, as plain Uint8Arrays', () => {
    const bytes = COMMON[4]!;
    const r = decodeCommonRequest(bytes);
    if (r?.type !== IprotoType.INSERT) throw new Error('not an insert');
    expect(r.tuple.constructor).toBe(Uint8Array);
    expect(r.tuple.buffer).toBe(bytes.buffer);
    expect(r.tuple.byteOffset + r.tuple.length).toBe(bytes.byteOffset + bytes.length);
  });

  it('leaves other shapes to the general path', () => {
    // bigSync: a sync beyond 2^53 (a bigint)
    for (const bytes of [...UNCOMMON, bigSync()]) {
      expect(decodeCommonRequest(bytes), Buffer.from(bytes).toString('hex')).toBeUndefined();
      expect(plain(decodeRequest(bytes))).toEqual(plain(decodeAnyRequest(bytes)));
    }
  });

  it('agrees with the general decoder on every truncation and byte change', () => {
    let answered = 0;
    let total = 0;
    for (const bytes of [...COMMON, ...UNCOMMON]) {
      for (const mutated of mutations(bytes)) {
        total++;
        const fast = decodeCommonRequest(mutated);
        if (fast === undefined) continue;
        answered++;
        expect(plain(fast), Buffer.from(mutated).toString('hex')).toEqual(
          plain(decodeAnyRequest(mutated)),
        );
      }
    }
    // The mutations include valid requests (changed values): the one-pass path must answer
    // some of them, or this test compares nothing.
    expect(answered).toBeGreaterThan(total / 20);
  });
});
