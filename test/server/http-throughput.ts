/**
 * HTTP search throughput against in-process throughput (not a test: run by hand).
 * Builds a collection of random vectors and measures in-process searches (one at a time,
 * and 16 in flight with 0, 1 and 2 search workers), then starts `quiver serve` over the
 * same directory in a child process on 127.0.0.1 with 0, 1 and 2 search threads and
 * drives POST /points/search with autocannon at 1 and 16 connections.
 *
 *   node --import tsx test/server/http-throughput.ts [points=20000] [dim=128] [seconds=10]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SILENT_LOGGER } from '../../src/common/logger.js';
import { Quiver } from '../../src/engine/quiver.js';
import { WorkerSearchPool } from '../../src/server/search-workers.js';
import { randomVector, rng } from '../helpers/random.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** The slice of autocannon's programmatic API used here (it ships no types). */
interface AutocannonRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}
type Autocannon = (options: {
  url: string;
  connections: number;
  duration: number;
  requests: Array<
    AutocannonRequest & { setupRequest: (r: AutocannonRequest) => AutocannonRequest }
  >;
}) => Promise<{
  requests: { average: number };
  latency: { p50: number; p99: number };
  non2xx: number;
}>;
const autocannonModule = 'autocannon';
const autocannon = ((await import(autocannonModule)) as { default: Autocannon }).default;
const [points = 20_000, dim = 128, seconds = 10] = process.argv.slice(2).map(Number);

function freePort(): Promise<number> {
  return new Promise((r) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => r(port));
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'quiver-http-bench-'));
try {
  const rand = rng(1);
  const db = await Quiver.open(dir, { fsync: 'none' });
  const c = await db.createCollection('bench', { dimension: dim, metric: 'cosine' });
  const t0 = performance.now();
  for (let i = 0; i < points; i += 1000) {
    const batch = [];
    for (let j = i; j < Math.min(points, i + 1000); j++) {
      batch.push({ id: j, vector: randomVector(rand, dim), payload: { n: j } });
    }
    await c.upsert(batch);
  }
  console.log(`built ${points} x ${dim} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const queries = Array.from({ length: 256 }, () => randomVector(rand, dim));
  // Reopen so both sides search the same sealed segments (graphs built at the seal).
  await db.close();
  const db2 = await Quiver.open(dir, { fsync: 'none' });
  // The WAL tail replayed at open is sealed (its graph built) in the background: wait, so
  // every run searches sealed graphs only.
  await db2.idle();
  await db2.checkpoint();
  const c2 = db2.collection('bench');
  const stats = db2.stats();
  console.log(`segments: ${stats.segments}, memory ${stats.memoryBytes} bytes`);
  let n = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    await c2.search(queries[n % queries.length]!, { k: 10, withPayload: true });
    n++;
  }
  const inProcess = n / seconds;
  console.log(`in-process, one at a time: ${Math.round(inProcess)} QPS`);
  await db2.close();

  // 16 searches in flight at once, in process, with and without workers.
  const concurrent: Record<string, number> = {};
  for (const threads of [0, 1, 2]) {
    const pool = threads === 0 ? undefined : await WorkerSearchPool.start(threads, SILENT_LOGGER);
    const db3 = await Quiver.open(dir, {
      fsync: 'none',
      ...(pool === undefined ? {} : { searchPool: pool }),
    });
    const c3 = db3.collection('bench');
    let done = 0;
    const stop = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: 16 }, async (_, w) => {
        let i = w;
        while (performance.now() < stop) {
          await c3.search(queries[i++ % queries.length]!, { k: 10, withPayload: true });
          done++;
        }
      }),
    );
    concurrent[`workers=${threads}`] = Math.round(done / seconds);
    console.log(`in-process, 16 in flight, ${threads} workers: ${Math.round(done / seconds)} QPS`);
    await db3.close();
    await pool?.close();
  }

  const results: Record<string, number> = {};
  for (const threads of [0, 1, 2]) {
    const r = await driveServer(
      threads,
      queries.map((q) => Array.from(q)),
    );
    for (const [k, v] of Object.entries(r)) results[`workers=${threads} ${k}`] = v;
  }
  console.log(
    JSON.stringify({
      points,
      dim,
      seconds,
      inProcessQps: Math.round(inProcess),
      inProcess16: concurrent,
      http: results,
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/** Starts `quiver serve` with `threads` search workers and drives it with autocannon. */
async function driveServer(
  threads: number,
  queries: readonly number[][],
): Promise<Record<string, number>> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'test/server/serve-child.ts'),
      'serve',
      '--data',
      dir,
      '--port',
      String(port),
    ],
    {
      cwd: ROOT,
      stdio: 'ignore',
      env: {
        ...process.env,
        QUIVER_LOG_LEVEL: 'warn',
        QUIVER_AUDIT_LOG: '',
        QUIVER_SEARCH_THREADS: String(threads),
      },
    },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    const ok = await fetch(`${url}/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // 256 different queries in turn (one repeated query would keep its graph walk in cache).
  const bodies = queries.map((q) => JSON.stringify({ vector: q, limit: 10, with_payload: true }));
  const results: Record<string, number> = {};
  for (const connections of [1, 16]) {
    let n = 0;
    const json = await autocannon({
      url,
      connections,
      duration: seconds,
      requests: [
        {
          method: 'POST',
          path: '/collections/bench/points/search',
          headers: { 'content-type': 'application/json' },
          setupRequest: (req) => ({ ...req, body: bodies[n++ % bodies.length]! }),
        },
      ],
    });
    results[`c=${connections}`] = json.requests.average;
    console.log(
      `http, ${threads} workers, c=${connections}: ${json.requests.average} req/s, p50 ${json.latency.p50} ms, p99 ${json.latency.p99} ms, non-2xx ${json.non2xx}`,
    );
  }
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return results;
}
