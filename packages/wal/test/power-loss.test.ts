// The power-loss disk model (PowerLossDisk) and the journal on it: what survives a power loss
// per wal_mode, directory syncs, and fsyncgate (a failed fdatasync is never retried and then
// acknowledged).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, loadHasher } from '@tarantype/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeFileSystem, XlogCursor, XlogDir } from '../src/index.js';
import { PowerLossDisk, seededRandom } from '../src/testing.js';
import { insertRow, openJournal, readAllKeys, tempDir } from './helpers.js';

const hasher = await loadHasher();
let dir: string;
let cleanup: () => Promise<void>;
let disk: PowerLossDisk;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('tarantype-power-'));
  disk = new PowerLossDisk(new NodeFileSystem(), { innerSync: false });
});
afterEach(async () => cleanup());

const text = (s: string) => new TextEncoder().encode(s);

describe('PowerLossDisk', () => {
  it('keeps synced bytes and drops unsynced ones, and a file needs its directory synced', async () => {
    const fs = disk.mount();
    const a = await fs.open(join(dir, 'a'), 'create');
    await fs.syncDir(dir);
    await a.write(text('synced'), 0);
    await a.datasync();
    await a.write(text(' lost'), 6);
    const b = await fs.open(join(dir, 'b'), 'create');
    await b.write(text('never in the directory'), 0);
    await b.datasync();
    disk.powerLoss();
    await expect(a.write(text('x'), 0)).rejects.toMatchObject({ code: 'EIO' });
    await disk.reboot();
    expect(await readFile(join(dir, 'a'), 'utf8')).toBe('synced');
    await expect(readFile(join(dir, 'b'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a rename or an unlink without a directory sync is undone by a power loss', async () => {
    const fs = disk.mount();
    for (const name of ['old', 'gone']) {
      const h = await fs.open(join(dir, name), 'create');
      await h.write(text(name), 0);
      await h.datasync();
      await h.close();
    }
    await fs.syncDir(dir);
    await fs.rename(join(dir, 'old'), join(dir, 'new'));
    await fs.unlink(join(dir, 'gone'));
    expect((await fs.readdir(dir)).sort()).toEqual(['new']);
    disk.powerLoss();
    let rebooted = await disk.reboot();
    expect((await rebooted.readdir(dir)).sort()).toEqual(['gone', 'old']);
    await rebooted.rename(join(dir, 'old'), join(dir, 'new'));
    await rebooted.syncDir(dir);
    disk.powerLoss();
    rebooted = await disk.reboot();
    expect((await rebooted.readdir(dir)).sort()).toEqual(['gone', 'new']);
    expect(await readFile(join(dir, 'new'), 'utf8')).toBe('old');
  });

  it('fsyncgate: bytes whose fdatasync failed are not saved by a later successful one', async () => {
    const fs = disk.mount();
    const h = await fs.open(join(dir, 'f'), 'create');
    await fs.syncDir(dir);
    await h.write(text('AAAA'), 0);
    disk.failNextSync();
    await expect(h.datasync()).rejects.toMatchObject({ code: 'EIO' });
    await h.write(text('BBBB'), 4);
    await h.datasync();
    disk.powerLoss();
    await disk.reboot();
    // The first write never reached the device: a hole (zeros) before the second.
    expect([...(await readFile(join(dir, 'f')))].slice(0, 4)).toEqual([0, 0, 0, 0]);
    expect((await readFile(join(dir, 'f'))).subarray(4).toString()).toBe('BBBB');
  });

  it('with a random writeback, only a prefix of the unsynced writes survives, torn at a sector', async () => {
    for (let seed = 1; seed <= 30; seed++) {
      const fs = disk.mount();
      const path = join(dir, `f${seed}`);
      const h = await fs.open(path, 'create');
      await fs.syncDir(dir);
      const chunks = [1000, 700, 3000].map((n, i) => new Uint8Array(n).fill(i + 1));
      let at = 0;
      for (const chunk of chunks) {
        await h.write(chunk, at);
        at += chunk.length;
      }
      disk.powerLoss(seededRandom(seed));
      await disk.reboot();
      const got = await readFile(path);
      const all = Buffer.concat(chunks);
      expect(all.subarray(0, got.length).equals(got), `seed ${seed}`).toBe(true);
      const boundaries = [0, 1000, 1700, 4700];
      expect(
        boundaries.includes(got.length) || got.length % 512 === 0,
        `seed ${seed}: ${got.length}`,
      ).toBe(true);
    }
  });

  it('a scheduled power loss fires at the n-th operation, before it has any effect', async () => {
    const fs = disk.mount();
    const h = await fs.open(join(dir, 'f'), 'create');
    await fs.syncDir(dir);
    disk.schedulePowerLoss(2);
    await h.write(text('one'), 0);
    const poweredOff = disk.whenPoweredOff();
    await expect(h.datasync()).rejects.toMatchObject({ code: 'EIO' });
    await poweredOff;
    await disk.reboot();
    expect(await readFile(join(dir, 'f'), 'utf8')).toBe('');
  });
});

describe('the journal on a power-loss disk', () => {
  for (const mode of ['fsync', 'write'] as const) {
    it(`wal_mode ${mode}: ${mode === 'fsync' ? 'every acknowledged transaction survives' : 'only what was synced (the file closed at rotation) survives'}`, async () => {
      const fs = disk.mount();
      const journal = await openJournal(fs, dir, hasher, { mode, maxSizeBytes: 1024 });
      const acked: number[] = [];
      // Groups of three per batch, so files rotate at 1 KiB.
      for (let i = 0; i < 60; i += 3)
        await Promise.all(
          [i, i + 1, i + 2].map((k) =>
            journal.submit([insertRow(k)]).then(() => void acked.push(k)),
          ),
        );
      disk.powerLoss();
      await journal.close().catch(() => {});
      const rebooted = await disk.reboot();
      const keys = (await readAllKeys(dir, hasher, rebooted)).flat();
      const files = (await XlogDir.scan(rebooted, dir, 'XLOG', hasher)).files;
      expect(files.length).toBeGreaterThan(2);
      if (mode === 'fsync') {
        expect(keys).toEqual(acked);
        return;
      }
      // Write mode: everything in the closed (synced) files, nothing of the open one.
      const last = files[files.length - 1]!;
      const cursor = (await XlogCursor.open(rebooted, last.path, 'XLOG', hasher))!;
      expect(await cursor.next()).toBeUndefined();
      await cursor.close();
      expect(keys).toEqual(acked.slice(0, last.signature));
      expect(keys.length).toBeLessThan(acked.length);
    });
  }

  it('a failed fdatasync rejects its batch, is not retried, and later acknowledged rows survive', async () => {
    const fs = disk.mount();
    const journal = await openJournal(fs, dir, hasher, { mode: 'fsync' });
    await journal.submit([insertRow(1)]);
    disk.failNextSync({ pathIncludes: '.xlog' });
    const failed = journal.submit([insertRow(2)]);
    const queued = journal.submit([insertRow(3)]);
    await expect(failed).rejects.toMatchObject({ code: ErrorCode.ER_WAL_IO });
    await queued.catch(() => {});
    await journal.submit([insertRow(4)]);
    expect(disk.counts.failedSyncs).toBe(1);
    disk.powerLoss();
    const rebooted = await disk.reboot();
    const keys = (await readAllKeys(dir, hasher, rebooted)).flat();
    // Row 3 was in the failed batch or queued behind it; either way it was rejected.
    expect(keys).toEqual([1, 4]);
    expect(journal.vclock.get(1)).toBe(2);
  });

  it('a transaction refused after a failed fdatasync that reached the device does not come back', async () => {
    const fs = disk.mount();
    const journal = await openJournal(fs, dir, hasher, { mode: 'fsync' });
    await journal.submit([insertRow(1)]);
    disk.failNextSync({ pathIncludes: '.xlog', reachedDevice: true });
    await expect(journal.submit([insertRow(2)])).rejects.toMatchObject({
      code: ErrorCode.ER_WAL_IO,
    });
    // The power goes before any later batch would have synced the truncation.
    disk.powerLoss();
    const rebooted = await disk.reboot();
    expect((await readAllKeys(dir, hasher, rebooted)).flat()).toEqual([1]);
  });
});
