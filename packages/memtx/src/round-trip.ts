// Tuples that survive MessagePack unchanged. Layer: memtx.
//
// A space stores a JS tuple as its MessagePack encoding (Space.prepare) and gives it back
// decoded (tuple-decoder.ts). For some fields that round trip is the identity, and a caller
// that just handed memtx such a tuple can be given a copy of its own array instead of a
// decode of the stored bytes: the same values, without reading them back (box's insert and
// replace, where the decode and its garbage were about 1 µs of an 8 µs embedded insert).
//
// The identity holds, field by field, for:
// - a string with no lone surrogate (UTF-8 cannot carry one: it is stored as U+FFFD);
// - a safe integer other than -0 (stored as an integer: -0 comes back as 0);
// - any other number that is not an integer, NaN and ±Infinity included (stored as a double);
// - true, false and null.
// Anything else (undefined, which comes back as null; integers beyond 2^53, bigints, bytes,
// nested arrays and maps, extension values) does not qualify, and the caller decodes.

/** String.prototype.isWellFormed (ES2024; V8 has it since Node 20). */
interface WellFormed {
  isWellFormed(): boolean;
}

/**
 * A plain array holding `tuple`'s fields when each of them round-trips through MessagePack
 * unchanged (see above), else undefined. Only meaningful for a tuple that was stored as given
 * (no before_replace rewrite) and read back before the caller could change it.
 */
export function roundTripCopy(tuple: readonly unknown[]): unknown[] | undefined {
  const n = tuple.length;
  const copy = new Array<unknown>(n);
  for (let i = 0; i < n; i++) {
    const value = tuple[i];
    switch (typeof value) {
      case 'string':
        if (!(value as unknown as WellFormed).isWellFormed()) return undefined;
        break;
      case 'number':
        if (Number.isInteger(value)) {
          if (!Number.isSafeInteger(value) || Object.is(value, -0)) return undefined;
        }
        break;
      case 'boolean':
        break;
      default:
        if (value !== null) return undefined;
    }
    copy[i] = value;
  }
  return copy;
}
