/**
 * Checks and converts the pieces of Qdrant request bodies: point ids (unsigned integers
 * or UUIDs), vectors, `with_payload` / `with_vector` selectors, filters, limits. Every
 * failure names the field and says what to send instead: 400 for a value of the wrong
 * shape, 422 for one of the right JSON type that fails validation (out of range, empty),
 * as Qdrant's deserializer and validator answer.
 */
import { isQuiverError } from '../../common/quiver-error.js';
import type { MetricName, Payload, PointId } from '../../common/types.js';
import { isJsonObject } from '../../common/types.js';
import type { ShardKey } from '../../cluster/cluster-meta.js';
import { checkShardKey } from '../../cluster/shard-keys.js';
import { normalizeUuid } from '../../common/uuid.js';
import type { FilterNode } from '../../filter/filter-ast.js';
import { parseQdrantFilter } from '../../filter/qdrant-filter-parser.js';
import { badRequest, HttpError, notImplemented, validationError } from '../http-errors.js';

/** Qdrant distance names and Quiver metrics. */
export const DISTANCE_OF_METRIC: Readonly<Record<MetricName, string>> = Object.freeze({
  cosine: 'Cosine',
  euclid: 'Euclid',
  dot: 'Dot',
});

/** The Quiver metric of a Qdrant distance name; 400 for unknown or unsupported ones. */
export function metricOfDistance(distance: unknown, where: string): MetricName {
  for (const [metric, name] of Object.entries(DISTANCE_OF_METRIC)) {
    if (distance === name) return metric as MetricName;
  }
  if (distance === 'Manhattan') {
    throw badRequest(
      `${where}: distance Manhattan is not supported by Quiver; use Cosine, Euclid or Dot.`,
    );
  }
  throw badRequest(
    `${where} must be one of "Cosine", "Euclid", "Dot", got ${JSON.stringify(distance)}.`,
  );
}

/** A plain object or a 400 naming what was expected. */
export function asObject(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badRequest(
      `${where} must be a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}.`,
    );
  }
  return value as Record<string, unknown>;
}

/** The body as an object; an absent body counts as `{}`. */
export function bodyObject(body: unknown): Record<string, unknown> {
  return body === undefined || body === null ? {} : asObject(body, 'the request body');
}

/** Refuses keys a route does not know (so typos are not silently ignored). */
export function checkKeys(
  obj: Record<string, unknown>,
  allowed: readonly string[],
  where: string,
  unsupported: readonly string[] = [],
): void {
  for (const key of Object.keys(obj)) {
    if (unsupported.includes(key) && obj[key] !== null && obj[key] !== undefined) {
      throw notImplemented(`"${key}" in ${where}`);
    }
    if (!allowed.includes(key) && !unsupported.includes(key)) {
      throw badRequest(`unknown field "${key}" in ${where}; allowed are ${allowed.join(', ')}.`);
    }
  }
}

/**
 * A Qdrant point id: an unsigned integer (up to 2^53-1 in Quiver; larger ones are refused
 * rather than rounded) or a UUID, normalised to lowercase hyphenated form as Qdrant does.
 */
export function parsePointId(value: unknown, where: string): PointId {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value;
    throw badRequest(
      `${where} ${String(value)} is not a valid point id: use an unsigned integer up to 2^53-1 or a UUID.`,
    );
  }
  if (typeof value === 'string') {
    const uuid = normalizeUuid(value);
    if (uuid !== undefined) return uuid;
    throw badRequest(
      `${where} "${value.slice(0, 60)}" is not a valid point id: use an unsigned integer or a UUID.`,
    );
  }
  throw badRequest(
    `${where} must be an unsigned integer or a UUID string, got ${value === null ? 'null' : typeof value}.`,
  );
}

/** A point id from a URL segment: digits are an integer id, anything else must be a UUID. */
export function parsePathPointId(text: string | undefined): PointId {
  if (text !== undefined && /^\d+$/.test(text)) return parsePointId(Number(text), 'point id');
  return parsePointId(text ?? '', 'point id');
}

/** A list of point ids. */
export function parsePointIds(value: unknown, where: string): PointId[] {
  if (!Array.isArray(value)) throw badRequest(`${where} must be an array of point ids.`);
  return Array.from(value as unknown[], (v, i) => parsePointId(v, `${where}[${i}]`));
}

/** A dense vector: an array of numbers (the unnamed vector `{ "": [...] }` is accepted too). */
export function parseVector(value: unknown, where: string): number[] {
  if (Array.isArray(value)) {
    const values = value as unknown[];
    if (values.length === 0) throw validationError(where, 'dense vector must not be empty');
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v !== 'number') {
        throw badRequest(`${where}[${i}] must be a number, got ${v === null ? 'null' : typeof v}.`);
      }
    }
    return value as number[];
  }
  if (typeof value === 'object' && value !== null) {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === '') return parseVector(o[''], where);
    if ('name' in o && 'vector' in o) {
      if (o['name'] === '') return parseVector(o['vector'], `${where}.vector`);
      throw notImplemented(`named vectors (${where} names "${String(o['name'])}")`);
    }
    if ('indices' in o || 'values' in o) throw notImplemented(`sparse vectors (${where})`);
    throw notImplemented(`named vectors (${where})`);
  }
  throw badRequest(
    `${where} must be an array of numbers, got ${value === null ? 'null' : typeof value}.`,
  );
}

/** `with_payload`: true, false, a list of keys, or `{ include }` / `{ exclude }`. */
export type PayloadProjection = (payload: Payload) => Payload | null;

function pick(payload: Payload, keys: readonly string[]): Payload {
  const out: Payload = {};
  for (const key of keys) {
    const top = key.split('.')[0]!;
    if (Object.hasOwn(payload, top)) out[top] = payload[top]!;
  }
  return out;
}

/** The projection of `with_payload: false`: callers may skip fetching payloads at all. */
export const NO_PAYLOAD: PayloadProjection = () => null;
const WHOLE_PAYLOAD: PayloadProjection = (p) => p;

/** The payload projection `with_payload` asks for (`fallback` when absent). */
export function parseWithPayload(value: unknown, fallback: boolean): PayloadProjection {
  if (value === undefined || value === null) return fallback ? WHOLE_PAYLOAD : NO_PAYLOAD;
  if (value === true) return WHOLE_PAYLOAD;
  if (value === false) return NO_PAYLOAD;
  const stringList = (v: unknown, where: string): string[] => {
    if (!Array.isArray(v) || v.some((k) => typeof k !== 'string')) {
      throw badRequest(`${where} must be a list of payload keys.`);
    }
    return v as string[];
  };
  if (Array.isArray(value)) {
    const keys = stringList(value, 'with_payload');
    return (p) => pick(p, keys);
  }
  if (typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (Array.isArray(o['include'])) {
      const keys = stringList(o['include'], 'with_payload.include');
      return (p) => pick(p, keys);
    }
    if (Array.isArray(o['exclude'])) {
      const drop = new Set(stringList(o['exclude'], 'with_payload.exclude'));
      return (p) => Object.fromEntries(Object.entries(p).filter(([k]) => !drop.has(k)));
    }
  }
  throw badRequest(
    'with_payload must be true, false, a list of keys, { "include": [...] } or { "exclude": [...] }.',
  );
}

/** `with_vector`: true, false, or a list of vector names (the unnamed vector only). */
export function parseWithVector(value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.length > 0;
  throw badRequest('with_vector must be true, false or a list of vector names.');
}

/** A Qdrant filter compiled to the AST (undefined when absent). */
export function parseFilterField(value: unknown): FilterNode | undefined {
  if (value === undefined || value === null) return undefined;
  try {
    return parseQdrantFilter(value);
  } catch (e) {
    if (isQuiverError(e)) throw e;
    throw badRequest(`filter: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** An optional integer field within bounds. */
export function intField(
  value: unknown,
  where: string,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined || value === null) return fallback;
  // A negative number for an unsigned field fails Qdrant's deserializer (400), not its
  // validator (422).
  if (typeof value !== 'number' || !Number.isInteger(value) || (value < 0 && min >= 0)) {
    throw badRequest(
      `${where} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}.`,
    );
  }
  if (value < min || value > max) {
    throw validationError(where, `value ${value} invalid, must be from ${min} to ${max}`);
  }
  return value;
}

/** An optional boolean field. */
export function boolField(value: unknown, where: string, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw badRequest(`${where} must be true or false.`);
  return value;
}

/** An optional finite number field. */
export function numberField(value: unknown, where: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw badRequest(`${where} must be a number.`);
  }
  return value;
}

/** True for an HttpError with this status (tests and handlers). */
export function isHttpStatus(e: unknown, status: number): boolean {
  return e instanceof HttpError && e.statusCode === status;
}

/**
 * Qdrant's ShardKeySelector: one key, a list, or `{target, fallback}` (the target when the
 * collection has it, else the fallback). Undefined when absent or null.
 */
export type ShardKeySelector =
  | { readonly keys: readonly ShardKey[] }
  | { readonly target: ShardKey; readonly fallback: ShardKey };

export function parseShardKeySelector(value: unknown): ShardKeySelector | undefined {
  // An empty list selects nothing in particular: every shard, as when absent.
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value) && value.length === 0) return undefined;
  if (Array.isArray(value)) {
    return { keys: value.map((k, i) => checkShardKey(k, `shard_key[${i}]`)) };
  }
  if (isJsonObject(value)) {
    checkKeys(value, ['target', 'fallback'], 'shard_key');
    return {
      target: checkShardKey(value['target'], 'shard_key.target'),
      fallback: checkShardKey(value['fallback'], 'shard_key.fallback'),
    };
  }
  return { keys: [checkShardKey(value, 'shard_key')] };
}
