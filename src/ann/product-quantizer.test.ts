/**
 * The product quantizer: sizes, k-means training (deterministic, better than its start),
 * the core's rows against encodeProduct (property test), and the core's table distance
 * against productDistanceReference through a search with rescoring off.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createHnswIndex } from './hnsw/hnsw-index.js';
import type { ProductCompression, ProductQuantizer } from './product-quantizer.js';
import {
  encodeProduct,
  PRODUCT_COMPRESSIONS,
  productDistanceReference,
  productRowBytes,
  productTraining,
  subDimOf,
  subspacesOf,
  trainProductQuantizer,
} from './product-quantizer.js';
import { codeParams, headerBytes } from './quantizer.js';

const seed = Number(process.env['QUIVER_FC_SEED'] ?? Date.now() % 1_000_000);
const numRuns = Number(process.env['QUIVER_FC_RUNS'] ?? '200');

/** Squared L2 between `x` and the centroids `row` names (the reconstruction error). */
function error(q: ProductQuantizer, x: Float32Array, row: Uint8Array): number {
  return productDistanceReference(q, x, row, false);
}

function randomRows(n: number, dim: number, salt: number): Float32Array {
  // A cheap deterministic generator: clustered values, so k-means has structure to find.
  const out = new Float32Array(n * dim);
  let s = 0x9e3779b9 ^ salt;
  const next = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  for (let r = 0; r < n; r++) {
    const centre = Math.floor(next() * 8);
    for (let d = 0; d < dim; d++) out[r * dim + d] = centre + (next() - 0.5) * 0.3;
  }
  return out;
}

describe('product quantizer sizes', () => {
  it('xN keeps a byte per N / 4 dimensions, rows rounded up to 16 bytes', () => {
    assert.deepEqual(PRODUCT_COMPRESSIONS.map(subDimOf), [1, 2, 4, 8, 16]);
    assert.equal(subspacesOf(1024, 'x16'), 256);
    assert.equal(subspacesOf(130, 'x16'), 33, 'the last subspace is shorter');
    assert.equal(productRowBytes(1024, 'x16'), 256);
    assert.equal(productRowBytes(130, 'x16'), 48);
    assert.equal(productRowBytes(10, 'x64'), 16);
  });
});

describe('product training', () => {
  it('is deterministic and codes the training data closer than its starting centroids', () => {
    const dim = 12;
    const n = 3000;
    const v = randomRows(n, dim, 1);
    const a = trainProductQuantizer(v, n, dim, 'x16');
    const b = trainProductQuantizer(v, n, dim, 'x16');
    assert.deepEqual(a, b);
    // The start: centroids at evenly spaced rows (what training begins from).
    const start = new Float32Array(a.centroids.length);
    for (let m = 0; m < subspacesOf(dim, 'x16'); m++) {
      for (let j = 0; j < 256; j++) {
        const r = Math.floor((j * n) / 256);
        for (let i = 0; i < 4; i++) start[(m * 256 + j) * 4 + i] = v[r * dim + m * 4 + i]!;
      }
    }
    const unTrained = { ...a, centroids: start };
    let trained = 0;
    let initial = 0;
    for (let r = 0; r < n; r += 7) {
      const x = v.subarray(r * dim, (r + 1) * dim);
      trained += error(a, x, encodeProduct(a, x));
      initial += error(unTrained, x, encodeProduct(unTrained, x));
    }
    assert.ok(trained < initial, `trained ${trained} vs initial ${initial}`);
  });

  it('trains on fewer rows than centroids, and on none', () => {
    const q = trainProductQuantizer(randomRows(10, 6, 2), 10, 6, 'x8');
    assert.equal(q.centroids.length, 3 * 256 * 2);
    assert.ok(q.centroids.every(Number.isFinite));
    const empty = trainProductQuantizer(new Float32Array(0), 0, 6, 'x8');
    assert.ok(empty.centroids.every((c) => c === 0));
  });
});

describe('product training and encoding in steps', () => {
  it('a search between two steps walks the floats and may grow the memory the vectors are in', () => {
    const dim = 16;
    const n = 1200;
    const v = randomRows(n, dim, 4);
    const index = createHnswIndex({ dimension: dim, metric: 'euclid' });
    for (let i = 0; i < n; i++) index.add(i, v.subarray(i * dim, (i + 1) * dim));
    const reference = index.clone();
    const expected = trainProductQuantizer(v, n, dim, 'x4');
    reference.quantize(expected);
    const query = (i: number): Float32Array => v.subarray(i * dim, (i + 1) * dim);
    const floats = (i: number) => index.search(query(i), { k: 10 });
    const before = Array.from({ length: 5 }, (_, i) => floats(i));
    // Training reads a view of the index's own memory; growing that memory between steps
    // (a search with a wide beam does) must not change what it trains on.
    const training = productTraining(index.vectorsView(), n, dim, 'x4');
    let steps = 0;
    let r = training.next();
    for (; r.done !== true; r = training.next()) {
      if (steps++ === 1) index.search(query(0), { k: 10, ef: 4000 });
    }
    assert.ok(steps >= 16, `one step per subspace (${steps})`);
    assert.deepEqual(r.value, expected);
    const quantizing = index.quantizing(r.value);
    let encodeSteps = 0;
    for (let e = quantizing.next(); e.done !== true; e = quantizing.next()) {
      encodeSteps++;
      assert.equal(index.quantizer, undefined, 'half encoded codes are never walked');
      assert.deepEqual(floats(encodeSteps % 5), before[encodeSteps % 5]);
    }
    assert.ok(encodeSteps >= 4, `encoded in steps (${encodeSteps})`);
    assert.deepEqual(index.quantizer, expected);
    assert.deepEqual(index.productCodes(), reference.productCodes());
  });
});

describe('stored product codes', () => {
  it('an index given its rows holds the codes it would have encoded, and answers the same', () => {
    const dim = 20;
    const n = 400;
    const v = randomRows(n, dim, 3);
    const a = createHnswIndex({ dimension: dim, metric: 'euclid' });
    for (let i = 0; i < n; i++) a.add(i, v.subarray(i * dim, (i + 1) * dim));
    const b = a.clone();
    const q = trainProductQuantizer(v, n, dim, 'x8');
    a.quantize(q);
    const rows = a.productCodes()!;
    assert.equal(rows.length, n * subspacesOf(dim, 'x8'));
    b.quantize(q, rows);
    assert.deepEqual(b.productCodes(), rows);
    for (let i = 0; i < 20; i++) {
      const query = v.subarray(i * dim, (i + 1) * dim);
      const raw = { k: 10, quantization: { rescore: false } };
      assert.deepEqual(b.search(query, raw), a.search(query, raw));
    }
    // Rows of another length (not this index's) are not trusted: the codes are encoded.
    const c = a.clone();
    c.quantize(q, rows.subarray(1));
    assert.deepEqual(c.productCodes(), rows);
  });
});

const caseArb = fc
  .record({
    dim: fc.integer({ min: 1, max: 40 }),
    compression: fc.constantFrom<ProductCompression>(...PRODUCT_COMPRESSIONS),
    salt: fc.integer({ min: 1, max: 1000 }),
  })
  .map(({ dim, compression, salt }) => {
    const n = 300;
    const v = randomRows(n, dim, salt);
    return { dim, n, v, q: trainProductQuantizer(v, n, dim, compression) };
  });

describe('product encoding in the core', () => {
  for (const metric of ['euclid', 'dot'] as const) {
    it(`${metric}: every subspace's code is a nearest centroid, as encodeProduct's (seed ${seed})`, () => {
      fc.assert(
        fc.property(caseArb, ({ dim, v, q }) => {
          const index = createHnswIndex({ dimension: dim, metric });
          const x = v.subarray(0, dim);
          index.add(0, x);
          index.quantize(q);
          const mem = index.mem;
          const at = mem.regions.codes + headerBytes(codeParams(q));
          const got = mem.u8.slice(at, at + productRowBytes(dim, q.compression));
          const want = encodeProduct(q, x);
          // A near tie may fall either way in float32: compare the errors, not the bytes.
          const diff = Math.abs(error(q, x, got) - error(q, x, want));
          assert.ok(
            diff <= 1e-4 * Math.max(1, error(q, x, want)),
            `${got.join()} vs ${want.join()}`,
          );
          assert.ok(
            got.slice(subspacesOf(dim, q.compression)).every((b) => b === 0),
            'padding',
          );
        }),
        { seed, numRuns: Math.min(numRuns, 60) },
      );
    });

    it(`${metric}: a search without rescoring scores by the table (seed ${seed})`, () => {
      fc.assert(
        fc.property(caseArb, ({ dim, v, q }) => {
          const index = createHnswIndex({ dimension: dim, metric });
          const x = v.subarray(0, dim);
          const query = v.subarray(dim, 2 * dim);
          index.add(0, x);
          index.quantize(q);
          const r = index.search(query, { k: 1, quantization: { rescore: false } });
          const d = productDistanceReference(q, query, encodeProduct(q, x), metric === 'dot');
          // A score is minus the core's distance: -‖q - x̂‖² (euclid), q·x̂ (dot).
          const got = r.scores[0]!;
          assert.ok(Math.abs(got + d) <= 1e-4 * Math.max(1, Math.abs(d)), `${got} vs ${-d}`);
        }),
        { seed, numRuns: Math.min(numRuns, 60) },
      );
    });
  }
});
