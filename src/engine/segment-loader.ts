/**
 * Loading one sealed segment file at open: its parts decoded and checked, its index made
 * and quantized as its collection asks. A segment with a graph is streamed: every section
 * but the vectors is read on its own, and the vectors pass once through a small buffer
 * into the graph's memory, or (an `onDisk` collection's) into codes, their checksum
 * compared once the last is through, before the segment is used. So the open never holds
 * a file whole: for an onDisk collection that is the
 * memory it exists to save, and for any other the file's buffer cost an open as much
 * again in page faults as the copy into the graph. A segment without a graph (an exact
 * index), or an onDisk one whose codes need its vectors whole, is read whole.
 */
import { hnswAvailable, HnswIndex } from '../ann/hnsw/hnsw-index.js';
import type { VectorIndex } from '../ann/vector-index.js';
import { corrupt, isQuiverError } from '../common/quiver-error.js';
import type { Steps } from '../common/steps.js';
import { runInSlices } from '../common/steps.js';
import type { FileSystem } from '../storage/io/file-system.js';
import type { ManifestSegment } from '../storage/manifest/manifest.js';
import type { SegmentParts, SegmentSlots } from '../storage/segment/segment-file.js';
import { decodeSegment, vectorsSectionOffset } from '../storage/segment/segment-file.js';
import { StreamedSegment } from '../storage/segment/segment-reader.js';
import { SegmentSection } from '../storage/format.js';
import type { Quantizer } from '../ann/quantizer.js';
import { loadIndex } from './index-factory.js';
import { quantizeIndex, quantizerMatches } from './segment-quantization.js';
import type { CollectionConfig } from './validation.js';
import { walkedQuantization } from './validation.js';

/**
 * A segment file loaded: what SealedSegment.fromData and OnDiskVectors.attach take. `data`
 * holds no view of the file's bytes (its graph and vectors are in the index by now), so
 * they are garbage once the load returns: holding them into the next segment's read
 * raised the open's peak by a segment file (30 MB on the 200k × 128 test collection).
 */
export interface LoadedSegment {
  readonly data: SegmentSlots;
  readonly index: VectorIndex;
  readonly fileBytes: number;
  /** Where the VECTORS section starts, for reading the vectors on demand. */
  readonly vectorsOffset: number;
}

const slotsOf = ({ segmentId, ids, payloads }: SegmentParts): SegmentSlots => ({
  segmentId,
  ids,
  payloads,
});

/** One sealed segment to load: the manifest's `entry`, file `path`, of a collection of `config`. */
export interface SegmentToLoad {
  readonly fs: FileSystem;
  readonly path: string;
  readonly entry: ManifestSegment;
  readonly config: CollectionConfig;
  /** Search workers that share the graph when its vectors stay in memory. */
  readonly lanes: number;
}

/** Loads one sealed segment: streamed when it can be, else read whole. */
export async function loadSegmentFile(segment: SegmentToLoad): Promise<LoadedSegment> {
  if (hnswAvailable()) {
    const streamed = await loadStreamed(segment);
    if (streamed !== undefined) return streamed;
  }
  return loadWhole(segment);
}

/**
 * The streamed load, or undefined when the segment is read whole instead: it has no graph
 * (an exact index takes its vectors whole), or its vectors stay on disk and its codes
 * cannot be made from the stream (no stored quantizer, or not the one the collection
 * walks: training needs the vectors; or codes that do not fit).
 */
async function loadStreamed(segment: SegmentToLoad): Promise<LoadedSegment | undefined> {
  const file = await StreamedSegment.open(segment.fs, segment.path);
  let loaded: LoadedSegment | undefined;
  try {
    loaded = await streamFrom(file, segment);
  } catch (e) {
    await file.close().catch(() => undefined); // the error says more than a failed close
    throw e;
  }
  await file.close();
  return loaded;
}

/** loadStreamed's work on the open file. */
async function streamFrom(
  file: StreamedSegment,
  { entry, config, lanes }: SegmentToLoad,
): Promise<LoadedSegment | undefined> {
  // Decided from the table where it can be: a fallback reads the file again.
  if (!file.has(SegmentSection.GRAPH)) return undefined;
  if (config.onDisk && !file.has(SegmentSection.QUANT)) return undefined;
  const ready = graphSteps(await file.readParts(), entry, config, file, lanes);
  if (ready === undefined) return undefined;
  const { stored, codes, data } = ready;
  const index = await runInSlices(ready.steps);
  checkGraphFits(index, data, config, file);
  const loaded = { data, index, fileBytes: file.fileBytes, vectorsOffset: file.vectorsOffset };
  if (!config.onDisk) {
    // The graph took its vectors from the stream: every byte is checked before any use.
    await runInSlices(file.vectors.finishing());
    await quantizeIndex(index, config, stored, codes);
    return loaded;
  }
  try {
    if (stored !== undefined) await runInSlices(index.quantizing(stored, codes, file.vectors));
  } catch (e) {
    if (isQuiverError(e, 'INVALID_ARGUMENT')) return undefined; // the whole read decides
    throw e;
  }
  // Every vector byte is checked before the segment is used, as a whole read checks it.
  await runInSlices(file.vectors.finishing());
  return loaded;
}

/** The steps that load a streamed segment's index, and what its codes and table are made from. */
interface GraphSteps {
  readonly steps: Steps<HnswIndex>;
  readonly stored: Quantizer | undefined;
  readonly codes: Uint8Array | undefined;
  readonly data: SegmentSlots;
}

/**
 * The steps that load the streamed segment's graph, with its vectors from the stream, or
 * (vectors on disk) without them when the stored quantizer is the one the collection
 * walks; undefined otherwise. Only the slots are kept of `parts`: the GRAPH section's
 * bytes are garbage once the index holds them (the steps do not hold them).
 */
function graphSteps(
  parts: SegmentParts,
  entry: ManifestSegment,
  config: CollectionConfig,
  file: StreamedSegment,
  lanes: number,
): GraphSteps | undefined {
  checkBelongs(parts, entry, config, file.path);
  const { graph, quantizer: stored, productCodes: codes } = parts;
  if (graph === undefined) return undefined;
  if (config.onDisk) {
    const want = walkedQuantization(config);
    if (stored === undefined || want === 'none' || !quantizerMatches(stored, want))
      return undefined;
  }
  const steps = HnswIndex.deserializing(graph, file.path, {
    checksummed: true,
    ...(config.onDisk ? { vectors: 'on-disk' } : { vectors: file.vectors, lanes }),
  });
  return { steps, stored, codes, data: slotsOf(parts) };
}

/**
 * Streamed vectors were checked against the graph's size as it loaded; a graph made
 * without them is checked here, before its codes are encoded from the file at its size.
 */
function checkGraphFits(
  index: HnswIndex,
  data: SegmentSlots,
  config: CollectionConfig,
  file: StreamedSegment,
): void {
  if (index.dimension !== config.dimension || index.slots > data.ids.length) {
    throw corrupt(
      file.path,
      file.vectorsOffset,
      `the segment's graph holds ${index.slots} slots of ${index.dimension} values, its vectors ${data.ids.length} of ${config.dimension}`,
    );
  }
}

/** The file read whole and decoded; its index quantized (trained first if need be). */
async function loadWhole({
  fs,
  path,
  entry,
  config,
  lanes,
}: SegmentToLoad): Promise<LoadedSegment> {
  const bytes = await fs.readFile(path);
  const data = decodeSegment(bytes, path);
  const fileBytes = bytes.length;
  const vectorsOffset = vectorsSectionOffset(bytes);
  checkBelongs(data, entry, config, path);
  // An onDisk collection's graph is made without its vectors (no second copy of them in
  // memory while the file's bytes are held), unless it cannot take codes.
  let index = loadIndex(data, path, lanes, config.onDisk);
  // The file's quantizer when it has one; a segment written before the collection was
  // quantized (or by an older version) is trained now, and stored by its next rewrite.
  const q = await quantizeIndex(index, config, data.quantizer, data.productCodes, data.vectors);
  if (q === undefined && index instanceof HnswIndex && !index.holdsVectors) {
    index = loadIndex(data, path, lanes);
    await quantizeIndex(index, config, data.quantizer, data.productCodes);
  }
  return { data: slotsOf(data), index, fileBytes, vectorsOffset };
}

/** The file's header names the segment, collection and dimension the manifest lists. */
function checkBelongs(
  data: SegmentParts,
  entry: ManifestSegment,
  config: CollectionConfig,
  path: string,
): void {
  // A segment taken over at a swap keeps the staging name in its header (format 1.2).
  if (
    data.segmentId !== entry.id ||
    data.collection !== (entry.collection ?? config.name) ||
    data.dimension !== config.dimension
  ) {
    throw corrupt(
      path,
      8,
      `segment header (id ${data.segmentId}, collection ${data.collection}) does not match the manifest`,
    );
  }
}
