/**
 * GrowingSegment: the in-memory points of a collection written since its last seal,
 * rebuilt from the WAL on open. Tracks the LSN range of the records it holds so the
 * checkpointer knows which part of the WAL it still needs.
 */
import type { Payload, PointId } from '../common/types.js';
import type { CompiledFilter } from '../filter/filter-evaluator.js';
import type { VectorIndex } from '../ann/vector-index.js';
import type { SegmentData } from '../storage/segment/segment-file.js';
import { backgroundTurns } from '../common/loop-turns.js';
import { PointTable } from './point-table.js';
import type {
  Segment,
  SegmentHit,
  SegmentSearchOptions,
  SegmentSearchStats,
  StoredPoint,
} from './segment.js';
import type { CollectionConfig } from './validation.js';
import type { SegmentMemory } from './collection-types.js';

/**
 * Background indexing links waiting vectors for about this long per turn of the event loop
 * (backgroundTurns: one slice a turn for the whole process). Short, because what the loop
 * owes its I/O waits for a slice: a replica's read-your-writes wait spans three or four
 * turns (with 5 and 20 ms slices, one per segment, two sealing nodes in one process made
 * it 210 ms), while a turn costs indexing a few microseconds.
 */
const SLICE_MS = 3;
/** Background indexing waits until no append came for this long. */
const WRITE_QUIET_MS = 3;
/**
 * Background indexing counts as starved when it has not run for this long although vectors
 * wait: a caller awaiting searches in a loop runs only microtasks, so the event loop never
 * reaches the slices scheduled with setImmediate.
 */
const STARVED_MS = 10;
/** What each search spends linking waiting vectors while background indexing is starved. */
const CATCH_UP_MS = 2;
/** Vectors linked between two looks at the clock. */
const LINK_STEP = 4;

export class GrowingSegment implements Segment {
  readonly kind = 'growing';
  readonly config: CollectionConfig;
  /** The points, and the searches over them; indexed in the background. */
  readonly table: PointTable;
  /** LSN of the first record applied here (undefined while empty of records). */
  firstLsn: number | undefined;
  lastLsn = 0;

  constructor(config: CollectionConfig, index: VectorIndex) {
    this.table = new PointTable(index);
    this.config = config;
  }

  get liveCount(): number {
    return this.table.liveCount;
  }
  has(id: PointId): boolean {
    return this.table.has(id);
  }
  get(id: PointId): StoredPoint | undefined {
    return this.table.get(id);
  }
  points(filter: CompiledFilter | undefined): Iterable<StoredPoint> {
    return this.table.points(filter);
  }
  count(filter: CompiledFilter | undefined): number {
    return this.table.count(filter);
  }
  search(
    query: Float32Array,
    options: SegmentSearchOptions,
  ): { hits: SegmentHit[]; stats: SegmentSearchStats } {
    this.catchUp();
    return this.table.search(query, options);
  }

  /**
   * Links a slice of waiting vectors (about {@link CATCH_UP_MS} of work) while background
   * indexing is starved, so a search loop that never yields to the event loop still
   * drains them: the scan of what waits shrinks and its searches become graph searches.
   * Writes still in progress keep precedence, as in the background.
   */
  private catchUp(): void {
    if (this.stopped || this.table.pendingCount === 0) return;
    const now = performance.now();
    if (now - this.lastBackground < STARVED_MS || now - this.lastAppend < WRITE_QUIET_MS) return;
    this.linkFor(CATCH_UP_MS);
  }

  /** Links waiting vectors, oldest first, for about `ms` milliseconds (at least a few). */
  private linkFor(ms: number): void {
    const t0 = performance.now();
    do this.table.indexPending(LINK_STEP);
    while (this.table.pendingCount > 0 && performance.now() - t0 < ms);
  }
  memoryBytes(): number {
    return this.table.memoryBytes();
  }

  memoryParts(): SegmentMemory {
    return this.table.memoryParts();
  }

  /** Records that a WAL record at `lsn` touched this segment. */
  touch(lsn: number): void {
    this.firstLsn ??= lsn;
    if (lsn > this.lastLsn) this.lastLsn = lsn;
  }

  /**
   * Adds points already validated, preprocessed and removed from older segments. Their
   * vectors reach the graph index in the background (searches scan them meanwhile).
   */
  append(points: readonly { id: PointId; vector: Float32Array; payload: Payload }[]): void {
    if (this.table.pendingCount === 0) this.lastBackground = performance.now();
    for (const p of points) {
      this.table.remove(p.id);
      this.table.append(p.id, p.vector, p.payload, true);
    }
    this.lastAppend = performance.now();
    this.scheduleIndexing();
  }

  private lastAppend = 0;
  /** When background indexing last ran (or, if later, when vectors began to wait). */
  private lastBackground = 0;

  private indexing = false;
  private stopped = false;

  /**
   * Background indexing gives way to writes: while appends keep arriving it waits for a
   * pause (acknowledged writes are durable and searchable already; the graph catches up).
   */
  private scheduleIndexing(): void {
    if (this.indexing || this.stopped || this.table.pendingCount === 0) return;
    this.indexing = true;
    const inTurn = (): void => void backgroundTurns.take().then(run);
    const run = (): void => {
      if (this.stopped) {
        this.indexing = false;
        return;
      }
      if (performance.now() - this.lastAppend < WRITE_QUIET_MS) {
        setTimeout(inTurn, WRITE_QUIET_MS).unref();
        return;
      }
      this.indexing = false;
      this.linkFor(SLICE_MS);
      this.lastBackground = performance.now();
      this.scheduleIndexing();
    };
    inTurn();
  }

  /** Inserts every waiting vector into the graph, a slice a turn (before a seal). */
  async indexAll(): Promise<void> {
    while (this.table.pendingCount > 0) {
      await backgroundTurns.take();
      this.linkFor(SLICE_MS);
    }
  }

  /** Stops background indexing (the database is closing). */
  stop(): void {
    this.stopped = true;
  }

  remove(id: PointId): boolean {
    return this.table.remove(id);
  }

  /** Everything a sealed segment file needs, as of now (call {@link indexAll} first). */
  toSegmentData(segmentId: number): SegmentData {
    const t = this.table;
    const dim = this.config.dimension;
    // One bulk copy when the index has it: copying slot by slot allocated a vector per
    // point and held the event loop for ~90 ms per 20 000 points of 128 dimensions.
    const bulk = t.index.vectorsCopy?.();
    const vectors =
      bulk !== undefined && bulk.length === t.slots * dim ? bulk : new Float32Array(t.slots * dim);
    const payloads: string[] = [];
    for (let slot = 0; slot < t.slots; slot++) {
      if (vectors !== bulk && t.ids[slot] !== undefined) {
        vectors.set(t.vectorOf(slot), slot * dim);
      } else if (vectors === bulk && t.ids[slot] === undefined) {
        vectors.fill(0, slot * dim, (slot + 1) * dim); // a removed slot is written as zeros
      }
      const p = t.payloads[slot];
      payloads.push(p === undefined || Object.keys(p).length === 0 ? '' : JSON.stringify(p));
    }
    return {
      segmentId,
      collection: this.config.name,
      dimension: dim,
      metric: this.config.metric,
      minLsn: this.firstLsn ?? 0,
      maxLsn: this.lastLsn,
      ids: t.ids.slice(),
      payloads,
      vectors,
      graph: t.index.kind === 'exact' ? undefined : t.index.serialize(),
    };
  }
}
