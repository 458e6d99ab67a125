/**
 * A point deleted before the graph indexed it leaves an empty slot with no graph node.
 * When it is the last slot of a sealed segment, the segment's graph ends one slot early:
 * that is a valid file (FORMAT.md §8), which `verify` used to report as damaged.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Quiver } from '../../src/engine/quiver.js';
import { verifyDatabase } from '../../src/ops/verify.js';
import { tempDir } from '../helpers/temp-dir.js';

test('a sealed segment whose last slot was deleted before indexing verifies clean', async (t) => {
  const dir = tempDir(t);
  const db = await Quiver.open(dir, { fsync: 'none', autoCompact: false });
  const c = await db.createCollection('c', { dimension: 4, metric: 'euclid' });
  const points = Array.from({ length: 300 }, (_, i) => ({ id: i, vector: [i, 1, 2, 3] }));
  await c.upsert(points);
  // Appended and deleted at once: background indexing waits for a pause in writes, so the
  // last slot is never indexed and the seal writes a graph one slot short.
  await c.upsert([{ id: 'last', vector: [9, 9, 9, 9] }]);
  await c.delete(['last']);
  await db.checkpoint();
  assert.equal(db.stats().perCollection[0]?.sealedSegments, 1);
  await db.close();
  const report = await verifyDatabase(dir);
  assert.equal(report.errors, 0, JSON.stringify(report.problems, null, 2));
  const again = await Quiver.open(dir);
  assert.equal(await again.collection('c').count(), 300);
  const hits = await again.collection('c').search([5, 1, 2, 3], { k: 1 });
  assert.equal(hits[0]?.id, 5);
  await again.close();
});
