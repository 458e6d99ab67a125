/**
 * Scenario "what an embedded user gets": the dataset upserted into a collection through
 * the public API, then searched with `collection.search` — first right after the last
 * upsert resolves ("cold": the graph is still catching up, so the scenario records QPS and
 * recall in windows of time as it does), then after `checkpoint()` + `idle()` ("settled":
 * an ef sweep, as the raw-index scenario does). Ratios against the raw peers are taken by
 * the report from the same run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Quiver } from '../../src/index.js';
import type { Collection, SearchHit } from '../../src/index.js';
import type { Dataset } from '../datasets.js';
import type { SweepPoint } from './ann-sweep.js';
import { qpsAtRecall } from './ann-sweep.js';
import { sweepPoint, upsertDataset } from '../public-api.js';

/** One window of the cold search loop. */
export interface ColdWindow {
  /** Seconds since the last upsert resolved, at the window's end. */
  readonly at: number;
  readonly searches: number;
  readonly qps: number;
  readonly recall: number;
  /** The slowest search of the window, in milliseconds. */
  readonly maxMs: number;
}

export interface EmbeddedResult {
  readonly dataset: string;
  readonly points: number;
  /** Seconds to upsert every point (1000-point batches, awaited in turn). */
  readonly ingestSeconds: number;
  /** The ef of the cold loop (the raw index's ef for recall 0.95 on this set). */
  readonly coldEf: number;
  readonly cold: ColdWindow[];
  /** Seconds of `checkpoint()` + `idle()` after the cold loop. */
  readonly settleSeconds: number;
  readonly settled: SweepPoint[];
  readonly qpsAt095?: number;
  readonly qpsAt099?: number;
}

export interface EmbeddedOptions {
  readonly m: number;
  readonly efConstruction: number;
  readonly k: number;
  readonly efs: readonly number[];
  readonly coldEf: number;
  /** Seconds the cold loop runs. */
  readonly coldSeconds: number;
  /** Seconds of timed searches per ef of the settled sweep. */
  readonly minSeconds: number;
}

/** recall@k of one answer against the ground truth row of query `q`. */
function recallOne(ds: Dataset, q: number, k: number, hits: readonly SearchHit[]): number {
  const truth = ds.groundTruth[q]!.subarray(0, k);
  let n = 0;
  for (const h of hits) if (truth.includes(h.id as number)) n++;
  return n / k;
}

/** The search loop right after ingest: QPS and recall per window of `window` seconds. */
async function coldLoop(
  c: Collection,
  ds: Dataset,
  options: EmbeddedOptions,
  window = 0.25,
): Promise<ColdWindow[]> {
  const windows: ColdWindow[] = [];
  const t0 = performance.now();
  let w0 = t0;
  let searches = 0;
  let recall = 0;
  let maxMs = 0;
  let q = 0;
  for (;;) {
    const s0 = performance.now();
    const hits = await c.search(ds.queries.subarray(q * ds.dim, (q + 1) * ds.dim), {
      k: options.k,
      ef: options.coldEf,
    });
    const s1 = performance.now();
    maxMs = Math.max(maxMs, s1 - s0);
    recall += recallOne(ds, q, options.k, hits);
    searches++;
    q = (q + 1) % ds.queryCount;
    if ((s1 - w0) / 1000 >= window) {
      windows.push({
        at: (s1 - t0) / 1000,
        searches,
        qps: searches / ((s1 - w0) / 1000),
        recall: recall / searches,
        maxMs,
      });
      if ((s1 - t0) / 1000 >= options.coldSeconds) return windows;
      w0 = s1;
      searches = 0;
      recall = 0;
      maxMs = 0;
    }
  }
}

export async function runEmbeddedSearch(
  ds: Dataset,
  options: EmbeddedOptions,
): Promise<EmbeddedResult> {
  const dir = mkdtempSync(join(tmpdir(), 'quiver-bench-embedded-'));
  try {
    const db = await Quiver.open(dir, { queryCacheBytes: 0 });
    try {
      const c = await db.createCollection('bench', {
        dimension: ds.dim,
        metric: ds.metric,
        hnsw: { m: options.m, efConstruction: options.efConstruction },
      });
      const t0 = performance.now();
      await upsertDataset(c, ds);
      const ingestSeconds = (performance.now() - t0) / 1000;
      const cold = await coldLoop(c, ds, options);
      const t1 = performance.now();
      await db.checkpoint();
      await db.idle();
      const settleSeconds = (performance.now() - t1) / 1000;
      const settled: SweepPoint[] = [];
      for (const ef of options.efs) {
        settled.push(await sweepPoint(c, ds, options.k, ef, options.minSeconds));
      }
      const at095 = qpsAtRecall(settled, 0.95);
      const at099 = qpsAtRecall(settled, 0.99);
      return {
        dataset: ds.name,
        points: ds.count,
        ingestSeconds,
        coldEf: options.coldEf,
        cold,
        settleSeconds,
        settled,
        ...(at095 === undefined ? {} : { qpsAt095: at095 }),
        ...(at099 === undefined ? {} : { qpsAt099: at099 }),
      };
    } finally {
      await db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
