/**
 * WorkerSearchPool: the server's search worker threads (the engine's SearchPool). Each
 * worker owns one lane of every shared index and gets the index's WebAssembly memory once
 * (postMessage shares it, never copies it); a search goes to the least busy worker as a
 * query plus, for a filtered search, the allow-list bytes. A worker that dies fails its
 * in-flight searches (the engine redoes them on the main thread) and is replaced.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../common/logger.js';
import { QuiverError } from '../common/quiver-error.js';
import type { LaneSearch, SearchPool } from './search-pool.js';
import type { SharedHnswHandle } from '../ann/hnsw/hnsw-lane.js';
import type { IndexSearchResult } from '../ann/vector-index.js';

/** Main thread → worker. @internal */
export type WorkerRequest =
  | { readonly t: 'add'; readonly handle: SharedHnswHandle }
  | { readonly t: 'drop'; readonly id: number }
  | {
      readonly t: 'search';
      readonly seq: number;
      readonly id: number;
      readonly query: Float32Array;
      readonly k: number;
      readonly ef: number;
      readonly mode: number;
      readonly allow: Uint8Array | undefined;
      /** Defined: walk the int8 codes, rescore this many. */
      readonly rescore: number | undefined;
    };

/** Worker → main thread: a result or an error for request `seq`. @internal */
export type WorkerReply =
  | ({ readonly seq: number } & IndexSearchResult)
  | { readonly seq: number; readonly error: string; readonly code: string };

/** Counters for /metrics and /stats. */
export interface SearchPoolStats {
  readonly threads: number;
  /** Searches sent to a worker and not answered yet. */
  readonly inFlight: number;
  /** Searches a worker answered. */
  readonly completed: number;
  /** Searches a worker failed (redone on the main thread). */
  readonly failed: number;
  /** Workers replaced after they exited. */
  readonly restarts: number;
  /** Searches left to the caller's thread because every worker was busy. */
  readonly declined: number;
  /**
   * Worker answers the engine discarded as stale (a point deleted or moved while the
   * worker searched) and redid on the main thread; also counted in `completed`.
   */
  readonly stale: number;
}

/** How often the main thread's event-loop utilisation is sampled, in ms. */
const SAMPLE_MS = 100;
/** Utilisation from which searches go to the workers... */
const BUSY = 0.75;
/** ...and below which they come back (hysteresis: handing off lowers the utilisation). */
const IDLE = 0.5;

/**
 * Searches one worker may hold before the caller's thread searches itself. High on
 * purpose: the main thread's time is the server's (HTTP, JSON, filters), so it takes
 * searches only as a backstop when the workers fall far behind.
 */
const MAX_QUEUED = 32;

interface Pending {
  readonly resolve: (r: IndexSearchResult) => void;
  readonly reject: (e: Error) => void;
  /** The shared index searched. */
  readonly id: number;
}

interface Lane {
  readonly index: number;
  worker: Worker;
  /** True while the worker is up (ready and not exited); only live lanes take searches. */
  alive: boolean;
  readonly inflight: Map<number, Pending>;
  /** Ids of the shared indexes this worker was sent. */
  known: Set<number>;
}

/** A worker's answer for an index it does not hold (its `add` failed): send it again. */
export const NOT_LOADED = 'INDEX_NOT_LOADED';

/**
 * The worker's entry: the compiled .js beside this file, or (running from TypeScript
 * sources under tsx, as the tests do) the .ts entry behind a data: URL that registers tsx
 * in the worker first.
 */
function workerEntry(): URL {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new URL('./search-worker.js', self);
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./search-worker.ts', self).href;
  const boot =
    `const { register } = await import(${JSON.stringify(tsx)}); register();` +
    ` await import(${JSON.stringify(entry)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(boot)}`);
}

export class WorkerSearchPool implements SearchPool {
  readonly threads: number;
  private readonly lanes: Lane[] = [];
  private readonly logger: Logger;
  private seq = 0;
  private closed = false;
  private completed = 0;
  private failed = 0;
  private restarts = 0;
  private declined = 0;
  private stale = 0;
  /** Tells the workers to let go of an index's memory once the engine dropped it. */
  private readonly dropped = new FinalizationRegistry<number>((id) => this.drop(id));
  private readonly registered = new WeakSet<SharedHnswHandle>();
  private sampler: NodeJS.Timeout | undefined;
  /** When searches go to the workers; always, unless {@link adaptToLoad} was called. */
  offloadWhen: () => boolean = () => true;

  private constructor(threads: number, logger: Logger) {
    this.threads = threads;
    this.logger = logger;
  }

  /**
   * Hands searches to the workers only while the main thread is busy: from an event-loop
   * utilisation of {@link BUSY} over the last {@link SAMPLE_MS} ms until it falls under
   * {@link IDLE} (handing off is what lowers it, so one threshold would flap). An idle
   * main thread answers a search faster itself than through a worker and back. The server
   * calls this; an embedded pool hands off always.
   */
  adaptToLoad(): void {
    if (this.sampler !== undefined) return;
    let last = performance.eventLoopUtilization();
    let busy = false;
    this.sampler = setInterval(() => {
      const now = performance.eventLoopUtilization();
      const utilisation = performance.eventLoopUtilization(now, last).utilization;
      last = now;
      busy = busy ? utilisation >= IDLE : utilisation >= BUSY;
    }, SAMPLE_MS);
    this.sampler.unref();
    this.offloadWhen = () => busy;
  }

  /** Starts `threads` workers and resolves once each has loaded. */
  static async start(threads: number, logger: Logger): Promise<WorkerSearchPool> {
    if (!Number.isInteger(threads) || threads < 1) {
      throw new QuiverError('INVALID_ARGUMENT', `searchThreads must be 1 or more, got ${threads}.`);
    }
    const pool = new WorkerSearchPool(threads, logger);
    const started: Promise<void>[] = [];
    for (let i = 0; i < threads; i++) {
      const lane: Lane = {
        index: i,
        worker: pool.spawn(i),
        alive: false,
        inflight: new Map(),
        known: new Set(),
      };
      pool.lanes.push(lane);
      started.push(pool.attach(lane));
    }
    try {
      await Promise.all(started);
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  private spawn(index: number): Worker {
    const worker = new Worker(workerEntry(), { workerData: { lane: index }, execArgv: [] });
    worker.unref();
    return worker;
  }

  /** Wires a lane's worker; resolves when it reports ready, rejects if it dies first. */
  private attach(lane: Lane): Promise<void> {
    const worker = lane.worker;
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      worker.on('message', (msg: WorkerReply | { ready: true }) => {
        if ('ready' in msg) {
          ready = true;
          lane.alive = true;
          resolve();
          return;
        }
        const p = lane.inflight.get(msg.seq);
        if (p === undefined) return;
        lane.inflight.delete(msg.seq);
        if ('error' in msg) {
          this.failed++;
          if (msg.code === NOT_LOADED) lane.known.delete(p.id);
          p.reject(new QuiverError('UNAVAILABLE', `search worker ${lane.index}: ${msg.error}`));
        } else {
          this.completed++;
          p.resolve(msg);
        }
      });
      worker.on('error', (e) => {
        this.logger.error({ err: e, lane: lane.index }, 'search worker failed');
        if (!ready) reject(e);
      });
      worker.on('exit', (code) => {
        if (lane.worker !== worker) return;
        lane.alive = false;
        const err = new QuiverError(
          'UNAVAILABLE',
          `search worker ${lane.index} exited (code ${code}); the search runs on the main thread`,
        );
        this.failed += lane.inflight.size;
        for (const p of lane.inflight.values()) p.reject(err);
        lane.inflight.clear();
        if (!ready) {
          // It never came up: the lane stays down (no restart loop) and takes no searches.
          if (!this.closed) {
            this.logger.error({ lane: lane.index, code }, 'search worker failed to start');
          }
          reject(err);
          return;
        }
        if (this.closed) return;
        this.restarts++;
        this.logger.warn({ lane: lane.index, code }, 'search worker exited; starting another');
        lane.worker = this.spawn(lane.index);
        lane.known = new Set();
        this.attach(lane).catch((e: unknown) =>
          this.logger.error({ err: e, lane: lane.index }, 'search worker did not restart'),
        );
      });
    });
  }

  offload(): boolean {
    return this.offloadWhen();
  }

  /**
   * Sends the search to the least busy live worker, or answers undefined (search it
   * yourself) when none is up or every one already holds {@link MAX_QUEUED} searches.
   */
  search(handle: SharedHnswHandle, request: LaneSearch): Promise<IndexSearchResult> | undefined {
    if (this.closed) return undefined;
    let lane: Lane | undefined;
    for (const l of this.lanes) {
      if (l.alive && (lane === undefined || l.inflight.size < lane.inflight.size)) lane = l;
    }
    if (lane === undefined || lane.inflight.size >= MAX_QUEUED) {
      this.declined++;
      return undefined;
    }
    if (!this.registered.has(handle)) {
      this.registered.add(handle);
      this.dropped.register(handle, handle.id);
    }
    const worker = lane.worker;
    if (!lane.known.has(handle.id)) {
      lane.known.add(handle.id);
      worker.postMessage({ t: 'add', handle } satisfies WorkerRequest);
    }
    const seq = ++this.seq;
    return new Promise<IndexSearchResult>((resolve, reject) => {
      lane.inflight.set(seq, { resolve, reject, id: handle.id });
      worker.postMessage({
        t: 'search',
        seq,
        id: handle.id,
        query: request.query,
        k: request.k,
        ef: request.ef,
        mode: request.mode,
        allow: request.allow,
        rescore: request.rescore,
      } satisfies WorkerRequest);
    });
  }

  discarded(): void {
    this.stale++;
  }

  private drop(id: number): void {
    for (const lane of this.lanes) {
      if (!lane.known.delete(id)) continue;
      lane.worker.postMessage({ t: 'drop', id } satisfies WorkerRequest);
    }
  }

  stats(): SearchPoolStats {
    let inFlight = 0;
    for (const l of this.lanes) inFlight += l.inflight.size;
    return {
      threads: this.threads,
      inFlight,
      completed: this.completed,
      failed: this.failed,
      restarts: this.restarts,
      declined: this.declined,
      stale: this.stale,
    };
  }

  /** Stops the workers; searches still in flight reject (and run on the main thread). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sampler);
    await Promise.all(this.lanes.map((l) => l.worker.terminate()));
    const err = new QuiverError('UNAVAILABLE', 'the search worker pool is closed');
    for (const l of this.lanes) {
      for (const p of l.inflight.values()) p.reject(err);
      l.inflight.clear();
    }
  }
}
