/**
 * Quiver's HNSW index as a benchmark peer: builds with createHnswIndex and searches the
 * dataset's query rows as Float32Array views (what the engine passes). The `quiver-int8`
 * peer quantizes the built index (scalar int8, trained as a seal trains it) and searches
 * its codes with rescoring, the default of a quantized collection; `quiver-b1` does the same
 * with one bit per value (binary, symmetric query, k × 4 rescored).
 */
import type { Dataset } from '../datasets.js';
import { createHnswIndex } from '../../src/ann/hnsw/hnsw-index.js';
import type { HnswIndex } from '../../src/ann/hnsw/hnsw-index.js';
import { trainBinaryQuantizer } from '../../src/ann/binary-quantizer.js';
import type { Quantizer } from '../../src/ann/quantizer.js';
import { trainScalarQuantizer } from '../../src/ann/scalar-quantizer.js';
import type { AnnPeer, BuildParams, PeerFactory } from './ann-peer.js';

class QuiverPeer implements AnnPeer {
  private index: HnswIndex | undefined;
  private queries: Float32Array[] = [];
  private ef = 64;

  private ds: Dataset | undefined;

  constructor(
    readonly name: string,
    private readonly train?: (index: HnswIndex, ds: Dataset) => Quantizer,
  ) {}

  prepare(ds: Dataset): void {
    this.ds = ds;
    this.queries = [];
    for (let q = 0; q < ds.queryCount; q++) {
      this.queries.push(ds.queries.subarray(q * ds.dim, (q + 1) * ds.dim));
    }
  }

  build(params: BuildParams): void {
    const ds = this.ds!;
    const index = createHnswIndex({
      dimension: ds.dim,
      metric: ds.metric,
      m: params.m,
      efConstruction: params.efConstruction,
      capacity: ds.count,
    });
    for (let i = 0; i < ds.count; i++) index.add(i, ds.base.subarray(i * ds.dim, (i + 1) * ds.dim));
    if (this.train !== undefined) index.quantize(this.train(index, ds));
    this.index = index;
  }

  setEf(ef: number): void {
    this.ef = ef;
  }

  search(q: number, k: number): ArrayLike<number> {
    return this.index!.search(this.queries[q]!, { k, ef: this.ef }).ids;
  }

  accountedBytes(): number | undefined {
    return this.index?.memoryBytes();
  }

  vectorBytes(): number | undefined {
    const index = this.index;
    return index === undefined ? undefined : index.vectorBytes() + index.codeBytes();
  }

  dispose(): void {
    this.index = undefined;
  }
}

/** The Quiver peer (always available once the .wasm is built). */
export const quiverPeer: PeerFactory = () => Promise.resolve(new QuiverPeer('quiver'));

/** Quiver with scalar int8 quantization (codes walked, beam rescored with the floats). */
export const quiverInt8Peer: PeerFactory = () =>
  Promise.resolve(
    new QuiverPeer('quiver-int8', (index, ds) =>
      trainScalarQuantizer(index.vectorsView(), ds.count, ds.dim),
    ),
  );

/** Quiver with binary quantization, one bit per value (bits walked, beam rescored). */
export const quiverB1Peer: PeerFactory = () =>
  Promise.resolve(
    new QuiverPeer('quiver-b1', (index, ds) =>
      trainBinaryQuantizer(index.vectorsView(), ds.count, ds.dim),
    ),
  );
