// Programmer-error checks for every layer. A failed assertion means an invariant of our own
// code is broken (never bad outside input): it throws AssertionError, which nothing catches.
// Operating errors (bad input, corrupt files, EIO) use the typed classes in errors.ts instead.

export class AssertionError extends Error {
  override name = 'AssertionError';
}

/**
 * Throws AssertionError when `condition` is false. Its message is an argument, so it is built
 * on every call: on hot paths, with a message that formats values, write
 * `if (!condition) throw new AssertionError(\`...\`)` instead (a template string per call was
 * a fifth of the garbage of an insert).
 */
export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** Marks code that must not be reached (exhaustive switches). */
export function unreachable(what: never | string = 'unreachable code reached'): never {
  throw new AssertionError(typeof what === 'string' ? what : `unreachable: ${String(what)}`);
}
