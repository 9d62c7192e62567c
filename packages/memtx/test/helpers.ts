// Shared test helpers: seeds for randomized tests, hex, error texts.
import { onTestFailed } from 'vitest';

/** The seed of this run's randomized tests: SEED=… replays a failure. */
export const SEED =
  process.env.SEED !== undefined
    ? Number(process.env.SEED)
    : Math.floor(Math.random() * 0x7fffffff);

/** fast-check options with the run's seed; prints the seed when the test fails. */
export function seeded(numRuns: number): { seed: number; numRuns: number } {
  onTestFailed(() => {
    console.error(`randomized test failed: replay with SEED=${SEED}`);
  });
  return { seed: SEED, numRuns };
}

export function hex(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined ? undefined : Buffer.from(bytes).toString('hex');
}

export function unhex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'hex'));
}

/** Runs `fn` and returns the thrown error's code and message, or undefined. */
export function errorOf(fn: () => unknown): { code: number; message: string } | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    const e = error as { code?: number; message: string };
    return { code: e.code ?? -1, message: e.message };
  }
}

/** Space names differ between Tarantool's fixture run and ours. */
export function withoutSpaceName(message: string): string {
  return message.replace(/space '[^']*'/g, "space '?'").replace(/Space [^ ]+ has/g, 'Space ? has');
}
