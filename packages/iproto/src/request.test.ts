import { ClientError, decode, ErrorCode, IprotoType, MsgpackWriter } from '@tarantype/core';
import { describe, expect, it } from 'vitest';
import { decodeArray, decodeRequest, RequestDecodeError } from './request.js';

function packet(
  header: ReadonlyArray<readonly [number, unknown]>,
  body?: ReadonlyArray<readonly [number, unknown]>,
): Uint8Array {
  const w = new MsgpackWriter();
  const map = (entries: ReadonlyArray<readonly [number, unknown]>) => {
    w.mapHeader(entries.length);
    for (const [k, v] of entries) {
      w.uint(k);
      w.value(v);
    }
  };
  map(header);
  if (body !== undefined) map(body);
  return w.toBytes();
}

function ok(bytes: Uint8Array) {
  const r = decodeRequest(bytes);
  if (r instanceof RequestDecodeError) throw r.error;
  return r;
}

function fails(bytes: Uint8Array): { sync: number | bigint; code: number; message: string } {
  const r = decodeRequest(bytes);
  if (!(r instanceof RequestDecodeError)) throw new Error('decoded');
  return { sync: r.sync, code: r.error.code, message: r.error.message };
}

describe('decodeRequest', () => {
  it('SELECT with defaults, raw key view', () => {
    const bytes = packet(
      [
        [1, 5],
        [0, IprotoType.SELECT],
      ],
      [
        [0x10, 512],
        [0x12, 10],
        [0x20, [1, 'a']],
      ],
    );
    const r = ok(bytes);
    expect(r).toMatchObject({
      type: 1,
      sync: 5,
      schemaVersion: 0,
      spaceId: 512,
      indexId: 0,
      limit: 10,
      offset: 0,
      iterator: 0,
    });
    if (r.type !== IprotoType.SELECT) throw new Error();
    expect(decodeArray(r.key)).toEqual([1, 'a']);
    expect(r.key.buffer).toBe(bytes.buffer);
  });

  it('every DML type keeps tuples, keys and ops raw', () => {
    const tuple = [1, 'x', { a: [1, 2] }];
    const ins = ok(
      packet(
        [
          [0, 2],
          [1, 1],
        ],
        [
          [0x10, 600],
          [0x21, tuple],
        ],
      ),
    );
    expect(ins.type).toBe(IprotoType.INSERT);
    expect(decodeArray((ins as { tuple: Uint8Array }).tuple)).toEqual(tuple);
    expect(
      ok(
        packet(
          [
            [0, 3],
            [1, 1],
          ],
          [
            [0x10, 600],
            [0x21, tuple],
          ],
        ),
      ).type,
    ).toBe(IprotoType.REPLACE);
    const upd = ok(
      packet(
        [
          [0, 4],
          [1, 1],
        ],
        [
          [0x10, 600],
          [0x11, 2],
          [0x15, 1],
          [0x20, [1]],
          [0x21, [['=', 1, 2]]],
        ],
      ),
    );
    expect(upd).toMatchObject({ type: 4, spaceId: 600, indexId: 2, indexBase: 1 });
    expect(decodeArray((upd as { ops: Uint8Array }).ops)).toEqual([['=', 1, 2]]);
    const del = ok(
      packet(
        [
          [0, 5],
          [1, 1],
        ],
        [
          [0x10, 600],
          [0x11, 1],
          [0x20, ['k']],
        ],
      ),
    );
    expect(del).toMatchObject({ type: 5, spaceId: 600, indexId: 1 });
    const ups = ok(
      packet(
        [
          [0, 9],
          [1, 1],
        ],
        [
          [0x10, 600],
          [0x21, [1]],
          [0x28, [['+', 1, 1]]],
        ],
      ),
    );
    expect(ups).toMatchObject({ type: 9, indexBase: 0 });
    expect(decodeArray((ups as { ops: Uint8Array }).ops)).toEqual([['+', 1, 1]]);
  });

  it('CALL, CALL_16, EVAL (args default to [])', () => {
    const call = ok(
      packet(
        [
          [0, 10],
          [1, 2],
        ],
        [[0x22, 'f']],
      ),
    );
    expect(call).toMatchObject({ type: 10, functionName: 'f' });
    expect(decodeArray((call as { args: Uint8Array }).args)).toEqual([]);
    expect(
      ok(
        packet(
          [
            [0, 6],
            [1, 2],
          ],
          [
            [0x22, 'g'],
            [0x21, [1]],
          ],
        ),
      ),
    ).toMatchObject({ type: 6, functionName: 'g' });
    const ev = ok(
      packet(
        [
          [0, 8],
          [1, 2],
        ],
        [
          [0x27, 'return 1'],
          [0x21, [2]],
        ],
      ),
    );
    expect(ev).toMatchObject({ type: 8, expr: 'return 1' });
  });

  it('AUTH, EXECUTE, PREPARE, PING, VOTE, replication requests', () => {
    expect(
      ok(
        packet(
          [
            [0, 7],
            [1, 0],
          ],
          [
            [0x23, 'u'],
            [0x21, ['chap-sha1', 'x']],
          ],
        ),
      ),
    ).toMatchObject({ type: 7, userName: 'u' });
    expect(
      ok(
        packet(
          [
            [0, 11],
            [1, 0],
          ],
          [[0x40, 'SELECT 1']],
        ),
      ),
    ).toMatchObject({ type: 11, sqlText: 'SELECT 1', stmtId: undefined });
    expect(
      ok(
        packet(
          [
            [0, 11],
            [1, 0],
          ],
          [
            [0x43, 7],
            [0x41, [1]],
          ],
        ),
      ),
    ).toMatchObject({ type: 11, stmtId: 7 });
    expect(
      ok(
        packet(
          [
            [0, 13],
            [1, 0],
          ],
          [[0x43, 7]],
        ),
      ),
    ).toMatchObject({ type: 13, stmtId: 7 });
    expect(ok(packet([[0, 64]]))).toMatchObject({ type: 64, sync: 0 });
    expect(
      ok(
        packet([
          [0, 68],
          [1, 3],
        ]),
      ),
    ).toMatchObject({ type: 68, sync: 3 });
    expect(ok(packet([[0, 67]]))).toMatchObject({ type: 67 });
    const join = ok(
      packet(
        [
          [0, 65],
          [1, 9],
        ],
        [[0x24, 'uuid']],
      ),
    );
    expect(join.type).toBe(IprotoType.JOIN);
    const j = join as { packet: Uint8Array; body: Uint8Array };
    expect(decode(j.body)).toEqual(new Map([[0x24, 'uuid']]));
    expect(ok(packet([[0, 69]]))).toMatchObject({ type: 69, body: undefined });
  });

  it('header: SCHEMA_VERSION, 64-bit SYNC, free key order', () => {
    expect(
      ok(
        packet([
          [5, 81],
          [1, 2],
          [0, 64],
        ]),
      ),
    ).toMatchObject({ schemaVersion: 81, sync: 2 });
    const w = new MsgpackWriter();
    w.mapHeader(2);
    w.uint(0);
    w.uint(64);
    w.uint(1);
    w.bigint(2n ** 63n + 5n);
    expect(ok(w.toBytes()).sync).toBe(2n ** 63n + 5n);
  });

  it('header errors reply with sync 0', () => {
    expect(fails(new Uint8Array([]))).toMatchObject({
      sync: 0,
      code: 20,
      message: 'Invalid MsgPack - packet header',
    });
    expect(
      fails(
        packet([
          [1, 9],
          [0x60, 1],
        ]),
      ),
    ).toMatchObject({ sync: 0, message: 'Invalid MsgPack - packet header' });
    expect(
      fails(
        packet([
          [1, 9],
          [0, 'x'],
        ]),
      ),
    ).toMatchObject({ sync: 0 });
    expect(
      fails(
        packet([
          [1, 9],
          [0x04, 1],
        ]),
      ),
    ).toMatchObject({ sync: 0 });
    expect(
      fails(
        packet([
          [1, 9],
          [0x04, 1.5],
        ]),
      ),
    ).toMatchObject({ sync: 9, message: 'Unknown request type 0' });
  });

  it('header TIMESTAMP as a double is accepted, as a float32 it is not', () => {
    const w = new MsgpackWriter();
    w.mapHeader(2);
    w.uint(0);
    w.uint(64);
    w.uint(4);
    w.double(1.25);
    expect(ok(w.toBytes()).type).toBe(64);
    const f = new Uint8Array([0x82, 0x00, 0x40, 0x04, 0xca, 0, 0, 0, 0]);
    expect(fails(f).message).toBe('Invalid MsgPack - packet header');
  });

  it('body errors reply with the request sync', () => {
    expect(
      fails(
        packet(
          [
            [0, 1],
            [1, 42],
          ],
          [[0x10, 'x']],
        ),
      ),
    ).toMatchObject({ sync: 42, message: 'Invalid MsgPack - packet body' });
    expect(
      fails(
        packet(
          [
            [0, 2],
            [1, 43],
          ],
          [
            [0x10, 1],
            [0x21, { a: 1 }],
          ],
        ),
      ),
    ).toMatchObject({ sync: 43, message: 'Invalid MsgPack - packet body' });
    expect(
      fails(
        packet(
          [
            [0, 1],
            [1, 44],
          ],
          [
            [0x10, 1],
            [0x12, 1],
          ],
        ),
      ),
    ).toMatchObject({
      sync: 44,
      code: ErrorCode.ER_MISSING_REQUEST_FIELD,
      message: "Missing mandatory field 'key' in request",
    });
  });

  it('unknown types and NOP', () => {
    expect(fails(packet([[0, 127]]))).toMatchObject({
      code: 48,
      message: 'Unknown request type 127',
    });
    expect(fails(packet([[0, 12]]))).toMatchObject({
      code: 48,
      message: 'Unknown request type 12',
    });
    expect(fails(packet([[0, 12]], []))).toMatchObject({
      code: 20,
      message: 'Invalid MsgPack - packet body',
    });
  });

  it('decodeArray refuses non-arrays', () => {
    expect(() => decodeArray(new Uint8Array([0x80]))).toThrow(ClientError);
  });
});
