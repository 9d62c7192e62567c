// tarantype's version, as package.json has it (the CLI's --version and the log's banner).
// Layer: apps/server.
import { createRequire } from 'node:module';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

export const VERSION: string = version;
