/**
 * The query cache against a database without one (fast-check): random interleavings of
 * upserts, deletes, payload updates, seals and compactions with repeated searches (a few
 * query vectors, filters and options, so answers are found in the cache). Every answer of
 * the cached database equals the uncached one's at the same point: a cached answer never
 * outlives a write. Also: a repeated search is a hit (explain says so), a write makes the
 * next one a miss, capacity 0 and resizing, and answers are copies; memory by part.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Quiver } from '../../src/index.js';
import type { Collection } from '../../src/index.js';
import { propertyParams, randomVector, rng } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';

const DIM = 4;
const OPTIONS = { fsync: 'none', sealPoints: 20, maxSegments: 2 } as const;

type Op =
  | { kind: 'upsert'; ids: number[]; seed: number }
  | { kind: 'delete'; ids: number[] }
  | { kind: 'payload'; ids: number[]; v: number }
  | { kind: 'checkpoint' }
  | { kind: 'compact' }
  | { kind: 'search'; q: number; k: number; filter: number | undefined; withVector: boolean };

const ids = fc.array(fc.integer({ min: 0, max: 79 }), { minLength: 1, maxLength: 20 });
const search = fc.record({
  kind: fc.constant('search' as const),
  q: fc.integer({ min: 0, max: 2 }),
  k: fc.constantFrom(5, 20),
  filter: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
  withVector: fc.boolean(),
});
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('upsert' as const), ids, seed: fc.nat(9) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), ids }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('payload' as const), ids, v: fc.nat(9) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'checkpoint' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'compact' as const }) },
  { weight: 8, arbitrary: search },
);

function vectorOf(id: number, seed: number): number[] {
  return Array.from({ length: DIM }, (_, i) => ((id * 31 + seed * 7 + i * 13) % 97) / 97 - 0.5);
}

async function apply(db: Quiver, c: Collection, o: Op): Promise<unknown> {
  switch (o.kind) {
    case 'upsert': {
      const unique = [...new Set(o.ids)];
      return c.upsert(
        unique.map((id) => ({ id, vector: vectorOf(id, o.seed), payload: { v: o.seed } })),
      );
    }
    case 'delete':
      return c.delete(o.ids);
    case 'payload':
      return c.setPayload(o.ids, { v: o.v });
    case 'checkpoint':
      await db.checkpoint();
      return db.idle();
    case 'compact':
      return db.compact('t');
    case 'search':
      // Exact: the uncached database's answer is then the one true answer to compare with.
      return c.search(vectorOf(1000 + o.q, 0), {
        k: o.k,
        exact: true,
        withVector: o.withVector,
        ...(o.filter === undefined ? {} : { filter: { v: { $gte: o.filter } } }),
      });
  }
}

test('a cached answer always equals the uncached one, across writes, seals and compactions', async (t) => {
  let hits = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 10, maxLength: 60 }), async (ops) => {
      const cached = await Quiver.open(tempDir(t), OPTIONS);
      const plain = await Quiver.open(tempDir(t), { ...OPTIONS, queryCacheBytes: 0 });
      try {
        const a = await cached.createCollection('t', { dimension: DIM, metric: 'euclid' });
        const b = await plain.createCollection('t', { dimension: DIM, metric: 'euclid' });
        for (const [i, o] of ops.entries()) {
          const got = await apply(cached, a, o);
          const want = await apply(plain, b, o);
          if (o.kind !== 'search') continue;
          assert.deepEqual(got, want, `op ${i}: ${JSON.stringify(o)}`);
          // Asked again at once: an answer from the cache (unless a seal finished between).
          assert.deepEqual(await apply(cached, a, o), want, `op ${i} again`);
        }
        hits += cached.stats().queryCache.hits;
        assert.equal(plain.stats().queryCache.hits, 0);
      } finally {
        await cached.close();
        await plain.close();
      }
    }),
    propertyParams('query cache equals no cache', 25),
  );
  assert.ok(hits > 0, 'the runs found answers in the cache');
});

test('a repeated search is a hit; a write makes the next one a miss; answers are copies', async (t) => {
  const db = await Quiver.open(tempDir(t), { fsync: 'none' });
  try {
    const c = await db.createCollection('t', { dimension: DIM });
    await c.upsert(
      Array.from({ length: 50 }, (_, id) => ({ id, vector: vectorOf(id, 1), payload: { n: id } })),
    );
    const q = vectorOf(7, 1);
    const first = await c.search(q, { k: 3, explain: true });
    assert.equal(first.explain.source, 'index');
    const second = await c.search(q, { k: 3, explain: true });
    assert.equal(second.explain.source, 'cache');
    assert.equal(second.explain.plan, 'cache');
    assert.equal(second.explain.distanceComputations, 0);
    assert.deepEqual(second.hits, first.hits);
    // The caller changing an answer does not change the cache.
    (second.hits[0]!.payload as { n: number }).n = -1;
    const third = await c.search(q, { k: 3 });
    assert.deepEqual(third, first.hits);
    assert.deepEqual(db.stats().queryCache.hits, 2);

    // Bad input is refused as without a cache, even beside a cached equal-looking query.
    await assert.rejects(c.search(q.map(String) as unknown as number[], { k: 3 }), {
      code: 'INVALID_ARGUMENT',
    });
    await assert.rejects(c.search([...q, 1], { k: 3 }), { code: 'DIMENSION_MISMATCH' });
    await assert.rejects(c.search([Number.NaN, ...q.slice(1)], { k: 3 }), {
      code: 'INVALID_ARGUMENT',
    });
    // The caller's own array, changed after a search: the next search is for the new values.
    const mine = Float32Array.from(q);
    await c.search(mine, { k: 3 });
    mine.set(vectorOf(30, 1));
    const changed = await c.search(mine, { k: 3, explain: true });
    assert.equal(changed.explain.source, 'index');
    assert.equal(changed.hits[0]!.id, 30);

    // A different k, filter or option is another key.
    assert.equal((await c.search(q, { k: 4, explain: true })).explain.source, 'index');
    const filtered = await c.search(q, { k: 3, filter: { n: { $lt: 5 } }, explain: true });
    assert.equal(filtered.explain.source, 'index');

    // A write to the collection: the next search is a miss and sees it.
    await c.delete([7]);
    const after = await c.search(q, { k: 3, explain: true });
    assert.equal(after.explain.source, 'index');
    assert.ok(!after.hits.some((h) => h.id === 7), 'the deleted point is not answered');
    assert.ok(db.stats().queryCache.invalidations > 0);

    // A write to another collection leaves this one's answers cached.
    const other = await db.createCollection('o', { dimension: DIM });
    await other.upsert([{ id: 1, vector: q }]);
    assert.equal((await c.search(q, { k: 3, explain: true })).explain.source, 'cache');

    // Dropping and making the collection again: nothing of the old one is served.
    await db.dropCollection('t');
    const again = await db.createCollection('t', { dimension: DIM });
    await again.upsert([{ id: 5, vector: q }]);
    const fresh = await again.search(q, { k: 3, explain: true });
    assert.equal(fresh.explain.source, 'index');
    assert.deepEqual(
      fresh.hits.map((h) => h.id),
      [5],
    );
  } finally {
    await db.close();
  }
});

test('capacity: bounded in bytes, least recently used out, 0 turns it off, resizable', async (t) => {
  const db = await Quiver.open(tempDir(t), { fsync: 'none', queryCacheBytes: 64 * 1024 });
  try {
    const c = await db.createCollection('t', { dimension: DIM });
    await c.upsert(Array.from({ length: 200 }, (_, id) => ({ id, vector: vectorOf(id, 2) })));
    const rand = rng(7);
    const queries = Array.from({ length: 400 }, () => randomVector(rand, DIM));
    for (const q of queries) await c.search(q, { k: 20 });
    const s = db.stats().queryCache;
    assert.ok(s.bytes <= 64 * 1024, `held ${s.bytes} bytes`);
    assert.ok(s.evictions > 0, 'older answers were evicted');
    assert.ok(s.entries > 0 && s.entries < 400);
    // The most recent answer is still there; the first one was pushed out.
    assert.equal((await c.search(queries[399]!, { k: 20, explain: true })).explain.source, 'cache');
    assert.equal((await c.search(queries[0]!, { k: 20, explain: true })).explain.source, 'index');

    db.setQueryCacheBytes(0);
    assert.equal(db.stats().queryCache.entries, 0);
    await c.search(vectorOf(1, 3), { k: 20 });
    assert.equal(
      (await c.search(vectorOf(1, 3), { k: 20, explain: true })).explain.source,
      'index',
    );
    db.setQueryCacheBytes(1024 * 1024);
    await c.search(vectorOf(1, 3), { k: 20 });
    assert.equal(
      (await c.search(vectorOf(1, 3), { k: 20, explain: true })).explain.source,
      'cache',
    );
    assert.equal(db.clearQueryCache(), 1);
    assert.throws(() => db.setQueryCacheBytes(-1), { code: 'INVALID_ARGUMENT' });
    await assert.rejects(Quiver.open(tempDir(t), { queryCacheBytes: 1.5 }), {
      code: 'INVALID_ARGUMENT',
    });
  } finally {
    await db.close();
  }
});

test('memory by part: vectors, graph, payloads, ids and the query cache add up', async (t) => {
  const db = await Quiver.open(tempDir(t), { fsync: 'none', sealPoints: 100 });
  try {
    const c = await db.createCollection('t', { dimension: DIM });
    await c.upsert(
      Array.from({ length: 250 }, (_, id) => ({
        id,
        vector: vectorOf(id, 4),
        payload: { text: 'x'.repeat(100) },
      })),
    );
    await db.checkpoint();
    await db.idle();
    const before = c.stats();
    assert.equal(before.memory.queryCache, 0);
    await c.search(vectorOf(3, 4), { k: 10 });
    const s = c.stats();
    const m = s.memory;
    assert.ok(m.vectors >= 250 * DIM * 4, `vectors ${m.vectors}`);
    assert.ok(m.graph > 0, 'the sealed segments have graphs');
    assert.ok(m.payloads >= 250 * 100, `payloads ${m.payloads}`);
    assert.ok(m.ids > 0);
    assert.ok(m.queryCache > 0, 'the answer is counted against its collection');
    assert.equal(m.vectors + m.graph + m.payloads + m.payloadIndex + m.ids, s.memoryBytes);
    assert.equal(m.queryCache, db.stats().queryCache.bytes);
    await c.delete([1]);
    assert.equal(c.stats().memory.queryCache, 0, 'a write frees its answers');
  } finally {
    await db.close();
  }
});
