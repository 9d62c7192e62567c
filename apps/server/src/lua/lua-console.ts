// A Lua console session: Tarantool's console semantics over the instance's LuaRuntime. Layer:
// apps/server. Each line is tried as an expression first ("return <line>"), then as a
// statement; a statement that is not complete yet (an open `box.cfg{`) waits for more lines,
// as Tarantool's console does. Results print as Tarantool's console prints them (YAML in 'lua'
// mode). A session holds only its pending lines: globals live in the shared Lua state.
import { formatOutcome, type LuaRuntime } from './lua-runtime.js';

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
    this.pending.push(line);
    const code = this.pending.join('\n');
    const outcome = await this.runtime.console(code);
    if (outcome.kind === 'incomplete' && this.pending.length < PENDING_LINES_MAX) return '';
    this.pending = [];
    return formatOutcome(outcome);
  }
}
