/**
 * SegmentVectors: the full-precision vectors of one sealed segment file, read on demand
 * through the block cache instead of held in memory (a collection created `onDisk`). The
 * file is immutable and was checksummed whole when it was written or loaded; reads are
 * positioned and synchronous, so a search rescoring its candidates never waits for the
 * event loop (blocks come from the cache, else from the OS page cache, else the disk).
 */
import { HOST_LITTLE_ENDIAN } from '../../common/bytes.js';
import { QuiverError } from '../../common/quiver-error.js';
import type { BlockCache, CachedFile } from '../io/block-cache.js';
import type { FileHandle } from '../io/file-system.js';

export class SegmentVectors {
  readonly path: string;
  private readonly file: CachedFile;
  private readonly cache: BlockCache;
  private readonly offset: number;
  private readonly dimension: number;
  private readonly slots: number;
  private closed = false;

  /** `offset`: the VECTORS section's (segment-file.ts `vectorsSectionOffset`). */
  constructor(
    handle: FileHandle,
    cache: BlockCache,
    layout: { readonly offset: number; readonly dimension: number; readonly slots: number },
  ) {
    this.path = handle.path;
    this.file = cache.register(handle);
    this.cache = cache;
    this.offset = layout.offset;
    this.dimension = layout.dimension;
    this.slots = layout.slots;
  }

  /** Writes the vector of `slot` into `into` (dimension values). */
  readInto(slot: number, into: Float32Array): void {
    if (this.closed) {
      throw new QuiverError(
        'UNAVAILABLE',
        `the vectors of ${this.path} were closed (the segment was compacted or the database closed); search again.`,
      );
    }
    if (!(slot >= 0 && slot < this.slots) || into.length < this.dimension) {
      throw new QuiverError('INTERNAL', `slot ${slot} is outside ${this.path}; this is a bug.`);
    }
    const bytes = new Uint8Array(into.buffer, into.byteOffset, this.dimension * 4);
    this.cache.read(this.file, this.offset + slot * this.dimension * 4, bytes);
    if (!HOST_LITTLE_ENDIAN) {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < this.dimension; i++) into[i] = view.getFloat32(i * 4, true);
    }
  }

  /** Forgets the file's cached blocks and closes it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cache.forget(this.file);
    await this.file.handle.close();
  }
}
