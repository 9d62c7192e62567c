// The timers of the relay and the applier, as a port: production uses Node's; a deterministic
// simulator (@tarantype/box/testing's replication simulator) drives them from a virtual clock.
// Layer: replication. setImmediate stays Node's: it orders work within one instant and needs no
// clock.

/** An opaque handle setTimeout returned; clearTimeout(undefined) is a no-op. */
export type TimerHandle = unknown;

export interface Timers {
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** Node's timers (the default). */
export const nodeTimers: Timers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
};
