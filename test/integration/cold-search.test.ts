/**
 * Search right after ingest, while acknowledged vectors still wait for the graph, and
 * after `db.idle()`: both equal a brute-force answer at ef ≥ N (with and without a
 * filter), and a search loop that never yields to the event loop drains the waiting
 * vectors itself (its later searches are graph searches with nothing waiting, per explain).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Quiver } from '../../src/index.js';
import type { Collection, SearchExplain, SearchHit } from '../../src/index.js';
import { randomVector, rng } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';

const N = 3000;
const DIM = 16;
const rand = rng(4242);
const vectors = Array.from({ length: N }, () => randomVector(rand, DIM));
const queries = Array.from({ length: 12 }, () => randomVector(rand, DIM));

/** Euclidean top k (ids) in double precision over the points `admit` accepts. */
function bruteForce(q: readonly number[], k: number, admit: (id: number) => boolean): number[] {
  const scored: { id: number; d: number }[] = [];
  vectors.forEach((v, id) => {
    if (!admit(id)) return;
    let s = 0;
    for (let i = 0; i < DIM; i++) s += (v[i]! - q[i]!) ** 2;
    scored.push({ id, d: s });
  });
  scored.sort((a, b) => a.d - b.d || a.id - b.id);
  return scored.slice(0, k).map((x) => x.id);
}

async function explained(
  c: Collection,
  q: readonly number[],
  options: { ef?: number; filter?: { g: number } } = {},
): Promise<{ hits: SearchHit[]; explain: SearchExplain }> {
  return c.search(q, { k: 10, explain: true, ...options });
}

/** Vectors the growing segment scanned because they wait for the graph. */
function waiting(explain: SearchExplain): number {
  return explain.segments.reduce((n, s) => n + s.waiting, 0);
}

async function ingested(t: Parameters<typeof tempDir>[0]): Promise<{ db: Quiver; c: Collection }> {
  const db = await Quiver.open(tempDir(t), { fsync: 'none', queryCacheBytes: 0 });
  const c = await db.createCollection('cold', {
    dimension: DIM,
    metric: 'euclid',
    hnsw: { m: 8, efConstruction: 64 },
  });
  for (let from = 0; from < N; from += 1000) {
    await c.upsert(
      vectors
        .slice(from, from + 1000)
        .map((v, i) => ({ id: from + i, vector: v, payload: { g: (from + i) % 5 } })),
    );
  }
  return { db, c };
}

function assertExact(hits: SearchHit[], want: number[], where: string): void {
  assert.deepEqual(
    hits.map((h) => h.id),
    want,
    where,
  );
}

describe('search while vectors wait for the graph', () => {
  test('cold and settled searches equal brute force at ef ≥ N', async (t) => {
    const { db, c } = await ingested(t);
    try {
      const first = await explained(c, queries[0]!, { ef: N });
      assert.ok(waiting(first.explain) > 0, 'the first search ran while vectors waited');
      assert.ok(first.explain.timings.exactMs > 0, 'the waiting vectors were scanned exactly');
      for (const [i, q] of queries.entries()) {
        const cold = await explained(c, q, { ef: N });
        assertExact(
          cold.hits,
          bruteForce(q, 10, () => true),
          `cold query ${i}`,
        );
        const filtered = await explained(c, q, { ef: N, filter: { g: 2 } });
        assertExact(
          filtered.hits,
          bruteForce(q, 10, (id) => id % 5 === 2),
          `cold filtered ${i}`,
        );
      }
      await db.idle();
      for (const [i, q] of queries.entries()) {
        const settled = await explained(c, q, { ef: N });
        assert.equal(waiting(settled.explain), 0, 'idle() left vectors waiting');
        assert.equal(settled.explain.plan, 'hnsw');
        assert.equal(settled.explain.timings.exactMs, 0, 'no exact scan once settled');
        assert.ok(settled.explain.timings.graphMs > 0);
        assertExact(
          settled.hits,
          bruteForce(q, 10, () => true),
          `settled query ${i}`,
        );
      }
    } finally {
      await db.close();
    }
  });

  test('a search loop that never yields to the event loop drains the waiting vectors', async (t) => {
    const { db, c } = await ingested(t);
    try {
      const before = waiting((await explained(c, queries[0]!)).explain);
      assert.ok(before > 0, 'vectors waited when the loop started');
      // Only microtasks from here: background slices scheduled with setImmediate never run.
      let searches = 0;
      let last = before;
      while (last > 0 && searches < 100_000) {
        const r = await explained(c, queries[searches % queries.length]!);
        assert.ok(waiting(r.explain) <= last, 'the waiting set only shrinks');
        last = waiting(r.explain);
        searches++;
      }
      assert.equal(last, 0, `still ${last} waiting after ${searches} searches`);
      const after = await explained(c, queries[1]!);
      assert.equal(after.explain.plan, 'hnsw');
      assert.equal(waiting(after.explain), 0);
    } finally {
      await db.close();
    }
  });
});
