/**
 * HNSW deletes: tombstones are never returned, recall holds after removing 30 % of the
 * points (with and without repair), and repaired slots can be added again.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHnswIndex } from './hnsw-index.js';
import { clusteredVectors, exactOf, recallAt } from './hnsw.fixtures.js';

const N = 10_000;
const DIM = 32;
const vectors = clusteredVectors(N, DIM, 'euclid', 21);
const queries = clusteredVectors(200, DIM, 'euclid', 22);

function removedSet(): Set<number> {
  const removed = new Set<number>();
  for (let i = 0; i < N; i++) if (i % 10 < 3) removed.add(i);
  return removed;
}

for (const repairThreshold of [0.1, 10]) {
  describe(`HnswIndex deletes (repairThreshold ${repairThreshold})`, () => {
    const index = createHnswIndex({ dimension: DIM, metric: 'euclid', repairThreshold });
    vectors.forEach((v, i) => index.add(i, v));
    const removed = removedSet();
    for (const id of removed) index.remove(id);
    const oracle = exactOf(vectors, 'euclid');
    for (const id of removed) oracle.remove(id);

    it('never returns a removed point', () => {
      assert.equal(index.liveCount, N - removed.size);
      for (const id of removed) assert.equal(index.has(id), false);
      for (const q of queries) {
        for (const id of index.search(q, { k: 20 }).ids) assert.ok(!removed.has(id), `id ${id}`);
      }
      for (const id of [0, 1, 2]) {
        assert.ok(!index.search(vectors[id]!, { k: 10, ef: 200 }).ids.includes(id));
      }
    });

    it('keeps recall@10 at least 0.95 after removing 30 %', () => {
      const recall = recallAt(index, oracle, queries, { k: 10, ef: 64 });
      assert.ok(recall >= 0.95, `recall ${recall}`);
    });

    it('returns k results while live points remain', () => {
      assert.equal(index.search(queries[0]!, { k: 10, ef: 10 }).ids.length, 10);
    });
  });
}

describe('HnswIndex repair', () => {
  it('frees tombstones, and freed ids can be added again', () => {
    const index = createHnswIndex({ dimension: DIM, metric: 'euclid', repairThreshold: 10 });
    vectors.slice(0, 2000).forEach((v, i) => index.add(i, v));
    for (let i = 0; i < 500; i++) index.remove(i);
    assert.equal(index.stats().tombstones, 500);
    assert.equal(index.repair(), 500);
    assert.equal(index.stats().tombstones, 0);
    index.add(7, vectors[7]!);
    assert.equal(index.liveCount, 1501);
    assert.deepEqual(index.search(vectors[7]!, { k: 1 }).ids, [7]);
  });

  it('moves the entry point off a removed node and empties cleanly', () => {
    const index = createHnswIndex({ dimension: DIM, metric: 'euclid', repairThreshold: 0 });
    vectors.slice(0, 300).forEach((v, i) => index.add(i, v));
    const entry = index.stats().entry;
    index.remove(entry);
    assert.notEqual(index.stats().entry, entry);
    assert.equal(index.search(vectors[entry]!, { k: 300 }).ids.length, 299);
    for (let i = 0; i < 300; i++) index.remove(i);
    assert.equal(index.liveCount, 0);
    assert.deepEqual(index.search(vectors[0]!, { k: 5 }).ids, []);
    index.add(0, vectors[0]!);
    assert.deepEqual(index.search(vectors[0]!, { k: 5 }).ids, [0]);
  });

  it('revives a tombstone added again before repair', () => {
    const index = createHnswIndex({ dimension: DIM, metric: 'euclid', repairThreshold: 10 });
    vectors.slice(0, 500).forEach((v, i) => index.add(i, v));
    index.remove(42);
    index.add(42, vectors[42]!);
    assert.equal(index.stats().tombstones, 0);
    assert.deepEqual(index.search(vectors[42]!, { k: 1 }).ids, [42]);
  });
});
