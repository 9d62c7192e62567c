import { describe, expect, it } from 'vitest';
import {
  DmlBody,
  decodeCommonDmlBody,
  decodeDmlBody,
  decodeRowBody,
  decodeRowBodyAt,
  encodeDeleteBody,
  encodeTupleBody,
  encodeTupleBodyAt,
  encodeUpdateBody,
  encodeUpsertBody,
  missingDmlBody,
  writeSelectBody,
  writeTupleBody,
} from './dml-body.js';
import { ErrorCode } from './error-codes.js';
import { ClientError } from './errors.js';
import { IprotoType } from './iproto-constants.js';
import { decode, encode, MsgpackReader, MsgpackWriter } from './msgpack.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

function decodeBody(type: number, body: Uint8Array): DmlBody | ClientError {
  const out = new DmlBody();
  return decodeDmlBody(new MsgpackReader(body), type, out) ?? out;
}

describe('DML body codec', () => {
  it('builds an INSERT body from a range of a larger buffer, short and long tuples alike', () => {
    for (const tuple of [encode([1, 'a']), encode([2, 'x'.repeat(300)])]) {
      const memory = new Uint8Array(tuple.length + 10).fill(0xee);
      memory.set(tuple, 7);
      const body = encodeTupleBodyAt(512, memory, 7, 7 + tuple.length);
      expect(hex(body)).toBe(hex(encodeTupleBody(512, tuple)));
      expect(body.buffer).not.toBe(memory.buffer);
    }
  });

  it('writes the keys in Tarantool order, omitting a zero index id and index base', () => {
    const tuple = encode([1, 'a']);
    // {0x10: 512, 0x21: [1, "a"]}
    expect(hex(encodeTupleBody(512, tuple))).toBe(`8210cd020021${hex(tuple)}`);
    expect(hex(encodeDeleteBody(512, 0, encode([1])))).toBe('8210cd02002091' + '01');
    expect(hex(encodeDeleteBody(512, 2, encode([1])))).toBe('8310cd020011022091' + '01');
    const ops = encode([['=', 2, 'x']]);
    expect(hex(encodeUpdateBody(7, 0, 0, encode([1]), ops))).toBe(
      `831007209101 21${hex(ops)}`.replace(/ /g, ''),
    );
    expect(hex(encodeUpdateBody(7, 1, 1, encode([1]), ops))).toBe(
      `8510071101150120910121${hex(ops)}`,
    );
    expect(hex(encodeUpsertBody(7, 0, tuple, ops))).toBe(`83100721${hex(tuple)}28${hex(ops)}`);
    const w = new MsgpackWriter(16);
    writeSelectBody(w, 7, 0, 10, 0, 0, encode([]));
    expect(hex(w.view0())).toBe('851007120a130014002090');
  });

  it('writes raw arrays and values to the same bytes', () => {
    const raw = new MsgpackWriter(16);
    const values = new MsgpackWriter(16);
    writeTupleBody(raw, 600, encode([1, 'two', [3]]));
    writeTupleBody(values, 600, [1, 'two', [3]]);
    expect(hex(raw.view0())).toBe(hex(values.view0()));
    // The exact-size path for raw tuples, across the uint widths of the space id.
    for (const id of [0, 127, 128, 255, 65535, 65536, 2 ** 32 - 1]) {
      expect(hex(encodeTupleBody(id, encode([id, 'x'])))).toBe(hex(encodeTupleBody(id, [id, 'x'])));
      expect(decodeRowBody(IprotoType.REPLACE, encodeTupleBody(id, [1])).spaceId).toBe(id);
    }
  });

  it('reads back what it writes, arrays as views of the body', () => {
    const body = encodeUpdateBody(512, 3, 1, encode([5]), encode([['+', 2, 1]]));
    const decoded = decodeBody(IprotoType.UPDATE, body) as DmlBody;
    expect(decoded).toBeInstanceOf(DmlBody);
    expect([decoded.spaceId, decoded.indexId, decoded.indexBase]).toEqual([512, 3, 1]);
    expect(decode(decoded.key!)).toEqual([5]);
    expect(decode(decoded.tuple!)).toEqual([['+', 2, 1]]);
    expect(decoded.tuple!.buffer).toBe(body.buffer);
    const upsert = decodeRowBody(
      IprotoType.UPSERT,
      encodeUpsertBody(9, 0, encode([1]), encode([])),
    );
    expect([upsert.spaceId, decode(upsert.tuple!), decode(upsert.ops!)]).toEqual([9, [1], []]);
  });

  it('looks only at keys written as positive fixints (xrow_decode_dml)', () => {
    // {0xcc 0x10: 512, 0x21: [1]}: the space id key is not a fixint, so it is not seen.
    const error = decodeBody(IprotoType.INSERT, bytes('82 cc10 cd0200 21 9101'));
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).code).toBe(ErrorCode.ER_MISSING_REQUEST_FIELD);
    expect((error as ClientError).message).toBe("Missing mandatory field 'space id' in request");
    // Unknown keys are skipped with their values, whatever they hold.
    const ok = decodeBody(IprotoType.INSERT, bytes('83 10 01 7f 92c0a0 21 9101')) as DmlBody;
    expect(ok.spaceId).toBe(1);
  });

  it('refuses a known key whose value has another type', () => {
    for (const body of ['82 10 a161 21 9101', '82 10 01 21 01', '83 10 01 21 90 28 80']) {
      const type = body.includes(' 28 ') ? IprotoType.UPSERT : IprotoType.INSERT;
      const error = decodeBody(type, bytes(body)) as ClientError;
      expect(error.code, body).toBe(ErrorCode.ER_INVALID_MSGPACK);
      expect(error.message, body).toBe('Invalid MsgPack - packet body');
    }
    expect((decodeBody(IprotoType.INSERT, bytes('91 01')) as ClientError).code).toBe(
      ErrorCode.ER_INVALID_MSGPACK,
    );
  });

  it('reports the lowest missing mandatory key of each type', () => {
    const cases: Array<[number, string, string]> = [
      [IprotoType.SELECT, '82 10 01 20 90', 'limit'],
      [IprotoType.SELECT, '82 10 01 12 01', 'key'],
      [IprotoType.INSERT, '81 10 01', 'tuple'],
      [IprotoType.REPLACE, '81 21 90', 'space id'],
      [IprotoType.DELETE, '81 10 01', 'key'],
      [IprotoType.UPDATE, '82 10 01 20 90', 'tuple'],
      [IprotoType.UPSERT, '82 10 01 21 90', 'operations'],
    ];
    for (const [type, body, name] of cases) {
      const error = decodeBody(type, bytes(body)) as ClientError;
      expect(error.message, body).toBe(`Missing mandatory field '${name}' in request`);
    }
    expect(missingDmlBody(IprotoType.DELETE).message).toBe(
      "Missing mandatory field 'space id' in request",
    );
    expect(() => decodeRowBody(IprotoType.INSERT, bytes('81 10 01'))).toThrow(
      "Missing mandatory field 'tuple' in request",
    );
    expect(() => decodeRowBody(0x30, bytes('80'))).toThrow(ClientError);
  });

  it('saturates ids above 2^53 instead of losing precision', () => {
    const body = decodeBody(IprotoType.INSERT, bytes('82 10 cf0020000000000000 21 90')) as DmlBody;
    expect(body.spaceId).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('without tuple views, records where the tuple is and makes the view only on demand', () => {
    const tuple = encode([1, 'a', [2, 3]]);
    const body = encodeTupleBody(512, tuple);
    // The body in the middle of a larger buffer, as a row's body lies in an xlog block.
    const block = new Uint8Array(body.length + 4);
    block.set(body, 2);
    const out = new DmlBody(false);
    expect(decodeRowBodyAt(IprotoType.REPLACE, block, 2, 2 + body.length, out)).toBe(out);
    expect(out.spaceId).toBe(512);
    expect(out.tuple).toBeUndefined();
    expect(out.source).toBe(block);
    expect(hex(block.subarray(out.tupleStart, out.tupleEnd))).toBe(hex(tuple));
    const view = out.tupleView()!;
    expect(hex(view)).toBe(hex(tuple));
    expect(view.buffer).toBe(block.buffer);
    expect(out.tupleView()).toBe(view);
    // With views (the default), the same range and the view at once; a body without a tuple
    // has neither.
    const withViews = decodeRowBody(IprotoType.REPLACE, body);
    expect(hex(withViews.tuple!)).toBe(hex(tuple));
    expect([withViews.tupleStart, withViews.tupleEnd]).toEqual([6, body.length]);
    const deleteBody = encodeDeleteBody(512, 0, encode([1]));
    const deleted = decodeRowBodyAt(IprotoType.DELETE, deleteBody, 0, deleteBody.length, out);
    expect([deleted.tupleStart, deleted.tupleEnd, deleted.tupleView()]).toEqual([0, 0, undefined]);
  });
});

describe('decodeCommonDmlBody', () => {
  const fields = (f: DmlBody) => ({
    spaceId: f.spaceId,
    indexId: f.indexId,
    limit: f.limit,
    offset: f.offset,
    iterator: f.iterator,
    indexBase: f.indexBase,
    key: f.key && hex(f.key),
    tuple: f.tuple && hex(f.tuple),
    ops: f.ops && hex(f.ops),
    seen: f.seen,
    tupleStart: f.tupleStart,
    tupleEnd: f.tupleEnd,
  });
  const bodies: Array<[number, Uint8Array]> = (() => {
    const w = new MsgpackWriter();
    writeSelectBody(w, 512, 1, 2, 10, 3, [7, 'k']);
    const select = w.toBytes();
    return [
      [IprotoType.SELECT, select],
      [IprotoType.INSERT, encodeTupleBody(600, [1, 'a', [2, { x: 3 }]])],
      [IprotoType.REPLACE, encodeTupleBody(2 ** 31, [])],
      [IprotoType.UPDATE, encodeUpdateBody(512, 1, 1, [5], [['+', 2, 1]])],
      [IprotoType.DELETE, encodeDeleteBody(512, 0, [9])],
      [IprotoType.UPSERT, encodeUpsertBody(512, 1, [1, 2], [['=', 1, 3]])],
    ];
  })();

  it('decodes the bodies the encoders write as decodeDmlBody does', () => {
    for (const [type, body] of bodies) {
      const fast = new DmlBody();
      expect(decodeCommonDmlBody(body, 0, body.length, type, fast), hex(body)).toBe(true);
      const general = new DmlBody();
      expect(decodeDmlBody(new MsgpackReader(body), type, general)).toBeUndefined();
      expect(fields(fast)).toEqual(fields(general));
      expect(fast.key?.constructor ?? fast.tuple?.constructor).toBe(Uint8Array);
    }
  });

  it('answers false, never an error, for other shapes, and agrees whenever it answers', () => {
    let answered = 0;
    for (const [type, body] of bodies) {
      expect(decodeCommonDmlBody(body, 0, body.length, IprotoType.CALL, new DmlBody())).toBe(false);
      for (let i = 0; i < body.length; i++) {
        expect(decodeCommonDmlBody(body, 0, i, type, new DmlBody())).toBe(false);
        for (const v of [0x00, 0x10, 0x20, 0x40, 0x81, 0x90, 0xc1, 0xcc, 0xcf, 0xdc, 0xff]) {
          const mutated = Uint8Array.from(body);
          mutated[i] = v;
          const fast = new DmlBody();
          if (!decodeCommonDmlBody(mutated, 0, mutated.length, type, fast)) continue;
          answered++;
          const general = new DmlBody();
          expect(decodeDmlBody(new MsgpackReader(mutated), type, general), hex(mutated)).toBe(
            undefined,
          );
          expect(fields(fast), hex(mutated)).toEqual(fields(general));
        }
      }
    }
    expect(answered).toBeGreaterThan(20);
  });
});
