/**
 * ExactIndex: brute-force scan over a growable Float32Array. The recall oracle for every
 * approximate index, and the plan for `exact: true` and highly selective filters.
 */
import { invalidArgument } from '../common/quiver-error.js';
import type { MetricName } from '../common/types.js';
import type { DistanceKernel } from '../kernels/distance-kernel.js';
import { similarity } from '../kernels/distance-kernel.js';
import { SCALAR_KERNEL } from '../kernels/scalar-kernel.js';
import { TopK } from './top-k.js';
import type { IndexSearchOptions, IndexSearchResult, VectorIndex } from './vector-index.js';

export class ExactIndex implements VectorIndex {
  readonly kind = 'exact';
  readonly dimension: number;
  readonly metric: MetricName;
  private readonly kernel: DistanceKernel;
  private data: Float32Array;
  private live: Uint8Array;
  private slots = 0;
  private live_ = 0;

  constructor(dimension: number, metric: MetricName, kernel: DistanceKernel = SCALAR_KERNEL) {
    this.dimension = dimension;
    this.metric = metric;
    this.kernel = kernel;
    this.data = new Float32Array(dimension * 16);
    this.live = new Uint8Array(16);
  }

  get liveCount(): number {
    return this.live_;
  }

  private ensure(internalId: number): void {
    if (internalId < this.live.length) return;
    let cap = this.live.length;
    while (cap <= internalId) cap *= 2;
    const data = new Float32Array(cap * this.dimension);
    data.set(this.data);
    const live = new Uint8Array(cap);
    live.set(this.live);
    this.data = data;
    this.live = live;
  }

  add(internalId: number, vector: Float32Array): void {
    if (vector.length !== this.dimension) {
      throw invalidArgument(`vector has ${vector.length} values, index expects ${this.dimension}`);
    }
    this.ensure(internalId);
    this.data.set(vector, internalId * this.dimension);
    if (this.live[internalId] === 0) {
      this.live[internalId] = 1;
      this.live_++;
    }
    if (internalId >= this.slots) this.slots = internalId + 1;
  }

  remove(internalId: number): void {
    if (internalId < this.slots && this.live[internalId] === 1) {
      this.live[internalId] = 0;
      this.live_--;
    }
  }

  has(internalId: number): boolean {
    return internalId < this.slots && this.live[internalId] === 1;
  }

  vector(internalId: number): Float32Array {
    const start = internalId * this.dimension;
    return this.data.slice(start, start + this.dimension);
  }

  /** The exact index always scans; `ef` is ignored. */
  scan(query: Float32Array, options: { k: number; allow?: Uint8Array }): IndexSearchResult {
    return this.search(query, options);
  }

  search(query: Float32Array, options: IndexSearchOptions): IndexSearchResult {
    const top = new TopK(options.k);
    const filter = options.filter;
    const allow = options.allow;
    const dim = this.dimension;
    let scanned = 0;
    for (let id = 0; id < this.slots; id++) {
      if (this.live[id] === 0) continue;
      if (allow !== undefined && allow[id] !== 1) continue;
      if (filter !== undefined && !filter(id)) continue;
      scanned++;
      top.push(id, similarity(this.kernel, this.metric, query, 0, this.data, id * dim, dim));
    }
    const { ids, scores } = top.drain();
    return { ids, scores, visited: scanned, distanceComputations: scanned };
  }

  serialize(): Uint8Array {
    const header = new Uint32Array([this.slots]);
    const out = new Uint8Array(4 + this.slots + this.slots * this.dimension * 4);
    out.set(new Uint8Array(header.buffer), 0);
    out.set(this.live.subarray(0, this.slots), 4);
    out.set(
      new Uint8Array(this.data.buffer, this.data.byteOffset, this.slots * this.dimension * 4),
      4 + this.slots,
    );
    return out;
  }

  memoryBytes(): number {
    return this.data.byteLength + this.live.byteLength;
  }

  vectorBytes(): number {
    return this.data.byteLength;
  }
}
