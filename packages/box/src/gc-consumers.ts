// WAL garbage collection consumers: things that still need the rows after a vclock (a relay
// feeding a replica, later a backup). Layer: box. GC never removes an xlog whose rows a
// registered consumer has not passed, whatever checkpoint_count says (RELIABILITY.md row 12).
// This registry lives in memory; replicas' consumers are saved across restarts by
// replica-gc.ts (Tarantool 2.6 forgets them; 3.3 persists them), and a JOIN's read view
// holds one while it is open. Invariant: a consumer's vclock only moves forward.
import { ClientError, ErrorCode, type Vclock } from '@tarantype/core';

export interface GcConsumer {
  /** A name unique among consumers, e.g. "replica <uuid>". */
  readonly name: string;
  /** Rows after this vclock are still needed. */
  vclock: Vclock;
}

export class GcConsumers {
  private readonly consumers = new Map<string, GcConsumer>();

  register(name: string, vclock: Vclock): GcConsumer {
    if (this.consumers.has(name))
      throw new ClientError(
        ErrorCode.ER_ILLEGAL_PARAMS,
        `GC consumer '${name}' is already registered`,
      );
    const consumer = { name, vclock: vclock.copy() };
    this.consumers.set(name, consumer);
    return consumer;
  }

  /** Moves a consumer forward (never back). */
  advance(name: string, vclock: Vclock): void {
    const consumer = this.consumers.get(name);
    if (consumer === undefined)
      throw new ClientError(ErrorCode.ER_ILLEGAL_PARAMS, `no GC consumer '${name}'`);
    const next = consumer.vclock.copy();
    next.merge(vclock);
    consumer.vclock = next;
  }

  unregister(name: string): boolean {
    return this.consumers.delete(name);
  }

  list(): readonly GcConsumer[] {
    return [...this.consumers.values()];
  }

  /**
   * The vclock GC may collect up to: the componentwise minimum of `checkpoint` and every
   * consumer's vclock (component by component, so no consumer loses a row of any origin).
   */
  limit(checkpoint: Vclock): Vclock {
    const limit = checkpoint.copy();
    for (const consumer of this.consumers.values()) {
      for (const [id, lsn] of limit.entries())
        if (consumer.vclock.get(id) < lsn) limit.set(id, consumer.vclock.get(id));
    }
    return limit;
  }
}
