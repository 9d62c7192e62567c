import { Box } from '@tarantype/box';
import { existsSync } from 'node:fs';
const dir = '/tmp/prof-restart-1m';
if (!existsSync(dir)) {
  const box = await Box.cfg({ work_dir: dir, checkpoint_interval: 0 });
  const s = await box.schema.space.create('bench'); await s.createIndex('pk');
  for (let i = 1; i <= 1e6; i += 1000) await box.atomic(() => { for (let k = i; k < i + 1000; k++) void s.insert([k, 'abcdefghijklmnopqrstuvwxyz012345', k * 2]); });
  await box.snapshot(); await box.close(); console.log('built');
}
const t = performance.now(); const box = await Box.cfg({ work_dir: dir, checkpoint_interval: 0 }); console.log('snap restart', ((performance.now() - t) / 1000).toFixed(3), box.space.bench.len());
await box.close();
