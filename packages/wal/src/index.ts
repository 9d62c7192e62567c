// @tarantype/wal: the write-ahead log (FORMAT.md): xlog container, journal, reader, follower, GC.
export {
  type CheckWalDirOptions,
  checkWalDir,
  type WalDirFile,
  type WalDirReport,
} from './check-wal-dir.js';
export {
  directoryOf,
  type FileHandle,
  type FileSystem,
  NodeFileSystem,
  type NodeFileSystemOptions,
  type OpenMode,
  SYNC_WRITE_MAX_BYTES_DEFAULT,
} from './file-system.js';
export {
  Journal,
  type JournalObserver,
  type JournalOptions,
  type JournalStats,
  SKIP_POINT_EVERY_BYTES,
  type SubmitDone,
  TOO_LONG_THRESHOLD_DEFAULT_MS,
  WAL_MAX_SIZE_DEFAULT,
  WAL_QUEUE_MAX_SIZE_DEFAULT,
  type WalBatchSample,
  type WalMode,
  type WalPosition,
  type WalWriter,
} from './journal.js';
export { type Logger, RecordingLogger, silentLogger } from './logger.js';
export { type FollowOptions, followWal, LIVE_FEED_BYTES_MAX } from './wal-follower.js';
export {
  XlogCursor,
  type XlogCursorOptions,
  type XlogEnd,
  type XlogTransaction,
  XrowInPlace,
} from './xlog-cursor.js';
export { XlogDir, type XlogFileInfo } from './xlog-dir.js';
export {
  BLOCK_HEADER_SIZE,
  BLOCK_MAGIC,
  BlockEncoder,
  EOF_MARKER,
  EOF_MARKER_BYTES,
  encodeMeta,
  FILE_SUFFIX,
  INPROGRESS_SUFFIX,
  type MetaParseResult,
  newBatchWriter,
  parseMeta,
  parseXlogFileName,
  readBlockHeader,
  XLOG_FORMAT_VERSION,
  type XlogFileType,
  type XlogMeta,
  xlogFileName,
} from './xlog-format.js';
