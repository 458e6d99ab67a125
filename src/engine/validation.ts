/**
 * Input validation of the embedded API: collection names and configs, points, vectors,
 * payloads, and the options of searches, pages and payload updates. Each check throws a QuiverError that says what, where and what to do; a batch
 * is validated whole before anything is written (all or nothing).
 */
import { invalidArgument, QuiverError } from '../common/quiver-error.js';
import type { JsonObject, MetricName, Payload, PointId } from '../common/types.js';
import { checkPointId, isJsonObject, METRICS } from '../common/types.js';
import { scaleToUnit } from '../kernels/distance-kernel.js';
import type { BinaryEncoding, BinaryQueryEncoding } from '../ann/binary-quantizer.js';
import { checkBinaryEncoding, checkQueryEncoding, queryBitsOf } from '../ann/binary-quantizer.js';
import type { ProductCompression } from '../ann/product-quantizer.js';
import { checkCompression } from '../ann/product-quantizer.js';
import { checkQuantile, DEFAULT_QUANTILE } from '../ann/scalar-quantizer.js';
import type { QuantizedSearch } from '../ann/vector-index.js';
import { copyJson } from '../common/json-copy.js';
import { stagingTarget } from './staging-name.js';

export const COLLECTION_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const MAX_DIMENSION = 65536;
const MAX_PAYLOAD_DEPTH = 64;

/** HNSW parameters of a collection (SPEC section 2). */
export interface HnswConfig {
  /** Links per node; higher = better recall and more memory. Default 16. */
  readonly m: number;
  /** Beam width while building; higher = better graph, slower inserts. Default 200. */
  readonly efConstruction: number;
  /** Default beam width of searches; higher = better recall, slower; raised to k. Default 64. */
  readonly efSearch: number;
}

export type QuantizationName = 'none' | 'scalar' | 'product' | 'binary';

/**
 * Scalar (int8) quantization: sealed segments keep one signed byte per value beside the
 * float vectors, graph searches walk those and rescore with the floats.
 */
export interface ScalarQuantizationConfig {
  readonly kind: 'scalar';
  /** Share of the values the int8 range covers (the rest are clipped), 0.5..1. Default 0.99. */
  readonly quantile: number;
}

/**
 * Binary quantization: sealed segments keep one bit (`one_bit`) or two (`two_bits`) per
 * value beside the float vectors; graph searches compare bits (or, with an asymmetric
 * `queryEncoding`, a 4- or 8-bit query with the bits) and rescore with the floats.
 */
export interface BinaryQuantizationConfig {
  readonly kind: 'binary';
  /** Bits per value: `one_bit` (default) or `two_bits`. */
  readonly encoding: BinaryEncoding;
  /** `default`/`binary` (query as bits), `scalar8bits` or `scalar4bits` (asymmetric). */
  readonly queryEncoding: BinaryQueryEncoding;
}

/**
 * Product quantization: sealed segments keep one byte per subspace of `compression / 4`
 * dimensions (the number of its nearest of 256 trained centroids) beside the float
 * vectors; graph searches sum a per-query table and rescore with the floats.
 */
export interface ProductQuantizationConfig {
  readonly kind: 'product';
  /** Qdrant's ratio of float bytes to code bytes: x4, x8, x16 (default), x32 or x64. */
  readonly compression: ProductCompression;
}

/** A collection's quantization: `none`, scalar with its quantile, binary or product. */
export type QuantizationConfig =
  'none' | ScalarQuantizationConfig | BinaryQuantizationConfig | ProductQuantizationConfig;

/** The compression a bare `product` asks for. */
export const DEFAULT_COMPRESSION: ProductCompression = 'x16';

/** The stored configuration of a collection. */
export interface CollectionConfig {
  readonly name: string;
  readonly dimension: number;
  readonly metric: MetricName;
  readonly hnsw: HnswConfig;
  readonly quantization: QuantizationConfig;
  /**
   * Sealed segments keep their full vectors in their files, read on demand through the
   * block cache, instead of in memory (Qdrant's `on_disk`). Written to the logged config
   * only when true, so configs of other collections read the same as before.
   */
  readonly onDisk: boolean;
}

/** Options of `createCollection`. */
export interface CreateCollectionOptions {
  /** Number of values per vector, 1..65536. */
  readonly dimension: number;
  /** `cosine` (default), `euclid` or `dot`. */
  readonly metric?: MetricName;
  readonly hnsw?: Partial<HnswConfig>;
  /**
   * `none` (default) or `scalar` (int8 codes, about a quarter of the float vectors' memory
   * on top of them, faster graph walks, rescored), or `{ kind: 'scalar', quantile: 0.99 }`.
   * `binary` (one bit per value: a thirty-second of the floats, rescored), or
   * `{ kind: 'binary', encoding: 'two_bits', queryEncoding: 'scalar8bits' }`.
   * `product` (one byte per 4 dimensions, x16) or `{ kind: 'product', compression: 'x32' }`.
   */
  readonly quantization?:
    | QuantizationName
    | { readonly kind: 'scalar'; readonly quantile?: number }
    | {
        readonly kind: 'binary';
        readonly encoding?: BinaryEncoding;
        readonly queryEncoding?: BinaryQueryEncoding;
      }
    | { readonly kind: 'product'; readonly compression?: ProductCompression };
  /**
   * Keep sealed segments' full vectors on disk (false by default): memory then holds the
   * graph and the quantized codes, and a search reads from the file only the candidates
   * it rescores (through the database's block cache, `vectorCacheBytes`). Without a
   * quantization the graph is walked over int8 codes trained as `scalar` would be.
   */
  readonly onDisk?: boolean;
}

export const DEFAULT_HNSW: HnswConfig = Object.freeze({ m: 16, efConstruction: 200, efSearch: 64 });

export function checkCollectionName(name: unknown): string {
  if (typeof name !== 'string' || !COLLECTION_NAME_PATTERN.test(name)) {
    throw invalidArgument(
      `Collection name ${JSON.stringify(name)} is invalid: use 1 to 64 characters from A-Z, a-z, 0-9, "_" and "-".`,
      { field: 'name', received: name },
    );
  }
  return name;
}

function checkIntInRange(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidArgument(
      `${field} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}.`,
      { field, received: value },
    );
  }
  return value;
}

/** Validates createCollection options into a full config. */
export function buildCollectionConfig(name: unknown, options: unknown): CollectionConfig {
  const checkedName = checkCollectionName(name);
  if (!isJsonObject(options)) {
    throw invalidArgument(
      `createCollection("${checkedName}") needs options such as { dimension: 384, metric: 'cosine' }.`,
      { collection: checkedName },
    );
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!['dimension', 'metric', 'hnsw', 'quantization', 'onDisk'].includes(key)) {
      throw invalidArgument(
        `Unknown collection option "${key}" for "${checkedName}": allowed are dimension, metric, hnsw, quantization, onDisk.`,
        { collection: checkedName, field: key },
      );
    }
  }
  const dimension = checkIntInRange(o['dimension'], 'dimension', 1, MAX_DIMENSION);
  const metric = o['metric'] ?? 'cosine';
  if (typeof metric !== 'string' || !METRICS.includes(metric as MetricName)) {
    throw invalidArgument(
      `metric must be one of ${METRICS.join(', ')}, got ${JSON.stringify(metric)}.`,
      { collection: checkedName, field: 'metric', received: metric },
    );
  }
  const h = o['hnsw'] ?? {};
  if (!isJsonObject(h)) {
    throw invalidArgument('hnsw must be an object like { m: 16, efConstruction: 200 }.', {
      collection: checkedName,
      field: 'hnsw',
    });
  }
  const hr = h as Record<string, unknown>;
  for (const key of Object.keys(hr)) {
    if (!['m', 'efConstruction', 'efSearch'].includes(key)) {
      throw invalidArgument(
        `Unknown hnsw option "${key}": allowed are m, efConstruction, efSearch.`,
        { collection: checkedName, field: `hnsw.${key}` },
      );
    }
  }
  const hnsw: HnswConfig = Object.freeze({
    m: checkIntInRange(hr['m'] ?? DEFAULT_HNSW.m, 'hnsw.m', 2, 128),
    efConstruction: checkIntInRange(
      hr['efConstruction'] ?? DEFAULT_HNSW.efConstruction,
      'hnsw.efConstruction',
      1,
      4096,
    ),
    efSearch: checkIntInRange(hr['efSearch'] ?? DEFAULT_HNSW.efSearch, 'hnsw.efSearch', 1, 4096),
  });
  return Object.freeze({
    name: checkedName,
    dimension,
    metric: metric as MetricName,
    hnsw,
    quantization: checkQuantization(o['quantization'] ?? 'none', checkedName),
    onDisk: checkOnDisk(o['onDisk'], checkedName),
  });
}

function checkOnDisk(value: unknown, collection: string): boolean {
  if (value === undefined || typeof value === 'boolean') return value === true;
  throw invalidArgument(`onDisk must be true or false, got ${JSON.stringify(value)}.`, {
    collection,
    field: 'onDisk',
    received: value,
  });
}

/**
 * The codes a collection's sealed segments are walked with: its quantization, or for an
 * `onDisk` collection without one, int8 (the graph cannot walk vectors it does not hold).
 */
export function walkedQuantization(config: CollectionConfig): QuantizationConfig {
  if (config.quantization !== 'none' || !config.onDisk) return config.quantization;
  return { kind: 'scalar', quantile: DEFAULT_QUANTILE };
}

/**
 * Reads the `quantization` option: a name, `{ kind: 'scalar', quantile }`,
 * `{ kind: 'binary', encoding, queryEncoding }` or `{ kind: 'product', compression }`.
 */
function checkQuantization(value: unknown, collection: string): QuantizationConfig {
  if (value === 'none') return 'none';
  const o = typeof value === 'string' ? { kind: value } : value;
  if (isJsonObject(o) && o['kind'] === 'scalar') {
    onlyKeys(o, ['kind', 'quantile'], collection);
    const quantile = checkQuantile(o['quantile'] ?? DEFAULT_QUANTILE, 'quantization.quantile');
    return Object.freeze({ kind: 'scalar', quantile });
  }
  if (isJsonObject(o) && o['kind'] === 'binary') {
    onlyKeys(o, ['kind', 'encoding', 'queryEncoding'], collection);
    const encoding = checkBinaryEncoding(o['encoding'] ?? 'one_bit', 'quantization.encoding');
    const queryEncoding = checkQueryEncoding(
      o['queryEncoding'] ?? 'default',
      'quantization.queryEncoding',
    );
    if (encoding === 'one_and_half_bits' && queryBitsOf(queryEncoding) > 0) {
      throw invalidArgument(
        `quantization.queryEncoding ${queryEncoding} is not available with one_and_half_bits (its queries are coded as its rows: 'default' or 'binary'); use two_bits for an asymmetric query.`,
        { collection, field: 'quantization.queryEncoding', received: queryEncoding },
      );
    }
    return Object.freeze({ kind: 'binary', encoding, queryEncoding });
  }
  if (isJsonObject(o) && o['kind'] === 'product') {
    onlyKeys(o, ['kind', 'compression'], collection);
    const compression = checkCompression(
      o['compression'] ?? DEFAULT_COMPRESSION,
      'quantization.compression',
    );
    return Object.freeze({ kind: 'product', compression });
  }
  throw invalidArgument(
    `quantization must be 'none', 'scalar', 'binary', 'product', { kind: 'scalar', quantile }, { kind: 'binary', encoding, queryEncoding } or { kind: 'product', compression }, got ${JSON.stringify(value)}.`,
    { collection, field: 'quantization', received: value },
  );
}

/** Refuses keys of a quantization option other than `allowed`. */
function onlyKeys(o: JsonObject, allowed: readonly string[], collection: string): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) {
      throw invalidArgument(
        `Unknown quantization option "${key}" for "${collection}": allowed are ${allowed.join(', ')}.`,
        { collection, field: `quantization.${key}` },
      );
    }
  }
}

/** A quantization in words: `none`, `scalar int8, quantile 0.99`, `binary two_bits, query scalar8bits`. */
export function quantizationLabel(q: QuantizationConfig): string {
  if (q === 'none') return 'none';
  if (q.kind === 'scalar') return `scalar int8, quantile ${q.quantile}`;
  if (q.kind === 'product') return `product ${q.compression}`;
  return `binary ${q.encoding}, query ${q.queryEncoding}`;
}

/** What `Quiver.updateCollection` can change; absent fields keep their value. */
export interface CollectionChanges {
  readonly quantization?: CreateCollectionOptions['quantization'];
  readonly onDisk?: boolean;
}

/** `config` with `changes` applied, checked as createCollection checks its options. */
export function changedConfig(config: CollectionConfig, changes: unknown): CollectionConfig {
  if (!isJsonObject(changes)) {
    throw invalidArgument('updateCollection needs changes such as { quantization: "scalar" }.', {
      collection: config.name,
    });
  }
  const c = changes as Record<string, unknown>;
  for (const key of Object.keys(c)) {
    if (key !== 'quantization' && key !== 'onDisk') {
      throw invalidArgument(
        `"${key}" cannot change after creation: updateCollection changes quantization and onDisk.`,
        { collection: config.name, field: key },
      );
    }
  }
  // A field given as undefined keeps its value, as an absent one does.
  const given = Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined));
  // configFromJson checks a staging collection under the name it replaces.
  return configFromJson({ ...configJson(config), ...(given as JsonObject) });
}

/** True when two configs hold vectors alike (dimension, metric): an update may apply. */
export function sameShape(a: CollectionConfig, b: CollectionConfig): boolean {
  return a.dimension === b.dimension && a.metric === b.metric;
}

/** A config as the JSON the WAL, manifest and snapshots hold (configFromJson reads it back). */
export function configJson(config: CollectionConfig): JsonObject {
  const { onDisk, ...rest } = config;
  const q = config.quantization;
  return {
    ...rest,
    hnsw: { ...config.hnsw },
    quantization: q === 'none' ? 'none' : { ...q },
    ...(onDisk ? { onDisk: true } : {}),
  };
}

/** The key of the creation time a logged config carries (format 1.1); not an option. */
export const CREATED_AT_KEY = 'createdAt';

/** Reads a config back from its logged JSON form (its creation time is not part of it). */
export function configFromJson(json: JsonObject): CollectionConfig {
  const rest: JsonObject = {};
  for (const [key, value] of Object.entries(json)) {
    if (key !== 'name' && key !== CREATED_AT_KEY) rest[key] = value;
  }
  // A staging collection (engine/staging-name.ts) is checked under the name it replaces.
  const name = json['name'];
  const target = typeof name === 'string' ? stagingTarget(name) : undefined;
  if (target !== undefined) return { ...buildCollectionConfig(target, rest), name: name as string };
  return buildCollectionConfig(name, rest);
}

/** The creation time a logged config carries, or null when unknown (written before 1.1). */
export function createdAtOf(json: JsonObject): string | null {
  const at = json[CREATED_AT_KEY];
  return typeof at === 'string' ? at : null;
}

/**
 * Checks a vector and returns it as a new Float32Array (normalised for cosine).
 * DIMENSION_MISMATCH for a wrong length, INVALID_ARGUMENT for NaN, Infinity or non-numbers.
 */
export function prepareVector(
  vector: unknown,
  config: CollectionConfig,
  where: string,
): Float32Array {
  return prepareVectorInto(vector, config, where, new Float32Array(config.dimension));
}

/**
 * {@link prepareVector} into `out` (dimension values, e.g. one point's view of a batch's
 * buffer). `where` names the vector in an error, or is the index of an upsert's point:
 * its name is then only built for an error.
 */
function prepareVectorInto(
  vector: unknown,
  config: CollectionConfig,
  where: string | number,
  out: Float32Array,
): Float32Array {
  const arr = checkVectorShape(vector, config, where);
  const squares = copyFinite(arr, out);
  if (!Number.isFinite(squares)) explainBadValue(arr, config, vectorName(where));
  if (config.metric === 'cosine') scaleToUnit(out, squares);
  return out;
}

function vectorName(where: string | number): string {
  return typeof where === 'number' ? `points[${where}].vector` : where;
}

/** The vector as an array-like of the collection's dimension, or the error saying why not. */
function checkVectorShape(
  vector: unknown,
  config: CollectionConfig,
  where: string | number,
): ArrayLike<unknown> {
  const isArrayLike =
    Array.isArray(vector) ||
    vector instanceof Float32Array ||
    vector instanceof Float64Array ||
    vector instanceof Int32Array;
  if (!isArrayLike) {
    throw invalidArgument(
      `${vectorName(where)}: vector must be an array of numbers or a Float32Array, got ${vector === null ? 'null' : typeof vector}.`,
      { collection: config.name, field: vectorName(where) },
    );
  }
  const arr = vector as ArrayLike<unknown>;
  if (arr.length !== config.dimension) {
    throw new QuiverError(
      'DIMENSION_MISMATCH',
      `${vectorName(where)}: vector has ${arr.length} values but collection "${config.name}" has dimension ${config.dimension}.`,
      {
        collection: config.name,
        field: vectorName(where),
        expected: config.dimension,
        received: arr.length,
      },
    );
  }
  return arr;
}

/**
 * Copies `arr` into `out` as 32-bit floats and returns the sum of their squares: not
 * finite when a value is not a number or not finite as a 32-bit float (NaN, Infinity, or
 * too large). One pass without branches on the values; a cosine query's normalization
 * reuses the sum (a 1024-d query took three passes, 6.5 µs, of a 55 µs search).
 */
function copyFinite(arr: ArrayLike<unknown>, out: Float32Array): number {
  let squares = 0;
  if (Array.isArray(arr)) {
    for (let i = 0; i < out.length; i++) {
      const v: unknown = arr[i];
      if (typeof v !== 'number') return NaN;
      out[i] = v;
      const x = out[i]!;
      squares += x * x;
    }
  } else {
    const typed = arr as ArrayLike<number>;
    for (let i = 0; i < out.length; i++) {
      out[i] = typed[i]!;
      const x = out[i]!;
      squares += x * x;
    }
  }
  return squares;
}

/** Throws the error for the first value of `arr` a Float32Array cannot hold. */
function explainBadValue(arr: ArrayLike<unknown>, config: CollectionConfig, where: string): never {
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw invalidArgument(
        `${where}: vector[${i}] is ${String(v)}; every value must be a finite number (no NaN or Infinity).`,
        { collection: config.name, field: `${where}[${i}]`, received: String(v) },
      );
    }
    if (!Number.isFinite(Math.fround(v))) {
      throw invalidArgument(
        `${where}: vector[${i}] = ${v} overflows 32-bit float; scale the vector down.`,
        { collection: config.name, field: `${where}[${i}]`, received: v },
      );
    }
  }
  throw new Error('explainBadValue: no bad value found');
}

function checkJsonValue(value: unknown, path: string, depth: number, collection: string): void {
  if (depth > MAX_PAYLOAD_DEPTH) {
    throw invalidArgument(`${path} nests deeper than ${MAX_PAYLOAD_DEPTH} levels.`, {
      collection,
      field: path,
    });
  }
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw invalidArgument(`${path} is ${value}; JSON payloads hold finite numbers only.`, {
        collection,
        field: path,
      });
    }
    return;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      checkJsonValue(value[i], `${path}[${i}]`, depth + 1, collection);
    }
    return;
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      throw invalidArgument(
        `${path} is a ${value.constructor.name}; payloads hold plain JSON objects only.`,
        { collection, field: path },
      );
    }
    for (const [k, v] of Object.entries(value)) {
      checkJsonValue(v, `${path}.${k}`, depth + 1, collection);
    }
    return;
  }
  throw invalidArgument(`${path} is a ${typeof value}; payloads hold JSON values only.`, {
    collection,
    field: path,
  });
}

/** Checks a payload and returns its JSON text ('' for no payload). */
export function preparePayload(
  payload: unknown,
  collection: string,
  where: string,
  maxBytes: number,
): string {
  if (payload === undefined) return '';
  checkPayload(payload, collection, where);
  return payloadJsonWithin(JSON.stringify(payload), collection, where, maxBytes);
}

/** Throws unless `payload` is a plain JSON object (the message names the bad value). */
function checkPayload(payload: unknown, collection: string, where: string): void {
  if (!isJsonObject(payload)) {
    throw invalidArgument(
      `${where}: payload must be a JSON object, got ${Array.isArray(payload) ? 'an array' : payload === null ? 'null' : typeof payload}.`,
      { collection, field: where },
    );
  }
  // The walk that builds paths for the message runs only once the plain walk failed.
  if (!isPlainJson(payload, 0)) checkJsonValue(payload, `${where}.payload`, 0, collection);
}

/** `json`, unless its UTF-8 form is over `maxBytes`. */
function payloadJsonWithin(
  json: string,
  collection: string,
  where: string,
  maxBytes: number,
): string {
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > maxBytes) {
    throw invalidArgument(
      `${where}: payload is ${bytes} bytes, over the limit of ${maxBytes} bytes. Store large data elsewhere and keep a reference, or raise maxPayloadBytes.`,
      { collection, field: where, expected: maxBytes, received: bytes },
    );
  }
  return json;
}

/** True when {@link checkJsonValue} would accept `value`; allocates nothing. */
function isPlainJson(value: unknown, depth: number): boolean {
  if (depth > MAX_PAYLOAD_DEPTH) return false;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!isPlainJson(value[i], depth + 1)) return false;
    return true;
  }
  if (typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!isPlainJson(o[k], depth + 1)) return false;
  return true;
}

/** A point as the API accepts it. */
export interface PointInput {
  readonly id: PointId;
  readonly vector: ArrayLike<number> | Float32Array;
  readonly payload?: Payload;
}

/**
 * A point that passed validation: its id, prepared vector, payload JSON ('' for none) and
 * the payload to store (a copy the caller cannot change).
 */
export interface PreparedPoint {
  readonly id: PointId;
  readonly vector: Float32Array;
  readonly payloadJson: string;
  readonly payload: Payload;
}

/**
 * Checks `points[i]` of an upsert batch and prepares its vector (into `vectorOut` when
 * given) and payload.
 */
export function preparePoint(
  point: unknown,
  i: number,
  config: CollectionConfig,
  maxPayloadBytes: number,
  vectorOut: Float32Array = new Float32Array(config.dimension),
): PreparedPoint {
  if (!isJsonObject(point)) {
    throw invalidArgument(`points[${i}] must be an object { id, vector, payload? }.`, {
      collection: config.name,
      field: `points[${i}]`,
    });
  }
  const p = point as Partial<PointInput>;
  const id = isPlainIntegerId(p.id) ? p.id : checkPointId(p.id, `points[${i}].id`);
  const vector = prepareVectorInto(p.vector, config, i, vectorOut);
  if (p.payload === undefined) return { id, vector, payloadJson: '', payload: {} };
  const where = `points[${i}]`;
  checkPayload(p.payload, config.name, where);
  // The stored copy is what gets stringified, so the logged text is the stored payload's.
  const payload = copyJson(p.payload);
  const payloadJson = payloadJsonWithin(
    JSON.stringify(payload),
    config.name,
    where,
    maxPayloadBytes,
  );
  return { id, vector, payloadJson, payload };
}

/** An id checkPointId accepts without a look at its bytes (the common case). */
function isPlainIntegerId(id: unknown): id is number {
  return typeof id === 'number' && Number.isSafeInteger(id) && id >= 0;
}

/** Values per vector buffer of a batch (4 MiB): a huge batch never asks for one huge buffer. */
const BATCH_BUFFER_VALUES = 1 << 20;

/**
 * Checks a whole upsert batch (one bad point rejects it) and prepares its points. Their
 * vectors are views of a few shared buffers, not one allocation each: the indexes copy
 * them, so nothing keeps a buffer after the batch is applied.
 */
export function preparePoints(
  points: readonly unknown[],
  config: CollectionConfig,
  maxPayloadBytes: number,
): PreparedPoint[] {
  const dim = config.dimension;
  const perBuffer = Math.max(1, Math.floor(BATCH_BUFFER_VALUES / dim));
  const out: PreparedPoint[] = [];
  let buffer = new Float32Array(0);
  for (let i = 0; i < points.length; i++) {
    const at = i % perBuffer;
    if (at === 0) buffer = new Float32Array(Math.min(perBuffer, points.length - i) * dim);
    const into = buffer.subarray(at * dim, (at + 1) * dim);
    out.push(preparePoint(points[i], i, config, maxPayloadBytes, into));
  }
  return out;
}

/** The keys of `Collection.search`'s options. */
export const SEARCH_KEYS: ReadonlySet<string> = new Set([
  'k',
  'filter',
  'ef',
  'exact',
  'withPayload',
  'withVector',
  'explain',
  'quantization',
]);
const MAX_K = 10_000;
/** Largest `quantization.oversampling` (the beam grows to k × it). */
const MAX_OVERSAMPLING = 16;
const MAX_EF = 100_000;

/**
 * Checks search options — an object of known keys, k and ef in range — and returns k and
 * ef (the collection's efSearch when not given; not yet raised to k).
 */
export function checkSearchOptions(
  options: unknown,
  config: CollectionConfig,
): { k: number; ef: number; quantization: QuantizedSearch | undefined } {
  const collection = config.name;
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('search options must be an object.', { collection });
  }
  for (const key of Object.keys(options)) {
    if (!SEARCH_KEYS.has(key)) {
      throw invalidArgument(
        `Unknown search option "${key}": allowed are ${[...SEARCH_KEYS].join(', ')}.`,
        { collection, field: key },
      );
    }
  }
  const o = options as { k?: number; ef?: number };
  const k = o.k ?? 10;
  if (!Number.isInteger(k) || k < 1 || k > MAX_K) {
    throw invalidArgument(`k must be an integer from 1 to ${MAX_K}, got ${String(k)}.`, {
      collection,
      field: 'k',
    });
  }
  const ef = o.ef ?? config.hnsw.efSearch;
  if (!Number.isInteger(ef) || ef < 1 || ef > MAX_EF) {
    throw invalidArgument(`ef must be an integer from 1 to 100000, got ${String(ef)}.`, {
      collection,
      field: 'ef',
    });
  }
  const q = (options as { quantization?: unknown }).quantization;
  const quantization = q === undefined ? undefined : checkQuantizedSearch(q, collection);
  const candidates = Math.ceil(k * (quantization?.oversampling ?? 1));
  if (candidates > MAX_EF) {
    throw invalidArgument(
      `k × quantization.oversampling is ${candidates}, over the ${MAX_EF} candidates a search may take: lower one of them.`,
      { collection, field: 'quantization.oversampling' },
    );
  }
  return { k, ef, quantization };
}

/** Checks a search's `quantization` option: { ignore?, rescore?, oversampling? }. */
function checkQuantizedSearch(value: unknown, collection: string): QuantizedSearch {
  if (!isJsonObject(value)) {
    throw invalidArgument(
      'quantization must be an object like { rescore: true, oversampling: 2 }.',
      {
        collection,
        field: 'quantization',
      },
    );
  }
  const out: { ignore?: boolean; rescore?: boolean; oversampling?: number } = {};
  for (const [key, v] of Object.entries(value)) {
    if (key === 'ignore' || key === 'rescore') {
      if (typeof v !== 'boolean') {
        throw invalidArgument(
          `quantization.${key} must be true or false, got ${JSON.stringify(v)}.`,
          {
            collection,
            field: `quantization.${key}`,
          },
        );
      }
      out[key] = v;
    } else if (key === 'oversampling') {
      if (typeof v !== 'number' || !(v >= 1 && v <= MAX_OVERSAMPLING)) {
        throw invalidArgument(
          `quantization.oversampling must be a number from 1 to ${MAX_OVERSAMPLING}, got ${JSON.stringify(v)}.`,
          { collection, field: 'quantization.oversampling' },
        );
      }
      out.oversampling = v;
    } else {
      throw invalidArgument(
        `Unknown quantization search option "${key}": allowed are ignore, rescore, oversampling.`,
        { collection, field: `quantization.${key}` },
      );
    }
  }
  return Object.freeze(out);
}

/** Checks the `limit` of an ids page (default 100). */
export function checkPageLimit(limit: number | undefined, collection: string): number {
  const checked = limit ?? 100;
  if (!Number.isInteger(checked) || checked < 1 || checked > 1_000_000) {
    throw invalidArgument(`limit must be an integer from 1 to 1000000, got ${String(checked)}.`, {
      collection,
      field: 'limit',
    });
  }
  return checked;
}

/** Checks the payload keys of a payload update: an array of non-empty strings. */
export function checkPayloadKeys(keys: unknown, collection: string): void {
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string' || k === '')) {
    throw invalidArgument('keys must be an array of non-empty strings.', {
      collection,
      field: 'keys',
    });
  }
}

/** Checks that a batch argument is an array; `message` says which call wanted one. */
export function checkArray(value: unknown, message: string, collection: string): void {
  if (!Array.isArray(value)) throw invalidArgument(message, { collection });
}

export { checkPointId };
