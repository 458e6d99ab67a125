/**
 * The VectorIndex contract suite: one set of tests every index kind must pass (as Hono runs
 * one router suite over every router), so a new kind is checked by adding one
 * `runIndexSuite` call. The oracle is a brute-force scan written here, not ExactIndex, which
 * is itself under test. Only tests import it; tsconfig.build.json leaves *.fixtures.ts out.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isQuiverError } from '../common/quiver-error.js';
import type { MetricName } from '../common/types.js';
import { clusteredVectors, seededRandom } from './hnsw/hnsw.fixtures.js';
import type { IndexSearchResult, VectorIndex } from './vector-index.js';

export interface IndexSuiteTarget {
  /** Shown in the test names. */
  readonly name: string;
  /** A new, empty index that takes vectors. */
  readonly create: (dimension: number, metric: MetricName) => VectorIndex;
  /**
   * The index searched once its vectors are in (e.g. frozen into shared memory for worker
   * threads); the index itself when absent. Only removes follow it, never adds.
   */
  readonly freeze?: (index: VectorIndex) => VectorIndex;
  /**
   * True for a graph index: on a set larger than its beam its answers are held to a recall
   * bound, not to equality with brute force. On small sets both must equal brute force.
   */
  readonly approximate: boolean;
  /** Why the suite cannot run here, or false (see test/helpers/facility.ts `needs`). */
  readonly skip?: string | false;
}

const METRICS: readonly MetricName[] = ['cosine', 'dot', 'euclid'];
const DIM = 8;
/** Small enough that a graph search with ef ≥ SMALL sees every point. */
const SMALL = 60;
/** Recall@10 a graph index must reach on the clustered set with ef 64. */
const RECALL_BOUND = 0.95;

/** Uniform random vectors in [-1, 1), unit length for cosine (the caller normalises). */
function randomVectors(count: number, metric: MetricName, seed: number): Float32Array[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const v = Float32Array.from({ length: DIM }, () => random() * 2 - 1);
    return metric === 'cosine' ? unit(v) : v;
  });
}

function unit(v: Float32Array): Float32Array {
  let sum = 0;
  for (const x of v) sum += x * x;
  const norm = Math.sqrt(sum);
  return v.map((x) => x / norm);
}

/** The internal similarity of SPEC section 2 in float64: dot product, or −squared L2. */
function referenceScore(metric: MetricName, a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    s += metric === 'euclid' ? -((a[i]! - b[i]!) ** 2) : a[i]! * b[i]!;
  }
  return s;
}

/** Brute force: the k best of `points` (id → vector) that `admit` lets through, best first. */
function bruteForce(
  metric: MetricName,
  points: ReadonlyMap<number, Float32Array>,
  query: Float32Array,
  k: number,
  admit: (id: number) => boolean = () => true,
): number[] {
  return [...points]
    .filter(([id]) => admit(id))
    .map(([id, v]) => ({ id, score: referenceScore(metric, query, v) }))
    .sort((a, b) => b.score - a.score || a.id - b.id)
    .slice(0, k)
    .map((h) => h.id);
}

/** An index of `target` holding `vectors` under ids 0..n-1, frozen when the target freezes. */
function filled(
  target: IndexSuiteTarget,
  metric: MetricName,
  vectors: readonly Float32Array[],
): VectorIndex {
  const index = target.create(vectors[0]!.length, metric);
  vectors.forEach((v, i) => index.add(i, v));
  return target.freeze?.(index) ?? index;
}

function asMap(vectors: readonly Float32Array[]): Map<number, Float32Array> {
  return new Map(vectors.map((v, i) => [i, v]));
}

/** Scores are best first, and each is its id's reference score (float32 rounding aside). */
function checkScores(
  r: IndexSearchResult,
  metric: MetricName,
  query: Float32Array,
  points: ReadonlyMap<number, Float32Array>,
): void {
  assert.equal(r.ids.length, r.scores.length);
  for (let j = 0; j < r.ids.length; j++) {
    const want = referenceScore(metric, query, points.get(r.ids[j]!)!);
    assert.ok(Math.abs(r.scores[j]! - want) <= 1e-4 * Math.max(1, Math.abs(want)), `score ${j}`);
    if (j > 0) assert.ok(r.scores[j - 1]! >= r.scores[j]!, `scores out of order at ${j}`);
  }
}

/** Runs the VectorIndex contract over `target`. */
export function runIndexSuite(target: IndexSuiteTarget): void {
  describe(`VectorIndex contract: ${target.name}`, { skip: target.skip ?? false }, () => {
    describeStorage(target);
    describeRemoval(target);
    describeRanking(target);
    describeFilters(target);
    describeRecall(target);
  });
}

/** add / has / vector / liveCount, growth past the initial capacity, replacement. */
function describeStorage(target: IndexSuiteTarget): void {
  describe('storage', () => {
    it('an empty index holds nothing and finds nothing', () => {
      const index = target.create(DIM, 'euclid');
      const frozen = target.freeze?.(index) ?? index;
      const q = randomVectors(1, 'euclid', 1)[0]!;
      assert.equal(frozen.liveCount, 0);
      assert.equal(frozen.has(0), false);
      assert.deepEqual(frozen.search(q, { k: 5 }).ids, []);
      assert.deepEqual(frozen.scan(q, { k: 5 }).ids, []);
    });

    it('knows its dimension and metric, and holds what was added', () => {
      const vectors = randomVectors(10, 'dot', 2);
      const index = filled(target, 'dot', vectors);
      assert.equal(index.dimension, DIM);
      assert.equal(index.metric, 'dot');
      assert.equal(index.liveCount, 10);
      vectors.forEach((v, i) => {
        assert.equal(index.has(i), true);
        assert.deepEqual(index.vector(i), v);
      });
      assert.equal(index.has(10), false);
      assert.equal(index.has(-1), false);
    });

    it('grows to hold ids far past its first capacity, leaving the gap empty', () => {
      const [a, b] = randomVectors(2, 'euclid', 3);
      const index = target.create(DIM, 'euclid');
      index.add(0, a!);
      index.add(5000, b!);
      assert.equal(index.liveCount, 2);
      assert.equal(index.has(2500), false);
      assert.deepEqual(index.vector(5000), b);
      assert.deepEqual(index.search(b!, { k: 10 }).ids, [5000, 0]);
    });

    it('replaces the vector of an id added again, without counting it twice', () => {
      const vectors = randomVectors(20, 'euclid', 4);
      const index = target.create(DIM, 'euclid');
      vectors.forEach((v, i) => index.add(i, v));
      const moved = vectors[19]!;
      index.add(3, moved);
      assert.equal(index.liveCount, 20);
      assert.deepEqual(index.vector(3), moved);
      assert.deepEqual(index.search(moved, { k: 2 }).ids.sort(), [19, 3].sort());
    });

    it('refuses a vector of the wrong length', () => {
      const index = target.create(DIM, 'euclid');
      assert.throws(() => index.add(0, new Float32Array(DIM + 1)), isQuiverError);
    });
  });
}

/** remove: never returned again, counts, no-ops, re-adding. */
function describeRemoval(target: IndexSuiteTarget): void {
  describe('removal', () => {
    const vectors = randomVectors(SMALL, 'euclid', 5);
    const removed = new Set([0, 7, 13, 14, 15, 42, SMALL - 1]);

    it('never returns a removed id, from search or scan', () => {
      const index = filled(target, 'euclid', vectors);
      for (const id of removed) index.remove(id);
      assert.equal(index.liveCount, SMALL - removed.size);
      for (const id of removed) assert.equal(index.has(id), false);
      for (const q of [...vectors, ...randomVectors(10, 'euclid', 6)]) {
        const found = index.search(q, { k: SMALL, ef: SMALL * 2 });
        assert.equal(found.ids.length, SMALL - removed.size, 'every live point, once');
        for (const id of found.ids) assert.ok(!removed.has(id), `removed id ${id} returned`);
        for (const id of index.scan(q, { k: 10 }).ids) assert.ok(!removed.has(id));
      }
    });

    it('ignores removing an id that is not live', () => {
      const index = filled(target, 'euclid', vectors);
      index.remove(3);
      index.remove(3);
      index.remove(SMALL + 100);
      assert.equal(index.liveCount, SMALL - 1);
    });

    it('returns an id removed and added again', () => {
      const index = target.create(DIM, 'euclid');
      vectors.forEach((v, i) => index.add(i, v));
      index.remove(7);
      index.add(7, vectors[7]!);
      assert.equal(index.has(7), true);
      assert.equal(index.liveCount, SMALL);
      assert.equal(index.search(vectors[7]!, { k: 1 }).ids[0], 7);
    });

    it('finds nothing once every point is removed', () => {
      const index = filled(target, 'euclid', vectors);
      vectors.forEach((_, i) => index.remove(i));
      assert.equal(index.liveCount, 0);
      assert.deepEqual(index.search(vectors[0]!, { k: 5 }).ids, []);
    });
  });
}

/** Scores and order under every metric; k past the count; ties. */
function describeRanking(target: IndexSuiteTarget): void {
  describe('ranking', () => {
    for (const metric of METRICS) {
      it(`${metric}: a small set is ranked as brute force ranks it, scores best first`, () => {
        const vectors = randomVectors(SMALL, metric, 7);
        const points = asMap(vectors);
        const index = filled(target, metric, vectors);
        for (const q of randomVectors(20, metric, 8)) {
          const want = bruteForce(metric, points, q, 10);
          const searched = index.search(q, { k: 10, ef: SMALL * 2 });
          const scanned = index.scan(q, { k: 10 });
          assert.deepEqual(searched.ids, want);
          assert.deepEqual(scanned.ids, want);
          checkScores(searched, metric, q, points);
          checkScores(scanned, metric, q, points);
          assert.ok(searched.distanceComputations >= searched.ids.length);
        }
      });
    }

    it('returns every live point, once, when k exceeds the count', () => {
      const vectors = randomVectors(12, 'cosine', 9);
      const index = filled(target, 'cosine', vectors);
      const q = randomVectors(1, 'cosine', 10)[0]!;
      for (const r of [index.search(q, { k: 100 }), index.scan(q, { k: 100 })]) {
        assert.deepEqual(
          [...r.ids].sort((a, b) => a - b),
          [...vectors.keys()],
        );
        checkScores(r, 'cosine', q, asMap(vectors));
      }
    });

    it('returns every copy of a duplicated vector with equal scores', () => {
      const vectors = randomVectors(SMALL, 'euclid', 11);
      const twin = vectors[4]!;
      vectors[17] = twin;
      vectors[33] = twin;
      const index = filled(target, 'euclid', vectors);
      for (const r of [index.search(twin, { k: 3 }), index.scan(twin, { k: 3 })]) {
        assert.deepEqual(
          [...r.ids].sort((a, b) => a - b),
          [4, 17, 33],
        );
        assert.equal(r.scores[0], r.scores[2]);
      }
    });
  });
}

/** The `filter` callback and the `allow` byte list, alone and together. */
function describeFilters(target: IndexSuiteTarget): void {
  describe('filters', () => {
    const vectors = randomVectors(SMALL, 'dot', 12);
    const points = asMap(vectors);
    const queries = randomVectors(10, 'dot', 13);
    const even = (id: number): boolean => id % 2 === 0;
    // Admits ids below 30 only: ids past the list's end are not admitted.
    const allow = Uint8Array.from({ length: 30 }, (_, id) => (id % 3 === 0 ? 1 : 0));
    const allowed = (id: number): boolean => allow[id] === 1;

    it('returns only ids the filter admits, ranked as brute force ranks them', () => {
      const index = filled(target, 'dot', vectors);
      for (const q of queries) {
        const r = index.search(q, { k: 5, ef: SMALL * 2, filter: even });
        assert.deepEqual(r.ids, bruteForce('dot', points, q, 5, even));
      }
    });

    it('returns only ids the allow list admits, from search and scan', () => {
      const index = filled(target, 'dot', vectors);
      for (const q of queries) {
        const want = bruteForce('dot', points, q, 5, allowed);
        assert.deepEqual(index.search(q, { k: 5, ef: SMALL * 2, allow }).ids, want);
        assert.deepEqual(index.scan(q, { k: 5, allow }).ids, want);
      }
    });

    it('with both, admits only ids that pass both', () => {
      const index = filled(target, 'dot', vectors);
      const both = (id: number): boolean => even(id) && allowed(id);
      for (const q of queries) {
        const r = index.search(q, { k: 20, ef: SMALL * 2, allow, filter: even });
        assert.deepEqual(r.ids, bruteForce('dot', points, q, 20, both));
      }
    });

    it('returns nothing when the filter admits nothing', () => {
      const index = filled(target, 'dot', vectors);
      assert.deepEqual(index.search(queries[0]!, { k: 5, filter: () => false }).ids, []);
      const none = new Uint8Array(SMALL);
      assert.deepEqual(index.search(queries[0]!, { k: 5, allow: none }).ids, []);
      assert.deepEqual(index.scan(queries[0]!, { k: 5, allow: none }).ids, []);
    });
  });
}

/** On a set larger than the beam: exact indexes equal brute force, graphs reach the bound. */
function describeRecall(target: IndexSuiteTarget): void {
  describe('recall', () => {
    it(`recall@10 on 3000 clustered points is ${target.approximate ? `≥ ${RECALL_BOUND}` : '1'}`, () => {
      const vectors = clusteredVectors(3000, 24, 'cosine', 14);
      const points = asMap(vectors);
      const index = filled(target, 'cosine', vectors);
      let hits = 0;
      const queries = clusteredVectors(50, 24, 'cosine', 15);
      for (const q of queries) {
        const truth = new Set(bruteForce('cosine', points, q, 10));
        for (const id of index.search(q, { k: 10, ef: 64 }).ids) if (truth.has(id)) hits++;
        assert.deepEqual(new Set(index.scan(q, { k: 10 }).ids), truth, 'scan is exact');
      }
      const recall = hits / (queries.length * 10);
      assert.ok(recall >= (target.approximate ? RECALL_BOUND : 1), `recall ${recall}`);
    });
  });
}
