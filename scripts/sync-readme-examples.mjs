#!/usr/bin/env node
// Copies each package's README example from its test (the README-BEGIN/README-END region of
// test/readme.test.ts) into the first ```ts block of its README.md, so the README shows the
// code the suite runs. Run after reformatting: `node scripts/sync-readme-examples.mjs`.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exampleRegion } from './readme-example.mjs';

const root = new URL('..', import.meta.url).pathname;
for (const group of ['packages', 'apps']) {
  for (const name of readdirSync(join(root, group))) {
    const test = join(root, group, name, 'test', 'readme.test.ts');
    const readme = join(root, group, name, 'README.md');
    if (!existsSync(test) || !existsSync(readme)) continue;
    if (!readFileSync(test, 'utf8').includes('README-BEGIN')) continue;
    const text = readFileSync(readme, 'utf8');
    const start = text.indexOf('```ts\n');
    const end = text.indexOf('\n```', start + 6);
    if (start < 0 || end < 0) throw new Error(`${readme}: no \`\`\`ts block`);
    const next = `${text.slice(0, start + 6)}${exampleRegion(test)}${text.slice(end)}`;
    if (next !== text) {
      writeFileSync(readme, next);
      process.stdout.write(`updated ${group}/${name}/README.md\n`);
    }
  }
}
