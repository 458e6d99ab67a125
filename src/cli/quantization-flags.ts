/**
 * The quantization flags `create-collection` and `update-collection` share: `--quantization
 * none|scalar|binary|product`, `--quantile`, `--encoding`, `--query-encoding`, `--compression`,
 * and the option they
 * make (a flag of another kind than --quantization is refused, not ignored).
 */
import { InvalidArgumentError, Option } from 'commander';
import type { BinaryEncoding, BinaryQueryEncoding } from '../ann/binary-quantizer.js';
import { BINARY_ENCODINGS, BINARY_QUERY_ENCODINGS } from '../ann/binary-quantizer.js';
import type { ProductCompression } from '../ann/product-quantizer.js';
import { PRODUCT_COMPRESSIONS } from '../ann/product-quantizer.js';
import { invalidArgument } from '../common/quiver-error.js';
import type { CreateCollectionOptions } from '../engine/validation.js';

export interface QuantizationFlags {
  quantization?: 'none' | 'scalar' | 'binary' | 'product';
  quantile?: number;
  encoding?: BinaryEncoding;
  queryEncoding?: BinaryQueryEncoding;
  compression?: ProductCompression;
}

export const QUANTILE_HELP =
  'share of values the int8 range covers, 0.5..1 (default 0.99; with --quantization scalar)';

export function parseQuantile(value: string): number {
  const n = Number(value);
  if (!(n >= 0.5 && n <= 1))
    throw new InvalidArgumentError('the quantile is a number from 0.5 to 1.');
  return n;
}

/** `--quantization <kind>`, defaulting to none when `byDefault` is given. */
export function quantizationOption(byDefault?: 'none'): Option {
  const option = new Option(
    '--quantization <kind>',
    'scalar: sealed segments keep int8 codes (a quarter of the float vectors, on top of them) and searches walk them, rescoring with the floats; binary: 1, 1.5 or 2 bits per value (a 32nd to a 16th of the floats); product: a byte per subspace (--compression)',
  ).choices(['none', 'scalar', 'binary', 'product']);
  return byDefault === undefined ? option : option.default(byDefault);
}

export function encodingOption(): Option {
  return new Option(
    '--encoding <bits>',
    'bits per value with --quantization binary (default one_bit)',
  ).choices([...BINARY_ENCODINGS]);
}

export function compressionOption(): Option {
  return new Option(
    '--compression <ratio>',
    'float bytes per code byte with --quantization product: x4 (a byte per dimension) to x64 (a byte per 16); default x16',
  ).choices([...PRODUCT_COMPRESSIONS]);
}

export function queryEncodingOption(): Option {
  return new Option(
    '--query-encoding <kind>',
    'how a query meets binary codes: default/binary (as bits, fastest) or scalar8bits/scalar4bits (asymmetric: more exact, slower)',
  ).choices([...BINARY_QUERY_ENCODINGS]);
}

/** The quantization option of the flags (undefined without --quantization). */
export function quantizationOf(opts: QuantizationFlags): CreateCollectionOptions['quantization'] {
  if (opts.quantile !== undefined && opts.quantization !== 'scalar') {
    throw invalidArgument('--quantile needs --quantization scalar.', { field: 'quantile' });
  }
  const binaryFlag = opts.encoding !== undefined ? 'encoding' : 'query-encoding';
  if (
    (opts.encoding !== undefined || opts.queryEncoding !== undefined) &&
    opts.quantization !== 'binary'
  ) {
    throw invalidArgument(`--${binaryFlag} needs --quantization binary.`, { field: binaryFlag });
  }
  if (opts.compression !== undefined && opts.quantization !== 'product') {
    throw invalidArgument('--compression needs --quantization product.', { field: 'compression' });
  }
  if (opts.quantization === undefined || opts.quantization === 'none') return opts.quantization;
  if (opts.quantization === 'product') {
    return {
      kind: 'product',
      ...(opts.compression === undefined ? {} : { compression: opts.compression }),
    };
  }
  if (opts.quantization === 'scalar') {
    return { kind: 'scalar', ...(opts.quantile === undefined ? {} : { quantile: opts.quantile }) };
  }
  return {
    kind: 'binary',
    ...(opts.encoding === undefined ? {} : { encoding: opts.encoding }),
    ...(opts.queryEncoding === undefined ? {} : { queryEncoding: opts.queryEncoding }),
  };
}
