// The status page on the instance's HTTP port: GET / (one HTML page, inline CSS and JS, no
// framework), GET /api/status (the replica-set model of ../status/model.ts, collected from this
// instance in-process plus every peer it names over iproto) and GET /api/lag-history (its
// upstreams' lag, one sample a second, the last ten minutes: lag-history.ts). Layer:
// apps/server (HttpRoutes of server.ts). The page polls both every REFRESH_MS and draws the
// replica set as an SVG picture: a node per member (data-id, data-uuid, data-status up/down,
// data-box-status), an arrow per replication link coloured by its status with the lag as its
// label, each member's vclock, a lag chart per upstream and the last conflict. Peers are asked
// with the credentials of this instance's box.cfg.replication URIs; a peer whose box.info that
// user may not CALL is shown up, with what this instance knows of it.
// Colours (CSS variables, README): --status-up #2e9e44 (up, follow), --status-sync #e0a100
// (sync, connecting, orphan, loading), --status-down #d62f2f (down, stopped, disconnected),
// --status-unknown #8a939e (a member with no address to ask and no link to it).
import type { Instance } from '../instance.js';
import {
  collectStatus,
  localProbe,
  remoteProbe,
  STATUS_TIMEOUT_MS_DEFAULT,
} from '../status/collect.js';
import type { ReplicaSetStatus } from '../status/model.js';
import { LagHistory } from './lag-history.js';
import type { HttpRoute } from './routes.js';

/** How often the page polls /api/status and /api/lag-history. */
export const REFRESH_MS = 1500;

/** The exact colours of the page (also in its CSS variables and the README). */
export const STATUS_COLORS = {
  up: '#2e9e44',
  sync: '#e0a100',
  down: '#d62f2f',
  unknown: '#8a939e',
} as const;

export interface StatusPage {
  readonly routes: HttpRoute[];
  readonly history: LagHistory;
  /** Stops the lag sampler (it also stops by itself when the box closes). */
  stop(): void;
}

/** The page, its API and a running lag sampler for `instance`. */
export function createStatusPage(
  instance: Instance,
  options: { sampleIntervalMs?: number; timeoutMs?: number } = {},
): StatusPage {
  const history = new LagHistory();
  history.start(() => (instance.configured ? instance.box : undefined), options.sampleIntervalMs);
  const timeoutMs = options.timeoutMs ?? STATUS_TIMEOUT_MS_DEFAULT;
  // Concurrent page views share one collection: each opens a connection per peer.
  let collecting: Promise<ReplicaSetStatus> | undefined;
  const collect = (): Promise<ReplicaSetStatus> => {
    collecting ??= collectStatus(
      {
        address: instance.listenAddress ?? 'this instance',
        probe: localProbe(() => instance.box),
      },
      (uri) => remoteProbe(uri, { timeoutMs }),
      { timeoutMs },
    ).finally(() => {
      collecting = undefined;
    });
    return collecting;
  };
  const json = (res: Parameters<HttpRoute['handle']>[1], code: number, body: unknown) => {
    res.writeHead(code, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(`${JSON.stringify(body)}\n`);
  };
  const routes: HttpRoute[] = [
    {
      method: 'GET',
      path: '/',
      handle(_req, res) {
        res.writeHead(200, {
          'Content-Type': 'text/html; charset=utf-8',
          'Cache-Control': 'no-store',
        });
        res.end(STATUS_PAGE_HTML);
      },
    },
    {
      method: 'GET',
      path: '/api/status',
      async handle(_req, res) {
        if (!instance.configured) return json(res, 503, { error: 'Please call box.cfg{} first' });
        json(res, 200, await collect());
      },
    },
    {
      method: 'GET',
      path: '/api/lag-history',
      handle(_req, res) {
        json(res, 200, {
          interval_ms: options.sampleIntervalMs ?? 1000,
          upstreams: history.snapshot(),
        });
      },
    },
  ];
  return { routes, history, stop: () => history.stop() };
}

/** server.ts's registration: the routes of a status page of `instance`. */
export function statusPageRoutes(instance: Instance): HttpRoute[] {
  return createStatusPage(instance).routes;
}

const PAGE_SCRIPT = `
'use strict';
const SVG = 'http://www.w3.org/2000/svg';
const SYNCING = ['sync', 'connect', 'auth', 'initial_join', 'final_join', 'loading'];
function linkClass(status) {
  if (status === 'follow') return 'up';
  return SYNCING.includes(status) ? 'sync' : 'down';
}
function nodeClass(m) {
  if (m.status === 'down' || m.status === 'unknown') return m.status;
  return m.box_status === 'orphan' || m.box_status === 'loading' ? 'sync' : 'up';
}
function keyOf(m) { return m.uuid !== null ? m.uuid : 'address ' + m.address; }
function vclockText(v) {
  if (v === null) return '-';
  return '{' + Object.keys(v).sort((a, b) => a - b).map((k) => k + ': ' + v[k]).join(', ') + '}';
}
function lagText(lag) { return lag === null ? '-' : lag.toFixed(3) + ' s'; }
function bytesText(b) {
  if (b === null) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0; let v = b;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? b + ' B' : v.toFixed(1) + ' ' + units[i];
}
function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const k in attrs) e.setAttribute(k, String(attrs[k]));
  if (text !== undefined) e.textContent = text;
  return e;
}
function html(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls !== undefined) e.className = cls;
  return e;
}
const R = 34;
function positions(members, w, h) {
  const pos = new Map();
  const n = members.length;
  const cx = w / 2; const cy = h / 2 + 6; const rx = w / 2 - R - 110; const ry = h / 2 - R - 44;
  members.forEach((m, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(n, 1);
    pos.set(keyOf(m), n === 1 ? [cx, cy] : [cx + rx * Math.cos(a), cy + ry * Math.sin(a)]);
  });
  return pos;
}
function links(status) {
  const byUuid = new Map(status.members.filter((m) => m.uuid !== null).map((m) => [m.uuid, m]));
  const queried = status.members.find((m) => m.source === 'queried');
  const out = [];
  for (const m of status.members) {
    for (const u of m.upstreams) {
      const from = byUuid.get(u.uuid);
      if (from !== undefined) out.push({ from, to: m, status: u.status, lag: u.lag });
    }
  }
  // Members that told nothing themselves: the queried member's relay to them.
  for (const m of status.members) {
    if (m.upstreams.length > 0 || m === queried || m.downstream === null || queried === undefined) continue;
    if (m.status === 'up' && m.source === 'contacted' && m.error === null) continue;
    out.push({ from: queried, to: m, status: m.downstream.status, lag: m.downstream.lag });
  }
  return out;
}
function drawPicture(status) {
  const svg = document.getElementById('picture');
  const w = 760; const h = 460;
  svg.replaceChildren();
  const defs = el('defs', {});
  for (const c of ['up', 'sync', 'down']) {
    const marker = el('marker', { id: 'arrow-' + c, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
    marker.appendChild(el('path', { d: 'M0,0 L10,5 L0,10 z', class: 'fill-' + c }));
    defs.appendChild(marker);
  }
  svg.appendChild(defs);
  const pos = positions(status.members, w, h);
  for (const link of links(status)) {
    const a = pos.get(keyOf(link.from)); const b = pos.get(keyOf(link.to));
    if (a === undefined || b === undefined || a === b) continue;
    const dx = b[0] - a[0]; const dy = b[1] - a[1]; const len = Math.hypot(dx, dy);
    const ux = dx / len; const uy = dy / len;
    // Two members replicating both ways: each arrow keeps to its own side.
    const ox = -uy * 7; const oy = ux * 7;
    const x1 = a[0] + ux * (R + 4) + ox; const y1 = a[1] + uy * (R + 4) + oy;
    const x2 = b[0] - ux * (R + 6) + ox; const y2 = b[1] - uy * (R + 6) + oy;
    const c = linkClass(link.status);
    const g = el('g', { class: 'link', 'data-from': link.from.id ?? '', 'data-to': link.to.id ?? '', 'data-status': link.status });
    g.appendChild(el('line', { x1, y1, x2, y2, class: 'stroke-' + c, 'marker-end': 'url(#arrow-' + c + ')' }));
    const label = link.status === 'follow' ? lagText(link.lag) : link.status;
    g.appendChild(el('text', { x: (x1 + x2) / 2 + ox * 2.2, y: (y1 + y2) / 2 + oy * 2.2 + 4, class: 'link-label', 'text-anchor': 'middle' }, label));
    svg.appendChild(g);
  }
  for (const m of status.members) {
    const [x, y] = pos.get(keyOf(m));
    const g = el('g', { class: 'node', 'data-id': m.id ?? '', 'data-uuid': m.uuid ?? '', 'data-status': m.status, 'data-box-status': m.box_status ?? '', 'data-address': m.address ?? '' });
    g.appendChild(el('circle', { cx: x, cy: y, r: R, class: 'fill-' + nodeClass(m) + (m.source === 'queried' ? ' queried' : '') }));
    g.appendChild(el('text', { x, y: y + 6, class: 'node-id', 'text-anchor': 'middle' }, m.id === null ? '?' : String(m.id)));
    // Labels outside the ring: above the nodes at the top, below the others.
    const above = y < h / 2 - 10;
    g.appendChild(el('text', { x, y: above ? y - R - 24 : y + R + 16, class: 'node-label', 'text-anchor': 'middle' }, (m.address ?? 'no address') + ' · ' + (m.status === 'up' ? (m.box_status ?? 'up') : m.status)));
    g.appendChild(el('text', { x, y: above ? y - R - 9 : y + R + 31, class: 'node-vclock', 'text-anchor': 'middle' }, vclockText(m.vclock)));
    svg.appendChild(g);
  }
}
function drawTable(status) {
  const body = document.getElementById('members');
  body.replaceChildren();
  for (const m of status.members) {
    const tr = document.createElement('tr');
    tr.dataset.id = m.id ?? '';
    const cells = [
      (m.id ?? '-') + (m.source === 'queried' ? ' *' : ''), m.uuid ?? '-', m.address ?? '-',
      m.status + (m.box_status !== null && m.status === 'up' ? ' (' + m.box_status + ')' : ''),
      m.source === 'queried' ? 'self' : (m.upstream?.status ?? '-'),
      m.source === 'queried' ? 'self' : (m.downstream?.status ?? '-'),
      lagText(m.lag), vclockText(m.vclock), m.source === 'queried' ? '-' : bytesText(m.wal_held_bytes), m.error ?? '',
    ];
    cells.forEach((text, i) => {
      const td = html('td', text);
      if (i === 3) { const dot = html('span', '', 'dot fill-bg-' + nodeClass(m)); td.prepend(dot); }
      tr.appendChild(td);
    });
    body.appendChild(tr);
  }
  const conflicts = document.getElementById('conflicts');
  conflicts.replaceChildren();
  for (const m of status.members) {
    const c = m.last_conflict;
    if (c === null) continue;
    const when = typeof c.time === 'number' ? new Date(c.time * 1000).toISOString() : '';
    const li = html('li', 'member ' + m.id + ', from ' + c.upstream_id + ' (row ' + c.replica_id + ':' + c.lsn + ', ' + c.type + ' in ' + c.space + '): ' + c.message + (c.skipped ? ' — skipped' : '') + ' ' + when);
    li.dataset.id = m.id ?? '';
    conflicts.appendChild(li);
  }
  if (conflicts.children.length === 0) conflicts.appendChild(html('li', 'none', 'muted'));
}
function drawCharts(history) {
  const box = document.getElementById('charts');
  box.replaceChildren();
  if (history.upstreams.length === 0) { box.appendChild(html('p', 'this instance has no upstream', 'muted')); return; }
  for (const u of history.upstreams) {
    const fig = html('figure'); fig.className = 'chart'; fig.dataset.id = String(u.id);
    const last = u.samples[u.samples.length - 1];
    fig.appendChild(html('figcaption', 'from ' + u.id + ' (' + (u.peer ?? '?') + '): ' + (last === undefined ? '-' : last[1] === null ? last[2] : lagText(last[1]))));
    const w = 280; const h = 70;
    const svg = el('svg', { width: w, height: h, viewBox: '0 0 ' + w + ' ' + h });
    svg.appendChild(el('rect', { x: 0, y: 0, width: w, height: h, class: 'chart-bg' }));
    // The last minute at least, ten minutes at most (what the ring keeps).
    const now = Date.now() / 1000;
    const span = Math.min(600, Math.max(60, u.samples.length === 0 ? 0 : now - u.samples[0][0]));
    const max = Math.max(0.01, ...u.samples.map((s) => s[1] ?? 0));
    let path = ''; let pen = false;
    for (const [t, lag] of u.samples) {
      if (lag === null) { pen = false; continue; }
      const x = w - ((now - t) / span) * w; const y = h - 4 - (lag / max) * (h - 14);
      path += (pen ? ' L' : ' M') + x.toFixed(1) + ',' + y.toFixed(1); pen = true;
    }
    for (const [t, lag, s] of u.samples)
      if (lag === null) svg.appendChild(el('rect', { x: w - ((now - t) / span) * w, y: h - 4, width: 2, height: 4, class: 'fill-' + linkClass(s) }));
    if (path !== '') svg.appendChild(el('path', { d: path, class: 'chart-line' }));
    svg.appendChild(el('text', { x: 4, y: 11, class: 'chart-axis' }, 'max ' + max.toFixed(3) + ' s · last ' + (span >= 120 ? Math.round(span / 60) + ' min' : Math.round(span) + ' s')));
    fig.appendChild(svg);
    box.appendChild(fig);
  }
}
async function refresh() {
  const state = document.getElementById('state');
  try {
    const [status, history] = await Promise.all([
      fetch('/api/status', { cache: 'no-store' }).then((r) => r.json()),
      fetch('/api/lag-history', { cache: 'no-store' }).then((r) => r.json()),
    ]);
    if (status.error !== undefined) { state.textContent = status.error; return; }
    document.getElementById('title').textContent = 'replica set ' + (status.replicaset_uuid ?? '-');
    const up = status.members.filter((m) => m.status === 'up').length;
    state.textContent = 'as seen from ' + status.queried + ' (id ' + status.queried_id + ') at ' + new Date(status.time * 1000).toLocaleTimeString() + ': ' + up + ' of ' + status.members.length + ' up';
    drawPicture(status);
    drawTable(status);
    drawCharts(history);
    document.body.dataset.updated = String(status.time);
  } catch (error) {
    state.textContent = 'cannot reach this instance: ' + error.message;
  }
}
refresh();
setInterval(refresh, ${REFRESH_MS});
`;

const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>tarantype: replica set status</title>
<style>
:root {
  --status-up: ${STATUS_COLORS.up};
  --status-sync: ${STATUS_COLORS.sync};
  --status-down: ${STATUS_COLORS.down};
  --status-unknown: ${STATUS_COLORS.unknown};
  --ink: #1d232a; --muted: #6b7480; --paper: #ffffff; --rule: #e3e6ea;
}
body { font: 14px/1.4 system-ui, sans-serif; color: var(--ink); background: var(--paper); margin: 20px 28px; }
h1 { font-size: 18px; margin: 0 0 2px; } h2 { font-size: 15px; margin: 22px 0 8px; }
#state, .muted { color: var(--muted); }
#picture { border: 1px solid var(--rule); border-radius: 6px; background: #fafbfc; }
.fill-up { fill: var(--status-up); } .fill-sync { fill: var(--status-sync); } .fill-down { fill: var(--status-down); } .fill-unknown { fill: var(--status-unknown); }
.stroke-up { stroke: var(--status-up); } .stroke-sync { stroke: var(--status-sync); } .stroke-down { stroke: var(--status-down); } .stroke-unknown { stroke: var(--status-unknown); }
.link line { stroke-width: 3; }
.link-label { font: 12px ui-monospace, monospace; fill: var(--ink); paint-order: stroke; stroke: #fafbfc; stroke-width: 4px; }
circle.queried { stroke: var(--ink); stroke-width: 3; }
.node-id { font: bold 20px system-ui, sans-serif; fill: #fff; }
.node-label { font: 12px system-ui, sans-serif; fill: var(--ink); }
.node-vclock { font: 12px ui-monospace, monospace; fill: var(--muted); }
table { border-collapse: collapse; } th, td { text-align: left; padding: 3px 10px 3px 0; border-bottom: 1px solid var(--rule); }
td { font: 12px ui-monospace, monospace; white-space: nowrap; }
.dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 6px; vertical-align: -1px; }
.fill-bg-up { background: var(--status-up); } .fill-bg-sync { background: var(--status-sync); } .fill-bg-down { background: var(--status-down); } .fill-bg-unknown { background: var(--status-unknown); }
#charts { display: flex; flex-wrap: wrap; gap: 14px; }
.chart { margin: 0; } .chart figcaption { font-size: 12px; color: var(--muted); }
.chart-bg { fill: #fafbfc; stroke: var(--rule); } .chart-line { fill: none; stroke: var(--status-up); stroke-width: 2; }
.chart-axis { font: 10px system-ui, sans-serif; fill: var(--muted); }
.legend span { margin-right: 14px; }
</style>
</head>
<body>
<h1 id="title">replica set</h1>
<div id="state">loading…</div>
<h2>Replication</h2>
<svg id="picture" width="760" height="460" viewBox="0 0 760 460" role="img" aria-label="replica set"></svg>
<div class="legend muted"><span><span class="dot fill-bg-up"></span>up, follow</span><span><span class="dot fill-bg-sync"></span>sync, connecting, orphan</span><span><span class="dot fill-bg-down"></span>down, stopped, disconnected</span><span><span class="dot fill-bg-unknown"></span>unknown (no address, no link)</span></div>
<h2>Members</h2>
<table><thead><tr><th>id</th><th>uuid</th><th>address</th><th>status</th><th>upstream</th><th>downstream</th><th>lag</th><th>vclock</th><th>WAL held</th><th></th></tr></thead><tbody id="members"></tbody></table>
<h2>Lag of this instance's upstreams</h2>
<div id="charts"></div>
<h2>Last conflict</h2>
<ul id="conflicts"></ul>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
