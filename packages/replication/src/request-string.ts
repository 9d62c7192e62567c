// A row as 2.6's request_str prints it in "error applying row: {…}" (xrow.c request_snprint,
// values as msgpuck's mp_snprint): {type: 'INSERT', replica_id: 2, lsn: 1, space_id: 512,
// index_id: 0, tuple: [1, "data from m2"]}. Layer: replication, no I/O. Never throws: a body
// that does not decode prints as <failed to format request>, as 2.6 does.
import {
  DmlBody,
  decode,
  decodeDmlBody,
  ErrorCode,
  IprotoType,
  isDmlType,
  MsgpackReader,
  type Xrow,
} from '@tarantype/core';

const TYPE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(IprotoType).map(([name, code]) => [code, name]),
);

/** mp_snprint's rendering of one value. */
function snprint(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  if (value instanceof Uint8Array) return JSON.stringify(Buffer.from(value).toString('latin1'));
  if (Array.isArray(value)) return `[${value.map(snprint).join(', ')}]`;
  if (value instanceof Map)
    return `{${[...value].map(([k, v]) => `${snprint(k)}: ${snprint(v)}`).join(', ')}}`;
  if (typeof value === 'object')
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}: ${snprint(v)}`)
      .join(', ')}}`;
  return String(value);
}

/** "{type: 'INSERT', replica_id: R, lsn: L, space_id: S, index_id: I[, key: …][, tuple: …][, ops: …]}". */
export function formatRequest(row: Xrow): string {
  try {
    const body = new DmlBody();
    if (row.body.length > 0 && isDmlType(row.type)) {
      const error = decodeDmlBody(new MsgpackReader(row.body), row.type, body);
      // A missing mandatory key still prints what is there; a mistyped value does not decode.
      if (error !== undefined && error.code !== ErrorCode.ER_MISSING_REQUEST_FIELD) throw error;
    }
    const { spaceId, indexId } = body;
    const key = body.key === undefined ? undefined : decode(body.key);
    const tuple = body.tuple === undefined ? undefined : decode(body.tuple);
    const ops = body.ops === undefined ? undefined : decode(body.ops);
    let text = `{type: '${TYPE_NAMES[row.type] ?? 'unknown'}', replica_id: ${row.replica_id}, lsn: ${row.lsn}, space_id: ${spaceId}, index_id: ${indexId}`;
    if (key !== undefined) text += `, key: ${snprint(key)}`;
    if (tuple !== undefined) text += `, tuple: ${snprint(tuple)}`;
    if (ops !== undefined) text += `, ops: ${snprint(ops)}`;
    return `${text}}`;
  } catch {
    return '<failed to format request>';
  }
}
