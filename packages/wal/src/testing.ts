// @tarantype/wal/testing: test doubles other packages may use (fault injection, log capture).
export {
  errnoError,
  type FaultCounts,
  type FaultOperation,
  type FaultRule,
  FaultyFileSystem,
  type RandomFaults,
  seededRandom,
} from './faulty-file-system.js';
export { RecordingLogger } from './logger.js';
export {
  type PowerLossCounts,
  PowerLossDisk,
  SECTOR_SIZE_BYTES,
} from './power-loss-file-system.js';
