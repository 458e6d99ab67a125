/**
 * One search over HNSW memory through a given thread's scratch regions: the step that both
 * the owning HnswIndex (main thread) and a search worker's HnswLane run. A lane is one
 * thread's WebAssembly instance over a frozen index's shared memory, with its own globals
 * and its own scratch block, so lanes search the same graph at once without copying it.
 */
import { QuiverError } from '../../common/quiver-error.js';
import type { QuiverWasmExports, WasmMemory } from '../../kernels/wasm-module.js';
import { instantiateSharedQuiverWasm, sharedWasmLoadFailure } from '../../kernels/wasm-module.js';
import type { CoreCodes } from '../quantizer.js';
import { bindCodes } from '../quantizer.js';
import type { IndexSearchResult } from '../vector-index.js';
import type { ScratchRegions } from './hnsw-memory.js';

/** Search modes of the WebAssembly core. @internal */
export const MODE_PLAIN = 0;
/** Tombstones present: walked through, never returned. @internal */
export const MODE_TOMBSTONES = 1;
/** Only ids the allow bytes admit are returned. @internal */
export const MODE_ALLOW = 2;
/** A JS callback admits ids (main thread only). @internal */
export const MODE_CALLBACK = 3;

/**
 * Everything another thread needs to search a frozen index: its shared memory, the graph
 * regions, and one scratch block per worker lane. Structured-cloneable (postMessage shares
 * the memory, it does not copy it). @internal
 */
export interface SharedHnswHandle {
  /** Unique within the process; workers cache their lane under it. */
  readonly id: number;
  readonly memory: WasmMemory;
  readonly dimension: number;
  readonly metricIp: boolean;
  readonly m: number;
  /** Slot capacity of the graph regions. */
  readonly capacity: number;
  readonly slots: number;
  readonly entry: number;
  readonly maxLevel: number;
  readonly vecs: number;
  /** The codes region and how the core reads it, when the index is quantized. */
  readonly codes: (CoreCodes & { readonly at: number }) | undefined;
  readonly links0: number;
  readonly levels: number;
  readonly flags: number;
  readonly upperOff: number;
  readonly upper: number;
  readonly lanes: readonly ScratchRegions[];
}

/** Typed views over a memory (refreshed by their owner after growth). @internal */
export interface MemoryViews {
  readonly u8: Uint8Array;
  readonly f32: Float32Array;
  readonly i32: Int32Array;
}

/** An exact scan instead of a graph search: of slots [from, slots), live or staged ones. */
export interface ScanRange {
  readonly from: number;
  /** Score the vectors staged for the graph (not yet linked) instead of the live nodes. */
  readonly staged: boolean;
}

/** The whole index's live slots. */
export const SCAN_LIVE: ScanRange = Object.freeze({ from: 0, staged: false });

/**
 * Copies the query (and, for MODE_ALLOW, the allow bytes) into `scratch`, runs the core's
 * graph search (or, with `scan`, its exact scan of that range) and reads the best k back.
 * With `rescore` defined the graph search walks the int8 codes and rescores that many
 * candidates (0: none). The caller has sized the scratch for `ef` (for a scan: for k). @internal
 */
export function searchInWasm(
  wasm: QuiverWasmExports,
  views: MemoryViews,
  scratch: ScratchRegions,
  slots: number,
  query: Float32Array,
  k: number,
  ef: number,
  mode: number,
  allow: Uint8Array | undefined,
  scan?: ScanRange,
  rescore?: number,
): IndexSearchResult {
  const { u8, f32, i32 } = views;
  if (mode === MODE_ALLOW && allow !== undefined) {
    const at = scratch.allow;
    const n = Math.min(allow.length, slots);
    u8.set(n === allow.length ? allow : allow.subarray(0, n), at);
    if (n < slots) u8.fill(0, at + n, at + slots);
  }
  f32.set(query, scratch.query >> 2);
  let count =
    scan !== undefined
      ? wasm.scanExact(k, mode === MODE_ALLOW ? 1 : 0, scan.from, slots, scan.staged ? 1 : 0)
      : rescore !== undefined
        ? wasm.searchCodes(ef, mode, slots, rescore)
        : wasm.search(ef, mode, slots);
  if (count > k) count = k;
  const ids = new Array<number>(count);
  const scores = new Array<number>(count);
  const o = scratch.out >> 2;
  for (let i = 0; i < count; i++) {
    const d = f32[o + 2 * i]!;
    ids[i] = i32[o + 2 * i + 1]!;
    scores[i] = d === 0 ? 0 : -d;
  }
  return {
    ids,
    scores,
    visited: wasm.lastVisited(),
    distanceComputations: wasm.lastDistances(),
  };
}

/** A worker thread's searcher over one shared index, through lane `lane`'s scratch. @internal */
export class HnswLane {
  readonly handle: SharedHnswHandle;
  private readonly wasm: QuiverWasmExports;
  private readonly scratch: ScratchRegions;
  private views: MemoryViews;

  constructor(handle: SharedHnswHandle, lane: number) {
    const scratch = handle.lanes[lane];
    if (scratch === undefined) {
      throw new QuiverError(
        'INVALID_ARGUMENT',
        `lane ${lane} does not exist: the index has ${handle.lanes.length} worker lanes.`,
      );
    }
    const wasm = instantiateSharedQuiverWasm(handle.memory);
    if (wasm === undefined) {
      throw new QuiverError(
        'UNAVAILABLE',
        `search worker cannot load the shared-memory WebAssembly module: ${sharedWasmLoadFailure()}.`,
      );
    }
    this.handle = handle;
    this.wasm = wasm;
    this.scratch = scratch;
    wasm.setParams(handle.dimension, handle.metricIp ? 1 : 0, handle.m, 2 * handle.m);
    wasm.setRegions(
      handle.capacity,
      handle.vecs,
      handle.links0,
      handle.levels,
      handle.flags,
      handle.upperOff,
      handle.upper,
      scratch.visited,
      scratch.allow,
      scratch.pool,
      scratch.sel,
      scratch.heap,
      scratch.heapCap,
      scratch.query,
      scratch.out,
    );
    const c = handle.codes;
    if (c !== undefined) bindCodes(wasm, c.at, scratch.qcode, c);
    wasm.setEntry(handle.entry, handle.maxLevel);
    this.views = viewsOf(handle.memory);
  }

  /** Largest ef this lane's scratch holds. */
  get maxEf(): number {
    return this.scratch.poolCap;
  }

  /** The k nearest (internal ids, similarities), as HnswIndex.search would answer. */
  search(
    query: Float32Array,
    k: number,
    ef: number,
    mode: number,
    allow: Uint8Array | undefined,
    rescore?: number,
  ): IndexSearchResult {
    if (ef > this.scratch.poolCap || mode === MODE_CALLBACK) {
      throw new QuiverError(
        'INVALID_ARGUMENT',
        `a worker lane searches with ef up to ${this.scratch.poolCap} and no callback filter; got ef ${ef}, mode ${mode}.`,
      );
    }
    if (rescore !== undefined && this.handle.codes === undefined) {
      throw new QuiverError('INVALID_ARGUMENT', 'this index is not quantized: no code search.');
    }
    if (this.views.u8.buffer !== this.handle.memory.buffer)
      this.views = viewsOf(this.handle.memory);
    return searchInWasm(
      this.wasm,
      this.views,
      this.scratch,
      this.handle.slots,
      query,
      k,
      ef,
      mode,
      allow,
      undefined,
      rescore,
    );
  }
}

function viewsOf(memory: WasmMemory): MemoryViews {
  const buf = memory.buffer;
  return { u8: new Uint8Array(buf), f32: new Float32Array(buf), i32: new Int32Array(buf) };
}
