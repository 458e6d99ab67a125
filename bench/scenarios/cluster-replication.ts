/**
 * Scenario: cluster mode (SPEC §10) on a real 3-server NATS JetStream cluster on this
 * machine, two Quiver nodes in this process: acknowledged write throughput through
 * `ClusterNode.write` (100-point batches by default, 8 in flight) beside the same upserts into a
 * standalone database, how long the other node takes to apply the last write after its
 * acknowledgement, read-your-writes latency (one-point write on node A, then `waitFor`
 * its token on node B; right after the ingest, while the nodes seal what they took in,
 * and again once that is sealed), and search QPS and recall through the local collection, the
 * cluster reads of a fully replicated collection, and of one whose two shards live on
 * different nodes (every search fans out). Needs nats-server; skipped without it.
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

export interface Latency {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

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
  /**
   * The same batches acknowledged into a collection whose two shards have one replica each,
   * one per node: each point is applied once in this process, as in the standalone run
   * (the fully replicated collection is applied by both nodes on this one thread), while
   * JetStream still keeps it on three servers.
   */
  readonly spreadPointsPerSecond: number;
  /** From the last acknowledgement until the other node applied every write. */
  readonly catchUpSeconds: number;
  /**
   * One-point write on A until B applied it: p50 / p99 / max, milliseconds. Right after
   * the ingest (the nodes seal their growing segments meanwhile, which holds their event
   * loops for up to ~100 ms at a time) and once the nodes have sealed.
   */
  readonly readYourWritesMs: Latency;
  readonly readYourWritesSteadyMs: Latency;
  /** A node starting with an empty directory until it has every point: by replay, from a peer. */
  readonly freshNodeSeconds: { readonly replay: number; readonly fromPeer: number };
  /** Searches (k = 10) one after another: QPS and recall@10 against an exact search. */
  readonly search: {
    /** `collection.search` on a node's local copy, no cluster layer. */
    readonly local: SearchFigures;
    /** `node.reads().search` on a collection every node holds whole (served locally). */
    readonly replicated: SearchFigures;
    /** The same over one shard per node (replication_factor 1): every search fans out. */
    readonly sharded: SearchFigures;
    /**
     * The same once both nodes are idle (their graphs built, segments sealed): in this one
     * process the nodes' background indexing after the load holds the event loop that
     * also answers the fan-out's requests.
     */
    readonly shardedSettled: SearchFigures;
  };
}

export interface SearchFigures {
  readonly qps: number;
  readonly recall: number;
}

/** undefined when nats-server is not installed. */
export async function runClusterReplication(
  ds: Dataset,
  points: number,
  batch = 100,
): Promise<ClusterResult | undefined> {
  if (natsServerPath() === undefined) return undefined;
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
    const solo = await Quiver.open(dirs[2]!, { queryCacheBytes: 0, fsync: 'batch' });
    const sc = await solo.createCollection('bench', { dimension: ds.dim, metric: ds.metric });
    const standaloneSeconds = await timed(batches, inFlight, (b) => sc.upsert(pointsOf(b)));
    await solo.close();

    const open = async (dir: string): Promise<{ db: Quiver; node: ClusterNode }> => {
      const db = await Quiver.open(dir, { queryCacheBytes: 0, fsync: 'batch' });
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

    const readYourWrites = async (from: number): Promise<Latency> => {
      const waits: number[] = [];
      // The first pairs after a pause are cold (10-25 ms here, both the acknowledgement
      // and the apply): warm up as the search figures do.
      const warmUp = 10;
      for (let i = 0; i < 200 + warmUp; i++) {
        const t = performance.now();
        const token = await a.node.write(
          'bench',
          c.prepareUpsert([{ id: from + i, vector: pointsOf(0)[0]!.vector }]),
        );
        await b.node.waitFor('bench', token, 10_000);
        if (i >= warmUp) waits.push(performance.now() - t);
      }
      waits.sort((x, y) => x - y);
      return {
        p50: waits[Math.floor(waits.length / 2)]!,
        p99: waits[Math.floor(waits.length * 0.99)]!,
        max: waits[waits.length - 1]!,
      };
    };
    const readYourWritesMs = await readYourWrites(points);
    await a.db.checkpoint();
    await b.db.checkpoint();
    // Steady state, not the checkpoint's wake: a write right after it once took 130 ms to
    // be applied on the other node in a scratch probe (no event-loop stall showed; the
    // checkpoint's own I/O was settling). The ingest column measures a node busy sealing.
    await sleep(1_000);
    const readYourWritesSteadyMs = await readYourWrites(points + 300);

    // A third node starting from nothing: replaying the streams, or copying a peer's points
    // and reading the rest (peer-seed.ts; seeded whatever the streams' length here).
    const fresh = async (seedAboveOps: number): Promise<number> => {
      const dir = mkdtempSync(join(tmpdir(), 'quiver-bench-cluster-'));
      dirs.push(dir);
      const t = performance.now();
      const db = await Quiver.open(dir, { queryCacheBytes: 0, fsync: 'batch' });
      const node = await ClusterNode.start(db, {
        servers: nats.servers,
        logger: SILENT_LOGGER,
        fileSystem: new NodeFileSystem(),
        seedAboveOps,
      });
      await node.waitLatest('bench', 120_000);
      const seconds = (performance.now() - t) / 1000;
      await node.close();
      await db.close();
      return seconds;
    };
    const freshNodeSeconds = {
      replay: await fresh(Number.MAX_SAFE_INTEGER),
      fromPeer: await fresh(0),
    };

    // Search through the paths users call: the local collection, the cluster reads of the
    // collection every node holds, and of one spread over the nodes (shard 0 on one, 1 on
    // the other, in this one process: what the fan-out itself costs).
    await a.node.createCollection('spread', { dimension: ds.dim, metric: ds.metric }, 2, 1);
    for (let i = 0; i < 100 && !b.node.hosts('spread'); i++) await sleep(50);
    const sc2 = a.db.collection('spread');
    const spreadSeconds = await timed(batches, inFlight, (i) =>
      a.node.write('spread', sc2.prepareUpsert(pointsOf(i))),
    );
    await a.node.waitLatest('spread', 120_000);
    await b.node.waitLatest('spread', 120_000);
    const queries = Array.from({ length: Math.min(300, ds.queryCount) }, (_, q) =>
      Array.from(ds.queries.subarray(q * ds.dim, (q + 1) * ds.dim)),
    );
    const truth = await Promise.all(
      queries.map(
        async (q) => new Set((await c.search(q, { k: 10, exact: true })).map((h) => h.id)),
      ),
    );
    const measure = async (
      run: (q: number[]) => Promise<readonly { id: number | string }[]>,
    ): Promise<SearchFigures> => {
      for (const q of queries.slice(0, 20)) await run(q); // warm up
      let found = 0;
      const t = performance.now();
      for (const [i, q] of queries.entries()) {
        found += (await run(q)).filter((h) => truth[i]!.has(h.id)).length;
      }
      const seconds = (performance.now() - t) / 1000;
      return { qps: queries.length / seconds, recall: found / (queries.length * 10) };
    };
    const search = {
      local: await measure((q) => c.search(q, { k: 10 })),
      replicated: await measure(
        async (q) => (await a.node.reads('bench').search(q, { k: 10, explain: true })).hits,
      ),
      sharded: await measure(
        async (q) => (await a.node.reads('spread').search(q, { k: 10, explain: true })).hits,
      ),
      shardedSettled: await (async () => {
        await Promise.all([a.db.idle(), b.db.idle()]);
        return measure(
          async (q) => (await a.node.reads('spread').search(q, { k: 10, explain: true })).hits,
        );
      })(),
    };
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
      spreadPointsPerSecond: (batches * batch) / spreadSeconds,
      catchUpSeconds,
      readYourWritesMs,
      readYourWritesSteadyMs,
      freshNodeSeconds,
      search,
    };
  } finally {
    await nats.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
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
