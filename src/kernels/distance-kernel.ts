/**
 * The DistanceKernel interface: scores two vectors, greater = closer (aesthetics convention 8).
 * Implementations: the scalar JS reference (scalar-kernel.ts) and WebAssembly SIMD
 * (wasm-kernel.ts; the HNSW search loop calls its SIMD functions inside WebAssembly).
 */
import type { MetricName } from '../common/types.js';

export interface DistanceKernel {
  /** A short name for explain and benchmarks, e.g. "scalar" or "wasm-simd". */
  readonly name: string;
  /** Dot product of a[aOff..aOff+dim) and b[bOff..bOff+dim). */
  dot(a: Float32Array, aOff: number, b: Float32Array, bOff: number, dim: number): number;
  /** Squared Euclidean distance of the same ranges. */
  l2sq(a: Float32Array, aOff: number, b: Float32Array, bOff: number, dim: number): number;
}

/**
 * Internal similarity for a metric: cosine and dot → dot product (cosine vectors are
 * normalised on insert), euclid → negated squared distance.
 */
export function similarity(
  kernel: DistanceKernel,
  metric: MetricName,
  a: Float32Array,
  aOff: number,
  b: Float32Array,
  bOff: number,
  dim: number,
): number {
  return metric === 'euclid'
    ? -kernel.l2sq(a, aOff, b, bOff, dim)
    : kernel.dot(a, aOff, b, bOff, dim);
}

/**
 * Converts an internal similarity to the public score of SPEC section 2. A cosine score is
 * clamped to [-1, 1]: float32 rounding of the normalised vectors makes a vector's dot
 * product with itself come out as 1.00000004, which a client comparing with 1 (or a
 * threshold) would take for a bug. Ranking uses the internal value, so order is unchanged.
 */
export function publicScore(metric: MetricName, internal: number): number {
  if (metric === 'euclid') return Math.sqrt(Math.max(0, -internal));
  return metric === 'cosine' ? Math.min(1, Math.max(-1, internal)) : internal;
}

/** Normalises `v` in place to unit length (zero vectors stay zero). Returns `v`. */
export function normalizeInPlace(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  return scaleToUnit(v, sum);
}

/**
 * Scales `v`, whose squares sum to `squares` (summed in order, as normalizeInPlace does),
 * to unit length in place; a zero vector stays zero. For a caller that has the sum.
 */
export function scaleToUnit(v: Float32Array, squares: number): Float32Array {
  if (squares > 0) {
    const inv = 1 / Math.sqrt(squares);
    for (let i = 0; i < v.length; i++) v[i] = v[i]! * inv;
  }
  return v;
}
