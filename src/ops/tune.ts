/**
 * tune: recommended HNSW settings (`m`, `efConstruction`, `efSearch`) for a collection size,
 * dimension and profile, with the RAM and disk estimate and whether it fits a memory budget.
 * It recommends only what createCollection accepts and shows the RAM of each quantization
 * choice (`none`, `scalar`, `binary` with one bit, `product` x16), with the float vectors in memory or
 * on disk (`onDisk`). In memory, codes sit beside the floats, so they cost memory and buy
 * speed: scalar is recommended only where it was measured faster (large low-latency
 * collections), binary never by default (its recall depends on the model: see
 * docs/TUNING.md). Over a memory budget, scalar codes with the vectors on disk are
 * recommended when they fit. The
 * formula is the one docs/TUNING.md documents; `estimateFootprint` is also used by
 * `quiver stats`.
 */
import { binaryRowBytes } from '../ann/binary-quantizer.js';
import { productRowBytes } from '../ann/product-quantizer.js';
import { codeRowBytes } from '../ann/scalar-quantizer.js';
import { invalidArgument } from '../common/quiver-error.js';

export type TuneProfile = 'balanced' | 'high-recall' | 'low-latency';
/** The quantizations createCollection accepts (binary: with one bit per value; product: x16). */
export type Quantization = 'none' | 'scalar' | 'binary' | 'product';

/** The RAM of one quantization choice for the recommended graph. */
export interface QuantizationChoice {
  readonly quantization: Quantization;
  /** Float vectors on disk (read to rescore), not in RAM. */
  readonly onDisk: boolean;
  readonly ramBytes: number;
  readonly bytesPerPoint: number;
}

export interface TuneInput {
  readonly vectors: number;
  readonly dimension: number;
  readonly profile?: TuneProfile;
  /** RAM available for this collection, in bytes; the report says whether it fits. */
  readonly memoryBudgetBytes?: number;
  /** Average payload JSON size per point. Default 64 bytes. */
  readonly payloadBytes?: number;
}

export interface Footprint {
  /** Bytes per point in memory: vector + graph + id/payload overhead. */
  readonly bytesPerPoint: number;
  readonly ramBytes: number;
  readonly diskBytes: number;
}

export interface TuneReport {
  readonly vectors: number;
  readonly dimension: number;
  readonly profile: TuneProfile;
  readonly m: number;
  readonly efConstruction: number;
  readonly efSearch: number;
  /** The recommended quantization (what `estimate` is for). */
  readonly quantization: Quantization;
  /** Whether the recommendation keeps the float vectors on disk (`onDisk`). */
  readonly onDisk: boolean;
  /** RAM of every quantization createCollection accepts, recommended or not. */
  readonly choices: readonly QuantizationChoice[];
  readonly estimate: Footprint;
  readonly fitsBudget: boolean | undefined;
  readonly notes: readonly string[];
}

/**
 * Bytes per point of vectors in RAM: float32 (unless on disk), plus the code row of a
 * quantization (on disk without one, the graph walks int8 codes).
 */
function vectorBytes(dimension: number, quantization: Quantization, onDisk: boolean): number {
  const floats = onDisk ? 0 : dimension * 4;
  if (quantization === 'binary') return floats + binaryRowBytes(dimension, 'one_bit');
  if (quantization === 'product') return floats + productRowBytes(dimension, 'x16');
  return quantization === 'none' && !onDisk ? floats : floats + codeRowBytes(dimension);
}

/** Points at which scalar quantization was measured faster (1.24-1.31× at 200k × 128). */
const SCALAR_FROM_POINTS = 100_000;

/**
 * The footprint formula (docs/TUNING.md): per point in RAM
 *   vector   = dimension × 4 (float32; 0 with the vectors on disk), plus for scalar
 *              quantization (or on disk without one) a code row of the
 *              dimension rounded up to 16 bytes and a 16-byte tail; for binary (one
 *              bit) the dimension / 8 rounded up to 16 bytes and a 16-byte tail; for
 *              product (x16) the dimension / 4 rounded up to 16 bytes
 *   graph    = level-0 list (1 + 2m) × 4 + upper levels m × 4 × 1/(ln m) on average + 8
 *   overhead = 48 (id, slot and table entries) + payload bytes
 * disk per point = dimension × 4 (vectors, once since format 1.3) + graph + payload + 16,
 * plus the WAL until the next seal.
 */
export function estimateFootprint(
  vectors: number,
  dimension: number,
  m: number,
  quantization: Quantization = 'none',
  payloadBytes = 64,
  onDisk = false,
): Footprint {
  const graph = (1 + 2 * m) * 4 + (m * 4) / Math.log(m) + 8;
  const vector = vectorBytes(dimension, quantization, onDisk);
  const bytesPerPoint = Math.ceil(vector + graph + 48 + payloadBytes);
  const diskPerPoint = Math.ceil(dimension * 4 + graph + payloadBytes + 16);
  return {
    bytesPerPoint,
    ramBytes: bytesPerPoint * vectors,
    diskBytes: diskPerPoint * vectors,
  };
}

/** Recommends settings; INVALID_ARGUMENT on impossible input. */
export function tune(input: TuneInput): TuneReport {
  const { vectors, dimension } = input;
  if (!Number.isSafeInteger(vectors) || vectors < 1) {
    throw invalidArgument('--vectors must be a positive integer.', { field: 'vectors' });
  }
  if (!Number.isInteger(dimension) || dimension < 1 || dimension > 65536) {
    throw invalidArgument('--dim must be an integer from 1 to 65536.', { field: 'dim' });
  }
  const profile = input.profile ?? 'balanced';
  const notes: string[] = [];
  // m grows with intrinsic difficulty: dimension and size; profiles shift it.
  let m = dimension <= 64 ? 12 : dimension <= 256 ? 16 : dimension <= 768 ? 24 : 32;
  if (vectors < 10_000) m = Math.max(8, m - 4);
  if (vectors > 5_000_000) m += 8;
  let efConstruction = Math.max(100, 8 * m);
  let efSearch = 64;
  if (profile === 'high-recall') {
    m = Math.min(64, Math.round(m * 1.5));
    efConstruction = Math.max(200, 16 * m);
    efSearch = 256;
    notes.push(
      'high-recall: larger m and ef; expect recall@10 ≥ 0.99 at about half the QPS of balanced.',
    );
  } else if (profile === 'low-latency') {
    m = Math.max(8, Math.round(m * 0.75));
    efConstruction = Math.max(100, 6 * m);
    efSearch = 32;
    notes.push(
      'low-latency: smaller ef; expect recall@10 near 0.9; raise efSearch per query if needed.',
    );
  } else {
    efSearch = vectors > 1_000_000 ? 128 : 64;
  }
  const budget = input.memoryBudgetBytes;
  const choices = [false, true].flatMap((onDisk) =>
    (['none', 'scalar', 'binary', 'product'] as const)
      .filter((q) => !(onDisk && q === 'none'))
      .map((quantization) => {
        const f = estimateFootprint(
          vectors,
          dimension,
          m,
          quantization,
          input.payloadBytes,
          onDisk,
        );
        return { quantization, onDisk, ramBytes: f.ramBytes, bytesPerPoint: f.bytesPerPoint };
      }),
  );
  const fits = (bytes: number): boolean => budget === undefined || bytes <= budget;
  let quantization: Quantization =
    profile === 'low-latency' && vectors >= SCALAR_FROM_POINTS && fits(choices[1]!.ramBytes)
      ? 'scalar'
      : 'none';
  let onDisk = false;
  if (quantization === 'scalar') {
    notes.push(
      'scalar quantization: int8 codes beside the float vectors (more RAM, see choices) walked with SIMD and rescored; measured 1.24-1.31x the QPS at the same ef (recall within 0.011) on 200k points of 128 dimensions, about even on sets of a few thousand.',
    );
  }
  const ram = (q: Quantization, disk: boolean): number =>
    estimateFootprint(vectors, dimension, m, q, input.payloadBytes, disk).ramBytes;
  if (!fits(ram(quantization, false)) && fits(ram('scalar', true))) {
    quantization = 'scalar';
    onDisk = true;
    notes.push(
      'Over the memory budget in RAM: scalar codes with the float vectors on disk (onDisk) fit. Searches walk the int8 codes and read only the candidates they rescore from the segment files, through the block cache (vectorCacheBytes, outside this estimate); expect lower QPS when the files are not in the OS page cache.',
    );
  }
  const estimate = estimateFootprint(
    vectors,
    dimension,
    m,
    quantization,
    input.payloadBytes,
    onDisk,
  );
  const fitsBudget = budget === undefined ? undefined : estimate.ramBytes <= budget;
  if (fitsBudget === false) {
    const mib = (bytes: number): number => Math.ceil(bytes / 1024 ** 2);
    notes.push(
      `The RAM estimate exceeds the memory budget by ${mib(estimate.ramBytes - (budget ?? 0))} MiB, and int8 codes with the vectors on disk (${mib(ram('scalar', true))} MiB) do not fit either: binary codes on disk take ${mib(ram('binary', true))} MiB (recall depends on the model: measure it), else split the vectors across collections on several machines, add RAM, or use embeddings of a smaller dimension.`,
    );
  }
  return {
    vectors,
    dimension,
    profile,
    m,
    efConstruction,
    efSearch,
    quantization,
    onDisk,
    choices,
    estimate,
    fitsBudget,
    notes,
  };
}
