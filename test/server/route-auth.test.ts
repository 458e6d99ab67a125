/**
 * The route-auth walk: every registered route, called with no key, a revoked key, a read
 * key and a key scoped to another collection, must answer the status its declared access
 * level implies — so no new route can slip past authentication. Also: Bearer keys, hashed
 * keys file, revocation on the next request, IP block list and the audit log.
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

function concrete(route: RouteInfo, collection = 'docs'): string {
  return route.url
    .replace(':collection_name', collection)
    .replace(':field_name', 'city')
    .replace(':snapshot_name', 'none.snapshot')
    .replace(':id', '1')
    .replace('*', 'anything');
}

test('every route enforces its access level for no key, revoked, read and scoped keys', async (t) => {
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
  const scopedKey = await makeKey({ role: 'write', id: 'other-writer', collections: ['other'] });
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
  assert.ok(routes.length >= 60, `expected the whole route table, got ${routes.length}`);
  assert.ok(routes.some((r) => r.url === '/health' && r.access === 'public'));
  assert.deepEqual(
    routes.filter((r) => r.access === 'public').map((r) => r.url),
    ['/health'],
    'only /health is public',
  );
  let checked = 0;
  for (const route of routes) {
    const url = concrete(route);
    const method = route.method as Method;
    const body = method === 'GET' || method === 'DELETE' ? undefined : {};
    const what = `${method} ${route.url}`;
    const none = await call(server, method, url, body);
    const revoked = await call(server, method, url, body, { 'api-key': revokedKey });
    const read = await call(server, method, url, body, { authorization: `Bearer ${readKey}` });
    const scoped = await call(server, method, url, body, { 'api-key': scopedKey });
    if (route.access === 'public') {
      assert.equal(none.statusCode, 200, what);
      continue;
    }
    assert.equal(none.statusCode, 401, `${what} without a key`);
    assert.match(none.json<{ status: { error: string } }>().status.error, /API key/);
    assert.equal(revoked.statusCode, 401, `${what} with a revoked key`);
    if (route.access === 'read') {
      assert.ok(
        read.statusCode !== 401 && read.statusCode !== 403,
        `${what} with a read key: ${read.statusCode}`,
      );
    } else {
      assert.equal(read.statusCode, 403, `${what} with a read key`);
    }
    if (route.url.includes(':collection_name')) {
      assert.equal(scoped.statusCode, 403, `${what} with a key scoped to another collection`);
    }
    checked++;
  }
  assert.ok(checked >= 59);

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
  for (const secret of [readKey, scopedKey, revokedKey]) assert.ok(!keysText.includes(secret));
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
