import { ClientError, ErrorCode, MsgpackWriter } from '@tarantype/core';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, type InputMeter, NEED_MORE } from './frame-decoder.js';

/** A frame whose length prefix uses the given encoding. */
function frameWith(prefix: 'fix' | 'cc' | 'cd' | 'ce' | 'cf', payload: Uint8Array): Uint8Array {
  const w = new MsgpackWriter();
  const n = payload.length;
  if (prefix === 'fix') w.byte(n);
  else if (prefix === 'cc') w.raw(new Uint8Array([0xcc, n]));
  else if (prefix === 'cd') w.raw(new Uint8Array([0xcd, n >> 8, n & 0xff]));
  else if (prefix === 'ce') w.uint32Fixed(n);
  else w.uint64Fixed(n);
  w.raw(payload);
  return w.toBytes();
}

function payload(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

const payloads = [
  payload(0, 1),
  payload(1, 2),
  payload(5, 3),
  payload(40, 4),
  payload(127, 5),
  payload(300, 6),
];
const prefixes = ['fix', 'cc', 'cd', 'ce', 'cf'] as const;
const messages: Uint8Array[] = [];
const expected: Uint8Array[] = [];
for (const [i, p] of payloads.entries()) {
  const prefix = prefixes[i % prefixes.length]!;
  if (prefix === 'fix' && p.length > 127) continue;
  if (prefix === 'cc' && p.length > 255) continue;
  messages.push(frameWith(prefix, p));
  expected.push(p);
}
// Every prefix form for one payload as well.
for (const prefix of prefixes) {
  messages.push(frameWith(prefix, payloads[2]!));
  expected.push(payloads[2]!);
}
const stream = Buffer.concat(messages);

function drain(decoder: FrameDecoder, into: Uint8Array[]): void {
  for (;;) {
    const r = decoder.next();
    if (r === NEED_MORE) return;
    if (r instanceof ClientError) throw r;
    into.push(r);
  }
}

describe('FrameDecoder', () => {
  it('decodes every length prefix form (fixint, 0xcc, 0xcd, 0xce, 0xcf)', () => {
    const decoder = new FrameDecoder();
    decoder.push(stream);
    const out: Uint8Array[] = [];
    drain(decoder, out);
    expect(out.map((p) => [...p])).toEqual(expected.map((p) => [...p]));
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('gives the same packets when the stream is split into two chunks at every byte boundary', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const decoder = new FrameDecoder();
      const out: Uint8Array[] = [];
      decoder.push(stream.subarray(0, cut));
      drain(decoder, out);
      decoder.push(stream.subarray(cut));
      drain(decoder, out);
      expect(out.map((p) => Buffer.from(p).toString('hex'))).toEqual(
        expected.map((p) => Buffer.from(p).toString('hex')),
      );
    }
  });

  it('gives the same packets when fed one byte at a time; "need more" is a result', () => {
    const decoder = new FrameDecoder();
    const out: Uint8Array[] = [];
    let needMore = 0;
    for (let i = 0; i < stream.length; i++) {
      decoder.push(stream.subarray(i, i + 1));
      for (;;) {
        const r = decoder.next();
        if (r === NEED_MORE) {
          needMore++;
          break;
        }
        if (r instanceof ClientError) throw r;
        out.push(r);
      }
    }
    expect(out.length).toBe(expected.length);
    expect(needMore).toBeGreaterThan(0);
  });

  it('splits at every pair of boundaries for one message', () => {
    const message = frameWith('ce', payload(12, 9));
    for (let a = 0; a <= message.length; a++) {
      for (let b = a; b <= message.length; b++) {
        const decoder = new FrameDecoder();
        const out: Uint8Array[] = [];
        for (const part of [message.subarray(0, a), message.subarray(a, b), message.subarray(b)]) {
          decoder.push(part);
          drain(decoder, out);
        }
        expect(out.length).toBe(1);
        expect([...out[0]!]).toEqual([...payload(12, 9)]);
      }
    }
  });

  it('never overwrites bytes of a packet it handed out', () => {
    const decoder = new FrameDecoder();
    const out: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i += 7) {
      decoder.push(Uint8Array.from(stream.subarray(i, i + 7)));
      drain(decoder, out);
    }
    expect(out.map((p) => [...p])).toEqual(expected.map((p) => [...p]));
  });

  it('rejects a non-uint length prefix, finally', () => {
    for (const first of [0x80, 0x90, 0xa0, 0xc0, 0xc1, 0xc2, 0xca, 0xd0, 0xd9, 0xe0, 0xff]) {
      const decoder = new FrameDecoder();
      decoder.push(new Uint8Array([first, 1, 2, 3]));
      const r = decoder.next();
      expect(r).toBeInstanceOf(ClientError);
      expect((r as ClientError).code).toBe(ErrorCode.ER_INVALID_MSGPACK);
      expect((r as ClientError).message).toBe('Invalid MsgPack - packet length');
      expect(decoder.failed).toBe(true);
      decoder.push(frameWith('fix', payload(1, 1)));
      expect(decoder.next()).toBe(r);
    }
  });

  it('rejects lengths above the maximum without allocating them', () => {
    const decoder = new FrameDecoder();
    decoder.push(new Uint8Array([0xce, 0x80, 0x00, 0x00, 0x01]));
    expect((decoder.next() as ClientError).message).toBe(
      'Invalid MsgPack - too big packet size in the header: 2147483649',
    );
    const small = new FrameDecoder(100);
    small.push(frameWith('cc', payload(101, 0)));
    expect((small.next() as ClientError).message).toBe(
      'Invalid MsgPack - too big packet size in the header: 101',
    );
    const exact = new FrameDecoder(100);
    exact.push(frameWith('cc', payload(100, 0)));
    expect(exact.next()).toBeInstanceOf(Uint8Array);
  });

  it('waits for a declared 2 GiB frame without allocating it', () => {
    const decoder = new FrameDecoder();
    decoder.push(new Uint8Array([0xce, 0x80, 0x00, 0x00, 0x00, 1, 2, 3]));
    expect(decoder.next()).toBe(NEED_MORE);
    expect(decoder.bufferedBytes).toBe(3);
  });

  it('assembles frames above the threshold in a growing buffer, split at every byte and at pairs of boundaries', () => {
    const message = frameWith('ce', payload(300, 7));
    const next = frameWith('fix', payload(5, 8));
    const both = Buffer.concat([message, next, message]);
    for (const threshold of [0, 10, 299]) {
      for (let a = 0; a <= both.length; a++) {
        for (let b = a; b <= both.length; b += a % 13 === 0 ? 7 : both.length) {
          const meter: InputMeter = { bytes: 0 };
          const decoder = new FrameDecoder(undefined, { meter, assemblyThresholdBytes: threshold });
          const out: Uint8Array[] = [];
          for (const part of [both.subarray(0, a), both.subarray(a, b), both.subarray(b)]) {
            decoder.push(part);
            expect(meter.bytes).toBe(decoder.bufferedBytes);
            drain(decoder, out);
          }
          expect(out.map((p) => Buffer.from(p).toString('hex'))).toEqual(
            [payload(300, 7), payload(5, 8), payload(300, 7)].map((p) =>
              Buffer.from(p).toString('hex'),
            ),
          );
          expect(meter.bytes).toBe(0);
        }
      }
    }
  });

  it('holds the bytes received of a partial frame, not its declared length, and release() drops them', () => {
    const meter: InputMeter = { bytes: 0 };
    const decoders = [
      new FrameDecoder(undefined, { meter }),
      new FrameDecoder(undefined, { meter }),
    ];
    const chunk = new Uint8Array(64 * 1024).fill(0x90);
    for (const decoder of decoders) {
      decoder.push(new Uint8Array([0xce, 0x80, 0x00, 0x00, 0x00]));
      for (let i = 0; i < 20; i++) {
        decoder.push(chunk);
        expect(decoder.next()).toBe(NEED_MORE);
      }
      expect(decoder.bufferedBytes).toBe(20 * chunk.length);
    }
    expect(meter.bytes).toBe(2 * 20 * chunk.length);
    decoders[0]!.release();
    expect(meter.bytes).toBe(20 * chunk.length);
    expect(decoders[0]!.bufferedBytes).toBe(0);
    decoders[0]!.push(chunk);
    expect(decoders[0]!.bufferedBytes).toBe(0);
    decoders[1]!.release();
    expect(meter.bytes).toBe(0);
  });

  it('a framing error drops what was buffered from the meter', () => {
    const meter: InputMeter = { bytes: 0 };
    const decoder = new FrameDecoder(undefined, { meter });
    decoder.push(new Uint8Array([0xc1, 1, 2, 3]));
    expect(meter.bytes).toBe(4);
    expect(decoder.next()).toBeInstanceOf(ClientError);
    expect(meter.bytes).toBe(0);
  });

  it('a packet inside one chunk is a view of it (zero copy)', () => {
    const decoder = new FrameDecoder();
    const chunk = frameWith('fix', payload(10, 1));
    decoder.push(chunk);
    const packet = decoder.next() as Uint8Array;
    expect(packet.buffer).toBe(chunk.buffer);
  });
});
