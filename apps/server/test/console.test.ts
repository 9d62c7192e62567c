// The console: JavaScript with box in scope, results as Tarantool-style YAML.
import { afterEach, beforeEach, expect, it } from 'vitest';
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
