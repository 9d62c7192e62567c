// Seeded model-based test of a whole space: random statements (insert, replace, delete,
// update, upsert, commits and reverse-order rollbacks) and reads (every iterator with full,
// partial and empty keys, limit/offset, get) run against a Space and against a plain model (an
// array of tuples and a reference comparator written independently: strings compare as UTF-8
// bytes through Buffer.compare). After every step the space's invariants are checked
// (checkSpace: every index a valid B-tree holding the same tuples, bsize, arena accounting).
// Runs at sorted-btree's smallest node size (4, so splits and merges happen all the time) and
// at the default. Replay a failure with SEED=<printed seed>.
import type { IteratorName } from '@tarantype/core';
import fc from 'fast-check';
import { describe, it } from 'vitest';
import {
  type IndexOptions,
  Space,
  type Statement,
  TREE_NODE_SIZE_DEFAULT,
  TREE_NODE_SIZE_MIN,
} from '../src/index.js';
import { checkSpace } from '../src/testing.js';
import { errorOf, seeded } from './helpers.js';

type Value = number | string | null;
type Tuple = Value[];
type PartType = 'unsigned' | 'integer' | 'string';

interface ModelIndex {
  name: string;
  type: 'TREE' | 'HASH';
  unique: boolean;
  parts: { field: number; type: PartType; nullable: boolean }[];
}

const CONFIGS: Record<string, ModelIndex[]> = {
  'numeric primary key (direct layout)': [
    {
      name: 'pk',
      type: 'TREE',
      unique: true,
      parts: [{ field: 0, type: 'unsigned', nullable: false }],
    },
    {
      name: 'by_s',
      type: 'TREE',
      unique: false,
      parts: [{ field: 1, type: 'string', nullable: false }],
    },
    {
      name: 'by_i_s',
      type: 'TREE',
      unique: true,
      parts: [
        { field: 2, type: 'integer', nullable: true },
        { field: 1, type: 'string', nullable: false },
      ],
    },
    {
      name: 'by_h',
      type: 'HASH',
      unique: true,
      parts: [{ field: 3, type: 'unsigned', nullable: false }],
    },
  ],
  'string + number primary key (by-ref layout)': [
    {
      name: 'pk',
      type: 'TREE',
      unique: true,
      parts: [
        { field: 1, type: 'string', nullable: false },
        { field: 0, type: 'unsigned', nullable: false },
      ],
    },
    {
      name: 'by_i',
      type: 'TREE',
      unique: false,
      parts: [{ field: 2, type: 'integer', nullable: true }],
    },
    {
      name: 'by_h',
      type: 'TREE',
      unique: true,
      parts: [{ field: 3, type: 'unsigned', nullable: false }],
    },
    {
      name: 'by_id_h',
      type: 'HASH',
      unique: true,
      parts: [
        { field: 0, type: 'unsigned', nullable: false },
        { field: 3, type: 'unsigned', nullable: false },
      ],
    },
  ],
};

// {{{ reference semantics

function compareValues(a: Value, b: Value, type: PartType): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1;
  if (type === 'string')
    return Buffer.compare(Buffer.from(a as string, 'utf8'), Buffer.from(b as string, 'utf8'));
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
}

function keyOf(t: Tuple, index: ModelIndex): Value[] {
  return index.parts.map((p) => t[p.field] ?? null);
}

/** Compares a (possibly partial) key with a tuple's key parts. */
function compareKey(key: Value[], t: Tuple, index: ModelIndex): number {
  for (let i = 0; i < key.length; i++) {
    const part = index.parts[i]!;
    const c = compareValues(key[i]!, t[part.field] ?? null, part.type);
    if (c !== 0) return c;
  }
  return 0;
}

/** Tree order: key parts, then the primary key (breaks ties of non-unique and nil keys). */
function compareTuples(a: Tuple, b: Tuple, index: ModelIndex, pk: ModelIndex): number {
  const c = compareKey(keyOf(a, index), b, index);
  if (c !== 0) return c;
  return compareKey(keyOf(a, pk), b, pk);
}

function sameUniqueKey(a: Tuple, b: Tuple, index: ModelIndex): boolean {
  const key = keyOf(a, index);
  // A unique index with nullable parts lets any number of tuples hold nil there.
  if (key.some((v) => v === null)) return false;
  return compareKey(key, b, index) === 0;
}

class Model {
  tuples: Tuple[] = [];
  constructor(readonly indexes: ModelIndex[]) {}

  get pk(): ModelIndex {
    return this.indexes[0]!;
  }

  find(key: Value[], index: ModelIndex): Tuple | undefined {
    return this.tuples.find((t) => compareKey(key, t, index) === 0);
  }

  /** Tarantool's replace_all_keys checks: the error (code, index name) or the replaced tuple. */
  check(
    newTuple: Tuple,
    old: Tuple | undefined,
    mode: 'insert' | 'replace' | 'update',
  ): { error?: [number, string]; old?: Tuple } {
    const samePk = this.find(keyOf(newTuple, this.pk), this.pk);
    if (mode === 'insert' && samePk !== undefined) return { error: [3, this.pk.name] };
    if (mode === 'update' && samePk !== old)
      return { error: samePk === undefined ? [94, this.pk.name] : [3, this.pk.name] };
    const replaced = mode === 'replace' ? samePk : old;
    for (const index of this.indexes.slice(1)) {
      if (!index.unique) continue;
      const other = this.tuples.find((t) => t !== replaced && sameUniqueKey(newTuple, t, index));
      if (other !== undefined) return { error: [3, index.name] };
    }
    return replaced === undefined ? {} : { old: replaced };
  }

  apply(old: Tuple | undefined, next: Tuple | undefined): void {
    this.tuples = this.tuples.filter((t) => t !== old);
    if (next !== undefined) this.tuples.push(next);
  }

  select(index: ModelIndex, iterator: string, key: Value[]): Tuple[] {
    const sorted = [...this.tuples].sort((a, b) => compareTuples(a, b, index, this.pk));
    const reverse = iterator === 'REQ' || iterator === 'LT' || iterator === 'LE';
    if (key.length === 0) return reverse ? sorted.reverse() : sorted;
    const keep = (t: Tuple): boolean => {
      const c = -compareKey(key, t, index);
      switch (iterator) {
        case 'EQ':
        case 'REQ':
          return c === 0;
        case 'ALL':
        case 'GE':
          return c >= 0;
        case 'GT':
          return c > 0;
        case 'LE':
          return c <= 0;
        default:
          return c < 0;
      }
    };
    const result = sorted.filter(keep);
    return reverse ? result.reverse() : result;
  }
}

// }}}
// {{{ generated steps

const STRINGS = ['', 'a', 'A', 'ab', 'b', 'é', '\u{10000}', '\u{ffff}', 'z'];
const fieldValues = {
  id: fc.integer({ min: 0, max: 12 }),
  s: fc.constantFrom(...STRINGS),
  i: fc.oneof(fc.constant(null), fc.integer({ min: -3, max: 3 })),
  h: fc.integer({ min: 0, max: 40 }),
};
const tupleArb = fc
  .tuple(fieldValues.id, fieldValues.s, fieldValues.i, fieldValues.h)
  .map((t) => [...t] as Tuple);
const updateOpArb = fc.oneof(
  // The primary key: kept (the same value) or changed (ER_CANT_UPDATE_PRIMARY_KEY, or
  // ER_TUPLE_FOUND when another tuple has the new key).
  fc.tuple(fc.constant('='), fc.constant(0), fieldValues.id),
  fc.tuple(fc.constant('='), fc.constant(1), fieldValues.s),
  fc.tuple(fc.constant('='), fc.constant(2), fieldValues.i),
  fc.tuple(fc.constant('+'), fc.constant(3), fc.integer({ min: 0, max: 3 })),
  fc.tuple(fc.constant('-'), fc.constant(3), fc.integer({ min: 0, max: 3 })),
);
type UpdateOp = [string, number, Value];

type Step =
  | { kind: 'insert' | 'replace'; tuple: Tuple }
  | { kind: 'delete'; pick: number }
  | { kind: 'update'; pick: number; ops: UpdateOp[] }
  | { kind: 'upsert'; tuple: Tuple; ops: UpdateOp[] }
  | {
      kind: 'select';
      index: number;
      iterator: string;
      pick: number;
      prefix: number;
      limit: number;
      offset: number;
    }
  | { kind: 'get'; index: number; pick: number }
  | { kind: 'commit' }
  | { kind: 'rollback'; count: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constantFrom('insert' as const, 'replace' as const),
      tuple: tupleArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('update' as const),
      pick: fc.nat(),
      ops: fc.array(updateOpArb, { maxLength: 2 }) as fc.Arbitrary<UpdateOp[]>,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('upsert' as const),
      tuple: tupleArb,
      ops: fc.array(updateOpArb, { maxLength: 2 }) as fc.Arbitrary<UpdateOp[]>,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('select' as const),
      index: fc.nat({ max: 3 }),
      iterator: fc.constantFrom('EQ', 'REQ', 'ALL', 'LT', 'LE', 'GE', 'GT'),
      pick: fc.nat(),
      prefix: fc.nat({ max: 2 }),
      limit: fc.oneof(fc.constant(1_000_000), fc.nat({ max: 4 })),
      offset: fc.oneof(fc.constant(0), fc.nat({ max: 3 })),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('get' as const),
      index: fc.nat({ max: 3 }),
      pick: fc.nat(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('commit' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('rollback' as const), count: fc.nat({ max: 6 }) }),
  },
);

// }}}

function applyOps(t: Tuple, ops: UpdateOp[]): Tuple {
  const next = [...t];
  for (const [op, field, arg] of ops) {
    if (op === '=') next[field] = arg;
    else next[field] = (next[field] as number) + (op === '+' ? (arg as number) : -(arg as number));
  }
  return next;
}

/** Ops the model can predict: arithmetic on field 3 must stay unsigned and not repeat. */
function validOps(t: Tuple, ops: UpdateOp[]): boolean {
  const fields = new Set<number>();
  for (const [op, field] of ops) {
    if (fields.has(field) && op !== '=') return false;
    fields.add(field);
  }
  return (applyOps(t, ops)[3] as number) >= 0;
}

function run(indexes: ModelIndex[], maxNodeSize: number, steps: Step[], autocommit: boolean): void {
  const space = new Space({ id: 512, name: 'model', autocommit });
  for (const index of indexes) {
    const options: IndexOptions = {
      name: index.name,
      type: index.type,
      unique: index.unique,
      parts: index.parts.map((p) => ({ field: p.field, type: p.type, is_nullable: p.nullable })),
      maxNodeSize,
    };
    space.createIndex(options);
  }
  const model = new Model(indexes);
  // Pending statements with the model as it was before each (transactional mode).
  const pending: { statement: Statement; before: Tuple[] }[] = [];
  const fail = (what: string, got: unknown, want: unknown): never => {
    throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  };
  const expectError = (
    what: string,
    fn: () => unknown,
    error: [number, string] | undefined,
  ): unknown => {
    let result: unknown;
    const got = errorOf(() => {
      result = fn();
    });
    const want = error && {
      code: error[0],
      message:
        error[0] === 3
          ? `Duplicate key exists in unique index '${error[1]}' in space 'model'`
          : `Attempt to modify a tuple field which is part of index '${error[1]}' in space 'model'`,
    };
    if (JSON.stringify(got) !== JSON.stringify(want)) fail(what, got, want);
    return result;
  };
  const record = (statement: Statement | undefined, before: Tuple[]): void => {
    if (statement !== undefined && !autocommit) pending.push({ statement, before });
  };
  const pick = (n: number): Tuple | undefined => {
    const sorted = [...model.tuples].sort((a, b) => compareTuples(a, b, model.pk, model.pk));
    return sorted.length === 0 ? undefined : sorted[n % sorted.length];
  };

  for (const step of steps) {
    const before = [...model.tuples];
    switch (step.kind) {
      case 'insert':
      case 'replace': {
        const verdict = model.check(step.tuple, undefined, step.kind);
        const statement = expectError(
          `${step.kind} ${JSON.stringify(step.tuple)}`,
          () => space[step.kind](step.tuple),
          verdict.error,
        );
        if (verdict.error === undefined) {
          model.apply(verdict.old, step.tuple);
          record(statement as Statement, before);
        }
        break;
      }
      case 'delete': {
        const t = pick(step.pick);
        if (t === undefined) break;
        record(space.delete(keyOf(t, model.pk)), before);
        model.apply(t, undefined);
        break;
      }
      case 'update': {
        const t = pick(step.pick);
        if (t === undefined || !validOps(t, step.ops)) break;
        const next = applyOps(t, step.ops);
        const verdict = model.check(next, t, 'update');
        const statement = expectError(
          `update ${JSON.stringify(t)} by ${JSON.stringify(step.ops)}`,
          () => space.update(keyOf(t, model.pk), step.ops),
          verdict.error,
        );
        if (verdict.error === undefined) {
          model.apply(t, next);
          record(statement as Statement, before);
        }
        break;
      }
      case 'upsert': {
        const old = model.find(keyOf(step.tuple, model.pk), model.pk);
        if (old !== undefined && !validOps(old, step.ops)) break;
        const next = old === undefined ? step.tuple : applyOps(old, step.ops);
        if (old !== undefined && compareKey(keyOf(old, model.pk), next, model.pk) !== 0) {
          // The ops would change the primary key: a no-op with the error reported.
          const statement = space.upsert(step.tuple, step.ops);
          if (statement.upsertErrors.length !== 1 || !statement.isNop)
            fail('upsert changing the primary key', statement.upsertErrors, 'one error, no change');
          record(statement, before);
          break;
        }
        const verdict = model.check(next, old, old === undefined ? 'insert' : 'update');
        const statement = expectError(
          `upsert ${JSON.stringify(step.tuple)} ${JSON.stringify(step.ops)}`,
          () => space.upsert(step.tuple, step.ops),
          verdict.error,
        );
        if (verdict.error === undefined) {
          model.apply(old, next);
          record(statement as Statement, before);
        }
        break;
      }
      case 'select': {
        const index = indexes[step.index]!;
        const t = pick(step.pick);
        const full = t === undefined ? [] : keyOf(t, index);
        let key = full.slice(0, step.prefix === 2 ? full.length : step.prefix);
        let iterator = step.iterator;
        if (index.type === 'HASH') {
          // HASH: EQ with a full key, or ALL; the order of ALL is the hash order.
          iterator = key.length === full.length && full.length > 0 ? 'EQ' : 'ALL';
          key = iterator === 'EQ' ? full : [];
        }
        const got = space.select(key, {
          index: index.name,
          iterator: iterator as IteratorName,
          limit: step.limit,
          offset: step.offset,
        });
        const want = model
          .select(index, iterator, key)
          .slice(step.offset, step.offset + step.limit);
        if (index.type === 'HASH' && iterator === 'ALL') {
          const order = (x: Tuple[]) => x.map((v) => JSON.stringify(v)).sort();
          if (
            step.offset === 0 &&
            step.limit >= model.tuples.length &&
            JSON.stringify(order(got as Tuple[])) !== JSON.stringify(order(model.tuples))
          ) {
            fail(`select ALL from ${index.name}`, got, model.tuples);
          }
          if (got.length !== want.length)
            fail(`select ALL count from ${index.name}`, got.length, want.length);
          break;
        }
        if (JSON.stringify(got) !== JSON.stringify(want))
          fail(
            `select ${iterator} ${JSON.stringify(key)} from ${index.name} limit ${step.limit} offset ${step.offset}`,
            got,
            want,
          );
        break;
      }
      case 'get': {
        const index = indexes[step.index]!;
        const t = pick(step.pick);
        if (!index.unique || t === undefined) break;
        const key = keyOf(t, index);
        if (key.some((v) => v === null)) break;
        const got = space.get(key, { index: index.name });
        if (JSON.stringify(got) !== JSON.stringify(model.find(key, index)))
          fail(`get ${JSON.stringify(key)} from ${index.name}`, got, t);
        break;
      }
      case 'commit':
        for (const p of pending) p.statement.commit();
        pending.length = 0;
        break;
      case 'rollback': {
        const n = Math.min(step.count, pending.length);
        const undone = pending.splice(pending.length - n, n);
        for (let i = undone.length - 1; i >= 0; i--) undone[i]!.statement.rollback();
        if (undone.length > 0) model.tuples = undone[0]!.before;
        break;
      }
    }
    checkSpace(space);
    if (space.len() !== model.tuples.length) fail('len', space.len(), model.tuples.length);
  }
  for (const p of pending) p.statement.commit();
  checkSpace(space);
}

describe('space against a model', () => {
  for (const [name, indexes] of Object.entries(CONFIGS)) {
    for (const maxNodeSize of [TREE_NODE_SIZE_MIN, TREE_NODE_SIZE_DEFAULT]) {
      for (const autocommit of [true, false]) {
        it(`${name}, node size ${maxNodeSize}, ${autocommit ? 'autocommit' : 'transactions with reverse-order rollbacks'}`, () => {
          fc.assert(
            fc.property(
              fc.array(stepArb, { minLength: 1, maxLength: 120, size: 'max' }),
              (steps) => {
                run(indexes, maxNodeSize, steps, autocommit);
              },
            ),
            seeded(100),
          );
        });
      }
    }
  }
});
