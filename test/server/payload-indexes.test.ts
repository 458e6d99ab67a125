/**
 * Declared payload indexes survive a server restart (kept in <data>/payload-indexes.json),
 * go with their collection when it is dropped or created anew, and a damaged registry
 * file only costs the declarations, never the server.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { Quiver } from '../../src/engine/quiver.js';
import { resolveServerConfig } from '../../src/server/config.js';
import { createServer } from '../../src/server/create-server.js';
import { PAYLOAD_INDEX_FILE } from '../../src/server/payload-index-registry.js';
import { tempDir } from '../helpers/temp-dir.js';
import { call } from './server-helpers.js';

async function withServer<T>(
  dir: string,
  body: (server: Awaited<ReturnType<typeof createServer>>) => Promise<T>,
): Promise<T> {
  const data = join(dir, 'data');
  const db = await Quiver.open(data, { fsync: 'none' });
  const server = await createServer({
    config: resolveServerConfig({ data, logLevel: 'silent', auditLog: '' }),
    db,
    logger: pino({ level: 'silent' }),
  });
  try {
    return await body(server);
  } finally {
    await server.close();
    await db.close();
  }
}

type Server = Awaited<ReturnType<typeof createServer>>;

async function schema(server: Server, collection: string): Promise<Record<string, unknown>> {
  const r = await call(server, 'GET', `/collections/${collection}`);
  assert.equal(r.statusCode, 200, r.body);
  return r.json<{ result: { payload_schema: Record<string, unknown> } }>().result.payload_schema;
}

test('payload indexes persist across restarts and follow their collection', async (t) => {
  const dir = tempDir(t);
  const create = { vectors: { size: 2, distance: 'Dot' } };
  await withServer(dir, async (server) => {
    assert.equal((await call(server, 'PUT', '/collections/a', create)).statusCode, 200);
    assert.equal((await call(server, 'PUT', '/collections/b', create)).statusCode, 200);
    for (const [c, field, field_schema] of [
      ['a', 'city', 'keyword'],
      ['a', 'price', { type: 'integer', range: true }],
      ['b', 'tag', 'keyword'],
    ] as const) {
      const r = await call(server, 'PUT', `/collections/${c}/index`, {
        field_name: field,
        field_schema,
      });
      assert.equal(r.statusCode, 200, r.body);
    }
    assert.equal((await call(server, 'DELETE', '/collections/b/index/tag')).statusCode, 200);
    assert.equal((await call(server, 'DELETE', '/collections/b/index/tag')).statusCode, 404);
  });
  await withServer(dir, async (server) => {
    const a = await schema(server, 'a');
    assert.deepEqual(Object.keys(a).sort(), ['city', 'price']);
    assert.equal((a['price'] as { data_type: string }).data_type, 'integer');
    assert.deepEqual(await schema(server, 'b'), {});
    // Dropped with the collection; a new collection of the name starts without them.
    assert.equal((await call(server, 'DELETE', '/collections/a')).statusCode, 200);
    assert.equal((await call(server, 'PUT', '/collections/a', create)).statusCode, 200);
    assert.deepEqual(await schema(server, 'a'), {});
  });
  const file = join(dir, 'data', PAYLOAD_INDEX_FILE);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { version: 1, collections: {} });

  // A damaged file: the server starts, reports no indexes, and rewrites it on the next change.
  writeFileSync(file, '{ "version": 1, "collections": ');
  await withServer(dir, async (server) => {
    assert.deepEqual(await schema(server, 'a'), {});
    const r = await call(server, 'PUT', '/collections/a/index', {
      field_name: 'city',
      field_schema: 'keyword',
    });
    assert.equal(r.statusCode, 200, r.body);
  });
  const healed = JSON.parse(readFileSync(file, 'utf8')) as { collections: Record<string, unknown> };
  assert.deepEqual(Object.keys(healed.collections), ['a']);
});
