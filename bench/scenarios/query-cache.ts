/**
 * Query-cache scenario: one dataset through `collection.search`, every query asked again
 * and again. Rows: the index (cache off), the same searches answered from the cache, and
 * a write between two searches (the next one must be a miss and see the write).
 * QPS by process CPU time, best of 3 trials.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Quiver } from '../../src/index.js';
import type { Dataset } from '../datasets.js';
import { queryOf, searchQps, upsertDataset } from '../public-api.js';

export interface CacheResult {
  readonly dataset: string;
  readonly points: number;
  readonly ef: number;
  /** QPS with the cache off (every search walks the index). */
  readonly indexQps: number;
  /** QPS of the same searches, each answered from the cache. */
  readonly cachedQps: number;
  /** Hits and misses the database counted over the cached rows. */
  readonly hits: number;
  readonly misses: number;
  /** True when the search after a write was a miss and returned the written point first. */
  readonly writeInvalidated: boolean;
}

export async function runQueryCache(
  ds: Dataset,
  ef: number,
  seconds: number,
): Promise<CacheResult> {
  const dir = mkdtempSync(join(tmpdir(), 'quiver-bench-cache-'));
  try {
    let db = await Quiver.open(dir, { fsync: 'none', queryCacheBytes: 0 });
    const c0 = await db.createCollection('bench', { dimension: ds.dim, metric: ds.metric });
    await upsertDataset(c0, ds);
    await db.checkpoint();
    await db.idle();
    const indexQps = await searchQps(c0, ds, 10, ef, seconds);
    await db.close();

    db = await Quiver.open(dir, { fsync: 'none', queryCacheBytes: 256 * 1024 * 1024 });
    try {
      const c = db.collection('bench');
      // One pass fills the cache; the timed passes are answered from it.
      for (let q = 0; q < ds.queryCount; q++) await c.search(queryOf(ds, q), { k: 10, ef });
      const cachedQps = await searchQps(c, ds, 10, ef, seconds);
      const { hits, misses } = db.stats().queryCache;
      // A point equal to query 0, written between two searches of it.
      await c.upsert([{ id: ds.count + 1, vector: queryOf(ds, 0) }]);
      const after = await c.search(queryOf(ds, 0), { k: 10, ef, explain: true });
      const writeInvalidated =
        after.explain.source === 'index' && after.hits[0]?.id === ds.count + 1;
      return {
        dataset: ds.name,
        points: ds.count,
        ef,
        indexQps,
        cachedQps,
        hits,
        misses,
        writeInvalidated,
      };
    } finally {
      await db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatQueryCache(rows: readonly CacheResult[]): string {
  const lines = [
    '| dataset | points | ef | index QPS (cache off) | cached QPS | × | hits / misses | write → next search a miss, sees it |',
    '|---|---:|---:|---:|---:|---:|---|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.dataset} | ${r.points} | ${r.ef} | ${Math.round(r.indexQps)} | ${Math.round(r.cachedQps)} | ${(r.cachedQps / r.indexQps).toFixed(1)} | ${r.hits} / ${r.misses} | ${r.writeInvalidated ? 'yes' : 'NO'} |`,
    );
  }
  return lines.join('\n');
}
