// The reference's §12 (seed names vs 2.6) in the Lua console of an unconfigured start:
// `logger` as the deprecated alias of `log` at the first box.cfg (the warning where the log
// was, then the whole log in that file, its banner first), box.info.server, and `listen` as a
// bare number (box.cfg.listen reads the string, box.info.listen the bound address: 0.0.0.0,
// as the real 2.6 binds, checked against `tarantool` when installed).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, Instance } from '../src/index.js';
import { hasTarantool, LogCapture, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let instance: Instance | undefined;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => {
  await instance?.stop();
  instance = undefined;
  await cleanup();
});

async function unconfigured(): Promise<{ instance: Instance; log: LogCapture }> {
  const log = new LogCapture();
  instance = await Instance.start({
    cfg: { work_dir: dir, checkpoint_interval: 0 },
    logger: createLogger({ level: 5, format: 'plain', destination: log }),
    unconfigured: true,
  });
  return { instance, log };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '0.0.0.0', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const uuid = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

describe('§12 seed names in the console', () => {
  it("§12a: logger = 'file' at the first box.cfg is log, and the log moves into the file", async () => {
    const { instance, log } = await unconfigured();
    const session = instance.consoleSession();
    const file = join(dir, 'tarantool_m1.log');
    expect(await session.evaluate(`box.cfg{listen = '127.0.0.1:0', logger = '${file}'}`)).toBe(
      '---\n...\n\n',
    );
    expect(await session.evaluate('box.cfg.log, box.cfg.logger')).toBe(
      `---\n- ${file}\n- null\n...\n\n`,
    );
    // The warning went where the log was; nothing else did.
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatch(/ main W> Deprecated option logger, please use log instead$/);
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines[0]).toMatch(/ main C> tarantype \S+ \(Tarantool 2\.6\.0 compatible\)$/);
    expect(lines[1]).toMatch(/ main C> log level 5$/);
    expect(lines.some((l) => l.endsWith(' I> initializing an empty data directory'))).toBe(true);
    expect(lines.some((l) => l.endsWith(' I> ready to accept requests'))).toBe(true);
    // log is static, with 2.6's text; the same file again is no change.
    expect(await session.evaluate(`box.cfg{log = '${join(dir, 'other.log')}'}`)).toBe(
      "---\n- error: 'Incorrect value for option ''log'': can''t be set dynamically'\n...\n\n",
    );
    expect(await session.evaluate(`box.cfg{log = '${file}'}`)).toBe('---\n...\n\n');
    // Deprecated names at runtime too: 2.6 translates them (and warns) at every box.cfg.
    expect(await session.evaluate('box.cfg{snapshot_count = 3}')).toBe('---\n...\n\n');
    expect(await session.evaluate('box.cfg.checkpoint_count, box.cfg.snapshot_count')).toBe(
      '---\n- 3\n- null\n...\n\n',
    );
    expect(readFileSync(file, 'utf8')).toMatch(
      / main W> Deprecated option snapshot_count, please use checkpoint_count instead\n/,
    );
  });

  it('refuses logger and log together, and a log file it cannot open, changing nothing', async () => {
    const { instance, log } = await unconfigured();
    const session = instance.consoleSession();
    expect(await session.evaluate("box.cfg{logger = 'a.log', log = 'b.log'}")).toBe(
      "---\n- error: 'Incorrect value for option ''logger'': can not override a value for a deprecated\n    option'\n...\n\n",
    );
    // A directory that is not there (the YAML folds the long line: unfolded to compare).
    const missing = join(dir, 'missing', 'x.log');
    const refused = await session.evaluate(`box.cfg{log = '${missing}'}`);
    expect(refused.replace(/\n {4}/g, ' ')).toBe(
      `---\n- error: 'Incorrect value for option ''log'': can''t open log file: ${missing}: No such file or directory'\n...\n\n`,
    );
    expect(instance.configured).toBe(false);
    expect(await session.evaluate('box.info.status')).toMatch(/Please call box.cfg\{\} first/);
    // Typed again with a good value, it starts.
    expect(await session.evaluate("box.cfg{listen = '127.0.0.1:0'}")).toBe('---\n...\n\n');
    expect(log.lines.some((l) => / C> log level 5$/.test(l))).toBe(true);
  });

  it('§12b: box.info.server as 2.6 prints it', async () => {
    const { instance } = await unconfigured();
    const session = instance.consoleSession();
    await session.evaluate("box.cfg{listen = '127.0.0.1:0'}");
    expect((await session.evaluate('box.info.server')).replace(uuid, '<uuid>')).toBe(
      '---\n- lsn: 0\n  ro: false\n  uuid: <uuid>\n  id: 1\n...\n\n',
    );
    const [, infoUuid] = /- (\S+)\n/.exec(await session.evaluate('box.info.uuid'))!;
    expect(await session.evaluate('box.info.server.uuid, box.info.id')).toBe(
      `---\n- ${infoUuid}\n- 1\n...\n\n`,
    );
  });

  it('§12c: listen = <port> as a bare number', async () => {
    const { instance } = await unconfigured();
    const session = instance.consoleSession();
    const port = await freePort();
    expect(await session.evaluate(`box.cfg{listen = ${port}}`)).toBe('---\n...\n\n');
    expect(await session.evaluate('box.cfg.listen, box.info.listen')).toBe(
      `---\n- '${port}'\n- 0.0.0.0:${port}\n...\n\n`,
    );
  });

  it('§12c: the real 2.6 binds a bare port on 0.0.0.0 too', async (context) => {
    if (!hasTarantool) {
      if (process.env.CI === 'true') throw new Error('tarantool is not installed (CI)');
      context.skip('tarantool is not installed');
    }
    const port = await freePort();
    const out = execFileSync(
      'tarantool',
      ['-e', `box.cfg{listen = ${port}, log = 'tt.log'} print(box.info.listen) os.exit()`],
      { cwd: dir, encoding: 'utf8', timeout: 20_000 },
    );
    expect(out.trim()).toBe(`0.0.0.0:${port}`);
  });
});
