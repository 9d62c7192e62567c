// @tarantype/box: the database facade — box.cfg, schema in system spaces, transactions,
// recovery, checkpoints, users and grants, box.info, box.once.
export {
  AccessControl,
  accessName,
  type PrivRow,
  parsePrivileges,
  type UserDef,
} from './access.js';
export { Box, type BoxRuntime, type BoxStatus, type CheckpointInfo } from './box.js';
export { boxInfoGcWal } from './box-info.js';
export {
  BoxIndex,
  type BoxSelectOptions,
  BoxSpace,
  type BoxUpdateOptions,
  type CreateIndexOptions,
  type IndexSelector,
} from './box-space.js';
export { Catalog, type FuncDef, type SpaceEntry, SYSVIEW_BASE } from './catalog.js';
export { applyCfg, type BoxConfig, CFG_DEFAULTS } from './cfg.js';
export { DirLock } from './dir-lock.js';
export type { Operation } from './executor.js';
export {
  type AppFunction,
  type CallContext,
  FunctionRegistry,
  MultiReturn,
  multi,
  returnValues,
} from './functions.js';
export { type GcConsumer, GcConsumers } from './gc-consumers.js';
export { BoxHandler, type ScriptRuntime } from './iproto-handler.js';
export { luaIndexParts, resolveLuaFunction, setCfgHook, spaceObject } from './lua-api.js';
export { chapSha1Hash2 } from './password.js';
export {
  PROGRESS_EVENT_INTERVAL_DEFAULT_MS,
  type ProgressEvent,
  ProgressReporter,
  type ProgressSink,
  type ProgressStart,
  type ProgressTask,
} from './progress.js';
export { type CreateSpaceOptions, SchemaApi } from './schema-api.js';
export type { FieldTypeName, FormatField, IndexDef, SpaceDef } from './schema-def.js';
export { STAT_NAMES, type StatName } from './stat.js';
