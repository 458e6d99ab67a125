/**
 * SIGTERM drains the requests in flight (API.md, "Start-up and shutdown"): a real
 * `quiver serve` child gets SIGTERM while a batch search and an upsert with wait=true are
 * in flight; both still answer 200 with the right results, new connections are refused
 * meanwhile, the process exits 0 and the database reopens with the clean-shutdown mark.
 *
 * "In flight" is made certain rather than hoped for: each request is sent with
 * `Expect: 100-continue`, so the server's `100 Continue` proves it has parsed the request
 * line and headers; the body is held back until the server has logged that it is
 * draining, so SIGTERM provably lands between request and response.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { ClientRequest } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { Quiver } from '../../src/engine/quiver.js';
import { randomVector, rng } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';
import { spawnServe } from './server-helpers.js';

const DIM = 16;

/** Squared Euclidean distance. */
function distance(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return s;
}

/** The ids of the `k` points nearest to `q` by brute force. */
function nearest(points: ReadonlyMap<number, number[]>, q: readonly number[], k: number): number[] {
  return [...points]
    .map(([id, v]) => ({ id, d: distance(v, q) }))
    .sort((x, y) => x.d - y.d)
    .slice(0, k)
    .map((h) => h.id);
}

/** A request whose headers are sent now and whose body waits for `send()`. */
interface HeldRequest {
  /** Resolves once the server answered 100 Continue: it holds the request. */
  readonly accepted: Promise<void>;
  /** Sends the body; resolves with status and parsed body of the answer. */
  send(): Promise<{ status: number; body: unknown }>;
}

function holdRequest(url: string, method: string, path: string, body: unknown): HeldRequest {
  const payload = JSON.stringify(body);
  const req: ClientRequest = request(`${url}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(payload),
      expect: '100-continue',
    },
  });
  const answer = new Promise<{ status: number; body: unknown }>((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
  });
  answer.catch(() => undefined);
  const accepted = new Promise<void>((resolve, reject) => {
    req.once('continue', () => resolve());
    req.once('error', reject);
  });
  req.flushHeaders();
  return {
    accepted,
    send() {
      req.end(payload);
      return answer;
    },
  };
}

/** Resolves once a stdout line of the child (pino JSON) has this msg. */
async function logged(lines: readonly string[], msg: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (lines.some((l) => l.includes(`"msg":"${msg}`))) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no "${msg}" log line; got:\n${lines.join('\n')}`);
}

/** Resolves once a new connection to `url` is refused (polled, with a deadline). */
async function refused(url: string): Promise<string> {
  const deadline = Date.now() + 30_000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/health`, { headers: { connection: 'close' } });
      last = `answered ${res.status}`;
    } catch (e) {
      const code = (e as { cause?: { code?: unknown } }).cause?.code;
      if (code === 'ECONNREFUSED') return code;
      last = String(code ?? e);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`new connections were still accepted while draining (last: ${last})`);
}

test('SIGTERM: requests in flight finish with 200 and right results, new connections are refused, exit 0 with the clean mark', async (t) => {
  const dir = tempDir(t, 'quiver-drain-');
  const data = join(dir, 'data');
  const serve = await spawnServe(t, ['--data', data, '--search-threads', '0']);
  const json = { 'content-type': 'application/json' };
  const put = await fetch(`${serve.url}/collections/c`, {
    method: 'PUT',
    headers: json,
    body: JSON.stringify({ vectors: { size: DIM, distance: 'Euclid' } }),
  });
  assert.equal(put.status, 200, await put.text());
  const rand = rng(16);
  const points = new Map<number, number[]>();
  for (let i = 0; i < 2000; i++) points.set(i, randomVector(rand, DIM));
  const first = await fetch(`${serve.url}/collections/c/points?wait=true`, {
    method: 'PUT',
    headers: json,
    body: JSON.stringify({ points: [...points].map(([id, vector]) => ({ id, vector })) }),
  });
  assert.equal(first.status, 200, await first.text());

  // In flight at SIGTERM: an exact batch search and an upsert of 5000 more points.
  const queries = Array.from({ length: 64 }, () => randomVector(rand, DIM));
  const search = holdRequest(serve.url, 'POST', '/collections/c/points/search/batch', {
    searches: queries.map((vector) => ({ vector, limit: 10, params: { exact: true } })),
  });
  const more = new Map<number, number[]>();
  for (let i = 2000; i < 7000; i++) more.set(i, randomVector(rand, DIM));
  const upsert = holdRequest(serve.url, 'PUT', '/collections/c/points?wait=true', {
    points: [...more].map(([id, vector]) => ({ id, vector, payload: { n: id } })),
  });
  await Promise.all([search.accepted, upsert.accepted]);

  const exited = new Promise<number | null>((r) => serve.child.once('exit', (code) => r(code)));
  serve.child.kill('SIGTERM');
  await logged(serve.lines, 'shutting down: draining requests');
  assert.equal(await refused(serve.url), 'ECONNREFUSED');
  assert.equal(serve.child.exitCode, null, 'the server waits for the requests it holds');

  // One after the other, so the search sees exactly the first 2000 points.
  const searched = await search.send();
  const upserted = await upsert.send();
  assert.equal(searched.status, 200, JSON.stringify(searched.body));
  const results = (searched.body as { result: { id: number }[][] }).result;
  assert.equal(results.length, queries.length);
  results.forEach((hits, i) => {
    assert.deepEqual(
      hits.map((h) => h.id),
      nearest(points, queries[i]!, 10),
      `search ${i} answered while draining matches brute force`,
    );
  });
  assert.equal(upserted.status, 200, JSON.stringify(upserted.body));
  assert.equal((upserted.body as { result: { status: string } }).result.status, 'completed');

  assert.equal(await exited, 0, 'exit 0 after draining');
  assert.ok(serve.lines.some((l) => l.includes('database closed; WAL flushed')));
  const db = await Quiver.open(data);
  try {
    assert.equal(db.recovery.cleanShutdown, true, 'the clean-shutdown mark was written');
    const c = db.collection('c');
    assert.equal(await c.count(), points.size + more.size, 'the drained upsert is all there');
    for (const id of [2000, 4321, 6999]) {
      const p = await c.get(id);
      assert.deepEqual(p?.payload, { n: id });
      assert.deepEqual(
        [...p.vector].map((x) => Math.fround(x)),
        more.get(id)!.map(Math.fround),
      );
    }
  } finally {
    await db.close();
  }
});
