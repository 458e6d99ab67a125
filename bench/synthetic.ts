/**
 * The scale benchmark's data: a seeded, clustered synthetic set (128-d by default) the bench
 * generates instead of downloading, its queries (same distribution, not in the base set),
 * and exact ground truth computed in WebAssembly with the engine's SIMD scan and cached
 * under the temp dir, so a second run skips the slow part.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHnswIndex } from '../src/ann/hnsw/hnsw-index.js';
import type { Dataset } from './datasets.js';

/** What determines the generated vectors and their ground truth (the cache key). */
export interface SyntheticSpec {
  readonly points: number;
  readonly dim: number;
  readonly queries: number;
  readonly clusters: number;
  readonly seed: number;
  /** Neighbours kept per query in the ground truth. */
  readonly k: number;
}

/** Base vectors and queries, row-major. */
export interface SyntheticVectors {
  readonly base: Float32Array;
  readonly queries: Float32Array;
}

/** Progress lines for the long phases, so a user sees the run is alive. */
export type Progress = (line: string) => void;

/** Bumped whenever the generator changes, so cached ground truth of older data is not read. */
const GENERATOR_VERSION = 1;
/** Dimensions of each cluster's linear patch: a low intrinsic dimension, as real embeddings have. */
const LATENT = 16;
/** Base vectors staged per WebAssembly scan while computing ground truth. */
const SCAN_CHUNK = 50_000;

/** A deterministic PRNG (mulberry32) returning floats in [0, 1). */
function seededRandom(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples from `random` (Box–Muller, both values of each pair used). */
function gaussian(random: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(1 - random()));
    const a = 2 * Math.PI * random();
    spare = r * Math.sin(a);
    return r * Math.cos(a);
  };
}

/** Cluster shapes: a centre and a dim × LATENT basis per cluster, from the spec's seed. */
function clusterShapes(spec: SyntheticSpec): { centres: Float32Array; bases: Float32Array } {
  const shape = seededRandom(spec.seed);
  const centres = new Float32Array(spec.clusters * spec.dim);
  for (let i = 0; i < centres.length; i++) centres[i] = shape() * 2 - 1;
  const bases = new Float32Array(spec.clusters * spec.dim * LATENT);
  for (let i = 0; i < bases.length; i++) bases[i] = (shape() * 2 - 1) * 0.3;
  return { centres, bases };
}

/** Fills `out` with rows drawn from the clusters: centre + basis · z + small noise. */
function fillRows(
  out: Float32Array,
  spec: SyntheticSpec,
  shapes: { centres: Float32Array; bases: Float32Array },
  seed: number,
  progress?: (done: number) => void,
): void {
  const { dim, clusters } = spec;
  const random = seededRandom(seed);
  const gauss = gaussian(random);
  const z = new Float64Array(LATENT);
  const rows = out.length / dim;
  for (let r = 0; r < rows; r++) {
    const c = Math.floor(random() * clusters);
    for (let j = 0; j < LATENT; j++) z[j] = gauss();
    const centre = c * dim;
    const basis = c * dim * LATENT;
    for (let i = 0; i < dim; i++) {
      let x = shapes.centres[centre + i]! + 0.02 * gauss();
      const b = basis + i * LATENT;
      for (let j = 0; j < LATENT; j++) x += shapes.bases[b + j]! * z[j]!;
      out[r * dim + i] = x;
    }
    if (progress !== undefined && (r + 1) % 100_000 === 0) progress(r + 1);
  }
}

/**
 * The base set and the queries. Queries come from their own random stream, so none is a
 * base vector, but from the same clusters.
 */
export function generateClustered(spec: SyntheticSpec, progress: Progress): SyntheticVectors {
  const t0 = performance.now();
  const shapes = clusterShapes(spec);
  const base = new Float32Array(spec.points * spec.dim);
  fillRows(base, spec, shapes, spec.seed + 1, (done) =>
    progress(`generated ${done}/${spec.points} vectors (${seconds(t0)} s)`),
  );
  const queries = new Float32Array(spec.queries * spec.dim);
  fillRows(queries, spec, shapes, spec.seed + 2);
  return { base, queries };
}

function seconds(t0: number): string {
  return ((performance.now() - t0) / 1000).toFixed(1);
}

/** The best `k` of two lists sorted best first (greater score = closer). */
function mergeTop(
  ids: Int32Array,
  scores: Float64Array,
  moreIds: readonly number[],
  moreScores: readonly number[],
  offset: number,
): void {
  const k = ids.length;
  const a = ids.slice();
  const as = scores.slice();
  let i = 0;
  let j = 0;
  for (let o = 0; o < k; o++) {
    if (j < moreIds.length && (i >= k || moreScores[j]! > as[i]!)) {
      ids[o] = moreIds[j]! + offset;
      scores[o] = moreScores[j]!;
      j++;
    } else {
      ids[o] = a[i]!;
      scores[o] = as[i]!;
      i++;
    }
  }
}

/**
 * Exact top-k (squared L2) of every query within the first `size` base vectors, for each of
 * `sizes` in one pass: base vectors are staged, never linked, into an HNSW index chunk by
 * chunk and scanned in WebAssembly with the SIMD kernel; each query's running top-k is
 * copied out when the pass reaches a size.
 */
export function exactGroundTruth(
  vectors: SyntheticVectors,
  spec: SyntheticSpec,
  sizes: readonly number[],
  progress: Progress,
): Int32Array[] {
  const { dim, k } = spec;
  const nq = spec.queries;
  const ids = Array.from({ length: nq }, () => new Int32Array(k).fill(-1));
  const scores = Array.from({ length: nq }, () => new Float64Array(k).fill(-Infinity));
  const ends = [...new Set(sizes)].sort((x, y) => x - y);
  const out = new Map<number, Int32Array>();
  const t0 = performance.now();
  for (let from = 0; from < ends[ends.length - 1]!;) {
    const to = Math.min(
      from + SCAN_CHUNK,
      ends.find((e) => e > from)!,
    );
    const index = createHnswIndex({ dimension: dim, metric: 'euclid', capacity: to - from });
    for (let p = from; p < to; p++)
      index.stage(p - from, vectors.base.subarray(p * dim, (p + 1) * dim));
    for (let q = 0; q < nq; q++) {
      const found = index.scanStaged(vectors.queries.subarray(q * dim, (q + 1) * dim), {
        k,
        from: 0,
      });
      mergeTop(ids[q]!, scores[q]!, found.ids, found.scores, from);
    }
    from = to;
    progress(
      `ground truth: ${from}/${ends[ends.length - 1]} base vectors scanned (${seconds(t0)} s)`,
    );
    if (ends.includes(from)) {
      const rows = new Int32Array(nq * k);
      ids.forEach((row, q) => rows.set(row, q * k));
      out.set(from, rows);
    }
  }
  return sizes.map((s) => out.get(s)!);
}

/** Where the ground truth of `spec` at `sizes` is cached. */
function cachePath(spec: SyntheticSpec, sizes: readonly number[]): string {
  const key = JSON.stringify({ v: GENERATOR_VERSION, latent: LATENT, ...spec, sizes });
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 24);
  return join(tmpdir(), 'quiver-bench-cache', `${hash}.bin`);
}

/** {@link exactGroundTruth}, read from the cache when an earlier run computed it. */
export function cachedGroundTruth(
  vectors: SyntheticVectors,
  spec: SyntheticSpec,
  sizes: readonly number[],
  progress: Progress,
): Int32Array[] {
  const file = cachePath(spec, sizes);
  const rowBytes = spec.queries * spec.k * 4;
  if (existsSync(file)) {
    const buf = readFileSync(file);
    if (buf.byteLength === rowBytes * sizes.length) {
      progress(`ground truth read from ${file}`);
      const all = new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
      return sizes.map((_, i) => all.slice((i * rowBytes) / 4, ((i + 1) * rowBytes) / 4));
    }
  }
  const truth = exactGroundTruth(vectors, spec, sizes, progress);
  mkdirSync(join(tmpdir(), 'quiver-bench-cache'), { recursive: true });
  // Written aside and renamed, so an interrupted run never leaves a short file to be read.
  const partial = `${file}.${process.pid}.tmp`;
  writeFileSync(
    partial,
    Buffer.concat(truth.map((t) => Buffer.from(t.buffer, t.byteOffset, t.byteLength))),
  );
  renameSync(partial, file);
  progress(`ground truth cached in ${file}`);
  return truth;
}

/** The first `size` base vectors as a benchmark dataset, with their ground truth rows. */
export function syntheticDataset(
  vectors: SyntheticVectors,
  spec: SyntheticSpec,
  size: number,
  truth: Int32Array,
): Dataset {
  const groundTruth: Int32Array[] = [];
  for (let q = 0; q < spec.queries; q++)
    groundTruth.push(truth.subarray(q * spec.k, (q + 1) * spec.k));
  return {
    name: `synthetic-clustered-${spec.dim}d-${size}`,
    metric: 'euclid',
    dim: spec.dim,
    count: size,
    base: vectors.base.subarray(0, size * spec.dim),
    queryCount: spec.queries,
    queries: vectors.queries,
    groundTruth,
  };
}
