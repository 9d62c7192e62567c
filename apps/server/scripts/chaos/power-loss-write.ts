// Campaign power-loss-write: wal_mode write under power loss. What survives is a prefix of the
// acknowledged writes that holds everything acknowledged before the last checkpoint or xlog
// close (CONSISTENCY.md); the unsynced tail is the only loss (test/power-loss-model.ts).
import { powerLossCampaign } from './power-loss-rounds.js';

export const campaign = powerLossCampaign('power-loss-write', 'write', 100);
