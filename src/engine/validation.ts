/**
 * Input validation of the embedded API: collection names and configs, points, vectors,
 * payloads, and the options of searches, pages and payload updates. Each check throws a QuiverError that says what, where and what to do; a batch
 * is validated whole before anything is written (all or nothing).
 */
import { invalidArgument, QuiverError } from '../common/quiver-error.js';
import type { JsonObject, MetricName, Payload, PointId } from '../common/types.js';
import { checkPointId, isJsonObject, METRICS } from '../common/types.js';
import { normalizeInPlace } from '../kernels/distance-kernel.js';
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

/** The stored configuration of a collection. */
export interface CollectionConfig {
  readonly name: string;
  readonly dimension: number;
  readonly metric: MetricName;
  readonly hnsw: HnswConfig;
  readonly quantization: QuantizationName;
}

/** Options of `createCollection`. */
export interface CreateCollectionOptions {
  /** Number of values per vector, 1..65536. */
  readonly dimension: number;
  /** `cosine` (default), `euclid` or `dot`. */
  readonly metric?: MetricName;
  readonly hnsw?: Partial<HnswConfig>;
  /** Only `none` today; the other kinds arrive with quantization. */
  readonly quantization?: QuantizationName;
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
    if (!['dimension', 'metric', 'hnsw', 'quantization'].includes(key)) {
      throw invalidArgument(
        `Unknown collection option "${key}" for "${checkedName}": allowed are dimension, metric, hnsw, quantization.`,
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
  const quantization = o['quantization'] ?? 'none';
  if (quantization !== 'none') {
    throw invalidArgument(
      `quantization ${JSON.stringify(quantization)} is not available yet: use 'none'.`,
      { collection: checkedName, field: 'quantization', received: quantization },
    );
  }
  return Object.freeze({
    name: checkedName,
    dimension,
    metric: metric as MetricName,
    hnsw,
    quantization: 'none',
  });
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
  const isArrayLike =
    Array.isArray(vector) ||
    vector instanceof Float32Array ||
    vector instanceof Float64Array ||
    vector instanceof Int32Array;
  if (!isArrayLike) {
    throw invalidArgument(
      `${where}: vector must be an array of numbers or a Float32Array, got ${vector === null ? 'null' : typeof vector}.`,
      { collection: config.name, field: where },
    );
  }
  const arr = vector as ArrayLike<unknown>;
  if (arr.length !== config.dimension) {
    throw new QuiverError(
      'DIMENSION_MISMATCH',
      `${where}: vector has ${arr.length} values but collection "${config.name}" has dimension ${config.dimension}.`,
      { collection: config.name, field: where, expected: config.dimension, received: arr.length },
    );
  }
  const out = new Float32Array(arr.length);
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw invalidArgument(
        `${where}: vector[${i}] is ${String(v)}; every value must be a finite number (no NaN or Infinity).`,
        { collection: config.name, field: `${where}[${i}]`, received: String(v) },
      );
    }
    out[i] = v;
    if (!Number.isFinite(out[i]!)) {
      throw invalidArgument(
        `${where}: vector[${i}] = ${v} overflows 32-bit float; scale the vector down.`,
        { collection: config.name, field: `${where}[${i}]`, received: v },
      );
    }
  }
  if (config.metric === 'cosine') normalizeInPlace(out);
  return out;
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
  if (!isJsonObject(payload)) {
    throw invalidArgument(
      `${where}: payload must be a JSON object, got ${Array.isArray(payload) ? 'an array' : payload === null ? 'null' : typeof payload}.`,
      { collection, field: where },
    );
  }
  checkJsonValue(payload, `${where}.payload`, 0, collection);
  const json = JSON.stringify(payload);
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > maxBytes) {
    throw invalidArgument(
      `${where}: payload is ${bytes} bytes, over the limit of ${maxBytes} bytes. Store large data elsewhere and keep a reference, or raise maxPayloadBytes.`,
      { collection, field: where, expected: maxBytes, received: bytes },
    );
  }
  return json;
}

/** A point as the API accepts it. */
export interface PointInput {
  readonly id: PointId;
  readonly vector: ArrayLike<number> | Float32Array;
  readonly payload?: Payload;
}

/** A point that passed validation: its id, prepared vector and payload JSON ('' for none). */
export interface PreparedPoint {
  readonly id: PointId;
  readonly vector: Float32Array;
  readonly payloadJson: string;
}

/** Checks `points[i]` of an upsert batch and prepares its vector and payload. */
export function preparePoint(
  point: unknown,
  i: number,
  config: CollectionConfig,
  maxPayloadBytes: number,
): PreparedPoint {
  const where = `points[${i}]`;
  if (!isJsonObject(point)) {
    throw invalidArgument(`${where} must be an object { id, vector, payload? }.`, {
      collection: config.name,
      field: where,
    });
  }
  const p = point as Partial<PointInput>;
  const id = checkPointId(p.id, `${where}.id`);
  const vector = prepareVector(p.vector, config, `${where}.vector`);
  const payloadJson = preparePayload(p.payload, config.name, where, maxPayloadBytes);
  return { id, vector, payloadJson };
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
]);
const MAX_K = 10_000;
const MAX_EF = 100_000;

/**
 * Checks search options — an object of known keys, k and ef in range — and returns k and
 * ef (the collection's efSearch when not given; not yet raised to k).
 */
export function checkSearchOptions(
  options: unknown,
  config: CollectionConfig,
): { k: number; ef: number } {
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
  return { k, ef };
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
