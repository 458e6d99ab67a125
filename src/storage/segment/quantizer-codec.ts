/**
 * The QUANT section of a segment file (FORMAT.md §5.3): the quantizer trained when the
 * segment was written. A 16-byte header, kind u8 (1 = int8 scalar, 2 = binary since 1.6,
 * 3 = product since 1.8), then f32 arrays: the offsets (scalar), the offsets, thresholds
 * and magnitudes (binary), or the codebooks (product), which the segment's codes follow
 * (one row of a byte per subspace per slot: encoding them again at every open would cost
 * seconds per 100 000 vectors). Impossible values are CORRUPT at the section's offset: a quantizer
 * the core would walk wrongly must never load.
 */
import type {
  BinaryEncoding,
  BinaryQuantizer,
  BinaryQueryEncoding,
} from '../../ann/binary-quantizer.js';
import { BINARY_ENCODINGS, BINARY_QUERY_ENCODINGS } from '../../ann/binary-quantizer.js';
import type { ProductQuantizer } from '../../ann/product-quantizer.js';
import {
  CENTROIDS,
  PRODUCT_COMPRESSIONS,
  subDimOf,
  subspacesOf,
} from '../../ann/product-quantizer.js';
import type { Quantizer } from '../../ann/quantizer.js';
import type { ScalarQuantizer } from '../../ann/scalar-quantizer.js';
import { corrupt } from '../../common/quiver-error.js';
import type { QuiverError } from '../../common/quiver-error.js';

/**
 * Header: kind u8; scalar: 3 reserved bytes, quantile f32, scale f32; binary: encoding u8
 * (index in BINARY_ENCODINGS), query encoding u8 (index in BINARY_QUERY_ENCODINGS), a
 * reserved byte and 8 reserved bytes; product: compression u8 (index in
 * PRODUCT_COMPRESSIONS), u8 1 when the codes follow the codebooks (else 0) and 9 reserved
 * bytes; all: dimension u32 at 12.
 */
const HEADER = 16;
const KIND_SCALAR = 1;
const KIND_BINARY = 2;
const KIND_PRODUCT = 3;

/** The arrays a quantizer stores after the header, in order. */
function arraysOf(q: Quantizer): Float32Array[] {
  if (q.kind === 'product') return [q.centroids];
  return q.kind === 'scalar' ? [q.offsets] : [q.offsets, q.thresholds, q.magnitudes];
}

/**
 * The section's bytes for `q`, with a product quantizer's `codes` (slots × subspaces bytes,
 * slot-major) when given.
 */
export function encodeQuantizer(q: Quantizer, codes?: Uint8Array): Uint8Array {
  const arrays = arraysOf(q);
  const dimension = q.kind === 'product' ? q.dimension : q.offsets.length;
  const floats = HEADER + arrays.reduce((n, a) => n + a.length * 4, 0);
  const stored = q.kind === 'product' ? codes : undefined;
  const out = new Uint8Array(floats + (stored?.length ?? 0));
  const view = new DataView(out.buffer);
  if (q.kind === 'product') {
    view.setUint8(0, KIND_PRODUCT);
    view.setUint8(1, PRODUCT_COMPRESSIONS.indexOf(q.compression));
    if (stored !== undefined) {
      view.setUint8(2, 1);
      out.set(stored, floats);
    }
  } else if (q.kind === 'scalar') {
    view.setUint8(0, KIND_SCALAR);
    view.setFloat32(4, q.quantile, true);
    view.setFloat32(8, q.scale, true);
  } else {
    view.setUint8(0, KIND_BINARY);
    view.setUint8(1, BINARY_ENCODINGS.indexOf(q.encoding));
    view.setUint8(2, BINARY_QUERY_ENCODINGS.indexOf(q.queryEncoding));
  }
  view.setUint32(12, dimension, true);
  let at = HEADER;
  for (const a of arrays) {
    a.forEach((v, d) => view.setFloat32(at + d * 4, v, true));
    at += a.length * 4;
  }
  return out;
}

/** A section as segment-file.ts hands it over: its bytes and where they start in the file. */
export interface QuantSection {
  readonly bytes: Uint8Array;
  readonly offset: number;
}

/** A decoded QUANT section: the quantizer, and a product quantizer's stored codes. */
export interface DecodedQuant {
  readonly quantizer: Quantizer;
  /** slots × subspaces bytes, slot-major (a view of the file's bytes). */
  readonly codes?: Uint8Array | undefined;
}

/** The section's quantizer (and codes), for a segment of `dimension` and `slots`. */
export function decodeQuantizer(
  section: QuantSection,
  file: string,
  dimension: number,
  slots: number,
): DecodedQuant {
  const b = section.bytes;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const fail = (what: string): QuiverError =>
    corrupt(file, section.offset, `segment quantizer section ${what}`);
  const kind = b.length < HEADER ? 0 : view.getUint8(0);
  if (kind === KIND_PRODUCT) return product(b, dimension, slots, fail);
  if (kind !== KIND_SCALAR && kind !== KIND_BINARY) throw fail(`has unknown kind ${kind}`);
  const count = kind === KIND_SCALAR ? 1 : 3;
  if (view.getUint32(12, true) !== dimension || b.length !== HEADER + count * dimension * 4) {
    throw fail(`does not hold ${count} × ${dimension} values`);
  }
  const arrays = Array.from({ length: count }, (_, i) => {
    const a = new Float32Array(dimension);
    for (let d = 0; d < dimension; d++)
      a[d] = view.getFloat32(HEADER + (i * dimension + d) * 4, true);
    return a;
  });
  if (!arrays.every((a) => a.every(Number.isFinite))) throw fail('holds impossible values');
  return {
    quantizer: kind === KIND_SCALAR ? scalar(view, arrays[0]!, fail) : binary(view, arrays, fail),
  };
}

function scalar(
  view: DataView,
  offsets: Float32Array,
  fail: (what: string) => QuiverError,
): ScalarQuantizer {
  const quantile = view.getFloat32(4, true);
  const scale = view.getFloat32(8, true);
  const usable = scale > 0 && Number.isFinite(scale);
  if (!(quantile >= 0.5 && quantile <= 1) || !usable) throw fail('holds impossible values');
  return Object.freeze({ kind: 'scalar', quantile, scale, offsets });
}

function binary(
  view: DataView,
  [offsets, thresholds, magnitudes]: Float32Array[],
  fail: (what: string) => QuiverError,
): BinaryQuantizer {
  const encoding: BinaryEncoding | undefined = BINARY_ENCODINGS[view.getUint8(1)];
  const queryEncoding: BinaryQueryEncoding | undefined = BINARY_QUERY_ENCODINGS[view.getUint8(2)];
  const negative = [thresholds!, magnitudes!].some((a) => a.some((v) => v < 0));
  if (encoding === undefined || queryEncoding === undefined || negative) {
    throw fail('holds impossible values');
  }
  return Object.freeze({
    kind: 'binary',
    encoding,
    queryEncoding,
    offsets: offsets!,
    thresholds: thresholds!,
    magnitudes: magnitudes!,
  });
}

function product(
  b: Uint8Array,
  dimension: number,
  slots: number,
  fail: (what: string) => QuiverError,
): DecodedQuant {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const compression = PRODUCT_COMPRESSIONS[view.getUint8(1)];
  const withCodes = view.getUint8(2);
  if (compression === undefined || withCodes > 1) throw fail('holds impossible values');
  const subspaces = subspacesOf(dimension, compression);
  const values = subspaces * CENTROIDS * subDimOf(compression);
  const floats = HEADER + values * 4;
  const codeBytes = withCodes === 1 ? slots * subspaces : 0;
  if (view.getUint32(12, true) !== dimension || b.length !== floats + codeBytes) {
    throw fail(
      `does not hold ${values} centroid values for ${dimension} dimensions` +
        (withCodes === 1 ? ` and ${slots} rows of ${subspaces} code bytes` : ''),
    );
  }
  const centroids = new Float32Array(values);
  for (let i = 0; i < values; i++) centroids[i] = view.getFloat32(HEADER + i * 4, true);
  if (!centroids.every(Number.isFinite)) throw fail('holds impossible values');
  const quantizer: ProductQuantizer = Object.freeze({
    kind: 'product',
    compression,
    dimension,
    centroids,
  });
  return withCodes === 1 ? { quantizer, codes: b.subarray(floats) } : { quantizer };
}
