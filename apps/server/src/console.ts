// Consoles: a JavaScript REPL with `box` in scope whose output is YAML as Tarantool's console
// prints it; an admin console listener (UNIX socket or 127.0.0.1 port) speaking the same
// line protocol; and the client side used by `tarantype connect`. Layer: apps/server.
// The admin console is as powerful as the process: listen on a socket only the operator can
// reach (a UNIX socket in the data directory by default permissions, or loopback).
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import vm from 'node:vm';
import { TarantoolError } from '@tarantype/core';
import { formatError, formatResults } from './yaml-output.js';

export const CONSOLE_GREETING =
  "tarantype 0.1.0 (JavaScript console, Tarantool 2.6.0 protocol)\ntype 'help' for interactive help\n";
const HELP = [
  'JavaScript with `box` in scope; top-level await works; results print as YAML.',
  'Examples:',
  '  box.info()',
  "  await box.schema.space.create('tester')",
  "  await box.space.tester.createIndex('primary')",
  "  await box.space.tester.insert([1, 'a'])",
  '  box.space.tester.select()',
  '  await box.snapshot()',
].join('\n');

export class ConsoleEvaluator {
  private readonly context: vm.Context;

  constructor(scope: Record<string, unknown>) {
    this.context = vm.createContext({ ...scope, console });
  }

  /** Evaluates one command; returns the YAML text to print. */
  async evaluate(source: string): Promise<string> {
    const code = source.trim();
    if (code === '') return '';
    if (code === 'help') return formatResults([HELP]);
    try {
      const result = await this.run(code);
      return formatResults(result === undefined ? [] : [result]);
    } catch (error) {
      return formatError(
        error instanceof TarantoolError || error instanceof Error ? error.message : String(error),
      );
    }
  }

  private run(code: string): Promise<unknown> {
    let script: vm.Script;
    try {
      script = new vm.Script(`(async () => (${code}\n))()`, { filename: 'console' });
    } catch {
      script = new vm.Script(`(async () => {\n${code}\n})()`, { filename: 'console' });
    }
    return script.runInContext(this.context) as Promise<unknown>;
  }
}

/** The interactive console on this process's terminal. Resolves when the user quits. */
export function startInteractiveConsole(
  evaluator: ConsoleEvaluator,
  prompt = 'tarantype> ',
): Promise<void> {
  return new Promise((resolve) => {
    const rl = createInterface({
      input: process.stdin,
      output: process.stdout,
      prompt,
      terminal: true,
    });
    rl.prompt();
    rl.on('line', async (line) => {
      rl.pause();
      if (line.trim() === '\\q' || line.trim() === 'exit') {
        rl.close();
        return;
      }
      process.stdout.write(await evaluator.evaluate(line));
      rl.resume();
      rl.prompt();
    });
    rl.on('close', () => resolve());
  });
}

/** Listens for admin console connections: greeting, then one YAML reply per input line. */
export async function startAdminConsole(
  evaluator: ConsoleEvaluator,
  where: string,
): Promise<{ server: Server; address: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.write(CONSOLE_GREETING);
    const rl = createInterface({ input: socket, terminal: false });
    let chain = Promise.resolve();
    rl.on('line', (line) => {
      chain = chain.then(async () => {
        if (!socket.destroyed) socket.write((await evaluator.evaluate(line)) || '---\n...\n\n');
      });
    });
  });
  const isPort = /^\d+$/.test(where) || /^[\w.-]+:\d+$/.test(where);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (isPort) {
      const [host, port] = where.includes(':')
        ? [where.slice(0, where.lastIndexOf(':')), where.slice(where.lastIndexOf(':') + 1)]
        : ['127.0.0.1', where];
      server.listen(Number(port), host, () => resolve());
    } else server.listen(where, () => resolve());
  });
  const bound = server.address();
  const address = typeof bound === 'string' ? bound : `${bound?.address}:${bound?.port}`;
  return {
    server,
    address,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * `tarantype connect <uri>`: a console into a running instance's admin console. With a
 * terminal it is interactive; otherwise it sends stdin line by line and prints the replies.
 */
export function runConsoleClient(
  uri: string,
  input: NodeJS.ReadableStream = process.stdin,
  output: NodeJS.WritableStream = process.stdout,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const isPort = /^\d+$/.test(uri) || /^[\w.-]+:\d+$/.test(uri);
    const socket = isPort
      ? netConnect(
          Number(uri.slice(uri.lastIndexOf(':') + 1)),
          uri.includes(':') ? uri.slice(0, uri.lastIndexOf(':')) : '127.0.0.1',
        )
      : netConnect(uri);
    let buffer = '';
    let greeted = false;
    let pending = 0;
    let inputDone = false;
    const finish = () => {
      if (inputDone && pending === 0) socket.end();
    };
    socket.on('error', (error) => reject(new Error(`cannot connect to ${uri}: ${error.message}`)));
    socket.on('close', () => resolve());
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      if (!greeted) {
        const end = buffer.indexOf('\n', buffer.indexOf('\n') + 1);
        if (end < 0) return;
        output.write(buffer.slice(0, end + 1));
        buffer = buffer.slice(end + 1);
        greeted = true;
        const rl = createInterface({
          input,
          output,
          terminal: (input as NodeJS.ReadStream).isTTY === true,
          prompt: `${uri}> `,
        });
        rl.prompt();
        rl.on('line', (line) => {
          if (line.trim() === '\\q') return rl.close();
          pending++;
          socket.write(`${line}\n`);
        });
        rl.on('close', () => {
          inputDone = true;
          finish();
        });
        socket.on('data', () => rl.prompt());
      }
      for (let end = buffer.indexOf('\n...\n'); end >= 0; end = buffer.indexOf('\n...\n')) {
        output.write(`${buffer.slice(0, end + 5)}\n`);
        buffer = buffer.slice(end + 5).replace(/^\n/, '');
        pending--;
        finish();
      }
    });
  });
}
