// UPDATE and UPSERT operations, with Tarantool 2.6's semantics and error texts. Layer: memtx.
//
// Ops arrive as MessagePack (iproto's TUPLE/OPS) or as JS arrays (encoded first), and are
// decoded completely before any is applied, so every decoding error (not an array, unknown op,
// wrong argument count or type, splice offset below the index base, '#' of 0 fields) is raised
// even when the tuple does not exist or, for UPSERT, when the tuple is inserted instead.
// Application works on the tuple's fields as raw byte slices: unchanged fields are copied
// byte for byte (re-encoding would, for one, widen float32 fields to doubles).
//
// Semantics pinned by test/fixtures/tarantool-2.6.json (captured from 2.6.0):
// - field numbers are `f - indexBase` when >= 0, counted from the end when negative; error
//   texts name fields 1-based, negative ones as given, named ones in quotes ('name');
// - '=' on field_count appends; '!' inserts (-1 appends); '#' clamps its count;
// - a second op on a field already changed is "double update of the same field" unless it is
//   '=', which overrides;
// - integer '+'/'-' is exact over [-2^63, 2^64) (else ER_UPDATE_INTEGER_OVERFLOW); with a
//   float or double operand the result is computed as a double and stored as MP_FLOAT when it
//   is finite and exactly a float32, else as MP_DOUBLE;
// - in UPSERT an op that fails to apply is skipped and reported, the others still apply.
// Not supported (ER_UNSUPPORTED): nested JSON paths ('name.x', '[2][1]') and decimal operands.
import {
  ClientError,
  ErrorCode,
  MsgpackWriter,
  type TarantoolError,
  UPDATE_OPS_MAX,
} from '@tarantype/core';
import {
  cursor,
  MP_ARRAY,
  MP_DOUBLE,
  MP_FLOAT,
  MP_INT,
  MP_STR,
  MP_UINT,
  mpReadArrayHeader,
  mpReadNumber,
  mpReadStrBinHeader,
  mpSkip,
  mpTypeOf,
  validateMsgpack,
} from './mp.js';

/** One decoded operation. */
export interface UpdateOp {
  readonly opcode: string;
  /** 0-based field number, or negative: counted from the end (-1 = last). */
  readonly fieldNo: number;
  /** How errors name the field: "3" (1-based), "-1", or "'name'". */
  readonly label: string;
  /** Whether the field was given by name or path (errors then use ER_NO_SUCH_FIELD_NAME). */
  readonly byName: boolean;
  /** '=' and '!': the value's bytes. */
  readonly value?: Uint8Array | undefined;
  /** '+' '-' '&' '|' '^': the operand, and whether it is an integer. */
  readonly operand?: number | bigint | undefined;
  readonly operandIsInteger?: boolean | undefined;
  /** ':': offset (after the index base), cut length, pasted bytes. '#': count in `count`. */
  readonly offset?: number | undefined;
  readonly cut?: number | undefined;
  readonly paste?: Uint8Array | undefined;
  readonly count?: number | undefined;
}

/**
 * A decoded operation. One class (one hidden-class shape for every op, no object spreads on
 * the update path) with the error label computed only when an error needs it.
 */
class DecodedOp implements UpdateOp {
  value: Uint8Array | undefined = undefined;
  operand: number | bigint | undefined = undefined;
  operandIsInteger = false;
  offset: number | undefined = undefined;
  cut: number | undefined = undefined;
  paste: Uint8Array | undefined = undefined;
  count: number | undefined = undefined;

  constructor(
    readonly opcode: string,
    readonly fieldNo: number,
    readonly byName: boolean,
    /** The field as given by name or path (byName), for the label. */
    private readonly path: string | undefined,
  ) {}

  get label(): string {
    if (this.path !== undefined) return `'${this.path}'`;
    return this.fieldNo >= 0 ? String(this.fieldNo + 1) : String(this.fieldNo);
  }
}

const ARG_COUNT: Readonly<Record<string, number>> = {
  '=': 3,
  '!': 3,
  '#': 3,
  '+': 3,
  '-': 3,
  '&': 3,
  '|': 3,
  '^': 3,
  ':': 5,
};

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

function illegal(message: string): ClientError {
  return new ClientError(ErrorCode.ER_ILLEGAL_PARAMS, message);
}

function argType(op: { opcode: string; label: string }, expected: string): ClientError {
  return new ClientError(ErrorCode.ER_UPDATE_ARG_TYPE, op.opcode.charCodeAt(0), op.label, expected);
}

const opsWriter = new MsgpackWriter(1024);

/** Ops as given to the API: MessagePack bytes (an array of arrays) or JS arrays. */
export type UpdateOpsInput = Uint8Array | readonly (readonly unknown[])[];

/** Ops as MessagePack bytes owned by the caller (JS ops are encoded). */
export function opsToBytes(ops: UpdateOpsInput): Uint8Array {
  if (ops instanceof Uint8Array) {
    if (ops.length === 0 || !validateMsgpack(ops, 0, ops.length)) {
      throw new ClientError(ErrorCode.ER_INVALID_MSGPACK, 'update operations');
    }
    return ops;
  }
  opsWriter.reset();
  try {
    opsWriter.value(ops);
  } catch (error) {
    throw illegal(`cannot encode update operations: ${(error as Error).message}`);
  }
  return opsWriter.toBytes();
}

/**
 * Decodes ops (xrow_update_op_decode). `fieldNames` maps format names to 0-based numbers.
 * Throws the first decoding error as Tarantool does.
 */
export function decodeUpdateOps(
  ops: Uint8Array,
  indexBase: number,
  fieldNames: ReadonlyMap<string, number>,
): UpdateOp[] {
  if (mpTypeOf(ops, 0) !== MP_ARRAY)
    throw illegal('update operations must be an array {{op,..}, {op,..}}');
  const count = mpReadArrayHeader(ops, 0);
  if (count > UPDATE_OPS_MAX) throw illegal('too many operations for update');
  let p = cursor.pos;
  const result: UpdateOp[] = [];
  for (let i = 0; i < count; i++) {
    const end = mpSkip(ops, p);
    result.push(decodeOp(ops, p, i + 1, indexBase, fieldNames));
    p = end;
  }
  return result;
}

function decodeOp(
  b: Uint8Array,
  p: number,
  opNumber: number,
  indexBase: number,
  names: ReadonlyMap<string, number>,
): UpdateOp {
  if (mpTypeOf(b, p) !== MP_ARRAY) throw illegal('update operation must be an array {op,..}');
  const length = mpReadArrayHeader(b, p);
  p = cursor.pos;
  if (length < 1) throw illegal('update operation must be an array {op,..}, got empty array');
  if (mpTypeOf(b, p) !== MP_STR) throw illegal('update operation name must be a string');
  const nameLength = mpReadStrBinHeader(b, p);
  // Op names are one ASCII character ('=', '+' …): no Buffer or UTF-8 decoding for those.
  const name =
    nameLength === 1 && b[cursor.pos]! < 0x80
      ? String.fromCharCode(b[cursor.pos]!)
      : Buffer.from(b.buffer, b.byteOffset + cursor.pos, nameLength).toString('utf8');
  p = cursor.pos + nameLength;
  const expected = ARG_COUNT[name];
  if (expected === undefined)
    throw new ClientError(ErrorCode.ER_UNKNOWN_UPDATE_OP, opNumber, `"${name}"`);
  if (length !== expected) {
    throw new ClientError(
      ErrorCode.ER_UNKNOWN_UPDATE_OP,
      opNumber,
      `wrong number of arguments, expected ${expected}, got ${length}`,
    );
  }
  const field = decodeField(b, p, indexBase, names);
  p = mpSkip(b, p);
  const op = new DecodedOp(name, field.fieldNo, field.byName, field.path);
  switch (name) {
    case '=':
    case '!':
      op.value = b.subarray(p, mpSkip(b, p));
      return op;
    case '+':
    case '-': {
      const mp = mpTypeOf(b, p);
      if (mp !== MP_UINT && mp !== MP_INT && mp !== MP_FLOAT && mp !== MP_DOUBLE)
        throw argType(op, 'a number');
      op.operand = mpReadNumber(b, p);
      op.operandIsInteger = mp === MP_UINT || mp === MP_INT;
      return op;
    }
    case '&':
    case '|':
    case '^':
      if (mpTypeOf(b, p) !== MP_UINT) throw argType(op, 'a positive integer');
      op.operand = mpReadNumber(b, p);
      op.operandIsInteger = true;
      return op;
    case '#': {
      if (mpTypeOf(b, p) !== MP_UINT) throw argType(op, 'a positive integer');
      const n = mpReadNumber(b, p);
      if (n === 0)
        throw new ClientError(ErrorCode.ER_UPDATE_FIELD, op.label, 'cannot delete 0 fields');
      op.count = typeof n === 'bigint' ? Number.MAX_SAFE_INTEGER : n;
      return op;
    }
    case ':':
      return decodeSplice(b, p, op, indexBase);
    default:
      throw new ClientError(ErrorCode.ER_UNKNOWN_UPDATE_OP, opNumber, `"${name}"`);
  }
}

function readInt32(b: Uint8Array, p: number): number | undefined {
  const mp = mpTypeOf(b, p);
  if (mp !== MP_UINT && mp !== MP_INT) return undefined;
  const n = mpReadNumber(b, p);
  return typeof n === 'number' && n >= INT32_MIN && n <= INT32_MAX ? n : undefined;
}

function decodeSplice(b: Uint8Array, p: number, op: DecodedOp, indexBase: number): UpdateOp {
  let offset = readInt32(b, p);
  if (offset === undefined) throw argType(op, 'an integer');
  p = mpSkip(b, p);
  const cut = readInt32(b, p);
  if (cut === undefined) throw argType(op, 'an integer');
  p = mpSkip(b, p);
  if (mpTypeOf(b, p) !== MP_STR) throw argType(op, 'a string');
  const n = mpReadStrBinHeader(b, p);
  const paste = b.subarray(cursor.pos, cursor.pos + n);
  if (offset >= 0) {
    if (offset - indexBase < 0)
      throw new ClientError(ErrorCode.ER_UPDATE_SPLICE, op.label, 'offset is out of bound');
    offset -= indexBase;
  }
  op.offset = offset;
  op.cut = cut;
  op.paste = paste;
  return op;
}

function decodeField(
  b: Uint8Array,
  p: number,
  indexBase: number,
  names: ReadonlyMap<string, number>,
): { fieldNo: number; byName: boolean; path: string | undefined } {
  const mp = mpTypeOf(b, p);
  if (mp === MP_UINT || mp === MP_INT) {
    const f = readInt32(b, p);
    if (f === undefined) throw illegal('field id must be a number or a string');
    if (f - indexBase >= 0) return { fieldNo: f - indexBase, byName: false, path: undefined };
    if (f < 0) return { fieldNo: f, byName: false, path: undefined };
    throw new ClientError(ErrorCode.ER_NO_SUCH_FIELD_NO, f);
  }
  if (mp !== MP_STR) throw illegal('field id must be a number or a string');
  const n = mpReadStrBinHeader(b, p);
  const path = Buffer.from(b.buffer, b.byteOffset + cursor.pos, n).toString('utf8');
  const named = names.get(path);
  if (named !== undefined) return { fieldNo: named, byName: true, path };
  // A JSON path: only a top-level "[N]" (1-based) or "name" is supported.
  const bracket = /^\[(\d+)\]$/.exec(path);
  if (bracket !== null) return { fieldNo: Number(bracket[1]) - 1, byName: true, path };
  const head = /^(?:\[(\d+)\]|([A-Za-z_][A-Za-z0-9_]*))[.[]/.exec(path);
  if (head !== null && (head[1] !== undefined || names.has(head[2]!))) {
    throw new ClientError(ErrorCode.ER_UNSUPPORTED, 'memtx', 'nested JSON path updates');
  }
  throw new ClientError(ErrorCode.ER_NO_SUCH_FIELD_NAME, path);
}

/** A field of the tuple being updated: a byte range, and whether an op already changed it. */
interface Field {
  bytes: Uint8Array;
  start: number;
  end: number;
  updated: boolean;
}

function noSuchField(op: UpdateOp): ClientError {
  if (op.byName) return new ClientError(ErrorCode.ER_NO_SUCH_FIELD_NAME, op.label);
  return new ClientError(
    ErrorCode.ER_NO_SUCH_FIELD_NO,
    op.fieldNo >= 0 ? op.fieldNo + 1 : op.fieldNo,
  );
}

/** Position of an existing field the op addresses (ER_NO_SUCH_FIELD_NO otherwise). */
function existingField(op: UpdateOp, fields: Field[]): number {
  const n = fields.length;
  const pos = op.fieldNo >= 0 ? op.fieldNo : n + op.fieldNo;
  if (pos < 0 || pos >= n) throw noSuchField(op);
  return pos;
}

const scratch = new MsgpackWriter(64);

function encoded(write: (writer: MsgpackWriter) => void): Uint8Array {
  scratch.reset();
  write(scratch);
  return scratch.toBytes();
}

function applyOp(op: UpdateOp, fields: Field[]): void {
  switch (op.opcode) {
    case '=': {
      const n = fields.length;
      const pos = op.fieldNo >= 0 ? op.fieldNo : n + op.fieldNo;
      if (pos < 0 || pos > n) throw noSuchField(op);
      const value = op.value!;
      const field = { bytes: value, start: 0, end: value.length, updated: true };
      if (pos === n) fields.push({ ...field, updated: false });
      else fields[pos] = field;
      return;
    }
    case '!': {
      const n = fields.length;
      const pos = op.fieldNo >= 0 ? op.fieldNo : n + op.fieldNo + 1;
      if (pos < 0 || pos > n) throw noSuchField(op);
      const value = op.value!;
      fields.splice(pos, 0, { bytes: value, start: 0, end: value.length, updated: false });
      return;
    }
    case '#': {
      const pos = existingField(op, fields);
      fields.splice(pos, Math.min(op.count!, fields.length - pos));
      return;
    }
    default: {
      const pos = existingField(op, fields);
      const field = fields[pos]!;
      if (field.updated)
        throw new ClientError(
          ErrorCode.ER_UPDATE_FIELD,
          op.label,
          'double update of the same field',
        );
      const value =
        op.opcode === ':'
          ? splice(op, field)
          : op.opcode === '+' || op.opcode === '-'
            ? arithmetic(op, field)
            : bitwise(op, field);
      fields[pos] = { bytes: value, start: 0, end: value.length, updated: true };
    }
  }
}

function arithmetic(op: UpdateOp, field: Field): Uint8Array {
  const mp = mpTypeOf(field.bytes, field.start);
  if (mp !== MP_UINT && mp !== MP_INT && mp !== MP_FLOAT && mp !== MP_DOUBLE)
    throw argType(op, 'a number');
  const a = mpReadNumber(field.bytes, field.start);
  const b = op.operand!;
  if ((mp === MP_UINT || mp === MP_INT) && op.operandIsInteger) {
    if (typeof a === 'number' && typeof b === 'number') {
      const r = op.opcode === '+' ? a + b : a - b;
      if (Number.isSafeInteger(r)) return encoded((w) => w.int(r));
    }
    const r = op.opcode === '+' ? BigInt(a) + BigInt(b) : BigInt(a) - BigInt(b);
    if (r < INT64_MIN || r > UINT64_MAX)
      throw new ClientError(
        ErrorCode.ER_UPDATE_INTEGER_OVERFLOW,
        op.opcode.charCodeAt(0),
        op.label,
      );
    return encoded((w) => w.bigint(r));
  }
  const x = Number(a);
  const y = Number(b);
  const c = op.opcode === '+' ? x + y : x - y;
  return encoded((w) => {
    if (Number.isFinite(c) && Math.fround(c) === c) {
      w.ensure(5);
      w.bytes[w.length] = 0xca;
      w.view.setFloat32(w.length + 1, c);
      w.length += 5;
    } else {
      w.double(c);
    }
  });
}

function bitwise(op: UpdateOp, field: Field): Uint8Array {
  if (mpTypeOf(field.bytes, field.start) !== MP_UINT) throw argType(op, 'a positive integer');
  const a = BigInt(mpReadNumber(field.bytes, field.start));
  const b = BigInt(op.operand!);
  const r = op.opcode === '&' ? a & b : op.opcode === '|' ? a | b : a ^ b;
  return encoded((w) => w.bigint(r));
}

function splice(op: UpdateOp, field: Field): Uint8Array {
  const b = field.bytes;
  if (mpTypeOf(b, field.start) !== MP_STR) throw argType(op, 'a string');
  const length = mpReadStrBinHeader(b, field.start);
  const data = cursor.pos;
  let offset = op.offset!;
  let cut = op.cut!;
  if (offset < 0) {
    if (-offset > length + 1)
      throw new ClientError(ErrorCode.ER_UPDATE_SPLICE, op.label, 'offset is out of bound');
    offset = offset + length + 1;
  } else if (offset > length) {
    offset = length;
  }
  if (cut < 0) cut = -cut > length - offset ? 0 : cut + length - offset;
  else if (cut > length - offset) cut = length - offset;
  const paste = op.paste!;
  const tail = offset + cut;
  return encoded((w) => {
    w.strHeader(offset + paste.length + (length - tail));
    w.raw(b.subarray(data, data + offset));
    w.raw(paste);
    w.raw(b.subarray(data + tail, data + length));
  });
}

function splitFields(tuple: Uint8Array, start: number): Field[] {
  const n = mpReadArrayHeader(tuple, start);
  let p = cursor.pos;
  const fields: Field[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const end = mpSkip(tuple, p);
    fields[i] = { bytes: tuple, start: p, end, updated: false };
    p = end;
  }
  return fields;
}

function writeFields(fields: Field[], writer: MsgpackWriter): void {
  writer.arrayHeader(fields.length);
  for (const field of fields) writer.rawRange(field.bytes, field.start, field.end);
}

/** UPDATE: applies every op to the tuple at tuple[start]; writes the new tuple. Throws the first error. */
export function applyUpdate(
  tuple: Uint8Array,
  start: number,
  ops: readonly UpdateOp[],
  writer: MsgpackWriter,
): void {
  const fields = splitFields(tuple, start);
  for (const op of ops) applyOp(op, fields);
  writeFields(fields, writer);
}

/**
 * UPSERT on an existing tuple: like applyUpdate, but an op that fails is skipped and its error
 * returned in the list (Tarantool logs them), as 2.6 does.
 */
export function applyUpsert(
  tuple: Uint8Array,
  start: number,
  ops: readonly UpdateOp[],
  writer: MsgpackWriter,
): TarantoolError[] {
  const fields = splitFields(tuple, start);
  const errors: TarantoolError[] = [];
  for (const op of ops) {
    try {
      applyOp(op, fields);
    } catch (error) {
      if (!(error instanceof ClientError)) throw error;
      errors.push(error);
    }
  }
  writeFields(fields, writer);
  return errors;
}
