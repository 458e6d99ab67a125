/**
 * CollectionState's rules, across a growing and a sealing segment: a point is live in
 * exactly one segment (an upsert or payload update deletes the older copy), records at or
 * below `sealedThroughLsn` are skipped (they are on disk already), searches merge the
 * segments best first, and id pages merge their id orders.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Payload, PointId } from '../common/types.js';
import { ExactIndex } from '../ann/exact-index.js';
import { CollectionState } from './collection-state.js';
import { buildCollectionConfig } from './validation.js';

const config = buildCollectionConfig('rules', { dimension: 2, metric: 'euclid' });

function point(id: PointId, x: number, payload: Payload = {}) {
  return { id, vector: Float32Array.of(x, 0), payload };
}

/** Ids 1..3 in a sealing segment (frozen at LSN 1), ids 4..5 in the growing one (LSN 2). */
function twoSegments(sealedThroughLsn = 0): CollectionState {
  const state = new CollectionState(config, 0, sealedThroughLsn, (c) => {
    return new ExactIndex(c.dimension, c.metric);
  });
  state.upsert(1, [point(1, 1, { tag: 'a' }), point(2, 2), point(3, 3)]);
  assert.ok(state.freezeGrowing() !== undefined);
  state.upsert(2, [point(4, 4), point(5, 5)]);
  return state;
}

function search(state: CollectionState, x: number, k: number) {
  return state.search(Float32Array.of(x, 0), {
    k,
    ef: 64,
    exact: false,
    filter: undefined,
    withVector: false,
  });
}

describe('CollectionState', () => {
  it('lists segments newest first and counts live points across them', () => {
    const state = twoSegments();
    assert.deepEqual(
      state.segments().map((s) => s.kind),
      ['growing', 'growing'],
    );
    assert.equal(state.segments()[1], state.sealing[0]);
    assert.equal(state.liveCount, 5);
  });

  it('freezes nothing while the growing segment holds no record', () => {
    const state = new CollectionState(config, 0, 0, () => new ExactIndex(2, 'euclid'));
    assert.equal(state.freezeGrowing(), undefined);
    assert.equal(state.sealing.length, 0);
  });

  it('an upsert deletes the older copy in another segment', () => {
    const state = twoSegments();
    assert.equal(state.upsert(3, [point(2, 20)]), 1);
    assert.equal(state.liveCount, 5);
    assert.equal(state.sealing[0]!.has(2), false);
    assert.deepEqual([...state.get(2)!.vector], [20, 0]);
    const hits = search(state, 20, 10).hits.filter((h) => h.id === 2);
    assert.equal(hits.length, 1, 'one copy of a point, never two');
  });

  it('skips records at or below sealedThroughLsn', () => {
    const state = twoSegments(0);
    state.sealedThroughLsn = 5;
    assert.equal(state.upsert(5, [point(9, 9)]), 0);
    assert.equal(state.delete(5, [1]), 0);
    assert.equal(
      state.updatePayload(5, [1], () => ({})),
      0,
    );
    assert.equal(state.get(9), undefined);
    assert.equal(state.liveCount, 5);
    assert.equal(state.upsert(6, [point(9, 9)]), 1);
  });

  it('a delete counts the ids that were live, in any segment', () => {
    const state = twoSegments();
    assert.equal(state.delete(3, [1, 5, 5, 42]), 2);
    assert.equal(state.liveCount, 3);
    assert.equal(state.get(1), undefined);
    assert.equal(state.get(5), undefined);
  });

  it('a payload update re-writes live points into the growing segment, once each', () => {
    const state = twoSegments();
    const n = state.updatePayload(3, [1, 1, 42], (old) => ({ ...old, seen: true }));
    assert.equal(n, 1);
    assert.equal(state.sealing[0]!.has(1), false);
    assert.equal(state.growing.has(1), true);
    assert.deepEqual(state.get(1)!.payload, { tag: 'a', seen: true });
    assert.deepEqual([...state.get(1)!.vector], [1, 0]);
  });

  it('merges the segments of a search best first, keeping k', () => {
    const state = twoSegments();
    const r = search(state, 3.4, 3);
    assert.deepEqual(
      r.hits.map((h) => h.id),
      [3, 4, 2],
    );
    assert.equal(r.segments.length, 2, 'one stats entry per segment searched');
  });

  it('breaks score ties by id across segments', () => {
    const state = twoSegments();
    state.upsert(3, [point(0, 2)]);
    assert.deepEqual(
      search(state, 2, 2).hits.map((h) => h.id),
      [0, 2],
    );
  });

  it('pages ids in id order across segments, skipping deleted ones', () => {
    const state = twoSegments();
    state.delete(3, [2]);
    assert.deepEqual(state.idsPage(undefined, undefined, 2), { ids: [1, 3], next: 4 });
    assert.deepEqual(state.idsPage(undefined, 4, 2), { ids: [4, 5], next: undefined });
    const tagged = state.idsPage((p) => p['tag'] === 'a', undefined, 10);
    assert.deepEqual(tagged.ids, [1]);
  });

  it('scans points oldest segment first', () => {
    const state = twoSegments();
    assert.deepEqual(
      [...state.points(undefined)].map((p) => p.id),
      [1, 2, 3, 4, 5],
    );
  });
});
