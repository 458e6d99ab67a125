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
}

/** One query in this many is sampled. */
const SAMPLE_EVERY = 50;
/** Samples kept (the newest). */
const CAPACITY = 32;
/** Samples re-run per estimation round. */
const PER_ROUND = 8;
/** Background estimation interval. */
const INTERVAL_MS = 30_000;

export class RecallSampler {
  private readonly samples: Sample[] = [];
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
    this.samples.push({ query: query.slice(), k, ef, filter });
    if (this.samples.length > CAPACITY) this.samples.shift();
    this.timer ??= setInterval(() => {
      if (!this.alive()) {
        clearInterval(this.timer);
        return;
      }
      this.run();
    }, INTERVAL_MS).unref();
  }

  /** Re-runs up to PER_ROUND samples exactly now; returns the new estimate. */
  run(): number | undefined {
    const round = this.samples.slice(-PER_ROUND);
    if (round.length === 0) return this.estimate;
    let found = 0;
    let wanted = 0;
    for (const s of round) {
      const options = { k: s.k, ef: s.ef, filter: s.filter, withVector: false };
      const exact = this.state.search(s.query, { ...options, exact: true }).hits;
      const approx = this.state.search(s.query, { ...options, exact: false }).hits;
      const want = new Set(exact.map((h) => h.id));
      found += approx.filter((h) => want.has(h.id)).length;
      wanted += want.size;
    }
    this.checked += round.length;
    this.estimate = wanted === 0 ? 1 : found / wanted;
    return this.estimate;
  }
}
