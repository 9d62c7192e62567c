// Campaign power-loss (issue 15: 100 rounds in the full run): wal_mode fsync, every acknowledged
// write survives a power loss, nothing is half applied (test/power-loss-model.ts).
import { powerLossCampaign } from './power-loss-rounds.js';

export const campaign = powerLossCampaign('power-loss', 'fsync', 100);
