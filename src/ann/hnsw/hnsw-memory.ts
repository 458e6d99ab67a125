/**
 * HnswMemory: the layout of one HNSW graph inside its own WebAssembly instance's linear
 * memory (one instance per index, so indexes never share or free memory), its growth by
 * relocation, and typed views over it. The AssemblyScript core reads the same regions.
 *
 * A private memory (an index that grows) has the regions below, in address order (each
 * 16-byte aligned); per-slot regions scale with capacity. A shared memory (a frozen index
 * that worker threads search) puts the graph regions (levels .. upper) first, then one
 * scratch block (query .. allow) per worker lane, then the owner's scratch last, so that
 * only the owner's scratch ever moves. A graph that grew in a shared memory (private
 * layout) is frozen in place instead: the lanes' blocks go past its end, and from then on
 * the owner's scratch moves to a new block at the end whenever it must grow.
 *   query  dim × f32            scratch: the query of the running search
 *   vec    dim × f32            scratch: a vector read from disk, to rescore (on-disk vectors)
 *   qcode  qcodeBytes           scratch: the query's codes or distance table (quantized search)
 *   out    poolCap × (f32, i32) scratch: results, ascending by distance
 *   pool   poolCap × (f32, i32) scratch: beam / result heap
 *   sel    (1+m0)² × (f32, i32) scratch: neighbour selection and repair candidates
 *   heap   heapCap × (f32, i32) scratch: candidate heap of filtered search (0 until used)
 *   visited cap × u16           epoch marks; a new search bumps the epoch (O(1) reset)
 *   allow  cap × u8             scratch: admitted ids of a filtered search
 *   levels cap × u8             top level of each slot
 *   flags  cap × u8             FLAG_* bits
 *   upperOff cap × u32          byte offset of a slot's upper-level lists inside `upper`
 *   links0 cap × (1+m0) × i32   level-0 lists: count, then ids
 *   vecs   cap × dim × f32      vectors (0 bytes when they live on disk: see `holdsVectors`)
 *   codes  header + cap rows    codes (quantizer.ts; 0 bytes until quantized)
 *   upper  upperCap bytes       level 1.. lists, (1+m) × i32 per level, bump-allocated
 * A frozen graph quantized after it was frozen gets its codes region past its end instead
 * (the graph regions cannot move under the workers).
 */
import { QuiverError } from '../../common/quiver-error.js';
import type { MetricName } from '../../common/types.js';
import type { QuiverWasmExports } from '../../kernels/wasm-module.js';
import type { CodeParams } from '../quantizer.js';
import { bindCodes, headerBytes, queryScratchBytes } from '../quantizer.js';

/** Slot holds a vector (set with FLAG_ALLOCATED). @internal */
export const FLAG_PRESENT = 1;
/** Slot is a tombstone: traversed, never returned, unlinked by repair. @internal */
export const FLAG_DELETED = 2;
/** Slot has a level and an upper block (kept when repair frees it, reused on re-add). @internal */
export const FLAG_ALLOCATED = 4;
/**
 * Slot holds a vector staged for the graph: stored, not linked, found only by an exact scan
 * of staged slots (no other bit is set). @internal
 */
export const FLAG_STAGED = 8;
/** flags value of a live node. @internal */
export const LIVE = FLAG_PRESENT | FLAG_ALLOCATED;

const PAGE = 65536;
const MAX_BYTES = 65536 * PAGE;

const align16 = (n: number): number => (n + 15) & ~15;

/** Byte offsets of one thread's search scratch, and its sizes in entries. @internal */
export interface ScratchRegions {
  readonly query: number;
  readonly vec: number;
  readonly qcode: number;
  readonly out: number;
  readonly pool: number;
  readonly sel: number;
  readonly heap: number;
  readonly visited: number;
  readonly allow: number;
  readonly poolCap: number;
  readonly heapCap: number;
}

/** Byte offsets of the regions: the owner's scratch, the graph, the lanes. @internal */
export interface HnswRegions extends ScratchRegions {
  readonly levels: number;
  readonly flags: number;
  readonly upperOff: number;
  readonly links0: number;
  readonly vecs: number;
  readonly codes: number;
  readonly upper: number;
  /** Worker lanes' scratch (shared memory only). */
  readonly lanes: readonly ScratchRegions[];
  readonly end: number;
}

interface Sizes {
  readonly cap: number;
  readonly upperCap: number;
  readonly poolCap: number;
  readonly heapCap: number;
  /** Bytes of one slot's code row; 0 when the index is not quantized. */
  readonly codeStride: number;
  /** Bytes of the codes region's header; 0 when the index is not quantized. */
  readonly codeHeader: number;
  /** Bytes of each query scratch (a product quantizer's table needs more than the default). */
  readonly qcodeBytes: number;
}

/** Worker lanes of a shared memory: how many, and their fixed beam and heap sizes. @internal */
export interface LaneSizes {
  readonly count: number;
  readonly poolCap: number;
  readonly heapCap: number;
}

/** What an index is built from: its options, and after a load its generator state and size. @internal */
export interface HnswState {
  readonly dimension: number;
  readonly metric: MetricName;
  readonly m: number;
  readonly efConstruction: number;
  readonly efSearch: number;
  readonly seed: number;
  readonly repairThreshold: number;
  readonly rng: number;
  readonly slots: number;
  readonly upperBytes: number;
  readonly capacity: number;
  /** Worker lanes: builds a frozen index in shared memory (see `HnswIndex.deserialize`). */
  readonly lanes?: number;
  /** Grow in shared memory (lanes added later by `HnswIndex.toShared`, without a copy). */
  readonly sharedMemory?: boolean;
  /**
   * False for an index whose full vectors live outside its memory (a segment file read on
   * demand): its `vecs` region is empty and the core only ever walks its codes. Default true.
   */
  readonly holdsVectors?: boolean;
}

/** The memory of one HNSW index. @internal */
export class HnswMemory {
  readonly wasm: QuiverWasmExports;
  readonly dim: number;
  readonly m: number;
  readonly m0: number;
  /** Bytes of one level-0 list: (1 + m0) × 4. */
  readonly stride0: number;
  /** Bytes of one upper-level list: (1 + m) × 4. */
  readonly strideU: number;
  private sizes: Sizes;
  private base: number;
  /** Set once the graph is frozen for worker lanes; it can then no longer grow. */
  private lanes_: LaneSizes | undefined;
  regions: HnswRegions;
  /** Bytes of `upper` handed out so far. */
  upperUsed = 0;
  /** The quantizer's parameters once the index is quantized. */
  private codeParams: CodeParams | undefined;
  /** Bytes of one slot's vector in the `vecs` region: dim × 4, or 0 (vectors on disk). */
  readonly vecStride: number;
  u8!: Uint8Array;
  i32!: Int32Array;
  u32!: Uint32Array;
  f32!: Float32Array;

  constructor(
    wasm: QuiverWasmExports,
    dim: number,
    m: number,
    metricIp: boolean,
    capacity: number,
    upperCap: number,
    poolCap: number,
    lanes?: LaneSizes,
    holdsVectors = true,
  ) {
    this.wasm = wasm;
    this.vecStride = holdsVectors ? dim * 4 : 0;
    this.lanes_ = lanes;
    this.dim = dim;
    this.m = m;
    this.m0 = 2 * m;
    this.stride0 = (1 + this.m0) * 4;
    this.strideU = (1 + m) * 4;
    this.base = align16(wasm.heapBase());
    wasm.setParams(dim, metricIp ? 1 : 0, m, this.m0);
    this.sizes = {
      cap: Math.max(1, capacity),
      upperCap,
      poolCap,
      heapCap: 0,
      codeStride: 0,
      codeHeader: 0,
      qcodeBytes: queryScratchBytes(dim),
    };
    this.regions = this.layout(this.sizes);
    this.growTo(this.regions.end);
    this.refreshViews();
    this.publish();
  }

  get capacity(): number {
    return this.sizes.cap;
  }

  get poolCapacity(): number {
    return this.sizes.poolCap;
  }

  get heapCapacity(): number {
    return this.sizes.heapCap;
  }

  /** The quantizer's parameters, once {@link quantize} gave them. */
  get codes(): CodeParams | undefined {
    return this.codeParams;
  }

  /** Bytes of the codes region (0 when not quantized). */
  get codeBytes(): number {
    return this.codeRegionBytes(this.sizes);
  }

  /** The codes region's size: the header, then `cap` rows of `codeStride` bytes. */
  private codeRegionBytes(s: Pick<Sizes, 'cap' | 'codeStride' | 'codeHeader'>): number {
    return s.codeStride === 0 ? 0 : s.codeHeader + s.cap * s.codeStride;
  }

  /**
   * Gives the index an int8 codes region (zeroed; the caller encodes into it) and the
   * quantizer the core encodes queries with. A private graph is laid out again with the
   * region in place; a frozen one gets it past its end.
   */
  quantize(params: CodeParams): void {
    const s = this.sizes;
    const codes = {
      codeStride: params.stride,
      codeHeader: headerBytes(params),
      qcodeBytes: Math.max(s.qcodeBytes, params.queryBytes),
    };
    // The region first: a growth past the memory limit throws before anything is set.
    if (
      s.codeStride !== codes.codeStride ||
      s.codeHeader !== codes.codeHeader ||
      s.qcodeBytes !== codes.qcodeBytes
    ) {
      this.makeCodeRegion(codes);
    }
    this.codeParams = params;
    let at = this.regions.codes;
    for (const a of params.header) {
      this.f32.set(a, at >> 2);
      at += align16(a.length * 4);
    }
    this.publish();
  }

  /**
   * Lays the codes region out: in place in a private graph, past the end of a frozen one.
   * A frozen graph whose query scratch must grow (a product quantizer's table) gets new
   * scratch blocks past its end too: lanes that still search through the old handle keep
   * the old ones.
   */
  private makeCodeRegion(codeSizes: Pick<Sizes, 'codeStride' | 'codeHeader' | 'qcodeBytes'>): void {
    if (this.lanes_ === undefined) {
      this.relayout({ ...this.sizes, ...codeSizes });
      return;
    }
    const next = { ...this.sizes, ...codeSizes };
    const take = this.allocator(this.regions.end);
    const codes = take(this.codeRegionBytes(next));
    const codesEnd = take(0);
    const lanes = this.lanes_;
    const scratch =
      next.qcodeBytes === this.sizes.qcodeBytes
        ? undefined
        : {
            lanes: Array.from({ length: lanes.count }, () =>
              this.scratchBlock(take, next, lanes.poolCap, lanes.heapCap),
            ),
            own: this.scratchBlock(take, next, next.poolCap, next.heapCap),
          };
    const end = take(0);
    this.growTo(end);
    this.refreshViews();
    this.u8.fill(0, codes, codesEnd);
    this.sizes = next;
    this.regions = {
      ...this.regions,
      ...(scratch === undefined ? {} : { ...scratch.own, lanes: scratch.lanes }),
      codes,
      end,
    };
  }

  /** The worker lanes once the graph is frozen for them. */
  get laneSizes(): LaneSizes | undefined {
    return this.lanes_;
  }

  /** True once the graph is frozen in shared memory with worker lanes. */
  get shared(): boolean {
    return this.lanes_ !== undefined;
  }

  /** True when the memory itself is shared (it can be frozen in place, without a copy). */
  get sharedBuffer(): boolean {
    return this.wasm.memory.buffer instanceof SharedArrayBuffer;
  }

  /**
   * Freezes a graph that grew in shared memory where it lies, adding the lanes' scratch
   * blocks past the end: no copy. From then on only the owner's scratch moves (to the end).
   */
  freeze(lanes: LaneSizes): void {
    if (this.lanes_ !== undefined) return;
    if (!this.sharedBuffer) {
      throw new QuiverError(
        'INVALID_ARGUMENT',
        'only an index in shared memory can be frozen in place.',
      );
    }
    const take = this.allocator(this.regions.end);
    const blocks: ScratchRegions[] = [];
    for (let i = 0; i < lanes.count; i++) {
      blocks.push(this.scratchBlock(take, this.sizes, lanes.poolCap, lanes.heapCap));
    }
    const end = take(0);
    this.growTo(end);
    this.refreshViews();
    this.lanes_ = lanes;
    this.regions = { ...this.regions, lanes: blocks, end };
  }

  /** A bump allocator of 16-byte aligned regions from `start`; take(0) is the end so far. */
  private allocator(start: number): (bytes: number) => number {
    let at = align16(start);
    return (bytes) => {
      const begin = at;
      at = align16(at + bytes);
      return begin;
    };
  }

  /** One thread's search scratch, taken from `take`. */
  private scratchBlock(
    take: (bytes: number) => number,
    s: Pick<Sizes, 'cap' | 'qcodeBytes'>,
    poolCap: number,
    heapCap: number,
  ): ScratchRegions {
    const cap = s.cap;
    return {
      query: take(this.dim * 4),
      vec: take(this.dim * 4),
      qcode: take(s.qcodeBytes),
      out: take(poolCap * 8),
      pool: take(poolCap * 8),
      sel: take((1 + this.m0) * (1 + this.m0) * 8),
      heap: take(heapCap * 8),
      visited: take(cap * 2),
      allow: take(cap),
      poolCap,
      heapCap,
    };
  }

  /** Bytes of linear memory held by this index's instance. */
  get byteLength(): number {
    return this.wasm.memory.buffer.byteLength;
  }

  private layout(s: Sizes): HnswRegions {
    const take = this.allocator(this.base);
    const graph = (): Omit<HnswRegions, keyof ScratchRegions | 'lanes' | 'end'> => ({
      levels: take(s.cap),
      flags: take(s.cap),
      upperOff: take(s.cap * 4),
      links0: take(s.cap * this.stride0),
      vecs: take(s.cap * this.vecStride),
      codes: take(this.codeRegionBytes(s)),
      upper: take(s.upperCap),
    });
    const lanes = this.lanes_;
    if (lanes === undefined) {
      const own = this.scratchBlock(take, s, s.poolCap, s.heapCap);
      return { ...own, ...graph(), lanes: [], end: take(0) };
    }
    const g = graph();
    const laneRegions: ScratchRegions[] = [];
    for (let i = 0; i < lanes.count; i++) {
      laneRegions.push(this.scratchBlock(take, s, lanes.poolCap, lanes.heapCap));
    }
    const own = this.scratchBlock(take, s, s.poolCap, s.heapCap);
    return { ...own, ...g, lanes: laneRegions, end: take(0) };
  }

  private growTo(bytes: number): void {
    if (bytes > MAX_BYTES) {
      throw new QuiverError(
        'INVALID_ARGUMENT',
        `HNSW index would need ${bytes} bytes, over the 4 GiB WebAssembly memory limit of one index; split the data into more segments.`,
        { expected: MAX_BYTES, received: bytes },
      );
    }
    const have = this.wasm.memory.buffer.byteLength;
    if (bytes > have) this.wasm.memory.grow(Math.ceil((bytes - have) / PAGE));
  }

  /** Re-creates the typed views (after memory growth detached the old buffer). */
  refreshViews(): void {
    const buf = this.wasm.memory.buffer;
    this.u8 = new Uint8Array(buf);
    this.i32 = new Int32Array(buf);
    this.u32 = new Uint32Array(buf);
    this.f32 = new Float32Array(buf);
  }

  private publish(): void {
    const r = this.regions;
    this.wasm.setRegions(
      this.sizes.cap,
      r.vecs,
      r.links0,
      r.levels,
      r.flags,
      r.upperOff,
      r.upper,
      r.visited,
      r.allow,
      r.pool,
      r.sel,
      r.heap,
      this.sizes.heapCap,
      r.query,
      r.out,
    );
    const c = this.codeParams;
    if (c !== undefined) bindCodes(this.wasm, r.codes, r.qcode, c);
  }

  /**
   * Moves to larger sizes. Preserved regions move up (new offsets are never lower, so
   * moving from the last region down never overwrites unmoved data), then their new tails
   * are zeroed; scratch regions start blank.
   */
  private relayout(next: Sizes): void {
    if (this.lanes_ !== undefined) {
      // Frozen: the graph and the lanes stay where the workers read them; the owner's
      // scratch (only its sizes can change here) moves to a new block at the end.
      const take = this.allocator(this.regions.end);
      const own = this.scratchBlock(take, next, next.poolCap, next.heapCap);
      const end = take(0);
      this.growTo(end);
      this.refreshViews();
      this.sizes = next;
      this.regions = { ...this.regions, ...own, end };
      this.publish();
      return;
    }
    const old = this.regions;
    const oldSizes = this.sizes;
    const nr = this.layout(next);
    this.growTo(nr.end);
    this.refreshViews();
    const u8 = this.u8;
    // Codes of another layout (the index quantized again) are not kept: the caller encodes
    // them anew, and the old rows could be longer than the new region.
    const sameCodes =
      oldSizes.codeStride === next.codeStride && oldSizes.codeHeader === next.codeHeader;
    const keptCodes = sameCodes ? this.codeRegionBytes(oldSizes) : 0;
    const keep: Array<[number, number, number, number]> = [
      [old.levels, nr.levels, oldSizes.cap, next.cap],
      [old.flags, nr.flags, oldSizes.cap, next.cap],
      [old.upperOff, nr.upperOff, oldSizes.cap * 4, next.cap * 4],
      [old.links0, nr.links0, oldSizes.cap * this.stride0, next.cap * this.stride0],
      [old.vecs, nr.vecs, oldSizes.cap * this.vecStride, next.cap * this.vecStride],
      [old.codes, nr.codes, keptCodes, this.codeRegionBytes(next)],
      [old.upper, nr.upper, this.upperUsed, next.upperCap],
    ];
    for (let i = keep.length - 1; i >= 0; i--) {
      const [from, to, used] = keep[i]!;
      if (from !== to) u8.copyWithin(to, from, from + used);
    }
    for (const [, to, used, size] of keep) u8.fill(0, to + used, to + size);
    this.sizes = next;
    this.regions = nr;
    this.publish();
  }

  /** A shared memory's graph is frozen: workers read it without locks. */
  private refuseGrowth(what: string): void {
    if (this.shared) {
      throw new QuiverError(
        'INVALID_ARGUMENT',
        `this HNSW index is shared with search threads and frozen; it cannot ${what}. Build a new index instead.`,
      );
    }
  }

  /** Makes room for slots [0, slots). Grows by half again at least. */
  ensureCapacity(slots: number): void {
    if (slots <= this.sizes.cap) return;
    this.refuseGrowth('take more points');
    const cap = Math.max(slots, Math.ceil(this.sizes.cap * 1.5), 64);
    this.relayout({ ...this.sizes, cap });
  }

  /** Makes the beam and result scratch hold `ef` entries. */
  ensurePool(ef: number): void {
    if (ef <= this.sizes.poolCap) return;
    this.relayout({ ...this.sizes, poolCap: Math.max(ef, this.sizes.poolCap * 2) });
  }

  /** Sizes the filtered-search candidate heap (first filtered search, or a larger ef). */
  ensureHeap(ef: number): void {
    const want = Math.min(Math.max(this.sizes.cap, 1), Math.max(65536, ef * 64));
    if (want <= this.sizes.heapCap) return;
    this.relayout({ ...this.sizes, heapCap: want });
  }

  /** Reserves `bytes` in the upper-level pool and returns their offset inside it. */
  allocUpper(bytes: number): number {
    if (this.upperUsed + bytes > this.sizes.upperCap) {
      this.refuseGrowth('grow its upper levels');
      const upperCap = Math.max(this.upperUsed + bytes, Math.ceil(this.sizes.upperCap * 1.5), 1024);
      this.relayout({ ...this.sizes, upperCap });
    }
    const at = this.upperUsed;
    this.upperUsed += bytes;
    return at;
  }
}
