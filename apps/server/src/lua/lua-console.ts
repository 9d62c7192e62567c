// A Lua console session: Tarantool's console semantics over the instance's LuaRuntime. Layer:
// apps/server. Each line is tried as an expression first ("return <line>"), then as a
// statement; a statement that is not complete yet (an open `box.cfg{`) waits for more lines,
// as Tarantool's console does. Results print as Tarantool's console prints them (YAML in 'lua'
// mode). A session holds only its pending lines: globals live in the shared Lua state.
import { formatResults } from '../yaml-output.js';
import { formatOutcome, type LuaRuntime } from './lua-runtime.js';

const HELP = [
  "Lua 5.4 with Tarantool's box API; results print as Tarantool's console prints them.",
  'box.cfg{listen = 3301}, box.cfg.listen, box.info, box.info.vclock, box.snapshot()',
  "box.schema.space.create('tester'), s:create_index('primary', {}), s:insert{1, 'a'}",
  "s:select({0}, {iterator = 'GE'}), s:get{1}, for _, t in s:pairs() do print(t[1]) end",
  "box.schema.user.create('u', {password = 'p'}), box.schema.user.grant('u', 'read', 'universe')",
  "box.once('key', function() … end), require('fiber').sleep(0.1), require('log').info('…')",
  '\\set language js switches to the JavaScript console; os.exit() stops the instance',
];

/** Bounds a multi-line statement, so an unterminated string cannot grow without limit. */
const PENDING_LINES_MAX = 1000;

export class LuaConsoleSession {
  private pending: string[] = [];

  constructor(private readonly runtime: LuaRuntime) {}

  /** True while a statement spans lines (the prompt becomes Tarantool's "         > "). */
  get incomplete(): boolean {
    return this.pending.length > 0;
  }

  /** Evaluates one input line; returns the YAML to print, or '' while the statement is open. */
  async evaluate(line: string): Promise<string> {
    if (this.pending.length === 0 && line.trim() === '') return '';
    if (this.pending.length === 0 && line.trim() === 'help') return formatResults([HELP], 'lua');
    this.pending.push(line);
    const code = this.pending.join('\n');
    const outcome = await this.runtime.console(code);
    if (outcome.kind === 'incomplete' && this.pending.length < PENDING_LINES_MAX) return '';
    this.pending = [];
    return formatOutcome(outcome);
  }
}
