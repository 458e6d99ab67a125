/**
 * Compaction: merges sealed segments of one collection into one new segment without their
 * deleted points. When the largest input has no deleted slots its graph is the starting
 * point (the others' points are inserted into a copy of it) instead of a rebuild from
 * zero. Runs in slices that yield to the event loop, so reads and writes go on.
 */
import type { PointId } from '../common/types.js';
import type { Quantizer } from '../ann/quantizer.js';
import type { VectorIndex } from '../ann/vector-index.js';
import { HnswIndex } from '../ann/hnsw/hnsw-index.js';
import { encodeSegment } from '../storage/segment/segment-file.js';
import { quantizeIndex, storedCodes } from './segment-quantization.js';
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

/** The merged table being built, the index it grows, and where each of its slots came from. */
interface Merge {
  readonly index: VectorIndex;
  readonly table: PointTable;
  readonly order: SourcePoint[];
  /** The source whose graph was copied whole (its points are already in `table`). */
  readonly reused: SealedSegment | undefined;
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
  // Snapshot: the live points of every source, now.
  const merge = startMerge(state, sources);
  const complete = await appendLivePoints(merge, sources, shouldStop);
  if (!complete) return undefined; // closing: nothing written, nothing swapped
  // Write the file as of the snapshot.
  // Trained again on the merged vectors (a reused graph's old codes are re-encoded), in
  // slices: a merged segment's product codes take seconds.
  const quantizer = await quantizeIndex(merge.index, state.config);
  if (shouldStop()) return undefined; // closed while the codes were made
  const bytes = encodeMerged(state, merge, segmentId, quantizer);
  await write(bytes);
  // Swap, synchronously. Points deleted (or replaced) in a source since the snapshot are
  // deleted in the new segment too.
  if (!sources.every((s) => state.sealed.includes(s))) return undefined;
  const segment = SealedSegment.fromTable(segmentId, file, bytes.length, merge.table);
  merge.order.forEach((p) => {
    if (p.segment.table.ids[p.slot] !== p.id) segment.remove(p.id);
  });
  const at = state.sealed.indexOf(sources[0]!);
  const rest = state.sealed.filter((s) => !sources.includes(s));
  rest.splice(Math.min(at, rest.length), 0, segment);
  state.sealed = rest;
  state.changed();
  return segment;
}

/**
 * The empty merge, or, when the largest source is an HNSW graph with no deleted slot, a
 * copy of that graph with its points (the others are then inserted into it).
 */
function startMerge(state: CollectionState, sources: readonly SealedSegment[]): Merge {
  const largest = [...sources].sort((a, b) => b.liveCount - a.liveCount)[0]!;
  const source = largest.table.index;
  if (!(source instanceof HnswIndex) || largest.slots !== largest.liveCount) {
    const index = state.makeIndex(state.config);
    return { index, table: new PointTable(index), order: [], reused: undefined };
  }
  // Growing in the same kind of memory as the source (shared when search workers read it).
  const index = source.clone();
  const merge: Merge = { index, table: new PointTable(index), order: [], reused: largest };
  for (let slot = 0; slot < largest.slots; slot++) {
    const id = largest.table.ids[slot]!;
    merge.table.ids.push(id);
    merge.table.payloads.push(largest.table.payloads[slot]);
    merge.table.slotOf.set(id, slot);
    merge.order.push({ segment: largest, slot, id });
  }
  return merge;
}

/**
 * Appends the live points of every source but the reused one, yielding to the event loop
 * every SLICE points. False when `shouldStop` asked it to stop.
 */
async function appendLivePoints(
  merge: Merge,
  sources: readonly SealedSegment[],
  shouldStop: () => boolean,
): Promise<boolean> {
  let n = 0;
  for (const seg of sources) {
    if (seg === merge.reused) continue;
    const t = seg.table;
    for (let slot = 0; slot < t.slots; slot++) {
      const id = t.ids[slot];
      if (id === undefined) continue;
      merge.table.append(id, t.index.vector(slot), t.payloads[slot] ?? {});
      merge.order.push({ segment: seg, slot, id });
      if (++n % SLICE === 0) {
        await yieldNow();
        if (shouldStop()) return false;
      }
    }
  }
  return true;
}

/** The segment file of the merged table, with the graph when the index has one. */
function encodeMerged(
  state: CollectionState,
  merge: Merge,
  segmentId: number,
  quantizer: Quantizer | undefined,
): Uint8Array {
  const { config } = state;
  const dim = config.dimension;
  const merged = merge.table;
  const vectors = new Float32Array(merged.slots * dim);
  const payloads: string[] = [];
  for (let slot = 0; slot < merged.slots; slot++) {
    vectors.set(merged.index.vector(slot), slot * dim);
    const p = merged.payloads[slot];
    payloads.push(p === undefined || Object.keys(p).length === 0 ? '' : JSON.stringify(p));
  }
  return encodeSegment({
    segmentId,
    collection: config.name,
    dimension: dim,
    metric: config.metric,
    minLsn: 0,
    maxLsn: state.sealedThroughLsn,
    ids: merged.ids.slice(),
    payloads,
    vectors,
    graph: merge.index.kind === 'exact' ? undefined : merge.index.serialize(),
    quantizer,
    productCodes: storedCodes(merge.index),
  });
}
