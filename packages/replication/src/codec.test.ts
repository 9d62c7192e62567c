// Codec round trips and every bounded input rule of PROTOCOL.md §2.3 (R5–R10), plus the
// transaction rules of §4.2 (R15). Byte layouts are checked against the spec's observed dumps.
import {
  ClientError,
  ErrorCode,
  encode,
  IprotoType,
  MsgpackWriter,
  makeXrow,
  TARANTOOL_VERSION_ID,
  Vclock,
  type Xrow,
} from '@tarantype/core';
import { describe, expect, it } from 'vitest';
import {
  appendRows,
  decodeBallot,
  decodeJoin,
  decodePacket,
  decodeSubscribe,
  decodeSubscribeResponse,
  decodeVclockBody,
  encodeAck,
  encodeHeartbeat,
  encodeJoin,
  encodeRow,
  encodeSubscribe,
  encodeSubscribeResponse,
  encodeVclockPacket,
  encodeVote,
} from './codec.js';
import { formatRequest } from './request-string.js';
import { filterTransaction } from './subscription.js';
import { TransactionAssembler } from './transaction-assembler.js';

const UUID_A = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const UUID_B = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Strips the 5-byte 0xce length prefix, checking it. */
function unframe(frame: Uint8Array): Uint8Array {
  expect(frame[0]).toBe(0xce);
  const length = new DataView(frame.buffer, frame.byteOffset).getUint32(1);
  expect(length).toBe(frame.length - 5);
  return frame.subarray(5);
}

function expectClientError(fn: () => unknown, code: number, message: string): void {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).code).toBe(code);
    expect((error as ClientError).message).toBe(message);
    return;
  }
  throw new Error('expected an error');
}

function packet(header: unknown, body?: unknown): Uint8Array {
  const h = encode(header);
  if (body === undefined) return h;
  return Buffer.concat([h, encode(body)]);
}

describe('encoders write 2.6 byte layouts', () => {
  it('SUBSCRIBE reply as observed (spec §5.4)', () => {
    const bytes = encodeSubscribeResponse(1, new Vclock({ 1: 0x35 }), UUID_B);
    expect(hex(bytes.subarray(0, 16))).toBe('ce000000318200000201822681013525');
    expect(bytes[16]).toBe(0xd9);
    expect(bytes[17]).toBe(36);
    const decoded = decodePacket(unframe(bytes));
    const reply = decodeSubscribeResponse(decoded.row);
    expect(reply.masterId).toBe(1);
    expect(reply.vclock.toString()).toBe('{1: 53}');
    expect(reply.replicasetUuid).toBe(UUID_B);
  });

  it('heartbeat: no body, replica id and timestamp (spec §5.7)', () => {
    const bytes = encodeHeartbeat(1, 1795264795.5);
    expect(hex(bytes.subarray(0, 11))).toBe('ce0000000f83000002010' + '4');
    const { row } = decodePacket(unframe(bytes));
    expect(row).toMatchObject({ type: 0, replica_id: 1, lsn: 0, timestamp: 1795264795.5 });
    expect(row.body.length).toBe(0);
  });

  it('ack, VOTE and JOIN carry no sync', () => {
    expect(hex(encodeAck(new Vclock({ 1: 53, 4: 1 })))).toBe('ce0000000a810000812682013504' + '01');
    expect(hex(encodeVote())).toBe('ce000000038100' + '44');
    const join = decodePacket(unframe(encodeJoin(UUID_A)));
    expect(join.row.type).toBe(IprotoType.JOIN);
    expect(join.row.sync).toBe(0);
    expect(decodeJoin(join.row.body).instanceUuid).toBe(UUID_A);
  });

  it('SUBSCRIBE round trip with and without ID_FILTER', () => {
    for (const idFilter of [[], [4]]) {
      const request = {
        replicasetUuid: UUID_B,
        instanceUuid: UUID_A,
        vclock: new Vclock({ 0: 7, 1: 53 }),
        serverVersion: TARANTOOL_VERSION_ID,
        anon: false,
        idFilter,
      };
      const { row } = decodePacket(unframe(encodeSubscribe(request)));
      const decoded = decodeSubscribe(row.body);
      expect(decoded.replicasetUuid).toBe(UUID_B);
      expect(decoded.instanceUuid).toBe(UUID_A);
      // Component 0 never travels (R7).
      expect(decoded.vclock.toString()).toBe('{1: 53}');
      expect(decoded.serverVersion).toBe(132608);
      expect(decoded.anon).toBe(false);
      expect(decoded.idFilter).toEqual(idFilter);
    }
  });

  it('a multi-row transaction keeps TSN deltas and the commit flag; sync is echoed', () => {
    const rows: Xrow[] = [37, 38, 39].map((lsn, i) => ({
      ...makeXrow(
        IprotoType.REPLACE,
        encode(
          new Map<number, unknown>([
            [0x10, 512],
            [0x21, [lsn]],
          ]),
        ),
      ),
      replica_id: 1,
      lsn,
      tsn: 37,
      timestamp: 1.5,
      is_commit: i === 2,
    }));
    const assembler = new TransactionAssembler();
    const out: Xrow[][] = [];
    for (const row of rows) {
      const decoded = decodePacket(unframe(encodeRow(row, 9))).row;
      expect(decoded.sync).toBe(9);
      const tx = assembler.push(decoded, UUID_B);
      if (tx !== undefined) out.push(tx);
    }
    expect(out).toHaveLength(1);
    expect(out[0]!.map((r) => [r.lsn, r.tsn, r.is_commit])).toEqual([
      [37, 37, false],
      [38, 37, false],
      [39, 37, true],
    ]);
    expect(hex(out[0]![2]!.body)).toBe(hex(rows[2]!.body));
  });
});

describe('decoders bound every input (R5–R10)', () => {
  it('bad headers are "packet header"', () => {
    const header = 'Invalid MsgPack - packet header';
    const code = ErrorCode.ER_INVALID_MSGPACK;
    expectClientError(() => decodePacket(new Uint8Array([0x91, 0x00])), code, header);
    expectClientError(() => decodePacket(packet(new Map([[0x53, 1]]))), code, header);
    expectClientError(() => decodePacket(packet(new Map([[0, 'x']]))), code, header);
    // An integer timestamp is not an MP_DOUBLE.
    expectClientError(
      () =>
        decodePacket(
          packet(
            new Map([
              [0, 0],
              [4, 5],
            ]),
          ),
        ),
      code,
      header,
    );
    // TSN delta larger than the LSN.
    expectClientError(
      () =>
        decodePacket(
          packet(
            new Map([
              [0, 2],
              [3, 1],
              [8, 5],
            ]),
          ),
        ),
      code,
      header,
    );
    // LSN above 2^53.
    const w = new MsgpackWriter();
    w.mapHeader(2);
    w.uint(0);
    w.uint(2);
    w.uint(3);
    w.byte(0xcf);
    w.raw(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    expectClientError(() => decodePacket(w.toBytes()), code, header);
  });

  it('truncated rows and trailing bytes are "packet body", at every cut', () => {
    const body = encode(
      new Map<number, unknown>([
        [0x10, 512],
        [0x21, [1, 'abc', 2]],
      ]),
    );
    const full = unframe(
      encodeRow({
        ...makeXrow(IprotoType.INSERT, body),
        replica_id: 1,
        lsn: 5,
        tsn: 5,
        timestamp: 2.5,
      }),
    );
    const headerLength = full.length - body.length;
    for (let cut = 1; cut < full.length; cut++) {
      if (cut === headerLength) continue; // a header alone is a whole packet without body
      const message =
        cut < headerLength ? 'Invalid MsgPack - packet header' : 'Invalid MsgPack - packet body';
      expectClientError(
        () => decodePacket(full.subarray(0, cut)),
        ErrorCode.ER_INVALID_MSGPACK,
        message,
      );
    }
    expectClientError(
      () => decodePacket(Buffer.concat([full, new Uint8Array([0x80])])),
      ErrorCode.ER_INVALID_MSGPACK,
      'Invalid MsgPack - packet body',
    );
  });

  it('vclocks: id ≥ 32, repeated ids, non-uint values are "invalid VCLOCK"; id 0 ignored', () => {
    const bad = [
      new Map([[0x26, new Map([[32, 1]])]]),
      new Map([[0x26, new Map([[1, -1]])]]),
      new Map([[0x26, [1, 2]]]),
    ];
    for (const body of bad)
      expectClientError(
        () => decodeVclockBody(encode(body)),
        ErrorCode.ER_INVALID_MSGPACK,
        'Invalid MsgPack - invalid VCLOCK',
      );
    const repeated = new Uint8Array([0x81, 0x26, 0x82, 0x01, 0x05, 0x01, 0x06]);
    expectClientError(
      () => decodeVclockBody(repeated),
      ErrorCode.ER_INVALID_MSGPACK,
      'Invalid MsgPack - invalid VCLOCK',
    );
    expect(
      decodeVclockBody(
        encode(
          new Map([
            [
              0x26,
              new Map([
                [0, 9],
                [2, 0],
                [3, 4],
              ]),
            ],
          ]),
        ),
      ).toString(),
    ).toBe('{3: 4}');
  });

  it('SUBSCRIBE bodies: 2.6 details for each key', () => {
    const code = ErrorCode.ER_INVALID_MSGPACK;
    expectClientError(() => decodeSubscribe(undefined), code, 'Invalid MsgPack - request body');
    expectClientError(
      () => decodeSubscribe(encode(new Map([[0x24, 'not-a-uuid']]))),
      code,
      'Invalid MsgPack - UUID',
    );
    expectClientError(
      () => decodeSubscribe(encode(new Map([[0x06, 'x']]))),
      code,
      'Invalid MsgPack - invalid VERSION',
    );
    expectClientError(
      () => decodeSubscribe(encode(new Map([[0x50, 1]]))),
      code,
      'Invalid MsgPack - invalid REPLICA_ANON flag',
    );
    expectClientError(
      () => decodeSubscribe(encode(new Map([[0x51, [32]]]))),
      code,
      'Invalid MsgPack - invalid ID_FILTER',
    );
    expectClientError(
      () => decodeSubscribe(encode(new Map([[0x51, 4]]))),
      code,
      'Invalid MsgPack - invalid ID_FILTER',
    );
    // String keys and unknown keys are skipped.
    const ok = decodeSubscribe(
      encode(
        new Map<unknown, unknown>([
          ['x', 1],
          [0x77, [1]],
          [0x24, UUID_A],
        ]),
      ),
    );
    expect(ok.instanceUuid).toBe(UUID_A);
  });

  it('ballot decoding, and a ballot with a broken vclock', () => {
    const body = new Uint8Array([
      0x81, 0x29, 0x84, 0x01, 0xc2, 0x04, 0xc3, 0x02, 0x81, 0x01, 0x21, 0x03, 0x80,
    ]);
    const ballot = decodeBallot(body);
    expect(ballot.is_ro).toBe(false);
    expect(ballot.is_loading).toBe(true);
    expect(ballot.vclock.toString()).toBe('{1: 33}');
    expect(ballot.gc_vclock.toString()).toBe('{}');
    expectClientError(
      () => decodeBallot(new Uint8Array([0x81, 0x29, 0x81, 0x02, 0x81, 0x40, 0x01])),
      ErrorCode.ER_INVALID_MSGPACK,
      'Invalid MsgPack - packet body',
    );
  });

  it('error packets decode to the master error', () => {
    const body = encode(
      new Map<number, unknown>([
        [0x31, 'Replica x is not registered with replica set y'],
        [
          0x52,
          new Map([
            [
              0,
              [
                new Map<number, unknown>([
                  [0, 'ClientError'],
                  [3, 'Replica x is not registered with replica set y'],
                  [5, 62],
                ]),
              ],
            ],
          ]),
        ],
      ]),
    );
    const decoded = decodePacket(Buffer.concat([encode(new Map([[0, 0x8000 | 62]])), body]));
    expect(decoded.isError).toBe(true);
    expect(decoded.error?.code).toBe(62);
    expect(decoded.error?.message).toBe('Replica x is not registered with replica set y');
  });
});

describe('transactions (R15) and relay filtering (R20, R21)', () => {
  const row = (lsn: number, tsn: number, commit: boolean, replicaId = 1, groupId = 0): Xrow => ({
    ...makeXrow(
      IprotoType.INSERT,
      encode(
        new Map<number, unknown>([
          [0x10, 512],
          [0x21, [lsn]],
        ]),
      ),
    ),
    replica_id: replicaId,
    group_id: groupId,
    lsn,
    tsn,
    is_commit: commit,
  });

  it('rejects interleaving, a first row off its tsn, replica ids ≥ 32', () => {
    expectClientError(
      () => new TransactionAssembler().push(row(5, 4, false), UUID_B),
      ErrorCode.ER_PROTOCOL,
      'Transaction id must be equal to LSN of the first row in the transaction.',
    );
    const a = new TransactionAssembler();
    a.push(row(5, 5, false), UUID_B);
    expectClientError(
      () => a.push(row(6, 6, true), UUID_B),
      ErrorCode.ER_UNSUPPORTED,
      'replication does not support interleaving transactions',
    );
    expectClientError(
      () => new TransactionAssembler().push(row(1, 1, true, 32), UUID_B),
      ErrorCode.ER_UNKNOWN_REPLICA,
      `Replica 32 is not registered with replica set ${UUID_B}`,
    );
  });

  it('filters local rows, ID_FILTER and own rows, and re-marks the survivors', () => {
    const subscriber = {
      replicaId: 2,
      idFilter: [3],
      localVclockAtSubscribe: new Vclock({ 2: 4 }),
    };
    // Local unsigned row dropped, local signed row becomes NOP.
    const local = filterTransaction([row(1, 1, true, 0, 1)], subscriber);
    expect(local).toEqual([]);
    const nop = filterTransaction([row(7, 7, true, 1, 1)], subscriber);
    expect(nop[0]!.type).toBe(IprotoType.NOP);
    expect(nop[0]!.body.length).toBe(0);
    expect(filterTransaction([row(1, 1, true, 3)], subscriber)).toEqual([]);
    // Own rows: lost ones (lsn ≤ 4) go back, newer ones do not.
    expect(filterTransaction([row(4, 4, true, 2)], subscriber)).toHaveLength(1);
    expect(filterTransaction([row(5, 5, true, 2)], subscriber)).toHaveLength(0);
    // A transaction ending with a dropped local row still ends with a commit.
    const mixed = filterTransaction(
      [row(8, 8, false), row(9, 8, false), row(3, 8, true, 0, 1)],
      subscriber,
    );
    expect(mixed.map((r) => [r.lsn, r.tsn, r.is_commit])).toEqual([
      [8, 8, false],
      [9, 8, true],
    ]);
  });
});

it('appendRows writes the same bytes as encodeRow, one frame after another', () => {
  const rows: Xrow[] = [1, 2, 3].map((lsn) => ({
    ...makeXrow(
      IprotoType.INSERT,
      encode(
        new Map<number, unknown>([
          [0x10, 512],
          [0x21, ['x'.repeat(lsn * 100)]],
        ]),
      ),
    ),
    replica_id: 1,
    lsn,
    tsn: 1,
    is_commit: lsn === 3,
  }));
  const w = new MsgpackWriter(16); // small, so it must grow mid-row
  appendRows(w, rows, 4);
  expect(hex(w.toBytes())).toBe(rows.map((row) => hex(encodeRow(row, 4))).join(''));
});

it("formatRequest prints rows as 2.6's request_str", () => {
  const insert = {
    ...makeXrow(
      IprotoType.INSERT,
      encode(
        new Map<number, unknown>([
          [0x10, 512],
          [0x21, [1, 'data from m2']],
        ]),
      ),
    ),
    replica_id: 2,
    lsn: 1,
  };
  // Verbatim from the reference (§4a log): "error applying row: {…}".
  expect(formatRequest(insert)).toBe(
    `{type: 'INSERT', replica_id: 2, lsn: 1, space_id: 512, index_id: 0, tuple: [1, "data from m2"]}`,
  );
  const update = {
    ...makeXrow(
      IprotoType.UPDATE,
      encode(
        new Map<number, unknown>([
          [0x10, 512],
          [0x11, 1],
          [0x20, [5]],
          [0x21, [['=', 2, 'x']]],
        ]),
      ),
    ),
    replica_id: 1,
    lsn: 9,
  };
  expect(formatRequest(update)).toBe(
    `{type: 'UPDATE', replica_id: 1, lsn: 9, space_id: 512, index_id: 1, key: [5], tuple: [["=", 2, "x"]]}`,
  );
  expect(formatRequest({ ...insert, body: new Uint8Array([0x81]) })).toBe(
    '<failed to format request>',
  );
});

it('vclock marker round trip', () => {
  const { row } = decodePacket(unframe(encodeVclockPacket(new Vclock({ 1: 33, 2: 1 }), 5)));
  expect(row.sync).toBe(5);
  expect(decodeVclockBody(row.body).toString()).toBe('{1: 33, 2: 1}');
});
