// Runs the usage example of README.md as written (imports pointed at this package's sources).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

it('the README example runs', async () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(block).toBeDefined();
  const source = block!
    .replace("'@tarantype/iproto/testing'", JSON.stringify(join(root, 'src', 'testing.ts')))
    .replace("'@tarantype/iproto'", JSON.stringify(join(root, 'src', 'index.ts')));
  const dir = mkdtempSync(join(tmpdir(), 'tarantype-readme-'));
  const file = join(dir, 'example.ts');
  writeFileSync(file, `${source}\nexport const done = true;\n`);
  try {
    const module = (await import(/* @vite-ignore */ file)) as { done: boolean };
    expect(module.done).toBe(true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
