/**
 * The quantizers an index can walk its graph with (int8 scalar, binary, product), and how
 * each is handed to the WebAssembly core: one codes region of a header (f32 arrays: per
 * dimension, or the product codebooks) and one row per slot, described by CodeParams.
 */
import { invalidArgument } from '../common/quiver-error.js';
import type { QuiverWasmExports } from '../kernels/wasm-module.js';
import type { BinaryQuantizer } from './binary-quantizer.js';
import { binaryRowBytes, corePlanesOf, queryBitsOf } from './binary-quantizer.js';
import type { ProductQuantizer } from './product-quantizer.js';
import {
  CENTROIDS,
  productRowBytes,
  productTableBytes,
  subDimOf,
  subspacesOf,
} from './product-quantizer.js';
import type { ScalarQuantizer } from './scalar-quantizer.js';
import { codeRowBytes } from './scalar-quantizer.js';

export type Quantizer = ScalarQuantizer | BinaryQuantizer | ProductQuantizer;

/** What the core needs of a quantizer (setCodes in src/kernels/as/hnsw.ts). @internal */
export interface CodeParams {
  /** 0: int8 codes; 1: bit planes; 2: product codes. */
  readonly kind: 0 | 1 | 2;
  /** Bytes of one slot's row. */
  readonly stride: number;
  /** int8: the value of one code unit (1 for binary). */
  readonly scale: number;
  /**
   * binary: bit planes per row (1 for int8; 3: one and a half, see corePlanesOf); product:
   * dimensions per subspace.
   */
  readonly planes: number;
  /** binary: bits of each query value, 0 for a symmetric query. */
  readonly queryBits: number;
  /** Arrays at the head of the region (per dimension, or codebooks), each 16-aligned. */
  readonly header: readonly Float32Array[];
  /** Bytes of the scratch a query is encoded into (its codes, or its distance table). */
  readonly queryBytes: number;
}

const align16 = (n: number): number => (n + 15) & ~15;

/** The core's view of `q`. */
export function codeParams(q: Quantizer): CodeParams {
  if (q.kind === 'product') {
    return {
      kind: 2,
      stride: productRowBytes(q.dimension, q.compression),
      scale: 1,
      planes: subDimOf(q.compression),
      queryBits: 0,
      header: [transposedCodebooks(q)],
      queryBytes: Math.max(
        queryScratchBytes(q.dimension),
        productTableBytes(q.dimension, q.compression),
      ),
    };
  }
  const dimension = q.offsets.length;
  const queryBytes = queryScratchBytes(dimension);
  if (q.kind === 'scalar') {
    const stride = codeRowBytes(dimension);
    const header = [q.offsets];
    return { kind: 0, stride, scale: q.scale, planes: 1, queryBits: 0, header, queryBytes };
  }
  return {
    kind: 1,
    stride: binaryRowBytes(dimension, q.encoding),
    scale: 1,
    planes: corePlanesOf(q.encoding),
    queryBits: queryBitsOf(q.queryEncoding),
    header: [q.offsets, q.thresholds, q.magnitudes],
    queryBytes,
  };
}

/**
 * The product codebooks as the core reads them: per subspace, value i of its 256
 * centroids side by side (the core scores four centroids at once with SIMD).
 */
function transposedCodebooks(q: ProductQuantizer): Float32Array {
  const s = subDimOf(q.compression);
  const out = new Float32Array(q.centroids.length);
  for (let m = 0; m < subspacesOf(q.dimension, q.compression); m++) {
    const base = m * CENTROIDS * s;
    for (let j = 0; j < CENTROIDS; j++) {
      for (let i = 0; i < s; i++) out[base + i * CENTROIDS + j] = q.centroids[base + j * s + i]!;
    }
  }
  return out;
}

/** Bytes of a codes region's header: its arrays, each rounded up to 16 bytes. */
export function headerBytes(params: Pick<CodeParams, 'header'>): number {
  return params.header.reduce((sum, a) => sum + align16(a.length * 4), 0);
}

/**
 * Bytes of the scratch a query is encoded into: an int8 row (dimension + 16 rounded up),
 * or up to 8 bit planes of ceil(dimension / 8) bytes rounded up to 16, whichever is more.
 */
export function queryScratchBytes(dimension: number): number {
  return align16(dimension) + 128;
}

/** Refuses a quantizer the core cannot use: wrong sizes, non-finite or impossible values. */
export function checkQuantizer(q: Quantizer, dimension: number): void {
  if (q.kind === 'product') {
    const values = subspacesOf(dimension, q.compression) * CENTROIDS * subDimOf(q.compression);
    if (q.dimension !== dimension || q.centroids.length !== values) {
      throw invalidArgument(
        `a product quantizer for ${dimension} dimensions holds ${values} centroid values, got ${q.centroids.length} for ${q.dimension}.`,
      );
    }
    if (!q.centroids.every(Number.isFinite)) {
      throw invalidArgument('product quantizer centroids must be finite.');
    }
    return;
  }
  const arrays = q.kind === 'scalar' ? [q.offsets] : [q.offsets, q.thresholds, q.magnitudes];
  if (arrays.some((a) => a.length !== dimension || !a.every(Number.isFinite))) {
    throw invalidArgument(
      `quantizer arrays must hold ${dimension} finite numbers (one per dimension).`,
    );
  }
  if (q.kind === 'scalar' && !(q.scale > 0 && Number.isFinite(q.scale))) {
    throw invalidArgument(`quantizer scale ${q.scale} is not usable: it must be finite and > 0.`);
  }
  if (q.kind === 'binary' && [q.thresholds, q.magnitudes].some((a) => a.some((v) => v < 0))) {
    throw invalidArgument('binary quantizer thresholds and magnitudes must be >= 0.');
  }
}

/** The codes of an index as its core is pointed at them (no header: it is in the region). */
export type CoreCodes = Omit<CodeParams, 'header' | 'queryBytes'>;

/** Points `wasm`'s core at the codes region at `region`, a query scratch at `qcode`. */
export function bindCodes(
  wasm: Pick<QuiverWasmExports, 'setCodes'>,
  region: number,
  qcode: number,
  c: CoreCodes,
): void {
  wasm.setCodes(region, c.stride, c.scale, qcode, c.kind, c.planes, c.queryBits);
}

/** `c` without its header: what a worker lane needs. */
export function coreCodes(c: CodeParams): CoreCodes {
  return {
    kind: c.kind,
    stride: c.stride,
    scale: c.scale,
    planes: c.planes,
    queryBits: c.queryBits,
  };
}
