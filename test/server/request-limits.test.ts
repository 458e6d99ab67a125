/**
 * One request cannot stall the server (issue 10 item 5): a real `quiver serve` keeps
 * answering /health while one huge batch search is in flight (its answer is serialized in
 * slices), and requests that ask for more than the configured caps get a 400 that names
 * the cap and the setting that raises it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tempDir } from '../helpers/temp-dir.js';
import { call, makeServer, removeDir, spawnServe } from './server-helpers.js';

const DIM = 64;
const POINTS = 10_000;

async function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function seed(url: string): Promise<void> {
  const put = await fetch(`${url}/collections/big`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ vectors: { size: DIM, distance: 'Cosine' } }),
  });
  assert.equal(put.status, 200, await put.text());
  for (let start = 0; start < POINTS; start += 2_000) {
    const points = Array.from({ length: 2_000 }, (_, j) => {
      const id = start + j;
      return {
        id,
        vector: Array.from({ length: DIM }, (_, d) => Math.sin(id * 0.37 + d * 1.3)),
        payload: { n: id, tag: `t${id % 17}` },
      };
    });
    const res = await fetch(`${url}/collections/big/points?wait=true`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ points }),
    });
    assert.equal(res.status, 200, await res.text());
  }
}

function search(i: number, limit: number, offset = 0): Record<string, unknown> {
  return {
    query: Array.from({ length: DIM }, (_, d) => Math.cos(i + d)),
    limit,
    offset,
    with_vector: true,
    with_payload: true,
  };
}

test('/health answers within 2 s each time while one huge batch search is in flight', async (t) => {
  const dir = tempDir(undefined, 'quiver-limits-');
  t.after(() => removeDir(dir));
  // Caps raised so the huge request is allowed: the point is that it cannot stall others.
  const serve = await spawnServe(t, ['--data', `${dir}/data`], {
    QUIVER_MAX_RESULT_POINTS: '1000000',
    QUIVER_MAX_RESPONSE_BYTES: String(2 ** 31),
  });
  await seed(serve.url);
  await (await fetch(`${serve.url}/metrics`)).text(); // starts the lag window afresh
  const searches = Array.from({ length: 32 }, (_, i) => search(i, 5_000));
  let done = false;
  // The answer is read as raw chunks and parsed only after polling: parsing 100+ MB of JSON
  // here would stall this process's own loop and blame the server for it.
  const huge = post(`${serve.url}/collections/big/points/query/batch`, { searches }).then(
    async (res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of res.body ?? []) chunks.push(Buffer.from(chunk as Uint8Array));
      done = true;
      return { status: res.status, chunks };
    },
  );
  const waits: number[] = [];
  await new Promise((r) => setTimeout(r, 100));
  while (!done) {
    const t0 = performance.now();
    const res = await fetch(`${serve.url}/health`);
    assert.equal(res.status, 200);
    await res.text();
    waits.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 50));
  }
  const answer = await huge;
  assert.equal(answer.status, 200);
  const body = JSON.parse(Buffer.concat(answer.chunks).toString('utf8')) as {
    result?: { points: unknown[] }[];
  };
  assert.equal(body.result?.length, 32);
  assert.equal(body.result?.[0]?.points.length, 5_000);
  const worst = Math.max(...waits);
  const metrics = await (await fetch(`${serve.url}/metrics`)).text();
  const lag = /quiver_event_loop_lag_seconds\{stat="max"\} (\S+)/.exec(metrics)?.[1];
  t.diagnostic(
    `/health polled ${waits.length} times, slowest ${waits
      .sort((a, b) => b - a)
      .slice(0, 5)
      .map((w) => w.toFixed(0))
      .join(', ')} ms; server event loop lag max ${lag ?? '?'} s`,
  );
  assert.ok(waits.length >= 3, `the huge request ran long enough to poll (${waits.length})`);
  assert.ok(worst < 2_000, `/health waited ${worst.toFixed(0)} ms behind one request`);
});

test('requests over the caps get a 400 naming the cap and its setting', async (t) => {
  const { server } = await makeServer(t, {
    settings: { maxBatchSearches: 4, maxResultPoints: 1_000, maxResponseBytes: 200_000 },
  });
  const put = await call(server, 'PUT', '/collections/c', {
    vectors: { size: 32, distance: 'Dot' },
  });
  assert.equal(put.statusCode, 200, put.body);
  const points = Array.from({ length: 50 }, (_, i) => ({
    id: i,
    vector: Array.from({ length: 32 }, (_, d) => (i + d) % 7),
  }));
  assert.equal((await call(server, 'PUT', '/collections/c/points', { points })).statusCode, 200);
  const query = (limit: number, withVector = false, offset = 0): Record<string, unknown> => ({
    query: Array.from({ length: 32 }, () => 1),
    limit,
    offset,
    with_vector: withVector,
  });
  const refused = async (url: string, body: unknown, pattern: RegExp): Promise<void> => {
    const res = await call(server, 'POST', url, body);
    assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
    assert.match(res.json<{ status: { error: string } }>().status.error, pattern);
  };
  const batch = '/collections/c/points/query/batch';
  await refused(
    batch,
    { searches: Array.from({ length: 5 }, () => query(1)) },
    /5 searches.*maxBatchSearches/,
  );
  await refused(
    batch,
    { searches: [query(600), query(300, false, 200)] },
    /1100 points.*maxResultPoints/,
  );
  await refused(
    '/collections/c/points/search',
    { vector: query(1)['query'], limit: 1_001 },
    /maxResultPoints/,
  );
  // 700 points x 32-d vectors: about 270 kB estimated, over 200 kB.
  await refused(batch, { searches: [query(700, true)] }, /maxResponseBytes.*with_vector: false/);
  await refused('/collections/c/points/scroll', { limit: 1_001 }, /maxResultPoints/);
  await refused(
    '/collections/c/points/scroll',
    { limit: 800, with_vector: true },
    /maxResponseBytes/,
  );
  // Within the caps the same routes answer, and the refusals were counted by error code.
  const ok = await call(server, 'POST', batch, { searches: [query(10, true), query(5)] });
  assert.equal(ok.statusCode, 200, ok.body);
  assert.equal(ok.json<{ result: { points: unknown[] }[] }>().result[0]?.points.length, 10);
  const scroll = await call(server, 'POST', '/collections/c/points/scroll', {
    limit: 20,
    with_vector: true,
  });
  assert.equal(scroll.json<{ result: { points: unknown[] } }>().result.points.length, 20);
  const metrics = (await call(server, 'GET', '/metrics')).body;
  assert.match(
    metrics,
    /quiver_errors_total\{op="POST \/collections\/:collection_name\/points\/query\/batch",code="INVALID_ARGUMENT"\} 3/,
  );
  assert.ok(!/code="HTTP_\d+"/.test(metrics), 'no error is labelled HTTP_nnn');
  assert.match(metrics, /quiver_event_loop_lag_seconds\{stat="max"\} /);
});
