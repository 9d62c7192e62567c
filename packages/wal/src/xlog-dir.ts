// The directory index: which xlog/snap files exist, their meta headers, continuity between
// them, which file holds the rows after a vclock, and garbage collection. Layer: wal.
// FORMAT.md §6 (rules 13–15). Reading a directory never changes it; only collectGarbage() and
// removeInprogress() delete files, and never the newest file.

import { join } from 'node:path';
import { type Hasher, type Vclock, XlogGapError } from '@tarantype/core';
import type { FileSystem } from './file-system.js';
import { type Logger, silentLogger } from './logger.js';
import { XlogCursor } from './xlog-cursor.js';
import { parseXlogFileName, type XlogFileType, type XlogMeta } from './xlog-format.js';

export interface XlogFileInfo {
  readonly path: string;
  readonly signature: number;
  /** Undefined when the meta header is incomplete (a truncated file). */
  readonly meta: XlogMeta | undefined;
}

export class XlogDir {
  private constructor(
    readonly dir: string,
    readonly type: XlogFileType,
    /** Files in signature order. */
    readonly files: readonly XlogFileInfo[],
    /** Leftover `.inprogress` files (never read). */
    readonly inprogress: readonly string[],
    private readonly fs: FileSystem,
  ) {}

  /** Lists `dir` and reads the meta header of every file of `type`. */
  static async scan(
    fs: FileSystem,
    dir: string,
    type: XlogFileType,
    hasher: Hasher,
  ): Promise<XlogDir> {
    const names = await fs.readdir(dir);
    const files: XlogFileInfo[] = [];
    const inprogress: string[] = [];
    for (const name of names) {
      const parsed = parseXlogFileName(name);
      if (parsed === undefined || parsed.type !== type) continue;
      const path = join(dir, name);
      if (parsed.inprogress) {
        inprogress.push(path);
        continue;
      }
      const cursor = await XlogCursor.open(fs, path, type, hasher);
      await cursor?.close();
      files.push({ path, signature: parsed.signature, meta: cursor?.meta });
    }
    files.sort((a, b) => a.signature - b.signature);
    return new XlogDir(dir, type, files, inprogress, fs);
  }

  get newest(): XlogFileInfo | undefined {
    return this.files[this.files.length - 1];
  }

  /**
   * Deletes leftover `.inprogress` files (a crash while creating a file or a snapshot), each
   * logged as Tarantool 2.6 logs it at startup: "I> removed ./<name>.xlog.inprogress".
   */
  async removeInprogress(logger: Logger = silentLogger): Promise<number> {
    for (const path of this.inprogress) {
      await this.fs.unlink(path);
      logger.info(`removed ${path}`);
    }
    return this.inprogress.length;
  }

  /**
   * Rule 13: each xlog's PrevVClock equals the previous xlog's VClock. Throws XlogGapError on
   * the first break, or with forceRecovery logs "ignoring a gap in LSN" and goes on.
   */
  checkContinuity(options: { forceRecovery?: boolean; logger?: Logger } = {}): void {
    for (let i = 1; i < this.files.length; i++) {
      const previous = this.files[i - 1]!.meta;
      const current = this.files[i]!.meta;
      if (previous === undefined || current?.prevVclock === undefined) continue;
      if (current.prevVclock.equals(previous.vclock)) continue;
      const gap = new XlogGapError(
        previous.vclock.signature(),
        previous.vclock.toString(),
        current.vclock.signature(),
        current.vclock.toString(),
      );
      if (options.forceRecovery !== true) throw gap;
      (options.logger ?? silentLogger).warn(
        `${gap.message}: ignoring a gap in LSN (force_recovery)`,
      );
    }
  }

  /**
   * Rule 14: index of the file holding the first rows after `vclock` (the last file whose
   * VClock ≤ vclock). Undefined when there are no files; -1 when `vclock` is older than the
   * first file (the rows in between are gone).
   */
  indexFor(vclock: Vclock): number | undefined {
    if (this.files.length === 0) return undefined;
    let found = -1;
    for (let i = 0; i < this.files.length; i++) {
      const meta = this.files[i]!.meta;
      if (meta?.vclock.isLessOrEqual(vclock)) found = i;
    }
    return found;
  }

  /**
   * Rule 15: removes every file whose rows are all below `vclock` (the next file's VClock ≤
   * vclock). Never removes the newest file. Returns the removed paths.
   */
  async collectGarbage(vclock: Vclock, logger: Logger = silentLogger): Promise<string[]> {
    const removed: string[] = [];
    for (let i = 0; i + 1 < this.files.length; i++) {
      const next = this.files[i + 1]!.meta;
      if (next === undefined || !next.vclock.isLessOrEqual(vclock)) break;
      await this.fs.unlink(this.files[i]!.path);
      logger.info(`removed ${this.files[i]!.path}`);
      removed.push(this.files[i]!.path);
    }
    return removed;
  }
}
