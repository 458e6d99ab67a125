/**
 * RecallSampler: samples one approximate search in 50, re-runs each sample once (at most 8
 * a round, newest first, the newest 32 kept) and estimates recall@k over the pooled
 * outcomes. The graph here is a stand-in that finds exactly half of the true top 10, so
 * the estimate it must report is known: 0.5.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ExactIndex } from '../ann/exact-index.js';
import { seededRandom } from '../ann/hnsw/hnsw.fixtures.js';
import type { IndexSearchOptions, IndexSearchResult, VectorIndex } from '../ann/vector-index.js';
import { CollectionState } from './collection-state.js';
import { RecallSampler } from './recall-sampler.js';
import { buildCollectionConfig } from './validation.js';

const DIM = 8;
const K = 10;

/**
 * A graph stand-in: an exact scan for `scan` (the exact plan), while `search` (the graph
 * plan) returns ranks 1-5 and 11-15 of the truth: half of the top 10.
 */
class HalfRightIndex implements VectorIndex {
  readonly kind = 'half-right';
  readonly metric = 'euclid';
  private readonly inner: ExactIndex;

  constructor(readonly dimension: number) {
    this.inner = new ExactIndex(dimension, 'euclid');
  }

  get liveCount(): number {
    return this.inner.liveCount;
  }
  add(id: number, vector: Float32Array): void {
    this.inner.add(id, vector);
  }
  remove(id: number): void {
    this.inner.remove(id);
  }
  has(id: number): boolean {
    return this.inner.has(id);
  }
  vector(id: number): Float32Array {
    return this.inner.vector(id);
  }
  scan(query: Float32Array, options: { k: number; allow?: Uint8Array }): IndexSearchResult {
    return this.inner.scan(query, options);
  }
  search(query: Float32Array, options: IndexSearchOptions): IndexSearchResult {
    const r = this.inner.search(query, { ...options, k: 2 * options.k });
    const half = options.k / 2;
    const pick = [...r.ids.keys()].filter(
      (j) => j < half || (j >= options.k && j < options.k + half),
    );
    return { ...r, ids: pick.map((j) => r.ids[j]!), scores: pick.map((j) => r.scores[j]!) };
  }
  serialize(): Uint8Array {
    return this.inner.serialize();
  }
  memoryBytes(): number {
    return this.inner.memoryBytes();
  }
  vectorBytes(): number {
    return this.inner.vectorBytes();
  }
}

/** A collection of 400 points (past the exact-scan size, so searches take the graph plan). */
async function stateWithPoints(): Promise<CollectionState> {
  const config = buildCollectionConfig('sampled', { dimension: DIM, metric: 'euclid' });
  const state = new CollectionState(config, 0, 0, () => new HalfRightIndex(DIM));
  const random = seededRandom(9);
  const points = Array.from({ length: 400 }, (_, id) => ({
    id,
    vector: Float32Array.from({ length: DIM }, () => random() * 2 - 1),
    payload: {},
  }));
  state.upsert(1, points);
  await state.growing.indexAll();
  return state;
}

/** Offers `count` searches with distinct queries. */
function offer(sampler: RecallSampler, count: number): void {
  const random = seededRandom(count);
  for (let i = 0; i < count; i++) {
    const query = Float32Array.from({ length: DIM }, () => random() * 2 - 1);
    sampler.offer(query, K, 64, undefined);
  }
}

describe('RecallSampler', async () => {
  const state = await stateWithPoints();
  after(() => state.growing.stop());
  const sampler = (): RecallSampler => new RecallSampler(state, () => false);

  it('has no estimate before a round, nor after a round with no samples', () => {
    const s = sampler();
    assert.equal(s.estimate, undefined);
    assert.equal(s.run(), undefined);
    assert.equal(s.checked, 0);
  });

  it('estimates recall@k from the re-run samples', () => {
    const s = sampler();
    offer(s, 1);
    assert.equal(s.run(), 0.5);
    assert.equal(s.estimate, 0.5);
    assert.equal(s.checked, 1);
  });

  it('samples the first search and one in 50 after it', () => {
    const s = sampler();
    offer(s, 50);
    s.run();
    assert.equal(s.checked, 1);
    offer(s, 1);
    s.run();
    assert.equal(s.checked, 2);
  });

  it('re-runs each sample once, at most 8 a round', () => {
    const s = sampler();
    offer(s, 50 * 20);
    assert.deepEqual([s.run(), s.checked], [0.5, 8]);
    s.run();
    assert.equal(s.checked, 16);
    s.run();
    assert.equal(s.checked, 20);
    s.run();
    assert.equal(s.checked, 20);
  });

  it('keeps only the newest 32 samples', () => {
    const s = sampler();
    offer(s, 50 * 40);
    for (let round = 0; round < 6; round++) s.run();
    assert.equal(s.checked, 32);
  });
});
