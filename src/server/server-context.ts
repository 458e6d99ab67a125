/**
 * ServerContext: what every route shares — the database (absent while it loads), the
 * runtime settings PATCH /admin/config changes, keys, IP block list, audit log, metrics,
 * payload-index records and the integrity-check state.
 */
import type { Logger as PinoLogger } from 'pino';
import { isQuiverError, QuiverError } from '../common/quiver-error.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import type { Collection } from '../engine/collection.js';
import type { Quiver } from '../engine/quiver.js';
import type { VerifyReport } from '../ops/verify.js';
import type { FileSystem } from '../storage/io/file-system.js';
import type { AuditLog } from './auth/audit-log.js';
import type { RuntimeIpBlocks } from './ip-block-file.js';
import type { PayloadIndexRegistry } from './payload-index-registry.js';
import type { SearchPoolStats } from '../engine/worker-search-pool.js';
import type { KeyStore } from './auth/key-store.js';
import type { LogLevel, ServerConfig } from './config.js';
import type { ServerMetrics } from './metrics.js';
import { JobRegistry } from './job-registry.js';

/** Settings that can change while the server runs (PATCH /admin/config). */
export interface RuntimeSettings {
  slowQueryMs: number;
  defaultEf: number | undefined;
  logLevel: LogLevel;
  /** The query cache's capacity (0: off); applied to the database when it changes. */
  queryCacheBytes: number;
  /** The block cache of on-disk vectors (0: off); applied to the database when it changes. */
  vectorCacheBytes: number;
  /** Collections in the semantic cache (minimum similarity); applied to the database. */
  semanticCache: Readonly<Record<string, number>>;
}

/** The state of the background integrity check. */
export interface IntegrityCheckState {
  state: 'idle' | 'running' | 'done' | 'failed';
  startedAt: string | undefined;
  finishedAt: string | undefined;
  report: VerifyReport | undefined;
  error: string | undefined;
}

export class ServerContext {
  /** The settings in force; SIGHUP replaces it with the reloaded ones (see config-reload). */
  config: ServerConfig;
  readonly settings: RuntimeSettings;
  readonly fs: FileSystem;
  readonly logger: PinoLogger;
  readonly metrics: ServerMetrics;
  /** Replaced when SIGHUP reloads the keys file. */
  keys: KeyStore;
  readonly audit: AuditLog;
  /** The addresses refused in force: (config ipBlock ∪ runtime blocks) − runtime unblocks. */
  readonly ipBlock = new Set<string>();
  /** Blocks and unblocks made through POST /admin/ip-block, kept in ip-block.json. */
  readonly ipBlocks: RuntimeIpBlocks;
  readonly version: string;
  /** The search workers' counters (undefined: no workers). */
  readonly searchWorkers: () => SearchPoolStats | undefined;
  /** The cluster this node joined (`--cluster`), once joined; undefined standalone. */
  private readonly cluster: () => ClusterNode | undefined;
  /** Declared payload indexes, kept in the data directory (the engine filters without them). */
  readonly payloadIndexes: PayloadIndexRegistry;
  readonly integrity: IntegrityCheckState = {
    state: 'idle',
    startedAt: undefined,
    finishedAt: undefined,
    report: undefined,
    error: undefined,
  };
  /** Document sync and doctor jobs (sync-jobs.ts). */
  readonly jobs = new JobRegistry();
  private database: Quiver | undefined;
  private loadFailure: string | undefined;
  private loadCause: unknown;
  private shuttingDown = false;

  constructor(parts: {
    config: ServerConfig;
    fs: FileSystem;
    logger: PinoLogger;
    metrics: ServerMetrics;
    keys: KeyStore;
    audit: AuditLog;
    ipBlocks: RuntimeIpBlocks;
    payloadIndexes: PayloadIndexRegistry;
    version: string;
    searchWorkers?: () => SearchPoolStats | undefined;
    cluster?: () => ClusterNode | undefined;
  }) {
    this.cluster = parts.cluster ?? (() => undefined);
    this.config = parts.config;
    this.fs = parts.fs;
    this.logger = parts.logger;
    this.metrics = parts.metrics;
    this.keys = parts.keys;
    this.audit = parts.audit;
    this.payloadIndexes = parts.payloadIndexes;
    this.searchWorkers = parts.searchWorkers ?? (() => undefined);
    this.version = parts.version;
    this.ipBlocks = parts.ipBlocks;
    this.applyIpBlockConfig(parts.config.ipBlock);
    this.settings = {
      slowQueryMs: parts.config.slowQueryMs,
      defaultEf: parts.config.defaultEf,
      logLevel: parts.config.logLevel,
      queryCacheBytes: parts.config.queryCacheBytes,
      vectorCacheBytes: parts.config.vectorCacheBytes,
      semanticCache: parts.config.semanticCache,
    };
  }

  /**
   * Rebuilds the blocks in force from the config's list (at start and on SIGHUP) and the
   * runtime changes, which win: an admin's unblock of a configured address sticks.
   */
  applyIpBlockConfig(configured: readonly string[]): void {
    this.ipBlock.clear();
    for (const ip of configured) this.ipBlock.add(ip);
    this.ipBlocks.applyTo(this.ipBlock);
  }

  /** Called once the database is open. */
  attach(db: Quiver): void {
    this.database = db;
    // As the settings are now: a reload while the database loaded may have changed them.
    db.setQueryCacheBytes(this.settings.queryCacheBytes);
    db.setVectorCacheBytes(this.settings.vectorCacheBytes);
    for (const [name, s] of Object.entries(this.settings.semanticCache)) {
      db.setSemanticCache(name, s);
    }
    db.onWalFsync((seconds) => this.metrics.walFsync.observe(seconds));
  }

  /** Called when opening the database failed: the server stays up to say why. */
  failed(reason: string, cause?: unknown): void {
    this.loadFailure = reason;
    this.loadCause = cause;
  }

  /** Called when shutdown starts: new requests get 503. */
  markShuttingDown(): void {
    this.shuttingDown = true;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** The open database, if loading finished. */
  get loadedDb(): Quiver | undefined {
    return this.database;
  }

  /** Why the database could not be opened, if it could not. */
  get loadError(): string | undefined {
    return this.loadFailure;
  }

  /** The database; UNAVAILABLE (503) while it loads, so loading never looks like empty. */
  db(): Quiver {
    if (this.database !== undefined) return this.database;
    // Damage stays CORRUPT (500 naming file and offset): a 503 would tell clients and load
    // balancers to retry what no retry can fix.
    if (isQuiverError(this.loadCause, 'CORRUPT')) {
      const { details } = this.loadCause;
      throw new QuiverError(
        'CORRUPT',
        `The database ${this.config.data} could not be opened: ${this.loadCause.message}`,
        details,
        this.loadCause,
      );
    }
    throw new QuiverError(
      'UNAVAILABLE',
      this.loadFailure === undefined
        ? `The database ${this.config.data} is still loading; retry when GET /ready answers 200.`
        : `The database ${this.config.data} could not be opened: ${this.loadFailure}`,
    );
  }

  /**
   * The cluster node, in cluster mode. The database is attached only after the node joined
   * (start-server.ts), so no request sees a cluster collection without it.
   */
  get clusterNode(): ClusterNode | undefined {
    return this.cluster();
  }

  /** The named collection; COLLECTION_NOT_FOUND (404) when missing. */
  collection(name: string): Collection {
    return this.db().collection(name);
  }
}
