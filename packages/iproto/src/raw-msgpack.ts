// Already-encoded MessagePack values and the value writer that copies them as is.
// Layer: iproto. Why: box keeps tuples as MessagePack bytes; a reply should copy those bytes
// into the output rather than decode and re-encode them. RawMsgpack marks such bytes inside
// CALL/EVAL results (where a bare Uint8Array means a MessagePack bin value), and plays the
// part of Tarantool's box.tuple in the CALL_16 wrapping rules (call-16.ts).
import { isArrayByte, MSGPACK_DEPTH_MAX, MsgpackError, type MsgpackWriter } from '@tarantype/core';

/** One complete MessagePack value, already encoded (for example a stored tuple). */
export class RawMsgpack {
  constructor(readonly bytes: Uint8Array) {}

  /** True when the value is a MessagePack array (a tuple). */
  get isArray(): boolean {
    return isMsgpackArray(this.bytes);
  }
}

/** True when `bytes` starts with an array header (fixarray, array16, array32). */
export function isMsgpackArray(bytes: Uint8Array): boolean {
  return isArrayByte(bytes[0]);
}

/**
 * Writes any value as core's `MsgpackWriter.value` does, except that RawMsgpack instances at
 * any depth are copied verbatim.
 */
export function writeValue(writer: MsgpackWriter, value: unknown, depth = 0): void {
  if (typeof value !== 'object' || value === null) {
    writer.value(value);
    return;
  }
  if (depth > MSGPACK_DEPTH_MAX)
    throw new MsgpackError(`value nested deeper than ${MSGPACK_DEPTH_MAX}`);
  if (value instanceof RawMsgpack) {
    writer.raw(value.bytes);
    return;
  }
  if (Array.isArray(value)) {
    writer.arrayHeader(value.length);
    for (let i = 0; i < value.length; i++) writeValue(writer, value[i], depth + 1);
    return;
  }
  if (value instanceof Map) {
    writer.mapHeader(value.size);
    for (const [k, v] of value) {
      writeValue(writer, k, depth + 1);
      writeValue(writer, v, depth + 1);
    }
    return;
  }
  if (isPlainObject(value)) {
    const keys = Object.keys(value);
    writer.mapHeader(keys.length);
    for (const key of keys) {
      writer.str(key);
      writeValue(writer, (value as Record<string, unknown>)[key], depth + 1);
    }
    return;
  }
  writer.value(value, depth);
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
