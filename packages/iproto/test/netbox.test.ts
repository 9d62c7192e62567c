// Interop: net.box (Tarantool 2.6's own client, run by the real `tarantool` binary) against our
// server and the in-memory handler. net.box reads _vspace, _vindex and _vcollation on connect
// and wants one schema version across them (spec §9); then auth, ping, call, DML, errors.
// Skipped when `tarantool` is not on PATH.
import { afterEach, describe, expect, it } from 'vitest';
import { CREDENTIALS_MISMATCH_MESSAGE } from '../src/chap-sha1.js';
import { startServer, type TestServer } from './helpers.js';
import { hasTarantool, runTarantoolScript } from './tarantool-process.js';

const CLIENT = `
local netbox = require('net.box')
local json = require('json')
local uri = arg[1]
local out = {}
local function plain(v)
  if type(v) == 'cdata' and v.totable then return v:totable() end
  if type(v) == 'table' then
    local t = {}
    for k, x in pairs(v) do t[k] = plain(x) end
    return t
  end
  return v
end
local conn = netbox.connect(uri, {wait_connected = 10})
out.connected = conn:is_connected()
out.error = conn.error
if out.connected then
  out.ping = conn:ping()
  out.call = {conn:call('myfunc', {1, {2, 3}})}
  out.call_multi = {conn:call('multi')}
  out.eval = {conn:eval('return ...', {5, 'a'})}
  out.has_space = conn.space.test ~= nil
  out.indexes = conn.space.test ~= nil and conn.space.test.index.primary ~= nil
  out.insert = plain(conn.space.test:insert{1, 'a', 10})
  out.select = plain(conn.space.test:select{1})
  out.update = plain(conn.space.test:update({1}, {{'=', 2, 'b'}, {'+', 3, 5}}))
  local ok, err = pcall(function() return conn.space.test:insert{1, 'x', 0} end)
  out.dup = {ok = ok, message = tostring(err), code = err and err.code}
  local ok2, err2 = pcall(function() return conn:call('nosuch') end)
  out.nosuch = {ok = ok2, message = tostring(err2), code = err2 and err2.code}
  out.delete = plain(conn.space.test:delete{1})
  out.whoami = conn:call('whoami')
end
conn:close()
io.stdout:write(json.encode(out))
os.exit(0)
`;

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function setup(): Promise<TestServer> {
  const s = await startServer();
  cleanup.push(() => s.close());
  s.handler.createUser('tester', 'secret');
  s.handler.createSpace({
    name: 'test',
    indexes: [{ name: 'primary', parts: [{ field: 0, type: 'unsigned' }] }],
    format: [
      { name: 'id', type: 'unsigned' },
      { name: 'name', type: 'string' },
      { name: 'value', type: 'any' },
    ],
  });
  s.handler.defineFunction('myfunc', (args) => args);
  s.handler.defineFunction('multi', () => [1, [2, 3], 'x']);
  s.handler.defineFunction('whoami', (_args, session) => [session.user.name]);
  return s;
}

describe.skipIf(!hasTarantool)('net.box (tarantool 2.6) against the tarantype server', () => {
  it('connects, authenticates, fetches the schema, pings, calls, runs DML', async () => {
    const s = await setup();
    const { stdout, stderr } = await runTarantoolScript(CLIENT, [
      `tester:secret@127.0.0.1:${s.port}`,
    ]);
    const out = JSON.parse(stdout || '{}') as Record<string, unknown>;
    if (out.connected !== true)
      throw new Error(`net.box did not connect: ${String(out.error)} ${stderr}`);
    expect(out.ping).toBe(true);
    expect(out.call).toEqual([1, [2, 3]]);
    expect(out.call_multi).toEqual([1, [2, 3], 'x']);
    expect(out.eval).toEqual([5, 'a']);
    expect(out.has_space).toBe(true);
    expect(out.indexes).toBe(true);
    expect(out.insert).toEqual([1, 'a', 10]);
    expect(out.select).toEqual([[1, 'a', 10]]);
    expect(out.update).toEqual([1, 'b', 15]);
    expect(out.dup).toMatchObject({
      ok: false,
      code: 3,
      message: "Duplicate key exists in unique index 'primary' in space 'test'",
    });
    expect(out.nosuch).toMatchObject({
      ok: false,
      code: 33,
      message: "Procedure 'nosuch' is not defined",
    });
    expect(out.delete).toEqual([1, 'b', 15]);
    expect(out.whoami).toBe('tester');
    // net.box read the three system views on connect.
    expect(s.handler.served.filter((t) => t === 1).length).toBeGreaterThanOrEqual(3);
  });

  it('a wrong password is refused with the uniform error', async () => {
    const s = await setup();
    const { stdout } = await runTarantoolScript(CLIENT, [`tester:wrong@127.0.0.1:${s.port}`]);
    const out = JSON.parse(stdout) as Record<string, unknown>;
    expect(out.connected).toBe(false);
    expect(out.error).toBe(CREDENTIALS_MISMATCH_MESSAGE);
  });

  it('guest connects without AUTH', async () => {
    const s = await setup();
    const { stdout } = await runTarantoolScript(CLIENT, [`127.0.0.1:${s.port}`]);
    const out = JSON.parse(stdout) as Record<string, unknown>;
    expect(out.connected).toBe(true);
    expect(out.whoami).toBe('guest');
  });
});
