// Errors on the wire (PROTOCOL.md §6). Layer: iproto, no I/O.
//
// Encoding (what Tarantool 2.6 sends): header status 0x8000 | code, body
//   { 0x31 ERROR_24: message, 0x52 ERROR: { 0x00: [entry, ...] } }
// where each entry, outermost first, is the map {0 type, 2 line, 1 file, 3 message, 4 errno,
// 5 code[, 6 fields]} in that key order. The stack is the error followed by its chain of
// TarantoolError causes.
//
// `toTarantoolError` is the boundary between handler code and the wire: whatever a handler
// throws or rejects with becomes a TarantoolError, so a bug in a handler is an error reply,
// never a crash of the connection or the server.
import {
  ClientError,
  ErrorCode,
  MsgpackError,
  type MsgpackReader,
  type MsgpackWriter,
  TarantoolError,
} from '@tarantype/core';
import { ERROR_STACK_DEPTH_MAX } from './limits.js';
import { writeValue } from './raw-msgpack.js';

/** Maps anything thrown by handler code to the error the client will see. */
export function toTarantoolError(error: unknown): TarantoolError {
  if (error instanceof TarantoolError) return error;
  if (error instanceof MsgpackError)
    return new ClientError(ErrorCode.ER_INVALID_MSGPACK, error.message);
  if (isTarantoolLike(error)) return new TarantoolError(error.type, error.code, error.message);
  // A plain exception from a handler is reported like a Lua runtime error in a stored
  // procedure: ER_PROC_LUA with the exception's message.
  const message = error instanceof Error ? error.message : String(error);
  return new ClientError(ErrorCode.ER_PROC_LUA, message);
}

/** An error from another copy of core (cross-realm): same shape, different class identity. */
function isTarantoolLike(error: unknown): error is { type: string; code: number; message: string } {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as Record<string, unknown>;
  return typeof e.type === 'string' && typeof e.code === 'number' && typeof e.message === 'string';
}

/** The error and its TarantoolError causes, outermost first, at most ERROR_STACK_DEPTH_MAX. */
export function errorStack(error: TarantoolError): TarantoolError[] {
  const stack: TarantoolError[] = [error];
  let cause = error.cause;
  while (cause instanceof TarantoolError && stack.length < ERROR_STACK_DEPTH_MAX) {
    stack.push(cause);
    cause = cause.cause;
  }
  return stack;
}

/** Response status of an error reply. */
export function errorStatus(error: TarantoolError): number {
  return (0x8000 | (error.code & 0x7fff)) >>> 0;
}

/** Writes the error body map (0x31 + 0x52). */
export function writeErrorBody(writer: MsgpackWriter, error: TarantoolError): void {
  writer.byte(0x82);
  writer.byte(0x31);
  writer.str(error.message);
  writer.byte(0x52);
  writer.byte(0x81);
  writer.byte(0x00);
  const stack = errorStack(error);
  writer.arrayHeader(stack.length);
  for (const entry of stack) {
    const e = entry.toStackEntry();
    writer.mapHeader(e.fields === undefined ? 6 : 7);
    writer.byte(0x00);
    writer.str(e.type);
    writer.byte(0x02);
    writer.uint(e.line);
    writer.byte(0x01);
    writer.str(e.file);
    writer.byte(0x03);
    writer.str(e.message);
    writer.byte(0x04);
    writer.uint(e.errno);
    writer.byte(0x05);
    writer.uint(e.code);
    if (e.fields !== undefined) {
      writer.byte(0x06);
      writeValue(writer, e.fields);
    }
  }
}

/**
 * An error received from a server (client side): the type name, code and message of the
 * outermost stack entry; inner entries become the `cause` chain; `fields` keeps key 0x06.
 */
export class RemoteError extends TarantoolError {
  private readonly remoteFields: Readonly<Record<string, unknown>> | undefined;

  constructor(
    type: string,
    code: number,
    message: string,
    fields: Readonly<Record<string, unknown>> | undefined,
    options?: { cause?: unknown; errno?: number },
  ) {
    super(type, code, message, options);
    this.remoteFields = fields;
  }

  /** Stack key 0x06 (AccessDeniedError's object_type, object_name, access_type …). */
  override get fields(): Readonly<Record<string, unknown>> | undefined {
    return this.remoteFields;
  }
}

/**
 * Reads an error body (the reader is at the body map) for a reply with `status` 0x8000|code.
 * Servers older than 2.4 send only 0x31; then the type is ClientError.
 */
export function readErrorBody(reader: MsgpackReader, status: number): RemoteError {
  const code = status & 0x7fff;
  let message = '';
  let stack: unknown;
  const n = reader.readMapHeader();
  for (let i = 0; i < n; i++) {
    const key = reader.readValue();
    if (key === 0x31) message = String(reader.readValue());
    else if (key === 0x52) stack = reader.readValue();
    else reader.skip();
  }
  const entries = stackEntries(stack);
  let error: RemoteError | undefined;
  for (let i = entries.length - 1; i >= 0; i--) error = entryToError(entries[i]!, error);
  return error ?? new RemoteError('ClientError', code, message, undefined);
}

function stackEntries(stack: unknown): Map<unknown, unknown>[] {
  const list = stack instanceof Map ? stack.get(0) : undefined;
  if (!Array.isArray(list)) return [];
  return list.filter((entry): entry is Map<unknown, unknown> => entry instanceof Map);
}

function entryToError(entry: Map<unknown, unknown>, cause: RemoteError | undefined): RemoteError {
  const type = typeof entry.get(0) === 'string' ? (entry.get(0) as string) : 'ClientError';
  const message = typeof entry.get(3) === 'string' ? (entry.get(3) as string) : '';
  const code = typeof entry.get(5) === 'number' ? (entry.get(5) as number) : 0;
  const errno = typeof entry.get(4) === 'number' ? (entry.get(4) as number) : 0;
  const rawFields = entry.get(6);
  const fields =
    rawFields !== null && typeof rawFields === 'object' && !(rawFields instanceof Map)
      ? (rawFields as Record<string, unknown>)
      : undefined;
  return new RemoteError(
    type,
    code,
    message,
    fields,
    cause === undefined ? { errno } : { cause, errno },
  );
}
