// Consoles: the JavaScript REPL with `box` in scope whose output is YAML as Tarantool's console
// prints it (the Lua console is lua/lua-console.ts; console-session.ts switches between them);
// the interactive console on the terminal; the admin console listener (UNIX socket or
// 127.0.0.1 port) speaking Tarantool's text protocol; and the client side of `tarantype
// connect` (admin console or binary port). Layer: apps/server.
// The admin console is as powerful as the process: listen on a socket only the operator can
// reach (a UNIX socket in the data directory by default permissions, or loopback).
import { unlink } from 'node:fs/promises';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import vm from 'node:vm';
import { TarantoolError } from '@tarantype/core';
import { connect as connectIproto } from '@tarantype/iproto';
import type { ConsoleSession } from './console-session.js';
import { adminGreeting, consoleGreeting } from './console-session.js';
import { FLOW_STYLE, formatError, formatResults } from './yaml-output.js';

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

/**
 * The JavaScript console. Each line runs as the body of an async function in one shared
 * context, so top-level await works; three things keep it from surprising a REPL user:
 * declarations at the top level (const/let/var x = …) become context globals and persist
 * between lines, a global assigned a promise holds its resolved value once the line is done
 * (`s = box.schema.space.create('tester')` then `s.createIndex(…)`), and `box.info` is both
 * callable and readable (`box.info.vclock`, printing `box.info` shows the info).
 */
export class ConsoleEvaluator {
  private readonly context: vm.Context;

  constructor(scope: Record<string, unknown>) {
    const box = scope.box;
    this.context = vm.createContext({
      ...scope,
      ...(isBox(box) ? { box: consoleBox(box) } : {}),
      console,
    });
  }

  /** Evaluates one command; returns the YAML text to print. */
  async evaluate(source: string): Promise<string> {
    const code = source.trim();
    if (code === '') return '';
    if (code === 'help') return formatResults([HELP]);
    const before = new Map(Object.entries(this.context));
    try {
      const hoisted = hoistDeclarations(code);
      // A line with declarations is a statement (prints nothing unless it returns).
      const result = await this.run(hoisted, hoisted !== code);
      await this.settleAssignedPromises(before);
      return formatResults(result === undefined ? [] : [result]);
    } catch (error) {
      await this.settleAssignedPromises(before).catch(() => {});
      return formatError(
        error instanceof TarantoolError || error instanceof Error ? error.message : String(error),
      );
    }
  }

  private run(code: string, statement: boolean): Promise<unknown> {
    let script: vm.Script;
    try {
      if (statement) throw new SyntaxError('a statement');
      script = new vm.Script(`(async () => (${code}\n))()`, { filename: 'console' });
    } catch {
      script = new vm.Script(`(async () => {\n${code}\n})()`, { filename: 'console' });
    }
    return script.runInContext(this.context) as Promise<unknown>;
  }

  /** Globals this line set to a promise get the resolved value (a rejection stays an error). */
  private async settleAssignedPromises(before: ReadonlyMap<string, unknown>): Promise<void> {
    for (const [key, value] of Object.entries(this.context)) {
      if (before.get(key) === value || !isThenable(value)) continue;
      this.context[key] = await value;
    }
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * `const x = …`, `let x = …`, `var x = …` (and `let x;`) at brace depth 0 become assignments to
 * the context's globals, so they outlive the line's function. Strings, template literals and
 * comments are skipped; destructuring declarations are left as they are (local to the line).
 */
export function hoistDeclarations(code: string): string {
  let out = '';
  let depth = 0;
  let statementStart = true;
  for (let i = 0; i < code.length; ) {
    const c = code[i]!;
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < code.length && code[j] !== c) j += code[j] === '\\' ? 2 : 1;
      out += code.slice(i, j + 1);
      i = j + 1;
      statementStart = false;
      continue;
    }
    if (c === '/' && (code[i + 1] === '/' || code[i + 1] === '*')) {
      const end = code[i + 1] === '/' ? code.indexOf('\n', i) : code.indexOf('*/', i + 2) + 2;
      const stop = end <= 0 || end < i ? code.length : end;
      out += code.slice(i, stop);
      i = stop;
      continue;
    }
    if (statementStart && depth === 0) {
      const match = /^(\s*)(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*(=(?!=)|;|$)/.exec(
        code.slice(i),
      );
      if (match !== null) {
        const [whole, space, name, tail] = match as unknown as [string, string, string, string];
        out += `${space}globalThis.${name} ${tail === '=' ? '=' : `= undefined${tail}`}`;
        i += whole.length;
        statementStart = tail === ';';
        continue;
      }
    }
    if (c === '{' || c === '(' || c === '[') depth++;
    if (c === '}' || c === ')' || c === ']') depth = Math.max(0, depth - 1);
    statementStart = c === ';' || c === '\n' || (statementStart && /\s/.test(c));
    out += c;
    i++;
  }
  return out;
}

interface BoxLike {
  info(): Record<string, unknown>;
  infoMemory(): unknown;
  infoGc(): unknown;
}

function isBox(value: unknown): value is BoxLike & object {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as BoxLike).info === 'function' &&
    typeof (value as BoxLike).infoGc === 'function'
  );
}

/** The JS console's `box`: the Box, with box.info callable and readable as in Lua. */
function consoleBox(box: BoxLike & object): unknown {
  const info = Object.assign(() => box.info(), {
    memory: () => box.infoMemory(),
    gc: () => box.infoGc(),
    // Printing box.info shows the info, as Tarantool's console does (the vclock in flow style).
    toJSON: () => {
      const value = box.info();
      if (typeof value.vclock === 'object' && value.vclock !== null) FLOW_STYLE.add(value.vclock);
      return value;
    },
  });
  for (const key of Object.keys(box.info()))
    Object.defineProperty(info, key, { get: () => box.info()[key], enumerable: false });
  return new Proxy(box, {
    get(target, key) {
      if (key === 'info') return info;
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' && key !== 'constructor' ? value.bind(target) : value;
    },
  });
}

/** Tarantool's continuation prompt, as wide as the main one. */
const CONTINUATION_PROMPT = '         > ';

/** The interactive console on this process's terminal. Resolves when the user quits. */
export function startInteractiveConsole(
  session: ConsoleSession,
  prompt = 'tarantype> ',
): Promise<void> {
  return new Promise((resolve) => {
    // The greeting says which language is active and how to get help.
    process.stdout.write(consoleGreeting(session.language));
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
      process.stdout.write(
        await session
          .evaluate(line)
          .catch((error: Error) => formatResults([new Map([['error', error.message]])], 'lua')),
      );
      rl.setPrompt(session.incomplete ? CONTINUATION_PROMPT : prompt);
      rl.resume();
      rl.prompt();
    });
    rl.on('close', () => resolve());
  });
}

/**
 * Listens for admin console connections: greeting, then one YAML document per statement
 * (nothing while a statement spans lines), each connection with its own session.
 */
export async function startAdminConsole(
  newSession: () => ConsoleSession,
  where: string,
): Promise<{ server: Server; address: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const session = newSession();
    socket.write(adminGreeting(session.language));
    const rl = createInterface({ input: socket, terminal: false });
    // A client gone before its answer (EPIPE) reaches readline too: close, never crash.
    rl.on('error', () => socket.destroy());
    let chain = Promise.resolve();
    rl.on('line', (line) => {
      chain = chain.then(async () => {
        if (socket.destroyed) return;
        const text = await session
          .evaluate(line)
          .catch((error: Error) => formatResults([new Map([['error', error.message]])], 'lua'));
        if (socket.destroyed || !socket.writable) return;
        // Tarantool's admin console sends the document alone (no empty line after it).
        if (text !== '') socket.write(text.endsWith('\n\n') ? text.slice(0, -1) : text);
        else if (!session.incomplete) socket.write('---\n...\n');
      });
    });
  });
  const isPort = /^\d+$/.test(where) || /^[\w.-]+:\d+$/.test(where);
  const bind = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (isPort) {
        const [host, port] = where.includes(':')
          ? [where.slice(0, where.lastIndexOf(':')), where.slice(where.lastIndexOf(':') + 1)]
          : ['127.0.0.1', where];
        server.listen(Number(port), host, () => resolve());
      } else server.listen(where, () => resolve());
    });
  try {
    await bind();
  } catch (error) {
    // A socket file left by a process that died: nobody answers on it, so it is replaced.
    // One that answers belongs to a live instance and is kept (the start fails).
    if (isPort || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || (await answers(where)))
      throw error;
    await unlink(where);
    await bind();
  }
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

/** Whether something accepts connections on the UNIX socket `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = netConnect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/**
 * `tarantype connect <uri>`: a console into a running instance, over its admin console (text
 * lines) or its binary port, where each statement goes as an EVAL of the server's
 * `require('console').eval(...)`, as tarantoolctl connect does (the greeting tells which).
 * With a terminal it is interactive; otherwise it sends stdin line by line and prints replies.
 */
export function runConsoleClient(
  uri: string,
  input: NodeJS.ReadableStream = process.stdin,
  output: NodeJS.WritableStream = process.stdout,
): Promise<void> {
  const at = uri.lastIndexOf('@');
  const address = at >= 0 ? uri.slice(at + 1) : uri;
  return new Promise((resolve, reject) => {
    const isPort = /^\d+$/.test(address) || /^[\w.-]+:\d+$/.test(address);
    const socket = isPort
      ? netConnect(
          Number(address.slice(address.lastIndexOf(':') + 1)),
          address.includes(':') ? address.slice(0, address.lastIndexOf(':')) : '127.0.0.1',
        )
      : netConnect(address);
    let buffer = '';
    let greeted = false;
    let pending = 0;
    let inputDone = false;
    const finish = () => {
      if (inputDone && pending === 0) socket.end();
    };
    socket.on('error', (error) => reject(new Error(`cannot connect to ${uri}: ${error.message}`)));
    socket.on('close', () => {
      if (greeted) resolve();
    });
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      if (!greeted) {
        const end = buffer.indexOf('\n', buffer.indexOf('\n') + 1);
        if (/^Tarantool \S+ \(Binary\)/.test(buffer)) {
          socket.removeAllListeners('close');
          socket.destroy();
          runBinaryConsole(
            isPort && !address.includes(':') ? `127.0.0.1:${address}` : uri,
            address,
            input,
            output,
          ).then(resolve, reject);
          return;
        }
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

/** The binary-port console: one EVAL per statement (lines accumulate while it is open). */
async function runBinaryConsole(
  target: string,
  address: string,
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
): Promise<void> {
  const client = await connectIproto(
    target.includes('@') || target.includes(':') ? target : `127.0.0.1:${target}`,
  );
  const terminal = (input as NodeJS.ReadStream).isTTY === true;
  const prompt = `${address}> `;
  const rl = createInterface({ input, output, terminal, prompt });
  let pending: string[] = [];
  try {
    output.write(`connected to ${target.slice(target.lastIndexOf('@') + 1)}\n`);
    rl.prompt();
    for await (const line of rl) {
      if (pending.length === 0 && line.trim() === '\\q') break;
      pending.push(line);
      let text: unknown;
      try {
        [text] = await client.eval("return require('console').eval(...)", [pending.join('\n')]);
      } catch (error) {
        // Refused EVAL (no Execute on universe), a lost connection: shown as the console shows errors.
        text = formatResults([new Map([['error', (error as Error).message]])], 'lua');
      }
      if (typeof text === 'string') {
        pending = [];
        // The document, then the empty line an interactive console prints after it.
        output.write(text.endsWith('\n\n') ? text : `${text}\n`);
      }
      rl.setPrompt(pending.length > 0 ? CONTINUATION_PROMPT : prompt);
      rl.prompt();
    }
  } finally {
    rl.close();
    client.close();
  }
}
