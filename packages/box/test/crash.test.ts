// Crash and corruption: real child processes killed with SIGKILL, real files damaged.
import { spawn } from 'node:child_process';
import { readdir, readFile, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { XlogError, XlogGapError } from '@tarantype/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { open, tempDir, tester } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

/** Runs the writer until it acknowledged `acks` transactions, then SIGKILLs it. */
function runAndKill(walMode: string, acks: number): Promise<Set<number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, 'fixtures', 'crash-writer.mjs'), dir, walMode],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const acked = new Set<number>();
    let buffer = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`writer too slow: ${acked.size} acks; stderr: ${stderr}`));
    }, 60_000);
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      for (const line of lines) if (line.startsWith('ack ')) acked.add(Number(line.slice(4)));
      if (acked.size >= acks && !child.killed) child.kill('SIGKILL');
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') resolve(acked);
      else reject(new Error(`writer exited with ${code}: ${stderr}`));
    });
  });
}

describe('kill -9 under write load', () => {
  for (const walMode of ['write', 'fsync']) {
    it(`keeps every acknowledged transaction whole and none half-applied (wal_mode ${walMode})`, {
      timeout: 90_000,
    }, async () => {
      const acked = await runAndKill(walMode, 3000);
      const { box, logger } = await open(dir);
      try {
        const rows = box.space.crash!.select();
        const byGroup = new Map<number, number>();
        for (const row of rows)
          byGroup.set(row[1] as number, (byGroup.get(row[1] as number) ?? 0) + 1);
        for (const g of acked)
          expect(byGroup.get(g), `acknowledged group ${g}`).toBe(g % 2 === 0 ? 3 : 1);
        for (const [g, count] of byGroup) expect(count, `group ${g}`).toBe(g % 2 === 0 ? 3 : 1);
        expect(byGroup.size).toBeGreaterThanOrEqual(acked.size);
        expect(logger.messages().some((m) => m.startsWith('recover from'))).toBe(true);
        // The restarted instance keeps working and appends after the recovered vclock.
        await box.space.crash!.insert([1e9, -1, 'after restart']);
      } finally {
        await box.close();
      }
    });
  }
});

async function xlogs(): Promise<string[]> {
  return (await readdir(dir))
    .filter((f) => f.endsWith('.xlog'))
    .sort()
    .map((f) => join(dir, f));
}

describe('damaged files', () => {
  it("truncates a torn tail with Tarantool's warning and keeps the complete transactions", async () => {
    const { box } = await open(dir);
    const space = await tester(box);
    for (let i = 0; i < 10; i++) await space.insert([i, `v${i}`]);
    await box.close();
    const last = (await xlogs()).at(-1)!;
    const size = (await readFile(last)).length;
    await truncate(last, size - 10); // the EOF marker and the end of the last transaction
    const { box: again, logger } = await open(dir);
    try {
      expect(again.space.tester!.select().map((t) => t[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
      expect(logger.messages('warn').some((m) => m.includes("wasn't correctly closed"))).toBe(true);
      await again.space.tester!.insert([9, 'rewritten']);
    } finally {
      await again.close();
    }
    const { box: third } = await open(dir);
    expect(third.space.tester!.get([9])).toEqual([9, 'rewritten']);
    await third.close();
  });

  it('refuses to start on a corrupt xlog unless force_recovery', async () => {
    const { box } = await open(dir);
    const space = await tester(box);
    for (let i = 0; i < 10; i++) await space.insert([i, `v${i}`]);
    await box.close();
    const last = (await xlogs()).at(-1)!;
    const bytes = await readFile(last);
    bytes[bytes.length - 200]! ^= 0x40;
    await writeFile(last, bytes);
    await expect(open(dir)).rejects.toThrow(XlogError);
    await expect(open(dir)).rejects.toThrow(/checksum mismatch in .*\.xlog at offset \d+/);
    const { box: forced, logger } = await open(dir, { force_recovery: true });
    try {
      expect(forced.space.tester!.len()).toBeGreaterThan(5);
      expect(forced.space.tester!.len()).toBeLessThan(10);
      expect(logger.messages('warn').some((m) => m.includes('force_recovery'))).toBe(true);
    } finally {
      await forced.close();
    }
  });

  it('refuses to start when an xlog in the middle is missing (XlogGapError) unless force_recovery', async () => {
    const { box } = await open(dir);
    const space = await tester(box);
    for (let i = 0; i < 9; i++) {
      await space.insert([i, `v${i}`]);
      if (i % 3 === 2) await box.journal.rotate();
    }
    await box.close();
    const files = await xlogs();
    expect(files.length).toBeGreaterThanOrEqual(3);
    await unlink(files[1]!);
    await expect(open(dir)).rejects.toThrow(XlogGapError);
    await expect(open(dir)).rejects.toThrow(
      /^Missing \.xlog file between LSN \d+ \{.*\} and \d+ \{.*\}$/,
    );
    const { box: forced, logger } = await open(dir, { force_recovery: true });
    expect(logger.messages('warn').some((m) => m.includes('ignoring a gap in LSN'))).toBe(true);
    await forced.close();
  });

  it('ignores and removes a leftover .snap.inprogress', async () => {
    const { box } = await open(dir);
    await (await tester(box)).insert([1, 'a']);
    await box.close();
    await writeFile(join(dir, '00000000000000000099.snap.inprogress'), 'half a snapshot');
    const { box: again } = await open(dir);
    expect(again.space.tester!.get([1])).toEqual([1, 'a']);
    expect((await readdir(dir)).some((f) => f.endsWith('.inprogress'))).toBe(false);
    await again.close();
  });
});
