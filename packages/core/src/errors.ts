// Typed operating errors with Tarantool's codes, type names and message texts.
// Layer: core (no I/O). Every error a client or an operator can see is one of these classes, so
// the iproto layer can encode it exactly as Tarantool 2.6 does (type name, code, message, errno)
// and tests can compare texts with the reference. Programmer errors use assert.ts instead.
import { ERROR_TABLE, ErrorCode } from './error-codes.js';

/**
 * Code 134 is ER_CHECKPOINT_ROLLBACK in 2.6.0; later Tarantool renamed it ER_CASCADE_ROLLBACK
 * ("WAL has a rollback in progress") and uses it for transactions rolled back behind a failed
 * WAL write. 2.6 gave those ER_WAL_IO; we give the later, more precise code and text, which a
 * 2.6 client still decodes as an ordinary ClientError.
 */
export const ER_CASCADE_ROLLBACK = 134;
const CASCADE_ROLLBACK_MESSAGE = 'WAL has a rollback in progress';

/** The message template of `code` (2.6.0 text), or undefined for an unknown code. */
export function errorTemplate(code: number): string | undefined {
  if (code === ER_CASCADE_ROLLBACK) return CASCADE_ROLLBACK_MESSAGE;
  return ERROR_TABLE[code]?.[2];
}

/** The ER_* name of `code`. */
export function errorName(code: number): string {
  if (code === ER_CASCADE_ROLLBACK) return 'ER_CASCADE_ROLLBACK';
  return ERROR_TABLE[code]?.[1] ?? `ER_${code}`;
}

/**
 * printf-style formatting as Tarantool's templates need it: %s %d %i %u %ld %lu %lld %llu %c,
 * %.*s (one argument here: the string; the length argument of C is implied) and %%.
 * Missing arguments format as empty strings, so a wrong call never throws on the error path.
 */
export function formatMessage(template: string, args: readonly unknown[]): string {
  let next = 0;
  return template.replace(/%(%|\.\*s|l{0,2}[sdiuc])/g, (_match, spec: string) => {
    if (spec === '%') return '%';
    const value = args[next++];
    if (value === undefined) return '';
    if (spec === 'c' && typeof value === 'number') return String.fromCharCode(value);
    return String(value);
  });
}

/** One element of an error stack as iproto sends it (IPROTO_ERROR, key 0x52). */
export interface ErrorStackEntry {
  readonly type: string;
  readonly file: string;
  readonly line: number;
  readonly message: string;
  readonly errno: number;
  readonly code: number;
  readonly fields?: Readonly<Record<string, unknown>>;
}

/** Base of every Tarantool-typed error: carries the code and the type name clients see. */
export class TarantoolError extends Error {
  /** Tarantool's error code (ER_*), what goes into the response status 0x8000|code. */
  readonly code: number;
  /** Tarantool's error type name ("ClientError", "XlogError" …), sent as stack key 0x00. */
  readonly type: string;
  /** Saved errno for system errors, 0 otherwise. */
  readonly errno: number;

  constructor(
    type: string,
    code: number,
    message: string,
    options?: { cause?: unknown; errno?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.type = type;
    this.code = code;
    this.errno = options?.errno ?? 0;
  }

  override get name(): string {
    return this.type;
  }

  /** Extra payload (AccessDeniedError's object_type …), sent as stack key 0x06. */
  get fields(): Readonly<Record<string, unknown>> | undefined {
    return undefined;
  }

  toStackEntry(): ErrorStackEntry {
    const entry = {
      type: this.type,
      file: '',
      line: 0,
      message: this.message,
      errno: this.errno,
      code: this.code,
    };
    const fields = this.fields;
    return fields === undefined ? entry : { ...entry, fields };
  }
}

/** An error with a code from the table and a message built from its template. */
export class ClientError extends TarantoolError {
  readonly args: readonly unknown[];
  constructor(code: number, ...args: unknown[]) {
    super('ClientError', code, formatMessage(errorTemplate(code) ?? 'Unknown error', args));
    this.args = args;
  }
}

/** ER_ACCESS_DENIED with the fields net.box exposes. `access` is capitalised ("Read"). */
export class AccessDeniedError extends TarantoolError {
  readonly accessType: string;
  readonly objectType: string;
  readonly objectName: string;
  constructor(accessType: string, objectType: string, objectName: string, user: string) {
    super(
      'AccessDeniedError',
      ErrorCode.ER_ACCESS_DENIED,
      formatMessage(errorTemplate(ErrorCode.ER_ACCESS_DENIED)!, [
        accessType,
        objectType,
        objectName,
        user,
      ]),
    );
    this.accessType = accessType;
    this.objectType = objectType;
    this.objectName = objectName;
  }
  override get fields(): Readonly<Record<string, unknown>> {
    return {
      object_type: this.objectType,
      object_name: this.objectName,
      access_type: this.accessType,
    };
  }
}

/** A corrupt or unreadable xlog/snap file. Messages name the file and offset. */
export class XlogError extends TarantoolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('XlogError', ErrorCode.ER_PROC_LUA, message, options);
  }
}

/**
 * Rows are missing between two points of the log: a deleted or never written xlog.
 * Message as Tarantool's: "Missing .xlog file between LSN 10 {1: 10} and 20 {1: 20}".
 */
export class XlogGapError extends TarantoolError {
  readonly fromSignature: number;
  readonly toSignature: number;
  constructor(fromSignature: number, fromVclock: string, toSignature: number, toVclock: string) {
    super(
      'XlogGapError',
      ErrorCode.ER_PROC_LUA,
      `Missing .xlog file between LSN ${fromSignature} ${fromVclock} and ${toSignature} ${toVclock}`,
    );
    this.fromSignature = fromSignature;
    this.toSignature = toSignature;
  }
}

/** A failed system call. Wraps the Node error as `cause` and keeps its errno. */
export class SystemError extends TarantoolError {
  readonly syscallCode: string | undefined;
  constructor(message: string, cause?: unknown) {
    const errnoException = cause as NodeJS.ErrnoException | undefined;
    const errno = typeof errnoException?.errno === 'number' ? Math.abs(errnoException.errno) : 0;
    const code = typeof errnoException?.code === 'string' ? errnoException.code : undefined;
    super(
      'SystemError',
      ErrorCode.ER_SYSTEM,
      code === undefined ? message : `${message}: ${code}`,
      {
        cause,
        errno,
      },
    );
    this.syscallCode = code;
  }
}

/** A deadline passed (connect, call, wait). Code 115 as Tarantool's TimedOut. */
export class TimedOutError extends TarantoolError {
  constructor(message = 'timed out') {
    super('TimedOut', ErrorCode.ER_SYSTEM, message);
  }
}

/** Invalid arguments to a library call (Tarantool's IllegalParams type). */
export class IllegalParamsError extends TarantoolError {
  constructor(message: string) {
    super('IllegalParams', ErrorCode.ER_PROC_LUA, message);
  }
}
