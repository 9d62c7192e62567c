// @tarantype/replication: Tarantool 2.6 replication — the wire codec of JOIN, SUBSCRIBE, the row
// stream, heartbeats, acks and VOTE (PROTOCOL.md), the relay (master side, an iproto
// ReplicationHook) and the applier (replica side), reaching the database only through ports.
export {
  Applier,
  type ApplierOptions,
  type ApplierState,
  type UpstreamInfo,
} from './applier.js';
export { type PeerBallot, probeBallot } from './ballot-probe.js';
export {
  appendRows,
  BallotKey,
  type DecodedPacket,
  decodeBallot,
  decodeJoin,
  decodePacket,
  decodeSubscribe,
  decodeSubscribeResponse,
  decodeVclockBody,
  encodeAck,
  encodeAuth,
  encodeHeartbeat,
  encodeJoin,
  encodeRow,
  encodeSubscribe,
  encodeSubscribeResponse,
  encodeVclockPacket,
  encodeVote,
  isDmlType,
  isSynchroType,
  type JoinRequest,
  SERVER_VERSION_ID,
  type SubscribeRequest,
  type SubscribeResponse,
} from './codec.js';
export { type ApplierConnection, type Connector, tcpConnector } from './connection.js';
export {
  DISCONNECT_TIMEOUT_FACTOR,
  INITIAL_BATCH_ROWS,
  RELAY_OUTPUT_HIGH_WATER_BYTES,
  REPLICATION_CONNECT_TIMEOUT_DEFAULT_S,
  REPLICATION_SYNC_LAG_DEFAULT_S,
  REPLICATION_TIMEOUT_DEFAULT_S,
} from './limits.js';
export type { LogLevel, ReplicationLogger } from './log.js';
export type {
  BootstrapTarget,
  DiscardableBootstrapTarget,
  FailedRowError,
  GcConsumers,
  JoinSource,
  JoinView,
  MasterStatus,
  Membership,
  RowSource,
  TransactionSink,
} from './ports.js';
export {
  type DownstreamInfo,
  ReplicationServer,
  type ReplicationServerOptions,
} from './relay.js';
export { formatRequest } from './request-string.js';
export {
  errorLogText,
  formatSocketName,
  ReplicationSocketError,
  type SocketName,
  systemMessageOf,
} from './socket-error.js';
export { filterTransaction } from './subscription.js';
export { nodeTimers, type TimerHandle, type Timers } from './timers.js';
export { TransactionAssembler } from './transaction-assembler.js';
