// @tarantype/box/testing: test support other packages may use — the deterministic replication
// simulator (replication-simulator.ts) that the `simulator` chaos campaign runs.
export { runSchedule, type ScheduleOptions, type ScheduleResult } from './replication-simulator.js';
