/**
 * `quiver_recall_estimate` tells the truth (API.md, metrics table): over sealed segments
 * searched through their graphs with a low ef, the gauge on /metrics is within 0.05 of the
 * recall@10 the test measures itself against brute force for the same queries.
 *
 * The sampler re-runs its samples every 30 s; the test moves the clock instead of waiting
 * (node:test's mock timers, for setInterval only, enabled before the sampler starts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Quiver } from '../../src/engine/quiver.js';
import { randomVector, rng } from '../helpers/random.js';
import { call, makeServer } from './server-helpers.js';

const DIM = 32;
const K = 10;
/** Searches sent: the sampler keeps 1 in 50, so 32 samples, its whole pool. */
const QUERIES = 1600;

/** Squared Euclidean distance. */
function distance(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return s;
}

/** The ids of the k nearest points by brute force. */
function nearest(points: readonly number[][], q: readonly number[]): Set<number> {
  return new Set(
    points
      .map((v, id) => ({ id, d: distance(v, q) }))
      .sort((x, y) => x.d - y.d)
      .slice(0, K)
      .map((h) => h.id),
  );
}

/** The value of `quiver_recall_estimate{collection="c"}` on /metrics, if present. */
function recallGauge(metrics: string): number | undefined {
  const line = metrics
    .split('\n')
    .find((l) => l.startsWith('quiver_recall_estimate{') && l.includes('collection="c"'));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test('quiver_recall_estimate is within 0.05 of the recall@10 measured against brute force', async (t) => {
  const { server, db } = await makeServer(t, {
    open: (d) => Quiver.open(d, { fsync: 'none', sealPoints: 2000 }),
  });
  const put = await call(server, 'PUT', '/collections/c', {
    vectors: { size: DIM, distance: 'Euclid' },
  });
  assert.equal(put.statusCode, 200, put.body);
  const rand = rng(1010);
  const points = Array.from({ length: 6000 }, () => randomVector(rand, DIM));
  for (let from = 0; from < points.length; from += 1000) {
    const batch = points.slice(from, from + 1000).map((vector, i) => ({ id: from + i, vector }));
    assert.equal(
      (await call(server, 'PUT', '/collections/c/points', { points: batch })).statusCode,
      200,
    );
  }
  await db.checkpoint();
  assert.equal(db.collection('c').stats().recallEstimate, undefined);

  t.mock.timers.enable({ apis: ['setInterval'] });
  // hnsw_ef 10 keeps recall well under 1, so an estimate that compared the graph with
  // itself (always 1) would be caught.
  let found = 0;
  for (let q = 0; q < QUERIES; q++) {
    const vector = randomVector(rand, DIM);
    const res = await call(server, 'POST', '/collections/c/points/search', {
      vector,
      limit: K,
      params: { hnsw_ef: 10 },
    });
    assert.equal(res.statusCode, 200, res.body);
    const want = nearest(points, vector);
    const n = res.json<{ result: { id: number }[] }>().result.filter((h) => want.has(h.id)).length;
    found += n;
  }
  const measured = found / (QUERIES * K);
  assert.equal(
    recallGauge((await call(server, 'GET', '/metrics')).body),
    undefined,
    'not yet measured',
  );

  // Four 30 s rounds of 8 re-runs each cover the 32 samples.
  for (let round = 0; round < 4; round++) t.mock.timers.tick(30_000);
  const estimate = recallGauge((await call(server, 'GET', '/metrics')).body);
  console.log(`[recall] measured ${measured.toFixed(4)}, estimate ${String(estimate)}`);
  assert.ok(measured < 0.9, `the graph search is approximate here (measured ${measured})`);
  assert.ok(estimate !== undefined, 'the sampler ran and the gauge is on /metrics');
  assert.ok(
    Math.abs(estimate - measured) <= 0.05,
    `estimate ${estimate} is within 0.05 of the measured recall ${measured}`,
  );
});
