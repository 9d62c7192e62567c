// CI probe for the README's first command: connects to the instance `npm start` started and
// pings, inserts and selects through tarantool-driver (a real third-party client). Exits 0 only
// when all three work. Usage: node .ci/start-probe.mjs <port>
import { createRequire } from 'node:module';

const require = createRequire(new URL('../apps/server/package.json', import.meta.url));
const TarantoolConnection = require('tarantool-driver');
const port = Number(process.argv[2] ?? 3301);
const conn = new TarantoolConnection({ host: '127.0.0.1', port, lazyConnect: true });
const fail = (message) => {
  process.stderr.write(`[start-probe] FAILED: ${message}\n`);
  process.exit(1);
};
setTimeout(() => fail('timed out after 20 s'), 20_000).unref();
try {
  await conn.connect();
  if ((await conn.ping()) !== true) fail('ping did not answer true');
  const key = 1 + Math.floor(Math.random() * 1_000_000);
  await conn.call('box.schema.space.create', 'ci_probe', { if_not_exists: true });
  await conn.call('box.space.ci_probe:create_index', 'primary', { if_not_exists: true });
  await conn.insert('ci_probe', [key, 'inserted by .ci/start-probe.mjs']);
  const rows = await conn.select('ci_probe', 0, 1, 0, 'eq', [key]);
  if (JSON.stringify(rows) !== JSON.stringify([[key, 'inserted by .ci/start-probe.mjs']]))
    fail(`select returned ${JSON.stringify(rows)}`);
  process.stdout.write(
    `[start-probe] ping, insert and select of [${key}] through tarantool-driver: ok\n`,
  );
  conn.disconnect();
  process.exit(0);
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
}
