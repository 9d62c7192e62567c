// The README's usage example is test/readme-example.ts, verbatim (with the package import):
// this runs it and checks every printed value against the `// →` comment that follows it.
import { readFileSync } from 'node:fs';
import { afterEach, expect, it, vi } from 'vitest';

const example = readFileSync(new URL('./readme-example.ts', import.meta.url), 'utf8');

afterEach(() => {
  vi.restoreAllMocks();
});

it('README shows the example exactly', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  expect(readme).toContain(example.replace("from '../src/index.js'", "from '@tarantype/memtx'"));
});

it('the example prints what its comments say', async () => {
  const printed: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    printed.push(args.map((a) => JSON.stringify(a)).join(' '));
  });
  await import('./readme-example.js');
  const expected = [...example.matchAll(/^\/\/ → (.*)$/gm)].map((m) => m[1]);
  expect(printed).toEqual(expected);
});
