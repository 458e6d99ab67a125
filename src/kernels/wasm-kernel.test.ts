/**
 * The WebAssembly kernel against its oracle, the scalar JS kernel: equal within f32
 * tolerance for random vectors of every dimension from 1 to 1100 (odd tails included), and
 * the fallback to JS with a warning when no .wasm file can be found.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { kernelInfo } from './kernel-select.js';
import { SCALAR_KERNEL } from './scalar-kernel.js';
import { createWasmKernel } from './wasm-kernel.js';

const seed = Number(process.env['QUIVER_FC_SEED'] ?? Date.now() % 1_000_000);
const numRuns = Number(process.env['QUIVER_FC_RUNS'] ?? '3');

/** |a - b| within a relative f32 accumulation error of the summed magnitudes. */
function close(actual: number, expected: number, magnitude: number): boolean {
  return Math.abs(actual - expected) <= 1e-4 * magnitude + 1e-6;
}

describe('WasmKernel vs scalar kernel', () => {
  const wasm = createWasmKernel();

  it('loads the WebAssembly build (run npm run build first)', () => {
    assert.ok(wasm !== undefined, 'quiver .wasm missing');
    assert.equal(kernelInfo().name, wasm.name);
    // Every supported Node validates 128-bit SIMD: the scalar wasm build loading instead
    // would be a silent 3-4x slowdown, so it is a failure here, not a fallback.
    assert.equal(kernelInfo().simdSupported, true, 'this Node validates WebAssembly SIMD');
    assert.equal(kernelInfo().wasm, 'simd', 'the SIMD build is the one loaded');
    assert.equal(wasm.name, 'wasm-simd');
  });

  it(`agrees on dot and l2sq for every dimension 1..1100 (seed ${seed})`, () => {
    assert.ok(wasm !== undefined);
    const value = fc.float({ min: -1000, max: 1000, noNaN: true, noDefaultInfinity: true });
    for (let dim = 1; dim <= 1100; dim++) {
      fc.assert(
        fc.property(
          fc.array(value, { minLength: dim + 3, maxLength: dim + 3 }),
          fc.array(value, { minLength: dim + 3, maxLength: dim + 3 }),
          fc.nat(3),
          fc.nat(3),
          (xs, ys, aOff, bOff) => {
            const a = Float32Array.from(xs);
            const b = Float32Array.from(ys);
            let dotMag = 0;
            let l2Mag = 0;
            for (let i = 0; i < dim; i++) {
              dotMag += Math.abs(a[aOff + i]! * b[bOff + i]!);
              l2Mag += (a[aOff + i]! - b[bOff + i]!) ** 2;
            }
            const dot = wasm.dot(a, aOff, b, bOff, dim);
            const l2 = wasm.l2sq(a, aOff, b, bOff, dim);
            assert.ok(close(dot, SCALAR_KERNEL.dot(a, aOff, b, bOff, dim), dotMag), `dot d=${dim}`);
            assert.ok(close(l2, SCALAR_KERNEL.l2sq(a, aOff, b, bOff, dim), l2Mag), `l2 d=${dim}`);
          },
        ),
        { seed: seed + dim, numRuns },
      );
    }
  });

  it('scores identical vectors exactly', () => {
    assert.ok(wasm !== undefined);
    const v = Float32Array.from({ length: 37 }, (_, i) => i - 18);
    assert.equal(wasm.l2sq(v, 0, v, 0, 37), 0);
    assert.equal(wasm.dot(v, 0, v, 0, 37), SCALAR_KERNEL.dot(v, 0, v, 0, 37));
  });
});

describe('kernel fallback', () => {
  it('falls back to the scalar JS kernel with a warning when the .wasm is missing', () => {
    const empty = mkdtempSync(join(tmpdir(), 'quiver-nowasm-'));
    try {
      const url = new URL('./kernel-select.ts', import.meta.url).href;
      const run = spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          '--input-type=module',
          '-e',
          `const k = await import(${JSON.stringify(url)}); const i = k.kernelInfo(); ` +
            `console.log(JSON.stringify([i.name, k.activeKernel().dot(new Float32Array([1,2]),0,new Float32Array([3,4]),0,2)]));`,
        ],
        { env: { ...process.env, QUIVER_WASM_DIR: empty }, encoding: 'utf8' },
      );
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout.trim(), '["scalar",11]');
      assert.match(
        run.stderr,
        /QUIVER_WASM_UNAVAILABLE|Falling back to the scalar JavaScript kernel/,
      );
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
