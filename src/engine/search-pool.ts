/**
 * SearchPool: what the engine asks of search worker threads. Sealed segments' HNSW graphs
 * live in shared memory (frozen), and a pool searches them on other threads through its
 * lanes, while the growing segment, exact scans and filters stay on the caller's thread.
 * WorkerSearchPool (worker-search-pool.ts) implements it with worker_threads: `Quiver.open`
 * starts one with `searchThreads`, the server passes its own.
 */
import type { SharedHnswHandle } from '../ann/hnsw/hnsw-lane.js';
import type { IndexSearchResult } from '../ann/vector-index.js';

/** One graph search for a worker lane. */
export interface LaneSearch {
  readonly query: Float32Array;
  readonly k: number;
  readonly ef: number;
  /** Search mode of the WebAssembly core (HnswIndex.lanePlan). */
  readonly mode: number;
  /** Admitted internal ids (1 = admitted) for a filtered search. */
  readonly allow: Uint8Array | undefined;
  /** Defined for a quantized index: walk its int8 codes, rescore this many (HnswIndex.lanePlan). */
  readonly rescore?: number | undefined;
}

export interface SearchPool {
  /** Worker threads; a shared index is built with one scratch lane for each. */
  readonly threads: number;
  /**
   * Whether a search starting now should hand its sealed graphs to the workers (asked once
   * per collection search). A pool answers false when its owner has nothing else to do,
   * where the hand-off would only add a round trip. Absent = always.
   */
  offload?(): boolean;
  /**
   * Searches the frozen index behind `handle` on a worker; undefined when every worker is
   * busy enough that the caller's thread should search this one itself. Rejects when the
   * worker failed or the pool is closed; the engine then searches on its own thread.
   */
  search(handle: SharedHnswHandle, request: LaneSearch): Promise<IndexSearchResult> | undefined;
  /**
   * Told when the engine threw away a worker's answer as stale (a point of the segment was
   * deleted or moved while the worker searched) and searched again on its own thread: the
   * rerun hides the staleness from the caller, this count shows it to an operator.
   */
  discarded?(): void;
}
