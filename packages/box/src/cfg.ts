// box.cfg: option names, types, defaults and dynamic/static rules as Tarantool 2.6's
// load_cfg.lua has them (read from the 2.6.0 binary), with Tarantool's exact error texts:
// ER_CFG "Incorrect value for option '<name>': <why>" and ER_RELOAD_CFG "Can't set option
// '<name>' dynamically". Layer: box. Pure validation; applying options is box.ts's job.
//
// Three kinds of names: options tarantype implements; Tarantool options it accepts but that
// have no effect here (vinyl_*, feedback_* …: accepted so Tarantool configs load, reported by
// unsupportedOptionsIn() so the caller can warn); and everything else, refused as Tarantool
// refuses it ("unexpected option"). Units are Tarantool's: seconds, bytes.
import { ClientError, ErrorCode, isUuid } from '@tarantype/core';

export type WalModeName = 'none' | 'write' | 'fsync';

/** The effective configuration (box.cfg after the first call). */
export interface BoxConfig {
  listen: string | undefined;
  replication: string[];
  read_only: boolean;
  wal_mode: WalModeName;
  wal_dir: string;
  memtx_dir: string;
  work_dir: string | undefined;
  wal_max_size: number;
  /** 2.8+: bytes of transactions queued for the WAL before writers wait (backpressure). */
  wal_queue_max_size: number;
  checkpoint_interval: number;
  checkpoint_count: number;
  checkpoint_wal_threshold: number;
  snap_io_rate_limit: number | undefined;
  force_recovery: boolean;
  too_long_threshold: number;
  memtx_memory: number;
  memtx_max_tuple_size: number;
  net_msg_max: number;
  instance_uuid: string | undefined;
  replicaset_uuid: string | undefined;
  replication_timeout: number;
  replication_connect_timeout: number;
  replication_connect_quorum: number | undefined;
  replication_sync_lag: number;
  replication_sync_timeout: number;
  replication_skip_conflict: boolean;
  replication_anon: boolean;
  log: string | undefined;
  log_level: number;
  log_format: 'plain' | 'json';
  [unsupported: string]: unknown;
}

/** Tarantool 2.6 defaults (default_cfg in load_cfg.lua), plus 2.8's wal_queue_max_size. */
export const CFG_DEFAULTS: Readonly<BoxConfig> = {
  listen: undefined,
  replication: [],
  read_only: false,
  wal_mode: 'write',
  wal_dir: '.',
  memtx_dir: '.',
  work_dir: undefined,
  wal_max_size: 256 * 1024 * 1024,
  wal_queue_max_size: 16 * 1024 * 1024,
  checkpoint_interval: 3600,
  checkpoint_count: 2,
  checkpoint_wal_threshold: 1e18,
  snap_io_rate_limit: undefined,
  force_recovery: false,
  too_long_threshold: 0.5,
  memtx_memory: 256 * 1024 * 1024,
  memtx_max_tuple_size: 1024 * 1024,
  net_msg_max: 768,
  instance_uuid: undefined,
  replicaset_uuid: undefined,
  replication_timeout: 1,
  replication_connect_timeout: 30,
  replication_connect_quorum: undefined,
  replication_sync_lag: 10,
  replication_sync_timeout: 300,
  replication_skip_conflict: false,
  replication_anon: false,
  log: undefined,
  log_level: 5,
  log_format: 'plain',
};

type TypeName = 'string' | 'number' | 'boolean' | 'table';

/** Lua types each option accepts (template_cfg), in Tarantool's order for the error text. */
const TEMPLATE: Record<string, readonly TypeName[]> = {
  listen: ['string', 'number'],
  replication: ['string', 'number', 'table'],
  read_only: ['boolean'],
  wal_mode: ['string'],
  wal_dir: ['string'],
  memtx_dir: ['string'],
  work_dir: ['string'],
  wal_max_size: ['number'],
  wal_queue_max_size: ['number'],
  checkpoint_interval: ['number'],
  checkpoint_count: ['number'],
  checkpoint_wal_threshold: ['number'],
  snap_io_rate_limit: ['number'],
  force_recovery: ['boolean'],
  too_long_threshold: ['number'],
  memtx_memory: ['number'],
  memtx_max_tuple_size: ['number'],
  net_msg_max: ['number'],
  instance_uuid: ['string'],
  replicaset_uuid: ['string'],
  replication_timeout: ['number'],
  replication_connect_timeout: ['number'],
  replication_connect_quorum: ['number'],
  replication_sync_lag: ['number'],
  replication_sync_timeout: ['number'],
  replication_skip_conflict: ['boolean'],
  replication_anon: ['boolean'],
  log: ['string'],
  log_level: ['number'],
  log_format: ['string'],
};

/** Tarantool 2.6 options accepted for compatibility that have no effect in tarantype. */
const UNSUPPORTED: Record<string, readonly TypeName[]> = {
  strip_core: ['boolean'],
  memtx_min_tuple_size: ['number'],
  slab_alloc_factor: ['number'],
  vinyl_dir: ['string'],
  vinyl_memory: ['number'],
  vinyl_cache: ['number'],
  vinyl_max_tuple_size: ['number'],
  vinyl_read_threads: ['number'],
  vinyl_write_threads: ['number'],
  vinyl_timeout: ['number'],
  vinyl_run_count_per_level: ['number'],
  vinyl_run_size_ratio: ['number'],
  vinyl_range_size: ['number'],
  vinyl_page_size: ['number'],
  vinyl_bloom_fpr: ['number'],
  log_nonblock: ['boolean'],
  io_collect_interval: ['number'],
  readahead: ['number'],
  wal_dir_rescan_delay: ['number'],
  custom_proc_title: ['string'],
  pid_file: ['string'],
  background: ['boolean'],
  username: ['string'],
  coredump: ['boolean'],
  hot_standby: ['boolean'],
  worker_pool_threads: ['number'],
  replication_synchro_quorum: ['number'],
  replication_synchro_timeout: ['number'],
  feedback_enabled: ['boolean'],
  feedback_host: ['string'],
  feedback_interval: ['number'],
  sql_cache_size: ['number'],
};

/** Options that may change after the first box.cfg (dynamic_cfg in load_cfg.lua). */
const DYNAMIC = new Set([
  'listen',
  'replication',
  'log_level',
  'log_format',
  'too_long_threshold',
  'snap_io_rate_limit',
  'read_only',
  'memtx_memory',
  'memtx_max_tuple_size',
  'checkpoint_count',
  'checkpoint_interval',
  'checkpoint_wal_threshold',
  'force_recovery',
  'replication_timeout',
  'replication_connect_timeout',
  'replication_connect_quorum',
  'replication_sync_lag',
  'replication_sync_timeout',
  'replication_skip_conflict',
  'replication_anon',
  'instance_uuid',
  'replicaset_uuid',
  'net_msg_max',
  'wal_queue_max_size',
  ...Object.keys(UNSUPPORTED).filter((name) => !name.startsWith('vinyl_dir')),
]);

function cfgError(name: string, why: string): ClientError {
  return new ClientError(ErrorCode.ER_CFG, name, why);
}

function luaType(value: unknown): TypeName | 'nil' | 'other' {
  if (value === undefined || value === null) return 'nil';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'number') return 'number';
  if (typeof value === 'boolean') return 'boolean';
  if (Array.isArray(value) || typeof value === 'object') return 'table';
  return 'other';
}

function checkType(name: string, value: unknown, types: readonly TypeName[]): void {
  const type = luaType(value);
  if (type === 'nil') return;
  if (!(types as readonly string[]).includes(type)) {
    throw cfgError(
      name,
      types.length === 1
        ? `should be of type ${types[0]}`
        : `should be one of types ${types.join(', ')}`,
    );
  }
}

const POSITIVE = new Set([
  'replication_timeout',
  'replication_connect_timeout',
  'replication_sync_timeout',
]);
const NON_NEGATIVE = new Set([
  'checkpoint_interval',
  'too_long_threshold',
  'wal_max_size',
  'memtx_memory',
  'net_msg_max',
  'replication_sync_lag',
  'snap_io_rate_limit',
  'checkpoint_wal_threshold',
]);

/** Per-option value rules with Tarantool's texts (box.cc box_check_*). */
function checkValue(name: string, value: unknown): unknown {
  if (value === undefined || value === null) return undefined;
  switch (name) {
    case 'wal_mode':
      if (value !== 'none' && value !== 'write' && value !== 'fsync')
        throw cfgError(name, String(value));
      return value;
    case 'log_format':
      if (value !== 'plain' && value !== 'json') throw cfgError(name, `expected 'plain' or 'json'`);
      return value;
    case 'checkpoint_count':
      if ((value as number) < 1) throw cfgError(name, 'the value must not be less than one');
      return value;
    case 'log_level':
      if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 7)
        throw cfgError(name, 'expected an integer from 0 to 7');
      return value;
    case 'memtx_max_tuple_size':
      if ((value as number) < 16) throw cfgError(name, 'must be at least 16 bytes');
      return value;
    case 'wal_queue_max_size':
      if ((value as number) <= 0) throw cfgError(name, 'the value must be greather than 0');
      return value;
    case 'instance_uuid':
    case 'replicaset_uuid':
      if (!isUuid(value as string)) throw cfgError(name, 'must be a valid UUID');
      return (value as string).toLowerCase();
    case 'listen':
      return String(value);
    case 'replication': {
      // '' and {} mean no upstream (2.6: box.cfg{replication = ''} leaves the replica set).
      const list = (Array.isArray(value) ? value : [value]).map((uri) => {
        if (typeof uri !== 'string' && typeof uri !== 'number')
          throw cfgError(name, 'should be a list of URIs');
        return String(uri).trim();
      });
      const uris = list.filter((uri) => uri !== '');
      for (const uri of uris)
        if (!REPLICATION_URI.test(uri))
          throw cfgError(name, 'expected host:service or /unix.socket');
      return uris;
    }
  }
  if (POSITIVE.has(name) && (value as number) <= 0)
    throw cfgError(name, 'the value must be greather than 0');
  if (NON_NEGATIVE.has(name) && (value as number) < 0)
    throw cfgError(name, 'the value must not be negative');
  return value;
}

/** [user[:password]@]host:port, [user[:password]@]port, or a UNIX socket path (2.6's URI forms). */
const REPLICATION_URI =
  /^(?:[^@:/\s]+(?::[^@\s]*)?@)?(?:(?:\[[0-9a-fA-F:.]+\]|[^:@/\s]+):\d+|\d+|(?:unix\/:)?\/\S+)$/;

/** Names in `options` that Tarantool has but tarantype ignores (to warn about). */
export function unsupportedOptionsIn(options: Readonly<Record<string, unknown>>): string[] {
  return Object.keys(options).filter((name) => name in UNSUPPORTED);
}

/**
 * Validates `options` and returns the configuration they produce on top of `current` (the
 * defaults on the first call). After the first call (`initialized`), changing a static option
 * throws ER_RELOAD_CFG; memtx_memory may only grow.
 */
export function applyCfg(
  options: Readonly<Record<string, unknown>>,
  current: Readonly<BoxConfig>,
  initialized: boolean,
): BoxConfig {
  const next: BoxConfig = { ...current };
  for (const [name, raw] of Object.entries(options)) {
    const types = TEMPLATE[name] ?? UNSUPPORTED[name];
    if (types === undefined) throw cfgError(name, 'unexpected option');
    checkType(name, raw, types);
    const value = checkValue(name, raw);
    // 2.6 refuses a new log destination with its own text (box_check_say), not ER_RELOAD_CFG.
    if (initialized && name === 'log' && !sameValue(value, current.log))
      throw cfgError(name, "can't be set dynamically");
    if (initialized && !DYNAMIC.has(name) && !sameValue(value, current[name])) {
      throw new ClientError(ErrorCode.ER_RELOAD_CFG, name);
    }
    if (initialized && name === 'memtx_memory' && (value as number) < current.memtx_memory) {
      throw cfgError(name, 'cannot decrease memory size at runtime');
    }
    if (
      initialized &&
      (name === 'instance_uuid' || name === 'replicaset_uuid') &&
      current[name] !== undefined &&
      value !== current[name]
    ) {
      throw cfgError(
        name,
        `cannot change ${name === 'instance_uuid' ? 'instance' : 'replica set'} uuid`,
      );
    }
    next[name] = value ?? CFG_DEFAULTS[name];
  }
  return next;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b || (a === undefined && b === undefined);
}
