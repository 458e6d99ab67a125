/**
 * The sample quantizers are trained on: up to 4 096 rows of a segment taken at an even
 * stride (the same rows on every run: a segment rebuilt from the same vectors gets the same
 * quantizer), and their per-dimension means, the offsets every quantizer centres on.
 */

/** Rows sampled for training. */
export const SAMPLE_VECTORS = 4096;

/** The sampled rows' starts (in floats) and the per-dimension means of their finite values. */
export interface Sample {
  readonly picked: readonly number[];
  readonly offsets: Float32Array;
}

/** Samples `vectors` (slot-major, `slots` × `dimension`) and takes each dimension's mean. */
export function sampleRows(vectors: Float32Array, slots: number, dimension: number): Sample {
  const rows = Math.max(0, Math.min(slots, Math.floor(vectors.length / dimension)));
  const n = Math.min(rows, SAMPLE_VECTORS);
  const step = rows / Math.max(n, 1);
  const picked = Array.from({ length: n }, (_, i) => Math.floor(i * step) * dimension);
  const sums = new Float64Array(dimension);
  const counts = new Float64Array(dimension);
  for (const at of picked) {
    for (let d = 0; d < dimension; d++) {
      const v = vectors[at + d]!;
      if (!Number.isFinite(v)) continue;
      sums[d] = sums[d]! + v;
      counts[d] = counts[d]! + 1;
    }
  }
  const offsets = new Float32Array(dimension);
  for (let d = 0; d < dimension; d++) offsets[d] = counts[d]! > 0 ? sums[d]! / counts[d]! : 0;
  return { picked, offsets };
}
