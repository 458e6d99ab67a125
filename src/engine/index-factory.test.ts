/**
 * The index factory: a new segment gets an HNSW index with the collection's parameters
 * (in shared memory when asked); a sealed segment's index is its graph read back (frozen
 * with worker lanes when asked), or an exact index of its live slots when it has no graph.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { needs } from '../../test/helpers/facility.js';
import { HnswIndex, hnswAvailable, sharedHnswAvailable } from '../ann/hnsw/hnsw-index.js';
import type { SegmentData } from '../storage/segment/segment-file.js';
import { createIndex, loadIndex } from './index-factory.js';
import { buildCollectionConfig } from './validation.js';

const config = buildCollectionConfig('factory', {
  dimension: 3,
  metric: 'dot',
  hnsw: { m: 8, efConstruction: 50, efSearch: 32 },
});

/** Three slots, the middle one deleted before sealing. */
function segmentData(graph: Uint8Array | undefined): SegmentData {
  return {
    segmentId: 1,
    collection: 'factory',
    dimension: 3,
    metric: 'dot',
    minLsn: 1,
    maxLsn: 1,
    ids: [10, undefined, 12],
    payloads: ['', '', ''],
    vectors: Float32Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1),
    graph,
  };
}

describe('index factory', { skip: needs('HNSW WebAssembly module', hnswAvailable(), '') }, () => {
  it("creates an HNSW index with the collection's parameters", () => {
    const index = createIndex(config);
    assert.ok(index instanceof HnswIndex);
    assert.deepEqual([index.dimension, index.metric, index.m], [3, 'dot', 8]);
    assert.deepEqual([index.efConstruction, index.efSearch], [50, 32]);
    assert.equal(index.sharedBuffer, false);
  });

  it(
    'grows it in shared memory when asked',
    { skip: needs('shared memory', sharedHnswAvailable(), '') },
    () => {
      const index = createIndex(config, undefined, true);
      assert.ok(index instanceof HnswIndex);
      assert.equal(index.sharedBuffer, true);
      assert.equal(index.shared, false, 'not frozen until sealed');
    },
  );

  it('scans a sealed segment without a graph exactly, over its live slots', () => {
    const index = loadIndex(segmentData(undefined), 'seg-1');
    assert.equal(index.kind, 'exact');
    assert.equal(index.liveCount, 2);
    assert.equal(index.has(1), false);
    assert.deepEqual([...index.vector(2)], [0, 0, 1]);
  });

  it(
    'reads a sealed graph back, frozen for worker lanes when asked',
    { skip: needs('shared memory', sharedHnswAvailable(), '') },
    () => {
      const graph = createIndex(config);
      graph.add(0, Float32Array.of(1, 0, 0));
      graph.add(2, Float32Array.of(0, 0, 1));
      const bytes = graph.serialize();
      const plain = loadIndex(segmentData(bytes), 'seg-1');
      assert.ok(plain instanceof HnswIndex);
      assert.equal(plain.shared, false);
      assert.equal(plain.liveCount, 2);
      const frozen = loadIndex(segmentData(bytes), 'seg-1', 2);
      assert.ok(frozen instanceof HnswIndex);
      assert.equal(frozen.shared, true);
    },
  );
});
