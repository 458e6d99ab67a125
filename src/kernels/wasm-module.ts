/**
 * Finds and compiles the AssemblyScript module (quiver-simd.wasm, or quiver-scalar.wasm where
 * the engine lacks SIMD) once per process, and instantiates it: one instance, with its own
 * linear memory, per user. A missing .wasm is a warning and `undefined`, never a crash.
 * quiver-simd-shared.wasm is the same code over an imported shared memory, which several
 * threads' instances can search at once (each with its own globals).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A WebAssembly.Memory (typed here: the project's lib has no DOM/WebAssembly types). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}

/** A compiled WebAssembly.Module (opaque). */
export interface WasmCompiledModule {
  readonly __brand?: 'WebAssembly.Module';
}

/** The slice of the global WebAssembly API the loader uses. */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => WasmCompiledModule;
  Instance: new (
    module: WasmCompiledModule,
    imports: Record<string, Record<string, unknown>>,
  ) => { readonly exports: unknown };
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
}

const wasmApi = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

/** The abiVersion() the module must report (src/kernels/as/quiver.ts): a stale build is refused. */
const ABI_VERSION = 5;

/** The exports of one instance of the module (see src/kernels/as/quiver.ts). @internal */
export interface QuiverWasmExports {
  readonly memory: WasmMemory;
  dotF32(a: number, b: number, n: number): number;
  l2sqF32(a: number, b: number, n: number): number;
  dotI8(a: number, b: number, n: number): number;
  l2sqI8(a: number, b: number, n: number): number;
  hammingBits(a: number, b: number, n: number): number;
  planeDot(q: number, b: number, n: number, bits: number): number;
  scanScores(q: number, base: number, count: number, dim: number, metric: number): number;
  heapBase(): number;
  setParams(dim: number, metric: number, m: number, m0: number): void;
  setRegions(
    capacity: number,
    vecs: number,
    links0: number,
    levels: number,
    flags: number,
    upperOff: number,
    upper: number,
    visited: number,
    allow: number,
    pool: number,
    sel: number,
    heap: number,
    heapCapacity: number,
    query: number,
    out: number,
  ): void;
  setEntry(entry: number, level: number): void;
  getEntry(): number;
  getMaxLevel(): number;
  lastVisited(): number;
  lastDistances(): number;
  search(ef: number, mode: number, slots: number): number;
  searchCodes(ef: number, mode: number, slots: number, rescore: number): number;
  setCodes(
    region: number,
    stride: number,
    scale: number,
    qcode: number,
    kind: number,
    planes: number,
    queryBits: number,
  ): void;
  encodeSlots(from: number, to: number): void;
  encodeRowAt(src: number, id: number): void;
  pqAssign(rows: number, n: number, s: number, book: number, out: number, scratch: number): void;
  scanExact(k: number, useAllow: number, from: number, slots: number, staged: number): number;
  insert(id: number, level: number, efConstruction: number): void;
  repair(slots: number): number;
}

/** Which build of the module is loaded. */
export type WasmFlavour = 'simd' | 'scalar';

/** The compiled module and where it came from. @internal */
export interface LoadedWasmModule {
  readonly flavour: WasmFlavour;
  readonly path: string;
  readonly module: WasmCompiledModule;
}

// (module (func (result v128) (v128.const i32x4 0 0 0 0))): validates only with SIMD.
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03,
  0x02, 0x01, 0x00, 0x0a, 0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0b,
]);

/** True when this engine runs WebAssembly with 128-bit SIMD. */
export function wasmSimdSupported(): boolean {
  try {
    return wasmApi !== undefined && wasmApi.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

/**
 * Places the loader looks for a .wasm file: only $QUIVER_WASM_DIR when it is set; else beside
 * this file (dist/kernels/ in the built package), then the repository's build/wasm/ (from
 * src/kernels/ under tsx, or from dist/kernels/).
 */
function candidatePaths(file: string): string[] {
  const dir = process.env['QUIVER_WASM_DIR'];
  if (dir !== undefined && dir !== '') return [`${dir.replace(/\/+$/, '')}/${file}`];
  return [
    fileURLToPath(new URL(`./${file}`, import.meta.url)),
    fileURLToPath(new URL(`../../build/wasm/${file}`, import.meta.url)),
  ];
}

/** Compiles the first of `files` found that reports the expected ABI; else a reason. */
function compileFirst(
  files: ReadonlyArray<{ flavour: WasmFlavour; file: string }>,
  imports: () => Record<string, Record<string, unknown>>,
): LoadedWasmModule | string {
  if (wasmApi === undefined) return 'WebAssembly is not available in this runtime';
  const tried: string[] = [];
  let failure = '';
  for (const { flavour, file } of files) {
    for (const path of candidatePaths(file)) {
      tried.push(path);
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(path);
      } catch {
        continue;
      }
      try {
        const module = new wasmApi.Module(bytes);
        const probe = new wasmApi.Instance(module, imports());
        const abi = (probe.exports as { abiVersion?: () => number }).abiVersion?.();
        if (abi !== ABI_VERSION) {
          failure = `${path} is stale (ABI ${String(abi)}, expected ${ABI_VERSION}): run "npm run build"`;
          continue;
        }
        return { flavour, path, module };
      } catch (e) {
        failure = `${path} failed to compile: ${e instanceof Error ? e.message : String(e)}`;
      }
    }
  }
  return failure !== ''
    ? failure
    : `no Quiver .wasm found (run "npm run build"); looked in ${tried.join(', ')}`;
}

let loaded: LoadedWasmModule | null | undefined;
let failure = '';

/**
 * The compiled module, or undefined (with one process warning) when WebAssembly is
 * unavailable or no .wasm file was found. Compiles synchronously, once. @internal
 */
export function loadWasmModule(): LoadedWasmModule | undefined {
  if (loaded !== undefined) return loaded ?? undefined;
  const flavours: WasmFlavour[] = wasmSimdSupported() ? ['simd', 'scalar'] : ['scalar'];
  const result = compileFirst(
    flavours.map((flavour) => ({ flavour, file: `quiver-${flavour}.wasm` })),
    () => ({ hnsw: { admit: () => 1 } }),
  );
  if (typeof result === 'string') {
    loaded = null;
    failure = result;
    process.emitWarning(`${failure}. Falling back to the scalar JavaScript kernel.`, {
      code: 'QUIVER_WASM_UNAVAILABLE',
    });
    return undefined;
  }
  loaded = result;
  return loaded;
}

/** Pages of 64 KiB; a shared memory declares its maximum up front (4 GiB: wasm32's limit). */
const PAGE = 65536;
const MAX_PAGES = 65536;

/** A zeroed shared memory of at least `bytes`, growable to 4 GiB. @internal */
export function createSharedMemory(bytes: number): WasmMemory {
  if (wasmApi === undefined) throw new Error('WebAssembly is not available in this runtime');
  const pages = Math.max(1, Math.ceil(bytes / PAGE));
  return new wasmApi.Memory({ initial: pages, maximum: MAX_PAGES, shared: true });
}

let sharedLoaded: LoadedWasmModule | null | undefined;
let sharedFailure = '';

/**
 * The shared-memory build (quiver-simd-shared.wasm), or undefined where SIMD, shared memory
 * or the file is missing (search then stays on the main thread; no warning). @internal
 */
export function loadSharedWasmModule(): LoadedWasmModule | undefined {
  if (sharedLoaded !== undefined) return sharedLoaded ?? undefined;
  sharedLoaded = null;
  if (!wasmSimdSupported()) {
    sharedFailure = 'this engine lacks WebAssembly SIMD';
    return undefined;
  }
  let probeMemory: WasmMemory;
  try {
    probeMemory = createSharedMemory(PAGE);
  } catch (e) {
    sharedFailure = `shared WebAssembly memory is unavailable: ${e instanceof Error ? e.message : String(e)}`;
    return undefined;
  }
  const result = compileFirst([{ flavour: 'simd', file: 'quiver-simd-shared.wasm' }], () => ({
    env: { memory: probeMemory },
    hnsw: { admit: () => 1 },
  }));
  if (typeof result === 'string') sharedFailure = result;
  else sharedLoaded = result;
  return sharedLoaded ?? undefined;
}

/** Why the shared-memory module is unavailable ('' when it loaded or was not asked for). @internal */
export function sharedWasmLoadFailure(): string {
  return sharedFailure;
}

/**
 * An instance of the shared-memory build over `memory` (each thread makes its own), or
 * undefined when that build is unavailable. @internal
 */
export function instantiateSharedQuiverWasm(
  memory: WasmMemory,
  admit: (internalId: number) => number = () => 1,
): QuiverWasmExports | undefined {
  const mod = loadSharedWasmModule();
  if (mod === undefined || wasmApi === undefined) return undefined;
  const instance = new wasmApi.Instance(mod.module, { env: { memory }, hnsw: { admit } });
  return instance.exports as QuiverWasmExports;
}

/** Why the module is unavailable ('' when it loaded or was not asked for yet). @internal */
export function wasmLoadFailure(): string {
  return failure;
}

/**
 * A fresh instance with its own memory, or undefined when the module is unavailable.
 * `admit` serves search mode 3 (a JS filter callback per visited node). @internal
 */
export function instantiateQuiverWasm(
  admit: (internalId: number) => number = () => 1,
): QuiverWasmExports | undefined {
  const mod = loadWasmModule();
  if (mod === undefined || wasmApi === undefined) return undefined;
  const instance = new wasmApi.Instance(mod.module, { hnsw: { admit } });
  return instance.exports as QuiverWasmExports;
}
