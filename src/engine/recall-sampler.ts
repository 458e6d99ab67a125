/**
 * RecallSampler: keeps a small sample of a collection's recent approximate searches and,
 * in the background, re-runs them exactly to estimate recall@k (the
 * `quiver_recall_estimate` metric) — an operator's early warning that efSearch is too low
 * for the data, before users notice worse results.
 */
import type { CompiledFilter } from '../filter/filter-evaluator.js';
import type { CollectionState } from './collection-state.js';

interface Sample {
  readonly query: Float32Array;
  readonly k: number;
  readonly ef: number;
  readonly filter: CompiledFilter | undefined;
  /** Re-run already (its result is in the pool). */
  checked: boolean;
}

/** One re-run sample: how many of the exact top k the approximate search found. */
interface Outcome {
  readonly found: number;
  readonly wanted: number;
}

/** One query in this many is sampled. */
const SAMPLE_EVERY = 50;
/** Samples kept (the newest), and re-run outcomes pooled into the estimate. */
const CAPACITY = 32;
/** Samples re-run per estimation round. */
const PER_ROUND = 8;
/** Background estimation interval. */
const INTERVAL_MS = 30_000;

export class RecallSampler {
  private readonly samples: Sample[] = [];
  /**
   * Outcomes of the last CAPACITY re-run samples. The estimate pools them all: one round's
   * few queries vary too much (8 queries put an estimate 0.07 off a recall of 0.77), while
   * each round still costs only PER_ROUND exact searches.
   */
  private readonly outcomes: Outcome[] = [];
  private seen = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Mean recall@k of the last round; undefined until a round ran. */
  estimate: number | undefined;
  /** Sampled queries re-run so far. */
  checked = 0;

  constructor(
    private readonly state: CollectionState,
    private readonly alive: () => boolean,
  ) {}

  /** Offers an approximate search; one in SAMPLE_EVERY is kept. */
  offer(query: Float32Array, k: number, ef: number, filter: CompiledFilter | undefined): void {
    if (++this.seen % SAMPLE_EVERY !== 1) return;
    this.samples.push({ query: query.slice(), k, ef, filter, checked: false });
    if (this.samples.length > CAPACITY) this.samples.shift();
    this.timer ??= setInterval(() => {
      if (!this.alive()) {
        clearInterval(this.timer);
        return;
      }
      this.run();
    }, INTERVAL_MS).unref();
  }

  /** Re-runs up to PER_ROUND samples not re-run yet (newest first); returns the new estimate. */
  run(): number | undefined {
    const round = this.samples.filter((s) => !s.checked).slice(-PER_ROUND);
    for (const s of round) {
      const options = { k: s.k, ef: s.ef, filter: s.filter, withVector: false };
      const exact = this.state.search(s.query, { ...options, exact: true }).hits;
      const approx = this.state.search(s.query, { ...options, exact: false }).hits;
      const want = new Set(exact.map((h) => h.id));
      this.outcomes.push({
        found: approx.filter((h) => want.has(h.id)).length,
        wanted: want.size,
      });
      s.checked = true;
    }
    if (this.outcomes.length > CAPACITY) this.outcomes.splice(0, this.outcomes.length - CAPACITY);
    this.checked += round.length;
    if (this.outcomes.length === 0) return this.estimate;
    let found = 0;
    let wanted = 0;
    for (const o of this.outcomes) {
      found += o.found;
      wanted += o.wanted;
    }
    this.estimate = wanted === 0 ? 1 : found / wanted;
    return this.estimate;
  }
}
