// A console session in either language: Lua (the default, as in Tarantool) or JavaScript,
// switched with Tarantool's `\set language lua|js`. Layer: apps/server. One session per
// interactive terminal or admin console connection; it holds the session's language and its
// pending multi-line statement, while both languages' globals are the instance's.
import type { ConsoleEvaluator } from './console.js';
import { LuaConsoleSession } from './lua/lua-console.js';
import type { LuaRuntime } from './lua/lua-runtime.js';
import { formatResults } from './yaml-output.js';

export type ConsoleLanguage = 'lua' | 'js';

export const CONSOLE_LANGUAGES: readonly ConsoleLanguage[] = ['lua', 'js'];

/** What the interactive and admin consoles drive. */
export interface ConsoleSession {
  readonly language: ConsoleLanguage;
  /** True while a statement spans lines. */
  readonly incomplete: boolean;
  /** The text to print for one input line ('' while a statement is incomplete). */
  evaluate(line: string): Promise<string>;
}

export class LanguageConsoleSession implements ConsoleSession {
  private readonly lua: LuaConsoleSession;

  constructor(
    /** The JavaScript console (a new one once an unconfigured instance has its box). */
    private readonly js: () => ConsoleEvaluator,
    runtime: LuaRuntime,
    public language: ConsoleLanguage = 'lua',
  ) {
    this.lua = new LuaConsoleSession(runtime);
  }

  get incomplete(): boolean {
    return this.language === 'lua' && this.lua.incomplete;
  }

  async evaluate(line: string): Promise<string> {
    const command = /^\s*\\set\s+language\s+(\S+)\s*$/.exec(line);
    if (command !== null && !this.incomplete) {
      const language = command[1] === 'javascript' ? 'js' : command[1];
      if (!CONSOLE_LANGUAGES.includes(language as ConsoleLanguage))
        return formatResults([{ error: `Unsupported language: ${command[1]} (lua or js)` }], 'lua');
      this.language = language as ConsoleLanguage;
      return formatResults([true], 'lua');
    }
    return this.language === 'lua' ? this.lua.evaluate(line) : this.js().evaluate(line);
  }
}

/** Tarantool's text-protocol greeting line: 63 characters and a newline. */
const greetingLine = (text: string) => `${text.padEnd(63, ' ').slice(0, 63)}\n`;

/**
 * What an admin console connection starts with: Tarantool's own two lines for the Lua console
 * (tarantoolctl and tt connect check them), a tarantype line for the JavaScript one.
 */
export function adminGreeting(language: ConsoleLanguage): string {
  const first =
    language === 'lua' ? 'Tarantool 2.6.0 (Lua console)' : 'tarantype 0.1.0 (JavaScript console)';
  return greetingLine(first) + greetingLine("type 'help' for interactive help");
}

/** The greeting the interactive console prints: which language is active and how to get help. */
export function consoleGreeting(language: ConsoleLanguage): string {
  const name = language === 'lua' ? 'Lua console' : 'JavaScript console';
  return `tarantype 0.1.0 (${name}, Tarantool 2.6.0 protocol)\ntype 'help' for interactive help, '\\set language js' or 'lua' to switch\n`;
}
