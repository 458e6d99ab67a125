/**
 * TableSegment: the part of the Segment interface that growing and sealed segments share —
 * reads and searches answered by their PointTable. Subclasses add how points arrive and
 * how deletes are recorded.
 */
import type { PointId } from '../common/types.js';
import type { CompiledFilter } from '../filter/filter-evaluator.js';
import type { PointTable } from './point-table.js';
import type {
  Segment,
  SegmentHit,
  SegmentSearchOptions,
  SegmentSearchStats,
  StoredPoint,
} from './segment.js';

export abstract class TableSegment implements Segment {
  abstract readonly kind: 'growing' | 'sealed';
  readonly table: PointTable;

  protected constructor(table: PointTable) {
    this.table = table;
  }

  get liveCount(): number {
    return this.table.liveCount;
  }

  abstract remove(id: PointId): boolean;

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
}
