// Field-by-field checks of a recorded 2.6 master ↔ replica session, shared by the live capture
// (capture.test.ts) and the committed fixtures (fixtures.test.ts). Beyond decoding each packet,
// every packet our encoders can produce is re-encoded from its decoded fields and compared
// byte for byte with what 2.6 sent: that is how we know our dialect is 2.6's.
import {
  decode,
  decodeXrowHeader,
  IprotoType,
  MsgpackReader,
  SystemSpace,
  TARANTOOL_VERSION_ID,
  type Vclock,
  type Xrow,
} from '@tarantype/core';
import {
  chapSha1Scramble,
  decodeGreeting,
  FrameDecoder,
  GREETING_SIZE,
  NEED_MORE,
} from '@tarantype/iproto';
import { expect } from 'vitest';
import {
  decodeBallot,
  decodeJoin,
  decodePacket,
  decodeSubscribe,
  decodeSubscribeResponse,
  decodeVclockBody,
  encodeAck,
  encodeAuth,
  encodeHeartbeat,
  encodeJoin,
  encodeRow,
  encodeSubscribe,
  encodeSubscribeResponse,
  encodeVclockPacket,
  encodeVote,
} from '../src/codec.js';
import { TransactionAssembler } from '../src/transaction-assembler.js';
import { PROBE } from './probe.js';
import {
  CAPTURE_REPLICATION_TIMEOUT_S,
  MASTER_UUID,
  REPLICA_UUID,
  REPLICASET_UUID,
} from './tarantool-pair.js';

/** Splits a stream into frames; each is returned with and without its length prefix. */
export function frames(stream: Uint8Array): Array<{ frame: Uint8Array; packet: Uint8Array }> {
  const decoder = new FrameDecoder();
  decoder.push(stream);
  const out: Array<{ frame: Uint8Array; packet: Uint8Array }> = [];
  let offset = 0;
  for (;;) {
    const packet = decoder.next();
    if (packet === NEED_MORE) break;
    if (!(packet instanceof Uint8Array)) throw packet;
    const prefix = stream[offset] === 0xce ? 5 : 1;
    out.push({ frame: stream.subarray(offset, offset + prefix + packet.length), packet });
    offset += prefix + packet.length;
  }
  expect(offset, 'the stream ends on a frame boundary').toBe(stream.length);
  return out;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** Client-facing replies (VOTE, AUTH, errors) use the fixed 28-byte header with the schema version. */
function expectFixedHeader(frame: Uint8Array, status: number, sync: number): void {
  const reader = new MsgpackReader(frame.subarray(5));
  expect(frame[0]).toBe(0xce);
  expect(hex(frame.subarray(5, 7))).toBe('8300');
  expect(frame[7]).toBe(0xce);
  const header = decodeXrowHeader(reader);
  expect(header.type).toBe(status);
  expect(header.sync).toBe(sync);
  expect(frame[12]).toBe(0x01);
  expect(frame[13]).toBe(0xcf);
  expect(frame[22]).toBe(0x05);
}

function body(row: Xrow): Map<number, unknown> {
  return decode(row.body) as Map<number, unknown>;
}

/** The whole session of a 2.6 replica joining and following a 2.6 master. */
export function checkReplicationSession(m2r: Uint8Array, r2m: Uint8Array): void {
  // Greeting.
  const greeting = decodeGreeting(m2r.subarray(0, GREETING_SIZE));
  expect(greeting.version).toBe('2.6.0');
  expect(greeting.instanceUuid).toBe(MASTER_UUID);
  expect(greeting.salt.length).toBe(32);
  const master = frames(m2r.subarray(GREETING_SIZE));
  const replica = frames(r2m);

  // Replica → master: VOTE, AUTH, JOIN, SUBSCRIBE, then acks only; none has a sync.
  const [vote, auth, join, subscribe, ...acks] = replica;
  expect(hex(vote!.frame)).toBe(hex(encodeVote()));
  const authRow = decodePacket(auth!.packet).row;
  expect(authRow.type).toBe(IprotoType.AUTH);
  expect(hex(auth!.frame)).toBe(
    hex(encodeAuth('replicator', chapSha1Scramble('password', greeting.salt))),
  );
  const joinRow = decodePacket(join!.packet).row;
  expect(decodeJoin(joinRow.body)).toEqual({
    instanceUuid: REPLICA_UUID,
    serverVersion: undefined,
  });
  expect(hex(join!.frame)).toBe(hex(encodeJoin(REPLICA_UUID)));
  const subscribeRow = decodePacket(subscribe!.packet).row;
  expect(subscribeRow.type).toBe(IprotoType.SUBSCRIBE);
  const request = decodeSubscribe(subscribeRow.body);
  expect(request.replicasetUuid).toBe(REPLICASET_UUID);
  expect(request.instanceUuid).toBe(REPLICA_UUID);
  expect(request.serverVersion).toBe(TARANTOOL_VERSION_ID);
  expect(request.anon).toBe(false);
  expect(request.idFilter).toEqual([2]);
  expect(hex(subscribe!.frame)).toBe(hex(encodeSubscribe(request)));
  expect(acks.length).toBeGreaterThan(2);
  let lastAck: Vclock | undefined;
  for (const ack of acks) {
    const row = decodePacket(ack.packet).row;
    expect(row.type).toBe(IprotoType.OK);
    expect(row.sync).toBe(0);
    const vclock = decodeVclockBody(row.body);
    expect(hex(ack.frame)).toBe(hex(encodeAck(vclock)));
    if (lastAck !== undefined) expect(lastAck.isLessOrEqual(vclock)).toBe(true);
    lastAck = vclock;
  }

  // Master → replica: the ballot and the AUTH reply (fixed header, sync 0).
  let i = 0;
  const next = () => {
    const item = master[i++];
    expect(item, `master packet #${i}`).toBeDefined();
    return { ...item!, row: decodePacket(item!.packet).row };
  };
  const ballot = next();
  expectFixedHeader(ballot.frame, IprotoType.OK, 0);
  const decodedBallot = decodeBallot(ballot.row.body);
  expect(decodedBallot.is_ro).toBe(false);
  expect(decodedBallot.is_loading).toBe(false);
  expect(decodedBallot.vclock.get(1)).toBeGreaterThan(0);
  expect(hex(ballot.row.body.subarray(0, 5))).toBe('812984' + '01c2');
  const authOk = next();
  expectFixedHeader(authOk.frame, IprotoType.OK, 0);
  expect(hex(authOk.row.body)).toBe('80');

  // JOIN: start marker, initial rows, stop marker, final rows, end marker.
  const start = next();
  expect(start.row.type).toBe(IprotoType.OK);
  const startVclock = decodeVclockBody(start.row.body);
  expect(hex(start.frame)).toBe(hex(encodeVclockPacket(startVclock)));
  expect(startVclock.toString()).toBe(decodedBallot.vclock.toString());
  const initial: Xrow[] = [];
  let marker = next();
  while (marker.row.type === IprotoType.INSERT) {
    // Header {0: 2} only: no replica_id, lsn, timestamp (spec §5.3).
    expect(hex(marker.packet.subarray(0, 3))).toBe('810002');
    const fields = body(marker.row);
    expect(marker.row.body[1]).toBe(0x10);
    expect(marker.row.body[2]).toBe(0xce); // space id always as u32
    expect(Array.isArray(fields.get(0x21))).toBe(true);
    expect(hex(marker.frame)).toBe(hex(encodeRow(marker.row)));
    initial.push(marker.row);
    marker = next();
  }
  expect(initial.length).toBeGreaterThan(400);
  const spaceIds = initial.map((row) => body(row).get(0x10) as number);
  expect([...spaceIds].sort((a, b) => a - b)).toEqual(spaceIds); // system spaces first, in id order
  expect(spaceIds).toContain(SystemSpace.SCHEMA);
  expect(spaceIds).toContain(512); // the user space 'tester'
  expect(spaceIds).not.toContain(513); // the is_local space 'loc' is not sent
  const cluster = initial
    .filter((row) => body(row).get(0x10) === SystemSpace.SCHEMA)
    .map((row) => body(row).get(0x21) as unknown[]);
  expect(cluster).toContainEqual(['cluster', REPLICASET_UUID]);

  const stop = marker;
  expect(stop.row.type).toBe(IprotoType.OK);
  const stopVclock = decodeVclockBody(stop.row.body);
  expect(stopVclock.get(1)).toBe(startVclock.get(1) + 1);
  const registration = next();
  expect(registration.row).toMatchObject({
    type: IprotoType.INSERT,
    replica_id: 1,
    lsn: stopVclock.get(1),
  });
  expect(registration.row.timestamp).toBeGreaterThan(1.6e9);
  expect(body(registration.row).get(0x10)).toBe(SystemSpace.CLUSTER);
  expect(body(registration.row).get(0x21)).toEqual([2, REPLICA_UUID]);
  expect(hex(registration.frame)).toBe(hex(encodeRow(registration.row)));
  const end = next();
  expect(end.row.type).toBe(IprotoType.OK);
  expect(decodeVclockBody(end.row.body).toString()).toBe(stopVclock.toString());

  // SUBSCRIBE reply: the master's id in the header, its vclock and the replica set uuid.
  const reply = next();
  const response = decodeSubscribeResponse(reply.row);
  expect(response.masterId).toBe(1);
  expect(response.replicasetUuid).toBe(REPLICASET_UUID);
  expect(response.vclock.toString()).toBe(stopVclock.toString());
  expect(hex(reply.frame)).toBe(hex(encodeSubscribeResponse(1, response.vclock, REPLICASET_UUID)));

  // The stream: heartbeats at once and every replication_timeout, then the live rows.
  const assembler = new TransactionAssembler();
  const transactions: Xrow[][] = [];
  const heartbeats: number[] = [];
  while (i < master.length) {
    const item = next();
    if (item.row.lsn === 0) {
      expect(item.row).toMatchObject({ type: IprotoType.OK, replica_id: 1, sync: 0 });
      expect(item.row.body.length).toBe(0);
      expect(hex(item.frame)).toBe(hex(encodeHeartbeat(1, item.row.timestamp)));
      heartbeats.push(item.row.timestamp);
      continue;
    }
    expect(hex(item.frame)).toBe(hex(encodeRow(item.row)));
    const tx = assembler.push(item.row, REPLICASET_UUID);
    if (tx !== undefined) transactions.push(tx);
  }
  expect(heartbeats.length).toBeGreaterThan(4);
  // Idle gaps between heartbeats are replication_timeout (± scheduling).
  const gaps = heartbeats.slice(1).map((t, k) => t - heartbeats[k]!);
  expect(Math.min(...gaps.filter((g) => g > 0.05))).toBeGreaterThan(
    CAPTURE_REPLICATION_TIMEOUT_S * 0.8,
  );
  const shapes = transactions.map((tx) => tx.map((row) => row.type));
  expect(shapes).toEqual([
    [IprotoType.INSERT],
    [IprotoType.INSERT, IprotoType.REPLACE, IprotoType.UPDATE],
    [IprotoType.UPSERT],
    [IprotoType.DELETE],
    [IprotoType.UPDATE], // _schema max_id += 1 of box.schema.space.create
    [IprotoType.INSERT], // its _space row
  ]);
  const multi = transactions[1]!;
  expect(multi.map((row) => [row.lsn - multi[0]!.lsn, row.tsn, row.is_commit])).toEqual([
    [0, multi[0]!.lsn, false],
    [1, multi[0]!.lsn, false],
    [2, multi[0]!.lsn, true],
  ]);
  // UPDATE from Lua carries INDEX_BASE 1 and its ops in TUPLE; UPSERT its ops in OPS, before TUPLE.
  expect([...body(multi[2]!).keys()]).toEqual([0x10, 0x15, 0x20, 0x21]);
  expect([...body(transactions[2]![0]!).keys()]).toEqual([0x10, 0x15, 0x28, 0x21]);
  expect(body(transactions[3]![0]!).get(0x20)).toEqual([2]);
  // The replica's last ack covers the last row.
  const lastRow = transactions.at(-1)!.at(-1)!;
  expect(lastAck?.get(1)).toBe(lastRow.lsn);
}

/** The master's answers to the probe (probe.ts), one per request, matched by sync. */
export function checkProbe(m2c: Uint8Array): void {
  const replies = frames(m2c.subarray(GREETING_SIZE)).map((f) => ({
    ...f,
    decoded: decodePacket(f.packet),
  }));
  expect(replies.map((r) => r.decoded.row.sync)).toEqual([
    PROBE.VOTE,
    PROBE.GUEST_JOIN,
    PROBE.SELF_JOIN,
    PROBE.BAD_AUTH,
    PROBE.AUTH,
    PROBE.STRANGER_SUBSCRIBE,
  ]);
  const [vote, guestJoin, selfJoin, badAuth, auth, stranger] = replies;
  expectFixedHeader(vote!.frame, IprotoType.OK, PROBE.VOTE);
  expect(decodeBallot(vote!.decoded.row.body).is_ro).toBe(false);
  const expectError = (reply: typeof vote, code: number, type: string, message: string) => {
    expectFixedHeader(reply!.frame, 0x8000 | code, reply!.decoded.row.sync);
    expect(reply!.decoded.isError).toBe(true);
    expect(reply!.decoded.error).toMatchObject({ code, type, message });
  };
  expectError(
    guestJoin,
    42,
    'AccessDeniedError',
    "Read access to universe '' is denied for user 'guest'",
  );
  expectError(selfJoin, 117, 'ClientError', 'Connection to self');
  expectError(badAuth, 47, 'ClientError', "Incorrect password supplied for user 'replicator'");
  expect(auth!.decoded.isError).toBe(false);
  expectError(
    stranger,
    62,
    'ClientError',
    `Replica dddddddd-dddd-4ddd-8ddd-dddddddddddd is not registered with replica set ${REPLICASET_UUID}`,
  );
}
