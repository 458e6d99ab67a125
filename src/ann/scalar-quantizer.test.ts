/**
 * The int8 quantizer: the WebAssembly kernels (SIMD and scalar builds) against the
 * JavaScript references for random codes of every length, the core's encoder against
 * encodeScalar, and training (quantile range, offset 0 for inner products, constant data).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { kernelBuilds, room } from '../../test/helpers/kernel-builds.js';
import { instantiateQuiverWasm } from '../kernels/wasm-module.js';
import { createHnswIndex } from './hnsw/hnsw-index.js';
import {
  codeHeaderBytes,
  codeLength,
  codeRowBytes,
  dotI8Reference,
  encodeScalar,
  l2sqI8Reference,
  trainScalarQuantizer,
} from './scalar-quantizer.js';
import type { ScalarQuantizer } from './scalar-quantizer.js';

const seed = Number(process.env['QUIVER_FC_SEED'] ?? Date.now() % 1_000_000);
const numRuns = Number(process.env['QUIVER_FC_RUNS'] ?? '200');

describe('int8 kernels', () => {
  for (const [name, wasm] of kernelBuilds()) {
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

/**
 * 1..70 values (finite ones, NaN, ±Infinity, halves that round to even, and `extra`) with a
 * quantizer of random offsets in [-1, 1] and a scale from `minScale` to 1.
 */
function encodingCase(
  extra: readonly number[],
  minScale: number,
): fc.Arbitrary<{ xs: number[]; quantizer: ScalarQuantizer }> {
  const value = fc.oneof(
    fc.float({ min: -10, max: 10, noDefaultInfinity: true }),
    fc.constantFrom(Number.NaN, Infinity, -Infinity, 0.5, -0.5, 1.5, 2.5, ...extra),
  );
  return fc.integer({ min: 1, max: 70 }).chain((d) =>
    fc
      .tuple(
        fc.array(value, { minLength: d, maxLength: d }),
        fc.array(fc.float({ min: -1, max: 1, noNaN: true }), { minLength: d, maxLength: d }),
        fc.float({ min: Math.fround(minScale), max: 1, noNaN: true }),
      )
      .map(([xs, offsets, scale]) => ({
        xs,
        quantizer: {
          kind: 'scalar' as const,
          quantile: 0.99,
          offsets: Float32Array.from(offsets),
          scale: Math.fround(scale),
        },
      })),
  );
}

describe('encoding', () => {
  it(`the core's encoder equals encodeScalar, bias, clipping and NaN included (seed ${seed})`, () => {
    fc.assert(
      fc.property(encodingCase([], 0.001), ({ xs, quantizer: q }) => {
        const dim = xs.length;
        const v = Float32Array.from(xs);
        const index = createHnswIndex({ dimension: dim, metric: 'euclid' });
        index.add(0, v);
        index.quantize(q);
        const mem = index.mem;
        const row = mem.regions.codes + codeHeaderBytes(dim);
        const got = new Int8Array(mem.u8.buffer, row, codeLength(dim));
        const want = new Int8Array(codeLength(dim));
        const bias = encodeScalar(q, v, want);
        assert.deepEqual(Array.from(got), Array.from(want));
        assert.equal(mem.f32[(row + codeLength(dim)) >> 2], bias, 'the row ends with its bias');
      }),
      { seed, numRuns: Math.min(numRuns, 100) },
    );
  });

  it(`a search encodes its query (16 values at a time) as encodeScalar does (seed ${seed})`, () => {
    fc.assert(
      fc.property(encodingCase([126.5, 127.5], 0.01), ({ xs, quantizer: q }) => {
        const dim = xs.length;
        const index = createHnswIndex({ dimension: dim, metric: 'dot' });
        index.add(0, new Float32Array(dim).fill(0.25));
        index.quantize(q);
        const query = Float32Array.from(xs);
        index.search(query, { k: 1 });
        const mem = index.mem;
        const got = new Int8Array(mem.u8.buffer, mem.regions.qcode, codeLength(dim));
        const want = new Int8Array(codeLength(dim));
        encodeScalar(q, query, want);
        assert.deepEqual(Array.from(got), Array.from(want));
      }),
      { seed, numRuns: Math.min(numRuns, 100) },
    );
  });

  it('a row is the codes rounded up to 16 bytes, then a 16-byte tail', () => {
    assert.deepEqual([1, 16, 17, 128, 1000].map(codeLength), [16, 16, 32, 128, 1008]);
    assert.deepEqual([1, 128].map(codeRowBytes), [32, 144]);
  });
});

describe('training', () => {
  // 100 vectors of 100 values: dimension d holds d·10 + (i % 21) - 10 for vector i.
  const dim = 100;
  const values = Float32Array.from({ length: 100 * dim }, (_, j) => {
    const d = j % dim;
    const i = Math.floor(j / dim);
    return d * 10 + (i % 21) - 10;
  });

  it('offsets are the per-dimension means; the scale covers the quantile of centred values', () => {
    const q = trainScalarQuantizer(values, 100, dim, 1);
    for (let d = 0; d < dim; d++) {
      let mean = 0;
      for (let i = 0; i < 100; i++) mean += values[i * dim + d]!;
      assert.ok(Math.abs(q.offsets[d]! - mean / 100) < 1e-3, `dimension ${d}`);
    }
    // Centred values stay within about ±10 in every dimension, whatever its mean.
    assert.ok(q.scale * 127 > 9 && q.scale * 127 < 11.5, String(q.scale * 127));
  });

  it('a lower quantile clips the tails: a smaller scale', () => {
    const full = trainScalarQuantizer(values, 100, dim, 1);
    const clipped = trainScalarQuantizer(values, 100, dim, 0.5);
    assert.ok(clipped.scale < full.scale * 0.75);
  });

  it('constant or empty data still gives a positive scale; non-finite values are skipped', () => {
    for (const v of [new Float32Array(64).fill(3), new Float32Array(0)]) {
      const q = trainScalarQuantizer(v, v.length / 8, 8);
      assert.ok(q.scale > 0);
    }
    const q = trainScalarQuantizer(Float32Array.from([1, NaN, -1, Infinity]), 2, 2, 1);
    assert.deepEqual(Array.from(q.offsets), [0, 0]);
    assert.equal(q.scale, Math.fround(1 / 127));
  });

  it('values at the ends of float32 or tiny ones still give a usable scale', () => {
    const huge = Float32Array.from({ length: 64 }, (_, i) => (i % 2 === 0 ? 3.4e38 : -3.4e38));
    const tiny = Float32Array.from({ length: 64 }, (_, i) => (i % 2 === 0 ? 1e-44 : -1e-44));
    for (const v of [huge, tiny]) {
      const q = trainScalarQuantizer(v, 8, 8, 1);
      assert.ok(q.scale > 0 && Number.isFinite(q.scale), String(q.scale));
      const index = createHnswIndex({ dimension: 8, metric: 'euclid' });
      index.add(0, v.subarray(0, 8));
      index.quantize(q);
      assert.deepEqual(index.search(v.subarray(0, 8), { k: 1 }).ids, [0]);
    }
  });

  it('decoded values are within half a step of the originals inside the range', () => {
    const q = trainScalarQuantizer(values, 100, dim, 1);
    const out = new Int8Array(codeLength(dim));
    for (let i = 0; i < 100; i++) {
      encodeScalar(q, values, out, i * dim, dim);
      for (let d = 0; d < dim; d++) {
        const decoded = q.offsets[d]! + out[d]! * q.scale;
        assert.ok(Math.abs(decoded - values[i * dim + d]!) <= q.scale * 0.5 + 1e-3);
      }
    }
  });
});
