// @tarantype/core: Tarantool's vocabulary for every other package. No I/O.
export { AssertionError, assert, unreachable } from './assert.js';
export {
  DmlBody,
  decodeDmlBody,
  decodeRowBody,
  decodeRowBodyAt,
  encodeDeleteBody,
  encodeTupleBody,
  encodeUpdateBody,
  encodeUpsertBody,
  IPROTO_KEY_NAME,
  IPROTO_KEY_TYPE,
  isDmlType,
  type MsgpackArray,
  missingDmlBody,
  readUintSaturated,
  writeDeleteBody,
  writeSelectBody,
  writeTupleBody,
  writeUpdateBody,
  writeUpsertBody,
} from './dml-body.js';
export { ERROR_TABLE, ErrorCode, type ErrorCodeName, type ErrorCodeNumber } from './error-codes.js';
export {
  AccessDeniedError,
  ClientError,
  ER_CASCADE_ROLLBACK,
  type ErrorStackEntry,
  errorName,
  errorTemplate,
  formatMessage,
  IllegalParamsError,
  SystemError,
  TarantoolError,
  TimedOutError,
  XlogError,
  XlogGapError,
} from './errors.js';
export {
  GroupId,
  IPROTO_FLAG_COMMIT,
  IPROTO_KEY_MAX,
  IPROTO_TYPE_ERROR,
  IprotoKey,
  IprotoType,
  type IteratorCode,
  type IteratorName,
  IteratorType,
  Privilege,
  SYSTEM_ID_MAX,
  SYSTEM_ID_MIN,
  SystemSpace,
  TARANTOOL_VERSION,
  TARANTOOL_VERSION_ID,
  UserId,
} from './iproto-constants.js';
export {
  IPROTO_PACKET_SIZE_MAX,
  LSN_MAX,
  MEMTX_MAX_TUPLE_SIZE_DEFAULT,
  MSGPACK_DEPTH_MAX,
  TRANSACTION_ROWS_MAX,
  UPDATE_OPS_MAX,
  VCLOCK_MAX,
  XLOG_BLOCK_SIZE_MAX,
} from './limits.js';
export {
  decode,
  encode,
  Float64,
  MsgpackError,
  MsgpackExtension,
  MsgpackReader,
  MsgpackWriter,
  plainView,
  utf8Decode,
} from './msgpack.js';
export {
  isArrayByte,
  MP_FIXED_SIZE,
  MP_HEADER_SIZE,
  MP_ITEMS_PER_COUNT,
  MP_LENGTH_WIDTH,
  MP_TAG_LENGTH_MASK,
  MP_TYPE,
  MpType,
  type MpTypeCode,
  mpCheck,
  mpCheckError,
  mpLengthField,
  mpSkip,
  mpTypeOfByte,
} from './msgpack-grammar.js';
export { RangeCopier } from './range-copier.js';
export { isUuid, NIL_UUID, newUuid } from './uuid.js';
export { Vclock, type VclockOrder } from './vclock.js';
export {
  decodeXrow,
  decodeXrowHeader,
  decodeXrowHeaderInto,
  EMPTY_BODY,
  encodeXrow,
  encodeXrowHeader,
  makeXrow,
  type Xrow,
} from './xrow.js';
export { type Hasher, loadHasher } from './xxhash.js';
