/**
 * Collection.replace: ids deleted and points upserted as one write (one REPLACE record).
 * Applied live, replayed from the WAL after a kill-free reopen without a checkpoint, read
 * by export's WAL overlay and by repair's replay; a bad point rejects the whole write.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isQuiverError, Quiver } from '../../src/index.js';
import { exportCollection } from '../../src/ops/export.js';
import { repairDatabase } from '../../src/ops/repair.js';
import { tempDir } from '../helpers/temp-dir.js';

const DIM = 4;
const vec = (i: number): number[] => [i, i + 1, -i, 0.5];

async function state(db: Quiver): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for await (const p of db.collection('c').scan({ withVector: true })) {
    out[String(p.id)] = { vector: [...p.vector!], payload: p.payload };
  }
  return out;
}

test('replace deletes and upserts in one write, replayed by open, export and repair', async (t) => {
  const root = tempDir(t, 'quiver-replace-');
  const dir = `${root}/db`;
  const db = await Quiver.open(dir, { autoCompact: false });
  let expected: Record<string, unknown>;
  try {
    const c = await db.createCollection('c', { dimension: DIM, metric: 'euclid' });
    await c.upsert([1, 2, 3, 4].map((i) => ({ id: i, vector: vec(i), payload: { v: 1 } })));
    await db.checkpoint(); // 1..4 sealed: the replace deletes from a segment too
    const r = await c.replace(
      [
        { id: 2, vector: vec(20), payload: { v: 2 } },
        { id: 'new', vector: vec(5), payload: { v: 2 } },
      ],
      [1, 2, 'absent'],
    );
    assert.equal(r.count, 4, 'two deleted (1 and the old 2), two upserted');
    expected = await state(db);
    assert.deepEqual(Object.keys(expected).sort(), ['2', '3', '4', 'new']);
    assert.deepEqual((expected['2'] as { payload: unknown }).payload, { v: 2 });

    // One bad point: nothing is deleted either.
    await assert.rejects(c.replace([{ id: 9, vector: [1, 2], payload: {} }], [3]), (e) =>
      isQuiverError(e, 'DIMENSION_MISMATCH'),
    );
    await assert.rejects(c.replace([], [{} as unknown as number]), (e) =>
      isQuiverError(e, 'INVALID_ARGUMENT'),
    );
    assert.deepEqual(await state(db), expected);
    // An empty side is a plain delete or upsert.
    assert.equal((await c.replace([], [])).count, 0);
  } finally {
    await db.close();
  }

  const reopened = await Quiver.open(dir, { autoCompact: false });
  try {
    assert.deepEqual(await state(reopened), expected, 'replayed from the WAL');
  } finally {
    await reopened.close();
  }

  const lines: string[] = [];
  await exportCollection(dir, 'c', {
    write: (s: string) => Promise.resolve(void lines.push(s)),
    close: () => Promise.resolve(),
  });
  const exported = lines
    .join('')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { id: unknown });
  assert.deepEqual(exported.map((p) => String(p.id)).sort(), ['2', '3', '4', 'new']);

  await repairDatabase(dir, `${root}/out`);
  const repaired = await Quiver.open(`${root}/out`);
  try {
    assert.deepEqual(await state(repaired), expected, 'repair replays it');
  } finally {
    await repaired.close();
  }
});
