// Space and index definitions as they are stored in _space and _index (spec §6.2), decoded
// and validated with Tarantool 2.6's error texts. Layer: box. DDL is a write to these system
// spaces; the alter triggers (alter.ts) call these decoders on the new tuple and build or drop
// memtx objects from the result, so recovery and (later) replication rebuild the same schema.
import { ClientError, ErrorCode } from '@tarantype/core';
import { FIELD_TYPES, isIndexableType } from '@tarantype/memtx';

export type Engine = 'memtx' | 'sysview' | 'blackhole' | 'service';
/** Field types, as memtx defines them (Tarantool 2.6's names). */
export const FIELD_TYPE_NAMES = FIELD_TYPES;
export type FieldTypeName = (typeof FIELD_TYPE_NAMES)[number];
/** Types an index part may have (array, map and any are not indexable). */

/** Legacy type names Tarantool still accepts (its own _ck_constraint uses 'str'). */
const TYPE_ALIASES: Readonly<Record<string, FieldTypeName>> = {
  str: 'string',
  num: 'unsigned',
  uint: 'unsigned',
  int: 'integer',
  number: 'number',
};

/** The canonical type name of `name`, or undefined when it is not a field type. */
export function fieldTypeName(name: unknown): FieldTypeName | undefined {
  if (typeof name !== 'string') return undefined;
  const lower = name.toLowerCase();
  if ((FIELD_TYPE_NAMES as readonly string[]).includes(lower)) return lower as FieldTypeName;
  return TYPE_ALIASES[lower];
}

export interface FormatField {
  readonly name: string;
  readonly type: FieldTypeName;
  readonly is_nullable?: boolean;
}

export interface SpaceDef {
  readonly id: number;
  readonly owner: number;
  readonly name: string;
  readonly engine: Engine;
  readonly field_count: number;
  readonly temporary: boolean;
  /** 1 for is_local spaces: their rows take LSNs from vclock component 0 and are not replicated. */
  readonly group_id: number;
  readonly format: readonly FormatField[];
}

export interface IndexPartDef {
  /** 0-based field number. */
  readonly field: number;
  readonly type: FieldTypeName;
  readonly is_nullable: boolean;
}

export interface IndexDef {
  readonly space_id: number;
  readonly id: number;
  readonly name: string;
  readonly type: 'TREE' | 'HASH';
  readonly unique: boolean;
  readonly parts: readonly IndexPartDef[];
}

/** Tarantool's identifier rule: printable, 1..65000 bytes (ER_IDENTIFIER). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what identifiers may not hold.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

export function checkIdentifier(name: unknown): string {
  if (
    typeof name !== 'string' ||
    name.length === 0 ||
    name.length > 65000 ||
    CONTROL_CHARACTERS.test(name)
  ) {
    throw new ClientError(ErrorCode.ER_IDENTIFIER, String(name ?? ''));
  }
  return name;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), v]));
  if (value !== null && typeof value === 'object' && !Array.isArray(value))
    return value as Record<string, unknown>;
  return undefined;
}

/**
 * What tarantype does not model, refused by name — never skipped, never approximated:
 * ER_UNSUPPORTED "tarantype does not support <what>". The applier appends the row
 * ("in a row from replica 1 lsn 12"). packages/replication/MIXED.md lists them.
 */
export function unsupported(what: string): ClientError {
  return new ClientError(ErrorCode.ER_UNSUPPORTED, 'tarantype', what);
}

/** Appends where a refusal of unsupported() came from (once): "in a row from replica 1 lsn 12". */
export function refusedIn(error: unknown, where: string): unknown {
  if (
    error instanceof ClientError &&
    error.code === ErrorCode.ER_UNSUPPORTED &&
    error.args[0] === 'tarantype' &&
    !error.message.includes(' in a row ')
  )
    error.message += ` in ${where}`;
  return error;
}

/** Decodes a _space tuple [id, owner, name, engine, field_count, flags, format]. */
export function decodeSpaceTuple(tuple: readonly unknown[]): SpaceDef {
  const [id, owner, name, engine, fieldCount, flagsValue, formatValue] = tuple;
  const spaceName = checkIdentifier(name);
  const fail = (why: string) => new ClientError(ErrorCode.ER_CREATE_SPACE, spaceName, why);
  if (typeof engine !== 'string') throw fail('engine must be a string');
  const where = `(space '${spaceName}', id ${String(id)})`;
  if (engine === 'vinyl') throw unsupported(`engine 'vinyl' ${where}`);
  if (!['memtx', 'sysview', 'blackhole', 'service'].includes(engine))
    throw new ClientError(ErrorCode.ER_NO_SUCH_ENGINE, engine);
  const flags = asRecord(flagsValue ?? {});
  if (flags === undefined) throw fail('space options must be a map');
  if (flags.view === true) throw unsupported(`SQL views ${where}`);
  if (Array.isArray(formatValue))
    for (const entry of formatValue) {
      const field = asRecord(entry);
      // Only SQL's CREATE TABLE writes these keys (and then on every field).
      for (const key of ['nullable_action', 'default', 'collation'])
        if (field !== undefined && field[key] !== undefined)
          throw unsupported(
            key === 'collation'
              ? `collations ${where}`
              : `SQL-created tables ${where}: field '${String(field.name)}' has '${key}'`,
          );
    }
  const format = decodeFormat(formatValue ?? [], fail);
  return {
    id: id as number,
    owner: owner as number,
    name: spaceName,
    engine: engine as Engine,
    field_count: (fieldCount as number) ?? 0,
    temporary: flags.temporary === true,
    group_id: flags.group_id === 1 ? 1 : 0,
    format,
  };
}

function decodeFormat(value: unknown, fail: (why: string) => ClientError): FormatField[] {
  if (!Array.isArray(value)) throw fail('format must be an array');
  return value.map((entry, i) => {
    const field = asRecord(entry);
    if (field === undefined) throw fail(`field ${i + 1} is not a map`);
    if (typeof field.name !== 'string') throw fail(`field ${i + 1} name is not a string`);
    const type = fieldTypeName(field.type ?? 'any');
    if (type === undefined) throw fail(`field ${i + 1} has unknown field type`);
    return field.is_nullable === true
      ? { name: field.name, type, is_nullable: true }
      : { name: field.name, type };
  });
}

/** The _space tuple of a definition. */
export function encodeSpaceTuple(def: SpaceDef): unknown[] {
  const flags: Record<string, unknown> = {};
  if (def.temporary) flags.temporary = true;
  if (def.group_id === 1) flags.group_id = 1;
  const format = def.format.map((f) =>
    f.is_nullable
      ? { name: f.name, type: f.type, is_nullable: true }
      : { name: f.name, type: f.type },
  );
  return [def.id, def.owner, def.name, def.engine, def.field_count, flags, format];
}

/**
 * Decodes an _index tuple [space_id, iid, name, type, opts, parts]. Parts are
 * [[field, 'type'], …] or [{field, type, is_nullable}, …] with 0-based fields.
 */
export function decodeIndexTuple(tuple: readonly unknown[], space: SpaceDef): IndexDef {
  const [spaceId, iid, name, type, optsValue, partsValue] = tuple;
  const indexName = checkIdentifier(name);
  const modify = (why: string) =>
    new ClientError(ErrorCode.ER_MODIFY_INDEX, indexName, space.name, why);
  const indexType = typeof type === 'string' ? type.toUpperCase() : '';
  const where = `(index '${indexName}' of space '${space.name}', id ${space.id})`;
  if (indexType === 'RTREE' || indexType === 'BITSET')
    throw unsupported(`index type '${indexType}' ${where}`);
  if (indexType !== 'TREE' && indexType !== 'HASH')
    throw new ClientError(ErrorCode.ER_INDEX_TYPE, indexName, space.name);
  const opts = asRecord(optsValue ?? {}) ?? {};
  if (opts.func !== undefined) throw unsupported(`functional indexes ${where}`);
  if (opts.sql !== undefined) throw unsupported(`SQL-created indexes ${where}`);
  if (Array.isArray(partsValue))
    for (const part of partsValue) {
      const map = Array.isArray(part) ? undefined : asRecord(part);
      if (map === undefined) continue;
      if (typeof map.path === 'string' && map.path !== '')
        throw unsupported(
          map.path.includes('[*]')
            ? `multikey indexes ${where}: path '${map.path}'`
            : `JSON path indexes ${where}: path '${map.path}'`,
        );
      if (map.collation !== undefined) throw unsupported(`collations ${where}`);
      if (map.nullable_action !== undefined || map.sort_order !== undefined)
        throw unsupported(`SQL-created indexes ${where}`);
    }
  const unique = opts.unique !== false;
  if (!Array.isArray(partsValue) || partsValue.length === 0)
    throw modify('part count must be positive');
  const parts = partsValue.map((part) => decodePart(part, modify));
  if (iid === 0 && !unique) throw modify('primary key must be unique');
  if (indexType === 'HASH' && !unique) throw modify('HASH index must be unique');
  if (iid === 0 && parts.some((p) => p.is_nullable)) {
    throw new ClientError(ErrorCode.ER_NULLABLE_PRIMARY, space.name);
  }
  if (indexType === 'HASH' && parts.some((p) => p.is_nullable))
    throw modify('HASH index cannot contain nullable parts');
  return {
    space_id: spaceId as number,
    id: iid as number,
    name: indexName,
    type: indexType,
    unique,
    parts,
  };
}

function decodePart(part: unknown, modify: (why: string) => ClientError): IndexPartDef {
  let field: unknown;
  let type: unknown;
  let nullable: unknown = false;
  if (Array.isArray(part)) {
    [field, type] = part;
  } else {
    const map = asRecord(part);
    if (map === undefined)
      throw new ClientError(ErrorCode.ER_WRONG_INDEX_PARTS, 'expected a map or an array');
    field = map.field;
    type = map.type;
    nullable = map.is_nullable ?? false;
  }
  if (typeof field !== 'number' || !Number.isInteger(field) || field < 0)
    throw new ClientError(
      ErrorCode.ER_WRONG_INDEX_PARTS,
      'field id must be a non-negative integer',
    );
  const canonical = fieldTypeName(type);
  if (canonical === undefined)
    throw new ClientError(ErrorCode.ER_WRONG_INDEX_PARTS, 'unknown field type');
  if (!isIndexableType(canonical)) throw modify(`field type '${canonical}' is not supported`);
  return { field, type: canonical, is_nullable: nullable === true };
}

/** The _index tuple of a definition (map-form parts only when a part is nullable, as Tarantool). */
export function encodeIndexTuple(def: IndexDef): unknown[] {
  const parts = def.parts.some((p) => p.is_nullable)
    ? def.parts.map((p) => ({ field: p.field, type: p.type, is_nullable: p.is_nullable }))
    : def.parts.map((p) => [p.field, p.type]);
  return [def.space_id, def.id, def.name, def.type.toLowerCase(), { unique: def.unique }, parts];
}
