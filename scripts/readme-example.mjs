// Shared by the packages' readme tests: extracts the example region of a test file (between
// `// README-BEGIN` and `// README-END`), dedents it, and tells whether README.md contains it
// verbatim — so the README example is the code the test runs.
import { readFileSync } from 'node:fs';

export function exampleRegion(testFile) {
  const source = readFileSync(testFile, 'utf8');
  const match = /\/\/ README-BEGIN\n([\s\S]*?)\n\s*\/\/ README-END/.exec(source);
  if (match === null) throw new Error(`${testFile} has no README-BEGIN/README-END region`);
  const lines = match[1].split('\n');
  const indent = Math.min(
    ...lines.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length),
  );
  return lines.map((l) => l.slice(indent)).join('\n');
}

export function readmeContains(readmeFile, text) {
  return readFileSync(readmeFile, 'utf8').includes(text);
}
