/**
 * The quantizers an index can walk its graph with (int8 scalar, binary), and how either is
 * handed to the WebAssembly core: one codes region of a header (per-dimension f32 arrays)
 * and one row per slot, described by CodeParams.
 */
import { invalidArgument } from '../common/quiver-error.js';
import type { QuiverWasmExports } from '../kernels/wasm-module.js';
import type { BinaryQuantizer } from './binary-quantizer.js';
import { binaryRowBytes, corePlanesOf, queryBitsOf } from './binary-quantizer.js';
import type { ScalarQuantizer } from './scalar-quantizer.js';
import { codeRowBytes } from './scalar-quantizer.js';

export type Quantizer = ScalarQuantizer | BinaryQuantizer;

/** What the core needs of a quantizer (setCodes in src/kernels/as/hnsw.ts). @internal */
export interface CodeParams {
  /** 0: int8 codes; 1: bit planes. */
  readonly kind: 0 | 1;
  /** Bytes of one slot's row. */
  readonly stride: number;
  /** int8: the value of one code unit (1 for binary). */
  readonly scale: number;
  /** binary: bit planes per row (1 for int8; 3: one and a half, see corePlanesOf). */
  readonly planes: number;
  /** binary: bits of each query value, 0 for a symmetric query. */
  readonly queryBits: number;
  /** Per-dimension arrays at the head of the region, each 16-aligned. */
  readonly header: readonly Float32Array[];
}

const align16 = (n: number): number => (n + 15) & ~15;

/** The core's view of `q`. */
export function codeParams(q: Quantizer): CodeParams {
  const dimension = q.offsets.length;
  if (q.kind === 'scalar') {
    const stride = codeRowBytes(dimension);
    return { kind: 0, stride, scale: q.scale, planes: 1, queryBits: 0, header: [q.offsets] };
  }
  return {
    kind: 1,
    stride: binaryRowBytes(dimension, q.encoding),
    scale: 1,
    planes: corePlanesOf(q.encoding),
    queryBits: queryBitsOf(q.queryEncoding),
    header: [q.offsets, q.thresholds, q.magnitudes],
  };
}

/** Bytes of a codes region's header: its arrays, each rounded up to 16 bytes. */
export function headerBytes(dimension: number, params: CodeParams): number {
  return params.header.length * align16(dimension * 4);
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
export type CoreCodes = Omit<CodeParams, 'header'>;

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
