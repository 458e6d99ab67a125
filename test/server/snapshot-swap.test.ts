/**
 * A snapshot recover's staging collection (issue 10 item 2) is never visible over the API:
 * while the restore waits just before its swap, GET /collections, /stats, /metrics and
 * addressing the staging name show only the old collection; after the swap the collection
 * holds the snapshot's points.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { armFailpoint } from '../../src/storage/io/failpoints.js';
import { call, makeServer } from './server-helpers.js';

test('the staging collection of a recover is hidden from every listing', async (t) => {
  const { server, dir } = await makeServer(t);
  for (const name of ['src', 'docs']) {
    await call(server, 'PUT', `/collections/${name}`, { vectors: { size: 2, distance: 'Euclid' } });
  }
  await call(server, 'PUT', '/collections/src/points?wait=true', {
    points: Array.from({ length: 50 }, (_, i) => ({ id: i + 1, vector: [i, 1], payload: {} })),
  });
  await call(server, 'PUT', '/collections/docs/points?wait=true', {
    points: [{ id: 1, vector: [9, 9], payload: { old: true } }],
  });
  const created = await call(server, 'POST', '/collections/src/snapshots');
  const { name } = created.json<{ result: { name: string } }>().result;

  const seen: string[] = [];
  const disarm = armFailpoint('beforeCollectionSwap', async () => {
    const list = await call(server, 'GET', '/collections');
    seen.push(`collections ${list.body}`);
    const stats = await call(server, 'GET', '/stats');
    seen.push(`stats ${stats.body}`);
    const metrics = await call(server, 'GET', '/metrics');
    seen.push(`metrics ${metrics.body}`);
    const direct = await call(server, 'GET', '/collections/.staging-docs-1');
    seen.push(`direct ${direct.statusCode}`);
  });
  t.after(disarm);
  const recovered = await call(server, 'PUT', '/collections/docs/snapshots/recover', {
    location: join(dir, 'snapshots', 'src', name),
  });
  assert.equal(recovered.statusCode, 200, recovered.body);
  assert.equal(seen.length, 4, 'the restore paused before its swap');
  for (const s of seen) assert.ok(!s.includes('staging'), `staging visible: ${s.slice(0, 400)}`);
  assert.match(seen[0]!, /"docs"/);
  assert.match(seen[3]!, /^direct 4\d\d$/);
  const count = await call(server, 'POST', '/collections/docs/points/count', { exact: true });
  assert.equal(count.json<{ result: { count: number } }>().result.count, 50);
});
