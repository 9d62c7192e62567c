// Console output in Tarantool's style: every result is a YAML document ("---", one "- value"
// item per returned value, "..."), errors as "- error: <message>". Layer: apps/server.
// The emitter follows libyaml's (which Tarantool's console uses) rule for rule, so output is
// byte for byte Tarantool's: its scalar analysis (when a string may be plain, single- or
// double-quoted), line folding at 80 columns, indentless sequences under mapping keys, empty
// collections in flow style ([] and {}), and Tarantool's own rules on top (strings that read as
// numbers, booleans or null are quoted; strings inside flow collections are always quoted;
// integral numbers print as integers, others as %.14g).
// Style: in 'lua' mode (the Lua console, EVAL of the Lua console) collections print in block
// style unless marked flow (tuples, box.info.vclock, __serialize = 'seq'/'map'); in 'js' mode
// (the JavaScript console) arrays of scalars short enough for one line print in flow style.
// It does not parse YAML; tests parse its output back with the `yaml` package.

/** Collections that print in flow style ([1, 'a'], {1: 5}) whatever the mode. */
export const FLOW_STYLE = new WeakSet<object>();
/** Collections that print in block style even in 'js' mode. */
export const BLOCK_STYLE = new WeakSet<object>();

export type YamlMode = 'lua' | 'js';

const BEST_WIDTH = 80;
const BEST_INDENT = 2;

function isMap(value: unknown): value is Record<string, unknown> | Map<unknown, unknown> {
  return (
    value instanceof Map ||
    (typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      !(value instanceof Uint8Array))
  );
}

function entries(
  value: Record<string, unknown> | Map<unknown, unknown>,
): Array<[unknown, unknown]> {
  if (value instanceof Map) return [...value];
  // Integer-like keys of plain objects are Lua number keys (box.info.replication {1: …}).
  return Object.entries(value).map(([k, v]) => [
    /^(?:0|[1-9]\d{0,14})$/.test(k) ? Number(k) : k,
    v,
  ]);
}

/** C's printf("%.14g"), as Tarantool prints a non-integral number. */
export function formatNumber(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Number.POSITIVE_INFINITY) return 'inf';
  if (x === Number.NEGATIVE_INFINITY) return '-inf';
  if (Number.isInteger(x) && Math.abs(x) < 2 ** 63) return BigInt(x).toString();
  const [mantissa, exponentText] = x.toExponential(13).split('e') as [string, string];
  const exponent = Number(exponentText);
  const strip = (s: string) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (exponent < -4 || exponent >= 14) {
    const sign = exponent < 0 ? '-' : '+';
    return `${strip(mantissa)}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  return strip(x.toFixed(13 - exponent));
}

/** LuaJIT's tonumber() accepts it: Tarantool quotes such strings so they read back as strings. */
function looksLikeNumber(s: string): boolean {
  return /^[+-]?(?:inf|infinity|nan|0x[0-9a-f]*\.?[0-9a-f]*(?:p[+-]?\d+)?|0b[01]+|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)$/i.test(
    s,
  );
}

interface ScalarAnalysis {
  multiline: boolean;
  flowPlainAllowed: boolean;
  blockPlainAllowed: boolean;
  singleQuotedAllowed: boolean;
}

const isBreak = (c: string) =>
  c === '\r' || c === '\n' || c === '\u0085' || c === '\u2028' || c === '\u2029';
const isBlankOrEnd = (c: string | undefined) =>
  c === undefined || c === ' ' || c === '\t' || isBreak(c) || c === '\0';

function isPrintable(c: string): boolean {
  const code = c.codePointAt(0)!;
  return (
    code === 0x0a ||
    (code >= 0x20 && code <= 0x7e) ||
    code === 0x85 ||
    (code >= 0xa0 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd && code !== 0xfeff) ||
    (code >= 0x10000 && code <= 0x10ffff)
  );
}

/** libyaml's yaml_emitter_analyze_scalar. */
function analyze(chars: readonly string[]): ScalarAnalysis {
  if (chars.length === 0)
    return {
      multiline: false,
      flowPlainAllowed: false,
      blockPlainAllowed: true,
      singleQuotedAllowed: true,
    };
  let flowIndicators = false;
  let blockIndicators = false;
  const head = chars.slice(0, 3).join('');
  if (head === '---' || head === '...') {
    flowIndicators = true;
    blockIndicators = true;
  }
  let lineBreaks = false;
  let special = false;
  let leadingSpace = false;
  let leadingBreak = false;
  let trailingSpace = false;
  let trailingBreak = false;
  let breakSpace = false;
  let spaceBreak = false;
  let previousSpace = false;
  let previousBreak = false;
  let precededByWhitespace = true;
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    const followedByWhitespace = isBlankOrEnd(chars[i + 1]);
    if (i === 0) {
      if ('#,[]{}&*!|>\'"%@`'.includes(c)) {
        flowIndicators = true;
        blockIndicators = true;
      }
      if (c === '?' || c === ':') {
        flowIndicators = true;
        if (followedByWhitespace) blockIndicators = true;
      }
      if (c === '-' && followedByWhitespace) {
        flowIndicators = true;
        blockIndicators = true;
      }
    } else {
      if (',?[]{}'.includes(c)) flowIndicators = true;
      if (c === ':') {
        flowIndicators = true;
        if (followedByWhitespace) blockIndicators = true;
      }
      if (c === '#' && precededByWhitespace) {
        flowIndicators = true;
        blockIndicators = true;
      }
    }
    if (!isPrintable(c)) special = true;
    if (isBreak(c)) lineBreaks = true;
    if (c === ' ') {
      if (i === 0) leadingSpace = true;
      if (i === chars.length - 1) trailingSpace = true;
      if (previousBreak) breakSpace = true;
      previousSpace = true;
      previousBreak = false;
    } else if (isBreak(c)) {
      if (i === 0) leadingBreak = true;
      if (i === chars.length - 1) trailingBreak = true;
      if (previousSpace) spaceBreak = true;
      previousSpace = false;
      previousBreak = true;
    } else {
      previousSpace = false;
      previousBreak = false;
    }
    precededByWhitespace = isBlankOrEnd(c);
  }
  let flowPlainAllowed = true;
  let blockPlainAllowed = true;
  let singleQuotedAllowed = true;
  if (leadingSpace || leadingBreak || trailingSpace || trailingBreak) {
    flowPlainAllowed = false;
    blockPlainAllowed = false;
  }
  if (breakSpace) {
    flowPlainAllowed = false;
    blockPlainAllowed = false;
    singleQuotedAllowed = false;
  }
  if (spaceBreak || special) {
    flowPlainAllowed = false;
    blockPlainAllowed = false;
    singleQuotedAllowed = false;
  }
  if (lineBreaks) {
    flowPlainAllowed = false;
    blockPlainAllowed = false;
  }
  if (flowIndicators) flowPlainAllowed = false;
  if (blockIndicators) blockPlainAllowed = false;
  return { multiline: lineBreaks, flowPlainAllowed, blockPlainAllowed, singleQuotedAllowed };
}

const ESCAPES: Record<string, string> = {
  '\0': '0',
  '\x07': 'a',
  '\b': 'b',
  '\t': 't',
  '\n': 'n',
  '\x0b': 'v',
  '\f': 'f',
  '\r': 'r',
  '\x1b': 'e',
  '"': '"',
  '\\': '\\',
  '\u0085': 'N',
  '\u00a0': '_',
  '\u2028': 'L',
  '\u2029': 'P',
};

/** A libyaml emitter reduced to what the console writes: one document of JS values. */
class Emitter {
  out = '';
  column = 0;
  indent = -1;
  flowLevel = 0;
  whitespace = true;
  indention = true;
  private readonly indents: number[] = [];

  constructor(private readonly mode: YamlMode) {}

  private put(text: string): void {
    this.out += text;
    this.column += [...text].length;
  }

  private putBreak(): void {
    this.out += '\n';
    this.column = 0;
  }

  writeIndicator(
    indicator: string,
    needWhitespace: boolean,
    isWhitespace: boolean,
    isIndention: boolean,
  ): void {
    if (needWhitespace && !this.whitespace) this.put(' ');
    this.put(indicator);
    this.whitespace = isWhitespace;
    this.indention = this.indention && isIndention;
  }

  writeIndent(): void {
    const indent = Math.max(this.indent, 0);
    if (!this.indention || this.column > indent || (this.column === indent && !this.whitespace))
      this.putBreak();
    while (this.column < indent) this.put(' ');
    this.whitespace = true;
    this.indention = true;
  }

  private increaseIndent(flow: boolean, indentless: boolean): void {
    this.indents.push(this.indent);
    if (this.indent < 0) this.indent = flow ? BEST_INDENT : 0;
    else if (!indentless) this.indent += BEST_INDENT;
  }

  private popIndent(): void {
    this.indent = this.indents.pop()!;
  }

  private isFlow(value: unknown[] | Record<string, unknown> | Map<unknown, unknown>): boolean {
    if (FLOW_STYLE.has(value)) return true;
    if (this.mode === 'lua' || BLOCK_STYLE.has(value) || !Array.isArray(value)) return false;
    // The JavaScript console: a short array of scalars and arrays reads best on one line.
    return !value.some((v) => isMap(v)) && approximateFlowWidth(value) <= BEST_WIDTH;
  }

  /** Emits a node; `mappingContext`: a mapping's value; `simpleKey`: a mapping's key. */
  node(value: unknown, mappingContext: boolean, simpleKey: boolean): void {
    if (Array.isArray(value)) {
      if (this.flowLevel > 0 || value.length === 0 || this.isFlow(value)) this.flowSequence(value);
      else this.blockSequence(value, mappingContext);
    } else if (isMap(value)) {
      const items = entries(value);
      if (this.flowLevel > 0 || items.length === 0 || this.isFlow(value)) this.flowMapping(items);
      else this.blockMapping(items);
    } else this.scalar(value, simpleKey);
  }

  private blockSequence(items: readonly unknown[], mappingContext: boolean): void {
    this.increaseIndent(false, mappingContext && !this.indention);
    for (const item of items) {
      this.writeIndent();
      this.writeIndicator('-', true, false, true);
      this.node(item, false, false);
    }
    this.popIndent();
  }

  private blockMapping(items: ReadonlyArray<[unknown, unknown]>): void {
    this.increaseIndent(false, false);
    for (const [k, v] of items) {
      this.writeIndent();
      if (isSimpleKey(k)) {
        this.node(k, false, true);
        this.writeIndicator(':', false, false, false);
      } else {
        this.writeIndicator('?', true, false, true);
        this.node(k, false, false);
        this.writeIndent();
        this.writeIndicator(':', true, false, true);
      }
      this.node(v, true, false);
    }
    this.popIndent();
  }

  private flowSequence(items: readonly unknown[]): void {
    this.writeIndicator('[', true, true, false);
    this.increaseIndent(true, false);
    this.flowLevel++;
    let first = true;
    for (const item of items) {
      if (!first) this.writeIndicator(',', false, false, false);
      if (this.column > BEST_WIDTH) this.writeIndent();
      this.node(item, false, false);
      first = false;
    }
    this.flowLevel--;
    this.popIndent();
    this.writeIndicator(']', false, false, false);
  }

  private flowMapping(items: ReadonlyArray<[unknown, unknown]>): void {
    this.writeIndicator('{', true, true, false);
    this.increaseIndent(true, false);
    this.flowLevel++;
    let first = true;
    for (const [k, v] of items) {
      if (!first) this.writeIndicator(',', false, false, false);
      if (this.column > BEST_WIDTH) this.writeIndent();
      if (isSimpleKey(k)) {
        this.node(k, false, true);
        this.writeIndicator(':', false, false, false);
      } else {
        this.writeIndicator('?', true, false, false);
        this.node(k, false, false);
        this.writeIndicator(':', true, false, false);
      }
      this.node(v, true, false);
      first = false;
    }
    this.flowLevel--;
    this.popIndent();
    this.writeIndicator('}', false, false, false);
  }

  private scalar(value: unknown, simpleKey: boolean): void {
    this.increaseIndent(true, false);
    if (typeof value === 'string') this.string(value, simpleKey);
    else if (value instanceof Uint8Array) {
      this.writeIndicator('!!binary', true, false, false);
      this.plain([...Buffer.from(value).toString('base64')], !simpleKey);
    } else this.plain([...scalarText(value)], false);
    this.popIndent();
  }

  private string(value: string, simpleKey: boolean): void {
    const chars = [...value];
    const analysis = analyze(chars);
    // Tarantool asks for single quotes inside flow collections and for strings that would
    // read back as null, a boolean or a number; libyaml decides the rest.
    let style: 'plain' | 'single' | 'double' =
      this.flowLevel > 0 ||
      value === 'null' ||
      value === '~' ||
      /^(?:true|false|yes|no)$/.test(value) ||
      looksLikeNumber(value)
        ? 'single'
        : 'plain';
    if (simpleKey && analysis.multiline) style = 'double';
    if (style === 'plain') {
      if (
        (this.flowLevel > 0 && !analysis.flowPlainAllowed) ||
        (this.flowLevel === 0 && !analysis.blockPlainAllowed)
      )
        style = 'single';
      if (chars.length === 0 && (this.flowLevel > 0 || simpleKey)) style = 'single';
    }
    if (style === 'single' && !analysis.singleQuotedAllowed) style = 'double';
    if (style === 'plain') this.plain(chars, !simpleKey);
    else if (style === 'single') this.singleQuoted(chars, !simpleKey);
    else this.doubleQuoted(chars, !simpleKey);
  }

  private plain(chars: readonly string[], allowBreaks: boolean): void {
    if (!this.whitespace && (chars.length > 0 || this.flowLevel > 0)) this.put(' ');
    let spaces = false;
    for (let i = 0; i < chars.length; i++) {
      const c = chars[i]!;
      if (c === ' ') {
        if (allowBreaks && !spaces && this.column > BEST_WIDTH && chars[i + 1] !== ' ')
          this.writeIndent();
        else this.put(c);
        spaces = true;
      } else {
        this.put(c);
        this.indention = false;
        spaces = false;
      }
    }
    this.whitespace = false;
    this.indention = false;
  }

  private singleQuoted(chars: readonly string[], allowBreaks: boolean): void {
    this.writeIndicator("'", true, false, false);
    let spaces = false;
    let breaks = false;
    for (let i = 0; i < chars.length; i++) {
      const c = chars[i]!;
      if (c === ' ') {
        if (
          allowBreaks &&
          !spaces &&
          this.column > BEST_WIDTH &&
          i !== 0 &&
          i !== chars.length - 1 &&
          chars[i + 1] !== ' '
        )
          this.writeIndent();
        else this.put(c);
        spaces = true;
      } else if (isBreak(c)) {
        if (!breaks && c === '\n') this.putBreak();
        this.putBreak();
        this.indention = true;
        breaks = true;
      } else {
        if (breaks) this.writeIndent();
        this.put(c === "'" ? "''" : c);
        this.indention = false;
        spaces = false;
        breaks = false;
      }
    }
    if (breaks) this.writeIndent();
    this.writeIndicator("'", false, false, false);
    this.whitespace = false;
    this.indention = false;
  }

  private doubleQuoted(chars: readonly string[], allowBreaks: boolean): void {
    this.writeIndicator('"', true, false, false);
    let spaces = false;
    for (let i = 0; i < chars.length; i++) {
      const c = chars[i]!;
      const code = c.codePointAt(0)!;
      if (!isPrintable(c) || c === '\ufeff' || isBreak(c) || c === '"' || c === '\\') {
        const escaped = ESCAPES[c];
        if (escaped !== undefined) this.put(`\\${escaped}`);
        else if (code <= 0xff) this.put(`\\x${code.toString(16).toUpperCase().padStart(2, '0')}`);
        else if (code <= 0xffff) this.put(`\\u${code.toString(16).toUpperCase().padStart(4, '0')}`);
        else this.put(`\\U${code.toString(16).toUpperCase().padStart(8, '0')}`);
        spaces = false;
      } else if (c === ' ') {
        if (
          allowBreaks &&
          !spaces &&
          this.column > BEST_WIDTH &&
          i !== 0 &&
          i !== chars.length - 1
        ) {
          this.writeIndent();
          if (chars[i + 1] === ' ') this.put('\\');
        } else this.put(c);
        spaces = true;
      } else {
        this.put(c);
        spaces = false;
      }
    }
    this.writeIndicator('"', false, false, false);
    this.whitespace = false;
    this.indention = false;
  }
}

function isSimpleKey(key: unknown): boolean {
  if (Array.isArray(key) || isMap(key)) return false;
  const text = typeof key === 'string' ? key : scalarText(key);
  return [...text].length <= 128 && !/[\r\n\u0085\u2028\u2029]/.test(text);
}

function scalarText(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number') return formatNumber(value);
  if (typeof value === 'bigint') return value.toString();
  return String(value);
}

function approximateFlowWidth(value: unknown): number {
  if (Array.isArray(value))
    return value.reduce<number>((n, v) => n + approximateFlowWidth(v) + 2, 2);
  if (typeof value === 'string') return value.length + 2;
  return scalarText(value).length;
}

/**
 * Turns a value into plain data the formatter can print: class instances with toJSON() give
 * their summary (BoxSpace, BoxIndex, Vclock …), other class instances print as `<Name>`,
 * and a cycle prints as '<circular>'. Style marks carry over to the copies.
 */
export function plain(value: unknown, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'function') {
    // A callable with a summary (the JS console's box.info) prints it; others print like Lua's.
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return plain(toJSON.call(value), seen);
    return `function: ${value.name === '' ? 'anonymous' : value.name}`;
  }
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  if (seen.has(value)) return '<circular>';
  seen.add(value);
  try {
    const copy = plainCopy(value, seen);
    if (typeof copy === 'object' && copy !== null) {
      if (FLOW_STYLE.has(value)) FLOW_STYLE.add(copy);
      if (BLOCK_STYLE.has(value)) BLOCK_STYLE.add(copy);
    }
    return copy;
  } finally {
    seen.delete(value);
  }
}

function plainCopy(value: object, seen: WeakSet<object>): unknown {
  if (Array.isArray(value)) return value.map((v) => plain(v, seen));
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [k, plain(v, seen)]));
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) {
    const toJSON = (value as { toJSON?: () => unknown }).toJSON;
    if (typeof toJSON === 'function') return plain(toJSON.call(value), seen);
    if (value instanceof Error) return value.message;
    return `<${value.constructor?.name ?? 'object'}>`;
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v, seen)]));
}

/** One YAML document of the values, without the trailing newline after "...". */
function document(values: readonly unknown[], mode: YamlMode): string {
  const emitter = new Emitter(mode);
  emitter.writeIndicator('---', true, false, false);
  const list = values.map((v) => plain(v));
  BLOCK_STYLE.add(list);
  if (list.length === 0) {
    emitter.writeIndent();
  } else emitter.node(list, false, false);
  emitter.indent = -1;
  emitter.writeIndent();
  emitter.writeIndicator('...', true, false, false);
  return emitter.out;
}

/**
 * Formats the values returned by one console command, as the interactive console prints
 * them (the document, then an empty line).
 */
export function formatResults(values: readonly unknown[], mode: YamlMode = 'js'): string {
  return `${document(values, mode)}\n\n`;
}

/** The document alone ("---\n…\n...\n"), as Tarantool's admin console and EVAL of it send it. */
export function formatDocument(values: readonly unknown[], mode: YamlMode = 'js'): string {
  return `${document(values, mode)}\n`;
}

export function formatError(message: unknown, mode: YamlMode = 'js'): string {
  return formatResults([{ error: message }], mode);
}
