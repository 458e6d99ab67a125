/**
 * Shared (frozen) HNSW indexes: a graph moved into shared memory answers exactly as the
 * private one did, through the owner and through every worker lane (same memory, separate
 * scratch), in plain, allow-list and tombstone modes; it refuses to grow; the owner's
 * scratch can move without disturbing the lanes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isQuiverError } from '../../common/quiver-error.js';
import { createHnswIndex, HnswIndex, sharedHnswAvailable } from './hnsw-index.js';
import { HnswLane, MODE_ALLOW, MODE_PLAIN, MODE_TOMBSTONES } from './hnsw-lane.js';
import { needs } from '../../../test/helpers/facility.js';
import { clusteredVectors, seededRandom } from './hnsw.fixtures.js';

const N = 4000;
const DIM = 24;
const vectors = clusteredVectors(N, DIM, 'cosine', 31);
const queries = clusteredVectors(60, DIM, 'cosine', 32);

function build(): HnswIndex {
  const index = createHnswIndex({ dimension: DIM, metric: 'cosine', efConstruction: 100 });
  vectors.forEach((v, i) => index.add(i, v));
  return index;
}

describe(
  'shared HNSW index',
  { skip: needs('shared WebAssembly memory', sharedHnswAvailable(), 'no shared wasm build') },
  () => {
    const priv = build();
    const shared = HnswIndex.deserialize(priv.serialize(), 'test', {
      lanes: 2,
      vectors: priv.vectorsCopy(),
    });
    const handle = shared.sharedHandle()!;
    const lanes = [new HnswLane(handle, 0), new HnswLane(handle, 1)];

    it('answers as the private index did, through the owner and every lane', () => {
      assert.equal(shared.shared, true);
      assert.equal(priv.sharedHandle(), undefined);
      for (const q of queries) {
        const want = priv.search(q, { k: 10, ef: 64 });
        assert.deepEqual(shared.search(q, { k: 10, ef: 64 }).ids, want.ids);
        for (const lane of lanes) {
          const got = lane.search(q, 10, 64, MODE_PLAIN, undefined);
          assert.deepEqual(got.ids, want.ids);
          assert.deepEqual(got.scores, want.scores);
          assert.equal(got.distanceComputations, want.distanceComputations);
        }
      }
    });

    it('filters through an allow-list in a lane as the owner does', () => {
      const random = seededRandom(5);
      const allow = new Uint8Array(N);
      for (let i = 0; i < N; i++) allow[i] = random() < 0.3 ? 1 : 0;
      for (const q of queries) {
        const want = shared.search(q, { k: 10, ef: 64, allow });
        assert.equal(shared.lanePlan(10, 64, allow, undefined)?.mode, MODE_ALLOW);
        const got = lanes[1]!.search(q, 10, 64, MODE_ALLOW, allow);
        assert.deepEqual(got.ids, want.ids);
        for (const id of got.ids) assert.equal(allow[id], 1);
      }
    });

    it('marks deletes without repairing, and lanes never return them', () => {
      const removed = new Set<number>();
      for (let i = 0; i < N; i += 4) removed.add(i);
      for (const id of removed) shared.remove(id);
      assert.equal(shared.stats().tombstones, removed.size, 'a frozen graph keeps its tombstones');
      assert.equal(shared.repair(), 0);
      assert.equal(shared.lanePlan(10, 64, undefined, undefined)?.mode, MODE_TOMBSTONES);
      for (const q of queries) {
        const want = shared.search(q, { k: 10, ef: 64 });
        const got = lanes[0]!.search(q, 10, 64, MODE_TOMBSTONES, undefined);
        assert.deepEqual(got.ids, want.ids);
        assert.equal(got.ids.length, 10);
        for (const id of got.ids) assert.ok(!removed.has(id), `removed id ${id} returned`);
      }
    });

    it('toShared copies a live index, tombstones included, without re-encoding it', () => {
      const source = build();
      for (let i = 1; i < N; i += 7) source.remove(i);
      const copy = source.toShared(1);
      assert.equal(copy.shared, true);
      assert.deepEqual(copy.stats().tombstones, source.stats().tombstones);
      assert.deepEqual(copy.vectorsCopy(), source.vectorsCopy());
      assert.throws(
        () => copy.serialize(),
        (e) => isQuiverError(e, 'INTERNAL'),
        'frozen tombstones',
      );
      const lane = new HnswLane(copy.sharedHandle()!, 0);
      for (const q of queries) {
        const mode = copy.lanePlan(10, 64, undefined, undefined)!.mode;
        assert.deepEqual(
          lane.search(q, 10, 64, mode, undefined).ids,
          source.search(q, { k: 10 }).ids,
        );
      }
    });

    it('freezes an index that grew in shared memory in place, without a copy', () => {
      const grown = createHnswIndex({
        dimension: DIM,
        metric: 'cosine',
        efConstruction: 100,
        sharedMemory: true,
      });
      vectors.forEach((v, i) => grown.add(i, v));
      assert.equal(grown.sharedBuffer, true);
      assert.equal(grown.shared, false, 'still growing');
      assert.deepEqual(grown.serialize(), priv.serialize(), 'grows exactly as in private memory');
      const graphAt = grown.mem.regions.links0;
      const frozen = grown.toShared(2);
      assert.equal(frozen, grown, 'frozen in place');
      assert.equal(grown.mem.regions.links0, graphAt, 'the graph did not move');
      const lanesOf = [0, 1].map((i) => new HnswLane(grown.sharedHandle()!, i));
      const check = (): void => {
        for (const q of queries) {
          const want = priv.search(q, { k: 10, ef: 64 });
          for (const lane of lanesOf)
            assert.deepEqual(lane.search(q, 10, 64, MODE_PLAIN, undefined).ids, want.ids);
          assert.deepEqual(grown.search(q, { k: 10, ef: 64 }).ids, want.ids);
        }
      };
      check();
      // The owner's wider beam moves only its own scratch, to the end.
      const ownPool = grown.mem.regions.pool;
      assert.equal(grown.search(queries[0]!, { k: 10, ef: 2500 }).ids.length, 10);
      assert.ok(grown.mem.regions.pool > ownPool);
      assert.equal(grown.mem.regions.links0, graphAt);
      check();
      assert.throws(() => grown.add(N, vectors[0]!), /frozen/);
    });

    it('refuses new vectors and leaves wide beams to the owner', () => {
      assert.throws(
        () => shared.add(N, vectors[0]!),
        (e: unknown) => isQuiverError(e) && e.code === 'INVALID_ARGUMENT',
      );
      assert.equal(shared.lanePlan(10, 100_000, undefined, undefined)?.mode, undefined);
      assert.throws(() => lanes[0]!.search(queries[0]!, 10, 100_000, MODE_PLAIN, undefined));
      assert.throws(() => new HnswLane(handle, 2), /lane 2 does not exist/);
    });

    it('keeps lanes correct when the owner moves its own scratch', () => {
      const before = queries.map(
        (q) => lanes[0]!.search(q, 10, 64, MODE_TOMBSTONES, undefined).ids,
      );
      const pool = shared.mem.regions.pool;
      const graph = shared.mem.regions.links0;
      // A beam wider than the owner's scratch makes it re-lay its scratch at the end.
      const wide = shared.search(queries[0]!, { k: 10, ef: 3000 });
      assert.equal(wide.ids.length, 10);
      assert.ok(shared.mem.regions.pool > pool, 'the owner moved its scratch');
      assert.equal(shared.mem.regions.links0, graph, 'the graph stayed where the lanes read it');
      const after = queries.map((q) => lanes[0]!.search(q, 10, 64, MODE_TOMBSTONES, undefined).ids);
      assert.deepEqual(after, before);
    });
  },
);
