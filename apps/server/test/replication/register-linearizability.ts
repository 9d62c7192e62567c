// A linearizability checker for a single read/write register over a recorded history, in the
// style of Knossos (Wing & Gong's search with Lowe's memoization). Layer: apps/server tests
// (the partition campaign checks the register workload of one master with it).
//
// History: each client operation is an `invoke` event followed by at most one completion of the
// same process: `ok` (it took effect, with the value a read returned), `fail` (it certainly did
// not take effect) or `info` (unknown: a timeout or a lost connection). A process issues one
// operation at a time; after an `info` it must not be used again (the recorder gives the client
// a new process id), so each process's operations are a sequence in real time and at most its
// last one is open. An `info` operation is open forever: it may take effect at any point after
// its invocation, or never. A `fail` operation and a read without `ok` constrain nothing and
// are left out.
//
// Search: a state is (how many operations of each process are linearized, the register's
// value). An operation may be linearized next when it was invoked before every not yet
// linearized operation completed (otherwise that one must come first); a read needs the value
// it returned. Depth-first over states with an explicit stack (no recursion limit), each state
// visited once; the history is linearizable when a state has every `ok` operation linearized.
// Bounded: at most `statesMax` states are explored, beyond which the answer is "unknown"
// (never a silent "linearizable").

export type RegisterOperation =
  | { readonly f: 'write'; readonly value: number }
  | { readonly f: 'read'; readonly value?: number | null };

export interface HistoryEvent {
  readonly process: number;
  readonly type: 'invoke' | 'ok' | 'fail' | 'info';
  readonly f: 'read' | 'write';
  /** invoke of a write: the value written; ok of a read: the value read (null: no value). */
  readonly value?: number | null;
}

export type LinearizabilityResult =
  | { readonly valid: true; readonly states: number }
  | {
      readonly valid: false;
      readonly states: number;
      /** The furthest point the search reached: operations linearized before it got stuck. */
      readonly linearized: number;
      /** The operation (as "process p: read 3") that no order could place. */
      readonly stuckAt: string;
    }
  | { readonly valid: 'unknown'; readonly states: number };

interface Op {
  readonly process: number;
  readonly f: 'read' | 'write';
  readonly value: number | null;
  /** Event index of the invocation and of the completion (Infinity when open). */
  readonly invokedAt: number;
  readonly completedAt: number;
  readonly ok: boolean;
}

const STATES_MAX_DEFAULT = 2_000_000;

/** Pairs invocations with completions; throws on a malformed history (a recorder bug). */
function operations(history: readonly HistoryEvent[]): Op[][] {
  const open = new Map<number, { event: HistoryEvent; at: number }>();
  const done = new Set<number>();
  const byProcess = new Map<number, Op[]>();
  const add = (op: Op) => {
    let list = byProcess.get(op.process);
    if (list === undefined) byProcess.set(op.process, (list = []));
    list.push(op);
  };
  history.forEach((event, at) => {
    if (done.has(event.process))
      throw new Error(`process ${event.process} used after an info completion (event ${at})`);
    if (event.type === 'invoke') {
      if (open.has(event.process))
        throw new Error(`process ${event.process} invoked twice without completion (event ${at})`);
      open.set(event.process, { event, at });
      return;
    }
    const invoked = open.get(event.process);
    if (invoked === undefined)
      throw new Error(`completion without invocation for process ${event.process} (event ${at})`);
    if (invoked.event.f !== event.f)
      throw new Error(`process ${event.process}: ${event.f} completes a ${invoked.event.f}`);
    open.delete(event.process);
    if (event.type === 'fail') return;
    if (event.type === 'info') {
      done.add(event.process);
      if (event.f === 'write')
        add({
          process: event.process,
          f: 'write',
          value: invoked.event.value ?? null,
          invokedAt: invoked.at,
          completedAt: Number.POSITIVE_INFINITY,
          ok: false,
        });
      return;
    }
    add({
      process: event.process,
      f: event.f,
      value: (event.f === 'write' ? invoked.event.value : event.value) ?? null,
      invokedAt: invoked.at,
      completedAt: at,
      ok: true,
    });
  });
  // Invoked and never completed: open forever, as an info.
  for (const [process, { event, at }] of open)
    if (event.f === 'write')
      add({
        process,
        f: 'write',
        value: event.value ?? null,
        invokedAt: at,
        completedAt: Number.POSITIVE_INFINITY,
        ok: false,
      });
  return [...byProcess.values()];
}

const describe = (op: Op) => `process ${op.process}: ${op.f} ${op.value ?? 'nil'}`;

/**
 * Checks a register history starting from `initial` (null: the key does not exist yet, which
 * a read reports as null).
 */
export function checkRegister(
  history: readonly HistoryEvent[],
  initial: number | null = null,
  statesMax = STATES_MAX_DEFAULT,
): LinearizabilityResult {
  const processes = operations(history);
  const okCount = processes.map((ops) => ops.filter((o) => o.ok).length);
  const okTotal = okCount.reduce((a, b) => a + b, 0);
  const seen = new Set<string>();
  const stack: Array<{ prefix: number[]; value: number | null; depth: number }> = [
    { prefix: processes.map(() => 0), value: initial, depth: 0 },
  ];
  let best = { depth: -1, stuck: '' };
  while (stack.length > 0) {
    const state = stack.pop()!;
    const key = `${state.prefix.join(',')}|${state.value}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (seen.size > statesMax) return { valid: 'unknown', states: seen.size };
    let okDone = 0;
    let horizon = Number.POSITIVE_INFINITY;
    for (let p = 0; p < processes.length; p++) {
      const next = processes[p]![state.prefix[p]!];
      okDone += Math.min(state.prefix[p]!, okCount[p]!);
      if (next !== undefined && next.completedAt < horizon) horizon = next.completedAt;
    }
    if (okDone === okTotal) return { valid: true, states: seen.size };
    for (let p = 0; p < processes.length; p++) {
      const op = processes[p]![state.prefix[p]!];
      if (op === undefined || op.invokedAt > horizon) continue;
      if (op.f === 'read' && op.value !== state.value) {
        if (state.depth > best.depth) best = { depth: state.depth, stuck: describe(op) };
        continue;
      }
      const prefix = state.prefix.slice();
      prefix[p]! += 1;
      stack.push({
        prefix,
        value: op.f === 'write' ? op.value : state.value,
        depth: state.depth + 1,
      });
    }
    if (state.depth > best.depth) {
      // Stuck here with nothing placeable: name the operation that completes first.
      const first = processes
        .map((ops, p) => ops[state.prefix[p]!])
        .filter((o): o is Op => o?.ok === true)
        .sort((a, b) => a.completedAt - b.completedAt)[0];
      best = { depth: state.depth, stuck: first === undefined ? '?' : describe(first) };
    }
  }
  return { valid: false, states: seen.size, linearized: best.depth, stuckAt: best.stuck };
}
