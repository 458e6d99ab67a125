/**
 * Staged vectors (stored in the index's memory, not linked): only scanStaged finds them,
 * exactly; commit links them where they lie; removing one empties its slot; an index with
 * staged vectors refuses to serialize or be shared.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isQuiverError } from '../../common/quiver-error.js';
import { createHnswIndex } from './hnsw-index.js';
import { clusteredVectors, exactOf } from './hnsw.fixtures.js';

const DIM = 24;
const vectors = clusteredVectors(1200, DIM, 'euclid', 31);
const queries = clusteredVectors(30, DIM, 'euclid', 32);

/** Linked: ids 0..599; staged: 600..1199. */
function half() {
  const index = createHnswIndex({ dimension: DIM, metric: 'euclid', capacity: 64 });
  vectors.forEach((v, i) => (i < 600 ? index.add(i, v) : index.stage(i, v)));
  return index;
}

describe('HnswIndex staged vectors', () => {
  it('are found by scanStaged exactly, and by no graph search or live scan', () => {
    const index = half();
    assert.equal(index.stagedCount, 600);
    assert.equal(index.liveCount, 600);
    const oracle = exactOf(vectors, 'euclid');
    for (let i = 0; i < 600; i++) oracle.remove(i);
    for (const q of queries) {
      const staged = index.scanStaged(q, { k: 10, from: 0 });
      const truth = oracle.search(q, { k: 10 });
      assert.deepEqual(staged.ids, truth.ids);
      staged.scores.forEach((s, j) => assert.ok(Math.abs(s - truth.scores[j]!) < 1e-3));
      assert.equal(staged.distanceComputations, 600);
      for (const id of index.search(q, { k: 50, ef: 400 }).ids) assert.ok(id < 600, `id ${id}`);
      for (const id of index.scan(q, { k: 50 }).ids) assert.ok(id < 600, `id ${id}`);
    }
  });

  it('scans from `from` and honours the allow mask', () => {
    const index = half();
    const allow = new Uint8Array(1200);
    for (let i = 0; i < 1200; i += 3) allow[i] = 1;
    for (const q of queries.slice(0, 5)) {
      for (const id of index.scanStaged(q, { k: 20, from: 900, allow }).ids) {
        assert.ok(id >= 900 && id % 3 === 0, `id ${id}`);
      }
    }
    assert.equal(index.scanStaged(queries[0]!, { k: 5, from: 900 }).distanceComputations, 300);
  });

  it('commit links a staged vector where it lies; graph recall as if added', () => {
    const index = half();
    for (let i = 600; i < 1200; i++) index.commit(i);
    assert.equal(index.stagedCount, 0);
    assert.equal(index.liveCount, 1200);
    assert.deepEqual(index.vector(700), vectors[700]);
    const oracle = exactOf(vectors, 'euclid');
    let hits = 0;
    for (const q of queries) {
      const truth = new Set(oracle.search(q, { k: 10 }).ids);
      for (const id of index.search(q, { k: 10, ef: 100 }).ids) if (truth.has(id)) hits++;
    }
    assert.ok(hits / (queries.length * 10) >= 0.95, `recall ${hits / (queries.length * 10)}`);
    assert.throws(
      () => index.commit(700),
      (e) => isQuiverError(e, 'INVALID_ARGUMENT'),
    );
  });

  it('removing a staged vector empties its slot; staging over a live one is refused', () => {
    const index = half();
    assert.equal(index.isStaged(800), true);
    assert.deepEqual(index.vector(800), vectors[800]);
    index.remove(800);
    assert.equal(index.isStaged(800), false);
    assert.equal(index.stagedCount, 599);
    assert.ok(!index.scanStaged(vectors[800]!, { k: 5, from: 0 }).ids.includes(800));
    assert.throws(
      () => index.stage(10, vectors[10]!),
      (e) => isQuiverError(e, 'INVALID_ARGUMENT'),
    );
    assert.throws(
      () => index.stage(801, vectors[801]!),
      (e) => isQuiverError(e, 'INVALID_ARGUMENT'),
    );
    index.add(801, vectors[801]!);
    assert.equal(index.isStaged(801), false);
    assert.equal(index.has(801), true);
    assert.equal(index.stagedCount, 598);
  });

  it('refuses to serialize or be shared while vectors are staged', () => {
    const index = half();
    assert.throws(
      () => index.serialize(),
      (e) => isQuiverError(e, 'INTERNAL'),
    );
    assert.throws(
      () => index.toShared(1),
      (e) => isQuiverError(e, 'INTERNAL'),
    );
    for (let i = 600; i < 1200; i++) if (index.isStaged(i)) index.commit(i);
    assert.ok(index.serialize().length > 0);
  });
});
