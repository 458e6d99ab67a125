/**
 * The binary quantizer: its parameters, how they are trained from a sample of a segment's
 * vectors, and the JavaScript reference of the encodings and distances that the
 * WebAssembly core (src/kernels/as/hnsw.ts, src/kernels/as/distance.ts) must match.
 *
 * Each dimension is centred on its offset (the sample's mean: a value above it is a 1), so
 * that a model whose dimensions sit away from 0 still gets one bit of information per
 * dimension. `one_bit` keeps one bit plane (c = x - o > 0); `two_bits` keeps two, a
 * thermometer code of three levels (c > -t, c > t, with t = 0.612 σ of the dimension: the
 * optimal three-level thresholds of a normal distribution), so that the Hamming distance
 * of two rows is the distance between their levels. `one_and_half_bits` keeps plane A of
 * two_bits and half of plane B: bit i of its second plane is the OR of the `c > t` bits of
 * dimensions 2i and 2i + 1 (as Qdrant encodes it), 1.5 bits a dimension; it is searched
 * symmetrically only.
 *
 * A symmetric search codes the query the same way and walks by Hamming distance. An
 * asymmetric one (`scalar8bits`, `scalar4bits`) keeps the query as small integers and
 * estimates q·(x - o) as Σ_d w[d]·(2·bit[d] - 1) per plane, with w[d] = m[d]·q[d] (inner
 * products) or m[d]·(q[d] - o[d]) (L2) and m[d] the dimension's magnitude per plane: more
 * exact, slower.
 */
import { invalidArgument } from '../common/quiver-error.js';
import { sampleRows } from './quantizer-sample.js';

export type BinaryEncoding = 'one_bit' | 'two_bits' | 'one_and_half_bits';
export type BinaryQueryEncoding = 'default' | 'binary' | 'scalar4bits' | 'scalar8bits';

/** Trained parameters of the binary quantizer (stored in a segment file's QUANT section). */
export interface BinaryQuantizer {
  readonly kind: 'binary';
  readonly encoding: BinaryEncoding;
  readonly queryEncoding: BinaryQueryEncoding;
  /** Per dimension, the value the bits are taken around (the sample's mean). */
  readonly offsets: Float32Array;
  /** Per dimension, t of the two_bits levels (0 with one_bit). */
  readonly thresholds: Float32Array;
  /** Per dimension, the magnitude one plane's bit stands for (asymmetric estimates). */
  readonly magnitudes: Float32Array;
}

/** In the order of their number in a segment's QUANT section (FORMAT.md §5.3). */
export const BINARY_ENCODINGS: readonly BinaryEncoding[] = [
  'one_bit',
  'two_bits',
  'one_and_half_bits',
];
export const BINARY_QUERY_ENCODINGS: readonly BinaryQueryEncoding[] = [
  'default',
  'binary',
  'scalar4bits',
  'scalar8bits',
];
/** A normal distribution's best three-level thresholds, in standard deviations. */
const TWO_BIT_THRESHOLD = 0.612;

const align16 = (n: number): number => (n + 15) & ~15;

/**
 * Full bit planes a row holds, each a sign in the asymmetric estimate (one_and_half_bits:
 * 1, its half plane is not part of it).
 */
export function planesOf(encoding: BinaryEncoding): number {
  return encoding === 'two_bits' ? 2 : 1;
}

/** The core's `planes` (setCodes): 1, 2, or 3 for one and a half. */
export function corePlanesOf(encoding: BinaryEncoding): number {
  return encoding === 'one_and_half_bits' ? 3 : planesOf(encoding);
}

/** True when the encoding keeps thresholds at ±t (two levels of c beside its sign). */
function leveled(encoding: BinaryEncoding): boolean {
  return encoding !== 'one_bit';
}

/** Bits of each query value: 0 for a symmetric (binary) query. */
export function queryBitsOf(queryEncoding: BinaryQueryEncoding): number {
  if (queryEncoding === 'scalar8bits') return 8;
  return queryEncoding === 'scalar4bits' ? 4 : 0;
}

/** Bytes of one bit plane: one bit per dimension, rounded up to 16. */
export function bitPlaneBytes(dimension: number): number {
  return align16(Math.ceil(dimension / 8));
}

/** Bytes of one slot's row: its planes, then a 16-byte tail (see encodeBinary). */
export function binaryRowBytes(dimension: number, encoding: BinaryEncoding): number {
  return bitPlaneBytes(dimension) * planesOf(encoding) + halfPlaneBytes(dimension, encoding) + 16;
}

/** Bytes of one_and_half_bits' half plane (0 for the other encodings). */
function halfPlaneBytes(dimension: number, encoding: BinaryEncoding): number {
  return encoding === 'one_and_half_bits' ? bitPlaneBytes(Math.ceil(dimension / 2)) : 0;
}

/** Checks an encoding name. */
export function checkBinaryEncoding(value: unknown, field: string): BinaryEncoding {
  if (BINARY_ENCODINGS.includes(value as BinaryEncoding)) return value as BinaryEncoding;
  throw invalidArgument(
    `${field} must be one of ${BINARY_ENCODINGS.join(', ')}, got ${JSON.stringify(value)}.`,
    { field, received: value },
  );
}

/** Checks a query encoding name. */
export function checkQueryEncoding(value: unknown, field: string): BinaryQueryEncoding {
  if (BINARY_QUERY_ENCODINGS.includes(value as BinaryQueryEncoding)) {
    return value as BinaryQueryEncoding;
  }
  throw invalidArgument(
    `${field} must be one of ${BINARY_QUERY_ENCODINGS.join(', ')}, got ${JSON.stringify(value)}.`,
    { field, received: value },
  );
}

/**
 * Trains the quantizer on `vectors` (slot-major, `slots` × `dimension`) from the sample
 * sampleRows takes: per dimension the mean (offset), the standard deviation (threshold of
 * two_bits) and the mean magnitude the bits stand for. Non-finite values are left out.
 */
export function trainBinaryQuantizer(
  vectors: Float32Array,
  slots: number,
  dimension: number,
  encoding: BinaryEncoding = 'one_bit',
  queryEncoding: BinaryQueryEncoding = 'default',
): BinaryQuantizer {
  const { offsets, picked } = sampleRows(vectors, slots, dimension);
  const variance = new Float64Array(dimension);
  const counts = new Float64Array(dimension);
  forEachCentred(vectors, picked, offsets, (d, c) => {
    variance[d] = variance[d]! + c * c;
    counts[d] = counts[d]! + 1;
  });
  const two = leveled(encoding);
  const thresholds = new Float32Array(dimension);
  for (let d = 0; d < dimension; d++) {
    const sigma = counts[d]! > 0 ? Math.sqrt(variance[d]! / counts[d]!) : 0;
    thresholds[d] = two ? TWO_BIT_THRESHOLD * sigma : 0;
  }
  // The magnitude of the values a set bit stands for: mean |c| beyond the threshold, split
  // over the planes (two_bits' outer levels are ±2 plane units).
  const sums = new Float64Array(dimension);
  const beyond = new Float64Array(dimension);
  forEachCentred(vectors, picked, offsets, (d, c) => {
    if (Math.abs(c) <= thresholds[d]! && two) return;
    sums[d] = sums[d]! + Math.abs(c);
    beyond[d] = beyond[d]! + 1;
  });
  const magnitudes = new Float32Array(dimension);
  for (let d = 0; d < dimension; d++) {
    magnitudes[d] = beyond[d]! > 0 ? sums[d]! / beyond[d]! / planesOf(encoding) : 0;
  }
  return Object.freeze({
    kind: 'binary',
    encoding,
    queryEncoding,
    offsets,
    thresholds,
    magnitudes,
  });
}

/** Calls `f(d, x - offset[d])` for every finite value of the sampled rows. */
function forEachCentred(
  vectors: Float32Array,
  picked: readonly number[],
  offsets: Float32Array,
  f: (d: number, c: number) => void,
): void {
  const dimension = offsets.length;
  for (const at of picked) {
    for (let d = 0; d < dimension; d++) {
      const v = vectors[at + d]!;
      if (Number.isFinite(v)) f(d, v - offsets[d]!);
    }
  }
}

/**
 * The row the core stores for `dimension` values of `vector` from `at`: its bit planes,
 * then a tail of f32 ‖x - o‖² (`innerProduct` false) or o·(x - o) (true), an i32 popcount
 * per plane, and f32 λ = Σ c·r / Σ r² with r = m⊙(sum of the planes' signs), the scale
 * that best fits x - o as λ·r (float32 arithmetic in the core's order). NaN values set
 * no bit and add nothing.
 */
export function encodeBinary(
  q: BinaryQuantizer,
  vector: Float32Array,
  innerProduct: boolean,
  at = 0,
  dimension = vector.length - at,
): Uint8Array {
  const f = Math.fround;
  const n = bitPlaneBytes(dimension);
  const planes = planesOf(q.encoding);
  const half = q.encoding === 'one_and_half_bits';
  const codeBytes = binaryRowBytes(dimension, q.encoding) - 16;
  const row = new Uint8Array(codeBytes + 16);
  const tail = new DataView(row.buffer, codeBytes);
  let norm = 0;
  let bias = 0;
  let fit = 0;
  let fitNorm = 0;
  const pops = [0, 0];
  for (let d = 0; d < dimension; d++) {
    const o = q.offsets[d]!;
    const c = f(vector[at + d]! - o);
    if (Number.isNaN(c)) continue;
    norm = f(norm + f(c * c));
    bias = f(bias + f(o * c));
    const t = q.thresholds[d]!;
    if (half && c > t) {
      // The half plane: one bit for dimensions d and d + 1, set when either is above t.
      const at = n + ((d >> 1) >> 3);
      const bit = 1 << ((d >> 1) & 7);
      if ((row[at]! & bit) === 0) pops[1] = pops[1]! + 1;
      row[at] = row[at]! | bit;
    }
    const bits = planes === 2 ? [c > -t, c > t] : [c > (half ? -t : 0)];
    let signs = 0;
    bits.forEach((set, p) => {
      signs += set ? 1 : -1;
      if (!set) return;
      row[p * n + (d >> 3)] = row[p * n + (d >> 3)]! | (1 << (d & 7));
      pops[p] = pops[p]! + 1;
    });
    const r = f(q.magnitudes[d]! * signs);
    fit = f(fit + f(c * r));
    fitNorm = f(fitNorm + f(r * r));
  }
  tail.setFloat32(0, innerProduct ? bias : norm, true);
  tail.setInt32(4, pops[0]!, true);
  tail.setInt32(8, pops[1]!, true);
  tail.setFloat32(12, fitNorm > 0 ? f(fit / fitNorm) : 0, true);
  return row;
}

/** Number of differing bits between a and b: the reference of the kernel hammingBits. */
export function hammingReference(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    let x = a[i]! ^ b[i]!;
    for (; x !== 0; x &= x - 1) s++;
  }
  return s;
}

/** Σ_j 2^j · popcount(q_j & b) over `bits` planes of b.length bytes: planeDot's reference. */
export function planeDotReference(q: Uint8Array, b: Uint8Array, bits: number): number {
  let s = 0;
  for (let j = 0; j < bits; j++) {
    const plane = q.subarray(j * b.length, (j + 1) * b.length);
    s +=
      hammingReference(
        new Uint8Array(b.length),
        plane.map((v, i) => v & b[i]!),
      ) << j;
  }
  return s;
}
