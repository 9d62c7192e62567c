// The register checker on hand-made histories (linearizable ones it must accept, and
// non-linearizable ones it must reject), and on seeded random histories generated from an
// atomic register (always linearizable) and then corrupted (a stale read: never linearizable).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkRegister, type HistoryEvent } from './register-linearizability.js';

const inv = (process: number, f: 'read' | 'write', value?: number): HistoryEvent =>
  f === 'write' ? { process, type: 'invoke', f, value: value! } : { process, type: 'invoke', f };
const ok = (process: number, f: 'read' | 'write', value?: number | null): HistoryEvent =>
  f === 'read' ? { process, type: 'ok', f, value: value ?? null } : { process, type: 'ok', f };
const fail = (process: number, f: 'read' | 'write'): HistoryEvent => ({ process, type: 'fail', f });
const info = (process: number, f: 'read' | 'write'): HistoryEvent => ({ process, type: 'info', f });

describe('register linearizability checker', () => {
  it('accepts sequential histories that follow the register', () => {
    expect(checkRegister([]).valid).toBe(true);
    const h = [
      inv(1, 'read'),
      ok(1, 'read', null),
      inv(1, 'write', 1),
      ok(1, 'write'),
      inv(2, 'read'),
      ok(2, 'read', 1),
    ];
    expect(checkRegister(h).valid).toBe(true);
    expect(checkRegister([inv(1, 'read'), ok(1, 'read', 4)], 4).valid).toBe(true);
  });

  it('rejects a read of a value never written', () => {
    const result = checkRegister([
      inv(1, 'write', 1),
      ok(1, 'write'),
      inv(2, 'read'),
      ok(2, 'read', 2),
    ]);
    expect(result.valid).toBe(false);
    expect(result).toMatchObject({ stuckAt: 'process 2: read 2' });
  });

  it('rejects a stale read after a newer write completed', () => {
    const h = [
      inv(1, 'write', 1),
      ok(1, 'write'),
      inv(1, 'write', 2),
      ok(1, 'write'),
      inv(2, 'read'),
      ok(2, 'read', 1),
    ];
    expect(checkRegister(h).valid).toBe(false);
  });

  it('accepts either value for a read concurrent with a write', () => {
    for (const seen of [null, 1])
      expect(
        checkRegister([inv(1, 'write', 1), inv(2, 'read'), ok(2, 'read', seen), ok(1, 'write')])
          .valid,
      ).toBe(true);
  });

  it('rejects a new value seen, then the old one, by reads that do not overlap (concurrent write)', () => {
    // The write is concurrent with both reads, but the reads are ordered: once a read saw 1,
    // a later read cannot see the initial value again.
    const h = [
      inv(1, 'write', 1),
      inv(2, 'read'),
      ok(2, 'read', 1),
      inv(3, 'read'),
      ok(3, 'read', null),
      ok(1, 'write'),
    ];
    expect(checkRegister(h).valid).toBe(false);
  });

  it('an info write may take effect later, or never; a failed write never', () => {
    const open = [inv(1, 'write', 5), info(1, 'write')];
    expect(checkRegister([...open, inv(2, 'read'), ok(2, 'read', 5)]).valid).toBe(true);
    expect(checkRegister([...open, inv(2, 'read'), ok(2, 'read', null)]).valid).toBe(true);
    // Seen, then not seen: it took effect once and nothing overwrote it.
    expect(
      checkRegister([
        ...open,
        inv(2, 'read'),
        ok(2, 'read', 5),
        inv(2, 'read'),
        ok(2, 'read', null),
      ]).valid,
    ).toBe(false);
    // An invocation without any completion counts as open too.
    expect(checkRegister([inv(1, 'write', 5), inv(2, 'read'), ok(2, 'read', 5)]).valid).toBe(true);
    expect(
      checkRegister([inv(1, 'write', 7), fail(1, 'write'), inv(2, 'read'), ok(2, 'read', 7)]).valid,
    ).toBe(false);
    // A read without an answer constrains nothing.
    expect(checkRegister([inv(1, 'read'), info(1, 'read')]).valid).toBe(true);
  });

  it('refuses malformed histories (recorder bugs)', () => {
    expect(() => checkRegister([ok(1, 'write')])).toThrow(/without invocation/);
    expect(() => checkRegister([inv(1, 'write', 1), inv(1, 'read')])).toThrow(/invoked twice/);
    expect(() =>
      checkRegister([inv(1, 'write', 1), info(1, 'write'), inv(1, 'read'), ok(1, 'read', 1)]),
    ).toThrow(/after an info/);
  });

  it('says unknown, not valid, past its state budget', () => {
    const h: HistoryEvent[] = [];
    for (let p = 0; p < 8; p++) h.push(inv(p, 'write', p));
    for (let p = 0; p < 8; p++) h.push(ok(p, 'write'));
    h.push(inv(9, 'read'), ok(9, 'read', 99));
    expect(checkRegister(h, null, 10).valid).toBe('unknown');
    expect(checkRegister(h).valid).toBe(false);
  });

  it('seeded random histories of an atomic register: accepted; with a stale read: rejected', () => {
    const seed = Number(process.env.SEED ?? Date.now() % 2 ** 31);
    console.log(`register checker property: SEED=${seed}`);
    let rejected = 0;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.boolean()), {
          minLength: 1,
          maxLength: 60,
        }),
        (steps) => {
          // Each step advances one of 4 processes: invoke when idle, then the atomic point (the
          // register changes or is read), then the completion.
          const history: HistoryEvent[] = [];
          type Open = { f: 'read' | 'write'; value: number; effect?: number | null };
          const phase = new Map<number, Open>();
          let register: number | null = null;
          let nextValue = 1;
          const takeEffect = (open: Open) => {
            if (open.f === 'write') register = open.value;
            open.effect = open.f === 'write' ? open.value : register;
          };
          const complete = (p: number, open: Open) => {
            phase.delete(p);
            history.push(open.f === 'write' ? ok(p, 'write') : ok(p, 'read', open.effect));
          };
          for (const [p, isWrite] of steps) {
            const open = phase.get(p);
            if (open === undefined) {
              const value = nextValue++;
              phase.set(p, { f: isWrite ? 'write' : 'read', value });
              history.push(inv(p, isWrite ? 'write' : 'read', value));
            } else if (open.effect === undefined) takeEffect(open);
            else complete(p, open);
          }
          for (const [p, open] of [...phase]) {
            if (open.effect === undefined) takeEffect(open);
            complete(p, open);
          }
          expect(checkRegister(history).valid).toBe(true);
          // Two writes a, b where a completed before b was invoked: after both, reading a is
          // not linearizable.
          const at = (p: number, type: string, from: number) =>
            history.findIndex((e, i) => i >= from && e.process === p && e.type === type);
          for (let i = 0; i < history.length; i++) {
            const a = history[i]!;
            if (a.type !== 'invoke' || a.f !== 'write') continue;
            const aDone = at(a.process, 'ok', i);
            const b = history.findIndex(
              (e, j) => j > aDone && e.type === 'invoke' && e.f === 'write',
            );
            if (b < 0) continue;
            const stale = [...history, inv(99, 'read'), ok(99, 'read', a.value!)];
            expect(checkRegister(stale).valid).toBe(false);
            rejected += 1;
            break;
          }
        },
      ),
      { seed, numRuns: 300 },
    );
    expect(rejected).toBeGreaterThan(20);
  });
});
