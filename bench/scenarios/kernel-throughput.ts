/**
 * Scenario "kernel throughput": distance evaluations per second at the datasets' dimensions
 * for the scalar JS kernel, the WebAssembly kernel called once per pair through the
 * DistanceKernel interface, and the WebAssembly kernel looping inside the module.
 */
import { SCALAR_KERNEL } from '../../src/kernels/scalar-kernel.js';
import { createWasmKernel } from '../../src/kernels/wasm-kernel.js';

/** Evaluations per second for one dimension and metric. */
export interface KernelThroughput {
  readonly dim: number;
  readonly metric: 'l2' | 'dot';
  readonly kernel: string;
  readonly jsPerSec: number;
  readonly wasmPerCallPerSec?: number;
  readonly wasmLoopPerSec?: number;
}

function rate(run: () => number, evalsPerRun: number, minSeconds: number): number {
  let sink = 0;
  let evals = 0;
  const t0 = performance.now();
  let elapsed = 0;
  do {
    sink += run();
    evals += evalsPerRun;
    elapsed = (performance.now() - t0) / 1000;
  } while (elapsed < minSeconds);
  if (Number.isNaN(sink)) throw new Error('unreachable: keeps the loop observable');
  return evals / elapsed;
}

/** One pass of the scalar kernel over `count` vectors (a fresh closure per metric keeps it monomorphic). */
function scalarLoop(
  metric: 'l2' | 'dot',
  query: Float32Array,
  base: Float32Array,
  count: number,
  dim: number,
): () => number {
  if (metric === 'l2') {
    return () => {
      let s = 0;
      for (let i = 0; i < count; i++) s += SCALAR_KERNEL.l2sq(query, 0, base, i * dim, dim);
      return s;
    };
  }
  return () => {
    let s = 0;
    for (let i = 0; i < count; i++) s += SCALAR_KERNEL.dot(query, 0, base, i * dim, dim);
    return s;
  };
}

/** Measures both metrics at each of `dims`. */
export function runKernelThroughput(
  dims: readonly number[],
  minSeconds: number,
): KernelThroughput[] {
  const wasm = createWasmKernel();
  const out: KernelThroughput[] = [];
  for (const dim of dims) {
    // 256 KiB of vectors: in cache, so this measures arithmetic, not memory bandwidth.
    const count = Math.max(16, Math.floor((1 << 18) / (dim * 4)));
    const base = Float32Array.from({ length: count * dim }, () => Math.random() * 2 - 1);
    const query = Float32Array.from({ length: dim }, () => Math.random() * 2 - 1);
    for (const metric of ['l2', 'dot'] as const) {
      const js = rate(scalarLoop(metric, query, base, count, dim), count, minSeconds);
      if (wasm === undefined) {
        out.push({ dim, metric, kernel: 'scalar', jsPerSec: js });
        continue;
      }
      const perCall = rate(
        () => {
          let s = 0;
          for (let i = 0; i < count; i++) {
            s +=
              metric === 'l2'
                ? wasm.l2sq(query, 0, base, i * dim, dim)
                : wasm.dot(query, 0, base, i * dim, dim);
          }
          return s;
        },
        count,
        minSeconds,
      );
      wasm.stage(base, dim);
      const loop = rate(() => wasm.scanStaged(query, metric), count, minSeconds);
      out.push({
        dim,
        metric,
        kernel: wasm.name,
        jsPerSec: js,
        wasmPerCallPerSec: perCall,
        wasmLoopPerSec: loop,
      });
    }
  }
  return out;
}
