/**
 * Filtered HNSW search: with an `allow` mask or a `filter` callback admitting 10 % or 1 %
 * of the points, every hit passes and recall@10 stays at least 0.95 against brute force.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHnswIndex } from './hnsw-index.js';
import { clusteredVectors, exactOf, recallAt, seededRandom } from './hnsw.fixtures.js';

const N = 10_000;
const DIM = 32;
const vectors = clusteredVectors(N, DIM, 'cosine', 41);
const queries = clusteredVectors(100, DIM, 'cosine', 42);
const index = createHnswIndex({ dimension: DIM, metric: 'cosine' });
vectors.forEach((v, i) => index.add(i, v));
const oracle = exactOf(vectors, 'cosine');

function mask(selectivity: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  return Uint8Array.from({ length: N }, () => (random() < selectivity ? 1 : 0));
}

describe('HnswIndex filtered search', () => {
  for (const selectivity of [0.1, 0.01]) {
    const allow = mask(selectivity, Math.round(selectivity * 1000));

    it(`admits only allowed ids, recall >= 0.95 at ${selectivity * 100} % (allow mask)`, () => {
      for (const q of queries.slice(0, 20)) {
        const r = index.search(q, { k: 10, allow });
        assert.equal(r.ids.length, 10);
        for (const id of r.ids) assert.equal(allow[id], 1);
      }
      const recall = recallAt(index, oracle, queries, { k: 10, ef: 64, allow });
      assert.ok(recall >= 0.95, `recall ${recall}`);
    });

    it(`gives the same answers through a filter callback at ${selectivity * 100} %`, () => {
      const filter = (id: number): boolean => allow[id] === 1;
      for (const q of queries.slice(0, 20)) {
        assert.deepEqual(
          index.search(q, { k: 10, filter }).ids,
          index.search(q, { k: 10, allow }).ids,
        );
      }
      const recall = recallAt(index, oracle, queries, { k: 10, ef: 64, filter });
      assert.ok(recall >= 0.95, `recall ${recall}`);
    });
  }

  it('needs both a mask and a callback to admit when given both', () => {
    const allow = mask(0.5, 7);
    const filter = (id: number): boolean => id % 2 === 0;
    for (const id of index.search(queries[0]!, { k: 20, allow, filter }).ids) {
      assert.ok(allow[id] === 1 && id % 2 === 0);
    }
  });

  it('refuses ids past the end of a short mask, and finds nothing when nothing is allowed', () => {
    const short = new Uint8Array(100).fill(1);
    for (const id of index.search(queries[0]!, { k: 10, allow: short }).ids) assert.ok(id < 100);
    assert.deepEqual(index.search(queries[0]!, { k: 10, allow: new Uint8Array(N) }).ids, []);
  });

  it('combines a filter with tombstones', () => {
    const local = createHnswIndex({ dimension: DIM, metric: 'cosine', repairThreshold: 10 });
    vectors.slice(0, 2000).forEach((v, i) => local.add(i, v));
    for (let i = 0; i < 2000; i += 2) local.remove(i);
    const allow = mask(0.3, 9);
    for (const q of queries.slice(0, 20)) {
      for (const id of local.search(q, { k: 10, allow }).ids)
        assert.ok(id % 2 === 1 && allow[id] === 1);
    }
  });
});
