// The log port of the relay and the applier. Layer: replication. box writes each line in its
// own format (time, pid, cord, fiber id); the relay and applier give the level, the fiber name
// 2.6 would print ("applier/replicator@127.0.0.1:3301", "relay/127.0.0.1:58362") and the text.

/** 2.6's log levels as its plain format prints them: C, E, W, I, and `!` for syserror. */
export type LogLevel = 'crit' | 'error' | 'warn' | 'info' | 'syserror' | 'verbose';

/** One log line. Must not throw. */
export type ReplicationLogger = (level: LogLevel, fiber: string, message: string) => void;
