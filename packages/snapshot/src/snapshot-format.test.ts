import {
  encode,
  encodeXrow,
  IprotoType,
  loadHasher,
  MsgpackReader,
  MsgpackWriter,
  makeXrow,
} from '@tarantype/core';
import { BLOCK_HEADER_SIZE, readBlockHeader } from '@tarantype/wal';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeSnapshotRows,
  decodeSnapshotRowsReference,
  SnapshotBlockBuilder,
  type SnapshotRow,
  SnapshotRows,
  snapshotRowsCapacity,
} from './snapshot-format.js';

const hasher = await loadHasher();
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);

/** The reference encoding: core's encodeXrow of the row FORMAT.md §4 describes. */
function referenceRow(
  spaceId: number,
  groupId: number,
  lsn: number,
  tuple: Uint8Array,
): Uint8Array {
  const body = new MsgpackWriter();
  body.mapHeader(2);
  body.uint(0x10);
  body.uint32Fixed(spaceId);
  body.uint(0x21);
  body.raw(tuple);
  const row = makeXrow(IprotoType.INSERT, body.toBytes());
  row.group_id = groupId;
  row.lsn = lsn;
  row.tsn = lsn;
  const writer = new MsgpackWriter();
  encodeXrow(writer, row);
  return writer.toBytes();
}

function blockOf(rows: Array<[number, number, number, Uint8Array]>, capacity = 16): Uint8Array {
  const builder = new SnapshotBlockBuilder(hasher, capacity);
  for (const [spaceId, groupId, lsn, tuple] of rows) builder.append(spaceId, groupId, lsn, tuple);
  return builder.finish();
}

describe('SnapshotBlockBuilder', () => {
  it('encodes each row exactly as encodeXrow does, for every lsn width and both groups', () => {
    const tuple = encode([1, 'a', 2 ** 40]);
    for (const lsn of [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 40]) {
      for (const groupId of [0, 1]) {
        for (const spaceId of [0, 272, 512, 2 ** 32 - 1]) {
          const block = blockOf([[spaceId, groupId, lsn, tuple]]);
          expect(
            hex(block.subarray(BLOCK_HEADER_SIZE)),
            `lsn ${lsn} group ${groupId} space ${spaceId}`,
          ).toBe(hex(referenceRow(spaceId, groupId, lsn, tuple)));
        }
      }
    }
  });

  it('matches the example in FORMAT.md §4', () => {
    const block = blockOf([[513, 1, 300, encode([1, 'a'])]]);
    expect(hex(block.subarray(BLOCK_HEADER_SIZE))).toBe(
      '830002070103cd012c' + '8210ce0000020121' + '9201a161',
    );
  });

  it('produces a block header the container accepts, growing past its initial capacity', () => {
    const big = encode([1, 'x'.repeat(100_000)]);
    const block = blockOf([
      [512, 0, 0, encode([1])],
      [512, 0, 1, big],
    ]);
    const header = readBlockHeader(block, 0, block.length, hasher);
    expect(header).toMatchObject({
      status: 'block',
      rowCount: 2,
      payloadLength: block.length - BLOCK_HEADER_SIZE,
    });
  });

  it('is reusable after reset()', () => {
    const builder = new SnapshotBlockBuilder(hasher, 64);
    builder.append(512, 0, 0, encode([1]));
    const first = hex(builder.finish());
    builder.reset();
    expect(builder.rowCount).toBe(0);
    expect(builder.payloadBytes).toBe(0);
    builder.append(512, 0, 0, encode([1]));
    expect(hex(builder.finish())).toBe(first);
  });
});

describe('decodeSnapshotRows', () => {
  const reader = new MsgpackReader(new Uint8Array(0));
  const decode = (payload: Uint8Array, count: number): SnapshotRow[] | string => {
    const out = new SnapshotRows(payload, snapshotRowsCapacity(payload.length, count));
    return decodeSnapshotRows(reader, payload, count, out) ?? out.toArray();
  };
  const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
  const header = (value: unknown) =>
    encode(new Map(Object.entries(value as object).map(([k, v]) => [Number(k), v])));

  it('round-trips builder output, tuples as views', () => {
    const tuples = [encode([1, 'a']), encode([2, { b: [1, 2, 3] }]), encode([])];
    const block = blockOf(
      tuples.map((tuple, i) => [600 + i, i % 2, i, tuple] as [number, number, number, Uint8Array]),
    );
    const rows = decode(block.subarray(BLOCK_HEADER_SIZE), 3);
    expect(typeof rows).not.toBe('string');
    expect((rows as SnapshotRow[]).map((r) => [r.spaceId, r.groupId, r.lsn, hex(r.tuple)])).toEqual(
      tuples.map((tuple, i) => [600 + i, i % 2, i, hex(tuple)]),
    );
    expect((rows as SnapshotRow[])[0]!.tuple.buffer).toBe(block.buffer);
  });

  it('accepts any key order, any integer width, and skips unknown header keys (a timestamp)', () => {
    const row = concat(
      header({ 4: 1.5, 0: 2, 3: 1 }),
      encode(
        new Map<number, unknown>([
          [0x21, [7]],
          [0x10, 512],
        ]),
      ),
    );
    expect(decode(row, 1)).toEqual([{ spaceId: 512, groupId: 0, lsn: 1, tuple: encode([7]) }]);
  });

  it.each([
    [
      'a REPLACE row',
      concat(
        header({ 0: 3 }),
        encode(
          new Map<number, unknown>([
            [0x10, 512],
            [0x21, [1]],
          ]),
        ),
      ),
      /type 3 is not INSERT/,
    ],
    [
      'group_id 2',
      concat(
        header({ 0: 2, 7: 2 }),
        encode(
          new Map<number, unknown>([
            [0x10, 512],
            [0x21, [1]],
          ]),
        ),
      ),
      /group_id 2/,
    ],
    [
      'a body without tuple',
      concat(header({ 0: 2 }), encode(new Map<number, unknown>([[0x10, 512]]))),
      /body is not a map/,
    ],
    [
      'a duplicated key',
      concat(header({ 0: 2 }), new Uint8Array([0x82, 0x10, 0x01, 0x10, 0x02])),
      /lacks space_id or tuple/,
    ],
    [
      'an unknown body key',
      concat(
        header({ 0: 2 }),
        encode(
          new Map<number, unknown>([
            [0x10, 512],
            [0x20, [1]],
          ]),
        ),
      ),
      /unexpected body key 0x20/,
    ],
    [
      'a tuple that is not an array',
      concat(
        header({ 0: 2 }),
        encode(
          new Map<number, unknown>([
            [0x10, 512],
            [0x21, 5],
          ]),
        ),
      ),
      /not an array/,
    ],
    [
      'a space id beyond uint32',
      concat(
        header({ 0: 2 }),
        encode(
          new Map<number, unknown>([
            [0x10, 2 ** 33],
            [0x21, [1]],
          ]),
        ),
      ),
      /out of range/,
    ],
    ['a truncated row', concat(header({ 0: 2 }), new Uint8Array([0x82, 0x10])), /malformed row/],
  ])('rejects %s', (_name, payload, expected) => {
    expect(decode(payload, 1)).toMatch(expected);
  });

  it('rejects bytes after the counted rows and fewer rows than counted', () => {
    const block = blockOf([
      [512, 0, 0, encode([1])],
      [512, 0, 1, encode([2])],
    ]);
    const payload = block.subarray(BLOCK_HEADER_SIZE);
    expect(decode(payload, 1)).toMatch(/bytes after its 1 rows/);
    expect(decode(payload, 3)).toMatch(/malformed row/);
  });
});

describe('the fast decoding path', () => {
  const field = fc.oneof(
    fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
    fc.string({ maxLength: 300 }),
    fc.boolean(),
    fc.constant(null),
    fc.double({ noNaN: true }),
    fc.array(fc.integer(), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }),
    fc.uint8Array({ maxLength: 5 }),
  );
  const row = fc.record({
    spaceId: fc.oneof(fc.integer({ min: 256, max: 600 }), fc.constant(2 ** 32 - 1)),
    groupId: fc.integer({ min: 0, max: 1 }),
    lsn: fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.integer({ min: 0, max: 2 ** 33 })),
    fields: fc.array(field, { maxLength: 20 }),
  });
  const decodeBoth = (payload: Uint8Array, count: number) => {
    const reader = new MsgpackReader(new Uint8Array(0));
    const fast = new SnapshotRows(payload, snapshotRowsCapacity(payload.length, count));
    const reference: SnapshotRow[] = [];
    const fastVerdict = decodeSnapshotRows(reader, payload, count, fast);
    const referenceVerdict = decodeSnapshotRowsReference(reader, payload, count, reference);
    return {
      fast: fastVerdict ?? fast.toArray().map((r) => [r.spaceId, r.groupId, r.lsn, hex(r.tuple)]),
      reference:
        referenceVerdict ?? reference.map((r) => [r.spaceId, r.groupId, r.lsn, hex(r.tuple)]),
    };
  };

  it(`decodes exactly what the general path decodes, for any rows (seed ${seed})`, () => {
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 12 }), (rows) => {
        const block = blockOf(
          rows.map((r) => [r.spaceId, r.groupId, r.lsn, encode(r.fields)]),
          64,
        );
        const { fast, reference } = decodeBoth(block.subarray(BLOCK_HEADER_SIZE), rows.length);
        expect(typeof reference).not.toBe('string');
        expect(fast).toEqual(reference);
      }),
      { seed, numRuns: 300 },
    );
  });

  it(`gives the same verdict as the general path on damaged payloads (seed ${seed})`, () => {
    fc.assert(
      fc.property(
        fc.array(row, { minLength: 1, maxLength: 6 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 3,
        }),
        fc.integer({ min: -1, max: 1 }),
        (rows, edits, countDelta) => {
          const block = blockOf(
            rows.map((r) => [r.spaceId, r.groupId, r.lsn, encode(r.fields)]),
            64,
          );
          const payload = new Uint8Array(block.subarray(BLOCK_HEADER_SIZE));
          for (const [position, value] of edits) payload[position % payload.length] = value;
          const { fast, reference } = decodeBoth(payload, Math.max(1, rows.length + countDelta));
          expect(typeof fast).toBe(typeof reference);
          if (typeof reference !== 'string') expect(fast).toEqual(reference);
        },
      ),
      { seed, numRuns: 2000 },
    );
  });
});
