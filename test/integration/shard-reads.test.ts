/**
 * ShardReads over real collections, without NATS: three local collections stand for three
 * nodes, each holding two of three shards, one of them stale (so every node is asked for
 * less than it holds, and the other shard's points — older vectors, payloads, points since
 * deleted — must stay out of every answer), and every fan-out read — exact
 * search with and without a filter, ids, counts, a page walk, getMany — must equal the
 * same read of one collection holding every point. Property-tested over generated points.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { answerShardRead } from '../../src/cluster/shard-read.js';
import { ShardReads } from '../../src/cluster/shard-reads.js';
import { shardOf } from '../../src/cluster/shard-routing.js';
import { Filter } from '../../src/filter/filter-ast.js';
import type { Collection, PointId } from '../../src/index.js';
import { Quiver } from '../../src/index.js';
import { propertyParams } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';

const SHARDS = 3;
const DIM = 4;
/** Node i holds shards i and i+1; the plan asks node i for shard i only. */
const HOLDS = [
  [0, 1],
  [1, 2],
  [2, 0],
];

const idArb = fc.oneof(
  fc.nat(300),
  fc.uuid().map((u) => u.toLowerCase()),
);
const pointsArb = fc.uniqueArray(
  fc.record({
    id: idArb,
    vector: fc.array(fc.float({ min: -1, max: 1, noNaN: true }), {
      minLength: DIM,
      maxLength: DIM,
    }),
    tag: fc.constantFrom('a', 'b', 'c'),
  }),
  { selector: (p) => p.id, minLength: 1, maxLength: 60 },
);

describe('ShardReads (fan-out over collections holding overlapping shards)', () => {
  it('answers every read as one collection of all the points would', async (t) => {
    const dir = tempDir(undefined);
    const db = await Quiver.open(dir);
    t.after(async () => {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const all = await db.createCollection('all', { dimension: DIM, metric: 'euclid' });
    const nodes: Collection[] = [];
    for (let i = 0; i < 3; i++) {
      nodes.push(await db.createCollection(`n${i}`, { dimension: DIM, metric: 'euclid' }));
    }
    const reads = new ShardReads({
      collection: 'x',
      uid: 'u',
      shardCount: SHARDS,
      lowerIsBetter: true,
      wait: {},
      // Small pages, so a whole id list (ids, the filter of a delete) takes several rounds.
      idsPageSize: 7,
      plan: () =>
        new Map([
          ['n0', [0]],
          ['n1', [1]],
          ['n2', [2]],
        ]),
      // Through JSON, as over NATS: the filter must survive the trip.
      send: async (node, req) => {
        const i = Number(node.slice(1));
        const wire = JSON.parse(JSON.stringify(req)) as typeof req;
        return answerShardRead(nodes[i]!, SHARDS, wire);
      },
    });
    await fc.assert(
      fc.asyncProperty(pointsArb, async (raw) => {
        // Distinct vectors: among exactly tied scores the engine keeps its first k found,
        // which a merge of shards cannot reproduce (and no user can rely on).
        const points = raw.map((p, i) => ({
          id: p.id,
          vector: p.vector.map((x, d) => x + (i + 1) * 1e-3 * (d + 1) ** 2),
          payload: { tag: p.tag },
        }));
        for (const c of [all, ...nodes]) await c.deleteWhere({});
        await all.upsert(points);
        for (let i = 0; i < 3; i++) {
          // The shard node i is asked for, accurate; the other one it holds stale, as a
          // replica still catching up (or being removed) would: other vectors and
          // payloads, and points deleted since.
          const [asked, stale] = HOLDS[i]!;
          const mine = points.filter((p) => shardOf(p.id, SHARDS) === asked);
          const old = points
            .filter((p) => shardOf(p.id, SHARDS) === stale)
            .map((p) => ({ ...p, vector: p.vector.map((x) => -x), payload: { tag: 'a' } }));
          const gone = Array.from({ length: 8 }, (_, j) => 100_000 + j)
            .filter((id) => shardOf(id, SHARDS) === stale)
            .map((id) => ({ id, vector: [0.5, -0.5, 0.25, 0.001 * id], payload: { tag: 'a' } }));
          for (const batch of [mine, old, gone])
            if (batch.length > 0) await nodes[i]!.upsert(batch);
        }
        const tagA = Filter.eq('tag', 'a');
        for (const query of [points[0]!.vector, [0.5, -0.5, 0.25, 0]]) {
          for (const filter of [undefined, tagA]) {
            const opts = {
              k: 7,
              exact: true,
              explain: true as const,
              ...(filter === undefined ? {} : { filter }),
            };
            const got = await reads.search(query, opts);
            const want = await all.search(query, opts);
            assert.deepEqual(
              got.hits.map((h) => [h.id, h.payload]),
              want.hits.map((h) => [h.id, h.payload]),
            );
          }
        }
        assert.deepEqual(await reads.ids(), await all.ids());
        assert.deepEqual(await reads.ids(tagA), await all.ids(tagA));
        assert.equal(await reads.count(), points.length);
        assert.equal(await reads.count(tagA), await all.count(tagA));
        const paged: PointId[] = [];
        let page = await reads.idsPage({ limit: 4, filter: tagA });
        paged.push(...page.ids);
        while (page.next !== undefined) {
          page = await reads.idsPage({ from: page.next, limit: 4, filter: tagA });
          paged.push(...page.ids);
        }
        assert.deepEqual(paged, await all.ids(tagA));
        const asked = [...points.slice(0, 5).map((p) => p.id), 999_999].reverse();
        assert.deepEqual(await reads.getMany(asked), await all.getMany(asked));
      }),
      propertyParams('shard reads', 25),
    );
  });
});
