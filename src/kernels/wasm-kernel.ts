/**
 * WasmKernel: the DistanceKernel backed by the AssemblyScript module (f32x4 SIMD where the
 * engine has it). Vectors outside its memory are copied into a scratch region per call, so
 * hot loops (HNSW) call the module's own loops instead of this per-pair interface.
 */
import type { DistanceKernel } from './distance-kernel.js';
import type { QuiverWasmExports, WasmFlavour } from './wasm-module.js';
import { instantiateQuiverWasm, loadWasmModule } from './wasm-module.js';

const PAGE = 65536;

/** A DistanceKernel over one private instance of the Quiver WebAssembly module. */
export class WasmKernel implements DistanceKernel {
  readonly name: string;
  /** Which build of the module runs: 'simd' (f32x4) or 'scalar'. */
  readonly flavour: WasmFlavour;
  private readonly wasm: QuiverWasmExports;
  private readonly scratch: number;
  private f32: Float32Array;
  private staged = { dim: 0, count: 0 };

  /** Use {@link createWasmKernel}; this constructor takes an instance already made. */
  constructor(wasm: QuiverWasmExports, flavour: WasmFlavour) {
    this.wasm = wasm;
    this.flavour = flavour;
    this.name = flavour === 'simd' ? 'wasm-simd' : 'wasm';
    this.scratch = (wasm.heapBase() + 15) & ~15;
    this.f32 = new Float32Array(wasm.memory.buffer);
  }

  /** Float32 view of the module memory, re-made after growth. */
  private view(): Float32Array {
    if (this.f32.buffer !== this.wasm.memory.buffer) {
      this.f32 = new Float32Array(this.wasm.memory.buffer);
    }
    return this.f32;
  }

  private ensure(bytes: number): void {
    const need = this.scratch + bytes - this.wasm.memory.buffer.byteLength;
    if (need > 0) this.wasm.memory.grow(Math.ceil(need / PAGE));
  }

  /** Byte offsets of both operands inside module memory, copying them in when needed. */
  private place(
    a: Float32Array,
    aOff: number,
    b: Float32Array,
    bOff: number,
    dim: number,
  ): [number, number] {
    const mem = this.wasm.memory.buffer;
    const aIn = a.buffer === mem;
    const bIn = b.buffer === mem;
    if (aIn && bIn) return [a.byteOffset + aOff * 4, b.byteOffset + bOff * 4];
    this.ensure(dim * 8);
    const f32 = this.view();
    const base = this.scratch >> 2;
    let pa = a.byteOffset + aOff * 4;
    let pb = b.byteOffset + bOff * 4;
    if (!aIn) {
      f32.set(a.subarray(aOff, aOff + dim), base);
      pa = this.scratch;
    }
    if (!bIn) {
      f32.set(b.subarray(bOff, bOff + dim), base + dim);
      pb = this.scratch + dim * 4;
    }
    return [pa, pb];
  }

  dot(a: Float32Array, aOff: number, b: Float32Array, bOff: number, dim: number): number {
    const [pa, pb] = this.place(a, aOff, b, bOff, dim);
    return this.wasm.dotF32(pa, pb, dim);
  }

  l2sq(a: Float32Array, aOff: number, b: Float32Array, bOff: number, dim: number): number {
    const [pa, pb] = this.place(a, aOff, b, bOff, dim);
    return this.wasm.l2sqF32(pa, pb, dim);
  }

  /**
   * Copies `base` (`count` vectors of `dim` floats, back to back) into the module for
   * {@link scanStaged}: a throughput probe for benchmarks, so no copy is timed.
   */
  stage(base: Float32Array, dim: number): void {
    this.ensure(dim * 4 + base.length * 4);
    this.view().set(base, (this.scratch >> 2) + dim);
    this.staged = { dim, count: Math.floor(base.length / dim) };
  }

  /**
   * Scores `query` against every staged vector in one call (the loop runs in WebAssembly)
   * and returns the sum. `metric`: 'l2' = squared L2, 'dot' = dot product.
   */
  scanStaged(query: Float32Array, metric: 'l2' | 'dot'): number {
    const { dim, count } = this.staged;
    if (query.length !== dim)
      throw new RangeError(`query has ${query.length} values, staged ${dim}`);
    this.view().set(query, this.scratch >> 2);
    return this.wasm.scanScores(
      this.scratch,
      this.scratch + dim * 4,
      count,
      dim,
      metric === 'l2' ? 0 : 1,
    );
  }
}

/** A WasmKernel, or undefined when the module is unavailable (a warning was emitted). */
export function createWasmKernel(): WasmKernel | undefined {
  const mod = loadWasmModule();
  const wasm = instantiateQuiverWasm();
  if (mod === undefined || wasm === undefined) return undefined;
  return new WasmKernel(wasm, mod.flavour);
}
