// The side-by-side table as Markdown: the machine and the command first, then one row per
// figure with both sides (medians over the pairs), the normalised ratio (≥ 1.0 = tarantype as
// good or better, its direction stated per row), the per-pair spread, the target and whether
// it is met. A figure a side could not produce shows its reason in place of a number.
import {
  CEILING_MIN,
  type CeilingSummary,
  type Figure,
  isMissing,
  ratioDirection,
} from './model.js';
import type { CompareResult } from './run.js';

export function formatFigure(figure: Figure): string {
  if (isMissing(figure)) return `— (${figure.missing})`;
  const magnitude = Math.abs(figure);
  if (magnitude >= 1000) return Math.round(figure).toLocaleString('en-US');
  if (magnitude >= 100) return figure.toFixed(0);
  if (magnitude >= 1) return figure.toFixed(2);
  if (figure === 0) return '0';
  return figure.toPrecision(3);
}

const ratioText = (value: number) => `${value.toFixed(2)}×`;

function ceilingCells(ceiling: CeilingSummary | undefined): [string, string] {
  if (ceiling === undefined) return ['—', '—'];
  if (isMissing(ceiling.ratio))
    return [formatFigure(ceiling.figure), `— (${ceiling.ratio.missing})`];
  const spread =
    ceiling.spread === undefined
      ? ''
      : ` (${ratioText(ceiling.spread[0])}–${ratioText(ceiling.spread[1])})`;
  const met = typeof ceiling.met === 'string' ? ceiling.met : '—';
  return [formatFigure(ceiling.figure), `${ratioText(ceiling.ratio)}${spread} ${met}`];
}

export function renderMarkdown(result: CompareResult): string {
  const { machine, scale } = result;
  const lines: string[] = [];
  lines.push(`# tarantype vs Tarantool 2.6, side by side (${result.startedAt.slice(0, 10)})`, '');
  if (!result.complete)
    lines.push(
      '> **INCOMPLETE: the run is still going or was cut short; these are the groups it finished.**',
      '',
    );
  if (!result.tarantool)
    lines.push(
      '> **TARANTOOL IS NOT INSTALLED: tarantype was measured alone. There are no Tarantool',
      '> figures and no ratios in this table; the network rows need net.box and are empty.**',
      '',
    );
  if (result.failures.length > 0) {
    lines.push(`> **${result.failures.length} run(s) failed** (their rows say so):`);
    for (const failure of result.failures) lines.push(`> - ${failure}`);
    lines.push('');
  }
  lines.push(
    `- command: \`${result.command}\` (${scale.name} scale: N = ${scale.tuples.toLocaleString('en-US')} tuples {i, 32-byte string, i*2}; ${result.pairs} alternating Tarantool/tarantype ${result.pairs === 1 ? 'pair' : 'pairs'} per workload)`,
    `- started ${result.startedAt}, finished ${result.finishedAt}`,
    `- machine: ${machine.cpuModel}, ${machine.cores} cores, ${(machine.ramBytes / 2 ** 30).toFixed(1)} GiB RAM, ${machine.kernel}; load average at start ${machine.loadAverage.join(' / ')}`,
    `- node ${machine.node}; ${machine.tarantool ?? 'tarantool not installed'}; tarantype ${machine.commit ?? '(not a git checkout)'}`,
    `- Tarantool-side drivers: ${result.drivers.dir} (${result.drivers.source})`,
    '- figures are medians over the pairs; **ratio** is the median of the per-pair ratios, normalised so that ≥ 1.00 means tarantype is as good or better (the direction column says which way it was divided); **spread** is the min–max of the per-pair ratios',
    '- server CPU per op: utime + stime of every thread of the server process (/proc/<pid>/task/*/stat) over the measured run, divided by its operations',
    `- **Node ceiling**: a minimal Node program doing only the unavoidable work of the path (packages/bench/src/ceiling/), measured in every pair right after both sides; **÷ ceiling** is tarantype against it, normalised the same way, median and min–max over the pairs, and whether it reaches the issue's ${ratioText(CEILING_MIN)} of it`,
    '',
    `| workload | unit | tarantype | Tarantool 2.6 | ratio | direction | spread | target | met | Node ceiling | ÷ ceiling (≥ ${ratioText(CEILING_MIN)}) |`,
    '| --- | --- | ---: | ---: | ---: | --- | --- | --- | --- | ---: | --- |',
  );
  for (const row of result.rows) {
    const s = row.summary;
    const spread =
      s.spread === undefined
        ? '—'
        : `${ratioText(s.spread[0])}–${ratioText(s.spread[1])} (${s.ratioPairs} ${s.ratioPairs === 1 ? 'pair' : 'pairs'})`;
    const ratio = isMissing(s.ratio) ? `— (${s.ratio.missing})` : ratioText(s.ratio);
    const met = typeof s.met === 'string' ? s.met : `— (${s.met.missing})`;
    const workload = row.workload.replace(/^ +/, '↳ ');
    const [ceiling, ofCeiling] = ceilingCells(s.ceiling);
    lines.push(
      `| ${workload} | ${row.unit} | ${formatFigure(s.tarantype)} | ${formatFigure(s.tarantool)} | ${ratio} | ${ratioDirection(row)} | ${spread} | ${row.target.text} | ${met} | ${ceiling} | ${ofCeiling} |`,
    );
  }
  const judged = result.rows.filter((r) => typeof r.summary.met === 'string');
  const met = judged.filter((r) => r.summary.met === 'yes').length;
  const unmet = judged.filter((r) => r.summary.met === 'no');
  const withCeiling = unmet.filter((r) => typeof r.summary.ceiling?.met === 'string');
  const atCeiling = withCeiling.filter((r) => r.summary.ceiling?.met === 'yes').length;
  lines.push(
    '',
    `Targets met: ${met} of ${judged.length} judged rows (${result.rows.length} rows).`,
    `Of the ${unmet.length} rows not met, ${withCeiling.length} have a Node ceiling, and tarantype reaches ${ratioText(CEILING_MIN)} of it in ${atCeiling}.`,
    '',
  );
  return lines.join('\n');
}
