// Update op decoding beyond the Tarantool fixtures: JS ops, malformed MessagePack ops, how
// errors name fields (1-based, negative as given, names in quotes), and index bases.
import { encode } from '@tarantype/core';
import { describe, expect, it } from 'vitest';
import { errorOf } from '../test/helpers.js';
import { decodeUpdateOps, opsToBytes } from './update.js';

const names = new Map([['name', 1]]);

function decodeJs(ops: unknown[], base = 0) {
  return decodeUpdateOps(opsToBytes(ops as unknown[][]), base, names);
}

describe('update ops', () => {
  it('encodes JS ops and refuses malformed MessagePack', () => {
    expect(decodeJs([['=', 2, 'x']])[0]).toMatchObject({
      opcode: '=',
      fieldNo: 2,
      label: '3',
      byName: false,
    });
    expect(errorOf(() => opsToBytes(new Uint8Array([0x91, 0x93])))).toEqual({
      code: 20,
      message: 'Invalid MsgPack - update operations',
    });
    expect(errorOf(() => opsToBytes([[() => 1]] as unknown as unknown[][]))?.message).toMatch(
      /^Illegal parameters, cannot encode update operations/,
    );
    expect(decodeUpdateOps(encode([['+', -1, 5]]), 0, names)[0]).toMatchObject({
      fieldNo: -1,
      label: '-1',
      operand: 5,
    });
  });

  it('names fields in errors as Tarantool does', () => {
    expect(errorOf(() => decodeJs([['+', 'name', 'x']]))?.message).toBe(
      "Argument type in operation '+' on field 'name' does not match field type: expected a number",
    );
    expect(errorOf(() => decodeJs([[':', -2, 'a', 1, 'x']]))?.message).toBe(
      "Argument type in operation ':' on field -2 does not match field type: expected an integer",
    );
    expect(errorOf(() => decodeJs([['=', 0, 1]], 1))?.message).toBe(
      'Field 0 was not found in the tuple',
    );
    expect(decodeJs([['=', 1, 1]], 1)[0]).toMatchObject({ fieldNo: 0, label: '1' });
    expect(decodeJs([['=', '[2]', 1]])[0]).toMatchObject({
      fieldNo: 1,
      label: "'[2]'",
      byName: true,
    });
    expect(errorOf(() => decodeJs([['=', '[2].a', 1]]))?.message).toBe(
      'memtx does not support nested JSON path updates',
    );
    expect(errorOf(() => decodeJs([['=', 'name.a', 1]]))?.message).toBe(
      'memtx does not support nested JSON path updates',
    );
    expect(errorOf(() => decodeJs([['=', 'other.a', 1]]))?.message).toBe(
      "Field 'other.a' was not found in the tuple",
    );
    expect(errorOf(() => decodeJs([[':', 1, 0, 1, 'x']], 1))?.message).toBe(
      'SPLICE error on field 1: offset is out of bound',
    );
  });
});
