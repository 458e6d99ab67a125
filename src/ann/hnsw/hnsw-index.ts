/**
 * HnswIndex: the VectorIndex over an HNSW graph (Malkov & Yashunin) whose vectors, links and
 * search loop live in WebAssembly (src/kernels/as/hnsw.ts), one instance per index (layout:
 * hnsw-memory.ts); this class owns options, levels, growth, tombstones and the API.
 */
import { QuiverError, invalidArgument } from '../../common/quiver-error.js';
import type { Steps } from '../../common/steps.js';
import { runSteps } from '../../common/steps.js';
import type { MetricName } from '../../common/types.js';
import type { QuiverWasmExports } from '../../kernels/wasm-module.js';
import {
  createSharedMemory,
  instantiateQuiverWasm,
  instantiateSharedQuiverWasm,
  loadSharedWasmModule,
  loadWasmModule,
  sharedWasmLoadFailure,
  wasmLoadFailure,
} from '../../kernels/wasm-module.js';
import type { Quantizer } from '../quantizer.js';
import { checkQuantizer, codeParams, coreCodes, headerBytes } from '../quantizer.js';
import { subspacesOf } from '../product-quantizer.js';
import type { LanePlan, ShareableIndex } from '../shareable-index.js';
import type {
  IndexSearchOptions,
  IndexSearchResult,
  QuantizedSearch,
  StagingIndex,
  VectorRows,
  VectorSource,
} from '../vector-index.js';
import { TopK } from '../top-k.js';
import { decodeHnsw, encodeHnsw } from './hnsw-codec.js';
import type { HnswHeader, HnswVectors } from './hnsw-codec.js';
import type { ScanRange, SharedHnswHandle } from './hnsw-lane.js';
import {
  MODE_ALLOW,
  MODE_CALLBACK,
  MODE_PLAIN,
  MODE_TOMBSTONES,
  SCAN_LIVE,
  searchInWasm,
} from './hnsw-lane.js';
import type { HnswState, LaneSizes } from './hnsw-memory.js';
import { FLAG_ALLOCATED, FLAG_DELETED, FLAG_STAGED, HnswMemory, LIVE } from './hnsw-memory.js';

/** Options of {@link createHnswIndex}. */
export interface HnswOptions {
  /** Vector length, 1..65536. */
  readonly dimension: number;
  /** cosine (vectors arrive normalised) and dot score by dot product; euclid by squared L2. */
  readonly metric: MetricName;
  /** Links per node on upper levels; level 0 keeps 2·m. Higher = better recall, more memory. Default 16. */
  readonly m?: number;
  /** Beam width while inserting. Higher = better graph, slower build. Default 200. */
  readonly efConstruction?: number;
  /** Default beam width of a search (raised to k when smaller). Higher = better recall, slower. Default 64. */
  readonly efSearch?: number;
  /** Slots reserved up front; the index grows by half again when an id is past it. Default 1024. */
  readonly capacity?: number;
  /** Seed of the level generator, so a build is reproducible. Default 100 (hnswlib's). */
  readonly seed?: number;
  /**
   * Grow in shared WebAssembly memory, so that {@link HnswIndex.toShared} later freezes the
   * graph for worker threads in place instead of copying it. Default false.
   */
  readonly sharedMemory?: boolean;
  /**
   * Share of tombstones among live points at which {@link HnswIndex.remove} repairs the graph
   * (re-links neighbours of deleted nodes and frees them). Default 0.1.
   */
  readonly repairThreshold?: number;
}

/** A counter snapshot for stats and explain. */
export interface HnswStats {
  readonly slots: number;
  readonly live: number;
  readonly tombstones: number;
  readonly entry: number;
  readonly maxLevel: number;
  readonly memoryBytes: number;
}

/**
 * Candidates rescored per result by default (`quantization.oversampling`). int8: with 2,
 * recall after rescoring matched the float walk's at the same ef on SIFT, bge-m3 and 200k
 * clustered points; 1 (rescoring only the k found) lost 0.03-0.06 of recall@10. Binary:
 * the bits rank coarsely, and the rescored share sets recall (bge-m3, one bit, recall@10:
 * 0.85 with 2, 0.95 with 4, whatever the ef). Product x16: with 2, recall matched the float
 * walk's at the same ef (SIFT 0.952 vs 0.968, bge-m3 0.976 vs 0.968); 4 reached 0.99 at
 * 0.6-0.8 × the QPS of 2. Coarser compressions (x32, x64) want more.
 */
/** How {@link HnswIndex.deserialize} makes an index of a blob. */
export interface DeserializeOptions {
  readonly lanes?: number;
  readonly sharedMemory?: boolean;
  /**
   * The vectors of a blob that carries none (format 2): a segment's VECTORS section,
   * whole or streamed in slot order; or 'on-disk': the index is made without them
   * (quantize it with them, then {@link HnswIndex.withVectorsOn} its file).
   */
  readonly vectors?: HnswVectors;
  /** The caller verified a checksum over `bytes` (a segment section's): skip the blob's. */
  readonly checksummed?: boolean;
}

/** Slots of streamed vectors copied per step of deserializing (1 MiB at 1024 dimensions). */
const ROWS_STEP = 256;

const DEFAULT_OVERSAMPLING = { scalar: 2, binary: 4, product: 2 } as const;

/**
 * Slots encoded per step of quantizing(): about 30 ms of product codes at x4 (the slowest
 * encoding, ~130 µs a 128-d vector), far less for the others.
 */
const ENCODE_STEP = 256;

/** A lane's beam holds at least this many entries (larger ef searches stay on the owner). */
const LANE_MIN_EF = 512;

let nextHandleId = 1;

/** An index without its vectors is quantized from the vectors its caller gives. */
function checkGiven(vectors: Float32Array | VectorRows | undefined, values: number): void {
  if (vectors === undefined || (vectors instanceof Float32Array && vectors.length < values)) {
    throw new QuiverError(
      'INTERNAL',
      'an index without its vectors needs them given to be quantized; this is a bug.',
    );
  }
}

/** The answer of a search that has nothing to search. */
function noResult(): IndexSearchResult {
  return { ids: [], scores: [], visited: 0, distanceComputations: 0 };
}

const METRIC_CODES: Readonly<Record<MetricName, number>> = { euclid: 0, cosine: 1, dot: 2 };

function checkInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalidArgument(`${name} must be an integer from ${min} to ${max}, got ${value}.`, {
      field: name,
      received: value,
    });
  }
  return value;
}

function requireWasm(admit: (id: number) => number, shared: boolean): QuiverWasmExports {
  if (shared) {
    const wasm = instantiateSharedQuiverWasm(createSharedMemory(0), admit);
    if (wasm === undefined) {
      throw new QuiverError(
        'UNAVAILABLE',
        `A shared HNSW index needs the shared-memory WebAssembly module: ${sharedWasmLoadFailure()}.`,
      );
    }
    return wasm;
  }
  const wasm = instantiateQuiverWasm(admit);
  if (wasm === undefined) {
    throw new QuiverError(
      'UNAVAILABLE',
      `The HNSW index needs its WebAssembly module: ${wasmLoadFailure()}. Use an exact index meanwhile.`,
    );
  }
  return wasm;
}

/** The HNSW VectorIndex. Make one with {@link createHnswIndex} or {@link HnswIndex.deserialize}. */
export class HnswIndex implements StagingIndex, ShareableIndex {
  readonly kind = 'hnsw';
  readonly dimension: number;
  readonly metric: MetricName;
  /** Upper-level links per node (level 0 keeps 2·m). */
  readonly m: number;
  readonly efConstruction: number;
  private efSearch_: number;
  readonly repairThreshold: number;
  private readonly seed: number;
  private rng: number;
  private readonly levelMult: number;
  /** @internal */
  readonly mem: HnswMemory;
  private readonly wasm: QuiverWasmExports;
  private filterFn: ((id: number) => boolean) | undefined;
  private slots_ = 0;
  private live_ = 0;
  private tombstones_ = 0;
  /** Slots holding a staged vector (stored, not yet linked). */
  private staged_ = 0;
  private handle_: SharedHnswHandle | undefined;
  private quantizer_: Quantizer | undefined;
  /** Where the full vectors are read when they are not in memory (see {@link withVectorsOn}). */
  private source_: VectorSource | undefined;

  /** @internal Use {@link createHnswIndex} or {@link HnswIndex.deserialize}. */
  constructor(state: HnswState) {
    this.dimension = state.dimension;
    this.metric = state.metric;
    this.m = state.m;
    this.efConstruction = state.efConstruction;
    this.efSearch_ = state.efSearch;
    this.seed = state.seed;
    this.repairThreshold = state.repairThreshold;
    this.rng = state.rng;
    this.levelMult = 1 / Math.log(state.m);
    const lanes = state.lanes ?? 0;
    this.wasm = requireWasm(
      (id) => (this.filterFn?.(id) === true ? 1 : 0),
      lanes > 0 || state.sharedMemory === true,
    );
    const upperCap =
      state.upperBytes > 0
        ? state.upperBytes
        : Math.ceil((state.capacity * (1 + state.m) * 4 * 1.25) / (state.m - 1)) + 1024;
    this.mem = new HnswMemory(
      this.wasm,
      state.dimension,
      state.m,
      state.metric !== 'euclid',
      state.capacity,
      upperCap,
      Math.max(state.efConstruction, state.efSearch),
      lanes > 0 ? laneSizes(lanes, state.capacity, state.efSearch) : undefined,
      state.holdsVectors !== false,
    );
    this.slots_ = state.slots;
  }

  private checkDimension(what: 'vector' | 'query', values: Float32Array): void {
    if (values.length !== this.dimension) {
      throw new QuiverError(
        'DIMENSION_MISMATCH',
        `${what} has ${values.length} values, the index expects ${this.dimension}.`,
        { expected: this.dimension, received: values.length },
      );
    }
  }

  /** True when the index's memory is shared (it can be handed to workers without a copy). */
  get sharedBuffer(): boolean {
    return this.mem.sharedBuffer;
  }

  /** True when the index lives in shared memory for worker lanes (and is frozen). */
  get shared(): boolean {
    return this.mem.shared;
  }

  /**
   * This index frozen in shared memory with `lanes` worker lanes, for {@link sharedHandle}.
   * An index that grew in shared memory (`sharedMemory`) is frozen in place and returned;
   * else a copy is made, region by region (no re-encoding, no checks), tombstones kept.
   */
  toShared(lanes: number): HnswIndex {
    checkInt('lanes', lanes, 1, 64);
    if (this.mem.shared) return this;
    // Vectors on disk: the lanes walk the shared codes, and this thread rescores their
    // candidates from the file (finishLane).
    if (this.source_ !== undefined) return this.copy(lanes, true, this.source_);
    if (this.staged_ > 0) {
      throw new QuiverError(
        'INTERNAL',
        `${this.staged_} staged vectors are not in the graph yet; commit them before sharing. This is a bug.`,
      );
    }
    if (this.mem.sharedBuffer) {
      // Grew in shared memory: freeze it where it lies.
      this.mem.freeze(laneSizes(lanes, this.mem.capacity, this.efSearch_));
      return this;
    }
    return this.copy(lanes, false);
  }

  /**
   * An independent copy of this index (a compaction grows it while searches go on here),
   * in the same kind of memory, without re-encoding: region by region, tombstones kept. The
   * copy of an index with its vectors on disk holds them in memory: it is made to grow.
   */
  clone(): HnswIndex {
    if (this.staged_ > 0) {
      throw new QuiverError(
        'INTERNAL',
        `${this.staged_} staged vectors: commit them before cloning. This is a bug.`,
      );
    }
    return this.copy(0, this.mem.sharedBuffer);
  }

  /**
   * A copy of this quantized index without its full vectors: the graph and the codes stay
   * in memory, and `source` (its segment file) supplies the vectors that rescoring, exact
   * scans and {@link vector} read. It is frozen: it takes no vectors, is never repaired
   * (tombstones stay until the segment is rewritten, as in a shared index) and is searched
   * on the calling thread, which reads the file.
   */
  withVectorsOn(source: VectorSource): HnswIndex {
    if (this.quantizer_ === undefined) {
      throw invalidArgument('only a quantized index can leave its vectors on disk.');
    }
    if (this.staged_ > 0) {
      throw new QuiverError(
        'INTERNAL',
        `${this.staged_} staged vectors: commit them before moving the vectors out. This is a bug.`,
      );
    }
    if (!this.holdsVectors && this.source_ === undefined && !this.mem.shared) {
      // Loaded without its vectors (deserialize with 'on-disk'): nothing to leave behind,
      // so the source is set here instead of on a copy of the graph and codes.
      this.source_ = source;
      this.handle_ = undefined;
      return this;
    }
    return this.copy(0, false, source);
  }

  /** False for an index made without room for its vectors (they live in a file). */
  get holdsVectors(): boolean {
    return this.mem.vecStride > 0;
  }

  /** True when the full vectors are read from a {@link VectorSource}, not held in memory. */
  get vectorsOnDisk(): boolean {
    return this.source_ !== undefined;
  }

  /**
   * A copy sized to its slots when this index reserved more than an eighth again for
   * growth; undefined otherwise, and for shared memory (frozen in place for workers, a
   * copy would lose that) or staged vectors.
   */
  trimmed(): HnswIndex | undefined {
    if (this.mem.sharedBuffer || this.staged_ > 0 || this.source_ !== undefined) return undefined;
    if (this.mem.capacity <= this.slots_ * 1.125) return undefined;
    return this.copy(0, false);
  }

  /** The copy of {@link toShared} (with worker lanes) and {@link clone}. */
  private copy(lanes: number, sharedMemory: boolean, source?: VectorSource): HnswIndex {
    const mem = this.mem;
    const slots = this.slots_;
    const copy = new HnswIndex({
      ...this.parameters(),
      slots,
      upperBytes: Math.max(mem.upperUsed, 64),
      capacity: Math.max(slots, 1),
      lanes,
      sharedMemory,
      holdsVectors: source === undefined,
    });
    copy.source_ = source;
    // Codes first: making room for them may grow the copy's memory (new views below).
    const codes = mem.codes;
    if (codes !== undefined) copy.mem.quantize(codes);
    const from = mem.regions;
    const to = copy.mem.regions;
    const src = mem.u8;
    const dst = copy.mem.u8;
    const region = (a: number, b: number, bytes: number): void =>
      dst.set(src.subarray(a, a + bytes), b);
    region(from.flags, to.flags, slots);
    region(from.levels, to.levels, slots);
    region(from.upperOff, to.upperOff, slots * 4);
    region(from.links0, to.links0, slots * mem.stride0);
    if (this.source_ !== undefined && source === undefined) {
      // From disk into memory, slot by slot.
      const dim = this.dimension;
      const at = to.vecs >> 2;
      for (let s = 0; s < slots; s++) {
        this.source_.readInto(s, copy.mem.f32.subarray(at + s * dim, at + (s + 1) * dim));
      }
    } else region(from.vecs, to.vecs, slots * copy.mem.vecStride);
    region(from.upper, to.upper, mem.upperUsed);
    copy.mem.upperUsed = mem.upperUsed;
    if (codes !== undefined) {
      region(from.codes, to.codes, headerBytes(codes) + slots * codes.stride);
      copy.quantizer_ = this.quantizer_;
    }
    const { entry, maxLevel } = this.entryPoint();
    copy.setEntryPoint(entry, maxLevel);
    copy.recount(slots);
    return copy;
  }

  /**
   * What worker threads need to search this frozen index through their lanes (the memory
   * is shared, not copied). Undefined for an index in private memory. @internal
   */
  sharedHandle(): SharedHnswHandle | undefined {
    if (!this.mem.shared) return undefined;
    if (this.handle_ === undefined) {
      const r = this.mem.regions;
      const { entry, maxLevel } = this.entryPoint();
      this.handle_ = {
        id: nextHandleId++,
        memory: this.wasm.memory,
        dimension: this.dimension,
        metricIp: this.metric !== 'euclid',
        m: this.m,
        capacity: this.mem.capacity,
        slots: this.slots_,
        entry,
        maxLevel,
        vecs: r.vecs,
        codes:
          this.mem.codes === undefined ? undefined : { ...coreCodes(this.mem.codes), at: r.codes },
        links0: r.links0,
        levels: r.levels,
        flags: r.flags,
        upperOff: r.upperOff,
        upper: r.upper,
        lanes: r.lanes,
      };
    }
    return this.handle_;
  }

  /**
   * How a worker lane runs a search with (or without) an allow mask: the core's mode, the
   * beam and the rescore count; undefined when a lane cannot (index not shared, beam
   * larger than the lanes'). @internal
   */
  lanePlan(
    k: number,
    ef: number,
    allow: Uint8Array | undefined,
    quantization: QuantizedSearch | undefined,
  ): LanePlan | undefined {
    const lanes = this.mem.laneSizes;
    const onDisk = this.source_ !== undefined;
    // On disk, the codes are walked whatever `ignore` says (searchOnDisk).
    const beam = this.beam(k, ef, onDisk ? { ...quantization, ignore: false } : quantization);
    if (lanes === undefined || beam.ef > lanes.poolCap || this.live_ === 0) return undefined;
    const mode =
      allow !== undefined ? MODE_ALLOW : this.tombstones_ > 0 ? MODE_TOMBSTONES : MODE_PLAIN;
    if (!onDisk) return { mode, ...beam };
    // The lane walks the codes and returns the candidates; finishLane rescores them here.
    const keep = beam.rescore !== undefined && beam.rescore > 0 ? beam.rescore : k;
    return { mode, ef: beam.ef, rescore: 0, k: keep };
  }

  /**
   * A lane's answer as search() would give it: with the vectors on disk, the lane's
   * candidates (the codes' order, k × oversampling deep) rescored from the file unless
   * `quantization.rescore` is off (then the lane returned k); otherwise the answer itself.
   */
  finishLane(
    query: Float32Array,
    result: IndexSearchResult,
    k: number,
    quantization: QuantizedSearch | undefined,
  ): IndexSearchResult {
    const source = this.source_;
    if (source === undefined) return result;
    if (this.beam(k, k, { ...quantization, ignore: false }).rescore === 0) return result;
    const { ids, scores } = this.scoreFromSource(query, result.ids, k, source);
    return {
      ids,
      scores,
      visited: result.visited,
      distanceComputations: result.distanceComputations + result.ids.length,
    };
  }

  /**
   * The beam of a search and, over quantized codes, how many candidates are rescored: the best
   * k × oversampling of the quantized walk (its beam widened to hold them) are scored again
   * with the full vectors and the best k of those returned, as Qdrant does.
   */
  private beam(
    k: number,
    ef: number,
    q: QuantizedSearch | undefined,
  ): { ef: number; rescore: number | undefined } {
    const beam = Math.max(ef, k);
    if (this.quantizer_ === undefined || q?.ignore === true)
      return { ef: beam, rescore: undefined };
    const over = q?.oversampling ?? DEFAULT_OVERSAMPLING[this.quantizer_.kind];
    const candidates = Math.ceil(k * over);
    return { ef: Math.max(beam, candidates), rescore: q?.rescore === false ? 0 : candidates };
  }

  /** The quantizer the graph is searched with; undefined when not quantized. */
  get quantizer(): Quantizer | undefined {
    return this.quantizer_;
  }

  /**
   * Quantizes the index with `q` (trainScalarQuantizer, trainBinaryQuantizer): every slot's
   * vector is encoded to codes in WebAssembly memory, and later vectors as they are stored.
   * Graph searches then walk the codes and rescore with the full vectors (see
   * {@link search}). A shared index gets its codes region past its graph; its workers see
   * the codes from the next handle on. A product quantizer's `rows` (productCodes of the
   * same vectors, as a segment file stores them) are copied instead of encoded again. An
   * index made without its vectors encodes them from `vectors` (its segment's, slot-major,
   * or handed over in slot order as the segment file is streamed).
   */
  quantize(q: Quantizer, rows?: Uint8Array, vectors?: Float32Array | VectorRows): void {
    runSteps(this.quantizing(q, rows, vectors));
  }

  /**
   * quantize() as steps of ENCODE_STEP slots (runInSlices gives the event loop turns
   * between them). Until the last step the index walks its float vectors: the quantizer
   * is taken away first, so that no search walks codes half encoded (or coded another way).
   */
  *quantizing(q: Quantizer, rows?: Uint8Array, vectors?: Float32Array | VectorRows): Steps<void> {
    checkQuantizer(q, this.dimension);
    if (this.source_ !== undefined) {
      throw invalidArgument(
        'an index with its vectors on disk keeps its codes; rebuild it to change them.',
      );
    }
    if (this.codesFixed) {
      throw invalidArgument('a shared index is quantized once; build a new index to change it.');
    }
    const params = codeParams(q);
    const width = q.kind === 'product' ? subspacesOf(q.dimension, q.compression) : 0;
    const stored = rows !== undefined && width > 0 && rows.length === this.slots_ * width;
    if (!stored && !this.holdsVectors) checkGiven(vectors, this.slots_ * this.dimension);
    this.mem.quantize(params); // may refuse (the 4 GiB limit): the old codes stay then
    this.quantizer_ = undefined;
    this.handle_ = undefined;
    if (stored) this.setCodeRows(rows, width, params.stride);
    else {
      for (let from = 0; from < this.slots_; from += ENCODE_STEP) {
        const to = Math.min(this.slots_, from + ENCODE_STEP);
        if (this.holdsVectors) this.wasm.encodeSlots(from, to);
        else this.encodeFrom(vectors!, from, to);
        yield;
      }
    }
    this.quantizer_ = q;
    this.handle_ = undefined;
  }

  /**
   * True when quantize() would refuse: workers may be walking this shared index's codes
   * with the old scale, so they are never rewritten in place (nor codes whose quantizer was
   * dropped: a lane may still be walking them). A copy (clone) can be quantized.
   */
  get codesFixed(): boolean {
    return this.mem.shared && (this.quantizer_ !== undefined || this.mem.codes !== undefined);
  }

  /**
   * Encodes slots from..to-1 of `vectors` (all slots, or handed over in order) through the
   * vector scratch (no vecs region).
   */
  private encodeFrom(vectors: Float32Array | VectorRows, from: number, to: number): void {
    const dim = this.dimension;
    const at = this.mem.regions.vec;
    const rows =
      vectors instanceof Float32Array
        ? vectors.subarray(from * dim, to * dim)
        : vectors.rows(from, to);
    for (let s = from; s < to; s++) {
      this.mem.f32.set(rows.subarray((s - from) * dim, (s - from + 1) * dim), at >> 2);
      this.wasm.encodeRowAt(at, s);
    }
  }

  /** Copies stored product rows (`width` bytes a slot) into the codes region. */
  private setCodeRows(rows: Uint8Array, width: number, stride: number): void {
    const mem = this.mem;
    const at = mem.regions.codes + headerBytes(mem.codes!);
    for (let s = 0; s < this.slots_; s++) {
      mem.u8.set(rows.subarray(s * width, (s + 1) * width), at + s * stride);
    }
  }

  /**
   * A product-quantized index's codes, `subspaces` bytes a slot, slot-major (what a segment
   * file stores beside the codebooks); undefined for other quantizers.
   */
  productCodes(): Uint8Array | undefined {
    const q = this.quantizer_;
    const c = this.mem.codes;
    if (q?.kind !== 'product' || c === undefined) return undefined;
    const width = subspacesOf(q.dimension, q.compression);
    const out = new Uint8Array(this.slots_ * width);
    const at = this.mem.regions.codes + headerBytes(c);
    for (let s = 0; s < this.slots_; s++) {
      out.set(this.mem.u8.subarray(at + s * c.stride, at + s * c.stride + width), s * width);
    }
    return out;
  }

  /**
   * Stops walking the codes: searches use the float vectors again (the collection's
   * quantization was turned off). The codes' memory stays until the index is rebuilt.
   */
  dropQuantizer(): void {
    if (this.source_ !== undefined) {
      throw invalidArgument('an index with its vectors on disk walks its codes; rebuild it.');
    }
    this.quantizer_ = undefined;
    this.handle_ = undefined;
  }

  /** Default beam width of a search (a query's `ef` overrides it); raised to k when smaller. */
  get efSearch(): number {
    return this.efSearch_;
  }

  /** Sets the default beam width: an integer from 1. Higher = better recall, slower. */
  set efSearch(value: number) {
    this.efSearch_ = checkInt('efSearch', value, 1, 1 << 20);
  }

  /** Number of live (not removed) points. */
  get liveCount(): number {
    return this.live_;
  }

  /** One past the highest internal id ever added. */
  get slots(): number {
    return this.slots_;
  }

  /** Recounts live points and tombstones from the flags (after deserialize). @internal */
  recount(slots: number): void {
    const { u8, regions } = this.mem;
    let live = 0;
    let dead = 0;
    for (let i = 0; i < slots; i++) {
      const f = u8[regions.flags + i]!;
      if (f === LIVE) live++;
      else if ((f & FLAG_DELETED) !== 0) dead++;
    }
    this.slots_ = slots;
    this.live_ = live;
    this.tombstones_ = dead;
  }

  /** hnswlib's level draw: floor(-ln(U) / ln(m)), U from a seeded mulberry32. */
  private randomLevel(): number {
    this.rng = (this.rng + 0x6d2b79f5) | 0;
    let t = this.rng;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return Math.min(32, Math.floor(-Math.log(1 - u) * this.levelMult));
  }

  /**
   * Adds (or replaces) the vector under `internalId`; for cosine the caller passes it
   * normalised. A replaced or re-added id keeps its level and is re-linked.
   */
  add(internalId: number, vector: Float32Array): void {
    if (this.isStaged(internalId)) this.remove(internalId);
    this.store(internalId, vector);
    this.link(internalId);
  }

  /**
   * Stores `vector` under `internalId` without linking it into the graph (a write path
   * that must not wait for graph building): searches do not find it, {@link scanStaged}
   * does, {@link commit} links it later where it lies. The id must not be live.
   */
  stage(internalId: number, vector: Float32Array): void {
    if (this.has(internalId) || this.isStaged(internalId)) {
      throw invalidArgument(`internal id ${internalId} is live or staged already.`);
    }
    this.store(internalId, vector);
    this.mem.u8[this.mem.regions.flags + internalId] = FLAG_STAGED;
    this.staged_++;
    if (internalId >= this.slots_) this.slots_ = internalId + 1;
  }

  /** Links the vector staged under `internalId` into the graph. */
  commit(internalId: number): void {
    if (!this.isStaged(internalId)) {
      throw invalidArgument(`internal id ${internalId} holds no staged vector.`);
    }
    this.mem.u8[this.mem.regions.flags + internalId] = 0;
    this.staged_--;
    this.link(internalId);
  }

  /** Vectors staged and not yet committed. */
  get stagedCount(): number {
    return this.staged_;
  }

  /** True when `internalId` holds a staged vector. */
  isStaged(internalId: number): boolean {
    return (
      Number.isInteger(internalId) &&
      internalId >= 0 &&
      internalId < this.slots_ &&
      this.mem.u8[this.mem.regions.flags + internalId] === FLAG_STAGED
    );
  }

  /** Checks and writes `vector` at its slot (growing the memory). */
  private store(internalId: number, vector: Float32Array): void {
    checkInt('internalId', internalId, 0, 0x7ffffffe);
    if (this.mem.shared || this.source_ !== undefined) {
      throw new QuiverError(
        'INVALID_ARGUMENT',
        'this HNSW index is frozen (shared with search threads, or its vectors are on disk); it takes no new vectors.',
      );
    }
    this.checkDimension('vector', vector);
    const mem = this.mem;
    mem.ensureCapacity(internalId + 1);
    const r = mem.regions;
    mem.f32.set(vector, (r.vecs >> 2) + internalId * this.dimension);
    if (this.quantizer_ !== undefined) this.wasm.encodeSlots(internalId, internalId + 1);
  }

  /** Links the vector stored at `internalId` into the graph (a level is drawn on first use). */
  private link(internalId: number): void {
    const mem = this.mem;
    let r = mem.regions;
    const f = mem.u8[r.flags + internalId]!;
    let level: number;
    if ((f & FLAG_ALLOCATED) !== 0) {
      level = mem.u8[r.levels + internalId]!;
      if ((f & FLAG_DELETED) !== 0) this.tombstones_--;
      if (f !== LIVE) this.live_++;
    } else {
      level = this.randomLevel();
      const off = level > 0 ? mem.allocUpper(level * mem.strideU) : 0;
      r = mem.regions;
      mem.u8[r.levels + internalId] = level;
      mem.u32[(r.upperOff >> 2) + internalId] = off;
      this.live_++;
    }
    mem.u8[r.flags + internalId] = LIVE;
    if (internalId >= this.slots_) this.slots_ = internalId + 1;
    this.wasm.insert(internalId, level, this.efConstruction);
  }

  /**
   * Marks `internalId` removed: never returned again. Repairs the graph past the threshold,
   * except in a shared index, whose graph worker threads read: there only the flag changes
   * (a one-byte store; a search running meanwhile may still return the id) and tombstones
   * stay until the segment is rewritten. `repairNow: false` only marks it (a copy brought
   * in line with its original in one synchronous step; the next remove repairs).
   */
  remove(internalId: number, repairNow = true): void {
    if (this.isStaged(internalId)) {
      // Never linked: nothing refers to it, so the slot is simply emptied.
      this.mem.u8[this.mem.regions.flags + internalId] = 0;
      this.staged_--;
      return;
    }
    if (!this.has(internalId)) return;
    const mem = this.mem;
    mem.u8[mem.regions.flags + internalId] = LIVE | FLAG_DELETED;
    this.live_--;
    this.tombstones_++;
    if (repairNow && this.tombstones_ > this.repairThreshold * Math.max(this.live_, 1)) {
      this.repair();
    }
  }

  /**
   * Re-links the neighbours of every tombstone and frees the tombstones (their ids can be
   * added again). Runs automatically past `repairThreshold`. Returns the nodes freed
   * (always 0 for a shared index, which is frozen).
   */
  repair(): number {
    // Re-linking needs exact distances between stored vectors, which a frozen or on-disk
    // index does not have at hand: its tombstones stay until the segment is rewritten.
    if (this.tombstones_ === 0 || this.mem.shared || this.source_ !== undefined) return 0;
    const freed = this.wasm.repair(this.slots_);
    this.tombstones_ = 0;
    return freed;
  }

  /** True when `internalId` holds a live vector. */
  has(internalId: number): boolean {
    if (!Number.isInteger(internalId) || internalId < 0 || internalId >= this.slots_) return false;
    return this.mem.u8[this.mem.regions.flags + internalId] === LIVE;
  }

  /**
   * A copy of the stored vector of `internalId` (live or staged; with the vectors on disk,
   * any slot of the file: a point deleted since it was listed still reads as it was).
   */
  vector(internalId: number): Float32Array {
    if (this.source_ !== undefined && internalId >= 0 && internalId < this.slots_) {
      const out = new Float32Array(this.dimension);
      this.source_.readInto(internalId, out);
      return out;
    }
    if (!this.has(internalId) && !this.isStaged(internalId)) {
      throw invalidArgument(`internal id ${internalId} is not live.`);
    }
    const start = (this.mem.regions.vecs >> 2) + internalId * this.dimension;
    return this.mem.f32.slice(start, start + this.dimension);
  }

  /**
   * The k nearest live points, best first, scored as internal similarities. `ef` (default
   * efSearch, raised to k) sets the beam. `allow` (1 = admitted, by internal id; ids past its
   * end are refused) is copied into WebAssembly memory and read by the search loop: the graph
   * is walked through every node but only admitted ones enter the results; when it admits at
   * most 2·ef live points they are scored exactly instead. `filter` is called back from the
   * loop for each node reached (it must not use this index). Tombstones are walked through,
   * never returned. A quantized index walks its int8 codes and rescores the beam with the
   * full vectors unless `quantization` says otherwise.
   */
  search(query: Float32Array, options: IndexSearchOptions): IndexSearchResult {
    this.checkDimension('query', query);
    const k = options.k;
    if (!(k > 0) || this.live_ === 0) return noResult();
    if (this.source_ !== undefined) return this.searchOnDisk(query, options, this.source_);
    return this.searchInMemory(query, options);
  }

  /** search() over what the index's memory holds: the vectors, or the codes. */
  private searchInMemory(query: Float32Array, options: IndexSearchOptions): IndexSearchResult {
    const k = options.k;
    const { ef, rescore } = this.beam(k, options.ef ?? this.efSearch_, options.quantization);
    const mem = this.mem;
    mem.ensurePool(ef);
    let mode = this.tombstones_ > 0 ? MODE_TOMBSTONES : MODE_PLAIN;
    const { allow, filter } = options;
    if (allow !== undefined || filter !== undefined) {
      mem.ensureHeap(ef);
      if (filter !== undefined) {
        mode = MODE_CALLBACK;
        this.filterFn = allow === undefined ? filter : (id) => allow[id] === 1 && filter(id);
      } else {
        mode = MODE_ALLOW;
      }
    } else if (mode === MODE_TOMBSTONES) {
      mem.ensureHeap(ef);
    }
    try {
      return searchInWasm(
        this.wasm,
        mem,
        mem.regions,
        this.slots_,
        query,
        k,
        ef,
        mode,
        mode === MODE_ALLOW ? allow : undefined,
        undefined,
        rescore,
      );
    } finally {
      this.filterFn = undefined;
    }
  }

  /**
   * Exact scan over the live slots (those `allow` admits), scored in WebAssembly with the
   * SIMD kernel where the vectors lie: the planner's path for small or highly selective
   * searches, and `exact: true`.
   */
  scan(query: Float32Array, options: { k: number; allow?: Uint8Array }): IndexSearchResult {
    this.checkDimension('query', query);
    if (this.live_ === 0) return noResult();
    if (this.source_ !== undefined) return this.scanOnDisk(query, options, this.source_);
    return this.scanRange(query, options.k, options.allow, SCAN_LIVE);
  }

  /**
   * search() of an index whose vectors are on disk: the graph is walked over the codes
   * (whatever `quantization.ignore` says: there are no vectors in memory to walk), and the
   * best k × oversampling are read from `source` and rescored exactly, unless
   * `quantization.rescore` is false.
   */
  private searchOnDisk(
    query: Float32Array,
    options: IndexSearchOptions,
    source: VectorSource,
  ): IndexSearchResult {
    const k = options.k;
    const q = { ...options.quantization, ignore: false };
    const { ef, rescore = 0 } = this.beam(k, options.ef ?? this.efSearch_, q);
    const keep = rescore > 0 ? rescore : k;
    // The codes' own order, `keep` deep, with the beam this search asked for.
    const walked = this.searchInMemory(query, {
      ...options,
      k: keep,
      ef,
      quantization: { rescore: false, oversampling: 1 },
    });
    if (rescore === 0) return walked;
    const { ids, scores } = this.scoreFromSource(query, walked.ids, k, source);
    return {
      ids,
      scores,
      visited: walked.visited,
      distanceComputations: walked.distanceComputations + walked.ids.length,
    };
  }

  /**
   * The k best of `ids` by exact score: each vector is read from `source` into the scratch
   * beside the query and scored there with the SIMD kernel.
   */
  private scoreFromSource(
    query: Float32Array,
    ids: Iterable<number>,
    k: number,
    source: VectorSource,
  ): { ids: number[]; scores: number[] } {
    const top = new TopK(Math.max(1, k));
    const { query: at, vec } = this.mem.regions;
    const dim = this.dimension;
    this.mem.f32.set(query, at >> 2);
    const v = this.mem.f32.subarray(vec >> 2, (vec >> 2) + dim);
    const ip = this.metric !== 'euclid';
    for (const id of ids) {
      source.readInto(id, v);
      top.push(id, ip ? this.wasm.dotF32(at, vec, dim) : -this.wasm.l2sqF32(at, vec, dim));
    }
    return top.drain();
  }

  /**
   * The exact scan of an index whose vectors are on disk: every live slot (that `allow`
   * admits) is read from `source` and scored. Exact, as `exact: true` and the planner's
   * small or selective searches expect; it reads the file once over.
   */
  private scanOnDisk(
    query: Float32Array,
    options: { k: number; allow?: Uint8Array },
    source: VectorSource,
  ): IndexSearchResult {
    const { allow } = options;
    const admitted: number[] = [];
    for (let id = 0; id < this.slots_; id++) {
      if (this.has(id) && (allow === undefined || allow[id] === 1)) admitted.push(id);
    }
    const { ids, scores } = this.scoreFromSource(query, admitted, options.k, source);
    return { ids, scores, visited: admitted.length, distanceComputations: admitted.length };
  }

  /**
   * Exact scan over the staged vectors in slots [from, slots) (those `allow` admits), in
   * WebAssembly with the SIMD kernel: how searches see vectors waiting for the graph.
   */
  scanStaged(
    query: Float32Array,
    options: { k: number; from: number; allow?: Uint8Array | undefined },
  ): IndexSearchResult {
    this.checkDimension('query', query);
    if (this.staged_ === 0) return noResult();
    const range = { from: Math.max(0, options.from), staged: true };
    return this.scanRange(query, options.k, options.allow, range);
  }

  /** The k best of `range` by an exact scan in WebAssembly. */
  private scanRange(
    query: Float32Array,
    k: number,
    allow: Uint8Array | undefined,
    range: ScanRange,
  ): IndexSearchResult {
    if (!(k > 0)) return noResult();
    const mem = this.mem;
    mem.ensurePool(k);
    const mode = allow === undefined ? MODE_PLAIN : MODE_ALLOW;
    return searchInWasm(this.wasm, mem, mem.regions, this.slots_, query, k, k, mode, allow, range);
  }

  /** Counters for stats and explain. */
  stats(): HnswStats {
    return {
      slots: this.slots_,
      live: this.live_,
      tombstones: this.tombstones_,
      entry: this.wasm.getEntry(),
      maxLevel: this.wasm.getMaxLevel(),
      memoryBytes: this.memoryBytes(),
    };
  }

  /**
   * The graph as bytes (hnsw-codec.ts), without the vectors (a segment file holds them
   * once, in its VECTORS section: {@link vectorsCopy}); {@link HnswIndex.deserialize}
   * reads both back. Tombstones are repaired away first (their neighbours re-linked), so
   * no linked node lacks a vector there; an index frozen for workers keeps its tombstones
   * and cannot be serialized while it has any.
   */
  serialize(): Uint8Array {
    if (this.staged_ > 0) {
      throw new QuiverError(
        'INTERNAL',
        `${this.staged_} staged vectors are not in the graph yet; commit them before serializing. This is a bug.`,
      );
    }
    if (this.tombstones_ > 0) this.repair();
    if (this.tombstones_ > 0) {
      throw new QuiverError(
        'INTERNAL',
        'a frozen HNSW index with tombstones cannot be serialized (its vectors would be missing); this is a bug.',
      );
    }
    const { entry, maxLevel } = this.entryPoint();
    return encodeHnsw(this.mem, { ...this.parameters(), slots: this.slots_, entry, maxLevel });
  }

  /**
   * The vectors of every slot, slot-major (a removed slot's values are whatever it held;
   * a segment writes zeros there): what {@link HnswIndex.deserialize} takes with the graph.
   */
  vectorsCopy(): Float32Array {
    const source = this.source_;
    if (source !== undefined) {
      const all = new Float32Array(this.slots_ * this.dimension);
      for (let id = 0; id < this.slots_; id++) {
        source.readInto(id, all.subarray(id * this.dimension, (id + 1) * this.dimension));
      }
      return all;
    }
    const start = this.mem.regions.vecs >> 2;
    return this.mem.f32.slice(start, start + this.slots_ * this.dimension);
  }

  /**
   * The vectors of slots 0..slots-1 as a view of WebAssembly memory, not a copy: read it at
   * once (any growth of the index detaches it). For training a quantizer. @internal
   */
  vectorsView(): Float32Array {
    if (this.source_ !== undefined) return this.vectorsCopy();
    if (!this.holdsVectors) {
      throw new QuiverError('INTERNAL', 'an index without its vectors has no view of them.');
    }
    const start = this.mem.regions.vecs >> 2;
    return this.mem.f32.subarray(start, start + this.slots_ * this.dimension);
  }

  /** What a copy of this graph (or its serialized header) carries over unchanged. */
  private parameters(): Omit<HnswHeader, 'slots' | 'entry' | 'maxLevel'> {
    return {
      dimension: this.dimension,
      metric: this.metric,
      m: this.m,
      efConstruction: this.efConstruction,
      efSearch: this.efSearch_,
      seed: this.seed,
      rng: this.rng,
      repairThreshold: this.repairThreshold,
    };
  }

  /** Bytes of WebAssembly memory this index holds (vectors, graph, scratch). */
  memoryBytes(): number {
    return this.mem.byteLength;
  }

  /** Bytes of the vectors region: capacity × dimension × 4 (0 with the vectors on disk). */
  vectorBytes(): number {
    return this.mem.capacity * this.mem.vecStride;
  }

  /** Bytes of the int8 codes region (0 when not quantized). */
  codeBytes(): number {
    return this.mem.codeBytes;
  }

  /** Entry point and top level of the graph. @internal */
  entryPoint(): { entry: number; maxLevel: number } {
    return { entry: this.wasm.getEntry(), maxLevel: this.wasm.getMaxLevel() };
  }

  /** Restores the entry point (codec). @internal */
  setEntryPoint(entry: number, maxLevel: number): void {
    this.wasm.setEntry(entry, maxLevel);
  }

  /**
   * Reads bytes written by {@link HnswIndex.serialize}. A damaged or foreign blob throws
   * QuiverError CORRUPT naming `source` (a file name, for the message) and the offset.
   */
  static deserialize(
    bytes: Uint8Array,
    source = 'HNSW index blob',
    options: DeserializeOptions = {},
  ): HnswIndex {
    return runSteps(HnswIndex.deserializing(bytes, source, options));
  }

  /**
   * {@link deserialize} as steps: with streamed vectors (a VectorRows), one step per
   * ROWS_STEP slots copied, so that reading a large segment from a cold disk gives the
   * event loop turns (runInSlices); the index is returned only once it holds them all.
   * Not a generator itself: the steps hold the index and the rows, not the blob's bytes.
   */
  static deserializing(
    bytes: Uint8Array,
    source = 'HNSW index blob',
    options: DeserializeOptions = {},
  ): Steps<HnswIndex> {
    const lanes = options.lanes ?? 0;
    const sharedMemory = options.sharedMemory === true;
    const blob = decodeHnsw(bytes, source, options.vectors, options.checksummed === true);
    const index = new HnswIndex({ ...blob.state, lanes, sharedMemory });
    blob.loadInto(index.mem);
    index.setEntryPoint(blob.entry, blob.maxLevel);
    index.recount(blob.state.slots);
    const rows = options.vectors;
    const streamed = blob.streamed && typeof rows === 'object' && !(rows instanceof Float32Array);
    return index.receiving(streamed ? rows : undefined);
  }

  /** Copies `rows` (when given) into the vectors region a run at a time; then the index. */
  private *receiving(rows: VectorRows | undefined): Steps<HnswIndex> {
    const dim = this.dimension;
    for (let from = 0; rows !== undefined && from < this.slots_; from += ROWS_STEP) {
      const to = Math.min(this.slots_, from + ROWS_STEP);
      this.mem.f32.set(rows.rows(from, to), (this.mem.regions.vecs >> 2) + from * dim);
      yield;
    }
    return this;
  }
}

/**
 * Scratch of a shared index's worker lanes: a beam of at least 512 (or efSearch), and a
 * filtered-search heap sized as {@link HnswMemory.ensureHeap} would for that beam.
 */
function laneSizes(count: number, capacity: number, efSearch: number): LaneSizes {
  const poolCap = Math.max(LANE_MIN_EF, efSearch);
  const heapCap = Math.min(Math.max(capacity, 1), Math.max(65536, poolCap * 64));
  return { count, poolCap, heapCap };
}

/**
 * Creates an empty HNSW index, e.g.
 * `createHnswIndex({ dimension: 384, metric: 'cosine', m: 16, efConstruction: 200 })`.
 * Throws UNAVAILABLE when the WebAssembly module cannot load (see kernelInfo()).
 */
export function createHnswIndex(options: HnswOptions): HnswIndex {
  const dimension = checkInt('dimension', options.dimension, 1, 65536);
  if (!(options.metric in METRIC_CODES)) {
    throw invalidArgument(`metric must be cosine, euclid or dot, got ${String(options.metric)}.`);
  }
  const m = checkInt('m', options.m ?? 16, 2, 128);
  const efConstruction = checkInt('efConstruction', options.efConstruction ?? 200, 1, 1 << 20);
  const efSearch = checkInt('efSearch', options.efSearch ?? 64, 1, 1 << 20);
  const capacity = checkInt('capacity', options.capacity ?? 1024, 1, 0x7fffffff);
  const seed = checkInt('seed', options.seed ?? 100, 0, 0xffffffff);
  const repairThreshold = options.repairThreshold ?? 0.1;
  if (!(repairThreshold >= 0)) throw invalidArgument('repairThreshold must be 0 or more.');
  return new HnswIndex({
    dimension,
    metric: options.metric,
    m,
    efConstruction,
    efSearch,
    seed,
    repairThreshold,
    rng: seed | 0,
    slots: 0,
    upperBytes: 0,
    capacity,
    sharedMemory: options.sharedMemory === true,
  });
}

/** True when HNSW indexes can be created here (their WebAssembly module loads). */
export function hnswAvailable(): boolean {
  return loadWasmModule() !== undefined;
}

/** True when frozen HNSW indexes can live in shared memory for worker threads. */
export function sharedHnswAvailable(): boolean {
  return loadSharedWasmModule() !== undefined;
}
