/**
 * Qdrant's exact answers where its clients and tests depend on them (issue 10 items 15, 16
 * and 18): DELETE of a missing collection, 422 for values that fail validation, `GET /`,
 * the cluster routes of a standalone node, `/telemetry`'s shape, 415 for non-JSON bodies,
 * one prefix style and REST advice (not embedded-API advice) in error messages. Real
 * engine, real socket on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { makeServer } from './server-helpers.js';

interface Answer {
  status: number;
  body: Record<string, unknown>;
  error: string;
}

async function serve(
  t: TestContext,
): Promise<
  (method: string, path: string, body?: unknown, contentType?: string) => Promise<Answer>
> {
  const { server } = await makeServer(t);
  const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  return async (method, path, body, contentType = 'application/json') => {
    const res = await fetch(`${url}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : {
            headers: { 'content-type': contentType },
            body: typeof body === 'string' ? body : JSON.stringify(body),
          }),
    });
    const text = await res.text();
    const parsed = (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>;
    const status = parsed['status'];
    const error =
      typeof status === 'object' && status !== null
        ? String((status as Record<string, unknown>)['error'])
        : '';
    return { status: res.status, body: parsed, error };
  };
}

test('DELETE of a missing collection answers 200 with result false, as Qdrant does', async (t) => {
  const call = await serve(t);
  const missing = await call('DELETE', '/collections/nope');
  assert.equal(missing.status, 200);
  assert.equal(missing.body['result'], false);
  assert.equal(missing.body['status'], 'ok');
  await call('PUT', '/collections/c', { vectors: { size: 4, distance: 'Dot' } });
  const dropped = await call('DELETE', '/collections/c');
  assert.equal(dropped.status, 200);
  assert.equal(dropped.body['result'], true);
});

test('values that fail validation answer 422 in Qdrant words; malformed ones stay 400', async (t) => {
  const call = await serve(t);
  const size0 = await call('PUT', '/collections/c', { vectors: { size: 0, distance: 'Dot' } });
  assert.equal(size0.status, 422);
  assert.match(size0.error, /^Validation error in JSON body: \[vectors\.size: value 0 invalid/);
  const m = await call('PUT', '/collections/c', {
    vectors: { size: 4, distance: 'Dot' },
    hnsw_config: { m: 1000 },
  });
  assert.equal(m.status, 422);
  assert.match(m.error, /\[hnsw_config\.m: value 1000 invalid/);
  // Wrong JSON types and missing fields: Qdrant's deserializer answers 400.
  assert.equal(
    (await call('PUT', '/collections/c', { vectors: { size: 'four', distance: 'Dot' } })).status,
    400,
  );
  assert.equal((await call('PUT', '/collections/c', { vectors: { distance: 'Dot' } })).status, 400);

  await call('PUT', '/collections/c', { vectors: { size: 4, distance: 'Dot' } });
  const limit0 = await call('POST', '/collections/c/points/search', {
    vector: [1, 0, 0, 0],
    limit: 0,
  });
  assert.equal(limit0.status, 422);
  assert.match(limit0.error, /^Validation error in JSON body: \[limit: value 0 invalid/);
  const empty = await call('PUT', '/collections/c/points?wait=true', {
    points: [{ id: 1, vector: [] }],
  });
  assert.equal(empty.status, 422);
  assert.match(empty.error, /must not be empty/);
  // A vector of the wrong dimension is a semantic error: 400, as in Qdrant.
  const dim = await call('PUT', '/collections/c/points?wait=true', {
    points: [{ id: 1, vector: [1, 2] }],
  });
  assert.equal(dim.status, 400);
});

test('GET / is exactly {title, version, commit}; cluster routes answer as a standalone Qdrant', async (t) => {
  const call = await serve(t);
  const root = await call('GET', '/');
  assert.equal(root.status, 200);
  assert.deepEqual(Object.keys(root.body).sort(), ['commit', 'title', 'version']);
  assert.match(String(root.body['version']), /^\d+\.\d+\.\d+$/);

  const cluster = await call('GET', '/cluster');
  assert.equal(cluster.status, 200);
  assert.deepEqual(cluster.body['result'], { status: 'disabled' });
  assert.equal(cluster.body['status'], 'ok');
  assert.equal(typeof cluster.body['time'], 'number');

  const recover = await call('POST', '/cluster/recover');
  assert.equal(recover.status, 400);
  assert.match(recover.error, /standalone/);
  const peer = await call('DELETE', '/cluster/peer/42');
  assert.equal(peer.status, 400);
  assert.match(peer.error, /^Bad request: Distributed mode disabled/);

  await call('PUT', '/collections/c', { vectors: { size: 2, distance: 'Dot' } });
  await call('PUT', '/collections/c/points?wait=true', {
    points: [
      { id: 1, vector: [1, 0] },
      { id: 2, vector: [0, 1] },
    ],
  });
  const info = await call('GET', '/collections/c/cluster');
  assert.equal(info.status, 200);
  const result = info.body['result'] as Record<string, unknown>;
  assert.equal(typeof result['peer_id'], 'number');
  assert.equal(result['shard_count'], 1);
  assert.deepEqual(result['local_shards'], [{ shard_id: 0, points_count: 2, state: 'Active' }]);
  assert.deepEqual(result['remote_shards'], []);
  assert.deepEqual(result['shard_transfers'], []);
  assert.equal((await call('GET', '/collections/nope/cluster')).status, 404);
});

test('/telemetry has the keys Qdrant clients read, and no others at the levels they check', async (t) => {
  const call = await serve(t);
  await call('PUT', '/collections/c', { vectors: { size: 2, distance: 'Dot' } });
  const tel = await call('GET', '/telemetry');
  assert.equal(tel.status, 200);
  const r = tel.body['result'] as Record<string, unknown>;
  assert.equal(typeof r['id'], 'string');
  const app = r['app'] as Record<string, unknown>;
  // The Python client's models forbid unknown keys: only schema keys here.
  assert.deepEqual(Object.keys(app).sort(), ['name', 'startup', 'version']);
  assert.ok(!Number.isNaN(Date.parse(String(app['startup']))));
  assert.deepEqual(r['collections'], { number_of_collections: 1, collections: [{ id: 'c' }] });
  assert.deepEqual(r['cluster'], { enabled: false });
});

test('a non-JSON content type on a JSON route answers 400 "Content type error", as Qdrant does', async (t) => {
  const call = await serve(t);
  for (const type of ['text/plain', 'application/xml']) {
    const res = await call('PUT', '/collections/c', 'vectors: {size: 2, distance: Dot}', type);
    assert.equal(res.status, 400, type);
    assert.match(res.error, /^Bad request: Content type error: .*content-type: application\/json/);
  }
});

test('REST errors give REST advice, with one prefix style', async (t) => {
  const call = await serve(t);
  const missing = await call('GET', '/collections/nope');
  assert.equal(missing.status, 404);
  assert.match(
    missing.error,
    /^Not found: Collection "nope" does not exist\. Create it with PUT \/collections\/nope/,
  );
  assert.doesNotMatch(missing.error, /db\.|createCollection/);

  await call('PUT', '/collections/c', { vectors: { size: 2, distance: 'Dot' } });
  const exists = await call('PUT', '/collections/c', { vectors: { size: 2, distance: 'Dot' } });
  assert.equal(exists.status, 409);
  assert.match(
    exists.error,
    /^Wrong input: Collection "c" already exists\..*DELETE \/collections\/c/,
  );
  assert.doesNotMatch(exists.error, /db\./);

  assert.equal((await call('POST', '/admin/readonly')).status, 200);
  const ro = await call('PUT', '/collections/c/points?wait=true', {
    points: [{ id: 1, vector: [1, 0] }],
  });
  assert.equal(ro.status, 403);
  assert.match(ro.error, /^Forbidden: .*read-only.*POST \/admin\/readwrite/);
  assert.doesNotMatch(ro.error, /setReadOnly/);
});
