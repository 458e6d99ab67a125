/**
 * A key limited to some collections learns nothing about the others (issue 10 item 6):
 * /stats, /ready and /telemetry count and name only its collections, /metrics refuses it,
 * and clearing the issues report needs an admin key.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers/temp-dir.js';
import { call, makeServer } from './server-helpers.js';

const ADMIN = 'admin-secret-for-scope-tests';

test('/stats, /ready, /telemetry and /metrics do not leak collections outside a key scope', async (t) => {
  const keysFile = join(tempDir(t, 'quiver-keys-'), 'keys.json');
  const { server } = await makeServer(t, { settings: { apiKey: ADMIN, keysFile } });
  const admin = { 'api-key': ADMIN };
  for (const [name, n] of [
    ['mine', 3],
    ['secret-plans', 5],
    ['hr-salaries', 7],
  ] as const) {
    const put = await call(
      server,
      'PUT',
      `/collections/${name}`,
      { vectors: { size: 2, distance: 'Dot' } },
      admin,
    );
    assert.equal(put.statusCode, 200, put.body);
    const points = Array.from({ length: n }, (_, i) => ({ id: i, vector: [i, 1] }));
    const up = await call(server, 'PUT', `/collections/${name}/points`, { points }, admin);
    assert.equal(up.statusCode, 200, up.body);
  }
  const created = await call(
    server,
    'POST',
    '/admin/keys',
    { role: 'read', id: 'scoped', collections: ['mine'] },
    admin,
  );
  const scoped = { 'api-key': created.json<{ key: string }>().key };

  const stats = await call(server, 'GET', '/stats', undefined, scoped);
  assert.equal(stats.statusCode, 200, stats.body);
  for (const other of ['secret-plans', 'hr-salaries']) {
    assert.ok(!stats.body.includes(other), `/stats names ${other} to a scoped key`);
  }
  const s = stats.json<{
    collections: number;
    points: number;
    total_vectors: number;
    perCollection: { name: string }[];
  }>();
  assert.equal(s.collections, 1);
  assert.equal(s.points, 3);
  assert.equal(s.total_vectors, 3);
  assert.deepEqual(
    s.perCollection.map((c) => c.name),
    ['mine'],
  );
  // An unscoped key still sees the whole database.
  const all = (await call(server, 'GET', '/stats', undefined, admin)).json<{
    collections: number;
    total_vectors: number;
  }>();
  assert.equal(all.collections, 3);
  assert.equal(all.total_vectors, 15);

  const ready = (await call(server, 'GET', '/ready', undefined, scoped)).json<{
    collections: number;
  }>();
  assert.equal(ready.collections, 1);
  const telemetry = await call(server, 'GET', '/telemetry', undefined, scoped);
  assert.equal(telemetry.statusCode, 200);
  assert.equal(
    telemetry.json<{ result: { collections: { number_of_collections: number } } }>().result
      .collections.number_of_collections,
    1,
  );

  const metrics = await call(server, 'GET', '/metrics', undefined, scoped);
  assert.equal(metrics.statusCode, 403);
  assert.ok(!metrics.body.includes('secret-plans'));
  assert.match(metrics.json<{ status: { error: string } }>().status.error, /unscoped read key/);
  assert.equal((await call(server, 'GET', '/metrics', undefined, admin)).statusCode, 200);
});

test('DELETE /issues needs an admin key; GET /issues a read key', async (t) => {
  const keysFile = join(tempDir(t, 'quiver-keys-'), 'keys.json');
  const { server } = await makeServer(t, { settings: { apiKey: ADMIN, keysFile } });
  const created = await call(
    server,
    'POST',
    '/admin/keys',
    { role: 'read', id: 'reader' },
    { 'api-key': ADMIN },
  );
  const reader = { 'api-key': created.json<{ key: string }>().key };
  assert.equal((await call(server, 'DELETE', '/issues', undefined, reader)).statusCode, 403);
  assert.notEqual((await call(server, 'GET', '/issues', undefined, reader)).statusCode, 403);
  assert.notEqual(
    (await call(server, 'DELETE', '/issues', undefined, { 'api-key': ADMIN })).statusCode,
    403,
  );
});
