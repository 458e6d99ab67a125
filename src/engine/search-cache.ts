/**
 * What the query cache keeps of a search: the key (everything besides the collection's
 * state that decides the answer), the answer's size, and copies in and out, so a caller
 * that changes a returned payload cannot change what the next caller gets.
 */
import type { QuantizedSearch } from '../ann/vector-index.js';
import { copyJson } from '../common/json-copy.js';
import type { Payload, PointId } from '../common/types.js';
import { isFilterNode } from '../filter/filter-ast.js';
import type { SearchExplain, SearchHit } from './search-results.js';

/** What the cache holds per search: the query it answered (to tell keys apart) and the hits. */
export interface CachedAnswer {
  readonly query: Float32Array;
  /** The query's Euclidean norm (for the semantic cache's similarity). */
  readonly norm: number;
  readonly hits: readonly SearchHit[];
}

/** The options of a search that change its answer. */
export interface CacheKeyOptions {
  readonly k: number;
  readonly ef: number;
  readonly exact: boolean;
  readonly withPayload: boolean;
  readonly withVector: boolean;
  readonly quantization: QuantizedSearch | undefined;
}

/** A search's cache key, and its query as float32 bits (what a stored entry must equal). */
export interface CacheProbe {
  readonly key: string;
  /** The key without the query: searches that differ only in their vector. */
  readonly group: string;
  readonly raw: Float32Array;
}

/**
 * The key of a search, from its query as given (numbers as float32: the precision the
 * engine searches at), or undefined when it cannot be cached: a query that is not an
 * array (validation reports it), or a filter that is not plain JSON (a value JSON cannot
 * spell could make two different filters one key). The query enters the key as a 32-bit
 * digest: two queries can share a key, so a hit is accepted only when the stored query
 * has the same bits ({@link sameQuery}).
 */
export function cacheProbe(
  vector: ArrayLike<number>,
  o: CacheKeyOptions,
  filter: unknown,
): CacheProbe | undefined {
  const raw = asFloat32(vector);
  if (raw === undefined) return undefined;
  let filterText = '';
  if (filter !== undefined) {
    const json = plainJson(filter);
    if (json === undefined) return undefined;
    // A filter node (from Filter.*) and a Mongo-style object can spell the same JSON.
    filterText = `${isFilterNode(filter) ? 'n' : 'm'}:${json}`;
  }
  const flags = `${o.exact ? 'x' : ''}${o.withPayload ? 'p' : ''}${o.withVector ? 'v' : ''}`;
  const q = o.quantization;
  const quant =
    q === undefined
      ? ''
      : `${q.ignore === true ? 'i' : ''}${q.rescore === false ? 'r' : ''}${q.oversampling ?? ''}`;
  const group = `${o.k}|${o.ef}|${flags}|${quant}|${raw.length}|${filterText}`;
  return { key: `${digest(raw)}|${group}`, group, raw };
}

/** The query's float32 bits, or undefined for anything but numbers in an array. */
function asFloat32(vector: unknown): Float32Array | undefined {
  if (vector instanceof Float32Array) return vector;
  // The typed arrays validation takes; any other is for it to refuse.
  if (vector instanceof Float64Array || vector instanceof Int32Array) {
    return Float32Array.from(vector);
  }
  if (!Array.isArray(vector)) return undefined;
  const out = new Float32Array(vector.length);
  for (let i = 0; i < vector.length; i++) {
    const x: unknown = vector[i];
    // Anything else is for validation to refuse, with its own message.
    if (typeof x !== 'number') return undefined;
    out[i] = x;
  }
  return out;
}

/** FNV-1a over the vector's 32-bit words (not cryptographic: see above). */
function digest(v: Float32Array): number {
  const words = new Int32Array(v.buffer, v.byteOffset, v.length);
  let h = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i]!, 0x01000193);
  return h >>> 0;
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
  const text = JSON.stringify(v, function (this: Record<string, unknown>, k: string, x: unknown) {
    // The value before its toJSON ran (a Date becomes a string first): judged as given.
    const raw = this[k];
    if (raw === null || typeof raw === 'string' || typeof raw === 'boolean') return raw;
    if (typeof raw === 'number') {
      if (!Number.isFinite(raw)) plain = false;
      return raw;
    }
    if (Array.isArray(raw)) return x;
    if (typeof raw === 'object') {
      const proto = Object.getPrototypeOf(raw) as unknown;
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
  source: 'cache' | 'semantic' = 'cache',
): SearchExplain {
  return {
    plan: 'cache',
    source,
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
