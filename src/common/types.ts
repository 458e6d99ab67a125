/**
 * Shared value types of the data model (SPEC section 2): point ids, payloads, metrics.
 * Pure types and their validators; no I/O.
 */
import { invalidArgument } from './quiver-error.js';

/** A point id: an unsigned integer up to 2^53-1, or a string of at most 256 UTF-8 bytes. */
export type PointId = number | string;

/** Any JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
/** A JSON object, as payloads are. */
export interface JsonObject {
  [key: string]: JsonValue;
}
/** A point's payload: a JSON object. */
export type Payload = JsonObject;

/** Distance metrics: cosine and dot are similarities, euclid is a distance (SPEC section 2). */
export type MetricName = 'cosine' | 'euclid' | 'dot';
export const METRICS: readonly MetricName[] = Object.freeze(['cosine', 'euclid', 'dot']);

export const MAX_STRING_ID_BYTES = 256;
const textEncoder = new TextEncoder();

/** Validates an id and returns it; throws INVALID_ARGUMENT saying what is wrong. */
export function checkPointId(id: unknown, where = 'id'): PointId {
  if (typeof id === 'number') {
    if (!Number.isSafeInteger(id) || id < 0) {
      throw invalidArgument(
        `${where} ${String(id)} is not a valid point id: integer ids must be whole numbers from 0 to 2^53-1.`,
        { field: where, received: id },
      );
    }
    return id;
  }
  if (typeof id === 'string') {
    const bytes = textEncoder.encode(id).length;
    if (bytes === 0 || bytes > MAX_STRING_ID_BYTES) {
      throw invalidArgument(
        `${where} "${id.slice(0, 40)}" is not a valid point id: string ids must be 1 to ${MAX_STRING_ID_BYTES} bytes (got ${bytes}).`,
        { field: where, received: bytes },
      );
    }
    return id;
  }
  throw invalidArgument(
    `${where} must be an unsigned integer or a string, got ${id === null ? 'null' : typeof id}.`,
    { field: where, received: id === null ? 'null' : typeof id },
  );
}

/** Compares two ids for stable tie-breaking: integers before strings, then natural order. */
export function compareIds(a: PointId, b: PointId): number {
  if (typeof a === 'number') {
    if (typeof b === 'number') return a - b;
    return -1;
  }
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** True for a plain JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
