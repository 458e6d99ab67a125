/**
 * HNSW over quantized codes (int8, binary one bit, binary two bits with a 4-bit query):
 * recall after rescoring against exact search and against the float walk, `ignore` and
 * `rescore: false`, copies (clone, trim, shared, worker lanes) that keep the codes,
 * vectors added and removed after quantizing, and refused quantizers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MetricName } from '../../common/types.js';
import { isQuiverError } from '../../common/quiver-error.js';
import { trainBinaryQuantizer } from '../binary-quantizer.js';
import { trainProductQuantizer } from '../product-quantizer.js';
import type { Quantizer } from '../quantizer.js';
import { trainScalarQuantizer } from '../scalar-quantizer.js';
import { createHnswIndex, HnswIndex, sharedHnswAvailable } from './hnsw-index.js';
import { HnswLane } from './hnsw-lane.js';
import { clusteredVectors, exactOf, recallAt } from './hnsw.fixtures.js';
import { needs } from '../../../test/helpers/facility.js';

const N = 6000;
const DIM = 48;

function build(metric: MetricName, vectors: readonly Float32Array[]): HnswIndex {
  const index = createHnswIndex({ dimension: DIM, metric, efConstruction: 100 });
  vectors.forEach((v, i) => index.add(i, v));
  return index;
}

/**
 * The quantizers under test, with the recall@10 each must reach here (measured on these
 * 48-d clusters: int8 0.99+; one bit 0.74 (dot, whose magnitudes the bits ignore) to 0.84;
 * two bits with a 4-bit query 0.99+; one and a half bits 0.75 (dot) to 0.88; product x16
 * 0.995+ raw 0.74-0.81, x4 1.0 raw 0.97-0.99, at oversampling 4), rescored and raw.
 */
const FLAVOURS: ReadonlyArray<{
  name: string;
  train: (index: HnswIndex) => Quantizer;
  rescored: number;
  raw: number;
  oversampling: number;
}> = [
  {
    name: 'int8',
    train: (index) => trainScalarQuantizer(index.vectorsView(), index.slots, DIM),
    rescored: 0.9,
    raw: 0.7,
    oversampling: 2,
  },
  {
    name: 'binary one_bit',
    train: (index) => trainBinaryQuantizer(index.vectorsView(), index.slots, DIM),
    rescored: 0.7,
    raw: 0.3,
    oversampling: 4,
  },
  {
    name: 'binary two_bits, scalar4bits query',
    train: (index) =>
      trainBinaryQuantizer(index.vectorsView(), index.slots, DIM, 'two_bits', 'scalar4bits'),
    rescored: 0.95,
    raw: 0.6,
    oversampling: 4,
  },
  {
    name: 'binary one_and_half_bits',
    train: (index) =>
      trainBinaryQuantizer(index.vectorsView(), index.slots, DIM, 'one_and_half_bits'),
    rescored: 0.72,
    raw: 0.35,
    oversampling: 4,
  },
  {
    name: 'product x16',
    train: (index) => trainProductQuantizer(index.vectorsView(), index.slots, DIM, 'x16'),
    rescored: 0.9,
    raw: 0.6,
    oversampling: 2,
  },
  {
    name: 'product x4',
    train: (index) => trainProductQuantizer(index.vectorsView(), index.slots, DIM, 'x4'),
    rescored: 0.95,
    raw: 0.9,
    oversampling: 2,
  },
];

function quantized(
  metric: MetricName,
  vectors: readonly Float32Array[],
  flavour = FLAVOURS[0]!,
): HnswIndex {
  const index = build(metric, vectors);
  index.quantize(flavour.train(index));
  return index;
}

for (const metric of ['euclid', 'cosine', 'dot'] as const) {
  const vectors = clusteredVectors(N, DIM, metric, 41);
  const queries = clusteredVectors(80, DIM, metric, 42);
  const exact = exactOf(vectors, metric);
  const float = build(metric, vectors);
  for (const flavour of FLAVOURS) {
    describe(`quantized HNSW (${metric}, ${flavour.name})`, () => {
      const index = quantized(metric, vectors, flavour);

      it(`rescored recall@10 is at least ${flavour.rescored} (int8: the float walk’s within 0.02)`, () => {
        const options = { k: 10, ef: 64 };
        const f = recallAt(float, exact, queries, options);
        const q = recallAt(index, exact, queries, options);
        assert.ok(
          q >= Math.min(f - 0.02, flavour.rescored) && q >= flavour.rescored,
          `${q} vs float ${f}`,
        );
      });

      it('rescored scores are the exact float scores of the ids returned', () => {
        for (const q of queries.slice(0, 20)) {
          const r = index.search(q, { k: 10 });
          const truth = exact.search(q, { k: N });
          const score = new Map(truth.ids.map((id, i) => [id, truth.scores[i]!]));
          r.ids.forEach((id, i) => {
            const want = score.get(id)!;
            assert.ok(Math.abs(r.scores[i]! - want) <= 1e-4 * Math.max(1, Math.abs(want)));
          });
          for (let i = 1; i < r.scores.length; i++) assert.ok(r.scores[i - 1]! >= r.scores[i]!);
        }
      });

      it('ignore walks the floats (the float index’s answer); rescore: false keeps code scores', () => {
        let approxDiffers = 0;
        for (const q of queries) {
          const ignored = index.search(q, { k: 10, quantization: { ignore: true } });
          assert.deepEqual(ignored.ids, float.search(q, { k: 10 }).ids);
          const raw = index.search(q, { k: 10, quantization: { rescore: false } });
          const rescored = index.search(q, { k: 10 });
          assert.equal(raw.ids.length, 10);
          if (raw.scores.some((s, i) => s !== rescored.scores[i])) approxDiffers++;
        }
        assert.ok(approxDiffers > 0, 'code scores are approximations of the float ones');
        const raw = recallAt(index, exact, queries, { k: 10, quantization: { rescore: false } });
        assert.ok(raw >= flavour.raw, `unrescored recall ${raw}`);
      });

      it('oversampling widens the beam: never worse than without it', () => {
        const narrow = recallAt(index, exact, queries, { k: 10, ef: 10 });
        const wide = recallAt(index, exact, queries, {
          k: 10,
          ef: 10,
          quantization: { oversampling: 4 },
        });
        assert.ok(wide >= narrow, `${wide} < ${narrow}`);
      });
    });
  }
}

for (const flavour of FLAVOURS) {
  describe(`quantized HNSW copies and changes (${flavour.name})`, () => {
    const vectors = clusteredVectors(N, DIM, 'euclid', 43);
    const queries = clusteredVectors(40, DIM, 'euclid', 44);

    it('clone and trimmed keep the codes and answer alike', () => {
      const index = quantized('euclid', vectors, flavour);
      for (const copy of [index.clone(), index.trimmed()]) {
        if (copy === undefined) continue;
        assert.deepEqual(copy.quantizer, index.quantizer);
        assert.equal(copy.codeBytes() > 0, true);
        for (const q of queries) {
          assert.deepEqual(copy.search(q, { k: 10 }).ids, index.search(q, { k: 10 }).ids);
        }
      }
    });

    it('vectors added after quantizing are encoded and found; removed ones are not', () => {
      const index = quantized('euclid', vectors.slice(0, 3000), flavour);
      for (let i = 3000; i < N; i++) index.add(i, vectors[i]!);
      let found = 0;
      for (let i = 3000; i < N; i += 50)
        if (index.search(vectors[i]!, { k: 1 }).ids[0] === i) found++;
      assert.equal(found, 60, 'each new vector is its own nearest neighbour');
      for (let i = 0; i < N; i += 3) index.remove(i);
      for (const q of queries) {
        for (const id of index.search(q, { k: 10 }).ids) assert.notEqual(id % 3, 0);
      }
    });

    it('quantized again with another kind of quantizer, a private index walks the new codes', () => {
      const other = FLAVOURS[(FLAVOURS.indexOf(flavour) + 1) % FLAVOURS.length]!;
      const index = quantized('euclid', vectors, flavour);
      const fresh = quantized('euclid', vectors, other);
      index.quantize(other.train(index));
      assert.equal(index.quantizer?.kind, fresh.quantizer?.kind);
      for (const q of queries) {
        const options = { k: 10, quantization: { rescore: false } };
        assert.deepEqual(index.search(q, options), fresh.search(q, options));
      }
    });

    it('refuses quantizers it cannot use', () => {
      const index = build('cosine', vectors.slice(0, 100));
      const offsets = new Float32Array(DIM);
      const bad = [
        { kind: 'scalar' as const, quantile: 0.99, offsets, scale: 0 },
        { kind: 'scalar' as const, quantile: 0.99, offsets, scale: Infinity },
        {
          kind: 'scalar' as const,
          quantile: 0.99,
          offsets: new Float32Array(DIM).fill(NaN),
          scale: 1,
        },
        { kind: 'scalar' as const, quantile: 0.99, offsets: new Float32Array(DIM - 1), scale: 1 },
      ];
      for (const q of bad) {
        assert.throws(
          () => index.quantize(q),
          (e) => isQuiverError(e, 'INVALID_ARGUMENT'),
        );
      }
      assert.equal(index.quantizer, undefined);
    });

    it(
      'a shared index and its worker lanes walk the codes as the owner does',
      { skip: needs('shared WebAssembly memory', sharedHnswAvailable(), 'no shared wasm build') },
      () => {
        const index = quantized('euclid', vectors, flavour);
        for (const shared of [
          index.toShared(2),
          (() => {
            // Quantized after it was frozen: the codes go past the graph.
            const s = HnswIndex.deserialize(index.serialize(), 'test', {
              lanes: 2,
              vectors: index.vectorsCopy(),
            });
            s.quantize(index.quantizer!);
            return s;
          })(),
        ]) {
          assert.throws(
            () => shared.quantize(index.quantizer!),
            (e) => isQuiverError(e, 'INVALID_ARGUMENT'),
            'codes workers may be reading are never rewritten',
          );
          const lanes = [0, 1].map((i) => new HnswLane(shared.sharedHandle()!, i));
          for (const q of queries) {
            const want = index.search(q, { k: 10 });
            assert.deepEqual(shared.search(q, { k: 10 }).ids, want.ids);
            const plan = shared.lanePlan(10, 64, undefined, undefined)!;
            assert.equal(plan.rescore, 10 * flavour.oversampling, 'k × the default oversampling');
            for (const lane of lanes) {
              const got = lane.search(q, 10, plan.ef, plan.mode, undefined, plan.rescore);
              assert.deepEqual(got.ids, want.ids);
              assert.deepEqual(got.scores, want.scores);
            }
          }
        }
      },
    );
  });
}
