/**
 * Scenario "at scale": a generated clustered set (bench/synthetic.ts) at several sizes,
 * upserted through the public API and searched with `collection.search` after the
 * database has settled, against hnswlib-node with the same M / efC on the same vectors in
 * this process: ingest and build time, RSS growth, bytes per point in RAM and on disk,
 * segments searched per query, QPS at recall 0.95 / 0.99, and the time to open again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Quiver } from '../../src/index.js';
import type { Collection } from '../../src/index.js';
import type { Dataset } from '../datasets.js';
import { diskBytes, queryOf, sweepPoint, upsertDataset } from '../public-api.js';
import { hnswlibPeer } from '../peers/hnswlib-peer.js';
import type { Progress } from '../synthetic.js';
import type { PeerRun, SweepPoint } from './ann-sweep.js';
import { qpsAtRecall, runAnnSweep } from './ann-sweep.js';

/** Options of {@link runScaleSearch}. */
export interface ScaleOptions {
  readonly m: number;
  readonly efConstruction: number;
  readonly k: number;
  readonly efs: readonly number[];
  /** Seconds of timed searches per ef (split over 3 trials). */
  readonly minSeconds: number;
}

/** What Quiver did on one size, through the public embedded API. */
export interface ScaleQuiverRun {
  /** Seconds until the last upsert resolved (1000-point batches, awaited in turn). */
  readonly ingestSeconds: number;
  /** Seconds of the `checkpoint()` + `idle()` that followed (graphs finished, sealed). */
  readonly settleSeconds: number;
  /** Sealed segments after `idle()`, before the bulk-load compaction. */
  readonly segmentsBeforeCompaction: number;
  /**
   * Seconds of `db.compact()` after the load (what TUNING.md asks after a bulk load: the
   * segments packed into graphs of at most `segmentTargetPoints`).
   */
  readonly compactSeconds: number;
  /** Resident memory growth from the empty database to the settled one. */
  readonly rssBytes: number;
  /** `db.stats().memoryBytes` once settled. */
  readonly memoryBytes: number;
  /** The data directory's size once settled. */
  readonly diskBytes: number;
  readonly segments: number;
  /** `explain.segmentsSearched` of a settled search. */
  readonly segmentsSearched: number;
  readonly sweep: SweepPoint[];
  readonly qpsAt095?: number;
  readonly qpsAt099?: number;
  /** Seconds of `Quiver.open` on the closed database. */
  readonly openSeconds: number;
  /** Milliseconds of the first search after that open. */
  readonly firstSearchMs: number;
  readonly segmentsLoaded: number;
  readonly recordsReplayed: number;
  /**
   * Vectors the first search after open scanned while waiting for a graph: 0 means every
   * graph came from disk, none is being rebuilt.
   */
  readonly waitingAfterOpen: number;
}

/** One size: Quiver beside hnswlib-node. */
export interface ScaleResult {
  readonly dataset: string;
  readonly points: number;
  readonly dim: number;
  readonly queries: number;
  readonly quiver: ScaleQuiverRun;
  readonly hnswlib: PeerRun;
  /** Quiver over hnswlib-node: QPS at 0.95 and 0.99, RSS growth (the headline). */
  readonly ratios: { qpsAt095?: number; qpsAt099?: number; rss?: number };
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g !== undefined) {
    g();
    g();
  }
}

/**
 * Collects garbage and waits a moment before a baseline is read: V8 releases the backing
 * stores of freed WebAssembly memories after the collection, and pages released while the
 * next build runs would otherwise be subtracted from that build's growth.
 */
async function settleMemory(): Promise<void> {
  gc();
  await new Promise<void>((resolve) => setTimeout(resolve, 500));
  gc();
}

async function ingest(c: Collection, ds: Dataset, progress: Progress): Promise<void> {
  const every = Math.max(1000, Math.round(ds.count / 10 / 1000) * 1000);
  const t0 = performance.now();
  await upsertDataset(c, ds, (done) => {
    if (done % every === 0 || done === ds.count) {
      const s = ((performance.now() - t0) / 1000).toFixed(1);
      progress(`quiver: upserted ${done}/${ds.count} (${s} s)`);
    }
  });
}

/** Opens the closed database again: open time, recovery counters, the first search. */
async function reopen(
  dir: string,
  ds: Dataset,
  k: number,
): Promise<
  Pick<
    ScaleQuiverRun,
    'openSeconds' | 'firstSearchMs' | 'segmentsLoaded' | 'recordsReplayed' | 'waitingAfterOpen'
  >
> {
  const t0 = performance.now();
  const db = await Quiver.open(dir, { queryCacheBytes: 0, autoCompact: false });
  const openSeconds = (performance.now() - t0) / 1000;
  try {
    const t1 = performance.now();
    const { explain } = await db.collection('scale').search(queryOf(ds, 0), { k, explain: true });
    return {
      openSeconds,
      firstSearchMs: performance.now() - t1,
      segmentsLoaded: db.recovery.segmentsLoaded,
      recordsReplayed: db.recovery.recordsReplayed,
      waitingAfterOpen: explain.segments.reduce((n, s) => n + s.waiting, 0),
    };
  } finally {
    await db.close();
  }
}

async function runQuiver(
  ds: Dataset,
  options: ScaleOptions,
  progress: Progress,
): Promise<ScaleQuiverRun> {
  const dir = mkdtempSync(join(tmpdir(), 'quiver-bench-scale-'));
  try {
    await settleMemory();
    const rss0 = process.memoryUsage().rss;
    const db = await Quiver.open(dir, { queryCacheBytes: 0 });
    let settled: Omit<ScaleQuiverRun, keyof Awaited<ReturnType<typeof reopen>>>;
    try {
      const c = await db.createCollection('scale', {
        dimension: ds.dim,
        metric: 'euclid',
        hnsw: { m: options.m, efConstruction: options.efConstruction },
      });
      const t0 = performance.now();
      await ingest(c, ds, progress);
      const ingestSeconds = (performance.now() - t0) / 1000;
      progress('quiver: checkpoint + idle (graphs finishing)');
      const t1 = performance.now();
      await db.checkpoint();
      await db.idle();
      const settleSeconds = (performance.now() - t1) / 1000;
      const segmentsBeforeCompaction = db.stats().segments;
      progress(`quiver: ${segmentsBeforeCompaction} segments; compact (bulk-load advice)`);
      const t2 = performance.now();
      await db.compact('scale');
      const compactSeconds = (performance.now() - t2) / 1000;
      gc();
      const rssBytes = process.memoryUsage().rss - rss0;
      const stats = db.stats();
      const { explain } = await c.search(queryOf(ds, 0), { k: options.k, explain: true });
      progress(`quiver: settled in ${settleSeconds.toFixed(1)} s; ef sweep`);
      const sweep: SweepPoint[] = [];
      for (const ef of options.efs) {
        sweep.push(await sweepPoint(c, ds, options.k, ef, options.minSeconds));
      }
      const at095 = qpsAtRecall(sweep, 0.95);
      const at099 = qpsAtRecall(sweep, 0.99);
      settled = {
        ingestSeconds,
        settleSeconds,
        segmentsBeforeCompaction,
        compactSeconds,
        rssBytes,
        memoryBytes: stats.memoryBytes,
        diskBytes: diskBytes(dir),
        segments: stats.segments,
        segmentsSearched: explain.segmentsSearched,
        sweep,
        ...(at095 === undefined ? {} : { qpsAt095: at095 }),
        ...(at099 === undefined ? {} : { qpsAt099: at099 }),
      };
    } finally {
      await db.close();
    }
    return { ...settled, ...(await reopen(dir, ds, options.k)) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `a / b` when both are known. */
function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a !== undefined && b !== undefined && b > 0 ? a / b : undefined;
}

/**
 * Quiver first, then hnswlib-node, on `ds` (memory settled between them). RSS growth of
 * small sizes is noisy (pages freed by an earlier run get reused); the accounted bytes per
 * point are steadier there.
 */
export async function runScaleSearch(
  ds: Dataset,
  options: ScaleOptions,
  progress: Progress,
): Promise<ScaleResult> {
  progress(
    `${ds.name}: quiver (ingest ${ds.count} points, M ${options.m}, efC ${options.efConstruction})`,
  );
  const quiver = await runQuiver(ds, options, progress);
  await settleMemory();
  progress(`${ds.name}: hnswlib-node (build and ef sweep)`);
  const peer = await runAnnSweep(ds, [hnswlibPeer], { ...options, trials: 3 });
  const hnswlib = peer.runs[0]!;
  const rss = ratio(quiver.rssBytes, (hnswlib.rssBytesPerPoint ?? 0) * ds.count);
  const at095 = ratio(quiver.qpsAt095, hnswlib.qpsAt095);
  const at099 = ratio(quiver.qpsAt099, hnswlib.qpsAt099);
  return {
    dataset: ds.name,
    points: ds.count,
    dim: ds.dim,
    queries: ds.queryCount,
    quiver,
    hnswlib,
    ratios: {
      ...(at095 === undefined ? {} : { qpsAt095: at095 }),
      ...(at099 === undefined ? {} : { qpsAt099: at099 }),
      ...(rss === undefined ? {} : { rss }),
    },
  };
}
