/**
 * Scenario: cluster mode (SPEC §10) on a real 3-server NATS JetStream cluster on this
 * machine, two Quiver nodes in this process: acknowledged write throughput through
 * `ClusterNode.write` (100-point batches, 8 in flight) beside the same upserts into a
 * standalone database, how long the other node takes to apply the last write after its
 * acknowledgement, and read-your-writes latency (one-point write on node A, then
 * `waitFor` its token on node B). Needs nats-server; skipped without it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import type { WriteToken } from '../../src/cluster/cluster-node.js';
import { SILENT_LOGGER } from '../../src/common/logger.js';
import { Quiver } from '../../src/index.js';
import { NodeFileSystem } from '../../src/storage/io/node-file-system.js';
import { natsServerPath, startNatsCluster } from '../../test/helpers/nats-cluster.js';
import type { Dataset } from '../datasets.js';

export interface ClusterResult {
  readonly dataset: string;
  readonly points: number;
  readonly batch: number;
  readonly inFlight: number;
  readonly shards: number;
  /** Points per second acknowledged by the cluster (a quorum of NATS servers). */
  readonly clusterPointsPerSecond: number;
  /** The same batches upserted into a standalone database (`batch` fsync). */
  readonly standalonePointsPerSecond: number;
  /** From the last acknowledgement until the other node applied every write. */
  readonly catchUpSeconds: number;
  /** One-point write on A until B applied it: p50 / p99 / max, milliseconds. */
  readonly readYourWritesMs: { p50: number; p99: number; max: number };
}

/** undefined when nats-server is not installed. */
export async function runClusterReplication(
  ds: Dataset,
  points: number,
): Promise<ClusterResult | undefined> {
  if (natsServerPath() === undefined) return undefined;
  const batch = 100;
  const inFlight = 8;
  const shards = 2;
  const nats = await startNatsCluster(undefined);
  const dirs = [0, 1, 2].map(() => mkdtempSync(join(tmpdir(), 'quiver-bench-cluster-')));
  const pointsOf = (b: number): { id: number; vector: Float32Array }[] =>
    Array.from({ length: batch }, (_, i) => {
      const id = b * batch + i;
      const row = id % ds.count;
      return { id, vector: ds.base.subarray(row * ds.dim, (row + 1) * ds.dim) };
    });
  const batches = Math.ceil(points / batch);
  try {
    // Standalone baseline: the same batches, same concurrency, into a plain database.
    const solo = await Quiver.open(dirs[2]!, { fsync: 'batch' });
    const sc = await solo.createCollection('bench', { dimension: ds.dim, metric: ds.metric });
    const standaloneSeconds = await timed(batches, inFlight, (b) => sc.upsert(pointsOf(b)));
    await solo.close();

    const open = async (dir: string): Promise<{ db: Quiver; node: ClusterNode }> => {
      const db = await Quiver.open(dir, { fsync: 'batch' });
      const node = await ClusterNode.start(db, {
        servers: nats.servers,
        logger: SILENT_LOGGER,
        fileSystem: new NodeFileSystem(),
      });
      return { db, node };
    };
    const a = await open(dirs[0]!);
    const b = await open(dirs[1]!);
    await a.node.createCollection('bench', { dimension: ds.dim, metric: ds.metric }, shards);
    const c = a.db.collection('bench');
    let last: WriteToken = {};
    const clusterSeconds = await timed(batches, inFlight, async (i) => {
      const token = await a.node.write('bench', c.prepareUpsert(pointsOf(i)));
      if (i === batches - 1) last = token;
    });
    const t0 = performance.now();
    await b.node.waitFor('bench', last, 120_000);
    const catchUpSeconds = (performance.now() - t0) / 1000;

    const waits: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      const token = await a.node.write(
        'bench',
        c.prepareUpsert([{ id: points + i, vector: pointsOf(0)[0]!.vector }]),
      );
      await b.node.waitFor('bench', token, 10_000);
      waits.push(performance.now() - t);
    }
    waits.sort((x, y) => x - y);
    for (const n of [a, b]) {
      await n.node.close();
      await n.db.close();
    }
    return {
      dataset: ds.name,
      points: batches * batch,
      batch,
      inFlight,
      shards,
      clusterPointsPerSecond: (batches * batch) / clusterSeconds,
      standalonePointsPerSecond: (batches * batch) / standaloneSeconds,
      catchUpSeconds,
      readYourWritesMs: {
        p50: waits[Math.floor(waits.length / 2)]!,
        p99: waits[Math.floor(waits.length * 0.99)]!,
        max: waits[waits.length - 1]!,
      },
    };
  } finally {
    await nats.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

/** Seconds to run `work(0..n-1)` with `parallel` in flight. */
async function timed(
  n: number,
  parallel: number,
  work: (i: number) => Promise<unknown>,
): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) await work(next++);
    }),
  );
  return (performance.now() - t0) / 1000;
}
