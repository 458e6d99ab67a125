/**
 * Filtered search keeps its recall through the whole engine: with filters matching 10% and
 * 1% of a collection, approximate results match exact ones (recall@10 ≥ 0.95), and
 * `explain` shows which plan the planner chose (graph with an allow-list, or exact scan).
 * Here everything stays in the growing segment and 1 % is answered exactly; the graph's
 * own filtered recall on sealed segments is in filtered-graph-recall.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Quiver } from '../../src/index.js';
import { rng } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';

const N = 24_000;
const DIM = 16;

test('filtered recall at 10% and 1% selectivity', async (t) => {
  const rand = rng(2024);
  const centers = Array.from({ length: 40 }, () => Array.from({ length: DIM }, () => rand() * 10));
  const vec = (): number[] => {
    const c = centers[Math.floor(rand() * centers.length)]!;
    return c.map((x) => x + (rand() - 0.5) * 2);
  };
  const db = await Quiver.open(tempDir(t), { fsync: 'none', sealPoints: 100_000 });
  const c = await db.createCollection('f', { dimension: DIM, metric: 'euclid' });
  for (let b = 0; b < N / 2000; b++) {
    await c.upsert(
      Array.from({ length: 2000 }, (_, i) => {
        const id = b * 2000 + i;
        return { id, vector: vec(), payload: { bucket: id % 100 } };
      }),
    );
  }
  await db.idle();
  const cases = [
    { name: '10%', filter: { bucket: { $lt: 10 } }, plan: /hnsw-filtered/ },
    { name: '1%', filter: { bucket: 42 }, plan: /exact-filtered/ },
  ];
  for (const { name, filter, plan } of cases) {
    let found = 0;
    let total = 0;
    let plans = '';
    for (let q = 0; q < 30; q++) {
      const query = vec();
      const exact = await c.search(query, { k: 10, filter, exact: true });
      const { hits, explain } = await c.search(query, { k: 10, filter, explain: true });
      plans += JSON.stringify(explain.segments.map((s) => s.plan));
      const want = new Set(exact.map((h) => h.id));
      found += hits.filter((h) => want.has(h.id)).length;
      total += exact.length;
      for (const h of hits) {
        const bucket = (h.payload as { bucket: number }).bucket;
        assert.ok(name === '1%' ? bucket === 42 : bucket < 10, 'only matching points');
      }
    }
    const recall = found / total;
    console.log(`[filtered] ${name}: recall@10 ${recall.toFixed(4)}`);
    assert.ok(recall >= 0.95, `${name} recall ${recall}`);
    assert.match(plans, plan);
  }
  await db.close();
});

test('the recall estimate re-runs sampled searches exactly', async (t) => {
  const rand = rng(7);
  const db = await Quiver.open(tempDir(t), { fsync: 'none' });
  const c = await db.createCollection('r', { dimension: 8, metric: 'dot' });
  await c.upsert(
    Array.from({ length: 3000 }, (_, id) => ({
      id,
      vector: Array.from({ length: 8 }, () => rand() - 0.5),
    })),
  );
  await db.checkpoint();
  assert.equal(c.estimateRecall(), undefined, 'nothing sampled yet');
  for (let q = 0; q < 200; q++) {
    await c.search(
      Array.from({ length: 8 }, () => rand() - 0.5),
      { k: 10, ef: q % 2 === 0 ? 10 : 64 },
    );
  }
  const estimate = c.estimateRecall();
  assert.ok(estimate !== undefined && estimate > 0.5 && estimate <= 1, `estimate ${estimate}`);
  assert.equal(c.stats().recallEstimate, estimate);
  await db.close();
});
