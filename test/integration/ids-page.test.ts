/**
 * Collection.idsPage (what scroll pages through): over growing, sealed and compacted
 * segments with integer and string ids, deletes and replacements, the pages put together
 * are exactly `ids(filter)`, each `next` starts the following page, and a point live for
 * the whole walk is never skipped even while writes land between pages.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PointId } from '../../src/common/types.js';
import { Quiver } from '../../src/engine/quiver.js';
import { propertyParams, rng } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';

const DIM = 4;

function idOf(rand: () => number): PointId {
  const n = Math.floor(rand() * 400);
  return rand() < 0.7 ? n : `doc-${n}`;
}

test('pages put together are ids(filter), in order, across segments', async (t) => {
  const { seed } = propertyParams('ids-page', 1);
  const rand = rng(seed);
  const db = await Quiver.open(tempDir(t), { fsync: 'none', sealPoints: 60, maxSegments: 4 });
  const c = await db.createCollection('c', { dimension: DIM, metric: 'euclid' });
  for (let round = 0; round < 12; round++) {
    const batch = Array.from({ length: 40 }, () => ({
      id: idOf(rand),
      vector: Array.from({ length: DIM }, rand),
      payload: { even: rand() < 0.5 },
    }));
    const unique = new Map(batch.map((p) => [p.id, p]));
    await c.upsert([...unique.values()]);
    await c.delete(Array.from({ length: 8 }, () => idOf(rand)));
    if (round % 3 === 2) await db.checkpoint();
    if (round === 8) await db.compact('c');
    for (const filter of [undefined, { even: true }]) {
      const all = await c.ids(filter);
      for (const limit of [1, 7, 50, 1000]) {
        const got: PointId[] = [];
        let page = await c.idsPage({ limit, ...(filter === undefined ? {} : { filter }) });
        for (;;) {
          assert.ok(page.ids.length <= limit);
          got.push(...page.ids);
          if (page.next === undefined) break;
          assert.ok(page.ids.length === limit, 'only the last page is short');
          const next = page.next;
          page = await c.idsPage({
            from: next,
            limit,
            ...(filter === undefined ? {} : { filter }),
          });
          assert.equal(page.ids[0], next, 'next starts the following page');
        }
        assert.deepEqual(got, all, `seed ${seed}, round ${round}, limit ${limit}`);
      }
    }
  }
  await db.close();
});

test('a point live for the whole walk is never skipped while writes land between pages', async (t) => {
  const { seed } = propertyParams('ids-page-writes', 1);
  const rand = rng(seed);
  const db = await Quiver.open(tempDir(t), { fsync: 'none', sealPoints: 50 });
  const c = await db.createCollection('c', { dimension: DIM, metric: 'euclid' });
  const point = (id: PointId): { id: PointId; vector: number[] } => ({
    id,
    vector: Array.from({ length: DIM }, rand),
  });
  await c.upsert(Array.from({ length: 300 }, (_, i) => point(i)));
  const stable = new Set<PointId>(await c.ids());
  const seen: PointId[] = [];
  let page = await c.idsPage({ limit: 17 });
  for (;;) {
    seen.push(...page.ids);
    // Churn: new points, replacements and deletes of points not in `stable`.
    const fresh = Array.from({ length: 5 }, () => 1000 + Math.floor(rand() * 500));
    await c.upsert(fresh.map(point));
    await c.upsert([point(Math.floor(rand() * 300))]); // replace a stable one (stays live)
    await c.delete([fresh[0]!]);
    if (page.next === undefined) break;
    page = await c.idsPage({ from: page.next, limit: 17 });
  }
  for (const id of stable) assert.ok(seen.includes(id), `stable id ${String(id)} skipped`);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i - 1]! < seen[i]!, 'ids ascend');
  await assert.rejects(c.idsPage({ limit: 0 }), /limit must be an integer/);
  await db.close();
});
