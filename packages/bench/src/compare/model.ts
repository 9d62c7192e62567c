// The side-by-side command's vocabulary (npm run bench:compare): rows of the table, what one
// side returns for a row, and how per-pair figures become a ratio with a spread and a verdict.
// No I/O here. A ratio is always "normalised": ≥ 1.0 means tarantype is as good or better
// (tarantype ÷ Tarantool for figures where higher is better, Tarantool ÷ tarantype where lower
// is), and the table states which of the two each row uses. A figure a side could not produce
// is a Missing with the reason, never a number.

export type Side = 'tarantool' | 'tarantype';

/** What a side could not measure, and why (shown in the table instead of a figure). */
export interface Missing {
  readonly missing: string;
}

export type Figure = number | Missing;

export const isMissing = (figure: Figure | undefined): figure is Missing | undefined =>
  figure === undefined || typeof figure !== 'number';

/** Where the target of a row is set. */
export type Target =
  /** The normalised ratio (≥ 1.0 = tarantype as good or better) must be ≥ `min`. */
  | { readonly kind: 'ratio'; readonly min: number; readonly text: string }
  /** tarantype's own figure must be ≤ `max` (e.g. p99 during a snapshot ÷ p99 without). */
  | { readonly kind: 'own'; readonly max: number; readonly text: string }
  | { readonly kind: 'none'; readonly text: string };

export interface RowSpec {
  /** Stable key (JSON, tests). */
  readonly id: string;
  /** What is measured, as the table shows it. */
  readonly workload: string;
  readonly unit: string;
  readonly better: 'higher' | 'lower';
  readonly target: Target;
}

/** Issue 14's targets. */
export const TARGETS = {
  throughput: { kind: 'ratio', min: 1, text: '≥ 1.00× Tarantool' },
  time: { kind: 'ratio', min: 1, text: '≤ 1.00× Tarantool' },
  cpu: { kind: 'ratio', min: 1, text: '≤ 1.00× Tarantool' },
  // ≤ 1.25× Tarantool's bytes is a normalised ratio (Tarantool ÷ tarantype) ≥ 0.8.
  bytes: { kind: 'ratio', min: 0.8, text: '≤ 1.25× Tarantool' },
  snapshotStall: { kind: 'own', max: 2, text: 'tarantype ≤ 2.0× (its own p99 without)' },
} as const satisfies Record<string, Target>;

/**
 * Where a Tarantool target is out of reach in Node, the issue sets a second one: tarantype
 * reaches at least this fraction of the Node ceiling (a minimal Node program doing only the
 * unavoidable work of the path, measured in the same run).
 */
export const CEILING_MIN = 0.8;

/** tarantype against the Node ceiling of its row (rows without a ceiling have none). */
export interface CeilingSummary {
  /** Median of the ceiling's figures over the pairs. */
  readonly figure: Figure;
  /** Median of the per-pair normalised ratios tarantype ÷ ceiling (≥ 1.0 = at the ceiling). */
  readonly ratio: Figure;
  readonly spread?: readonly [number, number];
  readonly ratioPairs: number;
  /** ratio ≥ CEILING_MIN. */
  readonly met: 'yes' | 'no' | Missing;
}

export interface RowSummary {
  readonly tarantype: Figure;
  readonly tarantool: Figure;
  readonly ceiling?: CeilingSummary;
  /** Median of the per-pair normalised ratios. */
  readonly ratio: Figure;
  /** min and max of the per-pair normalised ratios. */
  readonly spread?: readonly [number, number];
  /** How many pairs gave a ratio. */
  readonly ratioPairs: number;
  readonly met: 'yes' | 'no' | Missing;
}

export interface RowResult extends RowSpec {
  /** One figure per pair, in run order. */
  readonly tarantypeRuns: readonly Figure[];
  readonly tarantoolRuns: readonly Figure[];
  /** The Node ceiling's figure per pair, for rows that have one. */
  readonly ceilingRuns?: readonly Figure[];
  readonly summary: RowSummary;
}

/** "tarantype ÷ Tarantool" or "Tarantool ÷ tarantype": the direction that makes ≥ 1.0 good. */
export function ratioDirection(row: Pick<RowSpec, 'better'>): string {
  return row.better === 'higher' ? 'tarantype ÷ Tarantool' : 'Tarantool ÷ tarantype';
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The median of a side's figures over the pairs, or the first reason when none was measured. */
function sideFigure(runs: readonly Figure[]): Figure {
  const values = runs.filter((f): f is number => typeof f === 'number');
  if (values.length > 0) return median(values);
  const reason = runs.find((f): f is Missing => typeof f !== 'number');
  return reason ?? { missing: 'not run' };
}

/** Per-pair normalised ratios of `ours` against `theirs` (pairs where both are positive). */
function pairRatios(
  row: Pick<RowSpec, 'better'>,
  ours: readonly Figure[],
  theirs: readonly Figure[],
): number[] {
  const ratios: number[] = [];
  for (let pair = 0; pair < Math.max(ours.length, theirs.length); pair++) {
    const a = ours[pair];
    const b = theirs[pair];
    // A ratio needs two positive figures of the same pair (a 0 ms lag read at millisecond
    // resolution, or 0 CPU ticks in a short run, is a true figure, but makes no ratio).
    if (typeof a !== 'number' || typeof b !== 'number' || !(a > 0) || !(b > 0)) continue;
    ratios.push(row.better === 'higher' ? a / b : b / a);
  }
  return ratios;
}

const spreadOf = (ratios: readonly number[]): [number, number] | undefined =>
  ratios.length > 0 ? [Math.min(...ratios), Math.max(...ratios)] : undefined;

export function summariseCeiling(
  row: Pick<RowSpec, 'better'>,
  tarantypeRuns: readonly Figure[],
  ceilingRuns: readonly Figure[],
): CeilingSummary {
  const figure = sideFigure(ceilingRuns);
  const ratios = pairRatios(row, tarantypeRuns, ceilingRuns);
  const ratio: Figure =
    ratios.length > 0
      ? median(ratios)
      : { missing: isMissing(figure) ? 'no ceiling figure' : 'no pair with both figures' };
  const spread = spreadOf(ratios);
  return {
    figure,
    ratio,
    ...(spread === undefined ? {} : { spread }),
    ratioPairs: ratios.length,
    met: isMissing(ratio) ? { missing: 'no ratio' } : ratio >= CEILING_MIN ? 'yes' : 'no',
  };
}

export function summarise(
  row: RowSpec,
  tarantypeRuns: readonly Figure[],
  tarantoolRuns: readonly Figure[],
  ceilingRuns?: readonly Figure[],
): RowSummary {
  const tarantype = sideFigure(tarantypeRuns);
  const tarantool = sideFigure(tarantoolRuns);
  const ratios = pairRatios(row, tarantypeRuns, tarantoolRuns);
  let ratio: Figure;
  if (ratios.length > 0) ratio = median(ratios);
  else if (isMissing(tarantool)) ratio = { missing: 'no Tarantool figure' };
  else if (isMissing(tarantype)) ratio = { missing: 'no tarantype figure' };
  else ratio = { missing: 'a figure ≤ 0: no ratio' };
  const spread = spreadOf(ratios);
  let met: RowSummary['met'];
  const target = row.target;
  if (target.kind === 'none') met = { missing: 'no target' };
  else if (target.kind === 'own')
    met = isMissing(tarantype)
      ? { missing: 'not measured' }
      : tarantype <= target.max
        ? 'yes'
        : 'no';
  else met = isMissing(ratio) ? { missing: 'no ratio' } : ratio >= target.min ? 'yes' : 'no';
  return {
    tarantype,
    tarantool,
    ...(ceilingRuns === undefined
      ? {}
      : { ceiling: summariseCeiling(row, tarantypeRuns, ceilingRuns) }),
    ratio,
    ...(spread === undefined ? {} : { spread }),
    ratioPairs: ratios.length,
    met,
  };
}
