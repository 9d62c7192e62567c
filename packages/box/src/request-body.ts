// WAL row bodies of data changes, as Tarantool logs them (spec §5.5): the original request,
// not the resulting tuple. INSERT/REPLACE {0x10 space, 0x21 tuple}; DELETE {0x10, 0x11?, 0x20
// key}; UPDATE {0x10, 0x11?, 0x15?, 0x20 key, 0x21 ops}; UPSERT {0x10, 0x15?, 0x21 tuple, 0x28
// ops}; index id and index base omitted when 0. Tuples, keys and ops are copied in as raw
// MessagePack (never re-encoded). Layer: box.
import { IprotoKey, MsgpackError, MsgpackReader, MsgpackWriter } from '@tarantype/core';

const writer = new MsgpackWriter(4096);

export function replaceBody(spaceId: number, tuple: Uint8Array): Uint8Array {
  writer.reset();
  writer.mapHeader(2);
  writer.byte(IprotoKey.SPACE_ID);
  writer.uint(spaceId);
  writer.byte(IprotoKey.TUPLE);
  writer.raw(tuple);
  return writer.toBytes();
}

export function deleteBody(spaceId: number, indexId: number, key: Uint8Array): Uint8Array {
  writer.reset();
  writer.mapHeader(indexId === 0 ? 2 : 3);
  writer.byte(IprotoKey.SPACE_ID);
  writer.uint(spaceId);
  if (indexId !== 0) {
    writer.byte(IprotoKey.INDEX_ID);
    writer.uint(indexId);
  }
  writer.byte(IprotoKey.KEY);
  writer.raw(key);
  return writer.toBytes();
}

export function updateBody(
  spaceId: number,
  indexId: number,
  indexBase: number,
  key: Uint8Array,
  ops: Uint8Array,
): Uint8Array {
  writer.reset();
  writer.mapHeader(3 + (indexId === 0 ? 0 : 1) + (indexBase === 0 ? 0 : 1));
  writer.byte(IprotoKey.SPACE_ID);
  writer.uint(spaceId);
  if (indexId !== 0) {
    writer.byte(IprotoKey.INDEX_ID);
    writer.uint(indexId);
  }
  if (indexBase !== 0) {
    writer.byte(IprotoKey.INDEX_BASE);
    writer.uint(indexBase);
  }
  writer.byte(IprotoKey.KEY);
  writer.raw(key);
  writer.byte(IprotoKey.TUPLE);
  writer.raw(ops);
  return writer.toBytes();
}

export function upsertBody(
  spaceId: number,
  indexBase: number,
  tuple: Uint8Array,
  ops: Uint8Array,
): Uint8Array {
  writer.reset();
  writer.mapHeader(3 + (indexBase === 0 ? 0 : 1));
  writer.byte(IprotoKey.SPACE_ID);
  writer.uint(spaceId);
  if (indexBase !== 0) {
    writer.byte(IprotoKey.INDEX_BASE);
    writer.uint(indexBase);
  }
  writer.byte(IprotoKey.TUPLE);
  writer.raw(tuple);
  writer.byte(IprotoKey.OPS);
  writer.raw(ops);
  return writer.toBytes();
}

/** A decoded request body (views into the row's body bytes). */
export interface RequestBody {
  spaceId: number;
  indexId: number;
  indexBase: number;
  key: Uint8Array | undefined;
  tuple: Uint8Array | undefined;
  ops: Uint8Array | undefined;
}

export function decodeRequestBody(body: Uint8Array): RequestBody {
  const reader = new MsgpackReader(body);
  const result: RequestBody = {
    spaceId: -1,
    indexId: 0,
    indexBase: 0,
    key: undefined,
    tuple: undefined,
    ops: undefined,
  };
  const n = reader.readMapHeader();
  for (let i = 0; i < n; i++) {
    const key = reader.readUint();
    switch (key) {
      case IprotoKey.SPACE_ID:
        result.spaceId = reader.readUint();
        break;
      case IprotoKey.INDEX_ID:
        result.indexId = reader.readUint();
        break;
      case IprotoKey.INDEX_BASE:
        result.indexBase = reader.readUint();
        break;
      case IprotoKey.KEY:
        result.key = reader.readRaw();
        break;
      case IprotoKey.TUPLE:
        result.tuple = reader.readRaw();
        break;
      case IprotoKey.OPS:
        result.ops = reader.readRaw();
        break;
      default:
        reader.skip();
    }
  }
  if (result.spaceId < 0) throw new MsgpackError('request body without a space id');
  return result;
}
