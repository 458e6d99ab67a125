/**
 * The binary quantizer: the WebAssembly kernels (SIMD and scalar builds) against the
 * JavaScript references for random bytes of every length and plane count, the core's
 * encoder against encodeBinary (planes and tail, NaN included), and training.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { kernelBuilds, room } from '../../test/helpers/kernel-builds.js';
import { instantiateQuiverWasm } from '../kernels/wasm-module.js';
import {
  binaryRowBytes,
  bitPlaneBytes,
  encodeBinary,
  hammingReference,
  planeDotReference,
  trainBinaryQuantizer,
} from './binary-quantizer.js';
import type { BinaryQuantizer } from './binary-quantizer.js';
import { codeParams, headerBytes } from './quantizer.js';
import { createHnswIndex } from './hnsw/hnsw-index.js';

const seed = Number(process.env['QUIVER_FC_SEED'] ?? Date.now() % 1_000_000);
const numRuns = Number(process.env['QUIVER_FC_RUNS'] ?? '200');

describe('binary kernels', () => {
  for (const [name, wasm] of kernelBuilds()) {
    it(`${name} build: hammingBits and planeDot equal the references (seed ${seed})`, () => {
      const base = room(wasm, 16384);
      fc.assert(
        fc.property(
          fc
            .integer({ min: 0, max: 300 })
            .chain((n) =>
              fc.tuple(
                fc.integer({ min: 1, max: 8 }),
                fc.uint8Array({ minLength: n * 8, maxLength: n * 8 }),
                fc.uint8Array({ minLength: n, maxLength: n }),
              ),
            ),
          ([bits, q, b]) => {
            const n = b.length;
            const mem = new Uint8Array(wasm.memory.buffer);
            mem.set(q, base);
            mem.set(b, base + 8192);
            assert.equal(
              wasm.hammingBits(base, base + 8192, n),
              hammingReference(q.subarray(0, n), b),
            );
            assert.equal(wasm.planeDot(base, base + 8192, n, bits), planeDotReference(q, b, bits));
          },
        ),
        { seed, numRuns },
      );
    });
  }

  it('planeDot of 8 full planes over 8 192 bytes does not overflow', () => {
    const wasm = instantiateQuiverWasm()!;
    const n = 8192;
    const base = room(wasm, 9 * n);
    new Uint8Array(wasm.memory.buffer).fill(0xff, base, base + 9 * n);
    assert.equal(wasm.planeDot(base, base + 8 * n, n, 8), 255 * 8 * n);
    assert.equal(wasm.hammingBits(base, base + n, n), 0);
  });
});

/**
 * 1..100 values (finite, NaN, ±Infinity, exactly the offset) and a quantizer for them: up
 * to three of the SIMD build's 32-value blocks, and the scalar loop's rest.
 */
function encodingCase(): fc.Arbitrary<{ xs: number[]; q: BinaryQuantizer }> {
  const value = fc.oneof(
    fc.float({ min: -4, max: 4, noDefaultInfinity: true }),
    fc.constantFrom(Number.NaN, Infinity, -Infinity, 0),
  );
  const positive = fc.float({ min: 0, max: 2, noNaN: true });
  return fc.integer({ min: 1, max: 100 }).chain((d) =>
    fc
      .tuple(
        fc.array(value, { minLength: d, maxLength: d }),
        fc.array(fc.float({ min: -1, max: 1, noNaN: true }), { minLength: d, maxLength: d }),
        fc.array(positive, { minLength: d, maxLength: d }),
        fc.array(positive, { minLength: d, maxLength: d }),
        fc.constantFrom('one_bit' as const, 'two_bits' as const, 'one_and_half_bits' as const),
      )
      .map(([xs, offsets, thresholds, magnitudes, encoding]) => ({
        xs,
        q: {
          kind: 'binary' as const,
          encoding,
          queryEncoding: 'default' as const,
          offsets: Float32Array.from(offsets),
          thresholds: Float32Array.from(encoding === 'one_bit' ? offsets.map(() => 0) : thresholds),
          magnitudes: Float32Array.from(magnitudes),
        },
      })),
  );
}

describe('binary encoding', () => {
  for (const metric of ['euclid', 'dot'] as const) {
    it(`${metric}: the core's rows equal encodeBinary, tail included (seed ${seed})`, () => {
      fc.assert(
        fc.property(encodingCase(), ({ xs, q }) => {
          const dim = xs.length;
          const v = Float32Array.from(xs);
          const index = createHnswIndex({ dimension: dim, metric });
          index.add(0, v);
          index.quantize(q);
          const mem = index.mem;
          const row = mem.regions.codes + headerBytes(codeParams(q));
          const bytes = binaryRowBytes(dim, q.encoding);
          const got = mem.u8.slice(row, row + bytes);
          assert.deepEqual(Array.from(got), Array.from(encodeBinary(q, v, metric === 'dot')));
        }),
        { seed, numRuns: Math.min(numRuns, 100) },
      );
    });
  }

  it('a plane is one bit per value rounded up to 16 bytes; a row adds a 16-byte tail', () => {
    assert.deepEqual([1, 128, 129, 1024].map(bitPlaneBytes), [16, 16, 32, 128]);
    assert.equal(binaryRowBytes(1024, 'one_bit'), 144);
    assert.equal(binaryRowBytes(1024, 'two_bits'), 272);
    // One and a half: the full plane, then one bit per pair of values.
    assert.equal(binaryRowBytes(1024, 'one_and_half_bits'), 128 + 64 + 16);
    assert.equal(binaryRowBytes(257, 'one_and_half_bits'), 48 + 32 + 16);
  });

  it('one_and_half_bits: plane A as two_bits, bit i of the half plane ORs values 2i and 2i + 1', () => {
    const q: BinaryQuantizer = {
      kind: 'binary',
      encoding: 'one_and_half_bits',
      queryEncoding: 'default',
      offsets: new Float32Array(6),
      thresholds: new Float32Array(6).fill(1),
      magnitudes: new Float32Array(6).fill(1),
    };
    // Levels: low, mid, high | mid, mid | high, low.
    const row = encodeBinary(q, Float32Array.from([-2, 0, 2, 0.5, -0.5, 3]), false);
    assert.equal(row[0], 0b111110, 'plane A: above -t');
    assert.equal(row[16], 0b110, 'half plane: pairs (0,1) no, (2,3) yes, (4,5) yes');
    assert.equal(new DataView(row.buffer).getInt32(32 + 8, true), 2, 'its popcount');
  });
});

describe('binary training', () => {
  // 200 vectors of 16 values: dimension d holds d + ((i % 9) - 4) / 4 for vector i.
  const dim = 16;
  const values = Float32Array.from({ length: 200 * dim }, (_, j) => {
    const i = Math.floor(j / dim);
    return (j % dim) + ((i % 9) - 4) / 4;
  });

  it('offsets are the means; a bit says above or below its dimension’s mean', () => {
    const q = trainBinaryQuantizer(values, 200, dim);
    for (let d = 0; d < dim; d++) assert.ok(Math.abs(q.offsets[d]! - d) < 0.02, `dim ${d}`);
    assert.ok(q.thresholds.every((t) => t === 0));
    // Centred values are spread evenly over ±1: their mean magnitude is about 0.55.
    assert.ok(
      q.magnitudes.every((m) => m > 0.45 && m < 0.65),
      String(q.magnitudes),
    );
    const row = encodeBinary(q, values.subarray(0, dim), false); // i = 0: every value below
    assert.equal(row[0]! | row[1]!, 0);
    const high = encodeBinary(q, values.subarray(8 * dim, 9 * dim), false); // i = 8: above
    assert.equal(high[0]! & high[1]!, 0xff);
  });

  it('two_bits thresholds sit at 0.612 σ; magnitudes are half the outer levels', () => {
    const q = trainBinaryQuantizer(values, 200, dim, 'two_bits', 'scalar8bits');
    assert.equal(q.queryEncoding, 'scalar8bits');
    for (let d = 0; d < dim; d++) {
      assert.ok(q.thresholds[d]! > 0.35 && q.thresholds[d]! < 0.45, `t ${q.thresholds[d]}`);
      // Values beyond t are ±0.5, ±0.75, ±1: mean 0.75, per plane 0.375.
      assert.ok(Math.abs(q.magnitudes[d]! - 0.375) < 0.03, `m ${q.magnitudes[d]}`);
    }
  });

  it('constant, empty and non-finite data train without NaN', () => {
    for (const v of [
      new Float32Array(64).fill(3),
      new Float32Array(0),
      new Float32Array(64).fill(NaN),
    ]) {
      const q = trainBinaryQuantizer(v, v.length / 8, 8, 'two_bits');
      for (const a of [q.offsets, q.thresholds, q.magnitudes]) assert.ok(a.every(Number.isFinite));
    }
  });
});

/**
 * A script for a child process: a binary index of random vectors searched with every
 * encoding and query encoding (one query holding a NaN), printed as its code scores.
 */
const CODE_SCORES = `
const { createHnswIndex } = await import(${JSON.stringify(new URL('./hnsw/hnsw-index.ts', import.meta.url).href)});
const { trainBinaryQuantizer } = await import(${JSON.stringify(new URL('./binary-quantizer.ts', import.meta.url).href)});
const { kernelInfo } = await import(${JSON.stringify(new URL('../kernels/kernel-select.ts', import.meta.url).href)});
let seed = 7;
const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
const lines = [kernelInfo().wasm];
for (const dim of [77, 7]) for (const metric of ['euclid', 'dot'])
  for (const queryEncoding of ['default', 'scalar8bits', 'scalar4bits'])
    for (const encoding of ['one_bit', 'two_bits']) {
      const index = createHnswIndex({ dimension: dim, metric });
      for (let i = 0; i < 200; i++) index.add(i, Float32Array.from({ length: dim }, () => rnd() * 2 - 1));
      index.quantize(trainBinaryQuantizer(index.vectorsView(), index.slots, dim, encoding, queryEncoding));
      for (let q = 0; q < 3; q++) {
        const v = Float32Array.from({ length: dim }, () => rnd() * 2 - 1);
        if (q === 0) v[3] = NaN;
        const r = index.search(v, { k: 5, quantization: { rescore: false } });
        lines.push([dim, metric, queryEncoding, encoding, r.ids.join(), r.scores.join()].join(' '));
      }
    }
console.log(lines.join('\\n'));
`;

describe('binary codes in both builds', () => {
  it('the SIMD and scalar builds encode rows and queries alike: the same code scores', () => {
    const scalarOnly = mkdtempSync(join(tmpdir(), 'quiver-scalar-wasm-'));
    try {
      const build = new URL('../../build/wasm/quiver-scalar.wasm', import.meta.url);
      copyFileSync(build, join(scalarOnly, 'quiver-scalar.wasm'));
      const run = (env: NodeJS.ProcessEnv): string[] => {
        const r = spawnSync(
          process.execPath,
          ['--import', 'tsx', '--input-type=module', '-e', CODE_SCORES],
          { env, encoding: 'utf8' },
        );
        assert.equal(r.status, 0, r.stderr);
        return r.stdout.trim().split('\n');
      };
      const simd = run(process.env);
      const scalar = run({ ...process.env, QUIVER_WASM_DIR: scalarOnly });
      assert.equal(simd[0], 'simd');
      assert.equal(scalar[0], 'scalar');
      assert.equal(simd.length, 1 + 2 * 2 * 3 * 2 * 3);
      assert.deepEqual(simd.slice(1), scalar.slice(1));
    } finally {
      rmSync(scalarOnly, { recursive: true, force: true });
    }
  });
});
