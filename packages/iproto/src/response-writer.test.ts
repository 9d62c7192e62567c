import {
  AccessDeniedError,
  ClientError,
  decode,
  ErrorCode,
  encode,
  MsgpackWriter,
  TimedOutError,
} from '@tarantype/core';
import { describe, expect, it } from 'vitest';
import { TupleStream } from './port.js';
import { RawMsgpack } from './raw-msgpack.js';
import {
  RESPONSE_HEADER_SIZE,
  writeCall16,
  writeError,
  writeOk,
  writeTuples,
  writeValues,
} from './response-writer.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('reply encoding (spec §1.7)', () => {
  it('OK: the fixed 28-byte header and the 0x80 body', () => {
    const w = new MsgpackWriter();
    writeOk(w, 9, 84);
    expect(hex(w.toBytes())).toBe(
      `ce00000018` + `8300ce00000000` + `01cf0000000000000009` + `05ce00000054` + `80`,
    );
    expect(w.length).toBe(RESPONSE_HEADER_SIZE + 1);
  });

  it('DATA: 81 30 dd <u32 count>, raw tuples copied, JS arrays encoded, lazy iterables counted', () => {
    const w = new MsgpackWriter();
    function* lazy() {
      yield encode([1, 'a']);
      yield [2, 'b'];
      yield new RawMsgpack(encode([3]));
    }
    writeTuples(w, 1, 2, lazy());
    const body = w.toBytes().subarray(RESPONSE_HEADER_SIZE);
    expect(hex(body.subarray(0, 7))).toBe('8130dd00000003');
    expect(decode(body)).toEqual(new Map([[0x30, [[1, 'a'], [2, 'b'], [3]]]]));
  });

  it('a TupleStream is copied from the handler memory as the same bytes an array gives', () => {
    // Tuples inside one buffer, as an arena holds them, one long enough for the bulk copy.
    const tuples = [encode([1, 'a']), encode([2, 'x'.repeat(100)]), encode([])];
    const memory = new Uint8Array(500);
    const ranges: Array<[number, number]> = [];
    let at = 3;
    for (const t of tuples) {
      memory.set(t, at);
      ranges.push([at, at + t.length]);
      at += t.length + 5;
    }
    const streamed = new MsgpackWriter(8);
    const stream = new TupleStream((emit) => {
      for (const [start, end] of ranges) emit(memory, start, end);
      return ranges.length;
    });
    writeTuples(streamed, 7, 3, stream);
    const listed = new MsgpackWriter();
    writeTuples(listed, 7, 3, tuples);
    expect(hex(streamed.toBytes())).toBe(hex(listed.toBytes()));
    const bad = new TupleStream((emit) => {
      emit(new Uint8Array([0x81, 0x01, 0x02]), 0, 3);
      return 1;
    });
    const before = streamed.length;
    expect(() => writeTuples(streamed, 8, 3, bad)).toThrow(/must be a MessagePack array/);
    expect(streamed.length).toBe(before);
  });

  it('a reply that fails to encode leaves nothing behind', () => {
    const w = new MsgpackWriter();
    writeOk(w, 1, 1);
    const before = w.length;
    expect(() => writeValues(w, 2, 1, [1, () => 0])).toThrow();
    expect(w.length).toBe(before);
    expect(() => writeTuples(w, 3, 1, [new Uint8Array([0x81, 0x01, 0x02])])).toThrow(
      /must be a MessagePack array/,
    );
    expect(w.length).toBe(before);
  });

  it('CALL_16 through the writer', () => {
    const w = new MsgpackWriter();
    writeCall16(w, 1, 1, [1, [2, 3], 'x']);
    expect(decode(w.toBytes().subarray(RESPONSE_HEADER_SIZE))).toEqual(
      new Map([[0x30, [[1], [2, 3], ['x']]]]),
    );
  });

  it('errors: status 0x8000|code, 0x31 then 0x52 with keys 0,2,1,3,4,5', () => {
    const w = new MsgpackWriter();
    const error = new ClientError(ErrorCode.ER_TUPLE_FOUND, 'primary', 'test');
    writeError(w, 9, 84, error);
    const bytes = w.toBytes();
    expect(hex(bytes.subarray(5, 12))).toBe('8300ce00008003');
    const body = bytes.subarray(RESPONSE_HEADER_SIZE);
    const message = "Duplicate key exists in unique index 'primary' in space 'test'";
    // 82 31 d9 3e "<message>" 52 81 00 91 86 00 ab "ClientError" 02 00 01 a0 03 d9 3e ... 04 00 05 03
    expect(hex(body.subarray(0, 4))).toBe('8231d93e');
    const afterMessage = body.subarray(4 + message.length);
    expect(hex(afterMessage.subarray(0, 6))).toBe('528100918600');
    expect(hex(afterMessage.subarray(6, 18))).toBe(
      `ab${Buffer.from('ClientError').toString('hex')}`,
    );
    expect(hex(afterMessage.subarray(18, 22))).toBe('020001a0');
    expect(hex(afterMessage.subarray(afterMessage.length - 4))).toBe('04000503');
  });

  it('error types: AccessDeniedError fields, TimedOut code 115, causes as the stack', () => {
    const w = new MsgpackWriter();
    const denied = new AccessDeniedError('Write', 'space', 'x', 'guest');
    writeError(w, 1, 1, denied);
    const body = decode(w.toBytes().subarray(RESPONSE_HEADER_SIZE)) as Map<number, unknown>;
    const entry = (
      (body.get(0x52) as Map<number, unknown>).get(0) as Array<Map<number, unknown>>
    )[0]!;
    expect(entry.get(0)).toBe('AccessDeniedError');
    expect(entry.get(6)).toEqual({ object_type: 'space', object_name: 'x', access_type: 'Write' });

    w.reset();
    const outer = new ClientError(ErrorCode.ER_PROC_LUA, 'outer');
    Object.defineProperty(outer, 'cause', { value: new TimedOutError() });
    writeError(w, 1, 1, outer);
    const stack = (
      (decode(w.toBytes().subarray(RESPONSE_HEADER_SIZE)) as Map<number, unknown>).get(0x52) as Map<
        number,
        unknown
      >
    ).get(0) as Array<Map<number, unknown>>;
    expect(stack.map((e) => [e.get(0), e.get(5), e.get(3)])).toEqual([
      ['ClientError', 32, 'outer'],
      ['TimedOut', 115, 'timed out'],
    ]);
  });
});
