/**
 * The metric families ServerMetrics registers, one function per family: the figures the
 * server measures itself, the event-loop lag, per-collection gauges, process memory, the
 * search workers, and the database-wide gauges and counters read from `db.stats()` at scrape
 * time. Each function declares its metrics in the registry in a fixed order, so the
 * exposition text keeps one order from scrape to scrape and release to release.
 */
import type { IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import type { DatabaseStats } from '../engine/quiver.js';
import type { CacheStats } from '../engine/query-cache.js';
import type { SearchPoolStats } from '../engine/worker-search-pool.js';
import type { ClusterStats, ShardStatus } from '../cluster/cluster-node.js';

/** Where every metric is registered. */
export type Registers = Registry[];
/** The stats of the scrape in progress (undefined while the database loads). */
export type ScrapeStats = () => DatabaseStats | undefined;

const NO_WORKERS: SearchPoolStats = {
  threads: 0,
  inFlight: 0,
  completed: 0,
  failed: 0,
  restarts: 0,
  declined: 0,
  stale: 0,
};
const BREAKER_STATE: Readonly<Record<string, number>> = { closed: 0, open: 1, 'half-open': 2 };
const SECONDS_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/** The metrics the server feeds as requests, searches, upserts and WAL fsyncs happen. */
export interface MeasuredMetrics {
  readonly searchDuration: Histogram<'collection' | 'layer' | 'source'>;
  readonly searchTotal: Counter<'collection'>;
  readonly errorsTotal: Counter<'op' | 'code'>;
  readonly upsertTotal: Counter<'collection'>;
  readonly distanceComputations: Counter<'collection'>;
  readonly requestDuration: Histogram<'method' | 'route' | 'status'>;
  readonly walFsync: Histogram;
  readonly activeConnections: Gauge;
}

/** Declares the measured metrics (in this order: it is the exposition order). */
export function declareMeasuredMetrics(registers: Registers): MeasuredMetrics {
  const searchDuration = new Histogram({
    name: 'quiver_search_duration_seconds',
    help: 'Search latency: layer "engine" is the search, layer "http" the whole request; source "index" when segments were searched, "cache" when the query cache answered, "semantic" when the semantic cache did.',
    labelNames: ['collection', 'layer', 'source'],
    buckets: SECONDS_BUCKETS,
    registers,
  });
  const searchTotal = new Counter({
    name: 'quiver_search_total',
    help: 'Searches served (each query of a batch counts).',
    labelNames: ['collection'],
    registers,
  });
  const errorsTotal = new Counter({
    name: 'quiver_errors_total',
    help: 'Requests that failed, by operation (route) and error code.',
    labelNames: ['op', 'code'],
    registers,
  });
  const upsertTotal = new Counter({
    name: 'quiver_upsert_total',
    help: 'Points upserted.',
    labelNames: ['collection'],
    registers,
  });
  const distanceComputations = new Counter({
    name: 'quiver_distance_computations_total',
    help: 'Distance computations made by searches.',
    labelNames: ['collection'],
    registers,
  });
  const requestDuration = new Histogram({
    name: 'quiver_http_request_duration_seconds',
    help: 'HTTP request latency by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'],
    buckets: SECONDS_BUCKETS,
    registers,
  });
  const walFsync = new Histogram({
    name: 'quiver_wal_fsync_seconds',
    help: 'Duration of each fsync of the write-ahead log.',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers,
  });
  const activeConnections = new Gauge({
    name: 'quiver_active_connections',
    help: 'Open HTTP connections.',
    registers,
  });
  return {
    searchDuration,
    searchTotal,
    errorsTotal,
    upsertTotal,
    distanceComputations,
    requestDuration,
    walFsync,
    activeConnections,
  };
}

/** Event-loop delay since the previous scrape; each scrape resets the monitor. */
export function declareEventLoopLag(registers: Registers, loopDelay: IntervalHistogram): void {
  new Gauge({
    name: 'quiver_event_loop_lag_seconds',
    help: 'Event-loop delay since the previous scrape (stat: p50, p99, max): how long a request can wait behind another.',
    labelNames: ['stat'],
    registers,
    collect() {
      // Nanoseconds; NaN/0 before the first sample.
      const seconds = (ns: number): number => (Number.isFinite(ns) ? ns / 1e9 : 0);
      this.set({ stat: 'p50' }, seconds(loopDelay.percentile(50)));
      this.set({ stat: 'p99' }, seconds(loopDelay.percentile(99)));
      this.set({ stat: 'max' }, seconds(loopDelay.max));
      loopDelay.reset();
    },
  });
}

/** Gauges labelled by collection, each read from the collection's stats at scrape time. */
export function declareCollectionGauges(registers: Registers, stats: ScrapeStats): void {
  const perCollection = (
    name: string,
    help: string,
    pick: (c: DatabaseStats['perCollection'][number]) => number | undefined,
  ): void => {
    new Gauge({
      name,
      help,
      labelNames: ['collection'],
      registers,
      collect() {
        this.reset();
        for (const c of stats()?.perCollection ?? []) {
          const value = pick(c);
          if (value !== undefined) this.set({ collection: c.name }, value);
        }
      },
    });
  };
  perCollection('quiver_collection_points', 'Live points per collection.', (c) => c.points);
  perCollection(
    'quiver_index_memory_bytes',
    'Memory of vectors and graphs per collection.',
    (c) => c.memoryBytes,
  );
  perCollection(
    'quiver_segments',
    'Segments per collection (sealed + growing).',
    (c) => c.segments,
  );
  perCollection(
    'quiver_collection_deleted_ratio',
    'Share of slots in segment files holding deleted or replaced points (common/deleted-share.ts).',
    (c) => c.deletedShare,
  );
  new Gauge({
    name: 'quiver_memory_bytes',
    help: 'Memory per collection by part: vectors, graph, payloads, payload_index, ids, query_cache.',
    labelNames: ['collection', 'part'],
    registers,
    collect() {
      this.reset();
      for (const c of stats()?.perCollection ?? []) {
        const m = c.memory;
        for (const [part, bytes] of [
          ['vectors', m.vectors],
          ['codes', m.codes],
          ['graph', m.graph],
          ['payloads', m.payloads],
          ['payload_index', m.payloadIndex],
          ['ids', m.ids],
          ['query_cache', m.queryCache],
        ] as const) {
          this.set({ collection: c.name, part }, bytes);
        }
      }
    },
  });
  perCollection(
    'quiver_recall_estimate',
    'Estimated recall@k of approximate searches: sampled queries re-run exactly in the background.',
    (c) => c.recallEstimate,
  );
}

/**
 * Memory of the server process. prom-client's default process metrics fail promtool's lint
 * (gauges named *_total), so the few that matter are exported here.
 */
export function declareProcessGauges(registers: Registers): void {
  new Gauge({
    name: 'quiver_process_resident_memory_bytes',
    help: 'Resident memory of the server process.',
    registers,
    collect() {
      this.set(process.memoryUsage().rss);
    },
  });
  new Gauge({
    name: 'quiver_process_heap_used_bytes',
    help: 'V8 heap in use.',
    registers,
    collect() {
      this.set(process.memoryUsage().heapUsed);
    },
  });
}

/** The search worker pool's size, load and outcomes (`readPool` undefined: no workers). */
export function declareSearchWorkerMetrics(
  registers: Registers,
  readPool: () => SearchPoolStats | undefined,
): void {
  const poolGauge = (name: string, help: string, pick: (p: SearchPoolStats) => number): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(pick(readPool() ?? NO_WORKERS));
      },
    });
  };
  poolGauge(
    'quiver_search_workers',
    'Search worker threads (0: searches run on the main thread).',
    (p) => p.threads,
  );
  poolGauge(
    'quiver_search_worker_in_flight',
    'Searches sent to worker threads and not answered yet.',
    (p) => p.inFlight,
  );
  new Counter({
    name: 'quiver_search_worker_searches_total',
    help: 'Segment graph searches offered to worker threads, by outcome: completed; failed (redone on the main thread); declined (every worker busy, searched on the main thread); stale (answered, then discarded because a point was deleted or moved meanwhile, and redone on the main thread; also counted in completed).',
    labelNames: ['outcome'],
    registers,
    collect() {
      const p = readPool() ?? NO_WORKERS;
      this.reset();
      this.inc({ outcome: 'completed' }, p.completed);
      this.inc({ outcome: 'failed' }, p.failed);
      this.inc({ outcome: 'declined' }, p.declined);
      this.inc({ outcome: 'stale' }, p.stale);
    },
  });
  new Counter({
    name: 'quiver_search_worker_restarts_total',
    help: 'Search worker threads replaced after they exited.',
    registers,
    collect() {
      this.reset();
      this.inc((readPool() ?? NO_WORKERS).restarts);
    },
  });
}

/** Database-wide levels (WAL, memory, compaction queue, breaker, read-only, disk). */
export function declareDatabaseGauges(registers: Registers, stats: ScrapeStats): void {
  const gauge = (name: string, help: string, pick: (s: DatabaseStats) => number): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        const s = stats();
        if (s !== undefined) this.set(pick(s));
      },
    });
  };
  gauge('quiver_wal_size_bytes', 'Bytes of write-ahead log on disk.', (s) => s.wal.bytes);
  gauge(
    'quiver_memtable_bytes',
    'Memory of growing (not yet sealed) data.',
    (s) => s.unsealedBytes,
  );
  gauge('quiver_memory_budget_bytes', 'Memory budget of growing data.', (s) => s.memoryBudgetBytes);
  gauge(
    'quiver_compaction_queue_depth',
    'Compactions waiting to run.',
    (s) => s.storage.compactionQueueDepth,
  );
  gauge(
    'quiver_wal_circuit_breaker_state',
    'WAL circuit breaker: 0 closed, 1 open, 2 half-open.',
    (s) => BREAKER_STATE[s.circuitBreaker.state] ?? 1,
  );
  gauge('quiver_read_only', '1 when the database refuses writes (read-only mode).', (s) =>
    s.readOnly ? 1 : 0,
  );
  gauge('quiver_disk_bytes', 'Bytes of segment files and WAL.', (s) => s.diskBytes);
}

/** Database-wide event counts kept by the engine, exported as counters set at scrape time. */
export function declareDatabaseCounters(registers: Registers, stats: ScrapeStats): void {
  const counter = (name: string, help: string, pick: (s: DatabaseStats) => number): void => {
    new Counter({
      name,
      help,
      registers,
      collect() {
        const s = stats();
        if (s === undefined) return;
        this.reset();
        this.inc(pick(s));
      },
    });
  };
  counter(
    'quiver_backpressure_events_total',
    'Writes refused because the memory budget was exhausted.',
    (s) => s.backpressureEvents,
  );
  counter(
    'quiver_no_space_events_total',
    'Writes refused because the disk was full.',
    (s) => s.noSpaceEvents,
  );
  counter('quiver_wal_fsyncs_total', 'fsync calls on the write-ahead log.', (s) => s.wal.fsyncs);
  counter(
    'quiver_wal_records_total',
    'Records appended to the write-ahead log.',
    (s) => s.wal.records,
  );
  counter('quiver_compactions_total', 'Compactions completed.', (s) => s.storage.compactions);
  counter(
    'quiver_checkpoints_total',
    'Checkpoints (seals and manifest switches) completed.',
    (s) => s.storage.checkpoints,
  );
}

/**
 * Cluster mode (absent standalone): how far this node trails each shard stream, the nodes
 * in the registry, and stream leader changes seen — what a replication-lag alert and a
 * failover dashboard read.
 */
export function declareClusterMetrics(
  registers: Registers,
  readCluster: () => ClusterStats | undefined,
): void {
  new Gauge({
    name: 'quiver_replication_lag_records',
    help: 'Operations in a shard stream not yet applied by this node.',
    labelNames: ['collection', 'shard', 'node'],
    registers,
    collect() {
      this.reset();
      const c = readCluster();
      for (const s of c?.shards ?? []) {
        this.set({ collection: s.collection, shard: String(s.shard), node: c!.nodeId }, s.lag);
      }
    },
  });
  new Gauge({
    name: 'quiver_cluster_nodes',
    help: 'Nodes in the cluster registry at the last heartbeat, by state (up, catching_up).',
    labelNames: ['state'],
    registers,
    collect() {
      this.reset();
      const c = readCluster();
      if (c === undefined) return;
      this.set({ state: 'up' }, c.nodes.up);
      this.set({ state: 'catching_up' }, c.nodes.catchingUp);
    },
  });
  new Gauge({
    name: 'quiver_shard_replicas',
    help: 'Replicas of each cluster shard by state: active or partial (catching up) on nodes that are up, down on nodes that are not.',
    labelNames: ['collection', 'shard', 'state'],
    registers,
    collect() {
      this.reset();
      for (const r of readCluster()?.replicas ?? []) {
        const labels = { collection: r.collection, shard: String(r.shard) };
        this.set({ ...labels, state: 'active' }, r.active);
        this.set({ ...labels, state: 'partial' }, r.partial);
        this.set({ ...labels, state: 'down' }, r.down);
      }
    },
  });
  new Gauge({
    name: 'quiver_cluster_read_parts_serving',
    help: "Parts of other nodes' reads this node is answering now (at most 64; more are refused).",
    registers,
    collect() {
      this.set(readCluster()?.readParts.serving ?? 0);
    },
  });
  new Counter({
    name: 'quiver_cluster_read_parts_refused_total',
    help: "Parts of other nodes' reads refused because 64 were being answered already.",
    registers,
    collect() {
      this.reset();
      this.inc(readCluster()?.readParts.refused ?? 0);
    },
  });
  // Counts each node keeps per shard it holds, set at scrape time.
  const perShard = (name: string, help: string, pick: (s: ShardStatus) => number): void => {
    new Counter({
      name,
      help,
      labelNames: ['collection', 'shard'],
      registers,
      collect() {
        this.reset();
        for (const s of readCluster()?.shards ?? []) {
          this.inc({ collection: s.collection, shard: String(s.shard) }, pick(s));
        }
      },
    });
  };
  perShard(
    'quiver_shard_leader_changes_total',
    'Changes of a shard stream leader (a NATS server) seen by this node.',
    (s) => s.leaderChanges,
  );
  perShard(
    'quiver_shard_copies_splits_total',
    "Sequences at which this node found the NATS servers' copies of a shard stream holding different messages (nats-server's split; see the runbook).",
    (s) => s.copiesSplits,
  );
}

/** The caches' hits, misses, evictions and sizes, by cache (`query`, `semantic`, `vectors`). */
export function declareCacheMetrics(registers: Registers, stats: ScrapeStats): void {
  // The semantic cache holds nothing of its own (its answers are the query cache's): it
  // has hits and misses only.
  const caches = (s: DatabaseStats): [string, Partial<CacheStats>][] => [
    ['query', s.queryCache],
    ['semantic', { hits: s.semanticCache.hits, misses: s.semanticCache.misses }],
    // Blocks of on-disk vectors: a hit is a block read from memory, a miss one read from
    // the file (the OS page cache may still have had it).
    ['vectors', s.vectorCache],
  ];
  const family = (
    kind: 'counter' | 'gauge',
    name: string,
    help: string,
    pick: (c: Partial<CacheStats>) => number | undefined,
  ): void => {
    const collect = function (this: Counter<'cache'> | Gauge<'cache'>): void {
      const s = stats();
      if (s === undefined) return;
      this.reset();
      for (const [cache, c] of caches(s)) {
        const value = pick(c);
        if (value === undefined) continue;
        if (this instanceof Counter) this.inc({ cache }, value);
        else this.set({ cache }, value);
      }
    };
    const config = { name, help, labelNames: ['cache'] as const, registers, collect };
    if (kind === 'counter') new Counter(config);
    else new Gauge(config);
  };
  family('counter', 'quiver_cache_hits_total', 'Searches answered from a cache.', (c) => c.hits);
  family(
    'counter',
    'quiver_cache_misses_total',
    'Searches a cache could not answer (then searched in the index).',
    (c) => c.misses,
  );
  family(
    'counter',
    'quiver_cache_evictions_total',
    'Cached answers pushed out to make room (least recently used first).',
    (c) => c.evictions,
  );
  family(
    'counter',
    'quiver_cache_invalidations_total',
    'Cached answers dropped because a write changed their collection.',
    (c) => c.invalidations,
  );
  family('gauge', 'quiver_cache_bytes', 'Estimated memory held by a cache.', (c) => c.bytes);
  family(
    'gauge',
    'quiver_cache_capacity_bytes',
    "A cache's capacity (0: off).",
    (c) => c.capacityBytes,
  );
  family('gauge', 'quiver_cache_entries', 'Answers held by a cache.', (c) => c.entries);
}

/** The metrics of document sync and doctor jobs (docs/SYNC.md). */
export interface SyncMetrics {
  readonly chunks: Counter<'outcome'>;
  readonly tokens: Counter;
  readonly cost: Counter;
  readonly embeddingErrors: Counter;
  readonly doctorFindings: Gauge<'collection' | 'kind'>;
}

/** Declares the sync metrics. */
export function declareSyncMetrics(registers: Registers): SyncMetrics {
  return {
    chunks: new Counter({
      name: 'quiver_sync_chunks_total',
      help: 'Chunks handled by sync jobs, by outcome: embedded, deleted, refreshed (payload moved), unchanged, skipped (files skipped, counted once per job).',
      labelNames: ['outcome'],
      registers,
    }),
    tokens: new Counter({
      name: 'quiver_embedding_tokens_total',
      help: 'Embedding tokens used by sync jobs (the provider’s count, else 4 characters a token).',
      registers,
    }),
    cost: new Counter({
      name: 'quiver_embedding_cost_total',
      help: 'Cost of those tokens at syncPricePer1k.',
      registers,
    }),
    embeddingErrors: new Counter({
      name: 'quiver_embedding_errors_total',
      help: 'Embedding requests of sync and doctor jobs that failed: retried ones and those that failed for good.',
      registers,
    }),
    doctorFindings: new Gauge({
      name: 'quiver_doctor_findings',
      help: 'Count of each FAIL finding of the last doctor job of a collection (0: PASS or INFO).',
      labelNames: ['collection', 'kind'],
      registers,
    }),
  };
}
