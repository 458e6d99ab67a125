/**
 * ServerMetrics: the Prometheus metrics of SPEC section 6 (prefix `quiver_`), the only
 * prom-client user (its families are declared in metric-families.ts). Engine numbers are read from `db.stats()` at scrape time; request and
 * search figures are measured by the server; WAL fsync durations arrive through
 * `db.onWalFsync`. Names the engine cannot feed yet (cache hits/misses) are left out
 * rather than exported as zeros.
 */
import type { ClusterStats } from '../cluster/cluster-node.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { IntervalHistogram } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import type { SearchExplain } from '../engine/search-results.js';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { ERROR_CODES } from '../common/quiver-error.js';
import type { DatabaseStats } from '../engine/quiver.js';
import {
  declareClusterMetrics,
  declareCollectionGauges,
  declareCacheMetrics,
  declareDatabaseCounters,
  declareDatabaseGauges,
  declareEventLoopLag,
  declareMeasuredMetrics,
  declareProcessGauges,
  declareSearchWorkerMetrics,
  declareSyncMetrics,
} from './metric-families.js';
import type { SyncMetrics } from './metric-families.js';
import type { SearchPoolStats } from '../engine/worker-search-pool.js';

/**
 * The `code` label of an error for an HTTP status not raised as a QuiverError: the nearest
 * QuiverError code (INVALID_ARGUMENT for a bad request, not "HTTP_400"), or a name for
 * what only HTTP has (NOT_FOUND for a point or route, NOT_IMPLEMENTED, ...).
 */
const CODE_OF_STATUS: Readonly<Record<number, string>> = {
  400: ERROR_CODES.INVALID_ARGUMENT,
  401: ERROR_CODES.UNAUTHORIZED,
  403: ERROR_CODES.FORBIDDEN,
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: ERROR_CODES.INVALID_ARGUMENT,
  422: ERROR_CODES.INVALID_ARGUMENT,
  429: ERROR_CODES.BACKPRESSURE,
  500: 'INTERNAL',
  501: 'NOT_IMPLEMENTED',
  503: ERROR_CODES.UNAVAILABLE,
  507: ERROR_CODES.NO_SPACE,
};

/**
 * The `code` label of `quiver_errors_total` for a failed request: the QuiverError code when
 * the request failed with one, else the code of its status (never `HTTP_nnn` or a Fastify
 * `FST_*` code, which would split one kind of error over many series).
 */
export function errorCodeLabel(status: number, code: string | undefined): string {
  if (code !== undefined && !code.startsWith('HTTP_') && !code.startsWith('FST_')) return code;
  return CODE_OF_STATUS[status] ?? (status >= 500 ? 'INTERNAL' : ERROR_CODES.INVALID_ARGUMENT);
}

export class ServerMetrics {
  readonly registry = new Registry();
  readonly searchDuration: Histogram<'collection' | 'layer' | 'source'>;
  readonly searchTotal: Counter<'collection'>;
  readonly errorsTotal: Counter<'op' | 'code'>;
  readonly upsertTotal: Counter<'collection'>;
  readonly distanceComputations: Counter<'collection'>;
  readonly requestDuration: Histogram<'method' | 'route' | 'status'>;
  readonly activeConnections: Gauge;
  readonly walFsync: Histogram;
  /** Document sync and doctor jobs. */
  readonly sync: SyncMetrics;
  /** Event-loop delay since the last scrape (what a request stuck behind another waits). */
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });

  /** Running count and sum of engine search seconds per collection, for /stats. */
  private readonly searchSeconds = new Map<string, { count: number; seconds: number }>();
  /** The stats of the scrape in progress: every collector reads this one snapshot. */
  private scrape: DatabaseStats | undefined;

  /**
   * `readStats` is read once per scrape; it returns undefined while the database loads.
   * `readPool` gives the search workers' counters (undefined: no workers).
   */
  constructor(
    readStats: () => DatabaseStats | undefined,
    readPool: () => SearchPoolStats | undefined = () => undefined,
    readCluster: () => ClusterStats | undefined = () => undefined,
  ) {
    this.readStats = readStats;
    const stats = (): DatabaseStats | undefined => this.scrape;
    const registers = [this.registry];
    const measured = declareMeasuredMetrics(registers);
    this.searchDuration = measured.searchDuration;
    this.searchTotal = measured.searchTotal;
    this.errorsTotal = measured.errorsTotal;
    this.upsertTotal = measured.upsertTotal;
    this.distanceComputations = measured.distanceComputations;
    this.requestDuration = measured.requestDuration;
    this.walFsync = measured.walFsync;
    this.activeConnections = measured.activeConnections;
    this.loopDelay.enable();
    // Registration order is the exposition order: keep it when adding a family.
    declareEventLoopLag(registers, this.loopDelay);
    declareCollectionGauges(registers, stats);
    declareProcessGauges(registers);
    declareSearchWorkerMetrics(registers, readPool);
    declareDatabaseGauges(registers, stats);
    declareDatabaseCounters(registers, stats);
    declareCacheMetrics(registers, stats);
    declareClusterMetrics(registers, readCluster);
    this.sync = declareSyncMetrics(registers);
  }

  private readonly readStats: () => DatabaseStats | undefined;

  /** Counts one search of `collection` that took `seconds` in the engine, answered from `source`. */
  observeSearch(collection: string, seconds: number, source: SearchExplain['source']): void {
    this.searchTotal.inc({ collection });
    this.searchDuration.observe({ collection, layer: 'engine', source }, seconds);
    const sum = this.searchSeconds.get(collection) ?? { count: 0, seconds: 0 };
    sum.count += 1;
    sum.seconds += seconds;
    this.searchSeconds.set(collection, sum);
  }

  /** Searches of `collection` since start and their mean engine time (null: none yet). */
  searchLatency(collection: string): { searches: number; avgSearchSeconds: number | null } {
    const sum = this.searchSeconds.get(collection);
    if (sum === undefined || sum.count === 0) return { searches: 0, avgSearchSeconds: null };
    return { searches: sum.count, avgSearchSeconds: sum.seconds / sum.count };
  }

  /** Stops the event-loop delay monitor (the server closed). */
  close(): void {
    this.loopDelay.disable();
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; text: string }> {
    // Kept until the next scrape, so concurrent scrapes never see it cleared mid-way.
    this.scrape = this.readStats();
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
