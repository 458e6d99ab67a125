/**
 * OnDiskVectors: the database's sealed segments whose full vectors stay in their files
 * (collections created `onDisk`), and the block cache their reads go through. When such a
 * segment is sealed, compacted or loaded, its quantized index is swapped for a copy without
 * the vectors, reading them from the file; when the file is collected or the database
 * closes, the file is closed and its blocks forgotten.
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

/** Block cache size when the options give none: 64 MiB. */
export const DEFAULT_VECTOR_CACHE_BYTES = 64 * 1024 * 1024;

export class OnDiskVectors {
  private readonly fs: FileSystem;
  private readonly cache: BlockCache;
  /** Open vector files by path. */
  private readonly files = new Map<string, SegmentVectors>();

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
    const index = table.index;
    if (!config.onDisk || !(index instanceof HnswIndex) || index.quantizer === undefined) return;
    if (index.vectorsOnDisk) return;
    await this.release(path);
    const handle = await this.fs.open(path, 'read');
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
    const index = table.index;
    if (!config.onDisk || !(index instanceof HnswIndex) || index.quantizer === undefined) return;
    if (index.vectorsOnDisk) return;
    const handle = await this.fs.open(path, 'read');
    let head: Uint8Array;
    try {
      head = await handle.read(0, HEAD_BYTES);
    } finally {
      await handle.close();
    }
    await this.attach(table, config, path, vectorsSectionOffset(head));
  }

  /** Closes the vector file of `path`, if open (the file was collected). */
  async release(path: string): Promise<void> {
    const file = this.files.get(path);
    if (file === undefined) return;
    this.files.delete(path);
    await file.close();
  }

  /** Closes every vector file (the database closes). */
  async closeAll(): Promise<void> {
    const files = [...this.files.values()];
    this.files.clear();
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
