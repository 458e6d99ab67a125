/**
 * Scenario: durable ingest (SPEC section 7: ≥ 50 000 points/s of 128-d under `batch`
 * fsync). Upserts a dataset's vectors, repeated to `points`, in batches from several
 * concurrent writers, into a fresh database; every batch is acknowledged only once durable.
 * Graph indexing happens in the background and at each seal, so a run with the default
 * seal threshold pays for indexing too; a bulk-load run (seal threshold above the run's
 * size) measures the write path alone and leaves indexing to catch up after it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Quiver } from '../../src/index.js';
import type { FsyncPolicy, PointInput } from '../../src/index.js';
import type { Dataset } from '../datasets.js';

export interface IngestResult {
  readonly dataset: string;
  readonly fsync: FsyncPolicy;
  readonly sealPoints: number | 'default';
  readonly points: number;
  readonly batch: number;
  readonly writers: number;
  readonly seconds: number;
  readonly pointsPerSecond: number;
  readonly fsyncs: number;
}

export async function runDurableIngest(
  ds: Dataset,
  options: {
    points: number;
    batch: number;
    writers: number;
    fsync: FsyncPolicy;
    /** Seal threshold; undefined = the default (20 000 points). */
    sealPoints?: number;
  },
): Promise<IngestResult> {
  const dir = mkdtempSync(join(tmpdir(), 'quiver-bench-ingest-'));
  try {
    const db = await Quiver.open(dir, {
      fsync: options.fsync,
      ...(options.sealPoints === undefined
        ? {}
        : { sealPoints: options.sealPoints, sealBytes: 1024 * 1024 * 1024 }),
    });
    const c = await db.createCollection('ingest', { dimension: ds.dim, metric: ds.metric });
    const batches = Math.ceil(options.points / options.batch);
    const makeBatch = (b: number): PointInput[] => {
      const out: PointInput[] = [];
      for (let i = 0; i < options.batch; i++) {
        const id = b * options.batch + i;
        const row = id % ds.count;
        const vector = ds.base.subarray(row * ds.dim, (row + 1) * ds.dim);
        out.push({ id, vector, payload: { row, b } });
      }
      return out;
    };
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: options.writers }, async () => {
        while (next < batches) {
          const b = next++;
          await c.upsert(makeBatch(b));
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const fsyncs = db.stats().wal.fsyncs;
    await db.close();
    const points = batches * options.batch;
    return {
      dataset: ds.name,
      fsync: options.fsync,
      sealPoints: options.sealPoints ?? 'default',
      points,
      batch: options.batch,
      writers: options.writers,
      seconds,
      pointsPerSecond: points / seconds,
      fsyncs,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
