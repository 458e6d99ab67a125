/**
 * Collection snapshots beyond the client test: upload (multipart and raw), recover from a
 * file path, and refusal of damaged or mismatching snapshots without touching the target.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import type { QuiverServer } from '../../src/server/create-server.js';
import { tempDir } from '../helpers/temp-dir.js';
import { call, makeServer } from './server-helpers.js';

test('snapshots upload, recover from a path, and refuse damage', async (t) => {
  const { server, dir } = await makeServer(t);
  await call(server, 'PUT', '/collections/src', { vectors: { size: 2, distance: 'Euclid' } });
  await call(server, 'PUT', '/collections/src/points', {
    points: [
      { id: 1, vector: [0, 1], payload: { a: 'x' } },
      { id: '00000000-0000-4000-8000-000000000002', vector: [2, 3], payload: { a: 'y' } },
    ],
  });
  const created = await call(server, 'POST', '/collections/src/snapshots');
  const { name, checksum } = created.json<{ result: { name: string; checksum: string } }>().result;
  const download = await call(server, 'GET', `/collections/src/snapshots/${name}`);
  assert.equal(download.statusCode, 200);
  const bytes = download.rawPayload;

  const boundary = 'quiver-test-boundary';
  const multipart = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="snapshot"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    ),
    bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const up = await server.app.inject({
    method: 'POST',
    url: '/collections/up/snapshots/upload',
    payload: multipart,
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  });
  assert.equal(up.statusCode, 200, up.body);
  const raw = await server.app.inject({
    method: 'POST',
    url: `/collections/raw/snapshots/upload?checksum=${checksum}`,
    payload: bytes,
    headers: { 'content-type': 'application/octet-stream' },
  });
  assert.equal(raw.statusCode, 200, raw.body);
  const path = join(dir, 'snapshots', 'src', name);
  assert.equal(
    (await call(server, 'PUT', '/collections/fromfile/snapshots/recover', { location: path }))
      .statusCode,
    200,
  );
  assert.equal(
    (
      await call(server, 'PUT', '/collections/fromurl/snapshots/recover', {
        location: `file://${path}`,
      })
    ).statusCode,
    200,
  );
  for (const c of ['up', 'raw', 'fromfile', 'fromurl']) {
    const scroll = await call(server, 'POST', `/collections/${c}/points/scroll`, {
      with_vector: true,
    });
    const points = scroll.json<{
      result: { points: { id: unknown; vector: number[]; payload: unknown }[] };
    }>().result.points;
    assert.deepEqual(
      points,
      [
        { id: 1, vector: [0, 1], payload: { a: 'x' } },
        { id: '00000000-0000-4000-8000-000000000002', vector: [2, 3], payload: { a: 'y' } },
      ],
      c,
    );
    const info = await call(server, 'GET', `/collections/${c}`);
    assert.equal(
      info.json<{ result: { config: { params: { vectors: { distance: string } } } } }>().result
        .config.params.vectors.distance,
      'Euclid',
    );
  }

  // Damage: a flipped byte, a cut file, a wrong checksum; the target collection is untouched.
  const flipped = Buffer.from(bytes);
  const at = Math.floor(flipped.length / 2);
  flipped[at] = flipped[at]! ^ 0x01;
  const cut = bytes.subarray(0, bytes.length - 10);
  for (const [what, payload, query] of [
    ['flipped byte', flipped, ''],
    ['cut file', cut, ''],
    ['wrong checksum', bytes, '?checksum=' + '0'.repeat(64)],
  ] as const) {
    const res = await server.app.inject({
      method: 'POST',
      url: `/collections/up/snapshots/upload${query}`,
      payload: payload,
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(res.statusCode, 400, `${what}: ${res.body}`);
  }
  assert.equal(
    (await call(server, 'POST', '/collections/up/points/count', {})).json<{
      result: { count: number };
    }>().result.count,
    2,
  );
  assert.equal(
    (
      await call(server, 'PUT', '/collections/x/snapshots/recover', {
        location: '/nonexistent.snapshot',
      })
    ).statusCode,
    403,
  );
  assert.equal(
    (await call(server, 'GET', '/collections/src/snapshots/..%2F..%2Fetc%2Fpasswd')).statusCode,
    404,
  );
  assert.equal(
    (await call(server, 'DELETE', `/collections/src/snapshots/${name}`)).statusCode,
    200,
  );
  assert.equal((await call(server, 'GET', `/collections/src/snapshots/${name}`)).statusCode, 404);
});

/** A snapshot file as SnapshotStore writes it, with a valid digest over whatever it holds. */
function snapshotBytes(collection: Record<string, unknown>, points: readonly unknown[]): Buffer {
  const header = {
    format: 'quiver-snapshot',
    version: 1,
    createdAt: new Date().toISOString(),
    collection: { hnsw: { m: 16, efConstruction: 100, efSearch: 64 }, ...collection },
    points: points.length,
  };
  const body = [header, ...points].map((l) => `${JSON.stringify(l)}\n`).join('');
  const sha256 = createHash('sha256').update(body).digest('hex');
  return Buffer.from(`${body}${JSON.stringify({ end: true, points: points.length, sha256 })}\n`);
}

async function upload(server: QuiverServer, collection: string, bytes: Buffer): Promise<number> {
  const res = await server.app.inject({
    method: 'POST',
    url: `/collections/${collection}/snapshots/upload`,
    payload: bytes,
    headers: { 'content-type': 'application/octet-stream' },
  });
  return res.statusCode;
}

async function pointCount(
  server: QuiverServer,
  collection: string,
  headers: Record<string, string> = {},
): Promise<number> {
  const res = await call(server, 'POST', `/collections/${collection}/points/count`, {}, headers);
  return res.json<{ result: { count: number } }>().result.count;
}

test('snapshot routes refuse collection names that leave the snapshots directory', async (t) => {
  const { server, dir } = await makeServer(t);
  await call(server, 'PUT', '/collections/src', { vectors: { size: 2, distance: 'Dot' } });
  // The snapshots directory must exist for "snapshots/../outside" to resolve.
  assert.equal((await call(server, 'POST', '/collections/src/snapshots')).statusCode, 200);
  // A file beside the snapshots directory, where "../outside" as a collection would point.
  mkdirSync(join(dir, 'outside'));
  const victim = join(dir, 'outside', 'x.snapshot');
  writeFileSync(victim, 'secret');
  // Over a real socket, so the encoded slashes reach the router as a client sends them.
  const address = await server.app.listen({ host: '127.0.0.1', port: 0 });
  for (const name of [
    '..%2Foutside',
    '..%2F..%2Foutside',
    '%2E%2E%2Foutside',
    'src%2F..%2F..%2Foutside',
  ]) {
    const get = await fetch(`${address}/collections/${name}/snapshots/x.snapshot`);
    assert.notEqual(get.status, 200, `GET ${name}`);
    assert.ok(!(await get.text()).includes('secret'), `GET ${name} leaked the file`);
    const del = await fetch(`${address}/collections/${name}/snapshots/x.snapshot`, {
      method: 'DELETE',
    });
    assert.notEqual(del.status, 200, `DELETE ${name}`);
    assert.ok(existsSync(victim), `DELETE ${name} removed a file outside the snapshots directory`);
    for (const method of ['GET', 'POST']) {
      const res = await fetch(`${address}/collections/${name}/snapshots`, { method });
      assert.ok(res.status === 400 || res.status === 404, `${method} ${name}: ${res.status}`);
    }
  }
  // A valid name of a collection that does not exist is 404 before any file is touched.
  const missing = await fetch(`${address}/collections/nope/snapshots/x.snapshot`);
  assert.equal(missing.status, 404);
  const up = await fetch(`${address}/collections/..%2Foutside/snapshots/upload`, {
    method: 'POST',
    body: snapshotBytes({ name: 'src', dimension: 2, metric: 'dot' }, []),
    headers: { 'content-type': 'application/octet-stream' },
  });
  assert.equal(up.status, 400);
});

test('a snapshot that fails validation leaves the existing collection and its indexes untouched', async (t) => {
  const { server } = await makeServer(t);
  await call(server, 'PUT', '/collections/up', { vectors: { size: 2, distance: 'Euclid' } });
  await call(server, 'PUT', '/collections/up/points', {
    points: [
      { id: 1, vector: [0, 1], payload: { city: 'x' } },
      { id: 2, vector: [2, 3], payload: { city: 'y' } },
    ],
  });
  const index = await call(server, 'PUT', '/collections/up/index', {
    field_name: 'city',
    field_schema: 'keyword',
  });
  assert.equal(index.statusCode, 200, index.body);
  const good = { id: 1, vector: [1, 1], payload: {} };
  const cases: [string, Record<string, unknown>, unknown[]][] = [
    ['metric "nope"', { name: 'up', dimension: 2, metric: 'nope' }, [good]],
    ['dimension 0', { name: 'up', dimension: 0, metric: 'euclid' }, []],
    ['bad hnsw', { name: 'up', dimension: 2, metric: 'euclid', hnsw: { m: -1 } }, [good]],
    [
      '1e39 in a vector',
      { name: 'up', dimension: 2, metric: 'euclid' },
      [good, { id: 2, vector: [1e39, 0], payload: {} }],
    ],
    [
      'a string in a vector',
      { name: 'up', dimension: 2, metric: 'euclid' },
      [good, { id: 2, vector: ['1', 0], payload: {} }],
    ],
    [
      'null in a vector',
      { name: 'up', dimension: 2, metric: 'euclid' },
      [good, { id: 2, vector: [null, 0], payload: {} }],
    ],
    [
      'a bad id',
      { name: 'up', dimension: 2, metric: 'euclid' },
      [good, { id: -3, vector: [0, 0], payload: {} }],
    ],
    [
      'a payload that is not an object',
      { name: 'up', dimension: 2, metric: 'euclid' },
      [good, { id: 2, vector: [0, 0], payload: [1] }],
    ],
    [
      'a payload over the limit',
      { name: 'up', dimension: 2, metric: 'euclid' },
      [good, { id: 2, vector: [0, 0], payload: { big: 'x'.repeat(1024 * 1024 + 10) } }],
    ],
  ];
  for (const [what, header, points] of cases) {
    assert.equal(await upload(server, 'up', snapshotBytes(header, points)), 400, what);
    const info = await call(server, 'GET', '/collections/up');
    assert.equal(info.statusCode, 200, `${what}: the collection is gone`);
    const result = info.json<{
      result: { config: { params: { vectors: { distance: string } } }; payload_schema: object };
    }>().result;
    assert.equal(result.config.params.vectors.distance, 'Euclid', what);
    assert.deepEqual(Object.keys(result.payload_schema), ['city'], `${what}: index lost`);
    assert.equal(await pointCount(server, 'up'), 2, what);
  }
  // The same collection name is free for no one else: staging collections are hidden.
  const list = await call(server, 'GET', '/collections');
  assert.deepEqual(
    list
      .json<{ result: { collections: { name: string }[] } }>()
      .result.collections.map((c) => c.name),
    ['up'],
  );
  // A valid snapshot replaces it whole; declared indexes are dropped with the old content.
  const ok = snapshotBytes({ name: 'up', dimension: 3, metric: 'cosine' }, [
    { id: 7, vector: [1, 0, 0], payload: { a: 1 } },
  ]);
  assert.equal(await upload(server, 'up', ok), 200);
  assert.equal(await pointCount(server, 'up'), 1);
  const after = await call(server, 'GET', '/collections/up');
  assert.deepEqual(after.json<{ result: { payload_schema: object } }>().result.payload_schema, {});
});

test('recover reads only the snapshots directory and allow-listed URLs, within the key scope and the size cap', async (t) => {
  // A download server on 127.0.0.1: /ok serves a valid snapshot, /huge streams without end.
  const good = snapshotBytes({ name: 'remote', dimension: 2, metric: 'dot' }, [
    { id: 1, vector: [1, 2], payload: {} },
  ]);
  let hugeBytesSent = 0;
  let requests = 0;
  const http = createHttpServer((req, res) => {
    requests++;
    if (req.url === '/ok') {
      res.end(good);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const pump = (): void => {
      while (hugeBytesSent < 64 * 1024 * 1024) {
        hugeBytesSent += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    res.on('close', () => res.removeAllListeners('drain'));
    pump();
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => http.close(() => r())));
  const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;

  const ADMIN = 'admin-key-for-snapshot-tests';
  const { server, dir } = await makeServer(t, {
    settings: {
      apiKey: ADMIN,
      keysFile: join(tempDir(t, 'quiver-keys-'), 'keys.json'),
      bodyLimitBytes: 16 * 1024,
      snapshotUrlAllowList: [origin],
    },
  });
  const admin = { 'api-key': ADMIN };
  for (const c of ['a', 'b']) {
    await call(
      server,
      'PUT',
      `/collections/${c}`,
      { vectors: { size: 2, distance: 'Dot' } },
      admin,
    );
    await call(
      server,
      'PUT',
      `/collections/${c}/points`,
      { points: [{ id: 1, vector: [1, 1], payload: { c } }] },
      admin,
    );
  }
  const snapB = await call(server, 'POST', '/collections/b/snapshots', undefined, admin);
  const nameB = snapB.json<{ result: { name: string } }>().result.name;
  const keyRes = await call(
    server,
    'POST',
    '/admin/keys',
    { role: 'admin', id: 'a-admin', collections: ['a'] },
    admin,
  );
  assert.equal(keyRes.statusCode, 200, keyRes.body);
  const scoped = { 'api-key': keyRes.json<{ key: string }>().key };
  const recoverA = (
    location: string,
    headers = scoped,
  ): Promise<{ statusCode: number; body: string }> =>
    call(server, 'PUT', '/collections/a/snapshots/recover', { location }, headers);
  const stillA = async (): Promise<void> => {
    const res = await call(server, 'POST', '/collections/a/points/scroll', {}, admin);
    assert.deepEqual(
      res
        .json<{ result: { points: { payload: unknown }[] } }>()
        .result.points.map((p) => p.payload),
      [{ c: 'a' }],
    );
  };

  // Another collection's snapshot, by this server's URL, by path and by file:// URL.
  const pathB = join(dir, 'snapshots', 'b', nameB);
  for (const location of [
    `http://127.0.0.1:6333/collections/b/snapshots/${nameB}`,
    pathB,
    `file://${pathB}`,
    `b/${nameB}`,
  ]) {
    const res = await recoverA(location);
    assert.equal(res.statusCode, 403, `${location}: ${res.body}`);
    await stillA();
  }
  // A copy of b's snapshot put in a's directory still names b as its source.
  mkdirSync(join(dir, 'snapshots', 'a'), { recursive: true });
  copyFileSync(pathB, join(dir, 'snapshots', 'a', 'copied.snapshot'));
  assert.equal((await recoverA(join(dir, 'snapshots', 'a', 'copied.snapshot'))).statusCode, 403);
  await stillA();

  // Any file outside the snapshots directory, whoever asks.
  const outside = join(dir, 'outside.snapshot');
  writeFileSync(outside, readFileSync(pathB));
  for (const location of [
    outside,
    `file://${outside}`,
    '../outside.snapshot',
    'b/../../outside.snapshot',
  ]) {
    const res = await recoverA(location, admin);
    assert.equal(res.statusCode, 403, `${location}: ${res.body}`);
    await stillA();
  }

  // URLs: not allow-listed is refused without a request; allow-listed is fetched.
  const before = requests;
  const other = await recoverA('http://127.0.0.2:9/x.snapshot', admin);
  assert.equal(other.statusCode, 403, other.body);
  assert.equal(requests, before);
  const ok = await recoverA(`${origin}/ok`, admin);
  assert.equal(ok.statusCode, 200, ok.body);
  // The cap (64 x bodyLimitBytes = 1 MiB here) stops the download while reading it.
  const huge = await call(
    server,
    'PUT',
    '/collections/b/snapshots/recover',
    { location: `${origin}/huge` },
    admin,
  );
  assert.equal(huge.statusCode, 400, huge.body);
  assert.match(huge.body, /larger than the limit/);
  assert.ok(hugeBytesSent < 32 * 1024 * 1024, `the server read ${hugeBytesSent} bytes`);
  assert.equal(await pointCount(server, 'b', admin), 1);
});
