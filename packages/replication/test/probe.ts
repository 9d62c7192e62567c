// A raw client speaking our codec to a real 2.6 master, to record the master's answers to
// requests a well-behaved replica never sends (guest JOIN, JOIN as itself, SUBSCRIBE of an
// unknown uuid, a wrong password). Each request has its own sync so replies can be matched.
import { connect as netConnect } from 'node:net';
import { Vclock } from '@tarantype/core';
import {
  chapSha1Scramble,
  decodeGreeting,
  FrameDecoder,
  GREETING_SIZE,
  NEED_MORE,
} from '@tarantype/iproto';
import {
  encodeAuth,
  encodeJoin,
  encodeSubscribe,
  encodeVote,
  SERVER_VERSION_ID,
} from '../src/codec.js';
import type { ProbeRecording } from './tarantool-pair.js';
import { MASTER_UUID, REPLICASET_UUID } from './tarantool-pair.js';

/** An unregistered uuid. */
export const STRANGER_UUID = 'dddddddd-dddd-4ddd-8ddd-dddddddddddd';

/** Syncs of the probe's requests, in the order they are sent. */
export const PROBE = {
  VOTE: 1,
  GUEST_JOIN: 2,
  SELF_JOIN: 3,
  BAD_AUTH: 4,
  AUTH: 5,
  STRANGER_SUBSCRIBE: 6,
} as const;

export async function probeMaster(port: number): Promise<ProbeRecording> {
  const socket = netConnect({ host: '127.0.0.1', port });
  const received: Buffer[] = [];
  const sent: Uint8Array[] = [];
  const decoder = new FrameDecoder();
  let greeting: Uint8Array | undefined;
  let wake: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    received.push(chunk);
    const all = Buffer.concat(received);
    if (greeting === undefined && all.length >= GREETING_SIZE) {
      greeting = new Uint8Array(all.subarray(0, GREETING_SIZE));
      if (all.length > GREETING_SIZE) decoder.push(new Uint8Array(all.subarray(GREETING_SIZE)));
    } else if (greeting !== undefined) decoder.push(new Uint8Array(chunk));
    wake?.();
  });
  const next = async (): Promise<Uint8Array> => {
    const deadline = Date.now() + 5000;
    for (;;) {
      if (greeting !== undefined) {
        const packet = decoder.next();
        if (packet !== NEED_MORE) {
          if (!(packet instanceof Uint8Array)) throw packet;
          return packet;
        }
      }
      if (Date.now() > deadline) throw new Error('probe: no reply');
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 50);
      });
    }
  };
  const send = (bytes: Uint8Array) => {
    sent.push(bytes);
    socket.write(bytes);
  };
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  while (greeting === undefined) await new Promise((r) => setTimeout(r, 10));
  const salt = decodeGreeting(greeting).salt;
  send(encodeVote(PROBE.VOTE));
  await next();
  send(encodeJoin('cccccccc-0000-4000-8000-000000000000', PROBE.GUEST_JOIN));
  await next();
  send(encodeJoin(MASTER_UUID, PROBE.SELF_JOIN));
  await next();
  send(encodeAuth('replicator', chapSha1Scramble('wrong', salt), PROBE.BAD_AUTH));
  await next();
  send(encodeAuth('replicator', chapSha1Scramble('password', salt), PROBE.AUTH));
  await next();
  send(
    encodeSubscribe(
      {
        replicasetUuid: REPLICASET_UUID,
        instanceUuid: STRANGER_UUID,
        vclock: new Vclock(),
        serverVersion: SERVER_VERSION_ID,
        anon: false,
        idFilter: [],
      },
      PROBE.STRANGER_SUBSCRIBE,
    ),
  );
  await next();
  socket.destroy();
  return { masterToClient: Buffer.concat(received), clientToMaster: Buffer.concat(sent) };
}
