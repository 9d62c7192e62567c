// The status collection's rules on scripted members (no processes): who is the same member,
// who is down, what an error reply means, the bound on a member that never answers, and the
// table's cells. The real replica sets are in replication/status*.test.ts.
import { RemoteError } from '@tarantype/iproto';
import { describe, expect, it } from 'vitest';
import {
  collectStatus,
  type MemberProbe,
  type MemberReport,
  UnreachableError,
} from '../src/status/collect.js';
import { formatBytes, renderStatusTable } from '../src/status/table.js';

const U1 = '11111111-1111-4111-8111-111111111111';
const U2 = '22222222-2222-4222-8222-222222222222';
const U3 = '33333333-3333-4333-8333-333333333333';
const U4 = '44444444-4444-4444-8444-444444444444';

function report(
  id: number,
  uuid: string,
  replication: Record<number, Record<string, unknown>>,
  cfg: string[] = [],
  walHeld?: Map<string, number>,
): MemberReport {
  return {
    info: {
      id,
      uuid,
      status: 'running',
      ro: false,
      cluster: { uuid: 'rs' },
      vclock: { 1: 5, 2: 3 },
      replication,
    },
    replication: cfg,
    walHeld,
  };
}

const follow = (peer: string, lag = 0.01) => ({ status: 'follow', idle: 0.1, peer, lag });

function probes(table: Record<string, MemberProbe>): (uri: string) => MemberProbe {
  return (uri) => {
    const address = uri.slice(uri.lastIndexOf('@') + 1);
    return (
      table[address] ??
      (async () => {
        throw new Error(`connect to ${address} failed: ECONNREFUSED`);
      })
    );
  };
}

describe('collectStatus', () => {
  it('recognises a member listed twice, maps a dead address through a peer, keeps strangers', async () => {
    const self = report(
      1,
      U1,
      {
        1: { id: 1, uuid: U1, lsn: 5 },
        2: {
          id: 2,
          uuid: U2,
          lsn: 3,
          upstream: follow('alice@127.0.0.1:2'),
          downstream: { status: 'follow', idle: 0.2, vclock: { 1: 5 } },
        },
        3: {
          id: 3,
          uuid: U3,
          lsn: 0,
          upstream: {
            status: 'disconnected',
            idle: 9,
            peer: 'alice@127.0.0.1:3',
            lag: 0.01,
            message: 'connect, called on fd 20, aka 127.0.0.1:5: Connection refused',
          },
        },
      },
      // Itself spelt localhost and at another address, the two others, an address nobody is at.
      [
        'a:pw@localhost:1',
        'a:pw@127.0.0.2:1',
        'a:pw@127.0.0.1:2',
        'a:pw@127.0.0.1:3',
        'a:pw@127.0.0.1:9',
      ],
      new Map([[U2, 1536]]),
    );
    const peer2 = report(2, U2, {
      1: { id: 1, uuid: U1, lsn: 5, upstream: follow('alice@127.0.0.1:1', 0.25) },
    });
    const status = await collectStatus(
      { address: '127.0.0.1:1', probe: async () => self },
      probes({ '127.0.0.2:1': async () => self, '127.0.0.1:2': async () => peer2 }),
      { timeoutMs: 200 },
    );
    expect(status.members.map((m) => [m.id, m.address, m.status, m.source])).toEqual([
      [1, '127.0.0.1:1', 'up', 'queried'],
      [2, '127.0.0.1:2', 'up', 'contacted'],
      [3, '127.0.0.1:3', 'down', 'contacted'],
      [null, '127.0.0.1:9', 'down', 'contacted'],
    ]);
    const [m1, m2, m3] = status.members;
    expect(m2).toMatchObject({ lag: 0.25, wal_held_bytes: 1536, upstream: { status: 'follow' } });
    expect(m2!.downstream).toEqual({
      status: 'follow',
      idle: 0.2,
      lag: null,
      message: null,
      vclock: { 1: 5 },
    });
    expect(m3).toMatchObject({ uuid: U3, vclock: null, upstream: { status: 'disconnected' } });
    expect(m3!.error).toBe('connect to 127.0.0.1:3 failed: ECONNREFUSED');
    expect(m1!.upstreams.map((u) => u.id)).toEqual([2, 3]);
    expect(JSON.stringify(status)).not.toContain('pw');
    const table = renderStatusTable(status);
    expect(table).toContain('as seen from 127.0.0.1:1 (id 1, marked *): 2 of 4 up');
    expect(table).toMatch(
      /^2 +2{8}-.* +127\.0\.0\.1:2 +up \(running\) +follow +follow +0\.250 +\{1: 5, 2: 3\} +1\.5 KiB$/m,
    );
    expect(table).toMatch(/^3: connect to 127\.0\.0\.1:3 failed: ECONNREFUSED$/m);
  });

  it('an error reply is an answer (up), a silent member is down within the timeout', async () => {
    const self = report(1, U1, {
      1: { id: 1, uuid: U1, lsn: 5 },
      2: { id: 2, uuid: U2, lsn: 0, upstream: follow('r@127.0.0.1:2') },
      3: { id: 3, uuid: U3, lsn: 0, upstream: follow('r@127.0.0.1:3') },
    });
    const started = Date.now();
    const status = await collectStatus(
      { address: '127.0.0.1:1', probe: async () => self },
      probes({
        '127.0.0.1:2': async () => {
          throw new RemoteError(
            'AccessDeniedError',
            42,
            "Execute access to universe '' is denied for user 'r'",
            undefined,
          );
        },
        '127.0.0.1:3': () => new Promise<MemberReport>(() => {}),
      }),
      { timeoutMs: 100 },
    );
    expect(Date.now() - started).toBeLessThan(2000);
    expect(status.members.map((m) => [m.id, m.status])).toEqual([
      [1, 'up'],
      [2, 'up'],
      [3, 'down'],
    ]);
    expect(status.members[1]!.error).toMatch(/Execute access/);
    expect(status.members[2]!.error).toMatch(/timed out after 400 ms/);
  });

  it("judges a member with no address by the queried member's links, and fails only on the queried one", async () => {
    const self = report(1, U1, {
      1: { id: 1, uuid: U1, lsn: 5 },
      2: { id: 2, uuid: U2, lsn: 0, downstream: { status: 'follow', idle: 0.1, vclock: { 1: 5 } } },
      3: {
        id: 3,
        uuid: U3,
        lsn: 0,
        downstream: { status: 'stopped', message: 'unexpected EOF when reading from socket' },
      },
      // In _cluster only (another replica of this replica's master): nothing says it is down.
      4: { id: 4, uuid: U4, lsn: 0 },
    });
    const status = await collectStatus(
      { address: '127.0.0.1:1', probe: async () => self },
      probes({}),
    );
    expect(status.members.map((m) => [m.id, m.status, m.source, m.address])).toEqual([
      [1, 'up', 'queried', '127.0.0.1:1'],
      [2, 'up', 'seen', null],
      [3, 'down', 'seen', null],
      [4, 'unknown', 'seen', null],
    ]);
    expect(status.members[2]!.error).toBe('no address known; link stopped');
    expect(status.members[3]!.error).toBe('no address known; no link to it');
    expect(renderStatusTable(status)).toMatch(/^4 +4{8}-.* +- +unknown /m);
    await expect(
      collectStatus(
        {
          address: '127.0.0.1:1',
          probe: async () => {
            throw new Error('connect to 127.0.0.1:1 failed: ECONNREFUSED');
          },
        },
        probes({}),
      ),
    ).rejects.toThrow(
      new UnreachableError('127.0.0.1:1: connect to 127.0.0.1:1 failed: ECONNREFUSED'),
    );
  });

  it('formats bytes as the table prints them', () => {
    expect([0, 1023, 1024, 1536, 5 * 1024 * 1024, null].map(formatBytes)).toEqual([
      '0 B',
      '1023 B',
      '1.0 KiB',
      '1.5 KiB',
      '5.0 MiB',
      '-',
    ]);
  });
});
