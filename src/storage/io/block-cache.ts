/**
 * BlockCache: the database-wide cache of file blocks read on demand (the on-disk vectors of
 * sealed segments), bounded in bytes, evicting by CLOCK (second chance: a block used since
 * the hand last passed is moved to the back instead of out, so a hit costs one flag store,
 * not a reordering, and eviction approximates least recently used). A block is a fixed
 * 16 KiB of one file, read whole with one positioned read; files are immutable while they
 * are cached, so a block never goes stale, and a file that is closed is forgotten at once.
 * Capacity 0 turns caching off (every read goes to the file).
 */
import { corrupt } from '../../common/quiver-error.js';
import type { FileHandle } from './file-system.js';

/** Bytes per block: 32 vectors of 128 dimensions, 4 of 1024; one read from the page cache. */
export const BLOCK_BYTES = 16384;

/** Counters and sizes of the block cache (the server turns them into `quiver_cache_*`). */
export interface BlockCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
  readonly entries: number;
  readonly bytes: number;
  readonly capacityBytes: number;
}

/** A file registered with the cache: its handle and the number its blocks are keyed by. */
export interface CachedFile {
  readonly handle: FileHandle;
  readonly key: number;
}

/** A cached block and its CLOCK flag (set by a hit, cleared when the hand passes). */
interface Block {
  readonly bytes: Uint8Array;
  used: boolean;
}

/** Evicted buffers kept for reuse (one per miss is taken back at once). */
const SPARE_BUFFERS = 8;

/** Files per cache: keys are key × 2³² + block, which stays an exact integer below 2⁵³. */
const MAX_FILE_KEYS = 1 << 20;

export class BlockCache {
  /** Map order is the CLOCK's: the hand is at the first entry. */
  private readonly blocks = new Map<number, Block>();
  private readonly byFile = new Map<number, Set<number>>();
  /**
   * Buffers of evicted blocks, reused by the next misses: a full cache turns over a block
   * per miss, and fresh 16 KiB allocations freed at that rate leave the process's memory
   * fragmented (measured: 60 MB more resident after 7 000 misses).
   */
  private readonly spare: Uint8Array[] = [];
  /** The one buffer of reads that are not kept (capacity under a block). */
  private scratch: Uint8Array | undefined;
  private capacity: number;
  private held = 0;
  private nextKey = 1;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(capacityBytes: number) {
    this.capacity = capacityBytes;
  }

  /** Registers an open file; its blocks are keyed by the number returned with it. */
  register(handle: FileHandle): CachedFile {
    // Keys wrap after a million files; one whose blocks are still cached is skipped.
    let key = this.nextKey;
    while (this.byFile.has(key)) key = key >= MAX_FILE_KEYS - 1 ? 1 : key + 1;
    this.nextKey = key >= MAX_FILE_KEYS - 1 ? 1 : key + 1;
    return { handle, key };
  }

  /** Drops a file's blocks (it is being closed: its key may be reused later). */
  forget(file: CachedFile): void {
    const keys = this.byFile.get(file.key);
    if (keys === undefined) return;
    for (const k of keys) this.drop(k);
    this.byFile.delete(file.key);
  }

  /**
   * Fills `target` with the file's bytes from `position`, block by block from the cache,
   * reading the blocks it lacks. Throws (naming the file) when the file is shorter.
   */
  read(file: CachedFile, position: number, target: Uint8Array): void {
    let done = 0;
    while (done < target.length) {
      const at = position + done;
      const block = Math.floor(at / BLOCK_BYTES);
      const inBlock = at - block * BLOCK_BYTES;
      const bytes = this.block(file, block);
      const n = Math.min(target.length - done, bytes.length - inBlock);
      if (n <= 0) {
        // The file was checked whole when it was loaded: it has been cut since.
        const end = block * BLOCK_BYTES + bytes.length;
        throw corrupt(
          file.handle.path,
          end,
          `the file ends at byte ${end} but a read needed byte ${at}`,
        );
      }
      target.set(bytes.subarray(inBlock, inBlock + n), done);
      done += n;
    }
  }

  /** Sets the capacity, evicting down to it at once. */
  resize(capacityBytes: number): void {
    this.capacity = capacityBytes;
    this.evictTo(capacityBytes);
  }

  stats(): BlockCacheStats {
    return {
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
      entries: this.blocks.size,
      bytes: this.held,
      capacityBytes: this.capacity,
    };
  }

  /** One block, from the cache or read now (and kept when the capacity allows). */
  private block(file: CachedFile, block: number): Uint8Array {
    const key = file.key * 0x1_0000_0000 + block;
    const cached = this.blocks.get(key);
    if (cached !== undefined) {
      this.hits++;
      cached.used = true;
      return cached.bytes;
    }
    this.misses++;
    const keep = this.capacity >= BLOCK_BYTES;
    if (keep) this.evictTo(this.capacity - BLOCK_BYTES);
    const buf = keep
      ? (this.spare.pop() ?? new Uint8Array(BLOCK_BYTES))
      : (this.scratch ??= new Uint8Array(BLOCK_BYTES));
    const n = file.handle.readSync(block * BLOCK_BYTES, buf);
    // The last block of a file is short: a view of the read part.
    const bytes = n === BLOCK_BYTES ? buf : buf.subarray(0, n);
    if (keep) {
      this.blocks.set(key, { bytes, used: false });
      this.held += bytes.length;
      let keys = this.byFile.get(file.key);
      if (keys === undefined) this.byFile.set(file.key, (keys = new Set()));
      keys.add(key);
    }
    return bytes;
  }

  private evictTo(limit: number): void {
    // Each pass clears the flags it meets, so the hand evicts within two turns.
    while (this.held > limit) {
      const first = this.blocks.entries().next();
      if (first.done === true) return;
      const [key, block] = first.value;
      if (block.used) {
        block.used = false;
        this.blocks.delete(key);
        this.blocks.set(key, block);
        continue;
      }
      this.drop(key);
      this.evictions++;
    }
  }

  private drop(key: number): void {
    const block = this.blocks.get(key);
    if (block === undefined) return;
    const bytes = block.bytes;
    this.blocks.delete(key);
    this.held -= bytes.length;
    if (this.spare.length < SPARE_BUFFERS) this.spare.push(new Uint8Array(bytes.buffer));
    this.byFile.get(Math.floor(key / 0x1_0000_0000))?.delete(key);
  }
}
