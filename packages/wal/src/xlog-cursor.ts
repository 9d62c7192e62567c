// Streaming reader of one .xlog or .snap file. Layer: wal.
// Reads the file in large chunks, verifies every block (FORMAT.md rules 6–12) and yields whole
// transactions. It tells a torn tail (bytes missing at the end: a crash mid-write; recovery
// truncates it and warns) from corruption (bytes present but wrong: XlogError naming the file
// and offset, or, with forceRecovery, a warning and a skip to the next valid block).
// It never writes. In follow mode (`next(limit)`), bytes at or past `limit` are treated as not
// yet written, so a relay can read a file the journal is still appending to.
import {
  decodeXrowHeader,
  decodeXrowHeaderInto,
  EMPTY_BODY,
  type Hasher,
  IprotoKey,
  MsgpackError,
  MsgpackReader,
  makeXrow,
  VCLOCK_MAX,
  type Vclock,
  XlogError,
  type Xrow,
} from '@tarantype/core';
import type { FileHandle, FileSystem } from './file-system.js';
import { type Logger, silentLogger } from './logger.js';
import {
  BLOCK_HEADER_SIZE,
  META_SIZE_MAX,
  parseMeta,
  readBlockHeader,
  type XlogFileType,
  type XlogMeta,
} from './xlog-format.js';

/**
 * One row of a block decoded in place (XlogTransaction.rowsInPlace): its header, and its body
 * as a range of the block's bytes, without an object or a view of its own. Valid until the
 * cursor's next block: the cursor decodes every block into the same few of these.
 */
export class XrowInPlace {
  /** The header fields; `header.body` is always empty (the body is `bytes[bodyStart, bodyEnd)`). */
  readonly header: Xrow = makeXrow(0);
  bytes: Uint8Array = EMPTY_BODY;
  bodyStart = 0;
  bodyEnd = 0;

  /** The row as an Xrow of its own (the body a view of the block, valid while it is). */
  toXrow(): Xrow {
    return { ...this.header, body: this.bytes.subarray(this.bodyStart, this.bodyEnd) };
  }
}

/**
 * One verified block: a whole transaction (xlog) or a run of rows (snapshot). Its checksum has
 * been verified; its rows are decoded on first access of `rows` (reading a file only to find
 * its end, or to count it, does not pay for decoding). Decoding checks rule 12 and throws
 * XlogError naming the file and offset if the rows are malformed.
 */
export interface XlogTransaction {
  readonly rows: Xrow[];
  /**
   * The same rows, decoded in place (same checks, same XlogError): the first `rowCount`
   * entries. For a reader that handles each row before asking for the next block (recovery)
   * and does not want an Xrow and a body view per row; valid until the cursor's next block.
   */
  rowsInPlace(): readonly XrowInPlace[];
  /**
   * Whether every row's LSN is at or below `vclock`'s component for its replica id, read from
   * the row headers alone (no row objects, no body views): how a follower skips, cheaply, the
   * part of a file a replica already has. False when a header does not parse (`rows` then
   * reports it).
   */
  allAtOrBelow(vclock: Vclock): boolean;
  readonly rowCount: number;
  /** The verified payload (rows back to back). */
  readonly payload: Uint8Array;
  /** File offset of the block header. */
  readonly offset: number;
  /** Block size in bytes, header included. */
  readonly size: number;
}

/** How reading ended: the EOF marker, a clean block boundary without marker, or a torn tail. */
export type XlogEnd = 'eof-marker' | 'unclosed' | 'torn';

export interface XlogCursorOptions {
  readonly forceRecovery?: boolean;
  readonly logger?: Logger;
  /** Bytes read from the file per refill (default 4 MiB). */
  readonly chunkSizeBytes?: number;
  /**
   * Reuse one read buffer: a block's payload and rows are valid only until the next call to
   * next(). For readers that apply or copy each block at once (recovery, verification).
   */
  readonly reuseBuffers?: boolean;
}

const CHUNK_SIZE_DEFAULT = 4 << 20;

export class XlogCursor {
  /** Offset just past the last whole block read: where a torn file should be truncated. */
  validEnd: number;
  /** Set once next() has returned undefined at the end of the file (not in follow mode). */
  end: XlogEnd | undefined;
  /** Corrupt regions skipped in forceRecovery mode. */
  skippedRegions = 0;

  private buffer: Uint8Array = new Uint8Array(0);
  /** The buffer refills reuse when options.reuseBuffers is set. */
  private spare: Buffer | undefined;
  /** File offset of buffer[0]. */
  private bufferStart = 0;
  private offset: number;
  private readonly reader = new MsgpackReader(new Uint8Array(0));
  /** Rule 12: the last LSN read per replica id, from the meta header's vclock on (made on first use). */
  private lastLsn: number[] | undefined;
  /** The rows of the current block as rowsInPlace() hands them out, reused block to block. */
  private readonly inPlace: XrowInPlace[] = [];
  /** Their headers, in the same order (checkTransaction reads these). */
  private readonly inPlaceHeaders: Xrow[] = [];

  private constructor(
    readonly path: string,
    readonly meta: XlogMeta,
    private readonly file: FileHandle,
    private fileSize: number,
    headerLength: number,
    private readonly hasher: Hasher,
    private readonly options: XlogCursorOptions,
  ) {
    this.offset = headerLength;
    this.validEnd = headerLength;
  }

  /**
   * Opens `path` and parses its meta header. Returns undefined when the header is incomplete
   * (a truncated file: the caller decides whether that is acceptable); throws XlogError when
   * it is corrupt.
   */
  static async open(
    fs: FileSystem,
    path: string,
    type: XlogFileType,
    hasher: Hasher,
    options: XlogCursorOptions = {},
  ): Promise<XlogCursor | undefined> {
    const file = await fs.open(path, 'read');
    try {
      const size = await file.size();
      const head = new Uint8Array(Math.min(size, META_SIZE_MAX));
      const n = await readFully(file, head, 0);
      const parsed = parseMeta(head.subarray(0, n), path, type, hasher);
      if (parsed.status === 'incomplete') {
        await file.close();
        return undefined;
      }
      return new XlogCursor(path, parsed.meta, file, size, parsed.length, hasher, options);
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.file.close();
  }

  /**
   * Continues at `offset`, a block boundary past the meta header that the caller knows (a
   * journal's skip point): the blocks before it are not read. A wrong offset reads as
   * corruption there.
   */
  skipTo(offset: number): void {
    if (offset < this.offset)
      throw new RangeError(`skipTo(${offset}) goes back from ${this.offset}`);
    this.offset = offset;
    this.validEnd = offset;
  }

  /**
   * Clears an 'unclosed' or 'torn' end so the next call reads again from the last whole block:
   * for a file another process (or the journal) may still be appending to.
   */
  resume(): void {
    if (this.end === 'eof-marker') return;
    this.end = undefined;
    this.offset = this.validEnd;
  }

  /**
   * The next block, or undefined at the end. In follow mode (`limit` given) undefined means
   * "nothing more before `limit`" and `end` stays unset unless the EOF marker was reached.
   */
  async next(limit?: number): Promise<XlogTransaction | undefined> {
    if (this.end !== undefined) return undefined;
    // The size is refreshed only on reaching the known end (a file may have grown since open).
    if (limit === undefined && this.offset + BLOCK_HEADER_SIZE > this.fileSize) {
      this.fileSize = Math.max(this.fileSize, await this.file.size());
    }
    for (;;) {
      const stop = limit ?? this.fileSize;
      const available = stop - this.offset;
      if (available <= 0) return this.finish(limit, 'unclosed');
      await this.ensure(this.offset, Math.min(available, BLOCK_HEADER_SIZE));
      const local = this.offset - this.bufferStart;
      const header = readBlockHeader(this.buffer, local, available, this.hasher);
      if (header.status === 'eof') {
        if (limit === undefined && available > 4) {
          if ((await this.corrupt(`${available - 4} bytes after the EOF marker`)) === undefined)
            return undefined;
          continue;
        }
        this.end = 'eof-marker';
        return undefined;
      }
      if (header.status === 'torn') {
        if (limit !== undefined) return undefined;
        const size = await this.file.size();
        if (size > this.fileSize) {
          this.fileSize = size;
          continue;
        }
        if (await this.restIsTornTail()) return this.finish(limit, 'torn');
        if ((await this.corrupt('bad block magic')) === undefined) return undefined;
        continue;
      }
      if (header.status === 'corrupt') {
        const skipped = await this.corrupt(header.reason);
        if (skipped === undefined) return undefined;
        continue;
      }
      const size = BLOCK_HEADER_SIZE + header.payloadLength;
      await this.ensure(this.offset, size);
      const payloadStart = this.offset - this.bufferStart + BLOCK_HEADER_SIZE;
      const payload = this.buffer.subarray(payloadStart, payloadStart + header.payloadLength);
      if (this.hasher.h64(payload) !== header.checksum) {
        await this.corrupt('block checksum mismatch');
        continue;
      }
      let decoded: Xrow[] | undefined;
      if (this.options.forceRecovery === true) {
        // force_recovery must be able to skip a malformed block: decode it now.
        const rows = this.decodeRows(payload, header.rowCount);
        if (typeof rows === 'string') {
          await this.corrupt(rows);
          continue;
        }
        decoded = rows;
      }
      const transaction = this.lazyTransaction(
        payload,
        header.rowCount,
        this.offset,
        size,
        decoded,
      );
      this.offset += size;
      this.validEnd = this.offset;
      return transaction;
    }
  }

  private lazyTransaction(
    payload: Uint8Array,
    rowCount: number,
    offset: number,
    size: number,
    decoded: Xrow[] | undefined,
  ): XlogTransaction {
    const cursor = this;
    let rows = decoded;
    /** The block was decoded (and checked) into the cursor's in-place rows. */
    let inPlace = false;
    const fail = (reason: string): never => {
      throw new XlogError(`${reason} in ${cursor.path} at offset ${offset}`);
    };
    return {
      rowCount,
      payload,
      offset,
      size,
      rowsInPlace(): readonly XrowInPlace[] {
        if (inPlace) return cursor.inPlace;
        // Decoded already (force_recovery, or `rows` read first): those rows, not a second
        // check of the same LSNs.
        if (rows !== undefined) return cursor.placeRows(rows);
        const error = cursor.decodeInPlace(payload, rowCount);
        if (error !== undefined) fail(error);
        inPlace = true;
        return cursor.inPlace;
      },
      allAtOrBelow(vclock: Vclock): boolean {
        return rows !== undefined
          ? rows.every((row) => row.lsn <= vclock.get(row.replica_id))
          : cursor.allAtOrBelow(payload, rowCount, vclock);
      },
      get rows(): Xrow[] {
        if (rows !== undefined) return rows;
        if (inPlace) {
          rows = cursor.inPlace.slice(0, rowCount).map((row) => row.toXrow());
          return rows;
        }
        const decoded = cursor.decodeRows(payload, rowCount);
        if (typeof decoded === 'string') fail(decoded);
        rows = decoded as Xrow[];
        return rows;
      },
    };
  }

  private finish(limit: number | undefined, end: XlogEnd): undefined {
    if (limit === undefined) this.end = end;
    return undefined;
  }

  /**
   * Rules 6/8/10: readBlockHeader said 'torn'. A tail starting with a marker or magic prefix is
   * torn as it stands; a tail starting with zeros is torn only if every remaining byte is zero.
   */
  private async restIsTornTail(): Promise<boolean> {
    await this.ensure(this.offset, 1);
    if (this.buffer[this.offset - this.bufferStart] !== 0) return true;
    for (let position = this.offset; position < this.fileSize; ) {
      const n = Math.min(this.fileSize - position, CHUNK_SIZE_DEFAULT);
      await this.ensure(position, n);
      const start = position - this.bufferStart;
      for (let i = start; i < start + n; i++) if (this.buffer[i] !== 0) return false;
      position += n;
    }
    return true;
  }

  /**
   * Handles corruption at the current offset: throws XlogError, or in forceRecovery mode warns
   * and moves to the next valid block (returns undefined when none is left).
   */
  private async corrupt(reason: string): Promise<true | undefined> {
    const at = this.offset;
    if (this.options.forceRecovery !== true) {
      throw new XlogError(`${reason} in ${this.path} at offset ${at}`);
    }
    const next = await this.findNextBlock(at + 1);
    const logger = this.options.logger ?? silentLogger;
    this.skippedRegions++;
    if (next === undefined) {
      logger.warn(
        `${reason} in ${this.path} at offset ${at}: skipping to the end of file (force_recovery)`,
      );
      this.offset = this.fileSize;
      this.end = 'torn';
      return undefined;
    }
    logger.warn(
      `${reason} in ${this.path} at offset ${at}: skipping ${next - at} bytes (force_recovery)`,
    );
    this.offset = next;
    return true;
  }

  /** First offset ≥ `from` holding a block whose header and payload both verify. */
  private async findNextBlock(from: number): Promise<number | undefined> {
    for (let position = from; position + BLOCK_HEADER_SIZE <= this.fileSize; position++) {
      await this.ensure(position, BLOCK_HEADER_SIZE);
      const local = position - this.bufferStart;
      if (this.buffer[local] !== 0xd5 || this.buffer[local + 1] !== 0xba) continue;
      const header = readBlockHeader(this.buffer, local, this.fileSize - position, this.hasher);
      if (header.status !== 'block') continue;
      await this.ensure(position, BLOCK_HEADER_SIZE + header.payloadLength);
      const start = position - this.bufferStart + BLOCK_HEADER_SIZE;
      if (
        this.hasher.h64(this.buffer.subarray(start, start + header.payloadLength)) ===
        header.checksum
      )
        return position;
    }
    return undefined;
  }

  /** XlogTransaction.allAtOrBelow: the REPLICA_ID and LSN of each header, nothing else kept. */
  private allAtOrBelow(payload: Uint8Array, count: number, vclock: Vclock): boolean {
    const reader = this.reader.reset(payload);
    try {
      for (let i = 0; i < count; i++) {
        let replicaId = 0;
        let lsn = 0;
        const n = reader.readMapHeader();
        for (let k = 0; k < n; k++) {
          const key = reader.readUint();
          if (key === IprotoKey.REPLICA_ID) replicaId = reader.readUint();
          else if (key === IprotoKey.LSN) lsn = reader.readUint();
          else reader.skip();
        }
        if (lsn > vclock.get(replicaId)) return false;
        reader.skip();
      }
    } catch (error) {
      if (error instanceof MsgpackError) return false;
      throw error;
    }
    return reader.offset === payload.length;
  }

  /** Decodes `count` rows filling `payload` exactly (rule 12); a string describes a violation. */
  private decodeRows(payload: Uint8Array, count: number): Xrow[] | string {
    const reader = this.reader.reset(payload);
    const rows = new Array<Xrow>(count);
    try {
      for (let i = 0; i < count; i++) {
        const row = decodeXrowHeader(reader);
        row.body = reader.readRaw();
        rows[i] = row;
      }
    } catch (error) {
      if (error instanceof MsgpackError) return `malformed row: ${error.message}`;
      throw error;
    }
    if (reader.offset !== payload.length)
      return `block has ${payload.length - reader.offset} bytes after its ${count} rows`;
    return this.meta.type === 'XLOG' ? this.checkTransaction(rows) : rows;
  }

  /**
   * decodeRows() into `this.inPlace` (grown to `count`, its entries reused): undefined, or a
   * string describing the violation.
   */
  private decodeInPlace(payload: Uint8Array, count: number): string | undefined {
    const slots = this.growInPlace(count);
    const reader = this.reader.reset(payload);
    try {
      for (let i = 0; i < count; i++) {
        const slot = slots[i]!;
        decodeXrowHeaderInto(reader, slot.header);
        slot.bytes = payload;
        slot.bodyStart = reader.offset;
        reader.skip();
        slot.bodyEnd = reader.offset;
      }
    } catch (error) {
      if (error instanceof MsgpackError) return `malformed row: ${error.message}`;
      throw error;
    }
    if (reader.offset !== payload.length)
      return `block has ${payload.length - reader.offset} bytes after its ${count} rows`;
    if (this.meta.type !== 'XLOG') return undefined;
    const checked = this.checkTransaction(this.inPlaceHeaders, count);
    return typeof checked === 'string' ? checked : undefined;
  }

  /** Rows decoded already, copied into `this.inPlace` (their bodies as whole ranges). */
  private placeRows(rows: readonly Xrow[]): readonly XrowInPlace[] {
    const slots = this.growInPlace(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      const slot = slots[i]!;
      Object.assign(slot.header, row);
      slot.header.body = EMPTY_BODY;
      slot.bytes = row.body;
      slot.bodyStart = 0;
      slot.bodyEnd = row.body.length;
    }
    return slots;
  }

  /** `this.inPlace` with at least `count` entries (and their headers in inPlaceHeaders). */
  private growInPlace(count: number): XrowInPlace[] {
    const slots = this.inPlace;
    while (slots.length < count) {
      const slot = new XrowInPlace();
      slots.push(slot);
      this.inPlaceHeaders.push(slot.header);
    }
    return slots;
  }

  /** Rule 12 on the first `count` of `rows` (all of them by default). */
  private checkTransaction(rows: Xrow[], count = rows.length): Xrow[] | string {
    const last = count - 1;
    const tsn = rows[0]!.tsn;
    const lastLsn = (this.lastLsn ??= Array.from({ length: VCLOCK_MAX }, (_, id) =>
      this.meta.vclock.get(id),
    ));
    for (let i = 0; i <= last; i++) {
      const row = rows[i]!;
      if (row.is_commit !== (i === last))
        return `row ${i} of a ${count}-row transaction has a wrong commit flag`;
      if (row.tsn !== tsn)
        return `row ${i} belongs to another transaction (tsn ${row.tsn}, expected ${tsn})`;
      const id = row.replica_id;
      if (id >= VCLOCK_MAX) return `row with replica id ${id} (ids are below ${VCLOCK_MAX})`;
      const previous = lastLsn[id]!;
      if (row.lsn <= previous)
        return `row with LSN ${row.lsn} after LSN ${previous} of replica ${row.replica_id}`;
      lastLsn[id] = row.lsn;
    }
    return rows;
  }

  /** Makes file bytes [position, position + length) available in the buffer. */
  private async ensure(position: number, length: number): Promise<void> {
    const start = position - this.bufferStart;
    if (start >= 0 && start + length <= this.buffer.length) return;
    const chunk = this.options.chunkSizeBytes ?? CHUNK_SIZE_DEFAULT;
    // A fresh buffer per refill, so rows handed out earlier keep views into the old one; or,
    // for readers that never keep a block past the next call (reuseBuffers), the same buffer
    // again (no page faults on new memory; about 1.5x faster when only verifying).
    const size = Math.max(length, chunk);
    const reusable =
      this.options.reuseBuffers === true && this.spare !== undefined && this.spare.length >= size;
    const fresh = reusable ? this.spare! : Buffer.allocUnsafe(size);
    if (this.options.reuseBuffers === true) this.spare = fresh;
    const n = await readFully(this.file, fresh, position);
    if (n < length)
      throw new XlogError(
        `${this.path}: short read at offset ${position} (${n} of ${length} bytes)`,
      );
    // A plain Uint8Array view: the payloads and row bodies cut from it are then plain
    // subarrays too (a Buffer's subarray runs Buffer's constructor, once per row on recovery).
    this.buffer = new Uint8Array(fresh.buffer, fresh.byteOffset, n);
    this.bufferStart = position;
  }
}

/** Reads until `into` is full or the file ends (short reads are retried). */
async function readFully(file: FileHandle, into: Uint8Array, position: number): Promise<number> {
  let total = 0;
  while (total < into.length) {
    const n = await file.read(into, total, into.length - total, position + total);
    if (n === 0) break;
    total += n;
  }
  return total;
}
