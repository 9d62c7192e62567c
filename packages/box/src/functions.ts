// Functions callable over iproto CALL: the application's own (registered from the --init
// module, like global Lua functions in a Tarantool instance file) and the box API by its Lua
// names (lua-api.ts). Layer: box.
// A JS function returns one value, or several with `multi(a, b)` (Lua's `return a, b`); the
// iproto layer then encodes CALL results as they are and wraps them as tuples for CALL_16.
import type { Box } from './box.js';

/** Several return values (Lua's `return a, b, c`). */
export class MultiReturn {
  readonly values: readonly unknown[];
  constructor(values: readonly unknown[]) {
    this.values = values;
  }
}

export function multi(...values: unknown[]): MultiReturn {
  return new MultiReturn(values);
}

export interface CallContext {
  readonly box: Box;
  /** The calling user's id (0 guest, 1 admin …). */
  readonly userId: number;
  readonly userName: string;
}

export type AppFunction = (this: CallContext, ...args: unknown[]) => unknown;

export class FunctionRegistry {
  private readonly functions = new Map<string, AppFunction>();

  /** Registers `name` (e.g. 'myfunc' or 'app.stats'); replaces an earlier registration. */
  register(name: string, fn: AppFunction): void {
    if (typeof name !== 'string' || name === '')
      throw new TypeError('function name must be a non-empty string');
    if (typeof fn !== 'function') throw new TypeError(`function '${name}' must be a function`);
    this.functions.set(name, fn);
  }

  unregister(name: string): boolean {
    return this.functions.delete(name);
  }

  get(name: string): AppFunction | undefined {
    return this.functions.get(name);
  }

  names(): string[] {
    return [...this.functions.keys()];
  }
}

/** A function's result as the list of return values. */
export function returnValues(result: unknown): unknown[] {
  if (result instanceof MultiReturn) return [...result.values];
  if (result === undefined) return [];
  return [result];
}
