/**
 * `node --cpu-prof --import tsx bench/profile-search.ts`: the settled embedded search path
 * (`collection.search` over a sealed SIFT segment, k 10, ef 20) in a loop, for a CPU
 * profile of what the public path costs beyond the graph walk. Not part of `npm run bench`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Quiver } from '../src/index.js';
import { loadDatasets } from './datasets.js';
import { upsertDataset } from './public-api.js';

const ds = loadDatasets().find((d) => d.dim === 128);
if (ds === undefined) throw new Error('no 128-d dataset found');
const dir = mkdtempSync(join(tmpdir(), 'quiver-profile-'));
const db = await Quiver.open(dir, { queryCacheBytes: 0, fsync: 'none' });
const c = await db.createCollection('p', { dimension: ds.dim, metric: ds.metric });
await upsertDataset(c, ds);
await db.checkpoint();
await db.idle();
const seconds = Number(process.env['QUIVER_PROFILE_SECONDS'] ?? '5');
const t0 = performance.now();
let n = 0;
while (performance.now() - t0 < seconds * 1000) {
  for (let q = 0; q < ds.queryCount; q++) {
    await c.search(ds.queries.subarray(q * ds.dim, (q + 1) * ds.dim), { k: 10, ef: 20 });
  }
  n += ds.queryCount;
}
process.stdout.write(`${Math.round(n / ((performance.now() - t0) / 1000))} searches/s\n`);
await db.close();
rmSync(dir, { recursive: true, force: true });
