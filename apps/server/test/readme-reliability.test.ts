// The README's "Every RELIABILITY.md scenario" tables cannot rot: every scenario 1..30 has a
// row, every row names a test or says why not, and every `file` › "test name" it cites is a
// file of the repository with a test declaration (it, test, describe) of that name (a template
// literal's name is cited by a literal part of it).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const HEADING = '### Every RELIABILITY.md scenario';
const REFERENCE = /`([^`\s]+\.test\.ts)` › "([^"]+)"/g;
/** A test declaration: it(, test(, describe(, it.skipIf(…)(, describe.each(…)( … */
const DECLARATION = /(?:^|[^\w.])(?:it|test|describe)(?:\.\w+)*(?:\([^)]*\))?\(/;

/** True if `name` occurs in a test declaration of `source`: on its line or the line after. */
function declares(source: string, name: string): boolean {
  const lines = source.split('\n');
  return lines.some(
    (line, i) =>
      line.includes(name) && (DECLARATION.test(line) || DECLARATION.test(lines[i - 1] ?? '')),
  );
}

function section(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n${HEADING}\n`);
  expect(start, `README.md has a "${HEADING}" section`).toBeGreaterThan(0);
  const rest = readme.slice(start + HEADING.length + 2);
  const end = rest.search(/^#{2,3} /m);
  return end < 0 ? rest : rest.slice(0, end);
}

/** The table rows (header and separator lines left out), as arrays of cells. */
function rows(text: string): string[][] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('| ') && !/^\|\s*(#|protocol robustness)\s*\|/.test(line))
    .map((line) =>
      line
        .slice(1, -1)
        .split(' | ')
        .map((cell) => cell.trim()),
    );
}

describe('README: every RELIABILITY.md scenario', () => {
  const tables = rows(section());
  const scenarios = tables.filter((cells) => /^\d+$/.test(cells[0]!));
  const robustness = tables.filter((cells) => !/^\d+$/.test(cells[0]!));

  it('has one row per scenario 1..30, in order, and the protocol-robustness rows', () => {
    expect(scenarios.map((cells) => Number(cells[0]))).toEqual(
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
    for (const cells of scenarios) expect(cells, `row ${cells[0]}`).toHaveLength(3);
    expect(robustness.length).toBeGreaterThanOrEqual(6);
    for (const cells of robustness) expect(cells, `row ${cells[0]}`).toHaveLength(2);
  });

  it('names, in every row, a test or why not', () => {
    for (const cells of [...scenarios, ...robustness]) {
      const last = cells.at(-1)!;
      const cited = [...last.matchAll(REFERENCE)].length;
      const prose = last.replace(REFERENCE, '').replace(/[;.,()\s]/g, '');
      expect(cited > 0 || prose.length > 20, `row "${cells[0]}" cites a test or says why not`).toBe(
        true,
      );
    }
  });

  it('cites only files that exist and test names they contain', () => {
    const missing: string[] = [];
    let count = 0;
    for (const cells of [...scenarios, ...robustness]) {
      for (const [, file, name] of cells.at(-1)!.matchAll(REFERENCE)) {
        count++;
        const path = join(ROOT, file!);
        if (!existsSync(path)) missing.push(`row ${cells[0]}: no file ${file}`);
        else if (!declares(readFileSync(path, 'utf8'), name!))
          missing.push(`row ${cells[0]}: ${file} has no test "${name}"`);
      }
    }
    expect(missing).toEqual([]);
    expect(count).toBeGreaterThan(60);
  });
});
