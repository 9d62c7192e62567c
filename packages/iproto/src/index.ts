// @tarantype/iproto: Tarantool 2.6's binary protocol — framing, greeting, chap-sha1, request and
// reply codecs, error encoding — with a server behind a port (IprotoHandler, implemented by box)
// and a typed client. See PROTOCOL.md.
export {
  type AuthAdmission,
  AuthThrottle,
  type AuthThrottleLimits,
  peerKey,
} from './auth-throttle.js';
export { wrapCall16, writeCall16Data } from './call-16.js';
export {
  authenticateChapSha1,
  type ChapSha1User,
  CREDENTIALS_MISMATCH_MESSAGE,
  CredentialsError,
  chapSha1Check,
  chapSha1Hash2,
  chapSha1Hash2Base64,
  chapSha1Scramble,
} from './chap-sha1.js';
export {
  type ConnectOptions,
  connect,
  IprotoClient,
  type ReconnectOptions,
  type RequestOptions,
  type SelectOptions,
  type SqlResponse,
  type UpdateOperation,
  type UpdateOptions,
} from './client.js';
export { ClientSchema, type SpaceInfo } from './client-schema.js';
export {
  errorStack,
  errorStatus,
  RemoteError,
  readErrorBody,
  toTarantoolError,
  writeErrorBody,
} from './error-encoding.js';
export {
  FrameDecoder,
  type FrameDecoderOptions,
  type InputMeter,
  NEED_MORE,
  type NeedMore,
} from './frame-decoder.js';
export { decodeGreeting, encodeGreeting, type Greeting, newSalt } from './greeting.js';
export {
  AUTH_FAILURE_DELAY_MS_DEFAULT,
  AUTH_FAILURES_GLOBAL_BURST,
  AUTH_FAILURES_GLOBAL_PER_SECOND,
  AUTH_FAILURES_PER_PEER_BURST,
  AUTH_FAILURES_PER_PEER_PER_SECOND,
  FRAME_ASSEMBLY_THRESHOLD_BYTES,
  GREETING_SIZE,
  INPUT_BUFFERED_BYTES_MAX_DEFAULT,
  NET_MSG_MAX_DEFAULT,
  OUTPUT_HIGH_WATER_MARK_BYTES,
  PROTOCOL_ERROR_LOG_BURST,
  PROTOCOL_ERROR_LOG_INTERVAL_MS,
  REPLY_FLUSH_REQUESTS_DEFAULT,
  REPLY_SLICE_MICROS_DEFAULT,
  SALT_SIZE,
  SCRAMBLE_SIZE,
} from './limits.js';
export type {
  Awaitable,
  Ballot,
  IprotoHandler,
  PrepareResult,
  ReplicationChannel,
  ReplicationHook,
  Session,
  SessionUser,
  SqlColumn,
  SqlResult,
  TupleData,
} from './port.js';
export { TupleStream } from './port.js';
export {
  ProtocolErrorLog,
  type ProtocolErrorLogLimits,
  type ProtocolLogger,
} from './protocol-error-log.js';
export { isMsgpackArray, RawMsgpack, writeValue } from './raw-msgpack.js';
export {
  type AuthRequest,
  type CallRequest,
  type DeleteRequest,
  type DmlRequest,
  decodeArray,
  decodeRequest,
  type EvalRequest,
  type ExecuteRequest,
  type InsertRequest,
  type PingRequest,
  type PrepareRequest,
  type ReplicationRequest,
  type Request,
  RequestDecodeError,
  type SelectRequest,
  type Sync,
  type UpdateRequest,
  type UpsertRequest,
  type VoteRequest,
} from './request.js';
export {
  RESPONSE_HEADER_SIZE,
  writeBallot,
  writeCall16,
  writeError,
  writeOk,
  writeOptionalTuple,
  writeTuples,
  writeValues,
} from './response-writer.js';
export {
  createServer,
  IprotoServer,
  type IprotoServerOptions,
  type ListenAddress,
} from './server.js';
export { parseUri, type UriParts } from './uri.js';
