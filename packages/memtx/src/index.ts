// @tarantype/memtx: the in-memory storage engine — tuples, TREE and HASH indexes, spaces,
// update/upsert, statements with undo, triggers, read views. Knows nothing of the WAL.
export { FIELD_TYPES, type FieldType, isIndexableType } from './field-type.js';
export { Index, type IndexPart, type KeyInput, type SelectOptions } from './memtx-index.js';
export { ReadView, ReadViewCursor } from './read-view.js';
export { roundTripCopy } from './round-trip.js';
export {
  type BeforeReplaceTrigger,
  type IndexMemory,
  type IndexOptions,
  type IndexPartInput,
  type OnReplaceTrigger,
  Space,
  type SpaceMemory,
  type SpaceOptions,
  type TupleInput,
  type UpdateOptions,
  type WriteOptions,
} from './space.js';
export { Statement, type StatementKind, type StatementRewrite } from './statement.js';
export { TREE_NODE_SIZE_DEFAULT, TREE_NODE_SIZE_MIN } from './tree-index.js';
export type { ArenaStats } from './tuple-arena.js';
export type { FormatField, FormatFieldInput } from './tuple-format.js';
export type { UpdateOpsInput } from './update.js';
