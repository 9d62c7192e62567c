import { describe, expect, it } from 'vitest';
import { ErrorCode } from './error-codes.js';
import {
  AccessDeniedError,
  ClientError,
  ER_CASCADE_ROLLBACK,
  formatMessage,
  SystemError,
  XlogGapError,
} from './errors.js';

describe('errors', () => {
  it('formats Tarantool 2.6 texts exactly (spec §7 observed messages)', () => {
    expect(new ClientError(ErrorCode.ER_TUPLE_FOUND, 'primary', 'tester').message).toBe(
      "Duplicate key exists in unique index 'primary' in space 'tester'",
    );
    expect(new ClientError(ErrorCode.ER_NO_SUCH_SPACE, '9999').message).toBe(
      "Space '9999' does not exist",
    );
    expect(new ClientError(ErrorCode.ER_READONLY).message).toBe(
      "Can't modify data because this instance is in read-only mode.",
    );
    expect(new ClientError(ErrorCode.ER_KEY_PART_COUNT, 1, 2).message).toBe(
      'Invalid key part count (expected [0..1], got 2)',
    );
    expect(new ClientError(ErrorCode.ER_PARTIAL_KEY, 'HASH', 1, 0).message).toBe(
      'HASH index  does not support selects via a partial key (expected 1 parts, got 0). Please Consider changing index type to TREE.',
    );
    expect(
      new ClientError(ErrorCode.ER_UPDATE_INTEGER_OVERFLOW, '+'.charCodeAt(0), 3).message,
    ).toBe("Integer overflow when performing '+' operation on field 3");
    expect(new ClientError(ErrorCode.ER_NO_SUCH_PROC, 'nosuch').message).toBe(
      "Procedure 'nosuch' is not defined",
    );
    expect(new ClientError(ErrorCode.ER_WAL_IO).message).toBe('Failed to write to disk');
    expect(new ClientError(ER_CASCADE_ROLLBACK).message).toBe('WAL has a rollback in progress');
  });

  it('has every 2.6.0 code from 0 to 218 in order', () => {
    expect(ErrorCode.ER_UNKNOWN).toBe(0);
    expect(ErrorCode.ER_TUPLE_METADATA_IS_TOO_BIG).toBe(218);
    expect(ErrorCode.ER_MISSING_REQUEST_FIELD).toBe(69);
  });

  it('builds AccessDeniedError with net.box fields', () => {
    const error = new AccessDeniedError('Write', 'space', 'test', 'guest');
    expect(error.message).toBe("Write access to space 'test' is denied for user 'guest'");
    expect(error.code).toBe(42);
    expect(error.toStackEntry()).toMatchObject({
      type: 'AccessDeniedError',
      code: 42,
      fields: { object_type: 'space', object_name: 'test', access_type: 'Write' },
    });
  });

  it('keeps errno and cause of system errors', () => {
    const cause = Object.assign(new Error('boom'), { code: 'EIO', errno: -5 });
    const error = new SystemError('failed to write x.xlog', cause);
    expect(error.message).toBe('failed to write x.xlog: EIO');
    expect(error.errno).toBe(5);
    expect(error.code).toBe(115);
    expect(error.cause).toBe(cause);
  });

  it('formats XlogGapError like Tarantool', () => {
    expect(new XlogGapError(10, '{1: 10}', 20, '{1: 20}').message).toBe(
      'Missing .xlog file between LSN 10 {1: 10} and 20 {1: 20}',
    );
  });

  it('formatMessage tolerates missing arguments', () => {
    expect(formatMessage("Space '%s' does not exist", [])).toBe("Space '' does not exist");
    expect(formatMessage('100%% %d', [5])).toBe('100% 5');
  });
});
