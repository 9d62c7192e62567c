// memtx benchmarks (issue: memtx). N tuples {i, <32-byte string>, i*2} (1M large, 10k small)
// in a space with a TREE primary key on field 1, the strings drawn from a pool of 65 536 random
// base64 strings as in tt-embedded.lua. In one run:
// - inserts/s with sequential and with random keys (JS arrays, autocommit, as an embedded
//   program writes), and with sequential keys given as MessagePack (the iproto/WAL path);
// - point gets/s by random keys (decoded tuples, and raw copies);
// - tuples/s of a full scan (pairs(): lazy and decoded, and forEachRaw: zero-copy);
// - tuples/s of GE selects with limit 100 from random keys (decoded);
// - bytes per tuple with one TREE index and added by a second TREE index (unique, field 3),
//   measured as the process's heap + external memory growth after a full GC, and as the
//   engine's own accounting (space.memory()).
// Tarantool's figures: when `tarantool` is on PATH (large scale only), tt-embedded.lua runs in
// the same run with wal_mode none (plus a short embedded script for random-key inserts, which
// tt-embedded.lua does not measure); otherwise the figures measured on this machine and quoted
// below are used, and the figure names say which. The checksum sums ids read back.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MsgpackWriter } from '@tarantype/core';
import { Space } from '@tarantype/memtx';
import type { BenchFigure, BenchScale, BenchSuite } from '../harness.js';
import { sharedBenchDir } from '../lib/tarantool.js';

const TT_EMBEDDED_LUA = process.env.TT_EMBEDDED_LUA ?? join(sharedBenchDir(), 'tt-embedded.lua');
const POOL_SIZE = 65_536;
/** Range selects: tuples per select (tt-embedded.lua's LIM). */
const RANGE_LIMIT = 100;

interface Scale {
  readonly tuples: number;
  /** Repetitions of each timed phase; the best is kept (least disturbed by the other engineers' work). */
  readonly repetitions: number;
}

const SCALES: Record<BenchScale, Scale> = {
  small: { tuples: 10_000, repetitions: 1 },
  large: { tuples: 1_000_000, repetitions: 3 },
};

interface TarantoolFigures {
  readonly insertSequential: number;
  readonly insertSingle: number;
  readonly insertRandom: number | undefined;
  readonly get: number;
  readonly fullScan: number;
  readonly rangeGe100: number;
  readonly bytesOneIndex: number;
  readonly bytesSecondIndex: number;
  readonly source: string;
}

/** Tarantool 2.6.0 on this machine, wal_mode none, N = 1M (measured with tt-embedded.lua). */
const QUOTED: TarantoolFigures = {
  insertSequential: 913_111,
  insertSingle: 645_451,
  insertRandom: undefined,
  get: 677_926,
  fullScan: 2_283_393,
  rangeGe100: 1_438_542,
  bytesOneIndex: 84.6,
  bytesSecondIndex: 22.3,
  source: 'Tarantool 2.6 (quoted)',
};

/** Random-key inserts, batched like tt-embedded.lua's phase (c); prints {"rps": …}. */
const RANDOM_INSERT_LUA = `
local N = tonumber(os.getenv('N'))
local DIR = os.getenv('DIR')
local fio = require('fio')
fio.rmtree(DIR); fio.mktree(DIR)
box.cfg{work_dir = DIR, wal_mode = 'none', memtx_memory = 4 * 1024 * 1024 * 1024, log = fio.pathjoin(DIR, 'tt.log')}
local digest = require('digest')
local POOL = {}
for j = 1, 65536 do POOL[j] = digest.base64_encode(digest.urandom(24)) end
local s = box.schema.space.create('r')
s:create_index('pk', {type = 'tree', parts = {1, 'unsigned'}})
math.randomseed(42)
local keys = {}
for i = 1, N do keys[i] = i end
for i = N, 2, -1 do local j = math.random(i); keys[i], keys[j] = keys[j], keys[i] end
local clock = require('clock')
local t0 = clock.monotonic()
for b = 1, N, 1000 do
    box.begin()
    for k = b, math.min(b + 999, N) do local i = keys[k]; s:insert{i, POOL[bit.band(i, 65535) + 1], i * 2} end
    box.commit()
end
local el = clock.monotonic() - t0
print(require('json').encode({rps = math.floor(N / el)}))
fio.rmtree(DIR)
os.exit(0)
`;

function tarantoolAvailable(): boolean {
  if (!existsSync(TT_EMBEDDED_LUA)) return false;
  return spawnSync('tarantool', ['--version'], { encoding: 'utf8' }).status === 0;
}

function lastJsonLine(output: string | undefined): unknown {
  const line = output
    ?.split('\n')
    .filter((l) => l.startsWith('{'))
    .at(-1);
  return line === undefined ? undefined : JSON.parse(line);
}

/** Runs tt-embedded.lua with wal_mode none, then the random-insert script, with N tuples. */
function runTarantool(tuples: number): TarantoolFigures | undefined {
  if (!tarantoolAvailable()) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'tarantype-bench-memtx-'));
  try {
    const run = spawnSync('tarantool', [TT_EMBEDDED_LUA], {
      encoding: 'utf8',
      timeout: 600_000,
      env: {
        ...process.env,
        N: String(tuples),
        WAL_MODE: 'none',
        DIR: join(dir, 'emb'),
        RECOVERY: '0',
      },
    });
    const r = lastJsonLine(run.stdout) as
      | {
          version?: string;
          a_single_fiber?: { rps: number };
          c_batched?: { rps: number };
          get?: { ops_per_s: number };
          range?: { full_scan_pairs_tuples_per_s: number; select_ge_limit100_tuples_per_s: number };
          mem_1idx?: { arena_used_per_tuple: number };
          mem_2idx?: { sk_arena_used_per_tuple: number };
        }
      | undefined;
    if (
      run.status !== 0 ||
      r?.c_batched === undefined ||
      r.get === undefined ||
      r.range === undefined ||
      r.mem_1idx === undefined ||
      r.mem_2idx === undefined
    ) {
      return undefined;
    }
    const script = join(dir, 'random-insert.lua');
    writeFileSync(script, RANDOM_INSERT_LUA);
    const random = spawnSync('tarantool', [script], {
      encoding: 'utf8',
      timeout: 600_000,
      env: { ...process.env, N: String(tuples), DIR: join(dir, 'rnd') },
    });
    const rr = lastJsonLine(random.stdout) as { rps?: number } | undefined;
    return {
      insertSequential: r.c_batched.rps,
      insertSingle: r.a_single_fiber?.rps ?? Number.NaN,
      insertRandom: rr?.rps,
      get: r.get.ops_per_s,
      fullScan: r.range.full_scan_pairs_tuples_per_s,
      rangeGe100: r.range.select_ge_limit100_tuples_per_s,
      bytesOneIndex: r.mem_1idx.arena_used_per_tuple,
      bytesSecondIndex: r.mem_2idx.sk_arena_used_per_tuple,
      source: `Tarantool ${r.version ?? '2.6'} (same run)`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Deterministic xorshift32 in [0, 1). */
function seededRandom(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

function stringPool(seed: number): string[] {
  const random = seededRandom(seed);
  return Array.from({ length: POOL_SIZE }, () => {
    const raw = Buffer.alloc(24);
    for (let i = 0; i < raw.length; i++) raw[i] = Math.floor(random() * 256);
    return raw.toString('base64');
  });
}

function shuffled(n: number, seed: number): Uint32Array {
  const keys = new Uint32Array(n);
  for (let i = 0; i < n; i++) keys[i] = i + 1;
  const random = seededRandom(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = keys[i]!;
    keys[i] = keys[j]!;
    keys[j] = t;
  }
  return keys;
}

/** Tuples the second index's memory is measured on, at the least (see measureMemtx). */
const SECOND_INDEX_TUPLES_MIN = 100_000;

function newSpace(): Space {
  const space = new Space({ id: 512, name: 'bench' });
  space.createIndex({ name: 'pk', type: 'TREE', parts: [{ field: 0, type: 'unsigned' }] });
  return space;
}

/** A full GC, when the process allows one (`--expose-gc` is turned on here if needed). */
const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

function memoryBytes(): number {
  collectGarbage();
  collectGarbage();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

function timeSeconds(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function best(repetitions: number, fn: () => number): number {
  let result = Number.POSITIVE_INFINITY;
  for (let i = 0; i < repetitions; i++) result = Math.min(result, fn());
  return result;
}

/** tarantype's side of the memtx suite: every figure the suite prints, per second or in bytes. */
export interface MemtxResult {
  readonly insertSequential: number;
  readonly insertRandom: number;
  readonly insertMsgpack: number;
  readonly get: number;
  readonly getRaw: number;
  readonly fullScan: number;
  readonly fullScanRaw: number;
  readonly rangeGe100: number;
  /** Heap + external growth per tuple with one TREE index, after a full GC. */
  readonly bytesOneIndex: number;
  readonly bytesOneIndexAccounted: number;
  readonly bytesSecondIndex: number;
  readonly bytesSecondIndexAccounted: number;
  readonly checksum: number;
}

/**
 * Loads N tuples {i, str, i*2} into a memtx Space and measures inserts (sequential, random,
 * MessagePack input), point gets, full scans, GE selects with limit 100 and bytes per tuple with
 * one and two TREE indexes; each timed phase `repetitions` times, the best kept.
 */
export function measureMemtx(n: number, repetitions: number): MemtxResult {
  const pool = stringPool(42);
  const random = shuffled(n, 7);
  const lookups = shuffled(n, 11);
  let checksum = 0;

  // {{{ inserts
  const insertSequential = (space: Space) => {
    for (let i = 1; i <= n; i++) space.insert([i, pool[i & 0xffff]!, i * 2]);
  };
  // Memory is measured around the first sequential load: everything else it needs exists already.
  const before = memoryBytes();
  const space = newSpace();
  const firstSeconds = timeSeconds(() => insertSequential(space));
  const bytesOneIndex = (memoryBytes() - before) / n;
  const bytesOneIndexAccounted = space.memory().totalBytes / n;
  // A second index's heap growth is small next to the heap's own noise at the small scale
  // (10k tuples: ~200 KB, and a full GC can free more than that): it is measured on at least
  // SECOND_INDEX_TUPLES_MIN tuples.
  const sized = n >= SECOND_INDEX_TUPLES_MIN ? space : newSpace();
  if (sized !== space)
    for (let i = 1; i <= SECOND_INDEX_TUPLES_MIN; i++) sized.insert([i, pool[i & 0xffff]!, i * 2]);
  const sizedN = sized.len();
  const secondBefore = memoryBytes();
  sized.createIndex({ name: 'sk', type: 'TREE', parts: [{ field: 2, type: 'unsigned' }] });
  const bytesSecondIndex = (memoryBytes() - secondBefore) / sizedN;
  const bytesSecondIndexAccounted = sized.memory().indexes[1]!.bsize / sizedN;
  sized.dropIndex('sk');

  const sequentialSeconds = Math.min(
    firstSeconds,
    best(repetitions - 1, () => timeSeconds(() => insertSequential(newSpace()))),
  );
  const randomSeconds = best(repetitions, () =>
    timeSeconds(() => {
      const s = newSpace();
      for (let k = 0; k < n; k++) {
        const i = random[k]!;
        s.insert([i, pool[i & 0xffff]!, i * 2]);
      }
    }),
  );
  // The iproto/WAL path: tuples already MessagePack (views into one buffer, as network reads are).
  const encoded = new MsgpackWriter(n * 56 + 1024);
  const offsets = new Uint32Array(n + 1);
  for (let i = 1; i <= n; i++) {
    offsets[i - 1] = encoded.length;
    encoded.arrayHeader(3);
    encoded.uint(i);
    encoded.str(pool[i & 0xffff]!);
    encoded.uint(i * 2);
  }
  offsets[n] = encoded.length;
  const rawSeconds = best(repetitions, () =>
    timeSeconds(() => {
      const s = newSpace();
      const bytes = encoded.bytes;
      for (let i = 0; i < n; i++) s.insert(bytes.subarray(offsets[i]!, offsets[i + 1]!));
    }),
  );
  // }}}

  // {{{ reads, on the space of the first load
  const index = space.index('pk')!;
  const getSeconds = best(repetitions, () =>
    timeSeconds(() => {
      for (let k = 0; k < n; k++) checksum += index.get([lookups[k]!])![0] as number;
    }),
  );
  const getRawSeconds = best(repetitions, () =>
    timeSeconds(() => {
      for (let k = 0; k < n; k++) checksum += index.getRaw([lookups[k]!])!.length;
    }),
  );
  const scanSeconds = best(repetitions, () =>
    timeSeconds(() => {
      for (const tuple of index.pairs()) checksum += tuple[0] as number;
    }),
  );
  const rawScanSeconds = best(repetitions, () =>
    timeSeconds(() => {
      index.forEachRaw([], { iterator: 'GE' }, (_bytes, start, end) => {
        checksum += end - start;
      });
    }),
  );
  const selects = Math.max(1, Math.floor(n / 50));
  let rangeTuples = 0;
  const rangeSeconds = best(repetitions, () =>
    timeSeconds(() => {
      rangeTuples = 0;
      for (let k = 0; k < selects; k++) {
        const from = 1 + (lookups[k]! % Math.max(1, n - RANGE_LIMIT));
        const result = index.select([from], { iterator: 'GE', limit: RANGE_LIMIT });
        rangeTuples += result.length;
        checksum += result[0]![0] as number;
      }
    }),
  );
  // }}}
  checksum += space.len();
  return {
    insertSequential: n / sequentialSeconds,
    insertRandom: n / randomSeconds,
    insertMsgpack: n / rawSeconds,
    get: n / getSeconds,
    getRaw: n / getRawSeconds,
    fullScan: n / scanSeconds,
    fullScanRaw: n / rawScanSeconds,
    rangeGe100: rangeTuples / rangeSeconds,
    bytesOneIndex,
    bytesOneIndexAccounted,
    bytesSecondIndex,
    bytesSecondIndexAccounted,
    checksum,
  };
}

export default {
  name: 'memtx',
  async run(scaleName: BenchScale) {
    const { tuples: n, repetitions } = SCALES[scaleName];
    const measured = scaleName === 'large' ? runTarantool(n) : undefined;
    const tarantool = measured ?? QUOTED;
    const figures: BenchFigure[] = [];
    // Targets apply to the large run; the small one (10k tuples, a cold JIT, a mostly empty 1 MiB
    // chunk) only checks that the suite works.
    const withTargets = scaleName === 'large';
    const add = (
      name: string,
      value: number,
      unit: string,
      reference?: number,
      against?: string,
      target?: string,
    ) => {
      if (!withTargets) target = undefined;
      const figure: BenchFigure = { name, value, unit };
      figures.push(
        reference === undefined || against === undefined
          ? figure
          : {
              ...figure,
              ratio: {
                value: value / reference,
                against,
                ...(target === undefined ? {} : { target }),
              },
            },
      );
    };
    const ours = measureMemtx(n, repetitions);
    const tt = tarantool.source;
    add(
      'insert, sequential keys (JS arrays)',
      ours.insertSequential,
      'tuples/s',
      tarantool.insertSequential,
      `${tt} 1000-row txns`,
      '≥ 1.00',
    );
    if (tarantool.insertRandom !== undefined) {
      add(
        'insert, random keys (JS arrays)',
        ours.insertRandom,
        'tuples/s',
        tarantool.insertRandom,
        `${tt} random keys, 1000-row txns`,
        '≥ 1.00',
      );
    } else {
      add(
        'insert, random keys (JS arrays)',
        ours.insertRandom,
        'tuples/s',
        tarantool.insertSequential,
        `${tt} sequential keys, 1000-row txns`,
        '≥ 1.00',
      );
    }
    add(
      'insert, sequential keys (MessagePack input)',
      ours.insertMsgpack,
      'tuples/s',
      tarantool.insertSequential,
      `${tt} 1000-row txns`,
    );
    add(
      'point get by random key (decoded)',
      ours.get,
      'gets/s',
      tarantool.get,
      `${tt} pk:get()`,
      '≥ 1.00',
    );
    add(
      'point get by random key (raw copy)',
      ours.getRaw,
      'gets/s',
      tarantool.get,
      `${tt} pk:get()`,
    );
    add(
      'full scan, pairs() (decoded)',
      ours.fullScan,
      'tuples/s',
      tarantool.fullScan,
      `${tt} pk:pairs()`,
      '≥ 1.00',
    );
    add(
      'full scan, forEachRaw (zero-copy)',
      ours.fullScanRaw,
      'tuples/s',
      tarantool.fullScan,
      `${tt} pk:pairs()`,
    );
    add(
      `select GE, limit ${RANGE_LIMIT} (decoded)`,
      ours.rangeGe100,
      'tuples/s',
      tarantool.rangeGe100,
      `${tt} select GE limit 100`,
      '≥ 1.00',
    );
    add(
      'bytes per tuple, one TREE index (heap + external)',
      ours.bytesOneIndex,
      'B',
      tarantool.bytesOneIndex,
      `${tt} arena_used per tuple`,
      '≤ 1.25',
    );
    add(
      'bytes per tuple, one TREE index (engine accounting)',
      ours.bytesOneIndexAccounted,
      'B',
      tarantool.bytesOneIndex,
      `${tt} arena_used per tuple`,
    );
    add(
      'bytes per tuple added by a second TREE index (heap)',
      ours.bytesSecondIndex,
      'B',
      tarantool.bytesSecondIndex,
      `${tt} second index per tuple`,
    );
    add(
      'bytes per tuple added by a second TREE index (bsize)',
      ours.bytesSecondIndexAccounted,
      'B',
      tarantool.bytesSecondIndex,
      `${tt} second index per tuple`,
    );
    add(
      'bytes per tuple, two TREE indexes (heap + external)',
      ours.bytesOneIndex + ours.bytesSecondIndex,
      'B',
      tarantool.bytesOneIndex + tarantool.bytesSecondIndex,
      `${tt} arena_used per tuple, two indexes`,
      '≤ 1.25',
    );
    // Tarantool's own figures, so the report shows both sides of every ratio.
    const ttName = (what: string) => `${tarantool.source}: ${what}`;
    add(ttName('insert, 1000-row txns (tt-embedded c)'), tarantool.insertSequential, 'tuples/s');
    add(ttName('insert, one per txn (tt-embedded a)'), tarantool.insertSingle, 'tuples/s');
    if (tarantool.insertRandom !== undefined)
      add(ttName('insert, random keys, 1000-row txns'), tarantool.insertRandom, 'tuples/s');
    add(ttName('pk:get() by random key'), tarantool.get, 'gets/s');
    add(ttName('pk:pairs() full scan'), tarantool.fullScan, 'tuples/s');
    add(ttName('select GE limit 100'), tarantool.rangeGe100, 'tuples/s');
    add(ttName('arena_used per tuple, one TREE index'), tarantool.bytesOneIndex, 'B');
    add(ttName('arena_used per tuple, second TREE index'), tarantool.bytesSecondIndex, 'B');
    return { suite: 'memtx', figures, checksum: ours.checksum };
  },
} satisfies BenchSuite;
