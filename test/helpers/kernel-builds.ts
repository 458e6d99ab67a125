/**
 * Fixtures for the kernels' property tests: both builds of the module (the loader
 * prefers SIMD, so the scalar one is instantiated directly) and room in an instance's
 * memory for the test's bytes.
 */
import { readFileSync } from 'node:fs';
import { instantiateQuiverWasm } from '../../src/kernels/wasm-module.js';
import type { QuiverWasmExports } from '../../src/kernels/wasm-module.js';

interface WasmGlobal {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: unknown };
}

/** The scalar (no SIMD) build, instantiated directly. */
export function scalarBuild(): QuiverWasmExports {
  const wasm = (globalThis as unknown as { WebAssembly: WasmGlobal }).WebAssembly;
  const bytes = readFileSync(new URL('../../build/wasm/quiver-scalar.wasm', import.meta.url));
  const instance = new wasm.Instance(new wasm.Module(bytes), { hnsw: { admit: () => 1 } });
  return instance.exports as QuiverWasmExports;
}

/** Both builds, named: what each kernel test runs against. */
export function kernelBuilds(): Array<[string, QuiverWasmExports]> {
  return [
    ['simd', instantiateQuiverWasm()!],
    ['scalar', scalarBuild()],
  ];
}

/** A free address in `wasm`'s memory with `bytes` after it (the memory grown to hold them). */
export function room(wasm: QuiverWasmExports, bytes: number): number {
  const base = (wasm.heapBase() + 15) & ~15;
  const need = base + bytes - wasm.memory.buffer.byteLength;
  if (need > 0) wasm.memory.grow(Math.ceil(need / 65536));
  return base;
}
