/**
 * The product quantizer: its parameters (a codebook of 256 centroids per subspace), how
 * they are trained with k-means on a sample of a segment's vectors, its layout in
 * WebAssembly memory, and the JavaScript reference of encoding and of the table distance
 * that the core (src/kernels/as/hnsw.ts) must match.
 *
 * A vector is cut into subspaces of `subDim` consecutive dimensions (the last one shorter
 * when the dimension does not divide: its centroids are zero past the end), and each
 * subvector is coded as the number of its nearest centroid, one byte. `compression` is
 * Qdrant's name for the ratio of float bytes to code bytes: x16 keeps one byte for every
 * 4 dimensions (16 bytes of floats). A search first scores the query's subvectors against
 * every centroid (a table of subspaces × 256 floats), then a row's distance is the sum of
 * its table entries: squared L2 of the reconstruction, or minus its inner product.
 */
import { invalidArgument } from '../common/quiver-error.js';
import type { Steps } from '../common/steps.js';
import { runSteps } from '../common/steps.js';
import type { QuiverWasmExports } from '../kernels/wasm-module.js';
import { instantiateQuiverWasm } from '../kernels/wasm-module.js';
import { sampleRows } from './quantizer-sample.js';

export type ProductCompression = 'x4' | 'x8' | 'x16' | 'x32' | 'x64';

/** Trained parameters of the product quantizer (stored in a segment file's QUANT section). */
export interface ProductQuantizer {
  readonly kind: 'product';
  readonly compression: ProductCompression;
  readonly dimension: number;
  /** subspaces × 256 × subDim values, subspace-major, then centroid-major. */
  readonly centroids: Float32Array;
}

/** In the order of their number in a segment's QUANT section (FORMAT.md §5.3). */
export const PRODUCT_COMPRESSIONS: readonly ProductCompression[] = [
  'x4',
  'x8',
  'x16',
  'x32',
  'x64',
];

/** Centroids per subspace: one byte names one. */
export const CENTROIDS = 256;
/** Lloyd iterations at most (they stop earlier once no assignment changes). */
const ITERATIONS = 6;
/**
 * Distance terms one iteration may compute (rows × 256 × dimension): at 1024 dimensions
 * it trains on 1 024 rows, at 128 on the sample's 4 096; a seal spends a few seconds at most.
 */
const TRAIN_BUDGET = 1 << 28;

const align16 = (n: number): number => (n + 15) & ~15;

/** Dimensions per subspace: 4 bytes of float per dimension, one byte of code per subspace. */
export function subDimOf(compression: ProductCompression): number {
  return (4 << PRODUCT_COMPRESSIONS.indexOf(compression)) / 4;
}

/** Subspaces of a `dimension`-d vector: its code's length in bytes. */
export function subspacesOf(dimension: number, compression: ProductCompression): number {
  return Math.ceil(dimension / subDimOf(compression));
}

/** Bytes of one slot's row: the centroid numbers, zero padded to 16. */
export function productRowBytes(dimension: number, compression: ProductCompression): number {
  return align16(subspacesOf(dimension, compression));
}

/** Bytes of a query's distance table (the core's query scratch must hold it). */
export function productTableBytes(dimension: number, compression: ProductCompression): number {
  return subspacesOf(dimension, compression) * CENTROIDS * 4;
}

/** Checks a compression name. */
export function checkCompression(value: unknown, field: string): ProductCompression {
  if (PRODUCT_COMPRESSIONS.includes(value as ProductCompression)) {
    return value as ProductCompression;
  }
  throw invalidArgument(
    `${field} must be one of ${PRODUCT_COMPRESSIONS.join(', ')}, got ${JSON.stringify(value)}.`,
    { field, received: value },
  );
}

/**
 * Trains a product quantizer on `vectors` (slot-major, `slots` × `dimension`): per
 * subspace, k-means from centroids at evenly spaced sample rows (the same on every run),
 * Lloyd iterations until no row changes its centroid or ITERATIONS. A centroid that loses
 * all its rows keeps its place. Non-finite values count as 0.
 */
export function trainProductQuantizer(
  vectors: Float32Array,
  slots: number,
  dimension: number,
  compression: ProductCompression,
): ProductQuantizer {
  return runSteps(productTraining(vectors, slots, dimension, compression));
}

/**
 * trainProductQuantizer as steps, one subspace's k-means each (a few to some tens of
 * milliseconds): a seal runs them in slices, so searches are not held for the whole
 * training (0.2–2 s at 128 to 1024 dimensions).
 */
export function* productTraining(
  vectors: Float32Array,
  slots: number,
  dimension: number,
  compression: ProductCompression,
): Steps<ProductQuantizer> {
  const s = subDimOf(compression);
  const m = subspacesOf(dimension, compression);
  const { picked } = sampleRows(vectors, slots, dimension);
  const budget = Math.max(CENTROIDS, Math.floor(TRAIN_BUDGET / (CENTROIDS * dimension)));
  const n = Math.min(picked.length, budget);
  // The training rows are copied before the first step: `vectors` may be a view of an
  // index's WebAssembly memory, which a search between two steps can grow (and detach).
  const rows = new Float32Array(n * dimension);
  for (let i = 0; i < n; i++) {
    const at = picked[Math.floor((i * picked.length) / n)]!;
    rows.set(vectors.subarray(at, at + dimension), i * dimension);
  }
  const centroids = new Float32Array(m * CENTROIDS * s);
  const sub = new Float32Array(n * s);
  const wasm = instantiateQuiverWasm();
  const assign: Assign = wasm === undefined ? assignJs : (...args) => assignWasm(wasm, ...args);
  for (let space = 0; space < m; space++) {
    const first = space * s;
    const width = Math.min(s, dimension - first);
    sub.fill(0);
    for (let r = 0; r < n; r++) {
      for (let i = 0; i < width; i++) {
        const v = rows[r * dimension + first + i]!;
        sub[r * s + i] = Number.isFinite(v) ? v : 0;
      }
    }
    const book = centroids.subarray(space * CENTROIDS * s, (space + 1) * CENTROIDS * s);
    kmeans(sub, n, s, book, assign);
    yield;
  }
  return { kind: 'product', compression, dimension, centroids };
}

/** The assignment step: each of `n` rows of `s` values' nearest centroid of `book`, to `out`. */
type Assign = (
  sub: Float32Array,
  n: number,
  s: number,
  book: Float32Array,
  out: Uint8Array,
) => void;

function assignJs(sub: Float32Array, n: number, s: number, book: Float32Array, out: Uint8Array) {
  for (let r = 0; r < n; r++) out[r] = nearest(sub, r * s, book, s);
}

/**
 * The assignment in WebAssembly (pqAssign: four centroids at a time with SIMD), 5–10 ×
 * the JavaScript loop: the rows and the book (transposed) are copied in for each call.
 */
function assignWasm(
  wasm: QuiverWasmExports,
  sub: Float32Array,
  n: number,
  s: number,
  book: Float32Array,
  out: Uint8Array,
): void {
  const rows = align16(wasm.heapBase());
  const bookAt = align16(rows + n * s * 4);
  const outAt = align16(bookAt + CENTROIDS * s * 4);
  const scratch = align16(outAt + n);
  const end = scratch + CENTROIDS * 4;
  const have = wasm.memory.buffer.byteLength;
  if (end > have) wasm.memory.grow(Math.ceil((end - have) / 65536));
  const f32 = new Float32Array(wasm.memory.buffer);
  f32.set(sub.subarray(0, n * s), rows >> 2);
  for (let j = 0; j < CENTROIDS; j++) {
    for (let i = 0; i < s; i++) f32[(bookAt >> 2) + i * CENTROIDS + j] = book[j * s + i]!;
  }
  wasm.pqAssign(rows, n, s, bookAt, outAt, scratch);
  out.set(new Uint8Array(wasm.memory.buffer, outAt, n));
}

/** Lloyd's k-means of `n` rows of `s` values into `book` (CENTROIDS × s), in place. */
function kmeans(sub: Float32Array, n: number, s: number, book: Float32Array, assign: Assign): void {
  if (n === 0) return;
  for (let j = 0; j < CENTROIDS; j++) {
    const r = Math.floor((j * n) / CENTROIDS) % n;
    book.set(sub.subarray(r * s, r * s + s), j * s);
  }
  const assigned = new Int32Array(n).fill(-1);
  const next = new Uint8Array(n);
  const sums = new Float64Array(CENTROIDS * s);
  const counts = new Int32Array(CENTROIDS);
  for (let it = 0; it < ITERATIONS; it++) {
    assign(sub, n, s, book, next);
    let changed = 0;
    for (let r = 0; r < n; r++) {
      if (next[r] !== assigned[r]) changed++;
      assigned[r] = next[r]!;
    }
    if (changed === 0) return;
    sums.fill(0);
    counts.fill(0);
    for (let r = 0; r < n; r++) {
      const j = assigned[r]!;
      counts[j] = counts[j]! + 1;
      for (let i = 0; i < s; i++) sums[j * s + i] = sums[j * s + i]! + sub[r * s + i]!;
    }
    for (let j = 0; j < CENTROIDS; j++) {
      if (counts[j] === 0) continue;
      for (let i = 0; i < s; i++) book[j * s + i] = sums[j * s + i]! / counts[j]!;
    }
  }
}

/** The centroid of `book` nearest to the `s` values at `x[at]` (the first of equals). */
function nearest(x: Float32Array, at: number, book: Float32Array, s: number): number {
  let best = 0;
  let bestD = Infinity;
  if (s === 1) {
    // x4: one value a subspace, the loop below would be all overhead.
    const v = x[at]!;
    for (let j = 0; j < CENTROIDS; j++) {
      const diff = v - book[j]!;
      const d = diff * diff;
      if (d < bestD) {
        bestD = d;
        best = j;
      }
    }
    return best;
  }
  for (let j = 0, c = 0; j < CENTROIDS; j++, c += s) {
    let d = 0;
    for (let i = 0; i < s; i++) {
      const diff = x[at + i]! - book[c + i]!;
      d += diff * diff;
    }
    if (d < bestD) {
      bestD = d;
      best = j;
    }
  }
  return best;
}

/**
 * Reference encoding of one vector: per subspace, the number of its nearest centroid by
 * squared L2 (whatever the metric: the centroids reconstruct the vector). The core computes
 * the same in float32 with SIMD; a near tie may fall the other way there.
 */
export function encodeProduct(q: ProductQuantizer, vector: Float32Array): Uint8Array {
  const s = subDimOf(q.compression);
  const m = subspacesOf(q.dimension, q.compression);
  const row = new Uint8Array(productRowBytes(q.dimension, q.compression));
  const x = new Float32Array(m * s);
  for (let d = 0; d < q.dimension; d++) x[d] = Number.isFinite(vector[d]) ? vector[d]! : 0;
  for (let space = 0; space < m; space++) {
    const book = q.centroids.subarray(space * CENTROIDS * s, (space + 1) * CENTROIDS * s);
    row[space] = nearest(x, space * s, book, s);
  }
  return row;
}

/** Reference of the core's distance: the query against the centroids a row names. */
export function productDistanceReference(
  q: ProductQuantizer,
  query: Float32Array,
  row: Uint8Array,
  innerProduct: boolean,
): number {
  const s = subDimOf(q.compression);
  let total = 0;
  for (let space = 0; space < subspacesOf(q.dimension, q.compression); space++) {
    const c = (space * CENTROIDS + row[space]!) * s;
    for (let i = 0; i < s && space * s + i < q.dimension; i++) {
      const x = query[space * s + i]!;
      const y = q.centroids[c + i]!;
      total += innerProduct ? -x * y : (x - y) * (x - y);
    }
  }
  return total;
}
