// Server test helpers: in-process instances on ephemeral 127.0.0.1 ports, temp dirs, and
// running `tarantool` (when installed) as a net.box client.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, Instance, type InstanceOptions } from '../src/index.js';

export const hasTarantool = spawnSync('tarantool', ['--version'], { stdio: 'ignore' }).status === 0;

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tarantype-server-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    this.lines.push(
      ...chunk
        .toString()
        .split('\n')
        .filter((l) => l !== ''),
    );
    callback();
  }
}

export async function startInstance(
  dir: string,
  options: Partial<InstanceOptions> & { cfg?: Record<string, unknown> } = {},
): Promise<{ instance: Instance; port: number; log: LogCapture }> {
  const log = new LogCapture();
  const logger = createLogger({ level: 5, format: 'plain', destination: log });
  const instance = await Instance.start({
    ...options,
    logger,
    cfg: { listen: '127.0.0.1:0', work_dir: dir, checkpoint_interval: 0, ...options.cfg },
  });
  const port = Number(instance.listenAddress!.split(':')[1]);
  return { instance, port, log };
}

/** Runs a Lua script with `tarantool` and returns its stdout lines (minus log lines). */
export async function runLua(dir: string, script: string): Promise<string[]> {
  const path = join(dir, `client-${Math.random().toString(36).slice(2)}.lua`);
  await writeFile(path, `${script}\nos.exit(0)\n`);
  return new Promise((resolve, reject) => {
    execFile('tarantool', [path], { cwd: dir, timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`));
      else resolve(stdout.split('\n').filter((l) => l !== '' && !/^\d{4}-\d\d-\d\d /.test(l)));
    });
  });
}
