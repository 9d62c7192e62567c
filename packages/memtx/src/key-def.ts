// KeyDef: the parts of an index key and everything that reads keys out of tuples. Layer: memtx.
//
// A part names a tuple field (0-based here; Tarantool's Lua API counts from 1), its type and
// whether it may be nil. Comparators work on MessagePack bytes in place: a tuple is given as
// (chunk, position of its array header), a search key as (bytes, position of its first part).
//
// Tarantool's `cmp_def` rule is kept: a non-unique index orders equal keys by the primary key
// parts that are not already key parts, and a unique index with nullable parts does the same
// only when a nil was met (so many tuples may hold nil in a unique nullable index). A missing
// trailing field of a nullable part reads as nil.
//
// This module knows nothing of indexes or spaces; errors are ClientErrors with 2.6's texts.
import { ClientError, ErrorCode, MsgpackWriter } from '@tarantype/core';
import { comparatorFor, type FieldComparator, hashField, hashStart } from './compare.js';
import { type FieldType, valueMatchesType } from './field-type.js';
import {
  cursor,
  MP_ARRAY,
  mpReadArrayHeader,
  mpSkip,
  mpSkipFields,
  mpTypeOf,
  validateMsgpack,
} from './mp.js';

export interface KeyPart {
  /** 0-based field number in the tuple. */
  readonly fieldNo: number;
  readonly type: FieldType;
  readonly isNullable: boolean;
}

/** A position meaning "the field is absent" (a nullable part past the tuple's end). */
const ABSENT = -1;

function isNil(bytes: Uint8Array, p: number): boolean {
  return p === ABSENT || bytes[p] === 0xc0;
}

export class KeyDef {
  readonly parts: readonly KeyPart[];
  /** Per part: the field comparator of its type. */
  readonly comparators: readonly FieldComparator[];
  readonly hasNullable: boolean;
  /** Parts appear in strictly increasing field order (fields can be found in one pass). */
  private readonly ascending: boolean;
  /** Per part: its position, scratch for one tuple (see locate). */
  private readonly positionsA: number[];
  private readonly positionsB: number[];

  constructor(parts: readonly KeyPart[]) {
    this.parts = parts;
    this.comparators = parts.map((part) => comparatorFor(part.type));
    this.hasNullable = parts.some((part) => part.isNullable);
    this.ascending = parts.every((part, i) => i === 0 || part.fieldNo > parts[i - 1]!.fieldNo);
    this.positionsA = parts.map(() => 0);
    this.positionsB = parts.map(() => 0);
  }

  get partCount(): number {
    return this.parts.length;
  }

  /** Positions of every part's field in the tuple at `p` (ABSENT when missing) into `out`. */
  locate(bytes: Uint8Array, p: number, out: number[]): void {
    const count = mpReadArrayHeader(bytes, p);
    const first = cursor.pos;
    const parts = this.parts;
    if (this.ascending) {
      let position = first;
      let fieldNo = 0;
      for (let i = 0; i < parts.length; i++) {
        const target = parts[i]!.fieldNo;
        if (target >= count) {
          for (; i < parts.length; i++) out[i] = ABSENT;
          return;
        }
        position = mpSkipFields(bytes, position, target - fieldNo);
        fieldNo = target;
        out[i] = position;
      }
      return;
    }
    for (let i = 0; i < parts.length; i++) {
      const target = parts[i]!.fieldNo;
      out[i] = target >= count ? ABSENT : mpSkipFields(bytes, first, target);
    }
  }

  /** Position of part `i`'s field in the tuple at `p`, or ABSENT. */
  fieldPosition(bytes: Uint8Array, p: number, i: number): number {
    const count = mpReadArrayHeader(bytes, p);
    const target = this.parts[i]!.fieldNo;
    return target >= count ? ABSENT : mpSkipFields(bytes, cursor.pos, target);
  }

  /**
   * Compares the key parts of two tuples. Returns the result and, through `sawNil`, whether a
   * nil part was met (for the unique-nullable rule).
   */
  compareTuples(a: Uint8Array, pa: number, b: Uint8Array, pb: number): number {
    this.sawNil = false;
    const parts = this.parts;
    if (parts.length === 1) {
      const fa = this.fieldPosition(a, pa, 0);
      const fb = this.fieldPosition(b, pb, 0);
      return this.comparePart(0, a, fa, b, fb);
    }
    const positionsA = this.positionsA;
    const positionsB = this.positionsB;
    this.locate(a, pa, positionsA);
    this.locate(b, pb, positionsB);
    for (let i = 0; i < parts.length; i++) {
      const c = this.comparePart(i, a, positionsA[i]!, b, positionsB[i]!);
      if (c !== 0) return c;
    }
    return 0;
  }
  /** Set by compareTuples and compareKeyWithTuple: a nil part compared equal. */
  sawNil = false;

  private comparePart(i: number, a: Uint8Array, fa: number, b: Uint8Array, fb: number): number {
    if (this.parts[i]!.isNullable) {
      const aNil = isNil(a, fa);
      const bNil = isNil(b, fb);
      if (aNil || bNil) {
        if (aNil && bNil) {
          this.sawNil = true;
          return 0;
        }
        return aNil ? -1 : 1;
      }
    }
    return this.comparators[i]!(a, fa, b, fb);
  }

  /**
   * Compares the first `partCount` parts of a search key (parts start at key[kp]) with the
   * tuple at t[tp]: negative when the key sorts before the tuple.
   */
  compareKeyWithTuple(
    key: Uint8Array,
    kp: number,
    partCount: number,
    t: Uint8Array,
    tp: number,
  ): number {
    this.sawNil = false;
    if (partCount === 1) return this.comparePart(0, key, kp, t, this.fieldPosition(t, tp, 0));
    const positions = this.positionsB;
    this.locate(t, tp, positions);
    let p = kp;
    for (let i = 0; i < partCount; i++) {
      const c = this.comparePart(i, key, p, t, positions[i]!);
      if (c !== 0) return c;
      p = mpSkip(key, p);
    }
    return 0;
  }

  /** Hash of the key parts of the tuple at `p` (HASH index). */
  hashTuple(bytes: Uint8Array, p: number): number {
    const positions = this.positionsA;
    this.locate(bytes, p, positions);
    let h = hashStart();
    for (let i = 0; i < this.parts.length; i++) h = hashField(h, bytes, positions[i]!);
    return h;
  }

  /** Hash of a full search key whose parts start at key[kp]. */
  hashKey(key: Uint8Array, kp: number): number {
    let h = hashStart();
    let p = kp;
    for (let i = 0; i < this.parts.length; i++) {
      h = hashField(h, key, p);
      p = mpSkip(key, p);
    }
    return h;
  }

  /** Writes the key parts of the tuple at `p` as a MessagePack array (nil for absent parts). */
  extractKey(bytes: Uint8Array, p: number, writer: MsgpackWriter): void {
    const positions = this.positionsA;
    this.locate(bytes, p, positions);
    writer.arrayHeader(this.parts.length);
    for (let i = 0; i < this.parts.length; i++) {
      const fp = positions[i]!;
      if (fp === ABSENT) writer.nil();
      else writer.raw(bytes.subarray(fp, mpSkip(bytes, fp)));
    }
  }

  /**
   * Checks the parts of a search key (Tarantool's key_validate_parts): each part must match its
   * type, nil only where the part is nullable. Parts start at key[kp].
   */
  validateKeyParts(key: Uint8Array, kp: number, partCount: number): void {
    let p = kp;
    for (let i = 0; i < partCount; i++) {
      const part = this.parts[i]!;
      const nil = key[p] === 0xc0;
      if (nil ? !part.isNullable : !valueMatchesType(part.type, key, p)) {
        throw new ClientError(ErrorCode.ER_KEY_PART_TYPE, i, part.type);
      }
      p = mpSkip(key, p);
    }
  }
}

/** A search key: MessagePack bytes, where its parts start, and how many there are. */
export interface SearchKey {
  readonly bytes: Uint8Array;
  readonly start: number;
  readonly partCount: number;
}

const keyWriter = new MsgpackWriter(1024);

/**
 * Turns a key given as JS values or as MessagePack bytes (an array, as iproto sends it) into a
 * SearchKey. JS numbers in `double` parts are written as doubles (JavaScript has one number
 * type; Tarantool's `double` refuses MP_INT). The returned bytes are owned by the caller.
 */
export function toSearchKey(
  key: readonly unknown[] | Uint8Array,
  keyDef: KeyDef | undefined,
): SearchKey {
  let bytes: Uint8Array;
  if (key instanceof Uint8Array) {
    if (key.length === 0 || mpTypeOf(key, 0) !== MP_ARRAY || !validateMsgpack(key, 0, key.length)) {
      throw new ClientError(ErrorCode.ER_TUPLE_NOT_ARRAY);
    }
    bytes = key;
  } else {
    keyWriter.reset();
    keyWriter.arrayHeader(key.length);
    for (let i = 0; i < key.length; i++) {
      const value = key[i];
      if (typeof value === 'number' && keyDef?.parts[i]?.type === 'double') keyWriter.double(value);
      else encodeValue(keyWriter, value);
    }
    bytes = keyWriter.toBytes();
  }
  const partCount = mpReadArrayHeader(bytes, 0);
  return { bytes, start: cursor.pos, partCount };
}

/** Encodes one JS value; values MessagePack cannot carry are ER_ILLEGAL_PARAMS. */
export function encodeValue(writer: MsgpackWriter, value: unknown): void {
  try {
    writer.value(value);
  } catch (error) {
    throw new ClientError(
      ErrorCode.ER_ILLEGAL_PARAMS,
      `cannot encode ${describe(value)}: ${(error as Error).message}`,
    );
  }
}

function describe(value: unknown): string {
  return value === null ? 'null' : typeof value;
}
