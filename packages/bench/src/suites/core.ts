// core benchmarks: the codecs every hot path goes through, per item. N tuples of the shape the
// memtx and WAL suites use, {i, <32-byte string>, i*2, 3.5, true, [i, i+1]} (200k large, 2k
// small), encoded once; then, each timed over all N (median of tinybench iterations):
// - MessagePack: decode a tuple to values, encode values to a tuple;
// - the grammar walks: MsgpackReader.skip (bounds-checked) and mpSkip (validated bytes) over
//   a whole tuple;
// - the DML body codec: an INSERT body built for the WAL (encodeTupleBody, raw tuple) and read
//   back by recovery (decodeRowBody into one reused body);
// - xrow: encode and decode a row with that body (the WAL's and the replication stream's);
// - the xxh32 of a 20-byte block header every WAL and snapshot block carries: in plain JS
//   (xxh32, what the journal uses) and through the WebAssembly hasher with the view a call of
//   it needs.
// Figures are items per second; there is no Tarantool counterpart at this grain (msgpuck is C
// inlined into its callers), so no ratio is printed. The checksum adds up what was read back.
import {
  DmlBody,
  decode,
  decodeRowBody,
  decodeXrow,
  encode,
  encodeTupleBody,
  encodeXrow,
  IprotoType,
  loadHasher,
  MsgpackReader,
  MsgpackWriter,
  makeXrow,
  mpSkip,
  type Xrow,
  xxh32,
} from '@tarantype/core';
import { type BenchFigure, type BenchScale, type BenchSuite, medianMs } from '../harness.js';

const SCALES: Record<BenchScale, { tuples: number; iterations: number }> = {
  small: { tuples: 2_000, iterations: 3 },
  large: { tuples: 200_000, iterations: 7 },
};

const suite: BenchSuite = {
  name: 'core',
  async run(scale) {
    const { tuples: n, iterations } = SCALES[scale];
    const values: unknown[][] = [];
    for (let i = 0; i < n; i++)
      values.push([i, `name-${i}`.padEnd(32, '.'), i * 2, 3.5, true, [i, i + 1]]);
    const tuples = values.map((v) => encode(v));
    const bodies = tuples.map((t) => encodeTupleBody(512, t));
    const rowOf = (i: number): Xrow => ({
      ...makeXrow(IprotoType.INSERT, bodies[i]!),
      replica_id: 1,
      lsn: i + 1,
      tsn: i + 1,
      timestamp: 1_764_547_200.5,
    });
    const writer = new MsgpackWriter(256);
    const rows = bodies.map((_, i) => {
      encodeXrow(writer.reset(), rowOf(i));
      return writer.toBytes();
    });
    let checksum = 0;
    const figures: BenchFigure[] = [];
    const perSecond = async (name: string, unit: string, pass: () => void) => {
      const ms = await medianMs(name, pass, iterations);
      figures.push({ name, value: (n / ms) * 1000, unit });
    };

    await perSecond('msgpack decode a tuple to values', 'tuples/s', () => {
      for (let i = 0; i < n; i++) checksum += (decode(tuples[i]!) as number[])[0]!;
    });
    await perSecond('msgpack encode a tuple from values', 'tuples/s', () => {
      for (let i = 0; i < n; i++) checksum += encode(values[i]).length;
    });
    const reader = new MsgpackReader(new Uint8Array(0));
    await perSecond('grammar: checked skip of a tuple', 'tuples/s', () => {
      for (let i = 0; i < n; i++) {
        reader.reset(tuples[i]!);
        reader.skip();
        checksum += reader.offset;
      }
    });
    await perSecond('grammar: unchecked mpSkip of a tuple', 'tuples/s', () => {
      for (let i = 0; i < n; i++) checksum += mpSkip(tuples[i]!, 0);
    });
    await perSecond('DML body: encode an INSERT body (raw tuple)', 'bodies/s', () => {
      for (let i = 0; i < n; i++) checksum += encodeTupleBody(512, tuples[i]!).length;
    });
    const body = new DmlBody();
    await perSecond('DML body: decode a logged INSERT body', 'bodies/s', () => {
      for (let i = 0; i < n; i++)
        checksum += decodeRowBody(IprotoType.INSERT, bodies[i]!, body).tuple!.length;
    });
    const rowObjects = bodies.map((_, i) => rowOf(i));
    await perSecond('xrow: encode a row', 'rows/s', () => {
      for (let i = 0; i < n; i++) {
        encodeXrow(writer.reset(), rowObjects[i]!);
        checksum += writer.length;
      }
    });
    await perSecond('xrow: decode a row', 'rows/s', () => {
      for (let i = 0; i < n; i++) checksum += decodeXrow(reader.reset(rows[i]!)).lsn;
    });
    const hasher = await loadHasher();
    await perSecond('checksum: xxh32 of a 20-byte block header, JS (xxh32)', 'headers/s', () => {
      for (let i = 0; i < n; i++) checksum += xxh32(rows[i]!, 0, 20) & 0xff;
    });
    await perSecond(
      'checksum: xxh32 of a 20-byte block header, wasm (view + h32)',
      'headers/s',
      () => {
        for (let i = 0; i < n; i++) {
          const row = rows[i]!;
          checksum += hasher.h32(new Uint8Array(row.buffer, row.byteOffset, 20)) & 0xff;
        }
      },
    );
    return { suite: 'core', figures, checksum };
  },
};

export default suite;
