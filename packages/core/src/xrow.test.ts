import { describe, expect, it } from 'vitest';
import { IprotoType } from './iproto-constants.js';
import { encode, MsgpackReader, MsgpackWriter } from './msgpack.js';
import { decodeXrow, encodeXrow, encodeXrowHeader, makeXrow } from './xrow.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('xrow', () => {
  it('encodes a single-statement row as the replication stream does (spec §5.5)', () => {
    const row = makeXrow(IprotoType.REPLACE);
    row.replica_id = 1;
    row.lsn = 54;
    row.tsn = 54;
    row.timestamp = 1.5;
    const writer = new MsgpackWriter();
    encodeXrowHeader(writer, row);
    expect(hex(writer.toBytes())).toBe('84000302010336' + '04cb3ff8000000000000');
  });

  it('writes TSN on every row of a multi-statement transaction and FLAGS on the last (spec §5.6)', () => {
    const encodeRow = (lsn: number, commit: boolean) => {
      const row = makeXrow(IprotoType.INSERT);
      row.replica_id = 1;
      row.lsn = lsn;
      row.tsn = 37;
      row.is_commit = commit;
      const writer = new MsgpackWriter();
      encodeXrowHeader(writer, row);
      return hex(writer.toBytes());
    };
    expect(encodeRow(37, false)).toBe('84000202010325' + '0800');
    expect(encodeRow(39, true)).toBe('85000202010327' + '0802' + '0901');
  });

  it('round-trips header and raw body, and decodes absent TSN as a whole transaction', () => {
    const row = makeXrow(
      IprotoType.INSERT,
      encode(
        new Map<number, unknown>([
          [0x10, 512],
          [0x21, [1, 'a']],
        ]),
      ),
    );
    row.lsn = 7;
    row.tsn = 5;
    row.is_commit = false;
    row.group_id = 1;
    row.sync = 3;
    const writer = new MsgpackWriter();
    encodeXrow(writer, row);
    const back = decodeXrow(new MsgpackReader(writer.toBytes()));
    expect({ ...back, body: hex(back.body) }).toEqual({ ...row, body: hex(row.body) });
    const plain = decodeXrow(new MsgpackReader(Buffer.from('8200020309', 'hex')));
    expect([plain.lsn, plain.tsn, plain.is_commit]).toEqual([9, 9, true]);
  });

  it('skips unknown header keys and rejects a TSN larger than the LSN', () => {
    const row = decodeXrow(new MsgpackReader(Buffer.from('830002034a05a178', 'hex')));
    expect(row.lsn).toBe(74);
    expect(() => decodeXrow(new MsgpackReader(Buffer.from('8300020301080a', 'hex')))).toThrow(
      /TSN/,
    );
  });
});
