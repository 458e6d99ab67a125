/**
 * Run-time kernel choice: the WebAssembly kernel (SIMD where available) when the module
 * loads, else the scalar JS reference. `kernelInfo()` says which one is active and why.
 */
import type { DistanceKernel } from './distance-kernel.js';
import { SCALAR_KERNEL } from './scalar-kernel.js';
import { createWasmKernel } from './wasm-kernel.js';
import type { WasmFlavour } from './wasm-module.js';
import { loadWasmModule, wasmLoadFailure, wasmSimdSupported } from './wasm-module.js';

/** What runs distance computations in this process. */
export interface KernelInfo {
  /** The active kernel's name: 'wasm-simd', 'wasm' or 'scalar'. */
  readonly name: string;
  /** The loaded WebAssembly build, or 'none' when running the JS fallback. */
  readonly wasm: WasmFlavour | 'none';
  /** True when the engine validates 128-bit WebAssembly SIMD. */
  readonly simdSupported: boolean;
  /** The .wasm file in use, when one is. */
  readonly wasmPath?: string;
  /** Why the JS fallback runs, when it does. */
  readonly fallbackReason?: string;
}

let active: DistanceKernel | undefined;

/**
 * The kernel to use: WebAssembly when its module loads, else {@link SCALAR_KERNEL}.
 * Decided once per process.
 */
export function activeKernel(): DistanceKernel {
  active ??= createWasmKernel() ?? SCALAR_KERNEL;
  return active;
}

/**
 * Which kernel is active and where it came from, e.g.
 * `{ name: 'wasm-simd', wasm: 'simd', simdSupported: true, wasmPath: '…/quiver-simd.wasm' }`.
 */
export function kernelInfo(): KernelInfo {
  const kernel = activeKernel();
  const mod = loadWasmModule();
  const simdSupported = wasmSimdSupported();
  if (mod === undefined) {
    return { name: kernel.name, wasm: 'none', simdSupported, fallbackReason: wasmLoadFailure() };
  }
  return { name: kernel.name, wasm: mod.flavour, simdSupported, wasmPath: mod.path };
}
