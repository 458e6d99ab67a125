/**
 * What the query cache keeps of a search: the key (everything besides the collection's
 * state that decides the answer), the answer's size, and copies in and out, so a caller
 * that changes a returned payload cannot change what the next caller gets.
 */
import { copyJson } from '../common/json-copy.js';
import type { Payload, PointId } from '../common/types.js';
import type { SearchExplain, SearchHit } from './search-results.js';

/** What the cache holds per search: the query it answered (to tell keys apart) and the hits. */
export interface CachedAnswer {
  readonly query: Float32Array;
  readonly hits: readonly SearchHit[];
}

/** The options of a search that change its answer. */
export interface CacheKeyOptions {
  readonly k: number;
  readonly ef: number;
  readonly exact: boolean;
  readonly withPayload: boolean;
  readonly withVector: boolean;
}

/**
 * The key of a search, or undefined when its filter is not plain JSON (then it is not
 * cached: a value JSON cannot spell could make two different filters one key). The query
 * enters as a 64-bit digest: two queries can share a key, so a hit is accepted only when
 * the stored query is the same vector, bit for bit ({@link sameQuery}).
 */
export function searchCacheKey(
  query: Float32Array,
  o: CacheKeyOptions,
  filter: unknown,
): string | undefined {
  const filterText = filter === undefined ? '' : plainJson(filter);
  if (filterText === undefined) return undefined;
  const flags = `${o.exact ? 'x' : ''}${o.withPayload ? 'p' : ''}${o.withVector ? 'v' : ''}`;
  return `${o.k}|${o.ef}|${flags}|${digest(query)}|${filterText}`;
}

/** Two 32-bit multiplicative hashes of the vector's bits (not cryptographic: see above). */
function digest(v: Float32Array): string {
  const words = new Int32Array(v.buffer, v.byteOffset, v.length);
  let a = 0x811c9dc5;
  let b = v.length;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    a = Math.imul(a ^ w, 0x01000193);
    b = Math.imul(b + w, 0x5bd1e995) ^ (b >>> 15);
  }
  return `${(a >>> 0).toString(36)}.${(b >>> 0).toString(36)}`;
}

/** True when `a` and `b` hold the same bits (so the same query, -0 and NaN included). */
export function sameQuery(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Int32Array(a.buffer, a.byteOffset, a.length);
  const y = new Int32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** JSON text of `v`, or undefined when it holds anything but plain JSON values. */
function plainJson(v: unknown): string | undefined {
  let plain = true;
  const text = JSON.stringify(v, (_k, x: unknown) => {
    if (x === null || typeof x === 'string' || typeof x === 'boolean') return x;
    if (typeof x === 'number') {
      if (!Number.isFinite(x)) plain = false;
      return x;
    }
    if (Array.isArray(x)) return x as unknown[];
    if (typeof x === 'object') {
      const proto = Object.getPrototypeOf(x) as unknown;
      if (proto !== Object.prototype && proto !== null) plain = false;
      return x;
    }
    plain = false;
    return null;
  });
  return plain ? text : undefined;
}

/** Estimated bytes the hits hold in memory (strings as UTF-16, numbers as doubles). */
export function hitsBytes(hits: readonly SearchHit[]): number {
  let n = 0;
  for (const h of hits) {
    n += 64 + (typeof h.id === 'string' ? h.id.length * 2 : 8);
    if (h.payload !== undefined) n += JSON.stringify(h.payload).length * 2;
    if (h.vector !== undefined) n += h.vector.length * 8;
  }
  return n;
}

/** A deep copy of the hits (payloads and vectors are the caller's to change). */
export function copyHits(hits: readonly SearchHit[]): SearchHit[] {
  return hits.map((h) => {
    const out: { id: PointId; score: number; payload?: Payload; vector?: number[] } = {
      id: h.id,
      score: h.score,
    };
    if (h.payload !== undefined) out.payload = copyJson(h.payload);
    if (h.vector !== undefined) out.vector = h.vector.slice();
    return out;
  });
}

/** The explain block of an answer served from the cache: no segment was searched. */
export function cacheExplain(
  o: { readonly k: number; readonly ef: number },
  parseMs: number,
  copyMs: number,
): SearchExplain {
  return {
    plan: 'cache',
    source: 'cache',
    k: o.k,
    ef: Math.max(o.ef, o.k),
    segmentsSearched: 0,
    segments: [],
    nodesVisited: 0,
    distanceComputations: 0,
    timings: {
      parseMs,
      filterMs: 0,
      graphMs: 0,
      exactMs: 0,
      searchMs: 0,
      mergeMs: 0,
      payloadMs: copyMs,
      totalMs: parseMs + copyMs,
    },
  };
}
