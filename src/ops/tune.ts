/**
 * tune: recommended HNSW settings (`m`, `efConstruction`, `efSearch`) for a collection size,
 * dimension and profile, with the RAM and disk estimate and whether it fits a memory budget.
 * It recommends only what createCollection accepts: quantization is always `none` until the
 * engine has it. The formula is the one docs/TUNING.md documents; `estimateFootprint` is
 * also used by `quiver stats`.
 */
import { invalidArgument } from '../common/quiver-error.js';

export type TuneProfile = 'balanced' | 'high-recall' | 'low-latency';
export type Quantization = 'none' | 'scalar' | 'product' | 'binary';

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
  /** Always `none`: the only quantization createCollection accepts today. */
  readonly quantization: 'none';
  readonly estimate: Footprint;
  readonly fitsBudget: boolean | undefined;
  readonly notes: readonly string[];
}

/** Bytes per vector value kept in RAM for the search path, by quantization. */
const VALUE_BYTES: Record<Quantization, number> = {
  none: 4,
  scalar: 1,
  product: 0.125,
  binary: 0.125,
};

/**
 * The footprint formula (docs/TUNING.md): per point in RAM
 *   vector   = dimension × bytes per value (4 for float32; quantized codes plus, today, the
 *              float32 originals kept for re-ranking on disk only)
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
): Footprint {
  const graph = (1 + 2 * m) * 4 + (m * 4) / Math.log(m) + 8;
  const vector = dimension * VALUE_BYTES[quantization];
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
  // Quantization would shrink the vectors, but the engine does not have it yet: recommending
  // it would hand the user a setting createCollection refuses.
  const estimate = estimateFootprint(vectors, dimension, m, 'none', input.payloadBytes);
  const budget = input.memoryBudgetBytes;
  const fitsBudget = budget === undefined ? undefined : estimate.ramBytes <= budget;
  if (fitsBudget === false) {
    notes.push(
      `The RAM estimate exceeds the memory budget by ${Math.ceil((estimate.ramBytes - (budget ?? 0)) / 1024 ** 2)} MiB and quantization is not available yet: split the vectors across collections on several machines, add RAM, or use embeddings of a smaller dimension.`,
    );
  }
  return {
    vectors,
    dimension,
    profile,
    m,
    efConstruction,
    efSearch,
    quantization: 'none',
    estimate,
    fitsBudget,
    notes,
  };
}
