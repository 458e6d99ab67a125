/**
 * The public-API steps several scenarios share: upserting a dataset in 1000-point batches,
 * measuring one settled point of an ef sweep through `collection.search` (and its QPS
 * alone), a query row, and
 * a data directory's size on disk.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Collection } from '../src/index.js';
import { isQuiverError } from '../src/index.js';
import type { Dataset } from './datasets.js';
import type { SweepPoint } from './scenarios/ann-sweep.js';

/** Query `q` of `ds` as a view. */
export function queryOf(ds: Dataset, q: number): Float32Array {
  return ds.queries.subarray(q * ds.dim, (q + 1) * ds.dim);
}

/**
 * Upserts every base vector of `ds` under ids 0..count-1 in 1000-point batches, each
 * awaited in turn; `progress` hears after each batch how many are done.
 */
export async function upsertDataset(
  c: Collection,
  ds: Dataset,
  progress?: (done: number) => void,
): Promise<void> {
  const batch = 1000;
  for (let from = 0; from < ds.count; from += batch) {
    const points = [];
    for (let id = from; id < Math.min(ds.count, from + batch); id++) {
      points.push({ id, vector: ds.base.subarray(id * ds.dim, (id + 1) * ds.dim) });
    }
    await upsertRetrying(c, points);
    progress?.(from + points.length);
  }
}

/**
 * `c.upsert(points)`, waiting and trying again on BACKPRESSURE as a client should: two
 * collections of a million points each outgrow the default memory budget while sealing
 * catches up.
 */
async function upsertRetrying(
  c: Collection,
  points: Parameters<Collection['upsert']>[0],
): Promise<void> {
  for (;;) {
    try {
      await c.upsert(points);
      return;
    } catch (e) {
      if (!isQuiverError(e, 'BACKPRESSURE')) throw e;
      await new Promise<void>((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * recall@k over every query at `ef`, and QPS by process CPU time (best of 3 trials of
 * `seconds / 3`), through `collection.search`.
 */
export async function sweepPoint(
  c: Collection,
  ds: Dataset,
  k: number,
  ef: number,
  seconds: number,
): Promise<SweepPoint> {
  let hits = 0;
  for (let q = 0; q < ds.queryCount; q++) {
    const truth = ds.groundTruth[q]!.subarray(0, k);
    for (const h of await c.search(queryOf(ds, q), { k, ef })) {
      if (truth.includes(h.id as number)) hits++;
    }
  }
  const qps = await searchQps(c, ds, k, ef, seconds);
  return { ef, recall: hits / (ds.queryCount * k), qps };
}

/**
 * QPS of `collection.search` over every query of `ds` in turn, by process CPU time: the
 * best of 3 trials of `seconds / 3`.
 */
export async function searchQps(
  c: Collection,
  ds: Dataset,
  k: number,
  ef: number,
  seconds: number,
): Promise<number> {
  let best = 0;
  for (let trial = 0; trial < 3; trial++) {
    let done = 0;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    do {
      for (let q = 0; q < ds.queryCount; q++) await c.search(queryOf(ds, q), { k, ef });
      done += ds.queryCount;
    } while ((performance.now() - t0) / 1000 < seconds / 3);
    const cpu = process.cpuUsage(c0);
    best = Math.max(best, done / ((cpu.user + cpu.system) / 1e6));
  }
  return best;
}

/** Bytes of every file under `dir`. */
export function diskBytes(dir: string): number {
  let n = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    n += s.isDirectory() ? diskBytes(p) : s.size;
  }
  return n;
}
