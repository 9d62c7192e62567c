// Socket failures as 2.6 reports them in box.info.replication (upstream/downstream .message and
// .system_message) and in its log: a SystemError (code 115, ER_SYSTEM) whose message names the
// call and the socket ("unexpected EOF when reading from socket, called on fd 18, aka
// 127.0.0.1:46224, peer of 127.0.0.1:3301") and whose system message is strerror(errno)
// ("Broken pipe"). Layer: replication, no I/O.
//
// 2.6 quirk kept on purpose: an EOF carries the stale errno EPIPE, so its system_message reads
// "Broken pipe" (reference §2b). Whoever compares with 2.6 sees the same pair of strings.
import { ErrorCode, TarantoolError } from '@tarantype/core';

/** strerror() texts of the errnos a replication socket meets (glibc wording). */
const STRERROR: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'Connection refused',
  ECONNRESET: 'Connection reset by peer',
  EPIPE: 'Broken pipe',
  ETIMEDOUT: 'Connection timed out',
  EHOSTUNREACH: 'No route to host',
  ENETUNREACH: 'Network is unreachable',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  ENOTFOUND: 'Name or service not known',
  EAI_AGAIN: 'Temporary failure in name resolution',
  ECONNABORTED: 'Software caused connection abort',
};

/** The strerror text of a Node error code ("ECONNREFUSED" → "Connection refused"). */
export function systemMessageOf(code: string | undefined): string {
  if (code === undefined) return 'Unknown error';
  return STRERROR[code] ?? code;
}

/** Where a socket is, for messages: fd (when known), local and peer "host:port". */
export interface SocketName {
  readonly fd: number | undefined;
  readonly local: string | undefined;
  readonly peer: string | undefined;
}

/** "fd 18, aka 127.0.0.1:46224, peer of 127.0.0.1:3301" as sio_socketname writes it. */
export function formatSocketName(name: SocketName): string {
  let text = `fd ${name.fd ?? -1}`;
  if (name.local !== undefined) text += `, aka ${name.local}`;
  if (name.peer !== undefined) text += `, peer of ${name.peer}`;
  return text;
}

/** A failed socket call: type SystemError, code ER_SYSTEM, and the strerror text apart. */
export class ReplicationSocketError extends TarantoolError {
  /** strerror(errno): box.info's system_message. */
  readonly systemMessage: string;
  constructor(message: string, systemMessage: string, options?: { cause?: unknown }) {
    super('SystemError', ErrorCode.ER_SYSTEM, message, options);
    this.systemMessage = systemMessage;
  }

  /** "unexpected EOF when reading from socket, called on <socket>" with "Broken pipe". */
  static eof(name: SocketName): ReplicationSocketError {
    return new ReplicationSocketError(
      `unexpected EOF when reading from socket, called on ${formatSocketName(name)}`,
      'Broken pipe',
    );
  }

  /** "connect, called on fd N, aka <local>" with the strerror of the failure. */
  static connect(name: SocketName, cause: unknown): ReplicationSocketError {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    return new ReplicationSocketError(
      `connect, called on ${formatSocketName({ ...name, peer: undefined })}`,
      systemMessageOf(code),
      { cause },
    );
  }

  /** A read or write failed ("writev(2), called on …"). */
  static io(call: string, name: SocketName, cause: unknown): ReplicationSocketError {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    return new ReplicationSocketError(
      `${call}, called on ${formatSocketName(name)}`,
      systemMessageOf(code),
      { cause },
    );
  }

  /** No packet within the disconnect timeout: "timed out" / "Connection timed out". */
  static timedOut(): ReplicationSocketError {
    return new ReplicationSocketError('timed out', 'Connection timed out');
  }
}

/** 2.6's subclasses of ClientError: their log lines name the code too (ClientError::log). */
const CLIENT_ERROR_TYPES: ReadonlySet<string> = new Set(['ClientError', 'AccessDeniedError']);

/**
 * The log text of an error as 2.6's error_log writes it: "SystemError <message>: <strerror>"
 * for socket errors, "<ER_NAME>: <message>" for ClientError and its subclasses
 * ("ER_ACCESS_DENIED: Read access to universe '' is denied for user 'norepl'", reference §8c),
 * "<Type>: <message>" otherwise ("XlogGapError: Missing .xlog file …").
 */
export function errorLogText(error: TarantoolError, erName: (code: number) => string): string {
  if (error instanceof ReplicationSocketError)
    return `SystemError ${error.message}: ${error.systemMessage}`;
  if (CLIENT_ERROR_TYPES.has(error.type)) return `${erName(error.code)}: ${error.message}`;
  return `${error.type}: ${error.message}`;
}
