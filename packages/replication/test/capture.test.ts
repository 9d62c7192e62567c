// Records a real Tarantool 2.6 master → replica session through a proxy (tarantool-pair.ts)
// and checks it with our codec (recording-checks.ts). With RECORD_FIXTURES=1 it also rewrites
// test/fixtures/ (the committed copy fixtures.test.ts reads). Needs `tarantool`: under CI=true
// its absence fails the test; elsewhere the test is skipped and says why.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { probeMaster } from './probe.js';
import { checkProbe, checkReplicationSession } from './recording-checks.js';
import { hasTarantool, recordPair } from './tarantool-pair.js';

const mustRun = process.env.CI === 'true';
const FIXTURES = join(import.meta.dirname, 'fixtures');

if (!hasTarantool && !mustRun)
  console.warn('capture.test.ts skipped: `tarantool` (2.6) is not on PATH');

describe.skipIf(!hasTarantool && !mustRun)('recording real Tarantool 2.6 replication', () => {
  it('JOIN, SUBSCRIBE, live rows, heartbeats and acks decode field by field', async () => {
    if (!hasTarantool) throw new Error('CI=true but `tarantool` is not installed');
    const recording = await recordPair(probeMaster);
    const session = recording.connections.find((c) => c.replicaToMaster.length > 200);
    expect(session, `no replication connection recorded\n${recording.replicaLog}`).toBeDefined();
    if (process.env.RECORD_FIXTURES === '1') {
      writeFileSync(join(FIXTURES, 'session.m2r.bin'), session!.masterToReplica);
      writeFileSync(join(FIXTURES, 'session.r2m.bin'), session!.replicaToMaster);
      writeFileSync(join(FIXTURES, 'probe.m2c.bin'), recording.probe.masterToClient);
      writeFileSync(join(FIXTURES, 'probe.c2m.bin'), recording.probe.clientToMaster);
    }
    checkReplicationSession(session!.masterToReplica, session!.replicaToMaster);
    checkProbe(recording.probe.masterToClient);
  }, 40_000);
});
