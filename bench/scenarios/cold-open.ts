/**
 * Scenario: open time and disk size of a large database (SPEC section 7: opening must
 * not rebuild any sealed graph). Builds `points` points from a dataset's vectors (repeated
 * with a small offset), seals everything, closes, then times `Quiver.open` and a first search.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Quiver } from '../../src/index.js';
import type { Dataset } from '../datasets.js';
import { diskBytes } from '../public-api.js';

export interface OpenResult {
  readonly dataset: string;
  readonly points: number;
  readonly buildSeconds: number;
  readonly openSeconds: number[];
  readonly firstSearchMs: number;
  readonly diskBytes: number;
  readonly bytesPerPoint: number;
  readonly segments: number;
  readonly recordsReplayed: number;
}

export async function runColdOpen(ds: Dataset, points: number): Promise<OpenResult> {
  const dir = mkdtempSync(join(tmpdir(), 'quiver-bench-open-'));
  try {
    const t0 = performance.now();
    const db = await Quiver.open(dir, { queryCacheBytes: 0, fsync: 'none', sealPoints: 50_000 });
    const c = await db.createCollection('open', { dimension: ds.dim, metric: ds.metric });
    const batch = 2000;
    for (let from = 0; from < points; from += batch) {
      const pts = [];
      for (let id = from; id < Math.min(points, from + batch); id++) {
        const row = id % ds.count;
        const v = Float32Array.from(ds.base.subarray(row * ds.dim, (row + 1) * ds.dim));
        v[id % ds.dim] = v[id % ds.dim]! + Math.floor(id / ds.count) * 1e-3;
        pts.push({ id, vector: v, payload: { row } });
      }
      await c.upsert(pts);
    }
    await db.checkpoint();
    await db.idle();
    await db.close();
    const buildSeconds = (performance.now() - t0) / 1000;
    const bytesOnDisk = diskBytes(dir);
    const openSeconds: number[] = [];
    let firstSearchMs = 0;
    let segments = 0;
    let recordsReplayed = 0;
    for (let r = 0; r < 3; r++) {
      const t1 = performance.now();
      const db2 = await Quiver.open(dir, { queryCacheBytes: 0, autoCompact: false });
      openSeconds.push((performance.now() - t1) / 1000);
      const t2 = performance.now();
      await db2.collection('open').search(ds.queries.subarray(0, ds.dim), { k: 10 });
      firstSearchMs = performance.now() - t2;
      segments = db2.recovery.segmentsLoaded;
      recordsReplayed = db2.recovery.recordsReplayed;
      await db2.close();
    }
    return {
      dataset: ds.name,
      points,
      buildSeconds,
      openSeconds,
      firstSearchMs,
      diskBytes: bytesOnDisk,
      bytesPerPoint: bytesOnDisk / points,
      segments,
      recordsReplayed,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
