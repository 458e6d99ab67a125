/**
 * The scalar (int8) quantizer: its parameters, how they are trained from a sample of a
 * segment's vectors, its layout in WebAssembly memory, and the JavaScript reference of
 * encoding and of the integer distances that the WebAssembly kernels
 * (src/kernels/as/distance.ts, src/kernels/as/hnsw.ts) must match.
 *
 * Each dimension is centred on its own offset (the sample's mean), then one scale serves
 * all: code = clamp(round((x - offset[d]) / scale), -127, 127). Centring matters: embedding
 * models have dimensions far from 0 in every vector (bge-m3 has values near 0.7 where most
 * are within ±0.04), and a range around 0 would either clip them or waste the codes on
 * them. The offsets cancel in squared L2. For inner products
 *   x·q ≈ Σ q[d]·offset[d] + s·Σ offset[d]·c[d] + s²·Σ e[d]·c[d]      (q coded as e)
 * the first term is the query's (computed once per search), the second is the vector's
 * bias (stored beside its codes), the third the int8 kernel's dot product.
 */
import { invalidArgument } from '../common/quiver-error.js';
import { sampleRows } from './quantizer-sample.js';

/** Trained parameters of the int8 scalar quantizer (stored in a segment file's QUANT section). */
export interface ScalarQuantizer {
  readonly kind: 'scalar';
  /** Share of the sampled centred values the code range covers (the rest are clipped). */
  readonly quantile: number;
  /** Per dimension, the value coded 0 (the sample's mean). */
  readonly offsets: Float32Array;
  /** Value step of one code unit: > 0. */
  readonly scale: number;
}

/** Default share of values the code range covers (Qdrant's default quantile). */
export const DEFAULT_QUANTILE = 0.99;
/** Centred values sampled for the scale's quantile. */
const SAMPLE_VALUES = 1 << 17;

const align16 = (n: number): number => (n + 15) & ~15;
const F32_MAX = 3.4028234663852886e38;

/** Bytes of one vector's codes: the dimension rounded up to 16 (one SIMD register). */
export function codeLength(dimension: number): number {
  return align16(dimension);
}

/** Bytes of one slot's row: its codes, then its bias (f32) in a 16-byte tail. */
export function codeRowBytes(dimension: number): number {
  return codeLength(dimension) + 16;
}

/** Bytes before the rows of a codes region: the offsets (f32 per dimension), 16-aligned. */
export function codeHeaderBytes(dimension: number): number {
  return align16(dimension * 4);
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
 * Trains the quantizer on `vectors` (slot-major, `slots` × `dimension`): offsets are the
 * means of the rows sampleRows takes; the scale makes the `quantile` of their centred
 * magnitudes (up to 131 072 values) the largest code, 127.
 * Non-finite values are left out.
 */
export function trainScalarQuantizer(
  vectors: Float32Array,
  slots: number,
  dimension: number,
  quantile = DEFAULT_QUANTILE,
): ScalarQuantizer {
  const { picked, offsets } = sampleRows(vectors, slots, dimension);
  const n = picked.length;
  const total = n * dimension;
  const take = Math.min(total, SAMPLE_VALUES);
  // float64: a centred value of two far-apart float32s can pass the float32 range.
  const sample = new Float64Array(take);
  let kept = 0;
  for (let i = 0; i < take; i++) {
    const j = Math.floor((i * total) / take);
    const d = j % dimension;
    const v = vectors[picked[Math.floor(j / dimension)]! + d]!;
    if (Number.isFinite(v)) sample[kept++] = Math.abs(v - offsets[d]!);
  }
  const values = sample.subarray(0, kept).sort();
  const top = kept === 0 ? 0 : values[Math.min(kept - 1, Math.round(quantile * (kept - 1)))]!;
  return Object.freeze({ kind: 'scalar', quantile, offsets, scale: usableScale(top / 127) });
}

/**
 * A positive, finite float32 step: a constant sample (every centred value 0) or one too
 * small for float32 gets 1; one past the float32 range gets the largest step.
 */
function usableScale(scale: number): number {
  const f = Math.fround(scale);
  if (f === Infinity) return Math.fround(F32_MAX / 127);
  return f > 0 ? f : 1;
}

/**
 * Encodes `dimension` values of `vector` from `at` into `out` (codes, zero padded to its
 * length) as the WebAssembly core does, and returns the vector's bias, s·Σ offset[d]·c[d],
 * accumulated in float32 in the core's order: the reference of its encoder.
 */
export function encodeScalar(
  q: ScalarQuantizer,
  vector: Float32Array,
  out: Int8Array,
  at = 0,
  dimension = vector.length - at,
): number {
  const f = Math.fround;
  const inv = f(1 / q.scale);
  let bias = 0;
  for (let i = 0; i < dimension; i++) {
    const o = q.offsets[i]!;
    const x = f(f(vector[at + i]! - o) * inv);
    // Round half to even, as f32.nearest.
    let c = Math.round(x);
    if (Math.abs(x % 1) === 0.5 && c % 2 !== 0) c -= 1;
    const code = Number.isNaN(x) ? 0 : Math.max(-127, Math.min(127, c));
    out[i] = code;
    bias = f(bias + f(o * code));
  }
  out.fill(0, dimension);
  return f(bias * q.scale);
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
