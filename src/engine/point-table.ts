/**
 * PointTable: the in-memory body shared by growing and sealed segments — external ids and
 * payloads by slot (dense internal id), an id → slot map, and a VectorIndex over the
 * vectors — with the search planner that picks graph search or an exact scan.
 */
import { QuiverError } from '../common/quiver-error.js';
import type { Payload, PointId } from '../common/types.js';
import { compareIds } from '../common/types.js';
import type { CompiledFilter } from '../filter/filter-evaluator.js';
import { filterSource } from '../filter/filter-evaluator.js';
import { candidateSlots, PayloadPostings } from '../filter/payload-postings.js';
import { canShare } from '../ann/shareable-index.js';
import type { IndexSearchResult, VectorIndex } from '../ann/vector-index.js';
import { canStage } from '../ann/vector-index.js';
import type { SearchPool } from './search-pool.js';
import type { SegmentMemory } from './collection-types.js';
import type {
  SearchPlan,
  SegmentHit,
  SegmentSearchOptions,
  SegmentSearchStats,
  StoredPoint,
} from './segment.js';

export const EMPTY_PAYLOAD: Payload = Object.freeze({});

/** Milliseconds of one search's phases on this thread. */
interface PhaseTimes {
  graphMs: number;
  exactMs: number;
}

/** The planner's decision for one search of a table. */
interface TablePlan {
  readonly kind: 'empty' | 'exact' | 'graph';
  readonly allow: Uint8Array | undefined;
  readonly matches: number | undefined;
  readonly live: number;
  /** Vectors waiting for the graph (scanned exactly beside the plan). */
  readonly waiting: number;
  readonly t0: number;
  readonly t1: number;
}

/**
 * With a filter, a graph index is searched only when at least this many points match
 * (and at least `ef`); below it the planner scans the matches exactly, which is both
 * faster and exact when few points pass.
 */
export const EXACT_FILTER_THRESHOLD = 2000;
/**
 * The filter threshold in force: {@link EXACT_FILTER_THRESHOLD}, unless a test lowers it
 * through {@link setExactFilterThreshold} so that segments small enough for a quick test
 * still walk the graph at 1 % selectivity (a recall test must measure the graph, not the
 * exact scan).
 */
let exactFilterThreshold = EXACT_FILTER_THRESHOLD;

/** Test hook: the planner's filter threshold (undefined restores the default). @internal */
export function setExactFilterThreshold(matches: number | undefined): void {
  exactFilterThreshold = matches ?? EXACT_FILTER_THRESHOLD;
}
/** Below this many live points a segment is always scanned exactly. */
export const EXACT_SEGMENT_THRESHOLD = 256;
/** Payload fields a frozen table keeps postings for (more are answered by a scan). */
const MAX_POSTINGS = 32;

export class PointTable {
  readonly ids: (PointId | undefined)[] = [];
  readonly payloads: (Payload | undefined)[] = [];
  readonly slotOf = new Map<PointId, number>();
  private index_: VectorIndex;
  payloadBytes = 0;
  /**
   * Slots below this hold no staged vector: deferred appends stage their vectors in the
   * index (in WebAssembly memory, scanned there with the SIMD kernel until linked), in slot
   * order, and {@link indexPending} links them oldest first, so the staged slots all lie
   * at or past it.
   */
  private stagedFrom = 0;
  /** Set once the table takes no more appends; payload postings are kept only then. */
  private frozen = false;
  /** Payload postings by field path, built on first use. */
  private readonly postings = new Map<string, PayloadPostings>();
  private postingsBytes = 0;
  /** Slots retired so far (a search that ran on a worker checks it did not change). */
  private retirements = 0;

  constructor(index: VectorIndex) {
    this.index_ = index;
  }

  get index(): VectorIndex {
    return this.index_;
  }

  /**
   * Moves a sealed table's HNSW graph into shared memory with `lanes` worker lanes (a
   * one-time copy; the graph is frozen from then on). No-op for other indexes, for one
   * already shared, or while vectors wait for the graph.
   */
  shareIndex(lanes: number): void {
    const index = this.index_;
    if (!canShare(index) || index.shared || this.pendingCount > 0 || lanes < 1) return;
    if (this.sharingHeld > 0) return;
    this.index_ = index.toShared(lanes);
  }

  private sharingHeld = 0;

  /**
   * Runs `work` with shareIndex held off: work that changes the index in slices (new codes
   * after a config update) must finish on the index it started with, not see a shared copy
   * swapped in between two slices. Searches meanwhile run on this thread.
   */
  async withoutSharing<T>(work: () => Promise<T>): Promise<T> {
    this.sharingHeld++;
    try {
      return await work();
    } finally {
      this.sharingHeld--;
    }
  }

  /**
   * Drops the room the index reserved for growth (a table that takes no more appends: a
   * sealed one), when the index can and it is worth a copy.
   */
  trimIndex(): void {
    if (this.pendingCount > 0) return;
    const trimmed = this.index_.trimmed?.();
    if (trimmed !== undefined) this.index_ = trimmed;
  }

  /**
   * Replaces the index with one holding the same slots, flags and graph (its vectors moved
   * to disk: engine/on-disk-vectors.ts). A frozen table's only.
   */
  swapIndex(index: VectorIndex): void {
    if (this.pendingCount > 0 || index.liveCount !== this.index_.liveCount) {
      throw new QuiverError('INTERNAL', 'an index swap must keep every slot; this is a bug.');
    }
    this.index_ = index;
  }

  get liveCount(): number {
    return this.slotOf.size;
  }

  private byId:
    { readonly slots: number; readonly order: Int32Array; readonly ids: PointId[] } | undefined;

  /**
   * The slots holding a point, sorted by id, with the ids as they were when sorted: a
   * sealed table sorts once, a growing one again after appends. A slot retired since no
   * longer holds its listed id (check `ids[slot] === listed`).
   */
  idOrder(): { readonly order: Int32Array; readonly ids: readonly PointId[] } {
    if (this.byId === undefined || this.byId.slots !== this.ids.length) {
      const live: number[] = [];
      for (let slot = 0; slot < this.ids.length; slot++) {
        if (this.ids[slot] !== undefined) live.push(slot);
      }
      live.sort((a, b) => compareIds(this.ids[a]!, this.ids[b]!));
      this.byId = {
        slots: this.ids.length,
        order: Int32Array.from(live),
        ids: live.map((slot) => this.ids[slot]!),
      };
    }
    return this.byId;
  }

  get slots(): number {
    return this.ids.length;
  }

  /**
   * Appends a point at the next slot (the id must not be live here). With `defer`, an index
   * that can stage vectors stores this one now and links it later, in
   * {@link indexPending}; searches scan it meanwhile.
   */
  append(id: PointId, vector: Float32Array, payload: Payload, defer = false): number {
    const slot = this.ids.length;
    this.ids.push(id);
    this.payloads.push(payload);
    const index = this.index;
    if (defer && canStage(index)) index.stage(slot, vector);
    else index.add(slot, vector);
    this.slotOf.set(id, slot);
    this.payloadBytes += estimatePayloadBytes(payload);
    return slot;
  }

  /** Slots waiting for the graph index. */
  get pendingCount(): number {
    const index = this.index;
    return canStage(index) ? index.stagedCount : 0;
  }

  /** Links up to `max` staged vectors into the index, oldest first; returns how many. */
  indexPending(max: number): number {
    const index = this.index;
    if (!canStage(index)) return 0;
    let n = 0;
    let slot = this.stagedFrom;
    for (; slot < this.ids.length && n < max && index.stagedCount > 0; slot++) {
      if (!index.isStaged(slot)) continue; // retired while it waited
      index.commit(slot);
      n++;
    }
    this.stagedFrom = slot;
    return n;
  }

  /** The stored vector of a live slot (a copy; do not modify). */
  vectorOf(slot: number): Float32Array {
    return this.index.vector(slot);
  }

  /** Marks a slot deleted. */
  retire(slot: number): void {
    const id = this.ids[slot];
    if (id === undefined) return;
    this.retirements++;
    this.index.remove(slot);
    const payload = this.payloads[slot];
    if (payload !== undefined) this.payloadBytes -= estimatePayloadBytes(payload);
    this.payloads[slot] = undefined;
    this.ids[slot] = undefined;
    if (this.slotOf.get(id) === slot) this.slotOf.delete(id);
  }

  remove(id: PointId): boolean {
    const slot = this.slotOf.get(id);
    if (slot === undefined) return false;
    this.retire(slot);
    return true;
  }

  has(id: PointId): boolean {
    return this.slotOf.has(id);
  }

  get(id: PointId): StoredPoint | undefined {
    const slot = this.slotOf.get(id);
    return slot === undefined ? undefined : this.pointAt(slot);
  }

  pointAt(slot: number): StoredPoint {
    const id = this.ids[slot]!;
    const payload = this.payloads[slot] ?? EMPTY_PAYLOAD;
    const index = this.index_;
    if (index.vectorsOnDisk !== true) return { id, vector: this.vectorOf(slot), payload };
    // On disk, a vector is read when asked for (ids, counts and payload-only reads of a
    // scan read none), and once.
    let vector: Float32Array | undefined;
    return {
      id,
      payload,
      get vector(): Float32Array {
        vector ??= index.vector(slot);
        return vector;
      },
    };
  }

  *points(match: CompiledFilter | undefined): Iterable<StoredPoint> {
    for (let i = 0; i < this.ids.length; i++) {
      const id = this.ids[i];
      if (id === undefined) continue;
      if (match !== undefined && !match(this.payloads[i] ?? EMPTY_PAYLOAD, id)) continue;
      yield this.pointAt(i);
    }
  }

  count(match: CompiledFilter | undefined): number {
    if (match === undefined) return this.liveCount;
    let n = 0;
    for (let i = 0; i < this.ids.length; i++) {
      const id = this.ids[i];
      if (id !== undefined && match(this.payloads[i] ?? EMPTY_PAYLOAD, id)) n++;
    }
    return n;
  }

  /**
   * Plans and runs one search: an exact scan when asked, when the index is exact, when the
   * segment is small, or when a filter admits few points; otherwise the graph, with the
   * filter's matches passed as an allow-list the graph search reads directly.
   */
  search(
    query: Float32Array,
    options: SegmentSearchOptions,
  ): { hits: SegmentHit[]; stats: SegmentSearchStats } {
    return this.runHere(query, this.plan(options), options);
  }

  /** Runs a plan on this thread and turns its result into hits. */
  private runHere(
    query: Float32Array,
    plan: TablePlan,
    options: SegmentSearchOptions,
  ): { hits: SegmentHit[]; stats: SegmentSearchStats } {
    const timing = { graphMs: 0, exactMs: 0 };
    const done = this.finish(plan, this.run(query, plan, options, timing), options, timing);
    if (done === undefined) {
      throw new QuiverError('INTERNAL', 'index returned a deleted slot; this is a bug');
    }
    return done;
  }

  /**
   * The same search, with the graph part run by a worker of `pool` when the index is a
   * shared (frozen) HNSW graph and the plan is a graph search; otherwise as
   * {@link search}. Resolves undefined when any point of this table was deleted while the
   * worker searched (the caller then searches again on its own thread).
   */
  searchVia(
    query: Float32Array,
    options: SegmentSearchOptions,
    pool: SearchPool,
  ):
    | Promise<{ hits: SegmentHit[]; stats: SegmentSearchStats } | undefined>
    | { hits: SegmentHit[]; stats: SegmentSearchStats } {
    const plan = this.plan(options);
    const index = this.index;
    if (plan.kind === 'graph' && this.pendingCount === 0 && canShare(index)) {
      const handle = index.sharedHandle();
      const lane = index.lanePlan(options.k, options.ef, plan.allow, options.quantization);
      if (handle !== undefined && lane !== undefined) {
        const request = { query, k: options.k, ...lane, allow: plan.allow };
        const running = pool.search(handle, request);
        if (running !== undefined) {
          // A point retired here while the worker searched may have moved to a segment
          // this search already read (an update): the answer would miss it, so the caller
          // searches again instead.
          const retiredAt = this.retirements;
          return running.then(
            (r) => {
              // The worker's graph walk, hand-off included (and, on disk, the rescoring).
              const stale = this.retirements !== retiredAt;
              const found = stale ? r : index.finishLane(query, r, options.k, options.quantization);
              const timing = { graphMs: performance.now() - plan.t1, exactMs: 0 };
              const done = stale ? undefined : this.finish(plan, found, options, timing, true);
              if (done === undefined) pool.discarded?.();
              return done;
            },
            () => (this.retirements === retiredAt ? this.runHere(query, plan, options) : undefined),
          );
        }
      }
    }
    return this.runHere(query, plan, options);
  }

  /**
   * Evaluates the filter into an allow-list and picks the plan. A frozen table narrows
   * equality conditions through payload postings first and checks only their candidates.
   */
  private plan(options: SegmentSearchOptions): TablePlan {
    const t0 = performance.now();
    const slots = this.ids.length;
    let allow: Uint8Array | undefined;
    let matches: number | undefined;
    const match = options.filter;
    if (match !== undefined) {
      allow = new Uint8Array(slots);
      matches = 0;
      const candidates = this.candidates(match);
      const n = candidates?.length ?? slots;
      for (let j = 0; j < n; j++) {
        const i = candidates === undefined ? j : candidates[j]!;
        const id = this.ids[i];
        if (id !== undefined && match(this.payloads[i] ?? EMPTY_PAYLOAD, id)) {
          allow[i] = 1;
          matches++;
        }
      }
    }
    const t1 = performance.now();
    const live = this.liveCount;
    const graph = this.index.kind !== 'exact';
    const useExact =
      options.exact ||
      !graph ||
      live <= EXACT_SEGMENT_THRESHOLD ||
      (matches !== undefined && matches < Math.max(exactFilterThreshold, options.ef));
    const kind = live === 0 || matches === 0 ? 'empty' : useExact ? 'exact' : 'graph';
    return { kind, allow, matches, live, waiting: this.pendingCount, t0, t1 };
  }

  /**
   * Marks the table frozen: no more appends (a sealed segment), so payload postings built
   * from it stay true (deletes only empty slots, which every use checks).
   */
  freeze(): void {
    this.frozen = true;
  }

  /** Candidate slots of `match` from payload postings (frozen tables), else undefined. */
  private candidates(match: CompiledFilter): readonly number[] | undefined {
    if (!this.frozen) return undefined;
    const node = filterSource(match);
    if (node === undefined) return undefined;
    return candidateSlots(node, (path) => {
      const key = path.join('\u0000');
      let postings = this.postings.get(key);
      if (postings === undefined && this.postings.size < MAX_POSTINGS) {
        postings = PayloadPostings.build(path, this.ids.length, (slot) => this.payloads[slot]);
        this.postings.set(key, postings);
        this.postingsBytes += postings.bytes;
      }
      return postings;
    });
  }

  /**
   * Runs a plan on this thread (vectors waiting for the graph are scanned and merged in);
   * `timing` receives the milliseconds spent walking the graph and scanning exactly.
   */
  private run(
    query: Float32Array,
    plan: TablePlan,
    options: SegmentSearchOptions,
    timing: PhaseTimes,
  ): IndexSearchResult {
    const { allow } = plan;
    if (plan.kind === 'empty') return { ids: [], scores: [], visited: 0, distanceComputations: 0 };
    const t0 = performance.now();
    const r =
      plan.kind === 'exact'
        ? this.index.scan(query, { k: options.k, ...(allow === undefined ? {} : { allow }) })
        : this.index.search(query, {
            k: options.k,
            ef: options.ef,
            ...(allow === undefined ? {} : { allow }),
            ...(options.quantization === undefined ? {} : { quantization: options.quantization }),
          });
    const t1 = performance.now();
    if (plan.kind === 'exact') timing.exactMs += t1 - t0;
    else timing.graphMs += t1 - t0;
    const index = this.index;
    if (!canStage(index) || index.stagedCount === 0) return r;
    // Vectors not yet in the graph are scanned exactly (in WebAssembly) and merged in.
    const staged = index.scanStaged(query, { k: options.k, from: this.stagedFrom, allow });
    timing.exactMs += performance.now() - t1;
    return {
      ...mergeTop(r, staged, options.k),
      visited: r.visited + staged.visited,
      distanceComputations: r.distanceComputations + staged.distanceComputations,
    };
  }

  /**
   * Turns internal ids into hits. Undefined when one of them is no longer live (only a
   * search that ran on a worker thread, `onWorker`, can meet a slot deleted meanwhile).
   */
  private finish(
    plan: TablePlan,
    r: IndexSearchResult,
    options: SegmentSearchOptions,
    timing: PhaseTimes,
    onWorker = false,
  ): { hits: SegmentHit[]; stats: SegmentSearchStats } | undefined {
    const hits: SegmentHit[] = [];
    for (let j = 0; j < r.ids.length; j++) {
      const slot = r.ids[j]!;
      const id = this.ids[slot];
      if (id === undefined) {
        if (onWorker) return undefined;
        throw new QuiverError('INTERNAL', `index returned deleted slot ${slot}; this is a bug`);
      }
      hits.push({
        id,
        score: r.scores[j]!,
        payload: this.payloads[slot] ?? EMPTY_PAYLOAD,
        vector: options.withVector ? this.vectorOf(slot) : undefined,
      });
    }
    const filtered = plan.allow !== undefined;
    const name: SearchPlan =
      plan.kind === 'empty'
        ? 'empty'
        : plan.kind === 'exact'
          ? filtered
            ? 'exact-filtered'
            : 'exact-scan'
          : filtered
            ? 'hnsw-filtered'
            : 'hnsw';
    return {
      hits,
      stats: {
        plan: name,
        candidates: plan.live,
        filterMatches: plan.matches,
        nodesVisited: r.visited,
        distanceComputations: r.distanceComputations,
        filterMs: plan.t1 - plan.t0,
        searchMs: timing.graphMs + timing.exactMs,
        graphMs: timing.graphMs,
        exactMs: timing.exactMs,
        worker: onWorker,
        waiting: plan.kind === 'empty' ? 0 : plan.waiting,
        quantized:
          plan.kind === 'graph' &&
          this.index.quantizer !== undefined &&
          options.quantization?.ignore !== true,
      },
    };
  }

  memoryBytes(): number {
    return this.index.memoryBytes() + this.payloadBytes + this.postingsBytes + this.ids.length * 16;
  }

  /** {@link memoryBytes} by what holds it. */
  memoryParts(): SegmentMemory {
    const index = this.index.memoryBytes();
    const vectors = this.index.vectorBytes();
    const codes = this.index.codeBytes?.() ?? 0;
    return {
      vectors,
      codes,
      graph: index - vectors - codes,
      payloads: this.payloadBytes,
      payloadIndex: this.postingsBytes,
      ids: this.ids.length * 16,
    };
  }
}

/** The best `k` of two results, each best first (a slot is in at most one of them). */
function mergeTop(
  a: IndexSearchResult,
  b: IndexSearchResult,
  k: number,
): { ids: number[]; scores: number[] } {
  const ids: number[] = [];
  const scores: number[] = [];
  let i = 0;
  let j = 0;
  while (ids.length < k && (i < a.ids.length || j < b.ids.length)) {
    const takeA = j >= b.ids.length || (i < a.ids.length && a.scores[i]! >= b.scores[j]!);
    if (takeA) {
      ids.push(a.ids[i]!);
      scores.push(a.scores[i++]!);
    } else {
      ids.push(b.ids[j]!);
      scores.push(b.scores[j++]!);
    }
  }
  return { ids, scores };
}

/** A cheap size estimate of a payload for memory accounting (not exact). */
export function estimatePayloadBytes(payload: Payload): number {
  let n = 16;
  for (const k in payload) {
    const v = payload[k];
    n +=
      k.length * 2 + 16 + (typeof v === 'string' ? v.length * 2 : typeof v === 'object' ? 64 : 8);
  }
  return n;
}
