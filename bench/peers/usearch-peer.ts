/**
 * usearch (Unum's C++ HNSW through N-API) as a benchmark peer, single threaded. Its JS API
 * fixes expansion_search at construction, so setEf saves the built index once and loads it
 * into a new Index with the wanted expansion. Cosine sets run as 'ip' (already normalised).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dataset } from '../datasets.js';
import type { AnnPeer, BuildParams, PeerFactory } from './ann-peer.js';

interface UsearchIndex {
  add(keys: BigUint64Array, vectors: Float32Array, threads?: number): void;
  search(vector: Float32Array, k: number, threads: number): { keys: BigUint64Array };
  save(path: string): void;
  load(path: string): void;
  size(): number;
}
interface UsearchModule {
  Index: new (config: {
    dimensions: number;
    metric: string;
    quantization: string;
    connectivity: number;
    expansion_add: number;
    expansion_search: number;
    multi: boolean;
  }) => UsearchIndex;
}

type UsearchKind = 'f32' | 'i8' | 'b1';

class UsearchPeer implements AnnPeer {
  readonly name: string;
  private readonly lib: UsearchModule;
  /** usearch's scalar kind: f32, i8 (its int8 quantization) or b1 (sign bits, Hamming). */
  private readonly quantization: string;
  private index: UsearchIndex | undefined;
  private queries: Float32Array[] = [];
  private dim = 0;
  private metric = 'l2sq';
  private m = 16;
  private efConstruction = 200;
  private saved: string | undefined;
  private dir: string | undefined;
  private ids = new Int32Array(0);

  constructor(lib: UsearchModule, quantization: UsearchKind) {
    this.lib = lib;
    this.quantization = quantization;
    this.name = quantization === 'f32' ? 'usearch' : `usearch-${quantization}`;
  }

  private make(ef: number): UsearchIndex {
    return new this.lib.Index({
      dimensions: this.dim,
      metric: this.metric,
      quantization: this.quantization,
      connectivity: this.m,
      expansion_add: this.efConstruction,
      expansion_search: ef,
      multi: false,
    });
  }

  private keys = new BigUint64Array(0);
  private base: Float32Array = new Float32Array(0);

  prepare(ds: Dataset): void {
    this.dim = ds.dim;
    // b1 stores the sign bits of the floats and compares them by Hamming distance only.
    this.metric = this.quantization === 'b1' ? 'hamming' : ds.metric === 'euclid' ? 'l2sq' : 'ip';
    this.keys = new BigUint64Array(ds.count);
    for (let i = 0; i < ds.count; i++) this.keys[i] = BigInt(i);
    this.base = ds.base.subarray(0, ds.count * ds.dim);
    this.queries = [];
    for (let q = 0; q < ds.queryCount; q++) {
      this.queries.push(ds.queries.subarray(q * ds.dim, (q + 1) * ds.dim));
    }
  }

  build(params: BuildParams): void {
    this.m = params.m;
    this.efConstruction = params.efConstruction;
    const index = this.make(64);
    index.add(this.keys, this.base, 1);
    this.index = index;
    this.saved = undefined;
  }

  setEf(ef: number): void {
    if (this.saved === undefined) {
      this.dir = mkdtempSync(join(tmpdir(), 'quiver-bench-usearch-'));
      this.saved = join(this.dir, 'index.usearch');
      this.index!.save(this.saved);
    }
    const index = this.make(ef);
    index.load(this.saved);
    this.index = index;
  }

  search(q: number, k: number): ArrayLike<number> {
    const keys = this.index!.search(this.queries[q]!, k, 1).keys;
    if (this.ids.length !== keys.length) this.ids = new Int32Array(keys.length);
    for (let i = 0; i < keys.length; i++) this.ids[i] = Number(keys[i]);
    return this.ids;
  }

  accountedBytes(): number | undefined {
    return undefined;
  }

  dispose(): void {
    this.index = undefined;
    if (this.dir !== undefined) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
    this.saved = undefined;
  }
}

/** A usearch peer storing `quantization` scalars, or why it is unavailable. */
function usearchOf(quantization: UsearchKind): PeerFactory {
  return async () => {
    try {
      const mod = (await import('usearch')) as unknown as UsearchModule & {
        default?: UsearchModule;
      };
      const lib = mod.Index !== undefined ? mod : mod.default;
      if (lib === undefined) return 'usearch loaded without Index';
      return new UsearchPeer(lib, quantization);
    } catch (e) {
      return `usearch unavailable: ${e instanceof Error ? e.message : String(e)}`;
    }
  };
}

/** The usearch peer (float32 vectors). */
export const usearchPeer: PeerFactory = usearchOf('f32');

/** usearch with its int8 quantization (`i8`). */
export const usearchI8Peer: PeerFactory = usearchOf('i8');

/** usearch with its binary quantization (`b1`: sign bits, Hamming distance, no rescoring). */
export const usearchB1Peer: PeerFactory = usearchOf('b1');
