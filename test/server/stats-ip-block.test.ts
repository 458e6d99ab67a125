/**
 * /stats reports total_vectors and each collection's mean search latency, and runtime IP
 * blocks (POST /admin/ip-block) survive a restart (issue 10 item 17, server half).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { Quiver } from '../../src/engine/quiver.js';
import { resolveServerConfig } from '../../src/server/config.js';
import { applyConfigReload } from '../../src/server/config-reload.js';
import { createServer } from '../../src/server/create-server.js';
import { call, makeServer } from './server-helpers.js';

test('/stats has total_vectors and per-collection average search latency', async (t) => {
  const { server } = await makeServer(t);
  await call(server, 'PUT', '/collections/docs', { vectors: { size: 2, distance: 'Dot' } });
  const points = Array.from({ length: 12 }, (_, i) => ({ id: i, vector: [i, 1] }));
  assert.equal((await call(server, 'PUT', '/collections/docs/points', { points })).statusCode, 200);
  for (let i = 0; i < 3; i++) {
    await call(server, 'POST', '/collections/docs/points/query', { query: [1, i], limit: 3 });
  }
  const s = (await call(server, 'GET', '/stats')).json<{
    total_vectors: number;
    perCollection: { name: string; searches: number; avgSearchSeconds: number | null }[];
  }>();
  assert.equal(s.total_vectors, 12);
  const docs = s.perCollection.find((c) => c.name === 'docs');
  assert.equal(docs?.searches, 3);
  assert.ok(typeof docs.avgSearchSeconds === 'number' && docs.avgSearchSeconds > 0);
});

test('runtime IP blocks are kept across a restart; unblocking a config block sticks too', async (t) => {
  const { server, data, dir } = await makeServer(t, { settings: { ipBlock: ['10.9.9.9'] } });
  const res = await call(server, 'POST', '/admin/ip-block', {
    block: ['10.1.2.3'],
    unblock: ['10.9.9.9'],
  });
  assert.equal(res.statusCode, 200, res.body);
  const saved = JSON.parse(readFileSync(join(data, 'ip-block.json'), 'utf8')) as unknown;
  assert.deepEqual(saved, { version: 1, blocked: ['10.1.2.3'], unblocked: ['10.9.9.9'] });

  // A second server over the same data directory (as after a restart) applies the file.
  const db = await Quiver.open(join(dir, 'data2'), { fsync: 'none' });
  const config = resolveServerConfig({
    data,
    logLevel: 'silent',
    auditLog: '',
    snapshotsDir: join(dir, 'snapshots'),
    ipBlock: ['10.9.9.9'],
  });
  const again = await createServer({ config, db, logger: pino({ level: 'silent' }) });
  assert.equal(
    (await call(again, 'GET', '/collections', undefined, {}, '10.1.2.3')).statusCode,
    403,
  );
  assert.equal(
    (await call(again, 'GET', '/collections', undefined, {}, '10.9.9.9')).statusCode,
    200,
  );
  assert.deepEqual((await call(again, 'GET', '/admin/ip-block')).json(), { blocked: ['10.1.2.3'] });

  // A damaged file stops the start-up rather than silently unblocking everyone.
  writeFileSync(join(data, 'ip-block.json'), '{"version":1,"blocked":');
  await assert.rejects(
    createServer({ config, db, logger: pino({ level: 'silent' }) }),
    (e: Error) => /ip-block\.json is unreadable.*delete it/.test(e.message),
  );
  await again.close();
  await db.close();
});

test('a config reload keeps the runtime IP blocks and unblocks: (config ∪ blocked) − unblocked', async (t) => {
  const { server } = await makeServer(t, {
    settings: { ipBlock: ['10.9.9.9', '10.8.8.8', '10.7.7.7'] },
  });
  const res = await call(server, 'POST', '/admin/ip-block', {
    block: ['10.1.2.3', '10.7.7.7'],
    unblock: ['10.9.9.9'],
  });
  assert.equal(res.statusCode, 200, res.body);
  // SIGHUP with a config that drops 10.8.8.8 and 10.7.7.7 and adds 10.6.6.6: the admin's
  // block of 10.7.7.7 and unblock of 10.9.9.9 still hold.
  const next = { ...server.context.config, ipBlock: ['10.9.9.9', '10.6.6.6'] };
  await applyConfigReload(server.context, next, pino({ level: 'silent' }));
  assert.deepEqual((await call(server, 'GET', '/admin/ip-block')).json(), {
    blocked: ['10.1.2.3', '10.6.6.6', '10.7.7.7'],
  });
  assert.equal(
    (await call(server, 'GET', '/collections', undefined, {}, '10.9.9.9')).statusCode,
    200,
  );
  assert.equal(
    (await call(server, 'GET', '/collections', undefined, {}, '10.7.7.7')).statusCode,
    403,
  );
});
