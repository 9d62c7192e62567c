// TupleFormat: what a tuple of a space must look like. Layer: memtx.
//
// A space format (field names, types, is_nullable) combines with the parts of its indexes as
// in Tarantool's tuple_format_use_key_part: a part whose type is contained in the field's type
// narrows it (format `number`, part `unsigned` → the field must be unsigned); an incompatible
// part is ER_FORMAT_MISMATCH_INDEX_PART (or ER_INDEX_PART_TYPE_MISMATCH between two indexes);
// a field is nullable only if the format and every part on it say so. Fields past the format
// that no index uses are free.
//
// validate() reports, like 2.6: the exact field count first, then the first field of a wrong
// type (ER_FIELD_TYPE, 1-based, with the effective type), then the first missing required
// field (ER_FIELD_MISSING).
import { ClientError, ErrorCode } from '@tarantype/core';
import { type FieldType, isFieldType, typeContains, valueMatchesType } from './field-type.js';
import type { KeyDef } from './key-def.js';
import { cursor, mpReadArrayHeader, mpSkip } from './mp.js';

/** One field of a space format, Tarantool's shape ({name, type, is_nullable}). */
export interface FormatField {
  readonly name: string;
  readonly type: FieldType;
  readonly is_nullable: boolean;
}

/** A format field as callers give it: type defaults to 'any', is_nullable to false. */
export interface FormatFieldInput {
  readonly name: string;
  readonly type?: FieldType | string;
  readonly is_nullable?: boolean;
}

/** Validates and normalises a space format (errors as box.schema.space.create). */
export function normalizeFormat(
  spaceName: string,
  format: readonly FormatFieldInput[],
): FormatField[] {
  const seen = new Set<string>();
  return format.map((field, i) => {
    if (
      typeof field !== 'object' ||
      field === null ||
      typeof field.name !== 'string' ||
      field.name === ''
    ) {
      throw new ClientError(
        ErrorCode.ER_CREATE_SPACE,
        spaceName,
        `field ${i + 1} name must be a non-empty string`,
      );
    }
    const type = (field.type ?? 'any').toLowerCase();
    if (!isFieldType(type))
      throw new ClientError(
        ErrorCode.ER_CREATE_SPACE,
        spaceName,
        `field ${i + 1} has unknown field type`,
      );
    if (seen.has(field.name))
      throw new ClientError(ErrorCode.ER_SPACE_FIELD_IS_DUPLICATE, field.name);
    seen.add(field.name);
    return { name: field.name, type, is_nullable: field.is_nullable === true };
  });
}

export class TupleFormat {
  /** Effective type per field (format ∩ index parts); 'any' means unchecked. */
  readonly types: readonly FieldType[];
  readonly nullable: readonly boolean[];
  /** Tuples need at least this many fields (1 + the last required field). */
  readonly requiredCount: number;
  /** Per field: encode JS numbers as MP_DOUBLE (the field's type is `double`). */
  readonly doubleFields: readonly boolean[];

  /**
   * @param keyDefs the key definitions of the space's indexes, primary first.
   * Throws ER_FORMAT_MISMATCH_INDEX_PART / ER_INDEX_PART_TYPE_MISMATCH on a conflict.
   */
  constructor(
    readonly fields: readonly FormatField[],
    readonly exactFieldCount: number,
    keyDefs: readonly KeyDef[],
  ) {
    const types: FieldType[] = fields.map((f) => f.type);
    const nullable: boolean[] = fields.map((f) => f.is_nullable);
    const keyPart: boolean[] = fields.map(() => false);
    for (const keyDef of keyDefs) {
      for (const part of keyDef.parts) {
        const f = part.fieldNo;
        while (types.length <= f) {
          types.push('any');
          nullable.push(true);
          keyPart.push(false);
        }
        if (!part.isNullable) nullable[f] = false;
        const current = types[f]!;
        if (typeContains(current, part.type)) {
          types[f] = part.type;
        } else if (!typeContains(part.type, current)) {
          const code = keyPart[f]
            ? ErrorCode.ER_INDEX_PART_TYPE_MISMATCH
            : ErrorCode.ER_FORMAT_MISMATCH_INDEX_PART;
          throw new ClientError(code, f + 1, current, part.type);
        }
        keyPart[f] = true;
      }
    }
    let requiredCount = 0;
    for (let i = 0; i < types.length; i++) if (!nullable[i]) requiredCount = i + 1;
    this.types = types;
    this.nullable = nullable;
    this.requiredCount = requiredCount;
    this.doubleFields = types.map((t) => t === 'double');
  }

  /** Checks the tuple at bytes[p]; throws the first violation. Returns its field count. */
  validate(bytes: Uint8Array, p: number): number {
    const count = mpReadArrayHeader(bytes, p);
    if (this.exactFieldCount > 0 && count !== this.exactFieldCount) {
      throw new ClientError(ErrorCode.ER_EXACT_FIELD_COUNT, count, this.exactFieldCount);
    }
    const types = this.types;
    const n = Math.min(count, types.length);
    let q = cursor.pos;
    for (let i = 0; i < n; i++) {
      const type = types[i]!;
      if (type !== 'any') {
        const ok = bytes[q] === 0xc0 ? this.nullable[i]! : valueMatchesType(type, bytes, q);
        if (!ok) throw new ClientError(ErrorCode.ER_FIELD_TYPE, i + 1, type);
      }
      if (i + 1 < n) q = mpSkip(bytes, q);
    }
    if (count < this.requiredCount) {
      let missing = count;
      while (this.nullable[missing]) missing++;
      throw new ClientError(ErrorCode.ER_FIELD_MISSING, missing + 1);
    }
    return count;
  }
}
