/**
 * OnDiskVectors: the database's sealed segments whose full vectors stay in their files
 * (collections created `onDisk`), and the block cache their reads go through. When such a
 * segment is sealed, compacted or loaded, its quantized index is swapped for a copy without
 * the vectors, reading them from the file. When the file is collected it is retired, and
 * closed (its blocks forgotten) a grace period later: a scan that listed the segment before
 * a compaction replaced it (an export, a snapshot) still reads its vectors meanwhile, from
 * the unlinked file. The database's close closes every file.
 */
import { HnswIndex } from '../ann/hnsw/hnsw-index.js';
import type { FileSystem } from '../storage/io/file-system.js';
import type { BlockCacheStats } from '../storage/io/block-cache.js';
import { BlockCache } from '../storage/io/block-cache.js';
import { SegmentVectors } from '../storage/segment/segment-vectors.js';
import { vectorsSectionOffset } from '../storage/segment/segment-file.js';
import type { PointTable } from './point-table.js';
import type { CollectionConfig } from './validation.js';

/** Bytes that hold a segment file's header, collection name and section table. */
const HEAD_BYTES = 4096;

/**
 * How long a collected file stays open for readers that listed its segment: a scan reads
 * a segment in one pass, far within it. The disk space of the unlinked file comes back
 * when it closes.
 */
export const RETIRE_GRACE_MS = 5 * 60 * 1000;

/** True when the table's index should read its vectors from its file and does not yet. */
function wantsDisk(table: PointTable, config: CollectionConfig): boolean {
  const index = table.index;
  return (
    config.onDisk &&
    index instanceof HnswIndex &&
    index.quantizer !== undefined &&
    !index.vectorsOnDisk
  );
}

/** Block cache size when the options give none: 64 MiB. */
export const DEFAULT_VECTOR_CACHE_BYTES = 64 * 1024 * 1024;

export class OnDiskVectors {
  private readonly fs: FileSystem;
  private readonly cache: BlockCache;
  /** Open vector files by path. */
  private readonly files = new Map<string, SegmentVectors>();
  /** Files collected from the directory, still open for readers that listed them, by when. */
  private readonly retired: { readonly file: SegmentVectors; readonly at: number }[] = [];

  constructor(fs: FileSystem, cacheBytes: number) {
    this.fs = fs;
    this.cache = new BlockCache(cacheBytes);
  }

  /**
   * Moves the vectors of a sealed segment's table to its file `path` (the VECTORS section at
   * `offset`: segment-file.ts `vectorsSectionOffset`) when its collection is `onDisk` and its index is a quantized graph; otherwise (an exact
   * index of a small segment, a segment whose codes did not fit) it stays as it is.
   */
  async attach(
    table: PointTable,
    config: CollectionConfig,
    path: string,
    offset: number,
  ): Promise<void> {
    if (!wantsDisk(table, config)) return;
    await this.release(path);
    const handle = await this.fs.open(path, 'read');
    // The index is read after the open, and swapped without an await between: a search
    // may have replaced it (frozen for workers) while the file opened.
    const index = table.index;
    if (!wantsDisk(table, config) || !(index instanceof HnswIndex)) {
      await handle.close();
      return;
    }
    const vectors = new SegmentVectors(handle, this.cache, {
      offset,
      dimension: config.dimension,
      slots: index.slots,
    });
    this.files.set(path, vectors);
    table.swapIndex(index.withVectorsOn(vectors));
  }

  /**
   * {@link attach} for a segment already in memory (its collection was updated to `onDisk`):
   * the VECTORS section's offset is read from the file's header and section table.
   */
  async attachFile(table: PointTable, config: CollectionConfig, path: string): Promise<void> {
    if (!wantsDisk(table, config)) return;
    const handle = await this.fs.open(path, 'read');
    let head: Uint8Array;
    try {
      head = await handle.read(0, HEAD_BYTES);
    } finally {
      await handle.close();
    }
    await this.attach(table, config, path, vectorsSectionOffset(head));
  }

  /** Closes the vector file of `path`, if open (its segment went back into memory). */
  async release(path: string): Promise<void> {
    const file = this.files.get(path);
    if (file === undefined) return;
    this.files.delete(path);
    await file.close();
  }

  /**
   * The file of `path` was collected: it stays open for {@link RETIRE_GRACE_MS} for readers
   * that listed its segment, then {@link closeRetired} closes it.
   */
  retire(path: string, now = Date.now()): void {
    const file = this.files.get(path);
    if (file === undefined) return;
    this.files.delete(path);
    this.retired.push({ file, at: now });
  }

  /** Closes the retired files older than the grace period. */
  async closeRetired(now = Date.now()): Promise<void> {
    while (this.retired.length > 0 && now - this.retired[0]!.at >= RETIRE_GRACE_MS) {
      await this.retired.shift()!.file.close();
    }
  }

  /** Closes every vector file, retired ones too (the database closes). */
  async closeAll(): Promise<void> {
    const files = [...this.files.values(), ...this.retired.map((r) => r.file)];
    this.files.clear();
    this.retired.length = 0;
    await Promise.all(files.map((f) => f.close()));
  }

  /** Files open now. */
  get openFiles(): number {
    return this.files.size;
  }

  resize(cacheBytes: number): void {
    this.cache.resize(cacheBytes);
  }

  stats(): BlockCacheStats {
    return this.cache.stats();
  }
}
