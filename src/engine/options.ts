/**
 * The options of Quiver.open: their names, defaults and checks, and the settings each part
 * of the engine gets from them (the WAL writer, the storage manager, the circuit breaker).
 */
import type { Logger } from '../common/logger.js';
import { invalidArgument } from '../common/quiver-error.js';
import type { FileSystem } from '../storage/io/file-system.js';
import type { FsyncPolicy } from '../storage/wal/log.js';
import { FSYNC_POLICIES } from '../storage/wal/log.js';
import type { WalWriterOptions } from '../storage/wal/wal-writer.js';
import type { BreakerOptions } from './circuit-breaker.js';
import type { SearchPool } from './search-pool.js';
import type { StorageOptions } from './storage-manager.js';
import { DEFAULT_STORAGE_OPTIONS } from './storage-manager.js';

/** Options of {@link Quiver.open}. */
export interface QuiverOptions {
  /**
   * When a write is acknowledged: `always` (fsync before ack, shared by concurrent
   * writers), `batch` (default: group commit within `batchDelayMs`), `periodic` (fsync
   * every `fsyncIntervalMs`; a process crash loses nothing, a power loss at most that
   * long), `none` (tests only).
   */
  readonly fsync?: FsyncPolicy;
  /** `batch`: how long a write waits for others to share its fsync. Default 2 ms. */
  readonly batchDelayMs?: number;
  /** `periodic`: fsync interval. Default 100 ms. */
  readonly fsyncIntervalMs?: number;
  /** Largest payload accepted, in bytes of JSON. Default 1 MiB. */
  readonly maxPayloadBytes?: number;
  /** WAL files rotate past this size. Default 64 MiB. */
  readonly walFileBytes?: number;
  /** Where diagnostics go (pino fits). Default: silent. */
  readonly logger?: Logger;
  /** File system to use; tests inject failures through it. Default: the real one. */
  readonly fileSystem?: FileSystem;
  /** A growing segment is sealed into a segment file at this many points. Default 20 000. */
  readonly sealPoints?: number;
  /** ... or at this many bytes of memory. Default 64 MiB. */
  readonly sealBytes?: number;
  /**
   * Memory for growing (not yet sealed) data across collections. Past it, writes fail with
   * BACKPRESSURE while sealing catches up. Default 1 GiB.
   */
  readonly memoryBudgetBytes?: number;
  /** Compaction merges segments when a collection has more than this. Default 8. */
  readonly maxSegments?: number;
  /**
   * Compaction aims at segments of this many live points (a larger collection keeps
   * several graphs of about this size). Default 500 000.
   */
  readonly segmentTargetPoints?: number;
  /** Compaction rewrites segments whose deleted share passes this. Default 0.2. */
  readonly compactDeletedShare?: number;
  /** Compact automatically in the background. Default true. */
  readonly autoCompact?: boolean;
  /** Consecutive WAL I/O failures that open the circuit breaker. Default 5. */
  readonly breakerFailures?: number;
  /** How long the open breaker refuses writes before a trial, in ms. Default 60 000. */
  readonly breakerCooldownMs?: number;
  /**
   * WAL archive directory for point-in-time recovery: each WAL file is copied here (with
   * a time index) before it is released. Default: none — released files are deleted.
   * `quiver backup restore --to-lsn/--to-time --wal-archive DIR` replays from it.
   */
  readonly walArchiveDir?: string;
  /**
   * Worker threads that search sealed segments' HNSW graphs, which then live in shared
   * memory (frozen: deletes only mark them). `quiver serve` passes its worker pool
   * (server `searchThreads`). Default: searches run on the caller's thread.
   */
  readonly searchPool?: SearchPool;
  /**
   * Starts this many search worker threads for the database's own use (closed with it):
   * sealed segments' graph searches then run on them, every core working for an embedded
   * caller that keeps several searches in flight. Default 0: searches run on the caller's
   * thread. Not with `searchPool`.
   */
  readonly searchThreads?: number;
  /**
   * Bytes of memory for cached search answers (query-cache.ts): a repeated search with
   * the same vector, filter and options is answered from it until a write to its
   * collection. Default 64 MiB; 0 turns the cache off.
   */
  readonly queryCacheBytes?: number;
  /**
   * Bytes of memory for blocks of on-disk vectors (collections created `onDisk`): the
   * blocks searches read to rescore, least recently used first out. Default 64 MiB; 0
   * reads the file every time (the OS page cache still helps).
   */
  readonly vectorCacheBytes?: number;
}

export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
export const DEFAULT_MEMORY_BUDGET = 1024 * 1024 * 1024;
export const DEFAULT_QUERY_CACHE_BYTES = 64 * 1024 * 1024;

/** Every option `Quiver.open` takes (the server's settings table must cover each but code-only ones). */
export const OPTION_KEYS: ReadonlySet<string> = new Set([
  'fsync',
  'batchDelayMs',
  'fsyncIntervalMs',
  'maxPayloadBytes',
  'walFileBytes',
  'logger',
  'fileSystem',
  'sealPoints',
  'sealBytes',
  'memoryBudgetBytes',
  'maxSegments',
  'segmentTargetPoints',
  'compactDeletedShare',
  'autoCompact',
  'breakerFailures',
  'breakerCooldownMs',
  'walArchiveDir',
  'searchPool',
  'searchThreads',
  'queryCacheBytes',
  'vectorCacheBytes',
]);

/** The options that are counts or durations: non-negative integers. */
const INTEGER_KEYS = [
  'batchDelayMs',
  'fsyncIntervalMs',
  'maxPayloadBytes',
  'walFileBytes',
  'sealPoints',
  'sealBytes',
  'memoryBudgetBytes',
  'maxSegments',
  'segmentTargetPoints',
  'breakerFailures',
  'breakerCooldownMs',
  'searchThreads',
  'queryCacheBytes',
  'vectorCacheBytes',
] as const;

/** Throws INVALID_ARGUMENT, naming the field, for the first option that is unknown or malformed. */
export function checkOptions(options: QuiverOptions): void {
  checkKnownKeys(options);
  checkFsyncPolicy(options.fsync);
  checkWalArchiveDir(options.walArchiveDir);
  checkSearchPool(options.searchPool);
  checkIntegers(options);
  if (options.searchPool !== undefined && (options.searchThreads ?? 0) > 0) {
    throw invalidArgument(
      'Give searchThreads (the database starts its own workers) or searchPool (yours), not both.',
      { field: 'searchThreads' },
    );
  }
}

function checkKnownKeys(options: QuiverOptions): void {
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) {
      throw invalidArgument(
        `Unknown option "${key}" for Quiver.open: allowed are ${[...OPTION_KEYS].join(', ')}.`,
        { field: key },
      );
    }
  }
}

function checkFsyncPolicy(fsync: FsyncPolicy | undefined): void {
  if (fsync !== undefined && !FSYNC_POLICIES.includes(fsync)) {
    throw invalidArgument(
      `fsync must be one of ${FSYNC_POLICIES.join(', ')}, got ${JSON.stringify(fsync)}.`,
      { field: 'fsync', received: fsync },
    );
  }
}

function checkWalArchiveDir(dir: string | undefined): void {
  if (dir !== undefined && (typeof dir !== 'string' || dir === '')) {
    throw invalidArgument('walArchiveDir must be a directory path.', { field: 'walArchiveDir' });
  }
}

function checkSearchPool(pool: SearchPool | undefined): void {
  if (
    pool !== undefined &&
    (typeof pool !== 'object' ||
      pool === null ||
      typeof pool.search !== 'function' ||
      !Number.isInteger(pool.threads) ||
      pool.threads < 1)
  ) {
    throw invalidArgument('searchPool must have threads (an integer from 1) and search().', {
      field: 'searchPool',
    });
  }
}

function checkIntegers(options: QuiverOptions): void {
  for (const key of INTEGER_KEYS) {
    const v = (options as Record<string, unknown>)[key];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 0)) {
      throw invalidArgument(`${key} must be a non-negative integer, got ${JSON.stringify(v)}.`, {
        field: key,
      });
    }
  }
}

/** Throws INVALID_ARGUMENT unless `bytes` is a non-negative integer (a cache capacity). */
export function checkCacheBytes(bytes: unknown, field = 'queryCacheBytes'): void {
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) {
    throw invalidArgument(
      `${field} must be a non-negative integer, got ${JSON.stringify(bytes)}.`,
      {
        field,
      },
    );
  }
}

/** The WAL writer's settings: the fsync policy (default `batch`) and what tunes it. */
export function walWriterOptions(
  options: QuiverOptions,
  fs: FileSystem,
  dir: string,
  logger: Logger,
): WalWriterOptions {
  return {
    fs,
    dir,
    policy: options.fsync ?? 'batch',
    ...(options.batchDelayMs === undefined ? {} : { batchDelayMs: options.batchDelayMs }),
    ...(options.fsyncIntervalMs === undefined ? {} : { periodicMs: options.fsyncIntervalMs }),
    ...(options.walFileBytes === undefined ? {} : { fileTargetBytes: options.walFileBytes }),
    ...(options.walArchiveDir === undefined ? {} : { archiveDir: options.walArchiveDir }),
    logger,
  };
}

/** The storage manager's settings: seal thresholds and compaction, defaults filled in. */
export function storageOptions(options: QuiverOptions): StorageOptions {
  return {
    sealPoints: options.sealPoints ?? DEFAULT_STORAGE_OPTIONS.sealPoints,
    sealBytes: options.sealBytes ?? DEFAULT_STORAGE_OPTIONS.sealBytes,
    maxSegments: options.maxSegments ?? DEFAULT_STORAGE_OPTIONS.maxSegments,
    segmentTargetPoints: options.segmentTargetPoints ?? DEFAULT_STORAGE_OPTIONS.segmentTargetPoints,
    compactDeletedShare: options.compactDeletedShare ?? DEFAULT_STORAGE_OPTIONS.compactDeletedShare,
    autoCompact: options.autoCompact ?? DEFAULT_STORAGE_OPTIONS.autoCompact,
  };
}

/** The circuit breaker's settings (its own defaults where an option is not given). */
export function breakerOptions(options: QuiverOptions): BreakerOptions {
  return {
    ...(options.breakerFailures === undefined ? {} : { failureThreshold: options.breakerFailures }),
    ...(options.breakerCooldownMs === undefined ? {} : { cooldownMs: options.breakerCooldownMs }),
  };
}
