/**
 * The semantic cache: for collections that opt in with a minimum similarity, a search
 * that misses the query cache may take the answer of a recent cached search with the same
 * options and filter whose query vector is at least that similar (cosine of the two
 * queries as given). The answer's points are rescored against the new query and sorted
 * again, so scores are the new query's; the points themselves are the cached search's,
 * which is what the opt-in trades for speed.
 */
import { invalidArgument } from '../common/quiver-error.js';
import type { MetricName, PointId } from '../common/types.js';
import { compareIds } from '../common/types.js';
import { publicScore } from '../kernels/distance-kernel.js';
import { SCALAR_KERNEL } from '../kernels/scalar-kernel.js';
import type { CachedAnswer } from './search-cache.js';
import type { SearchHit } from './search-results.js';

/** Counts of semantic lookups (made only for collections that opted in). */
export interface SemanticCacheStats {
  readonly hits: number;
  readonly misses: number;
  /** Collection → minimum similarity, for the collections that opted in. */
  readonly collections: Readonly<Record<string, number>>;
}

/** Per-database settings and counters of the semantic cache. */
export class SemanticCache {
  private readonly minimum = new Map<string, number>();
  private hits = 0;
  private misses = 0;

  /** Opts `collection` in at `minSimilarity` (0 < s ≤ 1), or out with undefined. */
  set(collection: string, minSimilarity: number | undefined): void {
    if (minSimilarity === undefined) {
      this.minimum.delete(collection);
      return;
    }
    checkSimilarity(minSimilarity, collection);
    this.minimum.set(collection, minSimilarity);
  }

  /** The minimum similarity of `collection`, undefined when it did not opt in. */
  minSimilarity(collection: string): number | undefined {
    return this.minimum.get(collection);
  }

  /**
   * The most similar of `candidates` (newest first) to `raw` at or above `min`, counted as
   * a hit, or undefined, counted as a miss.
   */
  nearest(
    raw: Float32Array,
    candidates: readonly CachedAnswer[],
    min: number,
  ): { answer: CachedAnswer; similarity: number } | undefined {
    let best: { answer: CachedAnswer; similarity: number } | undefined;
    const norm = Math.sqrt(dot(raw, raw));
    for (const answer of candidates) {
      const s = norm === 0 ? 0 : dot(raw, answer.query) / (norm * answer.norm);
      if (s >= min && (best === undefined || s > best.similarity)) best = { answer, similarity: s };
    }
    if (best === undefined) this.misses++;
    else this.hits++;
    return best;
  }

  stats(): SemanticCacheStats {
    return {
      hits: this.hits,
      misses: this.misses,
      collections: Object.fromEntries(this.minimum),
    };
  }
}

/** Throws INVALID_ARGUMENT unless `s` is a number above 0 and at most 1. */
export function checkSimilarity(s: unknown, collection: string): void {
  if (typeof s !== 'number' || !(s > 0 && s <= 1)) {
    throw invalidArgument(
      `The semantic cache's minimum similarity for "${collection}" must be above 0 and at most 1 (e.g. 0.97), got ${JSON.stringify(s)}.`,
      { collection, field: 'minSimilarity' },
    );
  }
}

/** Euclidean norm of a query (stored with a cached answer). */
export function normOf(v: Float32Array): number {
  return Math.sqrt(dot(v, v));
}

function dot(a: Float32Array, b: Float32Array): number {
  return SCALAR_KERNEL.dot(a, 0, b, 0, a.length);
}

/**
 * The cached hits scored against `query` (prepared: normalised for cosine) and sorted
 * best first, ties by id. `score(id)` is the internal similarity of a live point, or
 * undefined for one no longer there (cannot happen at the same generation; skipped).
 */
export function rescored(
  hits: readonly SearchHit[],
  metric: MetricName,
  score: (id: PointId) => number | undefined,
): SearchHit[] {
  const out: { hit: SearchHit; internal: number }[] = [];
  for (const h of hits) {
    const internal = score(h.id);
    if (internal !== undefined) out.push({ hit: h, internal });
  }
  out.sort((a, b) => b.internal - a.internal || compareIds(a.hit.id, b.hit.id));
  return out.map(({ hit, internal }) => ({ ...hit, score: publicScore(metric, internal) }));
}
