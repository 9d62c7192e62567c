import { describe, expect, it } from 'vitest';
import { encode, MsgpackError, MsgpackReader } from './msgpack.js';
import {
  isArrayByte,
  MP_FIXED_SIZE,
  MP_HEADER_SIZE,
  MP_ITEMS_PER_COUNT,
  MP_LENGTH_WIDTH,
  MP_SHAPE,
  MP_TAG_LENGTH_MASK,
  MP_TYPE,
  MpType,
  mpCheck,
  mpCheckError,
  mpLengthField,
  mpReadUintAt,
  mpSkip,
  mpTypeOfByte,
} from './msgpack-grammar.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const repeat = (byte: string, n: number) => byte.repeat(n);

/** One value per first byte shape, hand-encoded from the MessagePack spec, with its family. */
const CORPUS: Array<[string, string, number]> = [
  ['positive fixint', '7f', MpType.UINT],
  ['negative fixint', 'e0', MpType.INT],
  ['nil', 'c0', MpType.NIL],
  ['false', 'c2', MpType.BOOL],
  ['true', 'c3', MpType.BOOL],
  ['uint 8', 'ccff', MpType.UINT],
  ['uint 16', 'cdffff', MpType.UINT],
  ['uint 32', 'ceffffffff', MpType.UINT],
  ['uint 64', 'cf0000000100000000', MpType.UINT],
  ['int 8', 'd080', MpType.INT],
  ['int 16', 'd18000', MpType.INT],
  ['int 32', 'd280000000', MpType.INT],
  ['int 64', 'd38000000000000000', MpType.INT],
  ['float 32', 'ca3fc00000', MpType.FLOAT],
  ['float 64', 'cb3ff8000000000000', MpType.DOUBLE],
  ['fixstr', 'a3616263', MpType.STR],
  ['empty fixstr', 'a0', MpType.STR],
  ['fixstr of 30 bytes', `be${repeat('61', 30)}`, MpType.STR],
  ['fixstr of 31 bytes (the longest)', `bf${repeat('61', 31)}`, MpType.STR],
  ['str 8', `d903${repeat('61', 3)}`, MpType.STR],
  ['str 16', `da0100${repeat('61', 256)}`, MpType.STR],
  ['str 32', `db00000002${repeat('61', 2)}`, MpType.STR],
  ['bin 8', 'c4020102', MpType.BIN],
  ['bin 16', `c50003${repeat('00', 3)}`, MpType.BIN],
  ['bin 32', `c600000001ff`, MpType.BIN],
  ['fixext 1', 'd40101', MpType.EXT],
  ['fixext 2', 'd5010102', MpType.EXT],
  ['fixext 4', `d602${repeat('00', 4)}`, MpType.EXT],
  ['fixext 8', `d703${repeat('00', 8)}`, MpType.EXT],
  ['fixext 16 (uuid)', `d802${repeat('11', 16)}`, MpType.EXT],
  ['ext 8', `c70301${repeat('00', 3)}`, MpType.EXT],
  ['ext 16', `c8000201${repeat('00', 2)}`, MpType.EXT],
  ['ext 32', `c90000000101ff`, MpType.EXT],
  ['fixarray', '93 01 a161 c0', MpType.ARRAY],
  ['empty fixarray', '90', MpType.ARRAY],
  ['array 16', `dc0011${repeat('01', 17)}`, MpType.ARRAY],
  ['array 32', 'dd00000002 01 02', MpType.ARRAY],
  ['fixmap', '82 01 02 a161 90', MpType.MAP],
  ['map 16', 'de0001 01 c0', MpType.MAP],
  ['map 32', 'df00000001 a16b 9191c0', MpType.MAP],
  ['nested', '92 81 01 92 02 d802' + repeat('00', 16) + ' dc0001 a0', MpType.ARRAY],
];

describe('msgpack grammar', () => {
  it('gives every first byte of the corpus its family and extent, checked and unchecked', () => {
    for (const [name, bytes, family] of CORPUS) {
      const b = hex(bytes);
      expect(mpTypeOfByte(b[0]!), name).toBe(family);
      expect(mpSkip(b, 0), name).toBe(b.length);
      const reader = new MsgpackReader(b);
      reader.skip();
      expect(reader.offset, name).toBe(b.length);
      // A value inside other bytes: the extent does not depend on what follows.
      const framed = new Uint8Array([0xc0, ...b, 0x01]);
      expect(mpSkip(framed, 1), name).toBe(b.length + 1);
      const inner = new MsgpackReader(framed, 1);
      inner.skip();
      expect(inner.offset, name).toBe(b.length + 1);
    }
  });

  it('refuses every truncated prefix when checked', () => {
    for (const [name, bytes] of CORPUS) {
      const b = hex(bytes);
      for (let cut = 0; cut < b.length; cut++) {
        const reader = new MsgpackReader(b, 0, cut);
        expect(() => reader.skip(), `${name} cut at ${cut}`).toThrow(MsgpackError);
      }
    }
  });

  it('refuses 0xc1 in both walks, also inside a container', () => {
    expect(MP_TYPE[0xc1]).toBe(MpType.INVALID);
    for (const bytes of ['c1', '92 01 c1', '81 c1 01']) {
      const b = hex(bytes);
      expect(() => mpSkip(b, 0)).toThrow(/invalid type byte 0xc1/);
      expect(() => new MsgpackReader(b).skip()).toThrow(/invalid type byte 0xc1/);
    }
  });

  it('refuses a container count larger than the data before walking it', () => {
    expect(() => new MsgpackReader(hex('dd7fffffff')).skip()).toThrow(/longer than the data/);
    expect(() => new MsgpackReader(hex('df7fffffff')).skip()).toThrow(/longer than the data/);
  });

  it("mpCheck: the extent, or -1 and the reader's error for what is wrong", () => {
    for (const [name, bytes] of CORPUS) {
      const b = hex(bytes);
      expect(mpCheck(b, 0, b.length), name).toBe(b.length);
      for (let cut = 0; cut < b.length; cut++) {
        expect(mpCheck(b, 0, cut), `${name} cut at ${cut}`).toBe(-1);
        expect(mpCheckError(b).message).toMatch(
          /unexpected end of data at offset|longer than the data/,
        );
      }
    }
    const framed = hex('c0 92 01 a2 6869 ff');
    expect(mpCheck(framed, 1, framed.length)).toBe(6);
    expect(mpCheck(hex('92 01 c1'), 0, 3)).toBe(-1);
    expect(mpCheckError(hex('92 01 c1')).message).toBe('invalid type byte 0xc1 at offset 2');
    expect(mpCheck(hex('dd7fffffff'), 0, 5)).toBe(-1);
    expect(mpCheckError(hex('dd7fffffff')).message).toBe(
      'container at offset 5 longer than the data',
    );
  });

  it('mpReadUintAt: uints below 2^53 whose bytes are there, else -1', () => {
    for (const value of [
      0,
      1,
      127,
      128,
      255,
      256,
      65535,
      65536,
      2 ** 32 - 1,
      2 ** 32,
      2 ** 53 - 1,
    ]) {
      const b = encode(value);
      expect(mpReadUintAt(b, 0, b.length), String(value)).toBe(value);
      expect(MP_FIXED_SIZE[b[0]!]).toBe(b.length);
      if (b.length > 1) expect(mpReadUintAt(b, 0, b.length - 1), `${value} cut`).toBe(-1);
    }
    expect(mpReadUintAt(hex('cf0020000000000000'), 0, 9)).toBe(-1); // 2^53
    for (const other of ['ff', 'c0', 'd001', 'a161', '90', 'cb3ff0000000000000'])
      expect(mpReadUintAt(hex(other), 0, hex(other).length), other).toBe(-1);
    expect(mpReadUintAt(hex('05'), 1, 1)).toBe(-1);
  });

  it('packs the same extents into MP_SHAPE as the separate tables hold', () => {
    for (let b = 0; b < 256; b++) {
      const shape = MP_SHAPE[b]!;
      const unpacked = [shape & 0x3f, (shape >> 6) & 7, (shape >> 9) & 7, (shape >> 12) & 3];
      const tables = [
        MP_FIXED_SIZE[b],
        MP_HEADER_SIZE[b],
        MP_LENGTH_WIDTH[b],
        MP_ITEMS_PER_COUNT[b],
      ];
      expect(unpacked, `0x${b.toString(16)}`).toEqual(tables);
      expect(shape >>> 16, `0x${b.toString(16)}`).toBe(MP_TAG_LENGTH_MASK[b]);
    }
  });

  it('classifies all 256 first bytes by the spec ranges', () => {
    const expected = (b: number): number => {
      if (b <= 0x7f || (b >= 0xcc && b <= 0xcf)) return MpType.UINT;
      if (b >= 0xe0 || (b >= 0xd0 && b <= 0xd3)) return MpType.INT;
      if (b <= 0x8f || b === 0xde || b === 0xdf) return MpType.MAP;
      if (b <= 0x9f || b === 0xdc || b === 0xdd) return MpType.ARRAY;
      if (b <= 0xbf || (b >= 0xd9 && b <= 0xdb)) return MpType.STR;
      if (b === 0xc0) return MpType.NIL;
      if (b === 0xc2 || b === 0xc3) return MpType.BOOL;
      if (b >= 0xc4 && b <= 0xc6) return MpType.BIN;
      if ((b >= 0xc7 && b <= 0xc9) || (b >= 0xd4 && b <= 0xd8)) return MpType.EXT;
      if (b === 0xca) return MpType.FLOAT;
      if (b === 0xcb) return MpType.DOUBLE;
      return MpType.INVALID;
    };
    for (let b = 0; b < 256; b++) expect(MP_TYPE[b], `0x${b.toString(16)}`).toBe(expected(b));
    expect(isArrayByte(0x90)).toBe(true);
    expect(isArrayByte(0xdd)).toBe(true);
    expect(isArrayByte(0x80)).toBe(false);
    expect(isArrayByte(undefined)).toBe(false);
  });

  it('reads counts and lengths from the tag or the length field', () => {
    expect(mpLengthField(hex('9f'), 0)).toBe(15);
    expect(mpLengthField(hex('8f'), 0)).toBe(15);
    expect(mpLengthField(hex('bf'), 0)).toBe(31);
    expect(mpLengthField(hex('d9ff'), 0)).toBe(255);
    expect(mpLengthField(hex('dcffff'), 0)).toBe(65535);
    expect(mpLengthField(hex('ddffffffff'), 0)).toBe(0xffffffff);
    expect(mpLengthField(hex('c9fffffffe01'), 0)).toBe(0xfffffffe);
  });

  it('agrees with the encoder on seeded random value trees', () => {
    const seed = Number(process.env.SEED ?? 20261201);
    let state = seed >>> 0;
    const next = () => {
      state = (state * 1664525 + 1013904223) >>> 0;
      return state / 0x100000000;
    };
    const value = (depth: number): unknown => {
      const pick = Math.floor(next() * (depth > 3 ? 7 : 9));
      switch (pick) {
        case 0:
          return null;
        case 1:
          return next() < 0.5;
        case 2:
          return Math.floor(next() * 2 ** (Math.floor(next() * 53) + 1));
        case 3:
          return -Math.floor(next() * 2 ** (Math.floor(next() * 53) + 1));
        case 4:
          return next() * 1e6;
        case 5:
          return 'x'.repeat(Math.floor(next() * 300));
        case 6:
          return new Uint8Array(Math.floor(next() * 300));
        case 7:
          return Array.from({ length: Math.floor(next() * 20) }, () => value(depth + 1));
        default:
          return new Map(
            Array.from({ length: Math.floor(next() * 20) }, (_, i) => [i, value(depth + 1)]),
          );
      }
    };
    for (let i = 0; i < 500; i++) {
      const b = encode(value(0));
      expect(mpSkip(b, 0), `seed ${seed} value ${i}`).toBe(b.length);
      const reader = new MsgpackReader(b);
      reader.skip();
      expect(reader.offset, `seed ${seed} value ${i}`).toBe(b.length);
    }
  });
});
