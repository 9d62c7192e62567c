// The progress renderer: bars on a terminal (with log lines kept above them), plain log lines
// otherwise, and the text of both from an event alone.
import { Writable } from 'node:stream';
import type { ProgressEvent } from '@tarantype/box';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { describeProgress, ProgressRenderer, progressBar, progressLine } from './progress.js';

function event(overrides: Partial<ProgressEvent>): ProgressEvent {
  return {
    id: 1,
    task: 'recovery',
    detail: 'snapshot 00000000000000151003.snap',
    phase: 'progress',
    unit: 'rows',
    done: 0,
    total: undefined,
    bytesDone: 0,
    bytesTotal: undefined,
    elapsedMs: 0,
    outcome: undefined,
    ...overrides,
  };
}

/** A fake terminal (or pipe) that keeps everything written to it. */
class Capture extends Writable {
  text = '';
  constructor(
    readonly isTTY: boolean,
    readonly columns = 160,
  ) {
    super({ decodeStrings: false });
  }
  override _write(chunk: string | Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for escape codes
const ESCAPE = /\u001b/;

describe('progress text', () => {
  it('goes by bytes when the file size is known: percentage, MB and ETA', () => {
    const e = event({
      done: 90_000,
      bytesDone: 9 * 1048576,
      bytesTotal: 18 * 1048576,
      elapsedMs: 1000,
    });
    expect(describeProgress(e).fraction).toBe(0.5);
    expect(progressLine(e)).toBe(
      'recovery snapshot 00000000000000151003.snap: 50% (90000 rows, 9.0/18.0 MB, 90000 rows/s, ETA 1.0 s)',
    );
  });

  it('goes by count when only the count is known, and shows elapsed time when nothing is', () => {
    const checkpoint = event({
      task: 'checkpoint',
      detail: 'snapshot 00000000000000000042.snap',
      unit: 'tuples',
      done: 250,
      total: 1000,
      bytesDone: 1048576,
      elapsedMs: 30_000,
    });
    expect(progressLine(checkpoint)).toBe(
      'checkpoint snapshot 00000000000000000042.snap: 25% (250/1000 tuples, 1.0 MB, 8 tuples/s, ETA 1 min 30 s)',
    );
    const join = event({
      task: 'join',
      detail: 'initial data from 127.0.0.1:3301',
      done: 5000,
      bytesDone: 524288,
      elapsedMs: 2000,
    });
    expect(progressLine(join)).toBe(
      'join initial data from 127.0.0.1:3301: (5000 rows, 0.5 MB, 2500 rows/s, 2.0 s elapsed)',
    );
  });

  it('draws a bar cut to the terminal width', () => {
    const e = event({ done: 10, bytesDone: 25, bytesTotal: 100, elapsedMs: 500 });
    expect(progressBar(e, 200)).toBe(
      'recovery snapshot 00000000000000151003.snap [======------------------]  25% | 10 rows | 0.0/0.0 MB | 20 rows/s | ETA 1.5 s',
    );
    expect(progressBar(e, 40)).toHaveLength(39);
  });
});

describe('ProgressRenderer', () => {
  it('without a terminal logs one plain line per task every interval, no escape codes', () => {
    const lines: string[] = [];
    const stream = new Capture(false);
    const renderer = new ProgressRenderer({ stream, tty: false, logIntervalMs: 2000 });
    renderer.attach({
      info: (m) => lines.push(m),
      warn: (m) => lines.push(m),
      error: (m) => lines.push(m),
    });
    renderer.sink(event({ phase: 'start', bytesTotal: 5000 }));
    for (let ms = 100; ms <= 5000; ms += 100)
      renderer.sink(event({ done: ms, bytesDone: ms, bytesTotal: 5000, elapsedMs: ms }));
    renderer.sink(
      event({
        phase: 'end',
        outcome: 'done',
        done: 5000,
        bytesDone: 5000,
        bytesTotal: 5000,
        elapsedMs: 5000,
      }),
    );
    expect(lines).toEqual([
      'recovery snapshot 00000000000000151003.snap: 40% (2000 rows, 0.0/0.0 MB, 1000 rows/s, ETA 3.0 s)',
      'recovery snapshot 00000000000000151003.snap: 80% (4000 rows, 0.0/0.0 MB, 1000 rows/s, ETA 1.0 s)',
    ]);
    expect(stream.text).toBe('');
    renderer.stop();
  });

  it("logs through the server's logger, as JSON with --log-format json", () => {
    const out = new Capture(false);
    const renderer = new ProgressRenderer({ stream: out, tty: false, logIntervalMs: 1000 });
    renderer.attach(createLogger({ level: 5, format: 'json', destination: out }));
    const checkpoint = {
      task: 'checkpoint',
      detail: 'snapshot 00000000000000000042.snap',
    } as const;
    renderer.sink(event({ ...checkpoint, phase: 'start', total: 10 }));
    renderer.sink(event({ ...checkpoint, done: 4, total: 10, elapsedMs: 1500 }));
    renderer.sink(event({ ...checkpoint, phase: 'end', outcome: 'done', done: 10, total: 10 }));
    const records = out.text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { level: number; msg: string });
    expect(records).toEqual([
      expect.objectContaining({
        level: 30,
        msg: 'checkpoint snapshot 00000000000000000042.snap: 40% (4/10 rows, 0.0 MB, 3 rows/s, ETA 2.3 s)',
      }),
    ]);
    expect(out.text).not.toMatch(ESCAPE);
  });

  it('on a terminal draws a bar per running task, keeps log lines above it, clears it at the end', () => {
    const stream = new Capture(true);
    const renderer = new ProgressRenderer({ stream, tty: true });
    // A task that ends before its first progress event never gets a bar.
    renderer.sink(event({ id: 7, phase: 'start' }));
    renderer.sink(event({ id: 7, phase: 'end', outcome: 'done' }));
    expect(stream.text).toBe('');
    renderer.logStream.write('a log line before\n');
    expect(stream.text).toBe('a log line before\n');

    renderer.sink(event({ phase: 'start', bytesTotal: 1000 }));
    renderer.sink(event({ done: 100, bytesDone: 400, bytesTotal: 1000, elapsedMs: 200 }));
    renderer.sink(
      event({
        id: 2,
        task: 'relay',
        detail: 'initial data to replica r',
        phase: 'start',
        total: 10,
      }),
    );
    renderer.sink(
      event({
        id: 2,
        task: 'relay',
        detail: 'initial data to replica r',
        done: 5,
        total: 10,
        elapsedMs: 100,
      }),
    );
    renderer.logStream.write('a log line while drawing\n');
    renderer.sink(event({ done: 200, bytesDone: 800, bytesTotal: 1000, elapsedMs: 400 }));
    expect(stream.text).toMatch(
      /recovery snapshot \S+ \[=+-+\]\s+40% \| 100 rows \| .* \| ETA 0\.3 s/,
    );
    expect(stream.text).toMatch(/relay initial data to replica r \[=+-+\]\s+50% \| 5\/10 rows/);
    expect(stream.text).toMatch(ESCAPE);
    const logged = stream.text.indexOf('a log line while drawing\n');
    expect(logged).toBeGreaterThan(stream.text.indexOf('40%'));
    expect(stream.text.indexOf('80%')).toBeGreaterThan(logged);

    renderer.sink(
      event({
        phase: 'end',
        outcome: 'done',
        done: 250,
        bytesDone: 1000,
        bytesTotal: 1000,
        elapsedMs: 500,
      }),
    );
    renderer.sink(
      event({
        id: 2,
        task: 'relay',
        phase: 'end',
        outcome: 'done',
        done: 10,
        total: 10,
        elapsedMs: 500,
      }),
    );
    // No bar left: log lines go straight to the terminal again.
    const before = stream.text.length;
    renderer.logStream.write('a log line after\n');
    expect(stream.text.slice(before)).toBe('a log line after\n');
    renderer.stop();
  });
});
