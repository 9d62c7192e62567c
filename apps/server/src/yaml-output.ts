// Console output in Tarantool's style: every result is a YAML document ("---", one "- value"
// line per returned value, "..."), tuples and short arrays in flow style ([1, 'a']), maps in
// block style, errors as "- error: <message>". Layer: apps/server.

function scalar(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') {
    if (
      value === '' ||
      /^[\s]|[\s]$|[:#,[\]{}&*!|>'"%@`\n]|^(?:true|false|null|~|-?\d[\d.e+-]*)$/i.test(value)
    )
      return `'${value.replace(/'/g, "''")}'`;
    return value;
  }
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return `!!binary ${Buffer.from(value).toString('base64')}`;
  return String(value);
}

function isPlainArray(value: unknown): value is unknown[] {
  return Array.isArray(value);
}

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
  return value instanceof Map ? [...value] : Object.entries(value);
}

/** Keys: integer-like strings print as numbers ({1: 5}), as Tarantool prints Lua tables. */
function key(k: unknown): string {
  return typeof k === 'string' && /^\d+$/.test(k) ? k : scalar(k);
}

/** Inside flow collections Tarantool single-quotes every string: [1, 'a']. */
function flow(value: unknown): string {
  if (isPlainArray(value)) return `[${value.map(flow).join(', ')}]`;
  if (isMap(value))
    return `{${entries(value)
      .map(([k, v]) => `${key(k)}: ${flow(v)}`)
      .join(', ')}}`;
  if (typeof value === 'string') return `'${value.replace(/'/g, "''")}'`;
  return scalar(value);
}

/** Flow style fits when the value is an array of scalars/arrays short enough for one line. */
function fitsFlow(value: unknown): boolean {
  if (!isPlainArray(value)) return false;
  const text = flow(value);
  return text.length <= 80 && !value.some((v) => isMap(v));
}

function block(value: unknown, indent: string, lines: string[], prefix: string): void {
  if (isPlainArray(value) && !fitsFlow(value)) {
    if (value.length === 0) {
      lines.push(`${prefix}[]`);
      return;
    }
    let first = true;
    for (const item of value) {
      block(
        item,
        `${indent}  `,
        lines,
        first && prefix.endsWith('- ') ? `${prefix}- ` : `${indent}- `,
      );
      first = false;
    }
    return;
  }
  if (isMap(value) && entries(value).length > 0) {
    let first = true;
    for (const [k, v] of entries(value)) {
      const head = first && prefix.trim() === '-' ? prefix : first ? prefix : indent;
      const label = `${head}${key(k)}:`;
      if ((isPlainArray(v) && !fitsFlow(v)) || (isMap(v) && entries(v).length > 0)) {
        lines.push(label);
        block(v, `${indent}  `, lines, `${indent}  ${isPlainArray(v) ? '- ' : ''}`);
      } else {
        lines.push(`${label} ${isMap(v) ? '{}' : typeof v === 'string' ? scalar(v) : flow(v)}`);
      }
      first = false;
    }
    return;
  }
  lines.push(
    `${prefix}${isMap(value) ? '{}' : typeof value === 'string' ? scalar(value) : flow(value)}`,
  );
}

/**
 * Turns a value into plain data the formatter can print: class instances with toJSON() give
 * their summary (BoxSpace, BoxIndex, Vclock …), other class instances print as `<Name>`,
 * and a cycle prints as '<circular>'.
 */
export function plain(value: unknown, seen = new WeakSet<object>()): unknown {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  if (seen.has(value)) return '<circular>';
  seen.add(value);
  try {
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
  } finally {
    seen.delete(value);
  }
}

/** Formats the values returned by one console command. */
export function formatResults(values: readonly unknown[]): string {
  const lines = ['---'];
  for (const value of values) block(plain(value), '  ', lines, '- ');
  lines.push('...', '');
  return `${lines.join('\n')}\n`;
}

export function formatError(message: string): string {
  return `---\n- error: ${scalar(message)}\n...\n\n`;
}
