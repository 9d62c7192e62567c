// box.cfg.replication: the URI forms 2.6 accepts, '' to leave, the log line of a change, and a
// fresh instance that cannot reach its master.
import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Box } from '../src/index.js';
import { open, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
const boxes: Box[] = [];
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => {
  for (const box of boxes.splice(0)) await box.close().catch(() => {});
  await cleanup();
});

/** A port nothing listens on (bound, then closed). */
function deadPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('box.cfg.replication', () => {
  it("treats '' and {} as no upstream and refuses a URI 2.6 refuses", async () => {
    const { box, logger } = await open(dir);
    boxes.push(box);
    await box.cfg({ replication: '' });
    expect(box.cfgValues.replication).toEqual([]);
    await box.cfg({ replication: [] });
    expect(box.cfgValues.replication).toEqual([]);
    await expect(box.cfg({ replication: 'not a uri' })).rejects.toThrow(
      "Incorrect value for option 'replication': expected host:service or /unix.socket",
    );
    await expect(box.cfg({ replication: 'host' })).rejects.toThrow(
      "Incorrect value for option 'replication': expected host:service or /unix.socket",
    );
    expect(box.cfgValues.replication).toEqual([]);
    expect(logger.messages('info').some((m) => m.startsWith("set 'replication'"))).toBe(false);
  });

  it('logs a change with the password left out and keeps an orphan read-only until synced', async () => {
    const { box, logger } = await open(dir);
    boxes.push(box);
    const port = await deadPort();
    await box.cfg({
      replication_connect_timeout: 0.2,
      replication_sync_timeout: 0.2,
      replication_timeout: 0.1,
    });
    await box.cfg({ replication: `replicator:secret@127.0.0.1:${port}` });
    expect(logger.messages('info')).toContain(
      `set 'replication' configuration option to ["replicator@127.0.0.1:${port}"]`,
    );
    expect(box.info().status).toBe('orphan');
    expect(box.readOnly).toBe(true);
    await box.cfg({ replication: '' });
    expect(box.info().status).toBe('running');
    expect(box.readOnly).toBe(false);
  });

  it('fails a fresh instance whose master cannot be reached within replication_connect_timeout', async () => {
    const port = await deadPort();
    const started = performance.now();
    await expect(
      open(dir, {
        replication: `127.0.0.1:${port}`,
        replication_connect_timeout: 0.3,
        replication_timeout: 0.1,
      }),
    ).rejects.toThrow(
      "Incorrect value for option 'replication': failed to connect to one or more replicas",
    );
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThan(250);
    expect(elapsed).toBeLessThan(5000);
  });
});
