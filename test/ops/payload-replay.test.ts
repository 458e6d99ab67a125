/**
 * Regression test (found by the online backup test): a payload update of a point in a
 * sealed segment, followed by a checkpoint that writes the segment's tombstones, must
 * survive WAL replay (after a crash, or in a restored backup). Checkpoints now seal a
 * collection whole whenever they write its tombstones, so replay never applies a record
 * on top of newer on-disk state.
 */
import assert from 'node:assert/strict';
import { cpSync, rmSync } from 'node:fs';
import { test } from 'node:test';
import { Quiver } from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';

test('a payload update of a sealed point survives a crash after a tombstone-only checkpoint', async (t) => {
  const dir = tempDir(t, 'quiver-payload-replay-');
  const db = await Quiver.open(`${dir}/db`, { sealPoints: 10, autoCompact: false });
  try {
    const c = await db.createCollection('c', { dimension: 2, metric: 'euclid' });
    await c.upsert(
      Array.from({ length: 10 }, (_, i) => ({ id: i, vector: [i, 1], payload: { i } })),
    );
    await db.idle();
    await c.upsert([{ id: 100, vector: [1, 1] }]);
    await c.setPayload([5], { x: 1 });
    await db.checkpoint(false);
    cpSync(`${dir}/db`, `${dir}/crashed`, { recursive: true });
    rmSync(`${dir}/crashed/LOCK`);
  } finally {
    await db.close();
  }
  const copy = await Quiver.open(`${dir}/crashed`);
  try {
    assert.deepEqual(await copy.collection('c').get(5), {
      id: 5,
      vector: [5, 1],
      payload: { i: 5, x: 1 },
    });
  } finally {
    await copy.close();
  }
});
