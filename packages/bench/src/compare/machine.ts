// The machine a side-by-side run was made on, as printed above its table: ratios only mean
// something together with the CPU, the cores, the memory, the kernel, the versions and how
// busy the machine was when the run started (it is shared: see the load average).
import { spawnSync } from 'node:child_process';
import { cpus, loadavg, release, totalmem, type } from 'node:os';
import { tarantoolVersion } from '../lib/tarantool.js';

export interface Machine {
  readonly cpuModel: string;
  readonly cores: number;
  readonly ramBytes: number;
  readonly kernel: string;
  readonly node: string;
  /** `tarantool --version`'s first line, or undefined when it is not installed. */
  readonly tarantool?: string;
  /** 1, 5 and 15-minute load averages when the run started. */
  readonly loadAverage: readonly number[];
  /** The commit of the working tree measured (undefined outside a git checkout). */
  readonly commit?: string;
  readonly date: string;
}

export function describeMachine(root: string, date: Date): Machine {
  const processors = cpus();
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], {
    cwd: root,
    encoding: 'utf8',
  });
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], {
    cwd: root,
    encoding: 'utf8',
  });
  const commitText =
    commit.status === 0
      ? `${commit.stdout.trim()}${dirty.status === 0 && dirty.stdout.trim() !== '' ? ' (with uncommitted changes)' : ''}`
      : undefined;
  return {
    cpuModel: processors[0]?.model.trim() ?? 'unknown',
    cores: processors.length,
    ramBytes: totalmem(),
    kernel: `${type()} ${release()}`,
    node: process.version,
    ...(tarantoolVersion === undefined ? {} : { tarantool: tarantoolVersion }),
    loadAverage: loadavg().map((value) => Math.round(value * 100) / 100),
    ...(commitText === undefined ? {} : { commit: commitText }),
    date: date.toISOString(),
  };
}
