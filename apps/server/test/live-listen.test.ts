// box.cfg{listen = …} at runtime, typed into the Lua console: binds the new port, stops
// accepting on the old one (open connections stay), reads back as configured, logs Tarantool's
// "set 'listen' configuration option to …", refuses a bad value with ER_CFG before changing
// anything, and '' closes the port.
import { createServer } from 'node:net';
import { connect } from '@tarantype/iproto';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { Instance } from '../src/index.js';
import { startInstance, tempDir } from './helpers.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const refused = (port: number) =>
  connect(`127.0.0.1:${port}`).then(
    (client) => {
      client.close();
      return false;
    },
    () => true,
  );

let dir: string;
let cleanup: () => Promise<void>;
let instance: Instance | undefined;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => {
  await instance?.stop();
  instance = undefined;
  await cleanup();
});

it('rebinds, reads back, logs, refuses bad values first, and closes with an empty listen', async () => {
  let port: number;
  let log: { lines: string[] };
  ({ instance, port, log } = await startInstance(dir));
  const session = instance.consoleSession();
  const before = await connect(`127.0.0.1:${port}`);
  const next = await freePort();
  expect(await session.evaluate(`box.cfg{listen = '127.0.0.1:${next}'}`)).toBe('---\n...\n\n');
  expect(await session.evaluate('box.cfg.listen, box.info.listen')).toBe(
    `---\n- 127.0.0.1:${next}\n- 127.0.0.1:${next}\n...\n\n`,
  );
  expect(
    log.lines.some((l) => l.endsWith(`set 'listen' configuration option to "127.0.0.1:${next}"`)),
  ).toBe(true);
  const after = await connect(`127.0.0.1:${next}`);
  await after.ping();
  await before.ping(); // accepted before the rebind: still served
  expect(await refused(port)).toBe(true);
  before.close();

  expect(await session.evaluate("box.cfg{listen = 'unix/:/tmp/tarantype.sock'}")).toMatch(
    /^---\n- error: 'Incorrect value for option ''listen'': the binary protocol listens on TCP\n {4}ports only/,
  );
  expect(await session.evaluate("box.cfg{listen = 'nohost'}")).toBe(
    "---\n- error: 'Incorrect value for option ''listen'': expected host:service or /unix.socket'\n...\n\n",
  );
  expect(await session.evaluate("box.cfg{listen = 'nohost', read_only = true}")).toMatch(/error/);
  expect(await session.evaluate('box.cfg.read_only')).toBe('---\n- false\n...\n\n');
  await after.ping();
  expect(await session.evaluate('box.cfg.listen')).toBe(`---\n- 127.0.0.1:${next}\n...\n\n`);

  expect(await session.evaluate("box.cfg{listen = ''}")).toBe('---\n...\n\n');
  after.close();
  expect(await refused(next)).toBe(true);
  expect(await session.evaluate('box.info.listen')).toBe('---\n- null\n...\n\n');
});
