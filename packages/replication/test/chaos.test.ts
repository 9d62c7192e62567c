// Our relay and our applier joined by in-memory links that break at random points while the
// master keeps writing multi-row transactions (seeded: SEED=<n> replays; the seed is printed
// on failure). Whatever breaks when, the replica must end with exactly the master's
// transactions, each once, in order, with their boundaries — no loss, no duplicate, no split.
import { ClientError, type Xrow } from '@tarantype/core';
import { FrameDecoder, NEED_MORE } from '@tarantype/iproto';
import { afterEach, expect, it } from 'vitest';
import { Applier } from '../src/applier.js';
import type { ApplierConnection, Connector } from '../src/connection.js';
import { ReplicationServer } from '../src/relay.js';
import { ReplicationSocketError } from '../src/socket-error.js';
import { type PacketLinkEnd, seededRandom, serveReplicationLink } from '../src/testing.js';
import { FakeMaster, FakeReplica, insertBody, LogRecorder, sleep, until } from './fake-box.js';

const MASTER = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const RS = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
const REPLICA = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc';
const SOCKET = { fd: 7, local: '127.0.0.1:41000', peer: '127.0.0.1:3301' };

/** One direction of a link: bytes in, whole packets out. */
class Pipe {
  private readonly decoder = new FrameDecoder();
  private waiter: (() => void) | undefined;
  closed = false;
  push(bytes: Uint8Array): void {
    if (this.closed) return;
    this.decoder.push(bytes.slice());
    this.waiter?.();
  }
  close(): void {
    this.closed = true;
    this.waiter?.();
  }
  async next(): Promise<Uint8Array | undefined> {
    for (;;) {
      const packet = this.decoder.next();
      if (packet instanceof ClientError) throw packet;
      if (packet !== NEED_MORE) return packet;
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }
}

/** A link that breaks after `budget` writes (either direction). */
class Link {
  readonly toApplier = new Pipe();
  readonly toMaster = new Pipe();
  constructor(private budget: number) {}
  write(pipe: Pipe, bytes: Uint8Array): boolean {
    if (this.broken) return false;
    if (--this.budget <= 0) {
      this.break();
      return false;
    }
    pipe.push(bytes);
    return true;
  }
  get broken(): boolean {
    return this.toApplier.closed;
  }
  break(): void {
    this.toApplier.close();
    this.toMaster.close();
  }
}

/** The master end of `link` for serveReplicationLink. */
function masterEnd(link: Link): PacketLinkEnd {
  return {
    readPacket: () => link.toMaster.next(),
    write: (bytes) => link.write(link.toApplier, bytes),
    close: () => link.break(),
    get closed() {
      return link.broken;
    },
  };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

for (let round = 0; round < 3; round++) {
  it(`converges exactly through random link failures (round ${round})`, async () => {
    const seed = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));
    const next = seededRandom(seed + round);
    const master = new FakeMaster(MASTER, RS);
    master.cluster.set(REPLICA, 2);
    const relay = new ReplicationServer({
      membership: master,
      master,
      joinSource: master,
      rowSource: master.wal,
      gc: master,
      replicationTimeoutS: () => 0.02,
      log: () => {},
    });
    cleanups.push(() => relay.close());
    const links: Link[] = [];
    const connector: Connector = async () => {
      // Some connects are refused, every link breaks after a random number of writes.
      if (next() < 0.15)
        throw ReplicationSocketError.connect(
          SOCKET,
          Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }),
        );
      const link = new Link(2 + Math.floor(next() * 15));
      links.push(link);
      void serveReplicationLink(masterEnd(link), relay).catch(() => {});
      const greeting = (await import('@tarantype/iproto')).encodeGreeting(
        MASTER,
        new Uint8Array(32).fill(1),
      );
      const connection: ApplierConnection = {
        socketName: SOCKET,
        readGreeting: async () => greeting,
        readPacket: async () => {
          const packet = await link.toApplier.next();
          if (packet === undefined) throw ReplicationSocketError.eof(SOCKET);
          return packet;
        },
        write: (bytes) => {
          link.write(link.toMaster, bytes);
        },
        close: () => link.break(),
      };
      return connection;
    };
    const replica = new FakeReplica(REPLICA);
    replica.replicaset = RS;
    replica.cluster.set(REPLICA, 2);
    const logs = new LogRecorder();
    const applier = new Applier({
      uri: 'replicator:password@127.0.0.1:3301',
      membership: replica,
      sink: replica,
      connect: connector,
      replicationTimeoutS: () => 0.02,
      log: logs.log,
    });
    cleanups.push(() => applier.stop());
    applier.start();
    try {
      // The master writes 200 transactions of 1–4 rows while links keep breaking.
      for (let i = 0; i < 200; i++) {
        const rows = 1 + Math.floor(next() * 4);
        master.wal.append(
          1,
          Array.from({ length: rows }, (_, k) => ({ body: insertBody(512, [i * 10 + k]) })),
        );
        if (next() < 0.8) await sleep(1);
      }
      await until(
        () => replica.localVclock.get(1) === master.wal.vclock.get(1),
        20_000,
        'convergence',
      );
      const expected = master.wal.transactions.map((tx) => tx.map((row: Xrow) => row.lsn));
      const got = replica.applied.map((tx) => tx.map((row) => row.lsn));
      expect(got).toEqual(expected);
      expect(links.length).toBeGreaterThan(5);
      expect(
        applier.state === 'sync' || applier.state === 'follow' || applier.state === 'disconnected',
      ).toBe(true);
    } catch (error) {
      console.error(
        `chaos failed with SEED=${seed} (round ${round}); links: ${links.length}`,
        logs.lines.slice(-20),
      );
      throw error;
    }
  }, 30_000);
}
