// Error wrapping for file operations of this package. Layer: snapshot.
// Node's errno errors become SystemError naming the operation and the exact path, with the
// errno kept and the original error as `cause`; typed errors pass through unchanged.
import { SystemError, TarantoolError } from '@tarantype/core';

/** Awaits one file operation, wrapping its failure (see wrapIo). */
export async function io<T>(operation: string, path: string, promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    throw wrapIo(operation, path, error);
  }
}

/** "write '/snap/00000000000000000042.snap.inprogress' failed: ENOSPC". */
export function wrapIo(operation: string, path: string, error: unknown): TarantoolError {
  if (error instanceof TarantoolError) return error;
  return new SystemError(`${operation} '${path}' failed`, error);
}
