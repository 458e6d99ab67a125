/**
 * Operations and admin routes: /health (and its 503 reasons), /ready while the database
 * loads, /metrics through `promtool check metrics`, /stats, read-only mode, compaction,
 * the integrity check, live settings with the slow-query log, the query cache's settings
 * and clearing, the circuit breaker reset,
 * and 501 for routes whose engine part has not landed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { Quiver } from '../../src/engine/quiver.js';
import { facilitiesRequired } from '../helpers/facility.js';
import { FaultyFileSystem } from '../helpers/faulty-file-system.js';
import { call, makeServer } from './server-helpers.js';

const PROMTOOL = process.env['QUIVER_PROMTOOL'] ?? '/usr/bin/promtool';

async function seed(server: Parameters<typeof call>[0], n = 50): Promise<void> {
  await call(server, 'PUT', '/collections/docs', { vectors: { size: 4, distance: 'Euclid' } });
  const points = Array.from({ length: n }, (_, i) => ({
    id: i,
    vector: [i, i % 3, i % 5, 1],
    payload: { even: i % 2 === 0 },
  }));
  const res = await call(server, 'PUT', '/collections/docs/points', { points });
  assert.equal(res.statusCode, 200, res.body);
}

test('/health, /ready and /stats answer; /ready is 503 while the database loads', async (t) => {
  const { server, release } = await makeServer(t, { pending: true });
  assert.equal((await call(server, 'GET', '/ready')).statusCode, 503);
  assert.deepEqual((await call(server, 'GET', '/ready')).json(), { status: 'loading' });
  const loading = await call(server, 'GET', '/collections');
  assert.equal(loading.statusCode, 503, 'loading never looks like empty');
  assert.match(loading.json<{ status: { error: string } }>().status.error, /loading/);
  assert.equal((await call(server, 'GET', '/readyz')).statusCode, 503);
  release();
  await new Promise((r) => setImmediate(r));
  assert.equal((await call(server, 'GET', '/ready')).statusCode, 200);
  assert.equal((await call(server, 'GET', '/readyz')).body, 'all shards are ready');
  const health = await call(server, 'GET', '/health');
  assert.equal(health.statusCode, 200);
  assert.deepEqual(Object.keys(health.json<object>()), ['status', 'version']);
  await seed(server);
  const stats = (await call(server, 'GET', '/stats')).json<{
    points: number;
    collections: number;
    server: { searchWorkers: { threads: number } };
  }>();
  assert.equal(stats.points, 50);
  assert.equal(stats.collections, 1);
  assert.equal(stats.server.searchWorkers.threads, 0, 'a server without workers says so');
});

test('/metrics carries the SPEC names and passes promtool check metrics', async (t) => {
  // fsync 'batch' (the default) rather than the helpers' 'none', so fsyncs are timed.
  const { server } = await makeServer(t, { open: (d) => Quiver.open(d, { fsync: 'batch' }) });
  await seed(server);
  for (let i = 0; i < 5; i++) {
    await call(server, 'POST', '/collections/docs/points/search', {
      vector: [1, 2, 3, 4],
      limit: 3,
    });
  }
  await call(server, 'POST', '/collections/docs/points/query', {
    query: [1, 2, 3, 4],
    filter: { must: [{ key: 'even', match: { value: true } }] },
  });
  await call(server, 'GET', '/collections/missing');
  const res = await call(server, 'GET', '/metrics');
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /text\/plain/);
  const text = res.body;
  for (const name of [
    'quiver_search_duration_seconds_bucket{le="0.001",collection="docs",layer="engine",source="index"}',
    // The same search five times: the first searched the index, four came from the cache.
    'quiver_search_duration_seconds_count{collection="docs",layer="http",source="index"} 2',
    'quiver_search_duration_seconds_count{collection="docs",layer="http",source="cache"} 4',
    'quiver_cache_hits_total{cache="query"} 4',
    'quiver_cache_misses_total{cache="query"} 2',
    'quiver_cache_capacity_bytes{cache="query"} 67108864',
    'quiver_cache_evictions_total{cache="query"} 0',
    'quiver_memory_bytes{collection="docs",part="vectors"}',
    'quiver_memory_bytes{collection="docs",part="query_cache"}',
    'quiver_search_total{collection="docs"} 6',
    'quiver_errors_total{op="GET /collections/:collection_name",code="COLLECTION_NOT_FOUND"} 1',
    'quiver_upsert_total{collection="docs"} 50',
    'quiver_collection_points{collection="docs"} 50',
    'quiver_index_memory_bytes{collection="docs"}',
    'quiver_distance_computations_total{collection="docs"}',
    'quiver_wal_size_bytes',
    'quiver_wal_fsync_seconds_count',
    'quiver_memtable_bytes',
    'quiver_segments{collection="docs"}',
    'quiver_compaction_queue_depth 0',
    'quiver_backpressure_events_total 0',
    'quiver_wal_circuit_breaker_state 0',
    'quiver_active_connections',
  ]) {
    assert.ok(text.includes(name), `metrics include ${name}`);
  }
  // The upserts were fsynced: the histogram observed each fsync.
  const fsyncs = Number(/^quiver_wal_fsync_seconds_count (\d+)$/m.exec(text)?.[1] ?? '0');
  assert.ok(fsyncs >= 1, `quiver_wal_fsync_seconds observed the WAL's fsyncs, got ${fsyncs}`);
  const skipPromtool = process.env['QUIVER_SKIP_PROMTOOL'] === '1' && !facilitiesRequired();
  if (!existsSync(PROMTOOL) && skipPromtool) {
    t.diagnostic(`promtool not found at ${PROMTOOL}: skipped (QUIVER_SKIP_PROMTOOL=1)`);
    return;
  }
  assert.ok(existsSync(PROMTOOL), `promtool is needed at ${PROMTOOL} (Debian package prometheus)`);
  const check = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
});

test('read-only mode, compaction, integrity check and the circuit breaker reset', async (t) => {
  const { server } = await makeServer(t);
  await seed(server);
  assert.deepEqual((await call(server, 'POST', '/admin/readonly')).json(), { readOnly: true });
  const refused = await call(server, 'PUT', '/collections/docs/points', {
    points: [{ id: 99, vector: [1, 1, 1, 1] }],
  });
  assert.equal(refused.statusCode, 403);
  assert.match(refused.json<{ status: { error: string } }>().status.error, /read-only/);
  assert.equal(
    (await call(server, 'POST', '/collections/docs/points/count', {})).statusCode,
    200,
    'reads go on',
  );
  await call(server, 'POST', '/admin/readwrite');
  assert.equal(
    (
      await call(server, 'PUT', '/collections/docs/points', {
        points: [{ id: 99, vector: [1, 1, 1, 1] }],
      })
    ).statusCode,
    200,
  );
  const compact = await call(server, 'POST', '/admin/compact', { collection: 'docs' });
  assert.equal(compact.statusCode, 200, compact.body);
  assert.equal(
    (await call(server, 'POST', '/admin/compact', { collection: 'nope' })).statusCode,
    404,
  );

  const started = await call(server, 'POST', '/admin/integrity-check');
  assert.equal(started.statusCode, 200);
  let status: { state: string; report: { status: string } | null } = started.json();
  for (let i = 0; i < 200 && status.state === 'running'; i++) {
    await new Promise((r) => setTimeout(r, 25));
    status = (await call(server, 'GET', '/admin/integrity-check/status')).json();
  }
  assert.equal(status.state, 'done');
  assert.equal(status.report?.status, 'ok');

  const reset = await call(server, 'POST', '/admin/circuit-breaker/reset');
  assert.equal(reset.statusCode, 200);
  assert.equal(reset.json<{ circuitBreaker: { state: string } }>().circuitBreaker.state, 'closed');
});

test('/health is 503 with the reason while the WAL circuit breaker is open; reset heals it', async (t) => {
  const fs = new FaultyFileSystem();
  const { server } = await makeServer(t, {
    open: (data) =>
      Quiver.open(data, {
        fsync: 'always',
        fileSystem: fs,
        breakerFailures: 2,
        breakerCooldownMs: 60_000,
      }),
  });
  await seed(server, 5);
  fs.plan = { failWith: 'EIO', failWriteAt: fs.writes + 1, sticky: true };
  for (let i = 0; i < 2; i++) {
    const res = await call(server, 'PUT', '/collections/docs/points', {
      points: [{ id: 100 + i, vector: [1, 1, 1, 1] }],
    });
    assert.equal(res.statusCode, 503, res.body);
  }
  const health = await call(server, 'GET', '/health');
  assert.equal(health.statusCode, 503);
  const body = health.json<{ status: string; reasons: string[] }>();
  assert.equal(body.status, 'unavailable');
  assert.ok(
    body.reasons.some((r) => /circuit breaker is open/.test(r)),
    body.reasons.join('; '),
  );
  const metrics = (await call(server, 'GET', '/metrics')).body;
  assert.ok(metrics.includes('quiver_wal_circuit_breaker_state 1'));
  fs.heal();
  assert.equal((await call(server, 'POST', '/admin/circuit-breaker/reset')).statusCode, 200);
  assert.equal((await call(server, 'GET', '/health')).statusCode, 200);
});

test('PATCH /admin/config changes the slow-query threshold, default ef and log level live', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n'))
        if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  const { server } = await makeServer(t, { logger, settings: { slowQueryMs: 60_000 } });
  await seed(server);
  const search = { vector: [1, 2, 3, 4], limit: 3 };
  await call(server, 'POST', '/collections/docs/points/search', search);
  assert.equal(lines.filter((l) => l['msg'] === 'slow query').length, 0);
  const patched = await call(server, 'PATCH', '/admin/config', {
    slowQueryMs: 0,
    defaultEf: 32,
    logLevel: 'debug',
  });
  assert.deepEqual(patched.json(), {
    slowQueryMs: 0,
    defaultEf: 32,
    logLevel: 'debug',
    queryCacheBytes: 64 * 1024 * 1024,
    vectorCacheBytes: 64 * 1024 * 1024,
    semanticCache: {},
  });
  await call(server, 'POST', '/collections/docs/points/search', search);
  const slow = lines.filter((l) => l['msg'] === 'slow query');
  assert.equal(slow.length, 1);
  assert.equal(slow[0]!['collection'], 'docs');
  assert.equal(slow[0]!['ef'], 32);
  const timings = slow[0]!['timings'] as Record<string, number>;
  for (const phase of ['parseMs', 'filterMs', 'graphMs', 'exactMs', 'mergeMs', 'payloadMs']) {
    assert.equal(typeof timings[phase], 'number', `slow query log has ${phase}`);
  }
  assert.ok(
    lines.some((l) => l['msg'] === 'request' && l['level'] === 20),
    'debug request logs on',
  );
  assert.equal(
    (await call(server, 'PATCH', '/admin/config', { logLevel: 'loud' })).statusCode,
    400,
  );
  assert.equal((await call(server, 'PATCH', '/admin/config', { slowQueryMs: -1 })).statusCode, 400);
  assert.equal((await call(server, 'PATCH', '/admin/config', { other: 1 })).statusCode, 400);
});

test('the query cache: sized and turned off live (also in the cache.query_cache shape), cleared, counted', async (t) => {
  const { server } = await makeServer(t);
  await seed(server);
  const search = { vector: [1, 2, 3, 4], limit: 3 };
  const cacheStats = async () =>
    (await call(server, 'GET', '/stats')).json<{
      queryCache: { hits: number; entries: number; capacityBytes: number };
    }>().queryCache;
  await call(server, 'POST', '/collections/docs/points/search', search);
  await call(server, 'POST', '/collections/docs/points/search', search);
  assert.equal((await cacheStats()).hits, 1);

  const cleared = await call(server, 'POST', '/admin/cache/clear');
  assert.equal(cleared.statusCode, 200);
  assert.equal(cleared.json<{ cleared: number }>().cleared, 1);
  assert.equal((await cacheStats()).entries, 0);

  // Vectorizer's shape: off, then on with a size in MB.
  const off = await call(server, 'PATCH', '/admin/config', {
    cache: { query_cache: { enabled: false } },
  });
  assert.equal(off.statusCode, 200, off.body);
  assert.equal(off.json<{ queryCacheBytes: number }>().queryCacheBytes, 0);
  await call(server, 'POST', '/collections/docs/points/search', search);
  await call(server, 'POST', '/collections/docs/points/search', search);
  assert.equal((await cacheStats()).hits, 1, 'no hit while off');
  const on = await call(server, 'PATCH', '/admin/config', {
    cache: { query_cache: { enabled: true, size_mb: 8 } },
  });
  assert.equal(on.json<{ queryCacheBytes: number }>().queryCacheBytes, 8 * 1024 * 1024);
  assert.equal((await cacheStats()).capacityBytes, 8 * 1024 * 1024);
  await call(server, 'PATCH', '/admin/config', { queryCacheBytes: 1 << 20 });
  assert.equal((await cacheStats()).capacityBytes, 1 << 20);
  for (const bad of [
    { queryCacheBytes: -1 },
    { cache: { query_cache: { size_mb: 'big' } } },
    { cache: { other: {} } },
    { queryCacheBytes: 1, cache: { query_cache: { enabled: true } } },
  ]) {
    const res = await call(server, 'PATCH', '/admin/config', bad);
    assert.equal(res.statusCode, 400, JSON.stringify(bad));
  }
  assert.equal((await cacheStats()).capacityBytes, 1 << 20, 'a refused body changed nothing');

  // The semantic cache, opted in live for one collection: a similar query takes the
  // cached answer (counted under cache="semantic"); null opts out; bad values are refused.
  const opted = await call(server, 'PATCH', '/admin/config', { semanticCache: { docs: 0.99 } });
  assert.equal(opted.statusCode, 200, opted.body);
  assert.deepEqual(opted.json<{ semanticCache: object }>().semanticCache, { docs: 0.99 });
  await call(server, 'POST', '/collections/docs/points/search', { vector: [5, 1, 2, 1], limit: 3 });
  const similar = await call(server, 'POST', '/collections/docs/points/search', {
    vector: [5, 1, 2, 1.001],
    limit: 3,
  });
  assert.equal(similar.statusCode, 200);
  const metrics = (await call(server, 'GET', '/metrics')).body;
  assert.ok(metrics.includes('quiver_cache_hits_total{cache="semantic"} 1'), 'a semantic hit');
  assert.ok(metrics.includes('source="semantic"'), 'the latency histogram says where from');
  for (const bad of [{ semanticCache: { docs: 2 } }, { semanticCache: [0.9] }]) {
    assert.equal((await call(server, 'PATCH', '/admin/config', bad)).statusCode, 400);
  }
  const out = await call(server, 'PATCH', '/admin/config', { semanticCache: { docs: null } });
  assert.deepEqual(out.json<{ semanticCache: object }>().semanticCache, {});
});

test('routes whose engine part has not landed answer 501, never a fake success', async (t) => {
  const { server } = await makeServer(t);
  await seed(server, 3);
  for (const [method, url, body] of [
    ['POST', '/collections/docs/points/recommend', { positive: [1] }],
    ['POST', '/collections/docs/points/discover', {}],
    ['POST', '/collections/docs/points/query/groups', {}],
    ['POST', '/collections/docs/facet', { key: 'even' }],
    ['POST', '/collections/aliases', { actions: [] }],
    ['POST', '/snapshots', {}],
    ['PATCH', '/collections/docs', { hnsw_config: { m: 32 } }],
    ['PUT', '/collections/named', { vectors: { image: { size: 4, distance: 'Dot' } } }],
    [
      'POST',
      '/collections/docs/points/query',
      { query: [1, 2, 3, 4], prefetch: [{ query: [1, 2, 3, 4] }] },
    ],
  ] as const) {
    const res = await call(server, method, url, body);
    assert.equal(res.statusCode, 501, `${method} ${url}: ${res.body}`);
    assert.match(res.json<{ status: { error: string } }>().status.error, /^Not implemented: /);
  }
});
