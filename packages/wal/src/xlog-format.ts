// The on-disk container shared by .xlog and .snap files (FORMAT.md is the specification; the
// numbered rules there are referenced here as "rule N"). Layer: wal. Pure encoding and
// decoding of meta headers, block headers and file names: no I/O, no policy. The cursor
// (xlog-cursor.ts) and the journal (journal.ts) use these to read and write files.
import {
  encodeXrow,
  type Hasher,
  MsgpackWriter,
  plainView,
  Vclock,
  XlogError,
  type Xrow,
  xxh32,
} from '@tarantype/core';

export const XLOG_FORMAT_VERSION = 'tarantype-1';
/** Block start marker (rule 7/8), the same bytes as Tarantool's plain-row marker. */
export const BLOCK_MAGIC = 0xd5ba0bab;
/** End-of-file marker of a cleanly closed file (section 4). */
export const EOF_MARKER = 0xd510aded;
export const EOF_MARKER_BYTES = new Uint8Array([0xd5, 0x10, 0xad, 0xed]);
/** Fixed block header: magic, payload length, row count, xxh64(payload), xxh32(header). */
export const BLOCK_HEADER_SIZE = 24;
/** Longest meta header we scan for its terminating empty line (rule 5). */
export const META_SIZE_MAX = 4096;
/** Rows one block may hold (rule 12): a transaction larger than this is refused by the writer. */
export const BLOCK_ROWS_MAX = 1_000_000;
/** Payload bytes one block may hold: a larger length field is corruption. */
export const BLOCK_PAYLOAD_MAX = 1 << 30;

export type XlogFileType = 'XLOG' | 'SNAP';

export const FILE_SUFFIX: Record<XlogFileType, string> = { XLOG: '.xlog', SNAP: '.snap' };
export const INPROGRESS_SUFFIX = '.inprogress';

export interface XlogMeta {
  readonly type: XlogFileType;
  /** UUID of the instance that wrote the file. */
  readonly instanceUuid: string;
  /** Vclock at the start of the file; its signature names the file. */
  readonly vclock: Vclock;
  /** XLOG only: VClock of the previous xlog, for gap detection (rule 13). */
  readonly prevVclock?: Vclock;
  /** Writer's version text (informational). */
  readonly version?: string;
}

export const WRITER_VERSION = '0.1.0 (Tarantool 2.6.0 protocol)';

/** `00000000000000000042.xlog` (rule: 20-digit signature). */
export function xlogFileName(signature: number, type: XlogFileType): string {
  return `${String(signature).padStart(20, '0')}${FILE_SUFFIX[type]}`;
}

export interface ParsedFileName {
  readonly signature: number;
  readonly type: XlogFileType;
  readonly inprogress: boolean;
}

/** Parses a directory entry name; undefined for names that are not ours. */
export function parseXlogFileName(name: string): ParsedFileName | undefined {
  const match = /^(\d{20})\.(xlog|snap)(\.inprogress)?$/.exec(name);
  if (match === null) return undefined;
  const signature = Number(match[1]);
  if (!Number.isSafeInteger(signature)) return undefined;
  return {
    signature,
    type: match[2] === 'xlog' ? 'XLOG' : 'SNAP',
    inprogress: match[3] !== undefined,
  };
}

const encoder = new TextEncoder();

export function encodeMeta(meta: XlogMeta, hasher: Hasher): Uint8Array {
  let text = `${meta.type}\n${XLOG_FORMAT_VERSION}\nVersion: ${meta.version ?? WRITER_VERSION}\n`;
  text += `Instance: ${meta.instanceUuid}\nVClock: ${meta.vclock.toString()}\n`;
  if (meta.type === 'XLOG') text += `PrevVClock: ${(meta.prevVclock ?? new Vclock()).toString()}\n`;
  const checksum = hasher.h32(encoder.encode(text)).toString(16).padStart(8, '0');
  return encoder.encode(`${text}Checksum: ${checksum}\n\n`);
}

export type MetaParseResult =
  | { readonly status: 'ok'; readonly meta: XlogMeta; readonly length: number }
  | { readonly status: 'incomplete' };

/**
 * Parses the meta header at the start of `bytes` (rules 1–5). Returns 'incomplete' when the
 * bytes end before the terminating empty line (a truncated file); throws XlogError naming
 * `path` when the header is complete but invalid.
 */
export function parseMeta(
  bytes: Uint8Array,
  path: string,
  expected: XlogFileType,
  hasher: Hasher,
): MetaParseResult {
  const limit = Math.min(bytes.length, META_SIZE_MAX);
  let end = -1;
  for (let i = 0; i < limit; i++) {
    const b = bytes[i]!;
    if (b === 0x0a && i > 0 && bytes[i - 1] === 0x0a) {
      end = i + 1;
      break;
    }
    // Rule 4: header text is printable ASCII and newlines; anything else before the empty
    // line means the header is damaged, not merely cut short.
    if (b !== 0x0a && (b < 0x20 || b > 0x7e))
      throw new XlogError(`${path}: invalid meta header: non-text byte at offset ${i}`);
  }
  if (end < 0) {
    if (bytes.length < META_SIZE_MAX) return { status: 'incomplete' };
    throw new XlogError(`${path}: meta header longer than ${META_SIZE_MAX} bytes`);
  }
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, end).toString('latin1');
  const lines = text.slice(0, -2).split('\n');
  const fail = (why: string): never => {
    throw new XlogError(`${path}: invalid meta header: ${why}`);
  };
  if (lines[0] !== 'XLOG' && lines[0] !== 'SNAP') fail(`unknown file type '${lines[0]}'`);
  if (lines[0] !== expected)
    throw new XlogError(`${path}: Invalid xlog type: expected ${expected}, got ${lines[0]}`);
  if (lines[1] !== XLOG_FORMAT_VERSION) fail(`unsupported format version '${lines[1]}'`);
  const checksumLine = lines[lines.length - 1]!;
  const checksumMatch = /^Checksum: ([0-9a-f]{8})$/.exec(checksumLine);
  if (checksumMatch === null) fail('missing Checksum line');
  const covered = bytes.subarray(0, end - 2 - checksumLine.length);
  if (hasher.h32(covered).toString(16).padStart(8, '0') !== checksumMatch![1])
    fail('header checksum mismatch');
  const keys = new Map<string, string>();
  for (const line of lines.slice(2, -1)) {
    const colon = line.indexOf(': ');
    if (colon <= 0) fail(`malformed line '${line}'`);
    keys.set(line.slice(0, colon), line.slice(colon + 2));
  }
  const parseVclock = (key: string): Vclock => {
    const value = keys.get(key);
    if (value === undefined) return fail(`missing ${key}`);
    try {
      return Vclock.parse(value);
    } catch {
      return fail(`bad ${key} '${value}'`);
    }
  };
  const instanceUuid = keys.get('Instance') ?? fail('missing Instance');
  const vclock = parseVclock('VClock');
  const version = keys.get('Version');
  const base = {
    type: expected,
    instanceUuid,
    vclock,
    ...(version === undefined ? {} : { version }),
  };
  const meta: XlogMeta =
    expected === 'XLOG' ? { ...base, prevVclock: parseVclock('PrevVClock') } : base;
  return { status: 'ok', meta, length: end };
}

/**
 * Encodes whole transactions as blocks into a reusable writer (one block per transaction).
 * The block header is reserved first, the rows written after it, then the header is filled
 * in with the payload length, row count and checksums.
 */
export class BlockEncoder {
  constructor(private readonly hasher: Hasher) {}

  /** Appends one block holding `rows` to `writer`; returns the block's size in bytes. */
  encode(writer: MsgpackWriter, rows: readonly Xrow[]): number {
    const start = writer.length;
    writer.ensure(BLOCK_HEADER_SIZE);
    writer.length += BLOCK_HEADER_SIZE;
    for (const row of rows) encodeXrow(writer, row);
    const payloadLength = writer.length - start - BLOCK_HEADER_SIZE;
    const view = writer.view;
    view.setUint32(start, BLOCK_MAGIC);
    view.setUint32(start + 4, payloadLength);
    view.setUint32(start + 8, rows.length);
    const payload = plainView(writer.bytes, start + BLOCK_HEADER_SIZE, writer.length);
    view.setBigUint64(start + 12, this.hasher.h64(payload));
    view.setUint32(start + 20, xxh32(writer.bytes, start, start + 20));
    return writer.length - start;
  }
}

export type BlockHeaderResult =
  | {
      readonly status: 'block';
      readonly payloadLength: number;
      readonly rowCount: number;
      readonly checksum: bigint;
    }
  | { readonly status: 'eof' }
  | { readonly status: 'torn' }
  | { readonly status: 'corrupt'; readonly reason: string };

/**
 * Classifies the bytes at `offset` of a file whose bytes from `offset` to the end are
 * `available` long (rules 6–10). `bytes` must hold min(available, BLOCK_HEADER_SIZE) bytes
 * from `offset`.
 */
export function readBlockHeader(
  bytes: Uint8Array,
  offset: number,
  available: number,
  hasher: Hasher,
): BlockHeaderResult {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (available >= 4 && view.getUint32(offset) === EOF_MARKER) return { status: 'eof' };
  if (available < BLOCK_HEADER_SIZE) {
    // Rule 6: a short tail is torn when it could be the start of a marker, a header, or zeros.
    if (
      isPrefixOf(bytes, offset, available, EOF_MARKER_BYTES) ||
      isBlockPrefix(bytes, offset, available, hasher)
    ) {
      return { status: 'torn' };
    }
    if (allZero(bytes, offset, available)) return { status: 'torn' };
    return { status: 'corrupt', reason: `${available} stray bytes at end of file` };
  }
  if (view.getUint32(offset) !== BLOCK_MAGIC) {
    if (allZero(bytes, offset, Math.min(available, BLOCK_HEADER_SIZE))) return { status: 'torn' };
    return { status: 'corrupt', reason: 'bad block magic' };
  }
  if (xxh32(bytes, offset, offset + 20) !== view.getUint32(offset + 20)) {
    return { status: 'corrupt', reason: 'block header checksum mismatch' };
  }
  const payloadLength = view.getUint32(offset + 4);
  const rowCount = view.getUint32(offset + 8);
  if (
    payloadLength === 0 ||
    payloadLength > BLOCK_PAYLOAD_MAX ||
    rowCount === 0 ||
    rowCount > BLOCK_ROWS_MAX
  ) {
    return {
      status: 'corrupt',
      reason: `block header out of range (length ${payloadLength}, rows ${rowCount})`,
    };
  }
  if (available < BLOCK_HEADER_SIZE + payloadLength) return { status: 'torn' };
  return { status: 'block', payloadLength, rowCount, checksum: view.getBigUint64(offset + 12) };
}

function isPrefixOf(bytes: Uint8Array, offset: number, length: number, of: Uint8Array): boolean {
  if (length > of.length) return false;
  for (let i = 0; i < length; i++) if (bytes[offset + i] !== of[i]) return false;
  return true;
}

/** A partial block header is plausible when its magic bytes present match. */
function isBlockPrefix(
  bytes: Uint8Array,
  offset: number,
  length: number,
  _hasher: Hasher,
): boolean {
  const magic = [0xd5, 0xba, 0x0b, 0xab];
  for (let i = 0; i < Math.min(length, 4); i++) if (bytes[offset + i] !== magic[i]) return false;
  return true;
}

function allZero(bytes: Uint8Array, offset: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (bytes[offset + i] !== 0) return false;
  return true;
}

/** A MsgpackWriter sized for WAL batches (1 MiB unless told; it grows as needed). */
export function newBatchWriter(initialBytes = 1 << 20): MsgpackWriter {
  return new MsgpackWriter(initialBytes);
}
