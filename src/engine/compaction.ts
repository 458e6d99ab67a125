/**
 * Compaction: merges sealed segments of one collection into one new segment without their
 * deleted points. When the largest input has no deleted slots its graph is the starting
 * point (the others' points are inserted into a copy of it) instead of a rebuild from
 * zero. Runs in slices that yield to the event loop, so reads and writes go on.
 */
import type { PointId } from '../common/types.js';
import type { VectorIndex } from '../ann/vector-index.js';
import { HnswIndex } from '../ann/hnsw/hnsw-index.js';
import { encodeSegment } from '../storage/segment/segment-file.js';
import type { CollectionState } from './collection-state.js';
import { PointTable } from './point-table.js';
import { SealedSegment } from './sealed-segment.js';

const SLICE = 256;
const yieldNow = (): Promise<void> => new Promise((r) => setImmediate(r));

interface SourcePoint {
  readonly segment: SealedSegment;
  readonly slot: number;
  readonly id: PointId;
}

/**
 * Builds the merged segment, writes it through `write`, and swaps it in for `sources`.
 * Returns the new segment, or undefined when the collection changed under it or
 * `shouldStop` asked it to stop (then nothing was written or swapped).
 */
export async function compactSegments(
  state: CollectionState,
  sources: readonly SealedSegment[],
  segmentId: number,
  write: (bytes: Uint8Array) => Promise<void>,
  file: string,
  shouldStop: () => boolean = () => false,
): Promise<SealedSegment | undefined> {
  if (sources.length === 0) return undefined;
  const config = state.config;
  const dim = config.dimension;
  // Snapshot: the live points of every source, now.
  const largest = [...sources].sort((a, b) => b.liveCount - a.liveCount)[0]!;
  const reuseGraph =
    largest.table.index instanceof HnswIndex && largest.slots === largest.liveCount;
  let index: VectorIndex;
  const table = (idx: VectorIndex): PointTable => new PointTable(idx);
  let merged: PointTable;
  const order: SourcePoint[] = [];
  if (reuseGraph) {
    // Growing in the same kind of memory as the source (shared when search workers read it).
    index = HnswIndex.deserialize(largest.table.index.serialize(), 'compaction copy', {
      sharedMemory: largest.table.index.sharedBuffer,
    });
    merged = table(index);
    for (let slot = 0; slot < largest.slots; slot++) {
      const id = largest.table.ids[slot]!;
      merged.ids.push(id);
      merged.payloads.push(largest.table.payloads[slot]);
      merged.slotOf.set(id, slot);
      order.push({ segment: largest, slot, id });
    }
  } else {
    index = state.makeIndex(config);
    merged = table(index);
  }
  let n = 0;
  for (const seg of sources) {
    if (reuseGraph && seg === largest) continue;
    const t = seg.table;
    for (let slot = 0; slot < t.slots; slot++) {
      const id = t.ids[slot];
      if (id === undefined) continue;
      merged.append(id, t.index.vector(slot), t.payloads[slot] ?? {});
      order.push({ segment: seg, slot, id });
      if (++n % SLICE === 0) {
        await yieldNow();
        if (shouldStop()) return undefined; // closing: nothing written, nothing swapped
      }
    }
  }
  // Write the file as of the snapshot.
  const vectors = new Float32Array(merged.slots * dim);
  const payloads: string[] = [];
  for (let slot = 0; slot < merged.slots; slot++) {
    vectors.set(merged.index.vector(slot), slot * dim);
    const p = merged.payloads[slot];
    payloads.push(p === undefined || Object.keys(p).length === 0 ? '' : JSON.stringify(p));
  }
  const bytes = encodeSegment({
    segmentId,
    collection: config.name,
    dimension: dim,
    metric: config.metric,
    minLsn: 0,
    maxLsn: state.sealedThroughLsn,
    ids: merged.ids.slice(),
    payloads,
    vectors,
    graph: index.kind === 'exact' ? undefined : index.serialize(),
  });
  await write(bytes);
  // Swap, synchronously. Points deleted (or replaced) in a source since the snapshot are
  // deleted in the new segment too.
  if (!sources.every((s) => state.sealed.includes(s))) return undefined;
  const segment = SealedSegment.fromTable(segmentId, file, bytes.length, merged);
  order.forEach((p) => {
    if (p.segment.table.ids[p.slot] !== p.id) segment.remove(p.id);
  });
  const at = state.sealed.indexOf(sources[0]!);
  const rest = state.sealed.filter((s) => !sources.includes(s));
  rest.splice(Math.min(at, rest.length), 0, segment);
  state.sealed = rest;
  return segment;
}
