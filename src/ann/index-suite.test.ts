/**
 * Runs the VectorIndex contract suite (index-suite.fixtures.ts) over every index kind: the
 * exact scan, HNSW in private memory, HNSW grown in shared memory, and that graph frozen
 * for worker threads (how sealed segments serve searches).
 */
import assert from 'node:assert/strict';
import { needs } from '../../test/helpers/facility.js';
import { ExactIndex } from './exact-index.js';
import {
  createHnswIndex,
  HnswIndex,
  hnswAvailable,
  sharedHnswAvailable,
} from './hnsw/hnsw-index.js';
import { runIndexSuite } from './index-suite.fixtures.js';
import type { VectorIndex } from './vector-index.js';

runIndexSuite({
  name: 'ExactIndex',
  create: (dimension, metric) => new ExactIndex(dimension, metric),
  approximate: false,
});

runIndexSuite({
  name: 'HnswIndex',
  create: (dimension, metric) => createHnswIndex({ dimension, metric }),
  approximate: true,
  skip: needs('HNSW WebAssembly module', hnswAvailable(), 'no wasm build'),
});

const sharedSkip = needs(
  'shared WebAssembly memory',
  sharedHnswAvailable(),
  'no shared wasm build',
);

runIndexSuite({
  name: 'HnswIndex in shared memory',
  create: (dimension, metric) => createHnswIndex({ dimension, metric, sharedMemory: true }),
  approximate: true,
  skip: sharedSkip,
});

runIndexSuite({
  name: 'HnswIndex frozen for worker lanes',
  create: (dimension, metric) => createHnswIndex({ dimension, metric, sharedMemory: true }),
  freeze: (index: VectorIndex) => {
    assert.ok(index instanceof HnswIndex);
    return index.toShared(2);
  },
  approximate: true,
  skip: sharedSkip,
});
