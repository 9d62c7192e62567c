// @tarantype/snapshot: snapshots (.snap, FORMAT.md): written from read views while the instance
// keeps serving, streamed back on recovery, kept and collected per checkpoint_count.
export {
  MEGABYTE,
  PROGRESS_INTERVAL_DEFAULT_MS,
  type ProgressHook,
  type SnapshotProgress,
} from './progress.js';
export { SnapshotDir, type SnapshotFileInfo, type SnapshotGcResult } from './snapshot-dir.js';
export {
  decodeSnapshotRows,
  SNAPSHOT_BLOCK_SIZE_DEFAULT,
  SnapshotBlockBuilder,
  type SnapshotRow,
  SnapshotRows,
  snapshotRowsCapacity,
} from './snapshot-format.js';
export {
  SNAPSHOT_READ_SIZE_DEFAULT_BYTES,
  type SnapshotBatch,
  SnapshotReader,
  type SnapshotReaderOptions,
  type SnapshotReadStats,
} from './snapshot-reader.js';
export {
  isSystemSpace,
  iterableCursor,
  type SnapshotSource,
  type SnapshotSpace,
  SPACE_ID_MAX,
  spaceOrderRank,
  type TupleCursor,
} from './snapshot-source.js';
export {
  SNAPSHOT_SYNC_INTERVAL_DEFAULT_BYTES,
  SNAPSHOT_YIELD_INTERVAL_DEFAULT_MS,
  type SnapshotWriteResult,
  type SnapshotWriterOptions,
  writeSnapshot,
} from './snapshot-writer.js';
