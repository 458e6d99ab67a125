/**
 * Search results as the API returns them: public hits (scores per SPEC section 2, payloads
 * and vectors copied) and the `explain` block, built from a CollectionSearchResult.
 */
import type { MetricName, Payload, PointId } from '../common/types.js';
import { copyJson } from '../common/json-copy.js';
import { publicScore } from '../kernels/distance-kernel.js';
import type { CollectionSearchResult } from './collection-state.js';
import type { SegmentHit, SegmentSearchStats } from './segment.js';

/** One search result. `score` follows SPEC section 2 (euclid: distance, lower is better). */
export interface SearchHit {
  readonly id: PointId;
  readonly score: number;
  readonly payload?: Payload;
  readonly vector?: number[];
}

/** How a search ran (returned with `explain: true`). */
export interface SearchExplain {
  /**
   * The plan of the segments searched; 'mixed' when they differ; 'cache' when the answer
   * came from the query cache (nothing searched).
   */
  readonly plan: SegmentSearchStats['plan'] | 'mixed' | 'cache';
  /**
   * Where the answer came from: the index (segments searched), the query cache (the same
   * search before), or the semantic cache (a similar query's points, rescored).
   */
  readonly source: 'index' | 'cache' | 'semantic';
  /** With source `semantic`: the cosine similarity of this query to the cached one. */
  readonly cacheSimilarity?: number;
  readonly k: number;
  readonly ef: number;
  readonly segmentsSearched: number;
  readonly segments: readonly (SegmentSearchStats & { readonly kind: string })[];
  readonly nodesVisited: number;
  readonly distanceComputations: number;
  /** Milliseconds per phase (segments' phases summed over the segments). */
  readonly timings: {
    /** Validating options, preparing the query, parsing the filter. */
    readonly parseMs: number;
    /** Evaluating the filter over payloads into allow-lists. */
    readonly filterMs: number;
    /** Walking graphs (on a worker: the hand-off included). */
    readonly graphMs: number;
    /** Exact scans: exact plans, and vectors waiting for the graph. */
    readonly exactMs: number;
    /** graphMs + exactMs. */
    readonly searchMs: number;
    /** Merging the segments' hits into one list. */
    readonly mergeMs: number;
    /** Turning hits into results: public scores, payload and vector copies. */
    readonly payloadMs: number;
    readonly totalMs: number;
  };
}

/** A search's answer: hits, or hits with the explain block when asked. */
export type SearchAnswer = SearchHit[] | { hits: SearchHit[]; explain: SearchExplain };

/** One search run, from its checked options to the segments' result. */
export interface SearchRun {
  readonly result: CollectionSearchResult;
  readonly metric: MetricName;
  readonly k: number;
  /** The ef asked (or the collection's default), before it is raised to k. */
  readonly ef: number;
  readonly withPayload: boolean;
  readonly withVector: boolean;
  readonly explain: boolean;
  /** performance.now() when the search started, and when parsing ended. */
  readonly t0: number;
  readonly t1: number;
}

export function vectorOut(v: Float32Array): number[] {
  return Array.from(v);
}

/** Public hits, with the explain block when asked. */
export function presentSearch(run: SearchRun): SearchAnswer {
  const t2 = performance.now();
  const hits = run.result.hits.map((h) => publicHit(h, run));
  if (!run.explain) return hits;
  return { hits, explain: explainOf(run, t2, performance.now()) };
}

function publicHit(h: SegmentHit, run: SearchRun): SearchHit {
  const hit: { id: PointId; score: number; payload?: Payload; vector?: number[] } = {
    id: h.id,
    score: publicScore(run.metric, h.score),
  };
  if (run.withPayload) hit.payload = copyJson(h.payload);
  if (run.withVector && h.vector !== undefined) hit.vector = vectorOut(h.vector);
  return hit;
}

/** The explain block: the segments' work summed; `t2`..`t3` is the time spent on hits. */
function explainOf(run: SearchRun, t2: number, t3: number): SearchExplain {
  const segments = run.result.segments;
  let nodesVisited = 0;
  let distanceComputations = 0;
  let filterMs = 0;
  let graphMs = 0;
  let exactMs = 0;
  for (const s of segments) {
    nodesVisited += s.nodesVisited;
    distanceComputations += s.distanceComputations;
    filterMs += s.filterMs;
    graphMs += s.graphMs;
    exactMs += s.exactMs;
  }
  const plans = new Set(segments.map((s) => s.plan));
  return {
    plan: plans.size === 0 ? 'empty' : plans.size === 1 ? segments[0]!.plan : 'mixed',
    source: 'index',
    k: run.k,
    ef: Math.max(run.ef, run.k),
    segmentsSearched: segments.length,
    segments,
    nodesVisited,
    distanceComputations,
    timings: {
      parseMs: run.t1 - run.t0,
      filterMs,
      graphMs,
      exactMs,
      searchMs: graphMs + exactMs,
      mergeMs: run.result.mergeMs,
      payloadMs: t3 - t2,
      totalMs: t3 - run.t0,
    },
  };
}
