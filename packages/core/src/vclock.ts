// Vector clock: per replica id (0..31), the LSN of the last row from that instance applied here.
// Layer: core. Component 0 counts local (is_local / group 1) rows, which are never replicated.
// The signature (sum of components) names xlog and snap files and orders whole-instance states.
// Invariant: components never decrease (follow() asserts it); signature === sum of components.
import { AssertionError } from './assert.js';
import { LSN_MAX, VCLOCK_MAX } from './limits.js';

/** Result of comparing two vclocks; `undefined` when neither is ≤ the other (concurrent). */
export type VclockOrder = -1 | 0 | 1 | undefined;

export class Vclock {
  /** LSN per replica id; 0 = nothing from that id. */
  private readonly lsns: number[];
  private sum: number;

  constructor(entries?: Iterable<readonly [number, number]> | Readonly<Record<number, number>>) {
    this.lsns = new Array<number>(VCLOCK_MAX).fill(0);
    this.sum = 0;
    if (entries === undefined) return;
    const iterable =
      Symbol.iterator in entries
        ? (entries as Iterable<readonly [number, number]>)
        : Object.entries(entries).map(([id, lsn]) => [Number(id), lsn] as const);
    for (const [id, lsn] of iterable) this.set(id, lsn);
  }

  /** Parses Tarantool's text form "{0: 1, 1: 59}" (as in xlog headers). Throws on bad input. */
  static parse(text: string): Vclock {
    const trimmed = text.trim();
    if (!trimmed.startsWith('{') || !trimmed.endsWith('}'))
      throw new SyntaxError(`invalid vclock '${text}'`);
    const inner = trimmed.slice(1, -1).trim();
    const vclock = new Vclock();
    if (inner === '') return vclock;
    for (const part of inner.split(',')) {
      const match = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(part);
      if (match === null) throw new SyntaxError(`invalid vclock '${text}'`);
      const id = Number(match[1]);
      const lsn = Number(match[2]);
      if (id >= VCLOCK_MAX || !Number.isSafeInteger(lsn))
        throw new SyntaxError(`invalid vclock '${text}'`);
      vclock.set(id, lsn);
    }
    return vclock;
  }

  get(id: number): number {
    return this.lsns[id] ?? 0;
  }

  /** Sets a component (any direction: used when loading state, not when applying rows). */
  set(id: number, lsn: number): void {
    if (!(Number.isInteger(id) && id >= 0 && id < VCLOCK_MAX))
      throw new AssertionError(`vclock id ${id} out of range`);
    if (!(Number.isSafeInteger(lsn) && lsn >= 0 && lsn <= LSN_MAX))
      throw new AssertionError(`vclock lsn ${lsn} out of range`);
    this.sum += lsn - this.lsns[id]!;
    this.lsns[id] = lsn;
  }

  /** Advances component `id` to `lsn`, which must be greater than the current value. */
  follow(id: number, lsn: number): void {
    const previous = this.get(id);
    if (!(lsn > previous))
      throw new AssertionError(`vclock component ${id} must grow: ${previous} -> ${lsn}`);
    this.set(id, lsn);
  }

  /** Next LSN for `id` (current + 1), advancing the clock. */
  inc(id: number): number {
    const lsn = this.get(id) + 1;
    this.set(id, lsn);
    return lsn;
  }

  /** Sum of all components: the file name of xlogs and snapshots. */
  signature(): number {
    return this.sum;
  }

  copy(): Vclock {
    const clone = new Vclock();
    for (let id = 0; id < VCLOCK_MAX; id++) if (this.lsns[id]! !== 0) clone.set(id, this.lsns[id]!);
    return clone;
  }

  /** Copies every component of `other` into this clock. */
  assign(other: Vclock): void {
    for (let id = 0; id < VCLOCK_MAX; id++) this.set(id, other.get(id));
  }

  /** Raises each component to the maximum of this and `other`. */
  merge(other: Vclock): void {
    for (let id = 0; id < VCLOCK_MAX; id++)
      if (other.get(id) > this.get(id)) this.set(id, other.get(id));
  }

  /** Non-zero components as [id, lsn] pairs in id order. */
  entries(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let id = 0; id < VCLOCK_MAX; id++)
      if (this.lsns[id]! !== 0) out.push([id, this.lsns[id]!]);
    return out;
  }

  /** The map a replication peer expects: non-zero components, id 0 omitted. */
  toWireMap(): Map<number, number> {
    return new Map(this.entries().filter(([id]) => id !== 0));
  }

  /** A plain object for box.info ({1: 59}). */
  toObject(): Record<number, number> {
    return Object.fromEntries(this.entries());
  }

  /**
   * Partial order as Tarantool's vclock_compare: 0 equal, -1 this ≤ other, 1 this ≥ other,
   * undefined when concurrent. `ignore0` skips the local component (replication compares so).
   */
  compare(other: Vclock, ignore0 = false): VclockOrder {
    let le = true;
    let ge = true;
    for (let id = ignore0 ? 1 : 0; id < VCLOCK_MAX; id++) {
      const a = this.lsns[id]!;
      const b = other.get(id);
      if (a < b) ge = false;
      if (a > b) le = false;
    }
    if (le && ge) return 0;
    if (le) return -1;
    if (ge) return 1;
    return undefined;
  }

  /** True when every component is ≤ other's (this happened before or equals other). */
  isLessOrEqual(other: Vclock, ignore0 = false): boolean {
    const order = this.compare(other, ignore0);
    return order === 0 || order === -1;
  }

  equals(other: Vclock): boolean {
    return this.compare(other) === 0;
  }

  /** Tarantool's text form: "{0: 1, 1: 59}", "{}" when empty. */
  toString(): string {
    return `{${this.entries()
      .map(([id, lsn]) => `${id}: ${lsn}`)
      .join(', ')}}`;
  }
}
