// The committed recording of a real Tarantool 2.6 session (fixtures/README.md), decoded with our
// codec field by field and re-encoded byte for byte. Runs without `tarantool`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'vitest';
import { checkProbe, checkReplicationSession } from './recording-checks.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const read = (name: string) => new Uint8Array(readFileSync(join(FIXTURES, name)));

it('a 2.6 replica joining and following a 2.6 master (session.*.bin)', () => {
  checkReplicationSession(read('session.m2r.bin'), read('session.r2m.bin'));
});

it("a 2.6 master's errors for guest JOIN, JOIN as itself, wrong password, unknown replica (probe.*.bin)", () => {
  checkProbe(read('probe.m2c.bin'));
});
