/**
 * Collection: the embedded API on one collection (SPEC section 3): upsert, get, delete,
 * deleteWhere, count, scan and search. Validates whole batches first, logs them through
 * the database's Log, and applies them once durable; search hits are made public by
 * search-results.ts.
 */
import { invalidArgument, QuiverError } from '../common/quiver-error.js';
import type { JsonObject, Payload, PointId } from '../common/types.js';
import { compareIds } from '../common/types.js';
import type { FilterNode } from '../filter/filter-ast.js';
import type { CompiledFilter } from '../filter/filter-evaluator.js';
import { compileFilter } from '../filter/filter-evaluator.js';
import { isFilterNode } from '../filter/filter-ast.js';
import { parseMongoFilter } from '../filter/mongo-filter-parser.js';
import type { AppendOptions, Log } from '../storage/wal/log.js';
import type { PayloadMode, WalOp } from '../storage/wal/wal-body-codec.js';
import { applyPayloadUpdate } from './payload-update.js';
import { appliedPoints } from './logged-points.js';
import { RecallSampler } from './recall-sampler.js';
import { encodeWalOp } from '../storage/wal/wal-body-codec.js';
import { WAL_MAX_RECORD_BYTES } from '../storage/format.js';
import type { CollectionSearchResult, CollectionState } from './collection-state.js';
import type { SearchPool } from './search-pool.js';
import type { StoredPoint } from './segment.js';
import { copyJson } from '../common/json-copy.js';
import { settle } from '../common/settle.js';
import type { SearchAnswer, SearchExplain, SearchHit } from './search-results.js';
import { presentSearch, vectorOut } from './search-results.js';
import type { QueryCache } from './query-cache.js';
import type { CacheProbe, CachedAnswer } from './search-cache.js';
import type { SemanticCache } from './semantic-cache.js';
import { normOf, rescored } from './semantic-cache.js';
import { similarity } from '../kernels/distance-kernel.js';
import { activeKernel } from '../kernels/kernel-select.js';
import { cacheExplain, cacheProbe, copyHits, hitsBytes, sameQuery } from './search-cache.js';
import type { CollectionConfig, PointInput } from './validation.js';
import {
  checkArray,
  checkPageLimit,
  checkPayloadKeys,
  checkPointId,
  checkSearchOptions,
  preparePayload,
  preparePoints,
  prepareVector,
} from './validation.js';

import type {
  CollectionStats,
  PointRecord,
  ScanOptions,
  ScanPoint,
  SearchOptions,
  WriteResult,
} from './collection-types.js';

export type {
  CollectionStats,
  PointRecord,
  ScanOptions,
  ScanPoint,
  SearchOptions,
  WriteResult,
} from './collection-types.js';
export type { SearchExplain, SearchHit } from './search-results.js';

/** A logged operation on a collection's points (what {@link Collection.applyOp} takes). */
export type PointOp = Extract<WalOp, { kind: 'upsert' | 'delete' | 'payload' }>;

/**
 * A delete and an upsert as one write. Local only: a cluster routes ids to shards, so it
 * could not keep the two together; it is not a {@link PointOp}.
 */
type ReplaceOp = Extract<WalOp, { kind: 'replace' }>;

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
  /** The database's cache of search answers (capacity 0: off). */
  readonly queryCache: QueryCache<CachedAnswer>;
  /** Which collections may take a similar query's cached answer, and its counters. */
  readonly semanticCache: SemanticCache;
}

/** A stored point as the API returns it: a copied payload, the vector as numbers ([] without). */
function recordOf(p: StoredPoint, withVector: boolean): PointRecord {
  return {
    id: p.id,
    vector: withVector ? vectorOut(p.vector) : [],
    payload: copyJson(p.payload),
  };
}

export class Collection {
  private readonly host: CollectionHost;
  private readonly state: CollectionState;
  private readonly recall: RecallSampler;
  /** @internal */
  constructor(host: CollectionHost, state: CollectionState) {
    this.host = host;
    this.state = state;
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
    return this.state.config.name;
  }

  /** The collection's configuration (dimension, metric, hnsw, quantization). */
  get config(): CollectionConfig {
    return this.state.config;
  }

  private checkOpen(): void {
    this.host.checkOpen();
    if (!this.host.isLive(this.state)) {
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
    options?: AppendOptions,
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
      lsn = await this.host.log.append(
        type,
        body,
        (at) => {
          if (!this.host.isLive(this.state)) return;
          count = apply(at);
          // The generation moved, so these answers can never be found again: free them now.
          this.host.queryCache.invalidate(this.state);
        },
        options,
      );
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
  upsert(points: readonly PointInput[]): Promise<WriteResult> {
    return this.write(() => this.prepareUpsert(points));
  }

  /**
   * Sets payload keys on existing points, keeping the other keys (Qdrant's set_payload).
   * Ids that do not exist are ignored; `count` says how many points changed.
   */
  setPayload(ids: readonly PointId[], payload: Payload): Promise<WriteResult> {
    return this.write(() => this.preparePayloadUpdate(ids, 'merge', payload, []));
  }

  /** Replaces the whole payload of existing points (Qdrant's overwrite_payload). */
  overwritePayload(ids: readonly PointId[], payload: Payload): Promise<WriteResult> {
    return this.write(() => this.preparePayloadUpdate(ids, 'overwrite', payload, []));
  }

  /** Removes payload keys from existing points (Qdrant's delete_payload). */
  deletePayloadKeys(ids: readonly PointId[], keys: readonly string[]): Promise<WriteResult> {
    return this.write(() => this.preparePayloadUpdate(ids, 'delete-keys', undefined, keys));
  }

  /** Empties the payload of existing points (Qdrant's clear_payload). */
  clearPayload(ids: readonly PointId[]): Promise<WriteResult> {
    return this.write(() => this.preparePayloadUpdate(ids, 'clear', undefined, []));
  }

  /**
   * The operation an upsert of `points` logs, the whole batch validated (vectors checked
   * and normalised as the metric needs); undefined for an empty batch. Nothing is written:
   * {@link applyOp} writes it, here or — in cluster mode — on every replica. @internal
   */
  prepareUpsert(points: readonly PointInput[]): PointOp | undefined {
    checkArray(points, `upsert on "${this.name}" takes an array of points.`, this.name);
    const prepared = preparePoints(points, this.config, this.host.maxPayloadBytes);
    if (prepared.length === 0) return undefined;
    return {
      kind: 'upsert',
      collection: this.name,
      dimension: this.config.dimension,
      points: prepared,
    };
  }

  /** The operation a payload update logs, validated; undefined without ids. @internal */
  preparePayloadUpdate(
    ids: readonly PointId[],
    mode: PayloadMode,
    payload: Payload | undefined,
    keys: readonly string[],
  ): PointOp | undefined {
    checkArray(ids, `Payload updates on "${this.name}" take an array of ids.`, this.name);
    const checked = ids.map((id, i) => checkPointId(id, `ids[${i}]`));
    let payloadJson = '';
    if (mode === 'merge' || mode === 'overwrite') {
      if (payload === undefined) {
        throw invalidArgument('A payload object is required.', { collection: this.name });
      }
      payloadJson = preparePayload(payload, this.name, 'payload', this.host.maxPayloadBytes);
      if (payloadJson === '') payloadJson = '{}';
    }
    checkPayloadKeys(keys, this.name);
    if (checked.length === 0) return undefined;
    return { kind: 'payload', collection: this.name, ids: checked, mode, payloadJson, keys };
  }

  /** The operation a delete by ids logs, validated; undefined without ids. @internal */
  prepareDelete(ids: readonly PointId[]): PointOp | undefined {
    checkArray(ids, `delete on "${this.name}" takes an array of ids.`, this.name);
    const checked = ids.map((id, i) => checkPointId(id, `ids[${i}]`));
    if (checked.length === 0) return undefined;
    return { kind: 'delete', collection: this.name, ids: checked };
  }

  /**
   * The delete by ids that `deleteWhere(filter)` logs: the matching points at the time of
   * the call (a filter is resolved once, where the request arrives, so every replica
   * applies the same ids); undefined when nothing matches. @internal
   */
  prepareDeleteWhere(filter: JsonObject | FilterNode): PointOp | undefined {
    this.checkOpen();
    if (filter === undefined) {
      throw invalidArgument(
        `deleteWhere on "${this.name}" needs a filter; pass {} explicitly to delete every point.`,
        { collection: this.name },
      );
    }
    const node = this.parseFilter(filter);
    const ids: PointId[] = [];
    for (const p of this.state.points(node)) ids.push(p.id);
    if (ids.length === 0) return undefined;
    return { kind: 'delete', collection: this.name, ids };
  }

  /**
   * Logs and applies an operation a prepare* method made — on this collection, or on the
   * same collection of another node (cluster mode replays a shard's stream through here,
   * the same apply path as local writes and WAL replay). A replica passes
   * `durableElsewhere`: its stream holds the operation durably, so it is visible once
   * written to the local WAL, without waiting for the fsync. @internal
   */
  async applyOp(op: PointOp, options?: AppendOptions): Promise<WriteResult> {
    this.checkWritable();
    return this.applyAdmitted(op, options);
  }

  /**
   * applyOp once the write is admitted: admission happens once per write (a half-open
   * circuit breaker lets exactly one trial write through).
   */
  private async applyAdmitted(
    op: PointOp | ReplaceOp,
    options?: AppendOptions,
  ): Promise<WriteResult> {
    // An operation prepared elsewhere must be for a collection like this one: the same
    // name, and vectors of this dimension (the index would be damaged otherwise).
    if (op.collection !== this.name) {
      throw invalidArgument(`An operation for "${op.collection}" was applied to "${this.name}".`, {
        collection: this.name,
      });
    }
    if ((op.kind === 'upsert' || op.kind === 'replace') && op.dimension !== this.config.dimension) {
      throw new QuiverError(
        'DIMENSION_MISMATCH',
        `An upsert of ${op.dimension}-dimensional vectors was applied to "${this.name}", which holds ${this.config.dimension}.`,
        { collection: this.name, expected: this.config.dimension, received: op.dimension },
      );
    }
    return this.logAndApply(op, this.stateChange(op), options);
  }

  /** What applying `op` at an LSN does to the collection's state (returns the count). */
  private stateChange(op: PointOp | ReplaceOp): (lsn: number) => number {
    switch (op.kind) {
      case 'upsert':
        return (lsn) => this.state.upsert(lsn, appliedPoints(op.points));
      case 'delete':
        return (lsn) => this.state.delete(lsn, op.ids);
      case 'replace':
        return (lsn) =>
          this.state.delete(lsn, op.deletes) + this.state.upsert(lsn, appliedPoints(op.points));
      case 'payload':
        return (lsn) =>
          this.state.updatePayload(lsn, op.ids, (old) =>
            applyPayloadUpdate(old, op.mode, op.payloadJson, op.keys),
          );
    }
  }

  /** Admits the write, prepares its operation, and applies it (an empty one is a no-op). */
  private async write(prepare: () => PointOp | ReplaceOp | undefined): Promise<WriteResult> {
    this.checkWritable();
    const op = prepare();
    if (op === undefined) return { lsn: this.host.log.lsn, count: 0 };
    return this.applyAdmitted(op);
  }

  /** The points with these ids that exist, in the order asked (missing ids skipped). */
  getMany(ids: readonly PointId[], options: { withVector?: boolean } = {}): Promise<PointRecord[]> {
    return settle(() => {
      this.checkOpen();
      if (!Array.isArray(ids)) throw invalidArgument('getMany takes an array of ids.');
      const out: PointRecord[] = [];
      for (const [i, id] of ids.entries()) {
        const p = this.state.get(checkPointId(id, `ids[${i}]`));
        if (p !== undefined) out.push(recordOf(p, options.withVector !== false));
      }
      return out;
    });
  }

  /** The point with this id, or undefined. */
  get(id: PointId): Promise<PointRecord | undefined> {
    return settle(() => {
      this.checkOpen();
      const p = this.state.get(checkPointId(id));
      return p === undefined ? undefined : recordOf(p, true);
    });
  }

  /** Deletes points by id; missing ids are ignored. `count` says how many existed. */
  delete(ids: readonly PointId[]): Promise<WriteResult> {
    return this.write(() => this.prepareDelete(ids));
  }

  /**
   * Deletes `deleteIds` and upserts `points` in one write: after a crash, both happened or
   * neither (a document's old chunks never outlive its new ones, nor the reverse). An id in
   * both ends up upserted. Validated as {@link upsert} and {@link delete} are; not in
   * cluster mode, where ids live on different shards.
   */
  replace(points: readonly PointInput[], deleteIds: readonly PointId[]): Promise<WriteResult> {
    return this.write(() => {
      const upsert = this.prepareUpsert(points);
      const del = this.prepareDelete(deleteIds);
      if (upsert?.kind !== 'upsert' || del?.kind !== 'delete') return upsert ?? del;
      const { collection, dimension } = upsert;
      return { kind: 'replace', collection, dimension, points: upsert.points, deletes: del.ids };
    });
  }

  /** Deletes every point matching `filter` at the time of the call. */
  deleteWhere(filter: JsonObject | FilterNode): Promise<WriteResult> {
    return this.write(() => this.prepareDeleteWhere(filter));
  }

  /** Number of points, or of points matching `filter`. */
  count(filter?: JsonObject | FilterNode): Promise<number> {
    return settle(() => {
      this.checkOpen();
      return this.state.count(this.parseFilter(filter));
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
      for (const p of this.state.points(this.parseFilter(filter))) out.push(p.id);
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
      const limit = checkPageLimit(options.limit, this.name);
      const from = options.from === undefined ? undefined : checkPointId(options.from, 'from');
      return this.state.idsPage(this.parseFilter(options.filter), from, limit);
    });
  }

  /** Iterates the points (matching `filter`), in insertion order, as a consistent stream. */
  async *scan(options: ScanOptions = {}): AsyncGenerator<ScanPoint, void, undefined> {
    this.checkOpen();
    const node = this.parseFilter(options.filter);
    const withVector = options.withVector === true;
    let n = 0;
    for (const p of this.state.points(node)) {
      this.checkOpen();
      yield withVector
        ? { id: p.id, payload: copyJson(p.payload), vector: vectorOut(p.vector) }
        : { id: p.id, payload: copyJson(p.payload) };
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
  search(vector: ArrayLike<number>, options: SearchOptions = {}): Promise<SearchAnswer> {
    return settle<SearchAnswer>(() => this.searchNow(vector, options));
  }

  private searchNow(
    vector: ArrayLike<number>,
    options: SearchOptions,
  ): SearchAnswer | Promise<SearchAnswer> {
    const t0 = performance.now();
    this.checkOpen();
    const { k, ef, quantization } = checkSearchOptions(options, this.config);
    const withPayload = options.withPayload ?? true;
    const withVector = options.withVector ?? false;
    // One reading of `exact` for the key and the search (a truthy non-boolean is not exact).
    const exact = options.exact === true;
    const cache = this.host.queryCache;
    // Looked up by the query as given, before it is checked and prepared: only a checked
    // query was ever stored, so finding the same bits means it passed.
    const probe = cache.enabled
      ? cacheProbe(vector, { k, ef, exact, withPayload, withVector, quantization }, options.filter)
      : undefined;
    const generation = this.state.generation;
    if (probe !== undefined) {
      const cached = cache.get(this.state, generation, probe.key, (a) =>
        sameQuery(a.query, probe.raw),
      );
      if (cached !== undefined) {
        const t1 = performance.now();
        const hits = copyHits(cached.hits);
        if (options.explain !== true) return hits;
        return { hits, explain: cacheExplain({ k, ef }, t1 - t0, performance.now() - t1) };
      }
    }
    const query = prepareVector(vector, this.config, 'query');
    const filter = this.parseFilter(options.filter);
    const t1 = performance.now();
    const similar = probe === undefined ? undefined : this.similarAnswer(probe, query, generation);
    if (similar !== undefined) {
      if (options.explain !== true) return similar.hits;
      const explain = cacheExplain({ k, ef }, t1 - t0, performance.now() - t1, 'semantic');
      return { hits: similar.hits, explain: { ...explain, cacheSimilarity: similar.similarity } };
    }
    // The caller's own Float32Array is copied now (it may reuse it during the search);
    // any other input was already copied into the probe.
    const stored =
      probe === undefined || probe.raw !== vector ? probe : { ...probe, raw: probe.raw.slice() };
    if (!exact) this.recall.offer(query, k, Math.max(ef, k), filter);
    const segmentOptions = {
      k,
      ef: Math.max(ef, k),
      exact,
      filter,
      withVector,
      quantization,
    };
    const present = (result: CollectionSearchResult): SearchAnswer => {
      const answer = presentSearch({
        result,
        metric: this.config.metric,
        k,
        ef,
        withPayload,
        withVector,
        explain: options.explain === true,
        t0,
        t1,
      });
      // Only an answer no write overtook: a write during a search on a worker moved on.
      if (
        stored !== undefined &&
        this.state.generation === generation &&
        this.host.isLive(this.state)
      ) {
        const hits = Array.isArray(answer) ? answer : answer.hits;
        // A copy of the query as given: the caller may reuse its array.
        const entry = { query: stored.raw, norm: normOf(stored.raw), hits: copyHits(hits) };
        const bytes = hitsBytes(hits) + stored.raw.byteLength;
        cache.set(this.state, generation, stored.key, entry, bytes, stored.group);
      }
      return answer;
    };
    const pool = this.host.searchPool;
    if (
      pool !== undefined &&
      this.state.sealed.length > 0 &&
      !exact &&
      (pool.offload?.() ?? true)
    ) {
      return this.state.searchVia(query, segmentOptions, pool).then(present);
    }
    return present(this.state.search(query, segmentOptions));
  }

  /**
   * For a collection in the semantic cache: the answer of a recent search with the same
   * options whose query is similar enough, its points rescored against `query`.
   */
  private similarAnswer(
    probe: CacheProbe,
    query: Float32Array,
    generation: number,
  ): { hits: SearchHit[]; similarity: number } | undefined {
    const min = this.host.semanticCache.minSimilarity(this.name);
    if (min === undefined) return undefined;
    const candidates = this.host.queryCache.recent(this.state, generation, probe.group);
    const near = this.host.semanticCache.nearest(probe.raw, candidates, min);
    if (near === undefined) return undefined;
    const { metric, dimension } = this.config;
    const kernel = activeKernel();
    const hits = rescored(copyHits(near.answer.hits), metric, (id) => {
      const p = this.state.get(id);
      return p === undefined
        ? undefined
        : similarity(kernel, metric, query, 0, p.vector, 0, dimension);
    });
    return { hits, similarity: near.similarity };
  }

  /** Plain numbers about this collection (the server turns them into metrics). */
  stats(): CollectionStats {
    this.checkOpen();
    const s = this.state;
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
      memory: { ...s.memoryParts(), queryCache: this.host.queryCache.bytesOf(s) },
      unsealedBytes: s.unsealedBytes(),
      recallEstimate: this.recall.estimate,
    };
  }
}
