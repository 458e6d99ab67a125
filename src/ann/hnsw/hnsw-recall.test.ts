/**
 * HNSW recall against brute force on clustered data for every metric, plus the basic
 * VectorIndex contract (ids, scores, replace, errors).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isQuiverError } from '../../common/quiver-error.js';
import type { MetricName } from '../../common/types.js';
import { createHnswIndex } from './hnsw-index.js';
import { clusteredVectors, exactOf, recallAt } from './hnsw.fixtures.js';

const N = 20_000;
const DIM = 64;

describe('HnswIndex recall@10 on clustered data', () => {
  for (const metric of ['euclid', 'cosine', 'dot'] as MetricName[]) {
    it(`is at least 0.95 for ${metric} (${N} × ${DIM})`, () => {
      const vectors = clusteredVectors(N, DIM, metric, 7);
      const queries = clusteredVectors(200, DIM, metric, 8);
      const index = createHnswIndex({ dimension: DIM, metric, m: 16, efConstruction: 200 });
      vectors.forEach((v, i) => index.add(i, v));
      assert.equal(index.liveCount, N);
      const recall = recallAt(index, exactOf(vectors, metric), queries, { k: 10, ef: 64 });
      assert.ok(recall >= 0.95, `recall ${recall}`);
    });
  }
});

describe('HnswIndex contract', () => {
  const vectors = clusteredVectors(2000, 16, 'euclid', 3);

  it('returns internal similarities, best first, and search counters', () => {
    const index = createHnswIndex({ dimension: 16, metric: 'euclid' });
    vectors.forEach((v, i) => index.add(i, v));
    const exact = exactOf(vectors, 'euclid');
    const r = index.search(vectors[5]!, { k: 5 });
    assert.equal(r.ids[0], 5);
    assert.equal(r.scores[0], 0);
    for (let i = 1; i < r.scores.length; i++) assert.ok(r.scores[i - 1]! >= r.scores[i]!);
    const e = exact.search(vectors[5]!, { k: 5 });
    assert.ok(Math.abs(r.scores[1]! - e.scores[1]!) < 1e-3 * Math.abs(e.scores[1]!));
    assert.ok(r.visited > 0 && r.distanceComputations >= r.visited);
  });

  it('raises ef below k to k and returns k results', () => {
    const index = createHnswIndex({ dimension: 16, metric: 'euclid', efSearch: 2 });
    vectors.forEach((v, i) => index.add(i, v));
    assert.equal(index.search(vectors[0]!, { k: 30 }).ids.length, 30);
    assert.equal(index.search(vectors[0]!, { k: 30, ef: 1 }).ids.length, 30);
  });

  it('grows its scratch for a beam wider than any before', () => {
    const index = createHnswIndex({ dimension: 16, metric: 'euclid', efConstruction: 20 });
    vectors.forEach((v, i) => index.add(i, v));
    index.efSearch = 700;
    const r = index.search(vectors[9]!, { k: 600 });
    assert.equal(r.ids.length, 600);
    assert.equal(r.ids[0], 9);
    const truth = new Set(exactOf(vectors, 'euclid').search(vectors[9]!, { k: 600 }).ids);
    assert.ok(r.ids.filter((id) => truth.has(id)).length >= 590);
    assert.throws(
      () => (index.efSearch = 0),
      (e) => isQuiverError(e, 'INVALID_ARGUMENT'),
    );
  });

  it('replaces a vector added again under the same id', () => {
    const index = createHnswIndex({ dimension: 16, metric: 'euclid', capacity: 8 });
    vectors.forEach((v, i) => index.add(i, v));
    index.add(10, vectors[20]!);
    assert.equal(index.liveCount, vectors.length);
    assert.deepEqual(index.vector(10), vectors[20]);
    const ids = index.search(vectors[20]!, { k: 2 }).ids;
    assert.deepEqual(
      [...ids].sort((a, b) => a - b),
      [10, 20],
    );
  });

  it('grows past its capacity and keeps sparse ids', () => {
    const index = createHnswIndex({ dimension: 16, metric: 'euclid', capacity: 1 });
    index.add(5000, vectors[0]!);
    index.add(3, vectors[1]!);
    assert.equal(index.liveCount, 2);
    assert.ok(index.has(5000) && index.has(3) && !index.has(4));
    assert.deepEqual(index.search(vectors[1]!, { k: 1 }).ids, [3]);
  });

  it('answers an empty index with no hits', () => {
    const index = createHnswIndex({ dimension: 16, metric: 'cosine' });
    assert.deepEqual(index.search(vectors[0]!, { k: 3 }).ids, []);
  });

  it('rejects wrong dimensions and bad options with typed errors', () => {
    const index = createHnswIndex({ dimension: 16, metric: 'euclid' });
    assert.throws(
      () => index.add(0, new Float32Array(3)),
      (e) => isQuiverError(e, 'DIMENSION_MISMATCH'),
    );
    assert.throws(
      () => index.search(new Float32Array(3), { k: 1 }),
      (e) => isQuiverError(e, 'DIMENSION_MISMATCH'),
    );
    assert.throws(
      () => index.add(-1, vectors[0]!),
      (e) => isQuiverError(e, 'INVALID_ARGUMENT'),
    );
    assert.throws(
      () => createHnswIndex({ dimension: 0, metric: 'euclid' }),
      (e) => isQuiverError(e, 'INVALID_ARGUMENT'),
    );
    assert.throws(
      () => createHnswIndex({ dimension: 4, metric: 'euclid', m: 1 }),
      (e) => isQuiverError(e, 'INVALID_ARGUMENT'),
    );
  });

  it('keeps independent instances apart', () => {
    const a = createHnswIndex({ dimension: 16, metric: 'euclid' });
    const b = createHnswIndex({ dimension: 16, metric: 'euclid' });
    a.add(0, vectors[0]!);
    b.add(0, vectors[1]!);
    assert.deepEqual(a.vector(0), vectors[0]);
    assert.deepEqual(b.vector(0), vectors[1]);
  });

  it('throws UNAVAILABLE, not a crash, when its WebAssembly module is missing', () => {
    const empty = mkdtempSync(join(tmpdir(), 'quiver-nowasm-'));
    try {
      const url = new URL('./hnsw-index.ts', import.meta.url).href;
      const script =
        `const h = await import(${JSON.stringify(url)}); ` +
        `try { h.createHnswIndex({ dimension: 4, metric: 'euclid' }); console.log('created'); } ` +
        `catch (e) { console.log(h.hnswAvailable(), e.code); }`;
      const run = spawnSync(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', script],
        { env: { ...process.env, QUIVER_WASM_DIR: empty }, encoding: 'utf8' },
      );
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout.trim(), 'false UNAVAILABLE');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
