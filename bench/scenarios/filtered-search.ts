/**
 * Scenario "filtered search": Quiver's HNSW with an `allow` mask admitting a random 10 % and
 * 1 % of the points; recall@k against brute force over the admitted points, and QPS.
 */
import type { Dataset } from '../datasets.js';
import { createHnswIndex } from '../../src/ann/hnsw/hnsw-index.js';
import { ExactIndex } from '../../src/ann/exact-index.js';

/** Result at one selectivity. */
export interface FilteredResult {
  readonly dataset: string;
  readonly selectivity: number;
  readonly admitted: number;
  readonly ef: number;
  readonly recall: number;
  readonly qps: number;
}

/** Runs 10 % and 1 % on `ds` (M 16, efC 200, k 10, ef `ef`). */
export function runFilteredSearch(ds: Dataset, ef: number, minSeconds: number): FilteredResult[] {
  const index = createHnswIndex({
    dimension: ds.dim,
    metric: ds.metric,
    m: 16,
    efConstruction: 200,
    capacity: ds.count,
  });
  const exact = new ExactIndex(ds.dim, ds.metric);
  for (let i = 0; i < ds.count; i++) {
    const v = ds.base.subarray(i * ds.dim, (i + 1) * ds.dim);
    index.add(i, v);
    exact.add(i, v);
  }
  const queries = Array.from({ length: ds.queryCount }, (_, q) =>
    ds.queries.subarray(q * ds.dim, (q + 1) * ds.dim),
  );
  const results: FilteredResult[] = [];
  let seed = 12345;
  const random = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296;
  };
  for (const selectivity of [0.1, 0.01]) {
    const allow = new Uint8Array(ds.count);
    let admitted = 0;
    for (let i = 0; i < ds.count; i++) {
      if (random() < selectivity) {
        allow[i] = 1;
        admitted++;
      }
    }
    let hits = 0;
    let wanted = 0;
    for (const q of queries) {
      const truth = exact.search(q, { k: 10, allow }).ids;
      const got = index.search(q, { k: 10, ef, allow }).ids;
      wanted += truth.length;
      for (const id of got) if (truth.includes(id)) hits++;
    }
    let done = 0;
    const t0 = performance.now();
    let elapsed = 0;
    do {
      for (const q of queries) index.search(q, { k: 10, ef, allow });
      done += queries.length;
      elapsed = (performance.now() - t0) / 1000;
    } while (elapsed < minSeconds);
    results.push({
      dataset: ds.name,
      selectivity,
      admitted,
      ef,
      recall: wanted === 0 ? 1 : hits / wanted,
      qps: done / elapsed,
    });
  }
  return results;
}
