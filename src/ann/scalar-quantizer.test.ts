/**
 * The int8 quantizer: the WebAssembly kernels (SIMD and scalar builds) against the
 * JavaScript references for random codes of every length, the core's encoder against
 * encodeScalar, and training (quantile range, offset 0 for inner products, constant data).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { instantiateQuiverWasm } from '../kernels/wasm-module.js';
import type { QuiverWasmExports } from '../kernels/wasm-module.js';
import { createHnswIndex } from './hnsw/hnsw-index.js';
import {
  codeStride,
  dotI8Reference,
  encodeScalar,
  l2sqI8Reference,
  trainScalarQuantizer,
} from './scalar-quantizer.js';

const seed = Number(process.env['QUIVER_FC_SEED'] ?? Date.now() % 1_000_000);
const numRuns = Number(process.env['QUIVER_FC_RUNS'] ?? '200');

interface WasmGlobal {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: unknown };
}

/** The scalar (no SIMD) build, instantiated directly: the loader prefers the SIMD one. */
function scalarBuild(): QuiverWasmExports {
  const wasm = (globalThis as unknown as { WebAssembly: WasmGlobal }).WebAssembly;
  const bytes = readFileSync(new URL('../../build/wasm/quiver-scalar.wasm', import.meta.url));
  const instance = new wasm.Instance(new wasm.Module(bytes), { hnsw: { admit: () => 1 } });
  return instance.exports as QuiverWasmExports;
}

/** A free address in `wasm`'s memory with `bytes` after it (the memory grown to hold them). */
function room(wasm: QuiverWasmExports, bytes: number): number {
  const base = (wasm.heapBase() + 15) & ~15;
  const need = base + bytes - wasm.memory.buffer.byteLength;
  if (need > 0) wasm.memory.grow(Math.ceil(need / 65536));
  return base;
}

describe('int8 kernels', () => {
  const builds: Array<[string, QuiverWasmExports]> = [
    ['simd', instantiateQuiverWasm()!],
    ['scalar', scalarBuild()],
  ];
  for (const [name, wasm] of builds) {
    it(`${name} build: dotI8 and l2sqI8 equal the references at every length (seed ${seed})`, () => {
      const base = room(wasm, 8192);
      const code = fc.integer({ min: -127, max: 127 });
      fc.assert(
        fc.property(
          fc
            .integer({ min: 0, max: 1100 })
            .chain((n) =>
              fc.tuple(
                fc.array(code, { minLength: n, maxLength: n }),
                fc.array(code, { minLength: n, maxLength: n }),
              ),
            ),
          ([xs, ys]) => {
            const a = Int8Array.from(xs);
            const b = Int8Array.from(ys);
            const mem = new Int8Array(wasm.memory.buffer);
            mem.set(a, base);
            mem.set(b, base + 4096);
            assert.equal(wasm.dotI8(base, base + 4096, a.length), dotI8Reference(a, b));
            assert.equal(wasm.l2sqI8(base, base + 4096, a.length) >>> 0, l2sqI8Reference(a, b));
          },
        ),
        { seed, numRuns },
      );
    });
  }

  it('the extremes do not overflow: 65 536 values of ±127', () => {
    const wasm = instantiateQuiverWasm()!;
    const n = 65536;
    const a = room(wasm, 2 * n);
    const b = a + n;
    const mem = new Int8Array(wasm.memory.buffer);
    mem.fill(127, a, a + n);
    mem.fill(-127, b, b + n);
    assert.equal(wasm.dotI8(a, b, n), -127 * 127 * n);
    assert.equal(wasm.l2sqI8(a, b, n) >>> 0, 254 * 254 * n, 'unsigned: past i32, within u32');
  });
});

describe('encoding', () => {
  it(`the core's encoder equals encodeScalar, clipping and NaN included (seed ${seed})`, () => {
    const value = fc.oneof(
      fc.float({ min: -10, max: 10, noDefaultInfinity: true }),
      fc.constantFrom(Number.NaN, Infinity, -Infinity, 0.5, -0.5, 1.5, 2.5),
    );
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 70 })
          .chain((d) =>
            fc.tuple(
              fc.array(value, { minLength: d, maxLength: d }),
              fc.float({ min: -1, max: 1, noNaN: true }),
              fc.float({ min: Math.fround(0.001), max: 1, noNaN: true }),
            ),
          ),
        ([xs, offset, scale]) => {
          const dim = xs.length;
          const v = Float32Array.from(xs);
          const index = createHnswIndex({ dimension: dim, metric: 'euclid' });
          index.add(0, v);
          const q = {
            kind: 'scalar' as const,
            quantile: 0.99,
            offset: Math.fround(offset),
            scale: Math.fround(scale),
          };
          index.quantize(q);
          const mem = index.mem;
          const at = mem.regions.codes;
          const got = new Int8Array(mem.u8.buffer, at, codeStride(dim));
          const want = new Int8Array(codeStride(dim));
          encodeScalar(q, v, want);
          assert.deepEqual(Array.from(got), Array.from(want));
        },
      ),
      { seed, numRuns: Math.min(numRuns, 100) },
    );
  });

  it('the code stride is the dimension rounded up to 16', () => {
    assert.deepEqual([1, 16, 17, 128, 1000].map(codeStride), [16, 16, 32, 128, 1008]);
  });
});

describe('training', () => {
  const values = Float32Array.from({ length: 10_000 }, (_, i) => (i % 1000) - 200);

  it('euclid: the central quantile of the values spans the 255 codes', () => {
    const q = trainScalarQuantizer(values, 100, 100, 'euclid', 0.9);
    // Values -200..799: the 5% and 95% quantiles are about -150 and 749.
    const lo = q.offset - 127 * q.scale;
    const hi = q.offset + 127 * q.scale;
    assert.ok(Math.abs(lo - -150) <= 2 && Math.abs(hi - 749) <= 2, `${lo}..${hi}`);
  });

  it('inner products: offset 0 and the quantile of |x|', () => {
    const q = trainScalarQuantizer(values, 100, 100, 'cosine', 0.99);
    assert.equal(q.offset, 0);
    assert.ok(Math.abs(q.scale * 127 - 789) <= 2, String(q.scale * 127));
  });

  it('constant or empty data still gives a positive scale; non-finite values are skipped', () => {
    for (const v of [new Float32Array(64).fill(3), new Float32Array(0)]) {
      const q = trainScalarQuantizer(v, v.length / 8, 8, 'euclid');
      assert.ok(q.scale > 0);
    }
    const q = trainScalarQuantizer(Float32Array.from([1, NaN, -1, Infinity]), 1, 4, 'dot', 1);
    assert.equal(q.scale, Math.fround(1 / 127));
  });

  it('decoded values are within half a step of the originals inside the range', () => {
    const q = trainScalarQuantizer(values, 100, 100, 'euclid', 1);
    const out = new Int8Array(values.length);
    encodeScalar(q, values, out);
    for (let i = 0; i < values.length; i++) {
      const decoded = q.offset + out[i]! * q.scale;
      assert.ok(Math.abs(decoded - values[i]!) <= q.scale * 0.5 + 1e-3, `value ${values[i]}`);
    }
  });
});
