import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decode,
  encode,
  Float64,
  MsgpackError,
  MsgpackExtension,
  MsgpackReader,
  MsgpackWriter,
  plainView,
} from './msgpack.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
const params = { seed, numRuns: 500 };

describe('canonical encoding (as Tarantool writes it)', () => {
  const cases: Array<[unknown, string]> = [
    [0, '00'],
    [127, '7f'],
    [128, 'cc80'],
    [255, 'ccff'],
    [256, 'cd0100'],
    [65535, 'cdffff'],
    [65536, 'ce00010000'],
    [2 ** 32 - 1, 'ceffffffff'],
    [2 ** 32, 'cf0000000100000000'],
    [2 ** 40, 'cf0000010000000000'],
    [Number.MAX_SAFE_INTEGER, 'cf001fffffffffffff'],
    [2n ** 64n - 1n, 'cfffffffffffffffff'],
    [-1, 'ff'],
    [-32, 'e0'],
    [-33, 'd0df'],
    [-128, 'd080'],
    [-129, 'd1ff7f'],
    [-32769, 'd2ffff7fff'],
    [-(2 ** 40), 'd3ffffff0000000000'],
    [1.5, 'cb3ff8000000000000'],
    [new Float64(1), 'cb3ff0000000000000'],
    [null, 'c0'],
    [undefined, 'c0'],
    [true, 'c3'],
    [false, 'c2'],
    ['', 'a0'],
    ['abc', 'a3616263'],
    ['é', 'a2c3a9'],
    ['x'.repeat(32), `d920${'78'.repeat(32)}`],
    [[], '90'],
    [[1, 'a'], '9201a161'],
    [{}, '80'],
    [{ a: 1 }, '81a16101'],
    [new Map([[0x10, 512]]), '8110cd0200'],
    [new Uint8Array([1, 2]), 'c4020102'],
    [new MsgpackExtension(2, new Uint8Array(16)), `d802${'00'.repeat(16)}`],
  ];
  it.each(cases)('encodes %o as %s', (value, expected) => {
    expect(hex(encode(value))).toBe(expected);
  });

  it('uses the smallest array, map and str headers at each boundary', () => {
    expect(hex(encode(new Array(15).fill(0))).slice(0, 2)).toBe('9f');
    expect(hex(encode(new Array(16).fill(0))).slice(0, 6)).toBe('dc0010');
    expect(hex(encode(new Array(65536).fill(0))).slice(0, 10)).toBe('dd00010000');
    expect(hex(encode('x'.repeat(256))).slice(0, 6)).toBe('da0100');
    expect(hex(encode('x'.repeat(65536))).slice(0, 10)).toBe('db00010000');
    const bigMap = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i]));
    expect(hex(encode(bigMap)).slice(0, 6)).toBe('de0010');
  });

  it('writes the fixed-size forms iproto needs', () => {
    const writer = new MsgpackWriter(4);
    writer.uint32Fixed(5);
    writer.uint64Fixed(9);
    expect(hex(writer.toBytes())).toBe('ce00000005cf0000000000000009');
  });
});

describe('decoding', () => {
  it('the typed readers read every fixed-width form, signs and both float widths included', () => {
    const read = (text: string, as: 'int' | 'uint' | 'double') => {
      const reader = new MsgpackReader(Buffer.from(text, 'hex'));
      const value =
        as === 'int' ? reader.readInt() : as === 'uint' ? reader.readUint() : reader.readDouble();
      expect(reader.offset).toBe(text.length / 2);
      return value;
    };
    expect(read('d080', 'int')).toBe(-128);
    expect(read('d07f', 'int')).toBe(127);
    expect(read('d18000', 'int')).toBe(-32768);
    expect(read('d17fff', 'int')).toBe(32767);
    expect(read('d280000000', 'int')).toBe(-2147483648);
    expect(read('d27fffffff', 'int')).toBe(2147483647);
    expect(read('cdffff', 'int')).toBe(65535);
    expect(read('ceffffffff', 'uint')).toBe(2 ** 32 - 1);
    expect(read('cf001fffffffffffff', 'uint')).toBe(Number.MAX_SAFE_INTEGER);
    expect(read('ca3fc00000', 'double')).toBe(1.5);
    expect(read('cabf800000', 'double')).toBe(-1);
    expect(read('cb3ff8000000000000', 'double')).toBe(1.5);
    expect(read('cbc08f400000000000', 'double')).toBe(-1000);
    expect(read('cb7ff0000000000000', 'double')).toBe(Number.POSITIVE_INFINITY);
    expect(decode(Buffer.from('d4ff01', 'hex'))).toEqual(
      new MsgpackExtension(-1, new Uint8Array([1])),
    );
    expect(decode(Buffer.from('dc0002c0c3', 'hex'))).toEqual([null, true]);
    expect(decode(Buffer.from('de0001a16101', 'hex'))).toEqual({ a: 1 });
  });

  it('accepts non-canonical integer forms', () => {
    expect(decode(Buffer.from('cd0005', 'hex'))).toBe(5);
    expect(decode(Buffer.from('cf0000000000000005', 'hex'))).toBe(5);
    expect(decode(Buffer.from('d3fffffffffffffffb', 'hex'))).toBe(-5);
    expect(decode(Buffer.from('ca3fc00000', 'hex'))).toBe(1.5);
  });

  it('returns bigint outside ±2^53 and objects or Maps for maps', () => {
    expect(decode(Buffer.from('cfffffffffffffffff', 'hex'))).toBe(2n ** 64n - 1n);
    expect(decode(Buffer.from('81a16101', 'hex'))).toEqual({ a: 1 });
    expect(decode(Buffer.from('82a1610101a162', 'hex'))).toEqual(
      new Map<unknown, unknown>([
        ['a', 1],
        [1, 'b'],
      ]),
    );
  });

  it('rejects trailing bytes, truncation at every prefix and invalid type bytes', () => {
    const bytes = encode({ a: [1, 'xyz', new Uint8Array(3), 2 ** 40, -70000, 1.25, { b: null }] });
    for (let n = 0; n < bytes.length; n++) {
      expect(() => decode(bytes.subarray(0, n)), `prefix ${n}`).toThrow(MsgpackError);
    }
    expect(() => decode(Buffer.concat([bytes, Buffer.from([0])]))).toThrow(/trailing/);
    expect(() => decode(Buffer.from([0xc1]))).toThrow(MsgpackError);
  });

  it('bounds container lengths by the data present (no huge allocations from a tiny packet)', () => {
    expect(() => decode(Buffer.from('dd7fffffff', 'hex'))).toThrow(/longer than the data/);
    expect(() => decode(Buffer.from('df7fffffff', 'hex'))).toThrow(/longer than the data/);
    const reader = new MsgpackReader(Buffer.from('dd7fffffff', 'hex'));
    expect(() => reader.skip()).toThrow(MsgpackError);
  });

  it('limits nesting depth', () => {
    const deep = Buffer.alloc(2000, 0x91);
    expect(() => decode(deep)).toThrow(/nested deeper/);
  });
});

// Values in the mapping of msgpack.ts (no NaN: NaN !== NaN; -0 encodes as integer 0).
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.integer({ min: -(2 ** 31), max: 2 ** 32 }),
    fc.maxSafeInteger(),
    fc
      .bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n })
      .filter((b) => b < -(2n ** 53n) || b > 2n ** 53n),
    fc.double({ noNaN: true }).filter((d) => !Number.isInteger(d)),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 300 }),
  ),
  node: fc.oneof(
    { depthSize: 'small' },
    tie('leaf'),
    fc.array(tie('node'), { maxLength: 20 }),
    fc.dictionary(
      fc.string({ maxLength: 8 }).filter((k) => k !== '__proto__'),
      tie('node'),
      { maxKeys: 8 },
    ),
  ),
})).node;

describe('properties (seeded: SEED=<n> replays)', () => {
  it(`round-trips every value (seed ${seed})`, () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(decode(encode(v))).toEqual(v);
      }),
      params,
    );
  });

  it(`skip() and readRaw() consume exactly one value (seed ${seed})`, () => {
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 5 }), (values) => {
        const parts = values.map((v) => encode(v));
        const all = Buffer.concat(parts);
        const reader = new MsgpackReader(all);
        for (const part of parts) {
          const raw = reader.readRaw();
          expect(hex(raw)).toBe(hex(part));
        }
        expect(reader.remaining).toBe(0);
      }),
      params,
    );
  });

  it(`re-encoding decoded canonical bytes gives the same bytes (seed ${seed})`, () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(hex(encode(decode(encode(v))))).toBe(hex(encode(v)));
      }),
      params,
    );
  });
});

describe('plainView and toBytes', () => {
  it('views a Buffer range as a plain Uint8Array over the same memory', () => {
    const chunk = Buffer.from('0123456789abcdef');
    const view = plainView(chunk, 3, 7);
    expect(view.constructor).toBe(Uint8Array);
    expect(Buffer.from(view).toString()).toBe('3456');
    chunk[3] = 0x78;
    expect(view[0]).toBe(0x78);
  });

  it('copies what was written, short and long, into plain Uint8Arrays of their own', () => {
    for (const n of [0, 1, 63, 64, 65, 300]) {
      const w = new MsgpackWriter(8);
      for (let i = 0; i < n; i++) w.byte(i & 0xff);
      const copy = w.toBytes();
      expect(copy.constructor).toBe(Uint8Array);
      expect([...copy]).toEqual(Array.from({ length: n }, (_, i) => i & 0xff));
      w.bytes.fill(0xee);
      expect([...copy]).toEqual(Array.from({ length: n }, (_, i) => i & 0xff));
    }
  });
});
