// Helpers of the HTTP endpoint tests: GET over node:http, a parser of Prometheus' text format
// (enough of it to check names, labels and values), and the endpoint port of a cluster node.
import { request } from 'node:http';
import type { Node } from './replication/cluster.js';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

export function httpGet(port: number, path: string, method = 'GET'): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Scrape {
  readonly samples: readonly Sample[];
  /** # TYPE of each metric family. */
  readonly types: ReadonlyMap<string, string>;
  /** Every sample name (with _bucket/_sum/_count of histograms). */
  readonly names: ReadonlySet<string>;
  /** The one sample of `name` whose labels include `labels`; throws if none or several. */
  get(name: string, labels?: Record<string, string>): number;
  /** Samples of `name` whose labels include `labels`. */
  all(name: string, labels?: Record<string, string>): Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the text format; throws on a line it cannot read (so a malformed export fails). */
export function parseMetrics(text: string): Scrape {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ')) continue;
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types.set(name!, type!);
      continue;
    }
    const m = SAMPLE.exec(line);
    if (m === null) throw new Error(`unreadable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!;
    const value = m[3] === '+Inf' ? Infinity : Number(m[3]);
    if (Number.isNaN(value)) throw new Error(`not a number in: ${line}`);
    samples.push({ name: m[1]!, labels, value });
  }
  const all = (name: string, labels: Record<string, string> = {}) =>
    samples.filter(
      (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
    );
  return {
    samples,
    types,
    names: new Set(samples.map((s) => s.name)),
    all,
    get(name, labels = {}) {
      const found = all(name, labels);
      if (found.length !== 1)
        throw new Error(
          `${found.length} samples of ${name}${JSON.stringify(labels)}; have: ${samples
            .filter((s) => s.name === name)
            .map((s) => JSON.stringify(s.labels))
            .join(' ')}`,
        );
      return found[0]!.value;
    },
  };
}

export async function scrape(port: number): Promise<Scrape> {
  const answer = await httpGet(port, '/metrics');
  if (answer.status !== 200) throw new Error(`/metrics: ${answer.status} ${answer.body}`);
  return parseMetrics(answer.body);
}

/** The HTTP port a cluster node logged for its current run ("http: bound to 127.0.0.1:N"). */
export async function httpPort(node: Node, timeoutMs = 10_000): Promise<number> {
  const start = node.log.lastIndexOf('=== start ');
  const m = await node.waitLog(/http: bound to 127\.0\.0\.1:(\d+)/, timeoutMs, start);
  return Number(m[1]);
}

/** The cfg that makes a cluster node serve HTTP on an ephemeral loopback port (config `http:`). */
export const HTTP_CFG = { http: '127.0.0.1:0' } as const;
