import {
  AccessDeniedError,
  ClientError,
  ErrorCode,
  MsgpackError,
  MsgpackReader,
  MsgpackWriter,
  TarantoolError,
  XlogGapError,
} from '@tarantype/core';
import { describe, expect, it } from 'vitest';
import {
  type RemoteError,
  readErrorBody,
  toTarantoolError,
  writeErrorBody,
} from './error-encoding.js';

function roundTrip(error: TarantoolError): RemoteError {
  const w = new MsgpackWriter();
  writeErrorBody(w, error);
  return readErrorBody(new MsgpackReader(w.toBytes()), 0x8000 | error.code);
}

describe('toTarantoolError', () => {
  it('keeps TarantoolErrors and maps everything else', () => {
    const dup = new ClientError(ErrorCode.ER_TUPLE_FOUND, 'pk', 't');
    expect(toTarantoolError(dup)).toBe(dup);
    const plain = toTarantoolError(new RangeError('out of range'));
    expect(plain).toBeInstanceOf(ClientError);
    expect(plain).toMatchObject({
      code: ErrorCode.ER_PROC_LUA,
      message: 'out of range',
      type: 'ClientError',
    });
    expect(toTarantoolError(42)).toMatchObject({ code: 32, message: '42' });
    expect(toTarantoolError(new MsgpackError('value nested deeper than 512'))).toMatchObject({
      code: ErrorCode.ER_INVALID_MSGPACK,
      message: 'Invalid MsgPack - value nested deeper than 512',
    });
    const foreign = { type: 'XlogError', code: 32, message: 'broken row' };
    expect(toTarantoolError(foreign)).toMatchObject(foreign);
  });
});

describe('error bodies', () => {
  it('round-trip type, code, message, fields and the cause chain', () => {
    const inner = new XlogGapError(10, '{1: 10}', 20, '{1: 20}');
    const outer = new TarantoolError('ClientError', ErrorCode.ER_PROC_LUA, 'replication stopped', {
      cause: inner,
    });
    const decoded = roundTrip(outer);
    expect(decoded).toMatchObject({
      type: 'ClientError',
      code: 32,
      message: 'replication stopped',
    });
    expect(decoded.cause).toMatchObject({
      type: 'XlogGapError',
      code: 32,
      message: 'Missing .xlog file between LSN 10 {1: 10} and 20 {1: 20}',
    });
    const denied = roundTrip(new AccessDeniedError('Read', 'space', 'x', 'guest'));
    expect(denied.fields).toEqual({ object_type: 'space', object_name: 'x', access_type: 'Read' });
  });

  it('a body with only 0x31 (servers before 2.4) is a ClientError with the status code', () => {
    const w = new MsgpackWriter();
    w.mapHeader(1);
    w.uint(0x31);
    w.str('old style');
    expect(readErrorBody(new MsgpackReader(w.toBytes()), 0x8000 | 3)).toMatchObject({
      type: 'ClientError',
      code: 3,
      message: 'old style',
    });
  });
});
