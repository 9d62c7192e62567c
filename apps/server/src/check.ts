// `tarantype check <uri> <uri>…`: anti-entropy for a replica set. Layer: apps/server (a CLI
// command over @tarantype/iproto's client; works against tarantype and Tarantool 2.6 alike).
//
// It connects to every member, lists the user spaces (id ≥ 512) of each from `_vspace`, and
// streams each space's tuples in primary-key order from all members in lockstep, in batches
// (SELECT with iterator GE, then GT after the last key of the batch, `batchSize` rows at a
// time: never a whole space in memory). Per member and space it computes a digest chained over
// the tuples: d₀ = 0, dᵢ = xxh64(dᵢ₋₁ as 8 big-endian bytes ‖ MessagePack of tuple i), so it
// depends on every tuple and on their order, not on the batch size. Tuples are hashed as the
// canonical MessagePack of the decoded value (core's encoder): two encodings of one value hash
// alike; an integral double (1.0) decodes, and so hashes, like the integer 1. The first
// position where the members' tuples differ names the differing key (the smallest primary key
// among them, with what each member has there). System spaces (id < 512) are not compared:
// they hold per-instance rows (_cluster order, _schema's instance UUID…); the report says so.
// A space whose primary index is not a TREE has no order to stream in and is reported as not
// compared. Exit codes: 0 every space equal, 1 a difference (or a member that cannot be read),
// 2 a usage error.
import { encode, type Hasher, loadHasher } from '@tarantype/core';
import { connect, type IprotoClient, parseUri, type UriParts } from '@tarantype/iproto';
import { type Command, InvalidArgumentError } from 'commander';

/** Rows per SELECT: bounded memory per member whatever the space's size. */
export const CHECK_BATCH_SIZE_DEFAULT = 1000;
const BATCH_SIZE_MAX = 100_000;
const REQUEST_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 5000;
/** Spaces with ids below this are Tarantool's system spaces. */
const USER_SPACE_ID_MIN = 512;
const VSPACE_ID = 281;
const VINDEX_ID = 289;

export interface SpaceReport {
  readonly id: number;
  readonly name: string;
  /** Per member (in the order given): rows and digest (hex); undefined where it has no such space. */
  readonly rows: ReadonlyArray<number | undefined>;
  readonly digests: ReadonlyArray<string | undefined>;
  readonly equal: boolean;
  /** The first differing key and what each member has there, or why the space differs. */
  readonly difference?: string;
  /** Why the space was not compared (then `equal` says nothing). */
  readonly notCompared?: string;
}

export interface CheckReport {
  /** host:port of each member, in the order given. */
  readonly members: readonly string[];
  readonly spaces: readonly SpaceReport[];
  /** System spaces (id < 512) seen and left out. */
  readonly systemSpaces: number;
  readonly equal: boolean;
}

export class CheckUsageError extends Error {}

interface SpaceRow {
  readonly id: number;
  readonly name: string;
}

/** The primary key's field numbers (0-based) and whether the index orders its keys. */
interface PrimaryKey {
  readonly fields: readonly number[];
  readonly ordered: boolean;
}

/** Streams one space of one member in primary-key order, one batch at a time. */
class SpaceCursor {
  private batch: unknown[][] = [];
  private at = 0;
  private last: unknown[] | undefined;
  private exhausted = false;

  constructor(
    private readonly client: IprotoClient,
    private readonly spaceId: number,
    private readonly key: PrimaryKey,
    private readonly batchSize: number,
  ) {}

  async next(): Promise<unknown[] | undefined> {
    if (this.at === this.batch.length) {
      if (this.exhausted) return undefined;
      const last = this.last;
      this.batch = await this.client.select<unknown[]>(
        this.spaceId,
        0,
        last === undefined ? [] : this.key.fields.map((f) => last[f]),
        {
          iterator: last === undefined ? 'GE' : 'GT',
          limit: this.batchSize,
          timeoutMs: REQUEST_TIMEOUT_MS,
        },
      );
      this.at = 0;
      if (this.batch.length < this.batchSize) this.exhausted = true;
      if (this.batch.length === 0) return undefined;
    }
    const tuple = this.batch[this.at++]!;
    this.last = tuple;
    return tuple;
  }
}

/** The chained digest of one member's space. */
class SpaceDigest {
  rows = 0;
  private state = new Uint8Array(8);
  private buffer = new Uint8Array(1024);

  constructor(private readonly hasher: Hasher) {}

  add(tuple: Uint8Array): void {
    const size = 8 + tuple.length;
    if (this.buffer.length < size)
      this.buffer = new Uint8Array(Math.max(size, this.buffer.length * 2));
    this.buffer.set(this.state, 0);
    this.buffer.set(tuple, 8);
    const h = this.hasher.h64(this.buffer.subarray(0, size));
    new DataView(this.state.buffer).setBigUint64(0, h);
    this.rows += 1;
  }

  get hex(): string {
    return new DataView(this.state.buffer).getBigUint64(0).toString(16).padStart(16, '0');
  }
}

/** A short, unambiguous text of a key or tuple (bigints and binary strings included). */
export function show(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return `${v}n`;
    if (v instanceof Uint8Array) return `bin:${Buffer.from(v).toString('hex')}`;
    if (v instanceof Map) return Object.fromEntries(v);
    return v;
  });
}

const rank = (v: unknown): number =>
  v === null || v === undefined
    ? 0
    : typeof v === 'boolean'
      ? 1
      : typeof v === 'number' || typeof v === 'bigint'
        ? 2
        : typeof v === 'string'
          ? 3
          : v instanceof Uint8Array
            ? 4
            : 5;

/** Tarantool's scalar order for the common key types (nil < bool < number < string < binary). */
function compareScalar(a: unknown, b: unknown): number {
  const [ra, rb] = [rank(a), rank(b)];
  if (ra !== rb) return ra - rb;
  if (ra === 1) return Number(a) - Number(b);
  if (ra === 2) {
    if (typeof a === 'bigint' || typeof b === 'bigint') {
      const [x, y] = [BigInt(a as number | bigint), BigInt(b as number | bigint)];
      return x < y ? -1 : x > y ? 1 : 0;
    }
    return (a as number) - (b as number);
  }
  if (ra === 3) return Buffer.compare(Buffer.from(a as string), Buffer.from(b as string));
  if (ra === 4) return Buffer.compare(a as Uint8Array, b as Uint8Array);
  return show(a) < show(b) ? -1 : show(a) > show(b) ? 1 : 0;
}

function compareKeys(a: readonly unknown[], b: readonly unknown[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = compareScalar(a[i], b[i]);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

const sameBytes = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean =>
  a === undefined || b === undefined ? a === b : Buffer.compare(a, b) === 0;

/** "key [5]: m1 has [5,"a"]; m2 has [5,"b"]; m3 has no such key" at the first difference. */
function describeDifference(
  tuples: ReadonlyArray<unknown[] | undefined>,
  key: PrimaryKey,
  members: readonly string[],
): string {
  const keys = tuples.map((t) => (t === undefined ? undefined : key.fields.map((f) => t[f])));
  let smallest: unknown[] | undefined;
  for (const k of keys)
    if (k !== undefined && (smallest === undefined || compareKeys(k, smallest) < 0)) smallest = k;
  const at = members.map((member, i) => {
    const k = keys[i];
    return k !== undefined && compareKeys(k, smallest!) === 0
      ? `${member} has ${show(tuples[i])}`
      : `${member} has no such key`;
  });
  return `first differing key ${show(smallest)}: ${at.join('; ')}`;
}

function primaryKeyOf(indexRow: unknown[] | undefined): PrimaryKey | undefined {
  if (indexRow === undefined) return undefined;
  const type = String(indexRow[3] ?? '').toUpperCase();
  const parts = Array.isArray(indexRow[5]) ? indexRow[5] : [];
  const fields = parts.map((part: unknown) => {
    if (Array.isArray(part)) return Number(part[0]);
    if (part instanceof Map) return Number(part.get('field'));
    return Number((part as { field?: unknown }).field);
  });
  if (fields.some((f) => !Number.isInteger(f) || f < 0))
    throw new Error(`cannot read the primary key parts of space ${String(indexRow[0])}`);
  return { fields, ordered: type === 'TREE' };
}

async function listSpaces(client: IprotoClient): Promise<SpaceRow[]> {
  const rows = await client.select<unknown[]>(VSPACE_ID, 0, [], {
    iterator: 'ALL',
    timeoutMs: REQUEST_TIMEOUT_MS,
  });
  return rows.map((r) => ({ id: Number(r[0]), name: String(r[2]) }));
}

async function compareSpace(
  clients: readonly IprotoClient[],
  members: readonly string[],
  space: SpaceRow,
  present: readonly boolean[],
  hasher: Hasher,
  batchSize: number,
): Promise<SpaceReport> {
  const none = members.map(() => undefined);
  if (present.some((p) => !p)) {
    const missing = members.filter((_m, i) => !present[i]);
    return {
      ...space,
      rows: none,
      digests: none,
      equal: false,
      difference: `space missing on ${missing.join(', ')}`,
    };
  }
  const indexRows = await Promise.all(
    clients.map((c) =>
      c.select<unknown[]>(VINDEX_ID, 0, [space.id, 0], { timeoutMs: REQUEST_TIMEOUT_MS }),
    ),
  );
  const keys = indexRows.map((rows) => primaryKeyOf(rows[0]));
  const key = keys[0];
  if (keys.some((k) => show(k) !== show(key)))
    return {
      ...space,
      rows: none,
      digests: none,
      equal: false,
      difference: `primary keys differ: ${keys.map((k, i) => `${members[i]} ${show(k?.fields ?? null)}`).join('; ')}`,
    };
  if (key === undefined)
    return {
      ...space,
      rows: members.map(() => 0),
      digests: none,
      equal: true,
      notCompared: 'no primary index (no rows)',
    };
  if (!key.ordered)
    return {
      ...space,
      rows: none,
      digests: none,
      equal: true,
      notCompared: 'the primary index is not a TREE (no key order to stream in)',
    };
  const cursors = clients.map((c) => new SpaceCursor(c, space.id, key, batchSize));
  const digests = clients.map(() => new SpaceDigest(hasher));
  let difference: string | undefined;
  for (;;) {
    const tuples = await Promise.all(cursors.map((c) => c.next()));
    if (tuples.every((t) => t === undefined)) break;
    const encoded = tuples.map((t) => (t === undefined ? undefined : encode(t)));
    encoded.forEach((bytes, i) => {
      if (bytes !== undefined) digests[i]!.add(bytes);
    });
    if (difference === undefined && encoded.some((b) => !sameBytes(b, encoded[0])))
      difference = describeDifference(tuples, key, members);
  }
  return {
    ...space,
    rows: digests.map((d) => d.rows),
    digests: digests.map((d) => d.hex),
    equal: difference === undefined,
    ...(difference === undefined ? {} : { difference }),
  };
}

async function connectAll(uris: readonly UriParts[]): Promise<IprotoClient[]> {
  const clients: IprotoClient[] = [];
  try {
    for (const uri of uris) {
      try {
        clients.push(
          await connect({ ...uri, connectTimeoutMs: CONNECT_TIMEOUT_MS, reconnect: false }),
        );
      } catch (error) {
        throw new Error(`cannot connect to ${uri.host}:${uri.port}: ${(error as Error).message}`);
      }
    }
    return clients;
  } catch (error) {
    for (const c of clients) c.destroy();
    throw error;
  }
}

/** Compares the members' user spaces. Throws CheckUsageError on bad URIs. */
export async function checkMembers(
  uris: readonly string[],
  options: { batchSize?: number } = {},
): Promise<CheckReport> {
  const batchSize = options.batchSize ?? CHECK_BATCH_SIZE_DEFAULT;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > BATCH_SIZE_MAX)
    throw new CheckUsageError(`batch size must be an integer in 1..${BATCH_SIZE_MAX}`);
  if (uris.length < 2) throw new CheckUsageError('give at least two URIs to compare');
  const parsed = uris.map((uri) => {
    try {
      return parseUri(uri);
    } catch (error) {
      throw new CheckUsageError(`bad URI '${uri}': ${(error as Error).message}`);
    }
  });
  const members = parsed.map((u) => `${u.host}:${u.port}`);
  const hasher = await loadHasher();
  const clients = await connectAll(parsed);
  try {
    const lists = await Promise.all(clients.map(listSpaces));
    const byId = new Map<number, SpaceRow>();
    let systemSpaces = 0;
    for (const list of lists)
      for (const s of list) {
        if (s.id < USER_SPACE_ID_MIN) continue;
        if (!byId.has(s.id)) byId.set(s.id, s);
      }
    for (const s of lists[0]!) if (s.id < USER_SPACE_ID_MIN) systemSpaces += 1;
    const spaces: SpaceReport[] = [];
    for (const space of [...byId.values()].sort((a, b) => a.id - b.id)) {
      const present = lists.map((list) =>
        list.some((s) => s.id === space.id && s.name === space.name),
      );
      spaces.push(await compareSpace(clients, members, space, present, hasher, batchSize));
    }
    return { members, spaces, systemSpaces, equal: spaces.every((s) => s.equal) };
  } finally {
    for (const c of clients) c.destroy();
  }
}

/** The report as text: a table per space, then a verdict line. */
export function formatReport(report: CheckReport): string {
  const lines: string[] = [];
  const width = Math.max(6, ...report.members.map((m) => m.length));
  for (const s of report.spaces) {
    const verdict =
      s.notCompared !== undefined
        ? `not compared: ${s.notCompared}`
        : s.equal
          ? 'equal'
          : 'DIFFERENT';
    lines.push(`space ${s.id} '${s.name}': ${verdict}`);
    lines.push(`  ${'member'.padEnd(width)}  ${'rows'.padStart(10)}  digest (xxh64 chain)`);
    report.members.forEach((m, i) => {
      const rows = s.rows[i];
      lines.push(
        `  ${m.padEnd(width)}  ${(rows === undefined ? '-' : String(rows)).padStart(10)}  ${s.digests[i] ?? '-'}`,
      );
    });
    if (s.difference !== undefined) lines.push(`  ${s.difference}`);
  }
  const different = report.spaces.filter((s) => !s.equal);
  lines.push(
    `${report.systemSpaces} system spaces (id < ${USER_SPACE_ID_MIN}) not compared: they hold per-instance rows`,
  );
  lines.push(
    different.length === 0
      ? `all ${report.spaces.length} user spaces equal on ${report.members.length} members`
      : `${different.length} of ${report.spaces.length} user spaces differ: ${different.map((s) => s.name).join(', ')}`,
  );
  return `${lines.join('\n')}\n`;
}

/** The command: prints the report; resolves with the exit code (0 equal, 1 differ, 2 usage). */
export async function checkCommand(
  uris: readonly string[],
  options: { batchSize?: number } = {},
  out: { write(text: string): unknown } = process.stdout,
  err: { write(text: string): unknown } = process.stderr,
): Promise<number> {
  try {
    const report = await checkMembers(uris, options);
    out.write(formatReport(report));
    return report.equal ? 0 : 1;
  } catch (error) {
    if (error instanceof CheckUsageError) {
      err.write(`tarantype check: ${error.message}\n`);
      return 2;
    }
    err.write(`tarantype check: ${(error as Error).message}\n`);
    return 1;
  }
}

/** Registers `check <uri> <uri…> [--batch-size n]` on the CLI (cli.ts). */
export function addCheckCommand(program: Command): void {
  program
    .command('check')
    .description(
      "compare the members' user spaces (xxh64 digests in primary-key order); name the first differing key",
    )
    .argument(
      '<uris...>',
      'two or more binary ports: [user:password@]host:port (a user who may read every space)',
    )
    .option(
      '--batch-size <rows>',
      `rows per SELECT while streaming (default: ${CHECK_BATCH_SIZE_DEFAULT})`,
      (value: string) => {
        const n = Number(value);
        if (!/^\d+$/.test(value.trim()) || n < 1 || n > BATCH_SIZE_MAX)
          throw new InvalidArgumentError(`expected an integer in 1..${BATCH_SIZE_MAX}`);
        return n;
      },
    )
    .action(async (uris: string[], flags: { batchSize?: number }) => {
      const code = await checkCommand(
        uris,
        flags.batchSize === undefined ? {} : { batchSize: flags.batchSize },
      );
      // Explicit: no socket or timer may keep the command alive.
      process.stdout.write('', () => process.exit(code));
    });
}
