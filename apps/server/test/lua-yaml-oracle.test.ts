// The Lua console's output against Tarantool 2.6 itself: the same Lua expressions typed into
// tarantype's Lua console and into a real `tarantool` admin console must print the same
// bytes (every value kind: numbers, strings needing each quoting style, folding at 80
// columns, sparse arrays, __serialize styles, tuples, errors). The outputs are also parsed
// back with the `yaml` package, which must read each document as YAML.
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { Instance } from '../src/index.js';
import { LuaConsoleSession } from '../src/lua/lua-console.js';
import { hasTarantool, startInstance, tempDir } from './helpers.js';

const LONG = 'aaaaaaaaaa bbbbbbbbbbbb cccccccccccc dddddddddddd eeeeeeeeeeeee ffffffffffff';
const FORTY = Array.from({ length: 40 }, (_, i) => i + 1).join(',');

/** Expressions whose printed form does not depend on the instance or on table hash order. */
export const VALUE_KINDS = [
  '1',
  '-5',
  '1.5',
  '0.1',
  '100.0',
  '-0.0',
  '1e15',
  '1e16',
  '1e300',
  '1/3',
  '3.14159265358979',
  '123456789012',
  '1/0',
  '-1/0',
  'nil',
  '1, nil, 3',
  'true, false',
  "'a'",
  "''",
  "'3301'",
  "'true', 'True', 'no', 'No', 'yes', 'on', 'off', 'null', 'Null', 'NULL', '~'",
  "'1e5', '0x10', '.5', 'inf', 'Inf', '-inf', 'nan', '+5', '5.', '1e', '1_000', '0b1'",
  "'@x', '`x', 'a:b', 'a:', '[x', 'x]', '{', 'a{b', '!x', '&x', '*x', '|x', '>x'",
  `"'x", '"x', '%x', '?x', '? x', ':x', 'x: ', 'x ', ' x', '---', '...', '--- x'`,
  "'a  b', '-', '-x', '- x', '?', ':', 'a #', 'a# b', '#x', 'x #y', 'a,b'",
  "'a\\nb'",
  "'a\\nb\\n'",
  "'\\n'",
  "'a\\n b'",
  "'a \\nb'",
  '"a\\tb"',
  "'a\\rb'",
  "'ü ö'",
  "'\\1'",
  "'ab\\127'",
  `"it's"`,
  "string.rep('x', 100)",
  '{1, 2, 3}',
  '{}',
  '{{}}',
  '{1, {2, 3}, {}}',
  "{[1] = 'a', [2] = 'b', [5] = 'c'}",
  "{[1] = 'a', [3] = 'c'}",
  "{[2] = 'b'}",
  '{x = {}}',
  '{a = {1, 2}}',
  "{['1'] = 'a'}",
  "{[1.5] = 'a'}",
  '{[true] = 1}',
  "setmetatable({}, {__serialize = 'map'})",
  "setmetatable({'x', 'abc', 'a:b'}, {__serialize = 'seq'})",
  "setmetatable({'x', 'abc'}, {__serialize = 'sequence'})",
  "setmetatable({a = 'x'}, {__serialize = 'mapping'})",
  "setmetatable({a = 'x y'}, {__serialize = 'map'})",
  "box.tuple.new{1, 'a', 'a b', 5, true, nil, {1, 2}, 1.5, 'Null', ''}",
  "box.tuple.new{1, 'a'}:totable()",
  `box.tuple.new{1, '${LONG} gggggggggg hhhhhhhh iiiiiiii', 2, 3}`,
  `box.tuple.new{${FORTY}}`,
  `{a = box.tuple.new{${FORTY}}}`,
  `{box.tuple.new{1}, box.tuple.new{2, 'x'}}`,
  `'${LONG} gggggggggg hhhhhhhh iiiiiiii jjjjjjjjj kkkkkkkk llllllll mmmmmmmm'`,
  `'${LONG} gggggggggg: hhhhhhhh iiiiiiii jjjjjjjjj kkkkkkkk llllllll mmmmmmmm'`,
  `{error = '${LONG} gggggggggg hhhhhhhh'}`,
  `{error = "Incorrect value for option 'memtx_memory': cannot decrease memory size from 1 to 2"}`,
  `"${LONG}\\tgggggggggg hhhhhhhh iiiiiiii jjjjjjjjj"`,
  "box.error(box.error.NO_SUCH_SPACE, 'x')",
  "box.error.new(box.error.NO_SUCH_SPACE, 'x').message",
  'box.error.SPACE_EXISTS',
  "pcall(box.error, box.error.TUPLE_FOUND, 'primary', 'tester')",
  'error(12)',
  'x = = 1',
  "box.space.tester:upsert{{1, 0}, {{'+', 2, 1)}",
  'type(box.cfg), type(box.info), type(box.space), type(box.schema.space.create)',
  'local t = {} for i = 1, 3 do t[#t + 1] = i * i end return t',
  "select('#', 1, nil, nil)",
  'math.floor(7 / 2), 2^10, 7 % 3',
  "string.format('%d-%s', 5, 'x')",
  "require('json').encode({1, 2, 'a/b'})",
  "require('json').encode({a = {b = true}})",
  "require('json').encode({})",
  "require('json').encode('x\\ny\"z')",
  "require('json').decode('[1, {\"a\": null}]')[2].a == require('json').NULL",
  'require(\'json\').decode(\'{"k": [1, 2.5, "s"]}\').k',
  'require(\'json\').decode(\'{"k": {"a": 1}, "e": {}}\').k',
];

/** Sends lines to a Tarantool admin console and collects one YAML document per line. */
async function tarantoolAnswers(socketPath: string, lines: readonly string[]): Promise<string[]> {
  const socket = connect(socketPath);
  const answers: string[] = [];
  let buffer = '';
  let greeted = false;
  return new Promise((resolve, reject) => {
    socket.on('error', reject);
    const next = () => {
      if (answers.length === lines.length) {
        socket.end();
        resolve(answers);
      } else socket.write(`${lines[answers.length]}\n`);
    };
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      if (!greeted) {
        const end = buffer.indexOf('\n', buffer.indexOf('\n') + 1);
        if (end < 0) return;
        buffer = buffer.slice(end + 1);
        greeted = true;
        next();
        return;
      }
      for (let end = buffer.indexOf('\n...\n'); end >= 0; end = buffer.indexOf('\n...\n')) {
        answers.push(buffer.slice(0, end + 5));
        buffer = buffer.slice(end + 5);
        next();
      }
    });
  });
}

async function startTarantool(parent: string): Promise<{ socket: string; stop: () => void }> {
  const dir = join(parent, 'tarantool');
  await mkdir(dir);
  const socket = join(dir, 'tt-admin.sock');
  const script = join(dir, 'tt-inst.lua');
  // A space named tester so that the syntax-error line is the same error on both sides.
  await writeFile(
    script,
    `box.cfg{work_dir = '${dir}', log = 'tt.log'}\n` +
      `box.schema.space.create('tester'):create_index('primary')\n` +
      `require('console').listen('unix/:${socket}')\n`,
  );
  const child = spawn('tarantool', [script], { cwd: dir, stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const ready = await new Promise<boolean>((resolve) => {
      const probe = connect(socket);
      probe.on('connect', () => {
        probe.destroy();
        resolve(true);
      });
      probe.on('error', () => resolve(false));
    });
    if (ready) return { socket, stop: () => child.kill('SIGKILL') };
  }
  child.kill('SIGKILL');
  throw new Error('tarantool did not open its admin console');
}

describe('Lua console YAML', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let instance: Instance;
  let ours: string[];

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    ({ instance } = await startInstance(dir));
    const session = new LuaConsoleSession(instance.lua);
    await session.evaluate("box.schema.space.create('tester'):create_index('primary')");
    ours = [];
    for (const line of VALUE_KINDS) ours.push(await session.evaluate(line));
  });
  afterAll(async () => {
    await instance?.stop();
    await cleanup?.();
  });

  it('parses back as YAML for every value kind', () => {
    for (const [i, text] of ours.entries()) {
      const documents = parseAllDocuments(text);
      expect(documents.length, VALUE_KINDS[i]).toBe(1);
      const document = documents[0]!;
      expect('errors' in document ? document.errors : [], VALUE_KINDS[i]).toEqual([]);
    }
    const parsed = (line: string) => {
      const document = parseAllDocuments(ours[VALUE_KINDS.indexOf(line)]!)[0]!;
      return 'toJS' in document ? document.toJS() : undefined;
    };
    expect(parsed("'a\\nb\\n'")).toEqual(['a\nb\n']);
    expect(parsed("'a \\nb'")).toEqual(['a \nb']);
    expect(parsed(`"it's"`)).toEqual(["it's"]);
    expect(parsed("'3301'")).toEqual(['3301']);
    expect(parsed("{[1] = 'a', [3] = 'c'}")).toEqual([['a', null, 'c']]);
    expect(parsed('1, nil, 3')).toEqual([1, null, 3]);
    expect(parsed(`box.tuple.new{${FORTY}}`)).toEqual([
      Array.from({ length: 40 }, (_, i) => i + 1),
    ]);
    expect(parsed(`{error = '${LONG} gggggggggg hhhhhhhh'}`)).toEqual([
      { error: `${LONG} gggggggggg hhhhhhhh` },
    ]);
  });

  it.skipIf(!hasTarantool && process.env.CI !== 'true')(
    'prints byte for byte what Tarantool 2.6 prints (needs tarantool)',
    { timeout: 30_000 },
    async () => {
      expect(hasTarantool, 'tarantool must be installed in CI').toBe(true);
      const tarantool = await startTarantool(dir);
      try {
        const theirs = await tarantoolAnswers(tarantool.socket, VALUE_KINDS);
        // Our console is the interactive one: it prints an empty line after each document.
        const mismatches = VALUE_KINDS.map((line, i) => ({
          line,
          ours: ours[i]!.slice(0, -1),
          theirs: theirs[i],
        })).filter((r) => r.ours !== r.theirs);
        expect(mismatches).toEqual([]);
      } finally {
        tarantool.stop();
      }
    },
  );
});
