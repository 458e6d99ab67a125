/**
 * SealedSegment: an immutable segment file loaded into memory — its graph deserialized,
 * never rebuilt — plus the set of its slots deleted since (tombstones). Deletes are
 * applied in memory and written as a new tombstone generation at the next checkpoint.
 */
import type { SlotCount } from '../common/deleted-share.js';
import { deletedShare } from '../common/deleted-share.js';
import type { Payload, PointId } from '../common/types.js';
import type { CompiledFilter } from '../filter/filter-evaluator.js';
import type { VectorIndex } from '../ann/vector-index.js';
import type { SegmentSlots } from '../storage/segment/segment-file.js';
import { PointTable } from './point-table.js';
import type { SegmentMemory } from './collection-types.js';
import type {
  Segment,
  SegmentHit,
  SegmentSearchOptions,
  SegmentSearchStats,
  StoredPoint,
} from './segment.js';

export class SealedSegment implements Segment {
  readonly kind = 'sealed';
  /** The file's points (frozen: deletes retire slots, nothing is added). */
  readonly table: PointTable;
  readonly id: number;
  readonly file: string;
  readonly fileBytes: number;
  /** Slots deleted (including those never live); written to tombstone files. */
  readonly deleted = new Set<number>();
  /** Generation of the tombstone file on disk (0 = none) and its name. */
  tombstoneGeneration = 0;
  tombstoneFile: string | null = null;
  /** True when `deleted` has slots the tombstone file on disk lacks. */
  dirty = false;
  /**
   * The collection name in the file's header when it is not its collection's: a segment a
   * staging collection wrote, taken over at a swap (engine/collection-swap.ts).
   */
  fileCollection: string | undefined = undefined;
  private constructor(id: number, file: string, fileBytes: number, table: PointTable) {
    table.freeze();
    this.table = table;
    this.id = id;
    this.file = file;
    this.fileBytes = fileBytes;
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
    return this.table.search(query, options);
  }
  memoryBytes(): number {
    return this.table.memoryBytes();
  }

  memoryParts(): SegmentMemory {
    return this.table.memoryParts();
  }

  /**
   * Builds the in-memory segment from decoded file data. `index` already holds the
   * vectors (deserialized graph, or an exact index filled from the vector section).
   */
  static fromData(
    data: SegmentSlots,
    file: string,
    fileBytes: number,
    index: VectorIndex,
    deletedSlots: Iterable<number>,
  ): SealedSegment {
    const table = new PointTable(index);
    for (let slot = 0; slot < data.ids.length; slot++) {
      const id = data.ids[slot];
      const json = data.payloads[slot]!;
      table.ids.push(id);
      const payload = id === undefined || json === '' ? {} : (JSON.parse(json) as Payload);
      table.payloads.push(id === undefined ? undefined : payload);
      if (id !== undefined) table.slotOf.set(id, slot);
    }
    const seg = new SealedSegment(data.segmentId, file, fileBytes, table);
    for (const slot of deletedSlots) seg.deleteSlot(slot);
    seg.dirty = false;
    return seg;
  }

  /**
   * Turns a frozen growing segment whose file was just written into a sealed one, keeping
   * its in-memory table (and graph) instead of reading the file back.
   */
  static fromTable(id: number, file: string, fileBytes: number, table: PointTable): SealedSegment {
    return new SealedSegment(id, file, fileBytes, table);
  }

  /** Records a slot the table already retired (a delete that raced the seal). */
  markDeletedAfterSeal(slot: number): void {
    if (this.deleted.has(slot)) return;
    this.deleted.add(slot);
    this.dirty = true;
  }

  private deleteSlot(slot: number): void {
    if (this.deleted.has(slot)) return;
    this.deleted.add(slot);
    if (this.table.ids[slot] !== undefined) this.table.retire(slot);
    this.dirty = true;
  }

  /** Slots in the file (live, deleted and holes). */
  get slots(): number {
    return this.table.slots;
  }

  /** The file's slots and its live points (common/deleted-share.ts defines what is dead). */
  get slotCount(): SlotCount {
    return { slots: this.table.slots, live: this.table.liveCount };
  }

  /** Share of the file's slots that are dead: deleted, replaced, or sealed as holes. */
  get deletedShare(): number {
    return deletedShare([this.slotCount]);
  }

  remove(id: PointId): boolean {
    const slot = this.table.slotOf.get(id);
    if (slot === undefined) return false;
    this.deleteSlot(slot);
    return true;
  }
}
