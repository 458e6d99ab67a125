/**
 * Chooses and builds the vector index of a segment: HNSW when its WebAssembly module is
 * available, the exact scan otherwise; and loads an index back from a segment file.
 */
import type { Logger } from '../common/logger.js';
import { ExactIndex } from '../ann/exact-index.js';
import { createHnswIndex, hnswAvailable, HnswIndex } from '../ann/hnsw/hnsw-index.js';
import type { VectorIndex } from '../ann/vector-index.js';
import type { SegmentData } from '../storage/segment/segment-file.js';
import type { CollectionConfig } from './validation.js';

let warned = false;

/**
 * A new, empty index for a growing segment of `config`; in shared memory when
 * `sharedMemory` (search workers will read it once it is sealed).
 */
export function createIndex(
  config: CollectionConfig,
  logger?: Logger,
  sharedMemory = false,
): VectorIndex {
  if (hnswAvailable()) {
    return createHnswIndex({
      dimension: config.dimension,
      metric: config.metric,
      m: config.hnsw.m,
      efConstruction: config.hnsw.efConstruction,
      efSearch: config.hnsw.efSearch,
      sharedMemory,
    });
  }
  if (!warned && logger !== undefined) {
    warned = true;
    logger.warn({}, 'HNSW unavailable (WebAssembly module missing): searches scan exactly');
  }
  return new ExactIndex(config.dimension, config.metric);
}

/**
 * The index of a sealed segment: its graph deserialized (into shared memory with `lanes`
 * worker lanes when lanes > 0), or an exact index of its vectors. `vectorsOnDisk`: a graph
 * is made without its vectors, in private memory (an onDisk collection's segment: quantize
 * it with the file's vectors, then give it the file).
 */
export function loadIndex(
  data: SegmentData,
  file: string,
  lanes = 0,
  vectorsOnDisk = false,
): VectorIndex {
  if (data.graph !== undefined && hnswAvailable()) {
    // decodeSegment checked the GRAPH section's checksum, which covers the whole blob.
    return HnswIndex.deserialize(data.graph, file, {
      lanes: vectorsOnDisk ? 0 : lanes,
      vectors: vectorsOnDisk ? 'on-disk' : data.vectors,
      checksummed: true,
    });
  }
  const index = new ExactIndex(data.dimension, data.metric);
  const dim = data.dimension;
  for (let slot = 0; slot < data.ids.length; slot++) {
    if (data.ids[slot] === undefined) continue;
    index.add(slot, data.vectors.subarray(slot * dim, (slot + 1) * dim));
  }
  return index;
}
