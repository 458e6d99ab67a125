/**
 * Collection snapshots beyond the client test: upload (multipart and raw), recover from a
 * file path, and refusal of damaged or mismatching snapshots without touching the target.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
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
    400,
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
