/**
 * Compaction to a target segment size (fast-check): random upserts, vector replacements,
 * payload updates and deletes, with seals, automatic merges and explicit compactions in
 * between. Every live point is there with its last vector and payload after each step and
 * after a reopen; an explicit compaction leaves groups within the target (about N / target
 * segments, never two that would fit in one).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Quiver } from '../../src/index.js';
import type { Collection } from '../../src/index.js';
import { propertyParams } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';

const DIM = 4;
const TARGET = 60;
const OPTIONS = {
  fsync: 'none',
  sealPoints: 25,
  maxSegments: 2,
  segmentTargetPoints: TARGET,
} as const;

type Op =
  | { kind: 'upsert'; ids: number[]; seed: number }
  | { kind: 'delete'; ids: number[] }
  | { kind: 'payload'; ids: number[]; v: number }
  | { kind: 'checkpoint' }
  | { kind: 'compact' };

const ids = fc.array(fc.integer({ min: 0, max: 199 }), { minLength: 1, maxLength: 40 });
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constant('upsert' as const), ids, seed: fc.nat() }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), ids }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('payload' as const), ids, v: fc.nat() }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'checkpoint' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'compact' as const }) },
);

interface Point {
  vector: number[];
  payload: { v: number };
}

function vectorOf(id: number, seed: number): number[] {
  return Array.from({ length: DIM }, (_, i) => ((id * 31 + seed * 7 + i * 13) % 97) / 97);
}

async function apply(db: Quiver, c: Collection, o: Op, model: Map<number, Point>): Promise<void> {
  switch (o.kind) {
    case 'upsert': {
      const unique = [...new Set(o.ids)];
      await c.upsert(
        unique.map((id) => ({ id, vector: vectorOf(id, o.seed), payload: { v: o.seed } })),
      );
      for (const id of unique)
        model.set(id, { vector: vectorOf(id, o.seed), payload: { v: o.seed } });
      return;
    }
    case 'delete':
      await c.delete(o.ids);
      for (const id of o.ids) model.delete(id);
      return;
    case 'payload':
      await c.setPayload(o.ids, { v: o.v });
      for (const id of o.ids) {
        const p = model.get(id);
        if (p !== undefined) p.payload = { v: o.v };
      }
      return;
    case 'checkpoint':
      await db.checkpoint();
      await db.idle();
      return;
    case 'compact':
      await db.compact('t');
      checkPacked(c);
      return;
  }
}

/** After an explicit compaction: no two sealed segments would fit in one target. */
function checkPacked(c: Collection): void {
  const s = c.stats();
  const sizes = (c as unknown as { state: { sealed: { liveCount: number }[] } }).state.sealed
    .map((x) => x.liveCount)
    .sort((a, b) => a - b);
  assert.equal(sizes.length, s.sealedSegments);
  if (sizes.length >= 2) {
    assert.ok(sizes[0]! + sizes[1]! > TARGET, `segments ${sizes.join(',')} could be fewer`);
  }
}

async function checkAll(c: Collection, model: Map<number, Point>, where: string): Promise<void> {
  assert.equal(await c.count(), model.size, `${where}: count`);
  for (const [id, p] of model) {
    const got = await c.get(id);
    assert.ok(got !== undefined, `${where}: point ${id} lost`);
    assert.deepEqual(got.payload, p.payload, `${where}: payload of ${id}`);
    got.vector.forEach((x, i) => assert.ok(Math.abs(x - p.vector[i]!) < 1e-6, `${where}: ${id}`));
  }
}

test('compaction to a target size keeps every live point', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 25 }), async (ops) => {
      const dir = tempDir(t);
      const model = new Map<number, Point>();
      let db = await Quiver.open(dir, OPTIONS);
      try {
        let c = await db.createCollection('t', { dimension: DIM, metric: 'euclid' });
        for (const [i, o] of ops.entries()) {
          await apply(db, c, o, model);
          await checkAll(c, model, `after op ${i} (${o.kind})`);
        }
        await db.compact('t');
        checkPacked(c);
        await db.close();
        db = await Quiver.open(dir, OPTIONS);
        c = db.collection('t');
        await checkAll(c, model, 'after reopen');
      } finally {
        await db.close();
      }
    }),
    propertyParams('compaction to a target size', 12),
  );
});
