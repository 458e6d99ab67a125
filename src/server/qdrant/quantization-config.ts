/**
 * Qdrant's quantization shapes and Quiver's: `quantization_config` of a create request
 * (and in collection info), and a search's `params.quantization`. Scalar int8 and binary
 * (one_bit, two_bits, one_and_half_bits) exist; product, and one_and_half_bits with an
 * asymmetric query encoding, answer 501.
 */
import type { BinaryEncoding, BinaryQueryEncoding } from '../../ann/binary-quantizer.js';
import {
  BINARY_ENCODINGS,
  BINARY_QUERY_ENCODINGS,
  queryBitsOf,
} from '../../ann/binary-quantizer.js';
import type { ProductCompression } from '../../ann/product-quantizer.js';
import { PRODUCT_COMPRESSIONS } from '../../ann/product-quantizer.js';
import type { QuantizedSearch } from '../../ann/vector-index.js';
import type { CreateCollectionOptions, QuantizationConfig } from '../../engine/validation.js';
import { badRequest, notImplemented, validationError } from '../http-errors.js';
import { asObject, boolField, checkKeys, numberField } from './qdrant-input.js';

type QuantizationOption = CreateCollectionOptions['quantization'];

const SCALAR_KEYS = ['type', 'quantile', 'always_ram'];
const BINARY_KEYS = ['always_ram', 'encoding', 'query_encoding'];
const PRODUCT_KEYS = ['compression', 'always_ram'];

/**
 * The Quiver option of a Qdrant `quantization_config` (undefined when absent or null):
 * `{ scalar: { type: "int8", quantile?, always_ram? } }` or
 * `{ binary: { always_ram?, encoding?, query_encoding? } }` or
 * `{ product: { compression, always_ram? } }`. Quiver keeps codes in RAM
 * whatever `always_ram` says (there is no on-disk code store).
 */
export function parseQuantizationConfig(value: unknown, where: string): QuantizationOption {
  if (value === undefined || value === null) return undefined;
  const q = asObject(value, where);
  const kinds = Object.keys(q);
  if (kinds.length !== 1) {
    throw badRequest(`${where} must hold exactly one of scalar, product, binary.`);
  }
  const kind = kinds[0]!;
  if (kind === 'product') return parseProduct(q['product'], `${where}.product`);
  if (kind === 'binary') return parseBinary(q['binary'], `${where}.binary`);
  if (kind !== 'scalar') {
    throw badRequest(
      `unknown quantization "${kind}" in ${where}; allowed are scalar, product, binary.`,
    );
  }
  const s = asObject(q['scalar'], `${where}.scalar`);
  checkKeys(s, SCALAR_KEYS, `${where}.scalar`);
  if (s['type'] !== 'int8') {
    throw badRequest(`${where}.scalar.type must be "int8", got ${JSON.stringify(s['type'])}.`);
  }
  boolField(s['always_ram'], `${where}.scalar.always_ram`, true);
  const quantile = numberField(s['quantile'], `${where}.scalar.quantile`);
  if (quantile === undefined) return 'scalar';
  if (!(quantile >= 0.5 && quantile <= 1)) {
    throw validationError(
      `${where}.scalar.quantile`,
      `value ${quantile} invalid, must be from 0.5 to 1`,
    );
  }
  return { kind: 'scalar', quantile };
}

/** `{ always_ram?, encoding?, query_encoding? }` of a binary quantization_config. */
function parseBinary(value: unknown, where: string): QuantizationOption {
  const b = asObject(value ?? {}, where);
  checkKeys(b, BINARY_KEYS, where);
  boolField(b['always_ram'], `${where}.always_ram`, true);
  const encoding = b['encoding'] ?? 'one_bit';
  if (!BINARY_ENCODINGS.includes(encoding as BinaryEncoding)) {
    throw badRequest(
      `${where}.encoding must be one of ${BINARY_ENCODINGS.join(', ')}, got ${JSON.stringify(encoding)}.`,
    );
  }
  const queryEncoding = b['query_encoding'] ?? 'default';
  if (!BINARY_QUERY_ENCODINGS.includes(queryEncoding as BinaryQueryEncoding)) {
    throw badRequest(
      `${where}.query_encoding must be one of ${BINARY_QUERY_ENCODINGS.join(', ')}, got ${JSON.stringify(queryEncoding)}.`,
    );
  }
  const option = {
    kind: 'binary',
    encoding: encoding as BinaryEncoding,
    queryEncoding: queryEncoding as BinaryQueryEncoding,
  } as const;
  if (option.encoding === 'one_and_half_bits' && queryBitsOf(option.queryEncoding) > 0) {
    throw notImplemented(
      `${where}.query_encoding ${option.queryEncoding} with the one_and_half_bits encoding; default and binary are available with it, and every query encoding with two_bits`,
    );
  }
  return option;
}

/** `{ compression, always_ram? }` of a product quantization_config (compression required). */
function parseProduct(value: unknown, where: string): QuantizationOption {
  const p = asObject(value, where);
  checkKeys(p, PRODUCT_KEYS, where);
  boolField(p['always_ram'], `${where}.always_ram`, true);
  const compression = p['compression'];
  if (!PRODUCT_COMPRESSIONS.includes(compression as ProductCompression)) {
    throw badRequest(
      `${where}.compression must be one of ${PRODUCT_COMPRESSIONS.join(', ')}, got ${JSON.stringify(compression)}.`,
    );
  }
  return { kind: 'product', compression: compression as ProductCompression };
}

/** A collection's quantization in Qdrant's collection-info shape (null when none). */
export function quantizationConfigOf(q: QuantizationConfig): Record<string, unknown> | null {
  if (q === 'none') return null;
  if (q.kind === 'binary') {
    return { binary: { always_ram: true, encoding: q.encoding, query_encoding: q.queryEncoding } };
  }
  if (q.kind === 'product') return { product: { compression: q.compression, always_ram: true } };
  return { scalar: { type: 'int8', quantile: q.quantile, always_ram: true } };
}

/** A search's `params.quantization`: { ignore?, rescore?, oversampling? }. */
export function parseSearchQuantization(value: unknown): QuantizedSearch | undefined {
  if (value === undefined || value === null) return undefined;
  const where = 'params.quantization';
  const q = asObject(value, where);
  checkKeys(q, ['ignore', 'rescore', 'oversampling'], where);
  const out: { ignore?: boolean; rescore?: boolean; oversampling?: number } = {};
  if (q['ignore'] !== undefined && q['ignore'] !== null) {
    out.ignore = boolField(q['ignore'], `${where}.ignore`, false);
  }
  if (q['rescore'] !== undefined && q['rescore'] !== null) {
    out.rescore = boolField(q['rescore'], `${where}.rescore`, true);
  }
  const over = numberField(q['oversampling'], `${where}.oversampling`);
  if (over !== undefined) {
    if (!(over >= 1 && over <= 16)) {
      throw validationError(`${where}.oversampling`, `value ${over} invalid, must be from 1 to 16`);
    }
    out.oversampling = over;
  }
  return out;
}
