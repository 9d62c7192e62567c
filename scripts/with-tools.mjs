#!/usr/bin/env node
// Runs a command with the workspace's tools on PATH (toolEnv): `node scripts/with-tools.mjs
// turbo bench`. npm scripts use it instead of `pnpm exec`, which needs a global pnpm.
// Forwards SIGINT/SIGTERM to the child and exits with the child's status.
import { spawn } from 'node:child_process';
import { root, toolEnv } from './toolchain.mjs';

const [command, ...args] = process.argv.slice(2);
if (command === undefined) {
  process.stderr.write('usage: node scripts/with-tools.mjs <command> [args...]\n');
  process.exit(2);
}
const child = spawn(command, args, { cwd: root, stdio: 'inherit', env: toolEnv() });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('error', (error) => {
  process.stderr.write(`${command}: ${error.message}\n`);
  process.exit(127);
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
