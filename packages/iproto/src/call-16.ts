// CALL_16 result wrapping (PROTOCOL.md §5.4, spec §4.9). Layer: iproto, no I/O.
//
// Tarantool 1.6's CALL returned a list of *tuples*, so every result is made one: the rules of
// Tarantool's port_lua_dump_16 with box.tuple ↔ RawMsgpack holding an array, Lua table with
// sequence ↔ JS array, any other value ↔ scalar or map:
//   no value                         → []
//   several values v1..vn            → each tuple/array as is, every other value → [v]
//   one tuple t                      → [t]
//   one scalar or map x              → [[x]]
//   one empty array                  → [[]]
//   one array whose first element is not a tuple/array → the array is one tuple: [[a, b…]]
//   one array of tuples/arrays       → each element a tuple, later non-arrays wrapped: [[1],[2],[3]]
// tarantool-driver uses CALL_16 only, so these rules are what its users see.
import type { MsgpackWriter } from '@tarantype/core';
import { RawMsgpack, writeValue } from './raw-msgpack.js';

function isTuple(value: unknown): value is RawMsgpack {
  return value instanceof RawMsgpack && value.isArray;
}

function isArrayLike(value: unknown): boolean {
  return Array.isArray(value) || isTuple(value);
}

/** Writes one value that is a tuple/array as is. */
function writeAsIs(writer: MsgpackWriter, value: unknown): void {
  writeValue(writer, value);
}

/** Writes `[value]`. */
function writeWrapped(writer: MsgpackWriter, value: unknown): void {
  writer.arrayHeader(1);
  writeValue(writer, value);
}

/**
 * Writes the items of the DATA array for a CALL_16 reply of a function that returned `values`
 * (its multiple return values). Returns the number of items written (the array's count).
 */
export function writeCall16Data(writer: MsgpackWriter, values: readonly unknown[]): number {
  if (values.length === 0) return 0;
  if (values.length > 1) {
    for (const value of values) {
      if (isArrayLike(value)) writeAsIs(writer, value);
      else writeWrapped(writer, value);
    }
    return values.length;
  }
  const root = values[0];
  if (isTuple(root)) {
    writeAsIs(writer, root);
    return 1;
  }
  if (!Array.isArray(root)) {
    writeWrapped(writer, root);
    return 1;
  }
  if (root.length === 0 || !isArrayLike(root[0])) {
    // `return {}` → one empty tuple; `return {scalar, ...}` → the table is one tuple.
    writeAsIs(writer, root);
    return 1;
  }
  for (const element of root) {
    if (isArrayLike(element)) writeAsIs(writer, element);
    else writeWrapped(writer, element);
  }
  return root.length;
}

/** The CALL_16 result as plain values (tests and tools): what a client decodes from DATA. */
export function wrapCall16(values: readonly unknown[]): unknown[] {
  if (values.length === 0) return [];
  if (values.length > 1) return values.map((v) => (isArrayLike(v) ? v : [v]));
  const root = values[0];
  if (isTuple(root)) return [root];
  if (!Array.isArray(root)) return [[root]];
  if (root.length === 0 || !isArrayLike(root[0])) return [root];
  return root.map((element: unknown) => (isArrayLike(element) ? element : [element]));
}
