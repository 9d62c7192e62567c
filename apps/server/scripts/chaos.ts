// The chaos runner (issue 15): `npm run chaos` runs every campaign of scripts/chaos/ (each module
// there exporting `campaign`, see chaos/campaign.ts; new campaigns need no change here), one
// after another, and prints one markdown table on stdout. Progress goes to stderr.
//   npm run chaos                                   (full: each campaign's fullRounds)
//   SEED=123 ROUNDS=1 CAMPAIGNS=power-loss npm run chaos          (replay one round)
//   cd apps/server && node_modules/.bin/tsx scripts/chaos.ts      (without the build)
// Environment: SEED (base seed; default random, printed), ROUNDS (rounds of every campaign),
// CAMPAIGNS (comma-separated names), DEADLINE_S (per campaign, at most 600: every campaign stops
// by itself within 10 minutes), CHAOS_HANDLES=1 (say where each handle left open at the end was
// created). Exits 1 when any campaign lost an acknowledged write, diverged, failed a start or
// reported a failure.
import { createHook } from 'node:async_hooks';
import { readdir } from 'node:fs/promises';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Campaign, CampaignResult } from './chaos/campaign.js';

const DEADLINE_MAX_S = 600;

/** The handle types getActiveResourcesInfo names (async_hooks spells them in capitals). */
const HANDLE_TYPES = new Set([
  'Timeout',
  'TCPWRAP',
  'TCPSERVERWRAP',
  'PIPEWRAP',
  'PROCESSWRAP',
  'FSREQCALLBACK',
  'FILEHANDLE',
  'UDPWRAP',
  'SIGNALWRAP',
]);

/** With CHAOS_HANDLES set: where each handle not yet destroyed was created. */
function traceHandles(): (() => string[]) | undefined {
  if (process.env.CHAOS_HANDLES === undefined || process.env.CHAOS_HANDLES === '') return undefined;
  const live = new Map<number, { type: string; stack: string }>();
  createHook({
    init(id, type) {
      if (!HANDLE_TYPES.has(type)) return;
      const stack = (new Error().stack ?? '').split('\n').slice(2);
      // The first frames outside node's own modules say who made it.
      const ours = stack.filter((line) => !/node:|node_modules/.test(line)).slice(0, 4);
      live.set(id, { type, stack: ours.map((l) => l.trim()).join(' < ') });
    },
    destroy(id) {
      live.delete(id);
    },
  }).enable();
  return () => {
    const counts = new Map<string, number>();
    for (const { type, stack } of live.values()) {
      const key = `${type} at ${stack || '(node internals)'}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const sockets = (process as unknown as { _getActiveHandles(): unknown[] })
      ._getActiveHandles()
      .filter(
        (h): h is Socket => h instanceof Socket && h !== process.stdout && h !== process.stderr,
      )
      .map(
        (s) =>
          `socket ${s.localAddress ?? '?'}:${s.localPort ?? '?'} → ${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'} (${s.readyState}${s.destroyed ? ', destroyed' : ''}${s.connecting ? ', connecting' : ''})`,
      );
    return [
      ...[...counts].sort((a, b) => b[1] - a[1]).map(([key, n]) => `${n} × ${key}`),
      ...sockets,
    ];
  };
}

function numberFromEnv(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`${name} must be a non-negative integer`);
  return value;
}

function isCampaign(value: unknown): value is Campaign {
  const c = value as Partial<Campaign> | undefined;
  return (
    typeof c?.name === 'string' &&
    typeof c.round === 'string' &&
    typeof c.fullRounds === 'number' &&
    typeof c.run === 'function'
  );
}

/** Every `campaign` exported by a module of scripts/chaos/, by name. */
export async function discoverCampaigns(
  dir = join(import.meta.dirname, 'chaos'),
): Promise<Campaign[]> {
  const campaigns: Campaign[] = [];
  for (const name of (await readdir(dir)).sort()) {
    if (!name.endsWith('.ts') || name.endsWith('.test.ts') || name.endsWith('.d.ts')) continue;
    const module = (await import(pathToFileURL(join(dir, name)).href)) as { campaign?: unknown };
    if (module.campaign === undefined) continue;
    if (!isCampaign(module.campaign))
      throw new Error(`${name}: 'campaign' does not implement Campaign`);
    campaigns.push(module.campaign);
  }
  const names = new Set<string>();
  for (const c of campaigns) {
    if (names.has(c.name)) throw new Error(`two campaigns are named ${c.name}`);
    names.add(c.name);
  }
  return campaigns;
}

export function formatTable(rows: readonly { result: CampaignResult; seconds: number }[]): string {
  const header = [
    'campaign',
    'rounds',
    'faults injected',
    'acknowledged writes checked',
    'lost',
    'diverged',
    'failed starts',
    'seed',
    'time',
  ];
  const lines = rows.map(({ result: r, seconds }) => [
    r.campaign,
    String(r.rounds),
    String(r.faults),
    String(r.acknowledgedChecked),
    String(r.lost),
    String(r.diverged),
    String(r.failedStarts),
    String(r.seed),
    `${seconds.toFixed(1)} s`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const format = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [format(header), rule, ...lines.map(format)].join('\n');
}

export function failed(result: CampaignResult): boolean {
  return (
    result.lost > 0 || result.diverged > 0 || result.failedStarts > 0 || result.failures.length > 0
  );
}

async function main(): Promise<void> {
  const seed = numberFromEnv('SEED') ?? Math.floor(Math.random() * 2 ** 31);
  const rounds = numberFromEnv('ROUNDS');
  const deadlineS = Math.min(numberFromEnv('DEADLINE_S') ?? DEADLINE_MAX_S, DEADLINE_MAX_S);
  const only = process.env.CAMPAIGNS?.split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  let campaigns = await discoverCampaigns();
  if (only !== undefined && only.length > 0) {
    const unknown = only.filter((n) => !campaigns.some((c) => c.name === n));
    if (unknown.length > 0)
      throw new Error(
        `unknown campaign ${unknown.join(', ')} (have: ${campaigns.map((c) => c.name).join(', ')})`,
      );
    campaigns = campaigns.filter((c) => only.includes(c.name));
  }
  process.stderr.write(
    `chaos: SEED=${seed}${rounds === undefined ? '' : ` ROUNDS=${rounds}`} DEADLINE_S=${deadlineS}, campaigns: ${campaigns.map((c) => c.name).join(', ')}\n`,
  );
  const rows: { result: CampaignResult; seconds: number }[] = [];
  const started = performance.now();
  for (const campaign of campaigns) {
    const begun = performance.now();
    const wanted = rounds ?? campaign.fullRounds;
    process.stderr.write(`\n${campaign.name}: ${wanted} rounds of ${campaign.round}\n`);
    let result: CampaignResult;
    try {
      result = await campaign.run({
        seed,
        rounds: wanted,
        deadlineMs: deadlineS * 1000,
        progress: (line) => {
          const at = ((performance.now() - started) / 1000).toFixed(0);
          process.stderr.write(`[${at} s] ${line}\n`);
        },
      });
    } catch (error) {
      // A campaign that throws has failed as a whole: one row that says so.
      result = {
        campaign: campaign.name,
        seed,
        rounds: 0,
        faults: 0,
        acknowledgedChecked: 0,
        lost: 0,
        diverged: 0,
        failedStarts: 0,
        failures: [`${campaign.name} threw: ${(error as Error).stack ?? String(error)}`],
      };
    }
    rows.push({ result, seconds: (performance.now() - begun) / 1000 });
    if (result.rounds < wanted)
      process.stderr.write(
        `${campaign.name}: the deadline stopped it after ${result.rounds} of ${wanted} rounds\n`,
      );
  }
  process.stdout.write(`\n${formatTable(rows)}\n`);
  const failures = rows.flatMap((r) => r.result.failures);
  if (failures.length > 0)
    process.stdout.write(`\nfailures:\n${failures.map((f) => `- ${f}`).join('\n')}\n`);
  if (rows.some((r) => failed(r.result))) process.exitCode = 1;
}

/** The active resources less this process's own stdout and stderr (a terminal or a pipe). */
function withoutOwnStdio(resources: readonly string[]): string[] {
  const own = [process.stdout, process.stderr].map(
    (stream) => (stream as unknown as { _handle?: object })._handle?.constructor.name,
  );
  const left = [...resources];
  for (const handle of own) {
    const name = handle === 'TTY' ? 'TTYWrap' : handle === 'Pipe' ? 'PipeWrap' : undefined;
    const at = name === undefined ? -1 : left.indexOf(name);
    if (at >= 0) left.splice(at, 1);
  }
  return left;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const handles = traceHandles();
  await main();
  // The table is out: exit now rather than wait for the event loop. A campaign that left a
  // socket or timer open would otherwise keep `npm run chaos` from stopping by itself; say so.
  // Handles a campaign closed last are still closing (libuv runs their close callbacks after
  // node's 'close' events): one short turn of the loop lets them go first.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const open = withoutOwnStdio(process.getActiveResourcesInfo());
  if (open.length > 0)
    process.stderr.write(
      `chaos: ${open.length} handle(s) still open at the end (${[...new Set(open)].join(', ')}): a campaign leaked them\n`,
    );
  if (open.length > 0 && handles !== undefined)
    process.stderr.write(
      `chaos: created at\n${handles()
        .map((l) => `  ${l}`)
        .join('\n')}\n`,
    );
  process.exit();
}
