/**
 * The scalar (int8) quantizer: its parameters, how they are trained from a sample of a
 * segment's vectors, and the JavaScript reference of encoding and of the integer distances
 * that the WebAssembly kernels (src/kernels/as/distance.ts) must match.
 *
 * One offset and one scale for every dimension (as Qdrant's scalar quantization):
 * code = clamp(round((x - offset) / scale), -127, 127). Both operands of a distance share
 * them, so the integer sums times scale² are the decoded vectors' distances: the offset
 * cancels in squared L2, and inner-product collections are trained with offset 0 so that
 * dot products need no per-vector correction.
 */
import { invalidArgument } from '../common/quiver-error.js';
import type { MetricName } from '../common/types.js';

/** Trained parameters of the int8 scalar quantizer (stored in a segment file's QUANT section). */
export interface ScalarQuantizer {
  readonly kind: 'scalar';
  /** Share of the sampled values the code range covers (the rest are clipped). */
  readonly quantile: number;
  readonly offset: number;
  /** Value step of one code unit: > 0. */
  readonly scale: number;
}

/** Default share of values the code range covers (Qdrant's default quantile). */
export const DEFAULT_QUANTILE = 0.99;
/** Values sampled for training: enough for stable quantiles, cheap to sort. */
const SAMPLE_VALUES = 1 << 17;

/** Bytes of one slot's codes: the dimension rounded up to 16 (one SIMD register). */
export function codeStride(dimension: number): number {
  return (dimension + 15) & ~15;
}

/** Checks a quantile option: a number in [0.5, 1]. */
export function checkQuantile(value: unknown, field = 'quantile'): number {
  if (typeof value !== 'number' || !(value >= 0.5 && value <= 1)) {
    throw invalidArgument(
      `${field} must be a number from 0.5 to 1, got ${JSON.stringify(value)}.`,
      {
        field,
        received: value,
      },
    );
  }
  return value;
}

/**
 * Trains the quantizer on up to 131 072 values of `vectors` (slot-major, `slots` ×
 * `dimension`), taken at an even stride so the result is reproducible. Inner-product
 * metrics (cosine, dot) get a range symmetric around 0; euclid the central `quantile` of
 * the values.
 */
export function trainScalarQuantizer(
  vectors: Float32Array,
  slots: number,
  dimension: number,
  metric: MetricName,
  quantile = DEFAULT_QUANTILE,
): ScalarQuantizer {
  const total = Math.min(vectors.length, slots * dimension);
  const n = Math.min(total, SAMPLE_VALUES);
  const sample = new Float32Array(n);
  const step = total / Math.max(n, 1);
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const v = vectors[Math.floor(i * step)]!;
    if (Number.isFinite(v)) sample[kept++] = metric === 'euclid' ? v : Math.abs(v);
  }
  const values = sample.subarray(0, kept).sort();
  const at = (q: number): number =>
    kept === 0 ? 0 : values[Math.min(kept - 1, Math.max(0, Math.round(q * (kept - 1))))]!;
  let offset: number;
  let half: number;
  if (metric === 'euclid') {
    const lo = at((1 - quantile) / 2);
    const hi = at((1 + quantile) / 2);
    offset = (lo + hi) / 2;
    half = (hi - lo) / 2;
  } else {
    offset = 0;
    half = at(quantile);
  }
  // A constant sample (all values equal) still needs a positive step.
  const scale = half > 0 ? half / 127 : 1;
  return Object.freeze({
    kind: 'scalar',
    quantile,
    offset: Math.fround(offset),
    scale: Math.fround(scale),
  });
}

/**
 * Encodes `dimension` values of `vector` from `at` into `out` (zero padded to its length),
 * as the WebAssembly core does: the reference of its encoder.
 */
export function encodeScalar(
  q: ScalarQuantizer,
  vector: Float32Array,
  out: Int8Array,
  at = 0,
  dimension = vector.length - at,
): void {
  const inv = Math.fround(1 / q.scale);
  for (let i = 0; i < dimension; i++) {
    const x = Math.fround(Math.fround(vector[at + i]! - q.offset) * inv);
    // Round half to even, as f32.nearest.
    let c = Math.round(x);
    if (Math.abs(x % 1) === 0.5 && c % 2 !== 0) c -= 1;
    out[i] = Number.isNaN(x) ? 0 : Math.max(-127, Math.min(127, c));
  }
  out.fill(0, dimension);
}

/** Sum of a[i]·b[i]: the reference of the kernel dotI8. */
export function dotI8Reference(a: Int8Array, b: Int8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Sum of (a[i] - b[i])²: the reference of the kernel l2sqI8. */
export function l2sqI8Reference(a: Int8Array, b: Int8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    s += d * d;
  }
  return s;
}
