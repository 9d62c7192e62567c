// Tarantool 2.6 field types: names, which MessagePack values each accepts, and how a space
// format's type combines with index part types. Layer: memtx.
//
// Observed on 2.6.0 (test/fixtures/tarantool-2.6.json): `double` accepts only MP_DOUBLE (not
// MP_FLOAT, not integers); `scalar` accepts booleans, numbers, strings and varbinary but not
// nil, uuid, arrays or maps; `uuid` is the MP_EXT type 2 of 16 bytes. Decimal values (MP_EXT 1)
// are accepted only by `decimal` and `any` fields here (see README, "Differences").
import {
  extLength,
  MP_ARRAY,
  MP_BIN,
  MP_BOOL,
  MP_DOUBLE,
  MP_EXT,
  MP_EXT_DECIMAL,
  MP_EXT_UUID,
  MP_FLOAT,
  MP_INT,
  MP_MAP,
  MP_NIL,
  MP_STR,
  MP_UINT,
  mpReadExtHeader,
  mpTypeOf,
} from './mp.js';

export const FIELD_TYPES = [
  'any',
  'unsigned',
  'string',
  'number',
  'double',
  'integer',
  'boolean',
  'varbinary',
  'scalar',
  'decimal',
  'uuid',
  'array',
  'map',
] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

export function isFieldType(name: unknown): name is FieldType {
  return typeof name === 'string' && (FIELD_TYPES as readonly string[]).includes(name);
}

/** Types an index part may have (2.6 refuses any, array and map: "field type 'any' is not supported"). */
export function isIndexableType(type: FieldType): boolean {
  return type !== 'any' && type !== 'array' && type !== 'map' && type !== 'decimal';
}

/** Numeric types: their single-part unique TREE indexes keep the key as a JS number. */
export function isNumericType(type: FieldType): boolean {
  return type === 'unsigned' || type === 'integer' || type === 'number' || type === 'double';
}

/** Does a field of type `type` accept the (non-nil) value at `p`? */
export function valueMatchesType(type: FieldType, bytes: Uint8Array, p: number): boolean {
  const mp = mpTypeOf(bytes, p);
  switch (type) {
    case 'any':
      return true;
    case 'unsigned':
      return mp === MP_UINT;
    case 'integer':
      return mp === MP_UINT || mp === MP_INT;
    case 'number':
      return mp === MP_UINT || mp === MP_INT || mp === MP_FLOAT || mp === MP_DOUBLE;
    case 'double':
      return mp === MP_DOUBLE;
    case 'string':
      return mp === MP_STR;
    case 'boolean':
      return mp === MP_BOOL;
    case 'varbinary':
      return mp === MP_BIN;
    case 'scalar':
      return mp !== MP_NIL && mp !== MP_ARRAY && mp !== MP_MAP && mp !== MP_EXT;
    case 'uuid':
      return mp === MP_EXT && mpReadExtHeader(bytes, p) === MP_EXT_UUID && extLength === 16;
    case 'decimal':
      return mp === MP_EXT && mpReadExtHeader(bytes, p) === MP_EXT_DECIMAL;
    case 'array':
      return mp === MP_ARRAY;
    case 'map':
      return mp === MP_MAP;
  }
}

/**
 * Tarantool's field_type1_contains_type2: every value of `inner` is a value of `outer`.
 * Used to combine a format type with index part types (the stricter one wins).
 */
export function typeContains(outer: FieldType, inner: FieldType): boolean {
  if (outer === inner || outer === 'any') return true;
  switch (outer) {
    case 'number':
      return (
        inner === 'unsigned' || inner === 'integer' || inner === 'double' || inner === 'decimal'
      );
    case 'integer':
      return inner === 'unsigned';
    case 'scalar':
      return (
        inner === 'unsigned' ||
        inner === 'integer' ||
        inner === 'number' ||
        inner === 'double' ||
        inner === 'string' ||
        inner === 'boolean' ||
        inner === 'varbinary' ||
        inner === 'decimal'
      );
    default:
      return false;
  }
}
