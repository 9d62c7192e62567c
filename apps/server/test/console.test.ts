// The console: JavaScript with box in scope, results as Tarantool-style YAML.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ConsoleEvaluator, formatResults, type Instance } from '../src/index.js';
import { startInstance, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let instance: Instance;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => {
  await instance?.stop();
  await cleanup();
});

it('evaluates expressions and statements, awaits promises, prints YAML and errors', async () => {
  ({ instance } = await startInstance(dir));
  const console = new ConsoleEvaluator({ box: instance.box });
  const created = await console.evaluate("await box.schema.space.create('demo')");
  expect(created).toContain('- id: 512\n  name: demo\n  engine: memtx');
  expect(await console.evaluate("await box.space.demo.createIndex('primary')")).toContain(
    'type: TREE',
  );
  expect(await console.evaluate("await box.space.demo.insert([1, 'hello'])")).toBe(
    "---\n- [1, 'hello']\n...\n\n",
  );
  expect(await console.evaluate('box.space.demo.select()')).toBe("---\n- [[1, 'hello']]\n...\n\n");
  expect(await console.evaluate("await box.space.demo.insert([1, 'again'])")).toBe(
    "---\n- error: Duplicate key exists in unique index 'primary' in space 'demo'\n...\n\n",
  );
  expect(await console.evaluate('const x = 2; return x * 21')).toBe('---\n- 42\n...\n\n');
  expect(await console.evaluate('box')).toBe('---\n- <Box>\n...\n\n');
});

it('prints cycles without recursing forever', () => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  expect(formatResults([cyclic])).toBe('---\n- a: 1\n  self: <circular>\n...\n\n');
});

it('the JavaScript console keeps declarations, settles assigned promises, and prints box.info', async () => {
  ({ instance } = await startInstance(dir));
  const console = new ConsoleEvaluator({ box: instance.box });
  expect(await console.evaluate("s = box.schema.space.create('tester')")).toContain('name: tester');
  expect(await console.evaluate("s.createIndex('primary')")).toContain('type: TREE');
  expect(await console.evaluate("s.insert([1, 'a'])")).toBe("---\n- [1, 'a']\n...\n\n");
  expect(await console.evaluate('const n = 5')).toBe('---\n...\n\n');
  expect(await console.evaluate('n * 2')).toBe('---\n- 10\n...\n\n');
  expect(await console.evaluate("let m; var text = 'x;y'")).toBe('---\n...\n\n');
  expect(await console.evaluate('m = 3')).toBe('---\n- 3\n...\n\n');
  expect(await console.evaluate('[m, text]')).toBe("---\n- [3, 'x;y']\n...\n\n");
  expect(await console.evaluate('for (let i = 0; i < 2; i++) {}; return typeof i')).toBe(
    '---\n- undefined\n...\n\n',
  );
  expect(await console.evaluate('box.info.id')).toBe('---\n- 1\n...\n\n');
  expect(await console.evaluate('box.info().ro')).toBe('---\n- false\n...\n\n');
  const info = await console.evaluate('box.info');
  expect(info).toContain('\n  id: 1\n');
  expect(info).toContain('\n  vclock: {');
  expect(await console.evaluate('box.snapshot')).toBe("---\n- 'function: bound snapshot'\n...\n\n");
  // Lists of maps (index parts, checkpoints) are valid YAML documents.
  for (const line of ['box.space.tester.index.primary', 'box.info.gc()', 'box.info']) {
    const documents = parseAllDocuments(await console.evaluate(line));
    expect(documents.length, line).toBe(1);
    expect('errors' in documents[0]! ? documents[0].errors : [], line).toEqual([]);
  }
  expect(
    parseAllDocuments(await console.evaluate('box.space.tester.index.primary'))[0]!.toJS(),
  ).toEqual([expect.objectContaining({ parts: [expect.objectContaining({ type: 'unsigned' })] })]);
});
