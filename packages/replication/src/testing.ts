// @tarantype/replication/testing: the in-memory harness of the relay/applier tests, shared with
// the deterministic replication simulator (@tarantype/box/testing). Layer: replication, test
// support. A packet link end serves VOTE and AUTH itself and hands JOIN/SUBSCRIBE to a relay,
// as iproto's server would; seededRandom makes every schedule replayable from its seed.
import { IprotoType, MsgpackWriter } from '@tarantype/core';
import {
  type ReplicationChannel,
  type ReplicationRequest,
  type Sync,
  toTarantoolError,
  writeError,
} from '@tarantype/iproto';
import { decodePacket } from './codec.js';
import type { ReplicationServer } from './relay.js';

/** mulberry32: a small seeded generator of numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 2.6 VOTE reply: a ballot of a writable, booted instance with empty vclocks. */
export const BALLOT_FRAME: Uint8Array = (() => {
  const body = new Uint8Array([0x81, 0x29, 0x84, 0x01, 0xc2, 0x04, 0xc2, 0x02, 0x80, 0x03, 0x80]);
  const out = new Uint8Array(5 + 3 + body.length);
  out.set([0xce, 0, 0, 0, 3 + body.length, 0x81, 0x00, 0x00]);
  out.set(body, 8);
  return out;
})();

/** An OK reply with an empty body (AUTH accepted). */
export const OK_FRAME: Uint8Array = new Uint8Array([0xce, 0, 0, 0, 4, 0x81, 0x00, 0x00, 0x80]);

/** The master's end of an in-memory link: whole packets in, bytes out. */
export interface PacketLinkEnd {
  /** The next whole packet from the applier, or undefined once the link is closed. */
  readPacket(): Promise<Uint8Array | undefined>;
  /** Sends bytes to the applier; false once the link is broken, or to ask for drain(). */
  write(bytes: Uint8Array): boolean;
  /** Resolves when the bytes written so far left (or the link closed); default: at once. */
  drain?(): Promise<void>;
  close(): void;
  readonly closed: boolean;
}

/** The error reply iproto would send for `error` (its code and message). */
function errorFrame(sync: Sync, error: unknown): Uint8Array {
  const writer = new MsgpackWriter(256);
  writeError(writer, sync, 0, toTarantoolError(error));
  return writer.toBytes().slice();
}

/**
 * Serves one connection as iproto would for a replication peer: VOTE gets BALLOT_FRAME, AUTH
 * gets OK_FRAME (user 32, 'replicator'), JOIN and SUBSCRIBE go to `relay` (an error it throws
 * becomes an error reply with its code). Returns when the link closes.
 */
export async function serveReplicationLink(
  link: PacketLinkEnd,
  relay: ReplicationServer,
  peer = '127.0.0.1:41000',
): Promise<void> {
  const channel: ReplicationChannel = {
    readPacket: () => link.readPacket(),
    write: (bytes) => link.write(bytes),
    drain: () => link.drain?.() ?? Promise.resolve(),
    writeError: (sync, error) => {
      link.write(errorFrame(sync, error));
    },
    close: () => link.close(),
    get closed() {
      return link.closed;
    },
  };
  const session = { id: 1, peer, salt: new Uint8Array(32), user: { id: 32, name: 'replicator' } };
  for (;;) {
    const packet = await link.readPacket();
    if (packet === undefined) return;
    const { row } = decodePacket(packet);
    if (row.type === IprotoType.VOTE) link.write(BALLOT_FRAME);
    else if (row.type === IprotoType.AUTH) link.write(OK_FRAME);
    else {
      const request: ReplicationRequest = {
        type: row.type as ReplicationRequest['type'],
        sync: row.sync,
        schemaVersion: 0,
        packet,
        body: row.body.length > 0 ? row.body : undefined,
      };
      try {
        await relay.handle(session, request, channel);
      } catch (error) {
        channel.writeError(row.sync, error);
      }
      if (link.closed) return;
    }
  }
}
