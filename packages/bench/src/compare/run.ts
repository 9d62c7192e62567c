// The side-by-side run (npm run bench:compare): every unit of every workload group, `pairs`
// times Tarantool 2.6 then tarantype (A B A B …, the same data and the same client), each
// figure kept per pair, and where a unit has one, its Node ceiling (src/ceiling/) right after
// both sides of the pair (A B C A B C …); then a summary per row (medians, the median of the per-pair ratios and
// their min–max) and the table as Markdown and JSON in `outDir`. Without `tarantool` the
// Tarantool side is recorded as not run, and the report says so at the top.
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DriversDir, driversDir, hasTarantool } from '../lib/tarantool.js';
import { describeMachine, type Machine } from './machine.js';
import { type Figure, type RowResult, type Side, summarise } from './model.js';
import { renderMarkdown } from './report.js';
import { type CompareScale, SCALES, type ScaleName, type Unit, workloads } from './workloads.js';

export const ROOT = new URL('../../../../', import.meta.url).pathname;
const FIXTURES = join(ROOT, 'packages', 'bench', 'fixtures');

export interface CompareOptions {
  readonly scale: ScaleName;
  /** A/B pairs per unit (at least 1). */
  readonly pairs: number;
  /** Where the .md and .json go (created if missing). */
  readonly outDir: string;
  /** Only the groups with these names (embedded, snapshot stall, network, replication). */
  readonly only?: readonly string[];
  /** Progress lines (stderr by default). */
  readonly log?: (line: string) => void;
}

export interface CompareResult {
  readonly command: string;
  readonly scale: CompareScale;
  readonly pairs: number;
  readonly tarantool: boolean;
  readonly drivers: DriversDir;
  readonly machine: Machine;
  readonly startedAt: string;
  readonly finishedAt: string;
  /** False in the files written after each group while the run goes on. */
  readonly complete: boolean;
  /** Runs that threw (each also a Missing in its rows). */
  readonly failures: readonly string[];
  readonly rows: readonly RowResult[];
}

export interface CompareFiles {
  readonly markdown: string;
  readonly json: string;
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]!.slice(0, 200);
}

export function commandLine(options: Pick<CompareOptions, 'scale' | 'pairs'>): string {
  const scale = options.scale === 'large' ? '' : ` -- --${options.scale}`;
  return `PAIRS=${options.pairs} npm run bench:compare${scale}`;
}

export async function runCompare(
  options: CompareOptions,
): Promise<{ result: CompareResult; files: CompareFiles }> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const scale = SCALES[options.scale];
  const started = new Date();
  const machine = describeMachine(ROOT, started);
  const drivers = driversDir();
  const sides: Side[] = ['tarantool', 'tarantype'];
  if (!hasTarantool)
    log(
      '[compare] TARANTOOL IS NOT INSTALLED: measuring tarantype alone; no Tarantool figures, no ratios',
    );
  log(
    `[compare] ${scale.name} scale, ${options.pairs} pair(s), drivers from ${drivers.dir} (${drivers.source})`,
  );
  mkdirSync(options.outDir, { recursive: true });
  const stamp = started
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');
  const files = {
    markdown: join(options.outDir, `${stamp}-${scale.name}.md`),
    json: join(options.outDir, `${stamp}-${scale.name}.json`),
  };
  // Written after every group too, so that a run cut short keeps what it measured.
  const write = (complete: boolean): CompareResult => {
    const result: CompareResult = {
      command: commandLine(options),
      scale,
      pairs: options.pairs,
      tarantool: hasTarantool,
      drivers,
      machine,
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      complete,
      failures,
      rows,
    };
    writeFileSync(files.markdown, renderMarkdown(result));
    writeFileSync(files.json, `${JSON.stringify(result, null, 2)}\n`);
    return result;
  };
  const root = await mkdtemp(join(tmpdir(), 'tarantype-compare-'));
  const runs = new Map<string, { tarantype: Figure[]; tarantool: Figure[]; ceiling?: Figure[] }>();
  const rows: RowResult[] = [];
  const failures: string[] = [];
  try {
    const groups = workloads({ scale, root, tarantool: hasTarantool, fixturesDir: FIXTURES });
    for (const group of groups) {
      if (options.only !== undefined && !options.only.includes(group.name)) continue;
      for (const unit of group.units)
        for (const spec of unit.rows)
          runs.set(spec.id, {
            tarantype: [],
            tarantool: [],
            ...(unit.ceiling?.rows.includes(spec.id) ? { ceiling: [] } : {}),
          });
      const record = (
        unitRows: readonly { id: string }[],
        side: Side | 'ceiling',
        figures: Partial<Record<string, Figure>>,
      ) => {
        for (const spec of unitRows) {
          const figure = figures[spec.id] ?? { missing: 'not returned by the run' };
          // A NaN or an infinity is no measurement: say so rather than print it.
          runs
            .get(spec.id)!
            [side]?.push(
              typeof figure === 'number' && !Number.isFinite(figure)
                ? { missing: `not a finite figure (${figure})` }
                : figure,
            );
        }
      };
      const runCeiling = async (unit: Unit, pair: number) => {
        const ceiling = unit.ceiling!;
        const ceilingRows = unit.rows.filter((r) => ceiling.rows.includes(r.id));
        if (openFailure !== undefined) {
          record(
            ceilingRows,
            'ceiling',
            Object.fromEntries(ceilingRows.map((r) => [r.id, { missing: openFailure! }])),
          );
          return;
        }
        log(`[compare] pair ${pair + 1}/${options.pairs} ${unit.name}: Node ceiling`);
        try {
          record(ceilingRows, 'ceiling', await ceiling.run(pair));
        } catch (error) {
          failures.push(`${unit.name} (Node ceiling, pair ${pair + 1}): ${firstLine(error)}`);
          log(
            `[compare] ${unit.name} (Node ceiling) failed: ${String(error instanceof Error ? error.stack : error)}`,
          );
          const failed = { missing: `failed: ${firstLine(error)}` };
          record(
            ceilingRows,
            'ceiling',
            Object.fromEntries(ceilingRows.map((r) => [r.id, failed])),
          );
        }
      };
      const groupRows: RowResult[] = [];
      let openFailure: string | undefined;
      try {
        await group.open?.();
      } catch (error) {
        openFailure = `setup failed: ${firstLine(error)}`;
        failures.push(`${group.name}: ${openFailure}`);
        log(`[compare] ${group.name}: ${String(error instanceof Error ? error.stack : error)}`);
      }
      try {
        for (const unit of group.units) {
          for (let pair = 0; pair < options.pairs; pair++) {
            for (const side of sides) {
              const reason =
                openFailure ??
                (side === 'tarantool' && !hasTarantool
                  ? 'tarantool not installed'
                  : group.unavailable?.(side));
              if (reason !== undefined) {
                record(
                  unit.rows,
                  side,
                  Object.fromEntries(unit.rows.map((r) => [r.id, { missing: reason }])),
                );
                continue;
              }
              log(`[compare] pair ${pair + 1}/${options.pairs} ${unit.name}: ${side}`);
              try {
                record(unit.rows, side, await unit.run(side, pair));
              } catch (error) {
                const failed = { missing: `failed: ${firstLine(error)}` };
                failures.push(`${unit.name} (${side}, pair ${pair + 1}): ${firstLine(error)}`);
                log(
                  `[compare] ${unit.name} (${side}) failed: ${String(error instanceof Error ? error.stack : error)}`,
                );
                record(unit.rows, side, Object.fromEntries(unit.rows.map((r) => [r.id, failed])));
              }
            }
            if (unit.ceiling !== undefined) await runCeiling(unit, pair);
          }
          for (const spec of unit.rows) {
            const { tarantype, tarantool, ceiling } = runs.get(spec.id)!;
            groupRows.push({
              ...spec,
              tarantypeRuns: tarantype,
              tarantoolRuns: tarantool,
              ...(ceiling === undefined ? {} : { ceilingRuns: ceiling }),
              summary: summarise(spec, tarantype, tarantool, ceiling),
            });
          }
        }
        // The group's display order (e.g. every insert row first), else the units' order.
        const order = group.order;
        if (order !== undefined) {
          const rank = (id: string) => (order.includes(id) ? order.indexOf(id) : order.length);
          groupRows.sort((a, b) => rank(a.id) - rank(b.id));
        }
        rows.push(...groupRows);
        write(false);
      } finally {
        await group
          .close?.()
          .catch((error: unknown) =>
            log(`[compare] ${group.name}: close failed: ${firstLine(error)}`),
          );
      }
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  const result = write(true);
  return { result, files };
}
