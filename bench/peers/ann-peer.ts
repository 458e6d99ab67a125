/**
 * The small interface every benchmarked ANN library implements (Quiver and its native
 * peers), so one scenario measures them the same way in the same process.
 */
import type { Dataset } from '../datasets.js';

/** Graph parameters shared by every peer in a run. */
export interface BuildParams {
  readonly m: number;
  readonly efConstruction: number;
}

/** One library under test, holding at most one built index at a time. */
export interface AnnPeer {
  /** Display name, e.g. "quiver" or "hnswlib-node". */
  readonly name: string;
  /** Converts `ds` to the library's input types (not timed). */
  prepare(ds: Dataset): void;
  /** Builds the index over every base vector of the prepared dataset, single threaded (timed). */
  build(params: BuildParams): void;
  /** Beam width of the following searches. */
  setEf(ef: number): void;
  /** Ids of the k nearest base vectors to query number `q` of the dataset. */
  search(q: number, k: number): ArrayLike<number>;
  /** Bytes the library accounts for its index, when it can tell. */
  accountedBytes(): number | undefined;
  /**
   * Bytes of vectors the index holds in memory for searching (float vectors, codes), when
   * it can tell: what quantization changes.
   */
  vectorBytes?(): number | undefined;
  /** Releases the index. */
  dispose(): void;
}

/** Makes a peer, or says why it cannot run here (not installed, failed to load). */
export type PeerFactory = () => Promise<AnnPeer | string>;
