/**
 * Applies a collection's quantization to a sealed segment's index: a quantizer trained
 * when the segment is written (seal, compaction), or the one its file stored when it is
 * loaded. Growing segments are never quantized: their graphs change with every write, and
 * the quantizer is trained on the segment's final vectors.
 */
import { HnswIndex } from '../ann/hnsw/hnsw-index.js';
import { isQuiverError } from '../common/quiver-error.js';
import type { Steps } from '../common/steps.js';
import { runInSlices } from '../common/steps.js';
import { trainBinaryQuantizer } from '../ann/binary-quantizer.js';
import { productTraining } from '../ann/product-quantizer.js';
import type { Quantizer } from '../ann/quantizer.js';
import { trainScalarQuantizer } from '../ann/scalar-quantizer.js';
import type { VectorIndex } from '../ann/vector-index.js';
import type { CollectionConfig, QuantizationConfig } from './validation.js';
import { walkedQuantization } from './validation.js';

/**
 * Quantizes `index` as `config` asks, with `stored` (a segment file's quantizer) when
 * given, else one trained now on the index's vectors. Returns the quantizer applied, or
 * undefined when the collection is not quantized or the index cannot be (an exact index).
 * Training and encoding run in slices (runInSlices): product codes take seconds on a
 * large segment, and the thread that seals and compacts also answers searches. Until it
 * resolves the index walks its floats.
 */
export async function quantizeIndex(
  index: VectorIndex,
  config: CollectionConfig,
  stored?: Quantizer,
  storedCodes?: Uint8Array,
  vectors?: Float32Array,
): Promise<Quantizer | undefined> {
  const q = walkedQuantization(config);
  if (q === 'none' || !(index instanceof HnswIndex)) return undefined;
  // A stored quantizer of another kind or settings (the file was written under an earlier
  // config) is trained again: the segment is searched the way the collection now asks.
  const quantizer =
    stored !== undefined && quantizerMatches(stored, q)
      ? stored
      : await runInSlices(training(index, config, vectors));
  if (quantizer === undefined) return undefined;
  try {
    // The file's product codes belong to the file's quantizer only.
    const codes = quantizer === stored ? storedCodes : undefined;
    await runInSlices(index.quantizing(quantizer, codes, vectors));
  } catch (e) {
    // A segment that cannot hold codes (its memory at the 4 GiB limit) or a quantizer it
    // refuses stays a float32 segment: searched as before, written without a QUANT section.
    if (isQuiverError(e, 'INVALID_ARGUMENT')) return undefined;
    throw e;
  }
  return quantizer;
}

/** The codes a segment file stores beside the index's quantizer (product only). */
export function storedCodes(index: VectorIndex): Uint8Array | undefined {
  return index instanceof HnswIndex ? index.productCodes() : undefined;
}

/** True when quantizer `q` is what the quantization config `want` asks for. */
export function quantizerMatches(q: Quantizer, want: QuantizationConfig): boolean {
  if (want === 'none') return false;
  if (q.kind === 'scalar' && want.kind === 'scalar') {
    return Math.fround(q.quantile) === Math.fround(want.quantile);
  }
  if (q.kind === 'binary' && want.kind === 'binary') {
    return q.encoding === want.encoding && q.queryEncoding === want.queryEncoding;
  }
  if (q.kind === 'product' && want.kind === 'product') return q.compression === want.compression;
  return false;
}

/**
 * Brings the index of a sealed segment in line with its collection's quantization after an
 * update: codes trained again, or dropped (searches walk the floats). An index with its
 * vectors on disk is left to the caller (it must come back into memory first). Returns
 * false when the index could not follow (a shared index keeps its codes until rewritten).
 */
export async function requantize(index: VectorIndex, config: CollectionConfig): Promise<boolean> {
  if (!(index instanceof HnswIndex)) return true;
  const want = walkedQuantization(config);
  const have = index.quantizer;
  if (want === 'none') {
    if (have !== undefined) index.dropQuantizer();
    return true;
  }
  if (have !== undefined && quantizerMatches(have, want)) return true;
  if (index.codesFixed) return false; // before seconds of training it could not apply
  return (await quantizeIndex(index, config)) !== undefined;
}

/** A table whose index can be replaced by a copy holding the same slots. */
export interface IndexHolder {
  readonly index: VectorIndex;
  swapIndex(index: VectorIndex): void;
}

/**
 * For a table whose index cannot take new codes in place (shared with search workers):
 * trains in slices on its vectors, copies the index, encodes the copy in slices (nothing
 * searches it yet), then swaps it in. Deletes that landed on the table's index after the
 * copy was made are marked on the copy first, in the same synchronous step as the swap,
 * so none is lost (the swap checks that both hold the same live slots). Encoding the copy
 * whole held the event loop for up to 13 s (100k × 128 at product x4).
 */
export async function requantizeCopy(table: IndexHolder, config: CollectionConfig): Promise<void> {
  const index = table.index;
  const want = walkedQuantization(config);
  if (!(index instanceof HnswIndex) || want === 'none') return;
  const quantizer = await runInSlices(training(index, config));
  if (quantizer === undefined) return;
  // The table may hold another copy of the same vectors by now (shared meanwhile).
  const now = table.index;
  if (!(now instanceof HnswIndex)) return;
  if (now.quantizer !== undefined && quantizerMatches(now.quantizer, want)) return;
  const copy = now.clone();
  try {
    await runInSlices(copy.quantizing(quantizer));
  } catch (e) {
    if (isQuiverError(e, 'INVALID_ARGUMENT')) return; // stays as it is, as quantizeIndex does
    throw e;
  }
  // Storage work runs one at a time, so only deletes can have touched `now` meanwhile;
  // anything else (its index replaced) leaves the table as it is for the next update.
  if (table.index !== now) return;
  // Marked only: a shared index never repairs, so its copy may hold enough tombstones for
  // a whole-graph repair, which would hold the event loop in this step.
  for (let slot = 0; slot < now.slots; slot++) {
    if (!now.has(slot) && copy.has(slot)) copy.remove(slot, false);
  }
  table.swapIndex(copy);
}

/**
 * A quantizer of the collection's kind trained on the index's vectors (or `given`), as
 * steps: product training yields after each subspace; the others train in milliseconds.
 */
function* training(
  index: HnswIndex,
  config: CollectionConfig,
  given?: Float32Array,
): Steps<Quantizer | undefined> {
  const q = walkedQuantization(config);
  if (q === 'none') return undefined;
  // A view of the index's memory: used before the first step, which a search could grow.
  const vectors = given ?? index.vectorsView();
  if (q.kind === 'scalar') {
    return trainScalarQuantizer(vectors, index.slots, config.dimension, q.quantile);
  }
  if (q.kind === 'product') {
    return yield* productTraining(vectors, index.slots, config.dimension, q.compression);
  }
  return trainBinaryQuantizer(vectors, index.slots, config.dimension, q.encoding, q.queryEncoding);
}
