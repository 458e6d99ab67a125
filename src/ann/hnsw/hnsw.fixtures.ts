/**
 * Shared fixtures of the HNSW tests: seeded clustered vectors and a brute-force recall
 * oracle (ExactIndex). Only tests import it; tsconfig.build.json leaves *.fixtures.ts out.
 */
import type { MetricName } from '../../common/types.js';
import { normalizeInPlace } from '../../kernels/distance-kernel.js';
import { ExactIndex } from '../exact-index.js';
import type { IndexSearchOptions, VectorIndex } from '../vector-index.js';

/** A deterministic PRNG (mulberry32) returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `count` vectors in `clusters` clusters, each a random 16-dimensional linear patch around a
 * random centre plus small isotropic noise (a low intrinsic dimension, as real embeddings
 * have), normalised for cosine.
 */
export function clusteredVectors(
  count: number,
  dim: number,
  metric: MetricName,
  seed: number,
  clusters = 40,
): Float32Array[] {
  const latent = 16;
  const random = seededRandom(seed);
  const gauss = (): number => {
    const u = 1 - random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  };
  const shape = seededRandom(1);
  const centres = Array.from({ length: clusters }, () =>
    Float32Array.from({ length: dim }, () => shape() * 2 - 1),
  );
  const bases = Array.from({ length: clusters }, () =>
    Float32Array.from({ length: dim * latent }, () => (shape() * 2 - 1) * 0.3),
  );
  return Array.from({ length: count }, () => {
    const c = Math.floor(random() * clusters);
    const centre = centres[c]!;
    const basis = bases[c]!;
    const z = Array.from({ length: latent }, gauss);
    const v = new Float32Array(dim);
    for (let i = 0; i < dim; i++) {
      let x = centre[i]! + 0.02 * gauss();
      for (let j = 0; j < latent; j++) x += basis[i * latent + j]! * z[j]!;
      v[i] = x;
    }
    return metric === 'cosine' ? normalizeInPlace(v) : v;
  });
}

/** An ExactIndex holding `vectors` under ids 0..n-1. */
export function exactOf(vectors: readonly Float32Array[], metric: MetricName): ExactIndex {
  const exact = new ExactIndex(vectors[0]!.length, metric);
  vectors.forEach((v, i) => exact.add(i, v));
  return exact;
}

/** Mean recall@k of `index` against `oracle` over `queries` with the same options. */
export function recallAt(
  index: VectorIndex,
  oracle: VectorIndex,
  queries: readonly Float32Array[],
  options: IndexSearchOptions,
): number {
  let hits = 0;
  let wanted = 0;
  for (const q of queries) {
    const truth = new Set(oracle.search(q, options).ids);
    wanted += truth.size;
    for (const id of index.search(q, options).ids) if (truth.has(id)) hits++;
  }
  return wanted === 0 ? 1 : hits / wanted;
}
