/**
 * hnswlib-node (hnswlib's C++ through N-API) as a benchmark peer. Cosine sets are already
 * normalised, so it runs the 'ip' space (no per-call normalisation). Vectors are converted
 * to the plain arrays its API takes before timing starts.
 */
import type { Dataset } from '../datasets.js';
import type { AnnPeer, BuildParams, PeerFactory } from './ann-peer.js';

interface HnswlibIndex {
  initIndex(maxElements: number, m?: number, efConstruction?: number, randomSeed?: number): void;
  addPoint(point: number[], label: number): void;
  setEf(ef: number): void;
  searchKnn(query: number[], k: number): { neighbors: number[]; distances: number[] };
}
interface HnswlibModule {
  HierarchicalNSW: new (space: 'l2' | 'ip' | 'cosine', dim: number) => HnswlibIndex;
}

class HnswlibPeer implements AnnPeer {
  readonly name = 'hnswlib-node';
  private readonly lib: HnswlibModule;
  private index: HnswlibIndex | undefined;
  private queries: number[][] = [];
  private count = 0;
  private dim = 0;

  constructor(lib: HnswlibModule) {
    this.lib = lib;
  }

  private rows: number[][] = [];
  private space: 'l2' | 'ip' = 'l2';
  private m = 16;

  prepare(ds: Dataset): void {
    const rows: number[][] = [];
    for (let i = 0; i < ds.count; i++) {
      rows.push(Array.from(ds.base.subarray(i * ds.dim, (i + 1) * ds.dim)));
    }
    this.queries = [];
    for (let q = 0; q < ds.queryCount; q++) {
      this.queries.push(Array.from(ds.queries.subarray(q * ds.dim, (q + 1) * ds.dim)));
    }
    this.rows = rows;
    this.space = ds.metric === 'euclid' ? 'l2' : 'ip';
    this.count = ds.count;
    this.dim = ds.dim;
  }

  build(params: BuildParams): void {
    const index = new this.lib.HierarchicalNSW(this.space, this.dim);
    this.m = params.m;
    index.initIndex(this.count, params.m, params.efConstruction, 100);
    for (let i = 0; i < this.count; i++) index.addPoint(this.rows[i]!, i);
    this.index = index;
  }

  setEf(ef: number): void {
    this.index!.setEf(ef);
  }

  search(q: number, k: number): ArrayLike<number> {
    return this.index!.searchKnn(this.queries[q]!, k).neighbors;
  }

  accountedBytes(): number | undefined {
    // hnswlib's own allocations (hnswalg.h): level-0 block (links, vector, label), link-list
    // pointer, level (int), mutex, label-map node and bucket, visited mark (u16); upper links
    // (1/(m-1) levels per point on average); plus 65536 label-operation mutexes.
    if (this.index === undefined) return undefined;
    const m = this.m;
    const level0 = (1 + 2 * m) * 4 + this.dim * 4 + 8;
    const perPoint = level0 + 8 + 4 + 40 + 32 + 8 + 2 + ((1 + m) * 4 + 16) / (m - 1);
    return Math.round(perPoint * this.count + 65536 * 40);
  }

  dispose(): void {
    this.index = undefined;
    this.queries = [];
    this.rows = [];
  }
}

/** The hnswlib-node peer, or why it is unavailable. */
export const hnswlibPeer: PeerFactory = async () => {
  try {
    const mod = (await import('hnswlib-node')) as unknown as HnswlibModule & {
      default?: HnswlibModule;
    };
    const lib = mod.HierarchicalNSW !== undefined ? mod : mod.default;
    if (lib === undefined) return 'hnswlib-node loaded without HierarchicalNSW';
    return new HnswlibPeer(lib);
  } catch (e) {
    return `hnswlib-node unavailable: ${e instanceof Error ? e.message : String(e)}`;
  }
};
