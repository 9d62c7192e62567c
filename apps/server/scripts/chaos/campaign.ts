// The contract every reliability campaign of `npm run chaos` fulfils (issue 15). Layer:
// apps/server scripts. A campaign is seeded, bounded (it stops by itself) and reports the same
// columns, so the runner (scripts/chaos.ts) prints one table for all of them and the README's
// Reliability section quotes it. Seeded subsets of the same code run inside `npm test`.

export interface CampaignOptions {
  /** Base seed; round i uses seed + i. Printed, so any failure replays with SEED=. */
  readonly seed: number;
  /** How many rounds (kill -9 rounds, power-loss rounds, partitions, frames, schedules…). */
  readonly rounds: number;
  /** Wall-clock bound: the campaign stops after the round in progress when it is exceeded. */
  readonly deadlineMs: number;
  /** One line of progress (stderr); called at least every few seconds on long work. */
  readonly progress: (line: string) => void;
}

export interface CampaignResult {
  readonly campaign: string;
  readonly seed: number;
  /** Rounds actually run (≤ the requested rounds when the deadline stopped it). */
  readonly rounds: number;
  /** Faults injected: kills, power losses, partitions, mutated frames, I/O errors… */
  readonly faults: number;
  /** Acknowledged writes whose presence (or absence, where promised) was checked. */
  readonly acknowledgedChecked: number;
  /** Acknowledged writes missing where CONSISTENCY.md promises them: must be 0. */
  readonly lost: number;
  /** Members whose data or vclock differ after healing: must be 0. */
  readonly diverged: number;
  /** Starts that failed (a server that would not come back up): must be 0. */
  readonly failedStarts: number;
  /** One line per failure: what broke, and the SEED= command that replays it. */
  readonly failures: readonly string[];
}

export interface Campaign {
  readonly name: string;
  /** What one round is, for the table ("kill -9 of a writer under load"). */
  readonly round: string;
  /** The rounds the full `npm run chaos` asks for (issue 15's floor). */
  readonly fullRounds: number;
  run(options: CampaignOptions): Promise<CampaignResult>;
}

/** What one round reports: the table's columns and its failures (each with its replay line). */
export interface RoundResult {
  readonly faults: number;
  readonly acknowledgedChecked: number;
  readonly lost: number;
  readonly diverged: number;
  readonly failedStarts: number;
  readonly failures: readonly string[];
}

/** A progress line at least this often on long work. */
const PROGRESS_INTERVAL_MS = 3000;

/**
 * The loop of a campaign: round i runs with seed + i until the rounds or the deadline are used
 * up; the columns are summed; each failure is reported at once, and `describe(totals)` gives a
 * progress line at least every PROGRESS_INTERVAL_MS and after the last round.
 */
export async function runRounds(
  name: string,
  options: CampaignOptions,
  round: (seed: number) => Promise<RoundResult>,
  describe: (totals: CampaignResult, elapsedMs: number) => string,
): Promise<CampaignResult> {
  const started = performance.now();
  const failures: string[] = [];
  const totals = {
    campaign: name,
    seed: options.seed,
    rounds: 0,
    faults: 0,
    acknowledgedChecked: 0,
    lost: 0,
    diverged: 0,
    failedStarts: 0,
    failures,
  };
  let lastProgress = started;
  while (totals.rounds < options.rounds && performance.now() - started < options.deadlineMs) {
    const result = await round((options.seed + totals.rounds) >>> 0);
    totals.rounds++;
    totals.faults += result.faults;
    totals.acknowledgedChecked += result.acknowledgedChecked;
    totals.lost += result.lost;
    totals.diverged += result.diverged;
    totals.failedStarts += result.failedStarts;
    failures.push(...result.failures);
    for (const failure of result.failures) options.progress(failure);
    const now = performance.now();
    if (now - lastProgress > PROGRESS_INTERVAL_MS || totals.rounds === options.rounds) {
      lastProgress = now;
      options.progress(describe(totals, now - started));
    }
  }
  return totals;
}
