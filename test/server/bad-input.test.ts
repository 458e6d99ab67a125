/**
 * Bad input never hurts the server: malformed JSON, wrong types, huge bodies (413 at the
 * configured limit), unknown collections, wrong dimensions, bad ids — each gets the right
 * 4xx with a clear message — and a fast-check fuzz sends random bodies to every route:
 * no 5xx (but 501 for what is not implemented), and /health still answers 200.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { propertyParams } from '../helpers/random.js';
import { call, makeServer } from './server-helpers.js';

function errorOf(res: LightMyRequestResponse): string {
  const body = res.json<{ status?: { error?: unknown }; time?: unknown }>();
  assert.equal(typeof body.status?.error, 'string', `Qdrant error shape: ${res.body}`);
  assert.equal(typeof body.time, 'number');
  return body.status!.error as string;
}

const quiet = () => pino({ level: 'silent' }, new Writable({ write: (_c, _e, done) => done() }));

test('each kind of bad input gets the right 4xx and a clear message', async (t) => {
  const { server } = await makeServer(t, { settings: { bodyLimitBytes: 4096 } });
  assert.equal(
    (await call(server, 'PUT', '/collections/docs', { vectors: { size: 3, distance: 'Cosine' } }))
      .statusCode,
    200,
  );
  const raw = (method: 'POST' | 'PUT', url: string, payload: string, type = 'application/json') =>
    server.app.inject({ method, url, payload, headers: { 'content-type': type } });

  const malformed = await raw('POST', '/collections/docs/points/search', '{"vector": [1, 2,');
  assert.equal(malformed.statusCode, 400);
  assert.match(errorOf(malformed), /not valid JSON/);

  const cases: [string, 'GET' | 'POST' | 'PUT', string, unknown, number, RegExp][] = [
    [
      'size as a string',
      'PUT',
      '/collections/c2',
      { vectors: { size: '3', distance: 'Cosine' } },
      400,
      /vectors\.size/,
    ],
    [
      'unknown distance',
      'PUT',
      '/collections/c2',
      { vectors: { size: 3, distance: 'Hamming' } },
      400,
      /distance/,
    ],
    [
      'bad collection name',
      'PUT',
      '/collections/bad%20name',
      { vectors: { size: 3, distance: 'Dot' } },
      400,
      /name/,
    ],
    ['points not an array', 'PUT', '/collections/docs/points', { points: 5 }, 400, /points/],
    [
      'wrong dimension',
      'PUT',
      '/collections/docs/points',
      { points: [{ id: 1, vector: [1, 2] }] },
      400,
      /dimension 3/,
    ],
    [
      'vector of strings',
      'PUT',
      '/collections/docs/points',
      { points: [{ id: 1, vector: ['a', 'b', 'c'] }] },
      400,
      /number/,
    ],
    [
      'negative id',
      'PUT',
      '/collections/docs/points',
      { points: [{ id: -1, vector: [1, 2, 3] }] },
      400,
      /point id/,
    ],
    ['id not a UUID', 'POST', '/collections/docs/points', { ids: ['doc-1'] }, 400, /UUID/],
    [
      'payload not an object',
      'PUT',
      '/collections/docs/points',
      { points: [{ id: 1, vector: [1, 2, 3], payload: [1] }] },
      400,
      /payload/,
    ],
    [
      'limit negative',
      'POST',
      '/collections/docs/points/search',
      { vector: [1, 2, 3], limit: -1 },
      400,
      /limit/,
    ],
    [
      'bad filter',
      'POST',
      '/collections/docs/points/scroll',
      { filter: { must: [{ key: 'a', match: 5 }] } },
      400,
      /filter/,
    ],
    [
      'unknown field',
      'POST',
      '/collections/docs/points/count',
      { filtre: {} },
      400,
      /unknown field "filtre"/,
    ],
    [
      'unknown collection (search)',
      'POST',
      '/collections/nope/points/search',
      { vector: [1, 2, 3] },
      404,
      /nope/,
    ],
    ['unknown collection (get)', 'GET', '/collections/nope', undefined, 404, /nope/],
    ['missing point', 'GET', '/collections/docs/points/42', undefined, 404, /42/],
    ['unknown route', 'GET', '/collections/docs/nothing-here', undefined, 404, /no route/],
  ];
  for (const [what, method, url, body, status, message] of cases) {
    const res = await call(server, method, url, body);
    assert.equal(res.statusCode, status, `${what}: ${res.body}`);
    assert.match(errorOf(res), message, what);
  }

  const big = await raw('POST', '/collections/docs/points', '{"ids": [9007199254740993]}');
  assert.equal(big.statusCode, 400, 'ids past 2^53 are refused, never rounded');
  assert.match(errorOf(big), /point id/);

  const huge = await raw(
    'PUT',
    '/collections/docs/points',
    JSON.stringify({ points: [], pad: 'x'.repeat(10_000) }),
  );
  assert.equal(huge.statusCode, 413);
  assert.match(errorOf(huge), /too large/i);
  const wrongType = await raw(
    'POST',
    '/collections/docs/points/search',
    'vector=1',
    'application/x-www-form-urlencoded',
  );
  // Qdrant answers a body that is not JSON with 400 "Content type error" (not 415).
  assert.equal(wrongType.statusCode, 400);
  assert.match(errorOf(wrongType), /Content type error/);

  // No prototype pollution through bodies.
  await raw(
    'PUT',
    '/collections/docs/points',
    '{"points":[{"id":7,"vector":[1,2,3],"payload":{"__proto__":{"polluted":true}}}]}',
  );
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);

  // And the server keeps serving.
  assert.equal((await call(server, 'GET', '/health')).statusCode, 200);
  assert.equal((await call(server, 'POST', '/collections/docs/points/count', {})).statusCode, 200);
});

test('fuzz: random bodies to every route never get a 5xx, and /health stays live', async (t) => {
  const { server } = await makeServer(t, {
    logger: quiet(),
    settings: { bodyLimitBytes: 64 * 1024 },
  });
  await call(server, 'PUT', '/collections/docs', { vectors: { size: 3, distance: 'Dot' } });
  await call(server, 'PUT', '/collections/docs/points', {
    points: [0, 1, 2, 3, 4].map((i) => ({
      id: i,
      vector: [i, 1, 0],
      payload: { n: i, tag: `t${i % 2}` },
    })),
  });
  // Creating a key would turn authentication on and make every later request a 401,
  // hiding the rest of the fuzz; keys have their own tests (route-auth.test.ts).
  const routes = server.routes.filter((r) => !r.url.startsWith('/admin/keys'));
  const id = fc.oneof(fc.nat(), fc.uuid(), fc.string(), fc.constant(-1), fc.double());
  const vector = fc.oneof(
    fc.array(fc.double(), { maxLength: 5 }),
    fc.array(fc.oneof(fc.integer(), fc.string()), { maxLength: 4 }),
    fc.constant([1, 2, 3]),
  );
  const condition = fc.oneof(
    fc.record({
      key: fc.constantFrom('n', 'tag', 'a.b', ''),
      match: fc.oneof(
        fc.record({ value: fc.jsonValue() }),
        fc.record({ any: fc.array(fc.jsonValue()) }),
        fc.jsonValue(),
      ),
    }),
    fc.record({
      key: fc.string(),
      range: fc.dictionary(
        fc.constantFrom('gt', 'gte', 'lt', 'lte', 'x'),
        fc.oneof(fc.double(), fc.string()),
      ),
    }),
    fc.record({ has_id: fc.array(id, { maxLength: 3 }) }),
    fc.record({ is_empty: fc.record({ key: fc.string() }) }),
    fc.jsonValue(),
  );
  const filter = fc.oneof(
    fc.record(
      {
        must: fc.array(condition, { maxLength: 3 }),
        should: fc.array(condition, { maxLength: 2 }),
      },
      { requiredKeys: [] },
    ),
    fc.jsonValue(),
  );
  const qdrantish = fc.record(
    {
      vectors: fc.oneof(
        fc.record({
          size: fc.oneof(fc.integer({ min: -2, max: 70_000 }), fc.string()),
          distance: fc.constantFrom('Cosine', 'Dot', 'Euclid', 'Manhattan', 'x'),
        }),
        fc.jsonValue(),
      ),
      vector,
      query: fc.oneof(vector, id, fc.record({ nearest: vector })),
      points: fc.oneof(
        fc.array(fc.record({ id, vector, payload: fc.oneof(fc.object(), fc.jsonValue()) }), {
          maxLength: 4,
        }),
        fc.array(id, { maxLength: 4 }),
      ),
      batch: fc.record({
        ids: fc.array(id, { maxLength: 3 }),
        vectors: fc.array(vector, { maxLength: 3 }),
      }),
      ids: fc.array(id, { maxLength: 4 }),
      filter,
      limit: fc.oneof(fc.integer({ min: -5, max: 20_000 }), fc.string()),
      offset: fc.oneof(id, fc.integer({ min: -1, max: 20 })),
      with_payload: fc.oneof(fc.boolean(), fc.array(fc.string()), fc.jsonValue()),
      with_vector: fc.oneof(fc.boolean(), fc.jsonValue()),
      params: fc.oneof(
        fc.record({
          hnsw_ef: fc.integer({ min: -1, max: 200_000 }),
          exact: fc.oneof(fc.boolean(), fc.string()),
        }),
        fc.jsonValue(),
      ),
      payload: fc.oneof(fc.object(), fc.jsonValue()),
      keys: fc.oneof(fc.array(fc.string()), fc.jsonValue()),
      searches: fc.array(fc.record({ vector, limit: fc.integer({ min: 0, max: 5 }) }), {
        maxLength: 3,
      }),
      field_name: fc.oneof(fc.string(), fc.jsonValue()),
      field_schema: fc.oneof(fc.constantFrom('keyword', 'integer', 'nope'), fc.jsonValue()),
      location: fc.oneof(
        fc.string(),
        fc.constantFrom('/', '/nonexistent/x.snapshot', 'file:///', 'http://'),
      ),
      role: fc.constantFrom('read', 'write', 'admin', 'root'),
      block: fc.array(fc.constantFrom('10.9.9.9', 'x', '::2'), { maxLength: 2 }),
      slowQueryMs: fc.oneof(fc.integer({ min: -1, max: 10 }), fc.string()),
      logLevel: fc.constantFrom('warn', 'silent', 'loud'),
      collection: fc.constantFrom('docs', 'nope', 5),
    },
    { requiredKeys: [] },
  );
  const body = fc.oneof(
    { weight: 5, arbitrary: qdrantish.map((b) => JSON.stringify(b)) },
    { weight: 2, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string() },
    { weight: 1, arbitrary: fc.constant('') },
  );
  const request = fc.record({
    route: fc.constantFrom(...routes),
    collection: fc.constantFrom('docs', 'docs', 'nope', 'bad%20name', 'x'.repeat(70)),
    pointId: fc.oneof(fc.nat().map(String), fc.uuid(), fc.string().map(encodeURIComponent)),
    body,
  });
  let count = 0;
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(request, async ({ route, collection, pointId, body: payload }) => {
      const url = route.url
        .replace(':collection_name', collection)
        .replace(':id', pointId === '' ? '0' : pointId)
        .replace(':field_name', 'n')
        .replace(':snapshot_name', 'x.snapshot')
        .replace('*', 'x');
      const res = await server.app.inject({
        method: route.method as 'GET',
        url,
        ...(route.method === 'GET'
          ? {}
          : { payload, headers: { 'content-type': 'application/json' } }),
      });
      count++;
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      if (res.statusCode >= 500) {
        assert.equal(
          res.statusCode,
          501,
          `${route.method} ${url} ${payload.slice(0, 300)} → ${res.statusCode} ${res.body}`,
        );
        assert.match(errorOf(res), /^Not implemented: /);
      }
    }),
    propertyParams('server fuzz', 300),
  );
  assert.ok(count >= 1);
  t.diagnostic(
    `statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`,
  );
  const health = await server.app.inject({ method: 'GET', url: '/health' });
  assert.equal(health.statusCode, 200, health.body);
});
