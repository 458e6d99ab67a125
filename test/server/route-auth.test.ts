/**
 * The route-auth walk: every registered route, called with no key, a revoked key, a read
 * key, an unscoped write key, a key scoped to another collection and a scoped admin key,
 * must answer the status its access level implies. The expected level of each route comes
 * from a literal table here (SPEC section 6, API.md's route table), not from the route's
 * own declaration, so a write route declared `read` fails, and so do a route missing from
 * the table and a table entry with no route. Also: Bearer keys, hashed keys file,
 * revocation on the next request, revoking the last admin key, the IP block list (also
 * over a real socket) and the audit log.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { Quiver } from '../../src/engine/quiver.js';
import { resolveServerConfig } from '../../src/server/config.js';
import { createServer } from '../../src/server/create-server.js';
import type { RouteInfo } from '../../src/server/route-table.js';
import { tempDir } from '../helpers/temp-dir.js';
import { call, makeServer, removeDir } from './server-helpers.js';

const ADMIN = 'admin-secret-for-tests';
type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
type Expected = 'public' | 'read' | 'write' | 'admin';

/**
 * The access every route must have, written down independently of the code: reads
 * (including searches, scroll, count and retrieve sent as POST) need `read`; every
 * mutation of collections, points, payloads, indexes, aliases and collection snapshots
 * needs `write`; `/admin/*`, snapshot recover/upload, full snapshots, clearing issues and
 * the cluster/shard operations Quiver does not have need `admin`.
 */
const EXPECTED: Readonly<Record<string, Expected>> = {
  'GET /health': 'public',
  'GET /ready': 'read',
  'GET /metrics': 'read',
  'GET /stats': 'read',
  'GET /': 'read',
  'GET /healthz': 'read',
  'GET /livez': 'read',
  'GET /readyz': 'read',
  'GET /telemetry': 'read',
  'GET /cluster': 'read',
  'GET /collections/:collection_name/cluster': 'read',
  'POST /collections/:collection_name/cluster': 'admin',
  'POST /cluster/recover': 'admin',
  'DELETE /cluster/peer/:peer_id': 'admin',
  'GET /cluster/*': 'admin',
  'POST /cluster/*': 'admin',
  'PUT /cluster/*': 'admin',
  'DELETE /cluster/*': 'admin',
  'GET /issues': 'read',
  'DELETE /issues': 'admin',
  'POST /admin/readonly': 'admin',
  'POST /admin/readwrite': 'admin',
  'POST /admin/compact': 'admin',
  'POST /admin/integrity-check': 'admin',
  'GET /admin/integrity-check/status': 'admin',
  'PATCH /admin/config': 'admin',
  'POST /admin/cache/clear': 'admin',
  'POST /admin/circuit-breaker/reset': 'admin',
  'GET /admin/keys': 'admin',
  'POST /admin/keys': 'admin',
  'POST /admin/keys/revoke': 'admin',
  'GET /admin/ip-block': 'admin',
  'POST /admin/ip-block': 'admin',
  'GET /collections': 'read',
  'GET /collections/:collection_name': 'read',
  'GET /collections/:collection_name/exists': 'read',
  'PUT /collections/:collection_name': 'write',
  'PATCH /collections/:collection_name': 'write',
  'DELETE /collections/:collection_name': 'write',
  'PUT /collections/:collection_name/index': 'write',
  // Custom sharding (cluster mode): creating and dropping shard keys.
  'PUT /collections/:collection_name/shards': 'write',
  'POST /collections/:collection_name/shards/delete': 'write',
  'DELETE /collections/:collection_name/index/:field_name': 'write',
  'GET /aliases': 'read',
  'GET /collections/:collection_name/aliases': 'read',
  'POST /collections/aliases': 'write',
  'PUT /collections/:collection_name/points': 'write',
  // Qdrant's "retrieve points by id" (a read sent as POST).
  'POST /collections/:collection_name/points': 'read',
  'GET /collections/:collection_name/points/:id': 'read',
  'POST /collections/:collection_name/points/delete': 'write',
  'POST /collections/:collection_name/points/payload': 'write',
  'PUT /collections/:collection_name/points/payload': 'write',
  'POST /collections/:collection_name/points/payload/delete': 'write',
  'POST /collections/:collection_name/points/payload/clear': 'write',
  'POST /collections/:collection_name/points/scroll': 'read',
  'POST /collections/:collection_name/points/count': 'read',
  'POST /collections/:collection_name/points/batch': 'write',
  'PUT /collections/:collection_name/points/vectors': 'write',
  'POST /collections/:collection_name/points/vectors/delete': 'write',
  'POST /collections/:collection_name/points/search': 'read',
  'POST /collections/:collection_name/sync': 'write',
  'POST /collections/:collection_name/doctor': 'write',
  'GET /collections/:collection_name/jobs/:job_id': 'read',
  'DELETE /collections/:collection_name/jobs/:job_id': 'write',
  'GET /jobs/:job_id': 'admin',
  'POST /collections/:collection_name/points/search/batch': 'read',
  'POST /collections/:collection_name/points/query': 'read',
  'POST /collections/:collection_name/points/query/batch': 'read',
  'POST /collections/:collection_name/points/search/groups': 'read',
  'POST /collections/:collection_name/points/query/groups': 'read',
  'POST /collections/:collection_name/points/recommend': 'read',
  'POST /collections/:collection_name/points/recommend/batch': 'read',
  'POST /collections/:collection_name/points/recommend/groups': 'read',
  'POST /collections/:collection_name/points/discover': 'read',
  'POST /collections/:collection_name/points/discover/batch': 'read',
  'POST /collections/:collection_name/points/search/matrix/pairs': 'read',
  'POST /collections/:collection_name/points/search/matrix/offsets': 'read',
  'POST /collections/:collection_name/facet': 'read',
  'POST /collections/:collection_name/snapshots': 'write',
  'GET /collections/:collection_name/snapshots': 'read',
  'GET /collections/:collection_name/snapshots/:snapshot_name': 'read',
  'DELETE /collections/:collection_name/snapshots/:snapshot_name': 'write',
  'PUT /collections/:collection_name/snapshots/recover': 'admin',
  'POST /collections/:collection_name/snapshots/upload': 'admin',
  'GET /snapshots': 'read',
  'POST /snapshots': 'admin',
  'GET /snapshots/:snapshot_name': 'admin',
  'DELETE /snapshots/:snapshot_name': 'admin',
  'GET /collections/:collection_name/shards/*': 'admin',
  'POST /collections/:collection_name/shards/*': 'admin',
  'PUT /collections/:collection_name/shards/*': 'admin',
  'DELETE /collections/:collection_name/shards/*': 'admin',
};

/** Neither refused for the key (401) nor for its role or scope (403). */
function admitted(status: number): boolean {
  return status !== 401 && status !== 403;
}

function concrete(route: RouteInfo, collection = 'docs'): string {
  return route.url
    .replace(':collection_name', collection)
    .replace(':field_name', 'city')
    .replace(':snapshot_name', 'none.snapshot')
    .replace(':id', '1')
    .replace(':peer_id', '7')
    .replace('*', 'anything');
}

test('every route answers the access level of the independent table for every kind of key', async (t) => {
  const keysDir = tempDir(t, 'quiver-keys-');
  const { server, dir } = await makeServer(t, {
    settings: { apiKey: ADMIN, keysFile: join(keysDir, 'keys.json') },
  });
  const admin = { 'api-key': ADMIN };
  assert.equal(
    (
      await call(
        server,
        'PUT',
        '/collections/docs',
        { vectors: { size: 2, distance: 'Dot' } },
        admin,
      )
    ).statusCode,
    200,
  );
  const makeKey = async (body: Record<string, unknown>): Promise<string> => {
    const res = await call(server, 'POST', '/admin/keys', body, admin);
    assert.equal(res.statusCode, 200, res.body);
    return res.json<{ key: string }>().key;
  };
  const readKey = await makeKey({ role: 'read', id: 'reader' });
  const writeKey = await makeKey({ role: 'write', id: 'writer' });
  const scopedKey = await makeKey({ role: 'write', id: 'other-writer', collections: ['other'] });
  const scopedAdmin = await makeKey({ role: 'admin', id: 'docs-admin', collections: ['docs'] });
  const revokedKey = await makeKey({ role: 'admin', id: 'gone' });
  assert.equal(
    (await call(server, 'GET', '/collections', undefined, { 'api-key': revokedKey })).statusCode,
    200,
  );
  assert.equal(
    (await call(server, 'POST', '/admin/keys/revoke', { id: 'gone' }, admin)).statusCode,
    200,
  );

  const routes = server.routes;
  const registered = routes.map((r) => `${r.method} ${r.url}`);
  assert.deepEqual(
    registered.filter((r) => !(r in EXPECTED)),
    [],
    'every registered route has an expected access level in the table',
  );
  assert.deepEqual(
    Object.keys(EXPECTED).filter((r) => !registered.includes(r)),
    [],
    'every route in the table is registered',
  );
  let checked = 0;
  // The unscoped write key goes last: its writes may delete "docs" (404s are fine).
  for (const route of routes) {
    const url = concrete(route);
    const method = route.method as Method;
    const expected = EXPECTED[`${method} ${route.url}`]!;
    const body = method === 'GET' || method === 'DELETE' ? undefined : {};
    const what = `${method} ${route.url} (expected ${expected}, declared ${route.access})`;
    const none = await call(server, method, url, body);
    if (expected === 'public') {
      assert.equal(none.statusCode, 200, what);
      continue;
    }
    const revoked = await call(server, method, url, body, { 'api-key': revokedKey });
    const read = await call(server, method, url, body, { authorization: `Bearer ${readKey}` });
    const scoped = await call(server, method, url, body, { 'api-key': scopedKey });
    const docsAdmin = await call(server, method, url, body, { 'api-key': scopedAdmin });
    const write = await call(server, method, url, body, { 'api-key': writeKey });
    assert.equal(none.statusCode, 401, `${what} without a key`);
    assert.match(none.json<{ status: { error: string } }>().status.error, /API key/);
    assert.equal(revoked.statusCode, 401, `${what} with a revoked key`);
    if (expected === 'read') {
      assert.ok(admitted(read.statusCode), `${what} with a read key: ${read.statusCode}`);
    } else {
      assert.equal(read.statusCode, 403, `${what} with a read key`);
    }
    if (expected === 'admin') {
      assert.equal(write.statusCode, 403, `${what} with an unscoped write key`);
    } else {
      assert.ok(admitted(write.statusCode), `${what} with a write key: ${write.statusCode}`);
    }
    if (route.url.includes(':collection_name')) {
      assert.equal(scoped.statusCode, 403, `${what} with a key scoped to another collection`);
      assert.ok(
        admitted(docsAdmin.statusCode),
        `${what} with an admin key scoped to this collection: ${docsAdmin.statusCode}`,
      );
    } else if (expected === 'admin') {
      assert.equal(docsAdmin.statusCode, 403, `${what} with a scoped admin key`);
      assert.match(docsAdmin.body, /server-wide admin calls need an unscoped key/);
    }
    checked++;
  }
  assert.equal(checked, Object.keys(EXPECTED).length - 1);

  // Unknown routes need a key too (no probing without one).
  assert.equal((await call(server, 'GET', '/no/such/route')).statusCode, 401);
  assert.equal((await call(server, 'GET', '/no/such/route', undefined, admin)).statusCode, 404);

  // A scoped key works on its own collection and sees only it in the list.
  await call(server, 'PUT', '/collections/other', { vectors: { size: 2, distance: 'Dot' } }, admin);
  const mine = await call(
    server,
    'PUT',
    '/collections/other/points',
    { points: [{ id: 1, vector: [1, 2] }] },
    { 'api-key': scopedKey },
  );
  assert.equal(mine.statusCode, 200, mine.body);
  const list = await call(server, 'GET', '/collections', undefined, { 'api-key': scopedKey });
  assert.deepEqual(list.json<{ result: { collections: unknown[] } }>().result.collections, [
    { name: 'other' },
  ]);

  // The keys file holds hashes, never the secrets.
  const keysText = readFileSync(join(keysDir, 'keys.json'), 'utf8');
  for (const secret of [readKey, writeKey, scopedKey, scopedAdmin, revokedKey])
    assert.ok(!keysText.includes(secret));
  assert.match(keysText, /sha256:/);
  assert.match(keysText, /"revoked": true/);

  // The audit log has one JSON line per mutating or admin call, refused ones included.
  await server.context.audit.flush();
  const lines = readFileSync(join(dir, 'audit.log'), 'utf8').trim().split('\n');
  const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const e of entries) {
    for (const field of ['time', 'keyId', 'ip', 'method', 'route', 'collection', 'status']) {
      assert.ok(field in e, `audit entry has ${field}`);
    }
  }
  assert.ok(
    entries.some(
      (e) => e['route'] === '/admin/keys/revoke' && e['keyId'] === 'env' && e['status'] === 200,
    ),
  );
  assert.ok(
    entries.some(
      (e) =>
        e['route'] === '/collections/:collection_name/points' &&
        e['keyId'] === 'other-writer' &&
        e['collection'] === 'other',
    ),
  );
  assert.ok(entries.some((e) => e['status'] === 401 && e['method'] === 'PUT'));
  assert.ok(
    !entries.some((e) => e['method'] === 'GET' && e['route'] === '/collections'),
    'plain reads are not audited',
  );
  assert.ok(
    !entries.some((e) => e['route'] === '/collections/:collection_name/points/search'),
    'searches are reads even when sent as POST',
  );
  assert.ok(
    entries.some((e) => e['route'] === '/collections/:collection_name/points/delete'),
    'deletes sent as POST are audited',
  );
});

test('revocation takes effect on the next request; keys reload hashed from the file', async (t) => {
  const keysFile = join(tempDir(t, 'quiver-keys-'), 'keys.json');
  const { server } = await makeServer(t, { settings: { apiKey: ADMIN, keysFile } });
  const created = await call(
    server,
    'POST',
    '/admin/keys',
    { role: 'write' },
    { 'api-key': ADMIN },
  );
  const { id, key } = created.json<{ id: string; key: string }>();
  assert.equal(
    (await call(server, 'GET', '/collections', undefined, { 'api-key': key })).statusCode,
    200,
  );
  await call(server, 'POST', '/admin/keys/revoke', { id }, { 'api-key': ADMIN });
  assert.equal(
    (await call(server, 'GET', '/collections', undefined, { 'api-key': key })).statusCode,
    401,
  );
  assert.equal(
    (await call(server, 'POST', '/admin/keys/revoke', { id }, { 'api-key': ADMIN })).statusCode,
    404,
  );
  const listed = await call(server, 'GET', '/admin/keys', undefined, { 'api-key': ADMIN });
  assert.ok(!listed.body.includes('sha256'), 'listing never shows hashes');
  // A second server over the same keys file knows the (revoked) key.
  const second = await makeServer(t, { settings: { keysFile } });
  assert.equal(
    (await call(second.server, 'GET', '/collections', undefined, { 'api-key': key })).statusCode,
    401,
  );
});

test('the IP block list refuses every route for a blocked address, /health included', async (t) => {
  const { server } = await makeServer(t);
  const res = await call(server, 'POST', '/admin/ip-block', { block: ['10.1.2.3'] });
  assert.deepEqual(res.json(), { blocked: ['10.1.2.3'] });
  assert.equal((await call(server, 'GET', '/health', undefined, {}, '10.1.2.3')).statusCode, 403);
  assert.equal(
    (await call(server, 'GET', '/collections', undefined, {}, '10.1.2.3')).statusCode,
    403,
  );
  assert.equal((await call(server, 'GET', '/health', undefined, {}, '10.1.2.4')).statusCode, 200);
  assert.equal(
    (await call(server, 'POST', '/admin/ip-block', { block: ['not an ip'] })).statusCode,
    400,
  );
  await call(server, 'POST', '/admin/ip-block', { unblock: ['10.1.2.3'] });
  assert.equal((await call(server, 'GET', '/health', undefined, {}, '10.1.2.3')).statusCode, 200);
});

test('a route registered without an access level is refused at start-up', async (t) => {
  const dir = tempDir(undefined, 'quiver-sneaky-');
  const db = await Quiver.open(join(dir, 'data'), { fsync: 'none' });
  t.after(async () => {
    await db.close();
    removeDir(dir);
  });
  const server = await createServer({
    db,
    config: resolveServerConfig({ data: join(dir, 'data'), auditLog: '', logLevel: 'silent' }),
    logger: pino({ level: 'silent' }),
  });
  assert.throws(
    () => server.app.get('/sneaky', () => Promise.resolve('x')),
    /declares no access level/,
  );
  server.app.get('/fine', { config: { access: 'read' } }, () => Promise.resolve('x'));
  await server.close();
});

test('revoking the last admin key is allowed; a restart with QUIVER_API_KEY is the way back', async (t) => {
  const keysFile = join(tempDir(t, 'quiver-keys-'), 'keys.json');
  const { server } = await makeServer(t, { settings: { apiKey: ADMIN, keysFile } });
  const admin = { 'api-key': ADMIN };
  const made = await call(server, 'POST', '/admin/keys', { role: 'admin', id: 'ops' }, admin);
  const ops = { 'api-key': made.json<{ key: string }>().key };
  const writer = await call(server, 'POST', '/admin/keys', { role: 'write', id: 'app' }, ops);
  const app = { 'api-key': writer.json<{ key: string }>().key };
  // The admins revoke each other, then the last one revokes itself.
  assert.equal(
    (await call(server, 'POST', '/admin/keys/revoke', { id: 'env' }, ops)).statusCode,
    200,
  );
  assert.equal(
    (await call(server, 'POST', '/admin/keys/revoke', { id: 'ops' }, ops)).statusCode,
    200,
  );
  // No admin is left: admin routes refuse every key, the server stays locked (not open),
  // and the other keys go on working.
  for (const headers of [admin, ops, {}]) {
    assert.equal((await call(server, 'GET', '/admin/keys', undefined, headers)).statusCode, 401);
  }
  assert.equal((await call(server, 'GET', '/admin/keys', undefined, app)).statusCode, 403);
  assert.equal((await call(server, 'GET', '/collections', undefined, app)).statusCode, 200);
  assert.equal((await call(server, 'GET', '/collections')).statusCode, 401);
  // A restart with QUIVER_API_KEY (here: apiKey) brings an admin back; "ops" stays revoked
  // (the keys file says so) and "app" still works.
  const next = 'a-new-admin-secret';
  const restarted = await makeServer(t, { settings: { apiKey: next, keysFile } });
  const keys = await call(restarted.server, 'GET', '/admin/keys', undefined, { 'api-key': next });
  assert.equal(keys.statusCode, 200, keys.body);
  const listed = keys.json<{ keys: { id: string; revoked?: boolean }[] }>().keys;
  assert.deepEqual(
    listed.map((k) => [k.id, k.revoked === true]),
    [
      ['ops', true],
      ['app', false],
      ['env', false],
    ],
  );
  const ops2 = await call(restarted.server, 'GET', '/admin/keys', undefined, ops);
  assert.equal(ops2.statusCode, 401);
  const app2 = await call(restarted.server, 'GET', '/collections', undefined, app);
  assert.equal(app2.statusCode, 200);
});

test('an IP block applies over a real socket, to the very next request', async (t) => {
  const { server } = await makeServer(t, { settings: { apiKey: ADMIN } });
  const address = await server.app.listen({ host: '127.0.0.1', port: 0 });
  const admin = { 'api-key': ADMIN, 'content-type': 'application/json' };
  const get = (path: string): Promise<Response> => fetch(`${address}${path}`, { headers: admin });
  assert.equal((await get('/health')).status, 200);
  assert.equal((await get('/collections')).status, 200);
  // The client blocks its own address (the answer to that request still arrives)...
  const blocked = await fetch(`${address}/admin/ip-block`, {
    method: 'POST',
    headers: admin,
    body: JSON.stringify({ block: ['127.0.0.1'] }),
  });
  assert.equal(blocked.status, 200);
  assert.deepEqual(await blocked.json(), { blocked: ['127.0.0.1'] });
  // ...and from then on every route refuses it, /health and the admin key included.
  for (const path of ['/health', '/collections', '/admin/ip-block']) {
    const res = await get(path);
    assert.equal(res.status, 403, path);
    assert.match(await res.text(), /address 127\.0\.0\.1 is blocked/);
  }
  // An admin from another address lifts the block; the socket is served again.
  const lifted = await call(
    server,
    'POST',
    '/admin/ip-block',
    { unblock: ['127.0.0.1'] },
    admin,
    '10.9.8.7',
  );
  assert.equal(lifted.statusCode, 200);
  assert.equal((await get('/health')).status, 200);
});
