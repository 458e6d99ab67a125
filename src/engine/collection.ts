/**
 * Collection: the embedded API on one collection (SPEC section 3): upsert, get, delete,
 * deleteWhere, count, scan and search. Validates whole batches first, logs them through
 * the database's Log, and applies them once durable; converts internal scores to public.
 */
import { invalidArgument, QuiverError } from '../common/quiver-error.js';
import type { JsonObject, Payload, PointId } from '../common/types.js';
import { compareIds, isJsonObject } from '../common/types.js';
import type { FilterNode } from '../filter/filter-ast.js';
import type { CompiledFilter } from '../filter/filter-evaluator.js';
import { compileFilter } from '../filter/filter-evaluator.js';
import { isFilterNode } from '../filter/filter-ast.js';
import { parseMongoFilter } from '../filter/mongo-filter-parser.js';
import { publicScore } from '../kernels/distance-kernel.js';
import type { Log } from '../storage/wal/log.js';
import type { LoggedPoint, PayloadMode } from '../storage/wal/wal-body-codec.js';
import { applyPayloadUpdate } from './payload-update.js';
import { RecallSampler } from './recall-sampler.js';
import { encodeWalOp } from '../storage/wal/wal-body-codec.js';
import { WAL_MAX_RECORD_BYTES } from '../storage/format.js';
import type { CollectionSearchResult, CollectionState } from './collection-state.js';
import type { SearchPool } from './search-pool.js';
import type { SegmentSearchStats, StoredPoint } from './segment.js';
import { settle } from '../common/settle.js';
import type { CollectionConfig, PointInput } from './validation.js';
import { checkPointId, preparePayload, prepareVector } from './validation.js';

/** What a Collection needs from its database. @internal */
export interface CollectionHost {
  readonly log: Log;
  readonly maxPayloadBytes: number;
  /** Throws CLOSED when the database is closed. */
  checkOpen(): void;
  /**
   * Throws CLOSED, READ_ONLY, UNAVAILABLE (circuit breaker open) or BACKPRESSURE (memory
   * budget exhausted) when a write may not start now.
   */
  admitWrite(): void;
  /** Reports the outcome of a log append (feeds the circuit breaker). */
  writeDone(error: unknown): void;
  /** True while `state` is the live incarnation of its collection. */
  isLive(state: CollectionState): boolean;
  /** Called after a write was applied (may schedule sealing). */
  afterWrite(): void;
  /** Worker threads that search sealed segments' graphs; undefined = this thread only. */
  readonly searchPool: SearchPool | undefined;
}

/** A point as returned by `get`. */
export interface PointRecord {
  readonly id: PointId;
  readonly vector: number[];
  readonly payload: Payload;
}

/** A point as yielded by `scan`. */
export interface ScanPoint {
  readonly id: PointId;
  readonly payload: Payload;
  readonly vector?: number[];
}

/** One search result. `score` follows SPEC section 2 (euclid: distance, lower is better). */
export interface SearchHit {
  readonly id: PointId;
  readonly score: number;
  readonly payload?: Payload;
  readonly vector?: number[];
}

/** Options of `search`. */
export interface SearchOptions {
  /** Number of results. Default 10. */
  readonly k?: number;
  /** Mongo-style filter (SPEC section 3), or a filter already parsed to a FilterNode. */
  readonly filter?: JsonObject | FilterNode;
  /** Beam width of the graph search; higher = better recall, slower. Default: the collection's efSearch; raised to k. */
  readonly ef?: number;
  /** Brute-force scan instead of the index: exact, slower. Default false. */
  readonly exact?: boolean;
  /** Include payloads. Default true. */
  readonly withPayload?: boolean;
  /** Include vectors. Default false. */
  readonly withVector?: boolean;
  /** Return `{ hits, explain }` instead of hits. Default false. */
  readonly explain?: boolean;
}

/** Plain numbers about one collection. */
export interface CollectionStats {
  readonly name: string;
  /** When it was created (ISO 8601, UTC); null for one created before format 1.1. */
  readonly createdAt: string | null;
  readonly points: number;
  /** Sealed segments plus the growing one (when it holds points). */
  readonly segments: number;
  readonly sealedSegments: number;
  readonly growingPoints: number;
  /**
   * Share of the slots in this collection's segment files that hold a deleted or replaced
   * point, waiting for compaction (common/deleted-share.ts).
   */
  readonly deletedShare: number;
  /** Bytes of sealed segment files. */
  readonly diskBytes: number;
  readonly memoryBytes: number;
  /** Memory of growing and sealing segments (what the memory budget limits). */
  readonly unsealedBytes: number;
  /** Estimated recall@k of approximate searches (sampled, re-run exactly); undefined until measured. */
  readonly recallEstimate: number | undefined;
}

/** How a search ran (returned with `explain: true`). */
export interface SearchExplain {
  /** The plan of the segments searched; 'mixed' when they differ. */
  readonly plan: SegmentSearchStats['plan'] | 'mixed';
  readonly k: number;
  readonly ef: number;
  readonly segmentsSearched: number;
  readonly segments: readonly (SegmentSearchStats & { readonly kind: string })[];
  readonly nodesVisited: number;
  readonly distanceComputations: number;
  /** Milliseconds per phase. */
  readonly timings: {
    /** Validating options, preparing the query, parsing the filter. */
    readonly parseMs: number;
    /** Evaluating the filter over payloads (all segments). */
    readonly filterMs: number;
    /** Graph search or exact scan (all segments), and merging segments' results. */
    readonly searchMs: number;
    /** Turning results into hits: ids, public scores, payload and vector copies. */
    readonly mergeMs: number;
    readonly totalMs: number;
  };
}

/** The result of a write: its LSN (the point in the log where it became durable). */
export interface WriteResult {
  readonly lsn: number;
  /** Points written (upsert) or removed (delete, deleteWhere). */
  readonly count: number;
}

export interface ScanOptions {
  readonly filter?: JsonObject | FilterNode;
  /** Include vectors. Default false. */
  readonly withVector?: boolean;
}

const SEARCH_KEYS = new Set(['k', 'filter', 'ef', 'exact', 'withPayload', 'withVector', 'explain']);
const MAX_K = 10_000;

function vectorOut(v: Float32Array): number[] {
  return Array.from(v);
}

/** A stored point as the API returns it: a copied payload, the vector as numbers ([] without). */
function recordOf(p: StoredPoint, withVector: boolean): PointRecord {
  return {
    id: p.id,
    vector: withVector ? vectorOut(p.vector) : [],
    payload: structuredClone(p.payload),
  };
}

export class Collection {
  private readonly host: CollectionHost;
  private readonly segment: CollectionState;
  private readonly recall: RecallSampler;
  /** @internal */
  constructor(host: CollectionHost, state: CollectionState) {
    this.host = host;
    this.segment = state;
    this.recall = new RecallSampler(state, () => host.isLive(state));
  }

  /**
   * Re-runs a sample of recent searches exactly and returns the estimated recall@k
   * (undefined when no search was sampled yet). Also runs every 30 s in the background.
   */
  estimateRecall(): number | undefined {
    this.checkOpen();
    return this.recall.run();
  }

  get name(): string {
    return this.segment.config.name;
  }

  /** The collection's configuration (dimension, metric, hnsw, quantization). */
  get config(): CollectionConfig {
    return this.segment.config;
  }

  private checkOpen(): void {
    this.host.checkOpen();
    if (!this.host.isLive(this.segment)) {
      throw new QuiverError(
        'CLOSED',
        `Collection "${this.name}" was dropped; get a new handle with db.collection().`,
        { collection: this.name },
      );
    }
  }

  private checkWritable(): void {
    this.checkOpen();
    this.host.admitWrite();
  }

  /**
   * Parses (unless already a FilterNode, e.g. from the server's Qdrant dialect) and compiles
   * a filter once per call; every segment then runs the same predicate. A filter that
   * matches everything (`{}`) is no filter.
   */
  private parseFilter(filter: unknown): CompiledFilter | undefined {
    if (filter === undefined) return undefined;
    try {
      const node = isFilterNode(filter) ? filter : parseMongoFilter(filter);
      return node.kind === 'all' ? undefined : compileFilter(node);
    } catch (e) {
      if (e instanceof QuiverError) {
        throw new QuiverError(e.code, `Collection "${this.name}": ${e.message}`, {
          ...e.details,
          collection: this.name,
        });
      }
      throw e;
    }
  }

  private async logAndApply(
    op: Parameters<typeof encodeWalOp>[0],
    apply: (lsn: number) => number,
  ): Promise<WriteResult> {
    const { type, body } = encodeWalOp(op);
    if (body.length > WAL_MAX_RECORD_BYTES) {
      throw invalidArgument(
        `Batch for "${this.name}" encodes to ${body.length} bytes, over the ${WAL_MAX_RECORD_BYTES}-byte record limit. Split it into smaller batches.`,
        { collection: this.name },
      );
    }
    let count = 0;
    let lsn: number;
    try {
      lsn = await this.host.log.append(type, body, (at) => {
        if (this.host.isLive(this.segment)) count = apply(at);
      });
    } catch (e) {
      this.host.writeDone(e);
      throw e;
    }
    this.host.writeDone(undefined);
    this.host.afterWrite();
    return { lsn, count };
  }

  /**
   * Inserts or replaces points. The whole batch is validated first: one bad point rejects
   * the batch and nothing is written. Resolves once the batch is durable.
   */
  async upsert(points: readonly PointInput[]): Promise<WriteResult> {
    this.checkWritable();
    if (!Array.isArray(points)) {
      throw invalidArgument(`upsert on "${this.name}" takes an array of points.`, {
        collection: this.name,
      });
    }
    const logged: LoggedPoint[] = [];
    const applied: { id: PointId; vector: Float32Array; payload: Payload }[] = [];
    for (let i = 0; i < points.length; i++) {
      const p: unknown = points[i];
      const where = `points[${i}]`;
      if (!isJsonObject(p)) {
        throw invalidArgument(`${where} must be an object { id, vector, payload? }.`, {
          collection: this.name,
          field: where,
        });
      }
      const point = p as Partial<PointInput>;
      const id = checkPointId(point.id, `${where}.id`);
      const vector = prepareVector(point.vector, this.config, `${where}.vector`);
      const payloadJson = preparePayload(
        point.payload,
        this.name,
        where,
        this.host.maxPayloadBytes,
      );
      logged.push({ id, vector, payloadJson });
      applied.push({
        id,
        vector,
        payload: payloadJson === '' ? {} : (JSON.parse(payloadJson) as Payload),
      });
    }
    if (logged.length === 0) return { lsn: this.host.log.lsn, count: 0 };
    return this.logAndApply(
      { kind: 'upsert', collection: this.name, dimension: this.config.dimension, points: logged },
      (lsn) => this.segment.upsert(lsn, applied),
    );
  }

  /**
   * Sets payload keys on existing points, keeping the other keys (Qdrant's set_payload).
   * Ids that do not exist are ignored; `count` says how many points changed.
   */
  setPayload(ids: readonly PointId[], payload: Payload): Promise<WriteResult> {
    return this.updatePayload(ids, 'merge', payload, []);
  }

  /** Replaces the whole payload of existing points (Qdrant's overwrite_payload). */
  overwritePayload(ids: readonly PointId[], payload: Payload): Promise<WriteResult> {
    return this.updatePayload(ids, 'overwrite', payload, []);
  }

  /** Removes payload keys from existing points (Qdrant's delete_payload). */
  deletePayloadKeys(ids: readonly PointId[], keys: readonly string[]): Promise<WriteResult> {
    return this.updatePayload(ids, 'delete-keys', undefined, keys);
  }

  /** Empties the payload of existing points (Qdrant's clear_payload). */
  clearPayload(ids: readonly PointId[]): Promise<WriteResult> {
    return this.updatePayload(ids, 'clear', undefined, []);
  }

  private async updatePayload(
    ids: readonly PointId[],
    mode: PayloadMode,
    payload: Payload | undefined,
    keys: readonly string[],
  ): Promise<WriteResult> {
    this.checkWritable();
    if (!Array.isArray(ids)) {
      throw invalidArgument(`Payload updates on "${this.name}" take an array of ids.`, {
        collection: this.name,
      });
    }
    const checked = ids.map((id, i) => checkPointId(id, `ids[${i}]`));
    let payloadJson = '';
    if (mode === 'merge' || mode === 'overwrite') {
      if (payload === undefined) {
        throw invalidArgument('A payload object is required.', { collection: this.name });
      }
      payloadJson = preparePayload(payload, this.name, 'payload', this.host.maxPayloadBytes);
      if (payloadJson === '') payloadJson = '{}';
    }
    if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string' || k === '')) {
      throw invalidArgument('keys must be an array of non-empty strings.', {
        collection: this.name,
        field: 'keys',
      });
    }
    if (checked.length === 0) return { lsn: this.host.log.lsn, count: 0 };
    return this.logAndApply(
      { kind: 'payload', collection: this.name, ids: checked, mode, payloadJson, keys },
      (lsn) =>
        this.segment.updatePayload(lsn, checked, (old) => {
          const next = applyPayloadUpdate(old, mode, payloadJson, keys);
          return next;
        }),
    );
  }

  /** The points with these ids that exist, in the order asked (missing ids skipped). */
  getMany(ids: readonly PointId[], options: { withVector?: boolean } = {}): Promise<PointRecord[]> {
    return settle(() => {
      this.checkOpen();
      if (!Array.isArray(ids)) throw invalidArgument('getMany takes an array of ids.');
      const out: PointRecord[] = [];
      for (const [i, id] of ids.entries()) {
        const p = this.segment.get(checkPointId(id, `ids[${i}]`));
        if (p !== undefined) out.push(recordOf(p, options.withVector !== false));
      }
      return out;
    });
  }

  /** The point with this id, or undefined. */
  get(id: PointId): Promise<PointRecord | undefined> {
    return settle(() => {
      this.checkOpen();
      const p = this.segment.get(checkPointId(id));
      return p === undefined ? undefined : recordOf(p, true);
    });
  }

  /** Deletes points by id; missing ids are ignored. `count` says how many existed. */
  async delete(ids: readonly PointId[]): Promise<WriteResult> {
    this.checkWritable();
    if (!Array.isArray(ids)) {
      throw invalidArgument(`delete on "${this.name}" takes an array of ids.`, {
        collection: this.name,
      });
    }
    const checked = ids.map((id, i) => checkPointId(id, `ids[${i}]`));
    if (checked.length === 0) return { lsn: this.host.log.lsn, count: 0 };
    return this.logAndApply({ kind: 'delete', collection: this.name, ids: checked }, (lsn) =>
      this.segment.delete(lsn, checked),
    );
  }

  /** Deletes every point matching `filter` at the time of the call. */
  async deleteWhere(filter: JsonObject | FilterNode): Promise<WriteResult> {
    this.checkWritable();
    if (filter === undefined) {
      throw invalidArgument(
        `deleteWhere on "${this.name}" needs a filter; pass {} explicitly to delete every point.`,
        { collection: this.name },
      );
    }
    const node = this.parseFilter(filter);
    const ids: PointId[] = [];
    for (const p of this.segment.points(node)) ids.push(p.id);
    if (ids.length === 0) return { lsn: this.host.log.lsn, count: 0 };
    return this.logAndApply({ kind: 'delete', collection: this.name, ids }, (lsn) =>
      this.segment.delete(lsn, ids),
    );
  }

  /** Number of points, or of points matching `filter`. */
  count(filter?: JsonObject | FilterNode): Promise<number> {
    return settle(() => {
      this.checkOpen();
      return this.segment.count(this.parseFilter(filter));
    });
  }

  /**
   * The ids of the points (matching `filter`), sorted as results are (integers first, then
   * strings). Copies no payload or vector, unlike `scan`.
   */
  ids(filter?: JsonObject | FilterNode): Promise<PointId[]> {
    return settle(() => {
      this.checkOpen();
      const out: PointId[] = [];
      for (const p of this.segment.points(this.parseFilter(filter))) out.push(p.id);
      return out.sort(compareIds);
    });
  }

  /**
   * One page of ids (matching `filter`) in the order of {@link ids}: up to `limit` (default
   * 100) from the first id at or after `from`, and `next`, the id that starts the next page
   * (undefined after the last). A page costs about its own length, not a sort of the
   * collection, e.g.
   * `let page = await c.idsPage({ limit: 500 }); while (page.next !== undefined) page = await c.idsPage({ from: page.next, limit: 500 });`
   */
  idsPage(
    options: { filter?: JsonObject | FilterNode; from?: PointId; limit?: number } = {},
  ): Promise<{ ids: PointId[]; next: PointId | undefined }> {
    return settle(() => {
      this.checkOpen();
      const limit = options.limit ?? 100;
      if (!Number.isInteger(limit) || limit < 1 || limit > 1_000_000) {
        throw invalidArgument(`limit must be an integer from 1 to 1000000, got ${String(limit)}.`, {
          collection: this.name,
          field: 'limit',
        });
      }
      const from = options.from === undefined ? undefined : checkPointId(options.from, 'from');
      return this.segment.idsPage(this.parseFilter(options.filter), from, limit);
    });
  }

  /** Iterates the points (matching `filter`), in insertion order, as a consistent stream. */
  async *scan(options: ScanOptions = {}): AsyncGenerator<ScanPoint, void, undefined> {
    this.checkOpen();
    const node = this.parseFilter(options.filter);
    const withVector = options.withVector === true;
    let n = 0;
    for (const p of this.segment.points(node)) {
      this.checkOpen();
      yield withVector
        ? { id: p.id, payload: structuredClone(p.payload), vector: vectorOut(p.vector) }
        : { id: p.id, payload: structuredClone(p.payload) };
      if (++n % 1024 === 0) await new Promise<void>((r) => setImmediate(r));
    }
  }

  /**
   * The k nearest points to `vector`, best first (ties broken by id). With
   * `explain: true` resolves to `{ hits, explain }`.
   */
  search(
    vector: ArrayLike<number>,
    options: SearchOptions & { explain: true },
  ): Promise<{ hits: SearchHit[]; explain: SearchExplain }>;
  search(vector: ArrayLike<number>, options?: SearchOptions): Promise<SearchHit[]>;
  search(
    vector: ArrayLike<number>,
    options: SearchOptions = {},
  ): Promise<SearchHit[] | { hits: SearchHit[]; explain: SearchExplain }> {
    return settle<SearchHit[] | { hits: SearchHit[]; explain: SearchExplain }>(() =>
      this.searchNow(vector, options),
    );
  }

  private searchNow(
    vector: ArrayLike<number>,
    options: SearchOptions,
  ):
    | SearchHit[]
    | { hits: SearchHit[]; explain: SearchExplain }
    | Promise<SearchHit[] | { hits: SearchHit[]; explain: SearchExplain }> {
    const t0 = performance.now();
    this.checkOpen();
    if (typeof options !== 'object' || options === null) {
      throw invalidArgument('search options must be an object.', { collection: this.name });
    }
    for (const key of Object.keys(options)) {
      if (!SEARCH_KEYS.has(key)) {
        throw invalidArgument(
          `Unknown search option "${key}": allowed are ${[...SEARCH_KEYS].join(', ')}.`,
          { collection: this.name, field: key },
        );
      }
    }
    const k = options.k ?? 10;
    if (!Number.isInteger(k) || k < 1 || k > MAX_K) {
      throw invalidArgument(`k must be an integer from 1 to ${MAX_K}, got ${String(k)}.`, {
        collection: this.name,
        field: 'k',
      });
    }
    const ef = options.ef ?? this.config.hnsw.efSearch;
    if (!Number.isInteger(ef) || ef < 1 || ef > 100_000) {
      throw invalidArgument(`ef must be an integer from 1 to 100000, got ${String(ef)}.`, {
        collection: this.name,
        field: 'ef',
      });
    }
    const query = prepareVector(vector, this.config, 'query');
    const filter = this.parseFilter(options.filter);
    const withPayload = options.withPayload ?? true;
    const withVector = options.withVector ?? false;
    const t1 = performance.now();
    if (options.exact !== true) this.recall.offer(query, k, Math.max(ef, k), filter);
    const segmentOptions = {
      k,
      ef: Math.max(ef, k),
      exact: options.exact ?? false,
      filter,
      withVector,
    };
    const pool = this.host.searchPool;
    if (
      pool !== undefined &&
      this.segment.sealed.length > 0 &&
      options.exact !== true &&
      (pool.offload?.() ?? true)
    ) {
      return this.segment
        .searchVia(query, segmentOptions, pool)
        .then((r) => this.present(r, options, k, ef, withPayload, withVector, t0, t1));
    }
    return this.present(
      this.segment.search(query, segmentOptions),
      options,
      k,
      ef,
      withPayload,
      withVector,
      t0,
      t1,
    );
  }

  /** Public hits (scores per SPEC section 2, payloads copied), with the explain block when asked. */
  private present(
    { hits, segments }: CollectionSearchResult,
    options: SearchOptions,
    k: number,
    ef: number,
    withPayload: boolean,
    withVector: boolean,
    t0: number,
    t1: number,
  ): SearchHit[] | { hits: SearchHit[]; explain: SearchExplain } {
    const t2 = performance.now();
    const out: SearchHit[] = hits.map((h) => {
      const hit: { id: PointId; score: number; payload?: Payload; vector?: number[] } = {
        id: h.id,
        score: publicScore(this.config.metric, h.score),
      };
      if (withPayload) hit.payload = structuredClone(h.payload);
      if (withVector && h.vector !== undefined) hit.vector = vectorOut(h.vector);
      return hit;
    });
    if (options.explain !== true) return out;
    const t3 = performance.now();
    let nodesVisited = 0;
    let distanceComputations = 0;
    let filterMs = 0;
    let searchMs = 0;
    for (const s of segments) {
      nodesVisited += s.nodesVisited;
      distanceComputations += s.distanceComputations;
      filterMs += s.filterMs;
      searchMs += s.searchMs;
    }
    const plans = new Set(segments.map((s) => s.plan));
    return {
      hits: out,
      explain: {
        plan: plans.size === 0 ? 'empty' : plans.size === 1 ? segments[0]!.plan : 'mixed',
        k,
        ef: Math.max(ef, k),
        segmentsSearched: segments.length,
        segments,
        nodesVisited,
        distanceComputations,
        timings: {
          parseMs: t1 - t0,
          filterMs,
          searchMs,
          mergeMs: t3 - t2,
          totalMs: t3 - t0,
        },
      },
    };
  }

  /** Plain numbers about this collection (the server turns them into metrics). */
  stats(): CollectionStats {
    this.checkOpen();
    const s = this.segment;
    let diskBytes = 0;
    for (const seg of s.sealed) diskBytes += seg.fileBytes;
    return {
      name: this.name,
      createdAt: s.createdAt,
      points: s.liveCount,
      segments: s.sealed.length + s.sealing.length + (s.growing.liveCount > 0 ? 1 : 0),
      sealedSegments: s.sealed.length,
      growingPoints: s.growing.liveCount,
      deletedShare: s.deletedShare(),
      diskBytes,
      memoryBytes: s.memoryBytes(),
      unsealedBytes: s.unsealedBytes(),
      recallEstimate: this.recall.estimate,
    };
  }
}
