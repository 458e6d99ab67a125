/**
 * HTTP search throughput against in-process throughput (not a test: run by hand).
 * Builds a collection of random vectors, then measures, in QUIVER_BENCH_ROUNDS (3)
 * interleaved rounds: in-process searches (one at a time, and 16 in flight with 0, 1 and 2
 * search workers), and three `quiver serve` children (0, 1 and 2 search threads, each over
 * its own copy of the data, on 127.0.0.1) driven with autocannon at 1 and 16 connections,
 * cycling 256 queries. Prints each cell's median and runs.
 *
 *   node --import tsx test/server/http-throughput.ts [points=20000] [dim=128] [seconds=5]
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SILENT_LOGGER } from '../../src/common/logger.js';
import type { Collection } from '../../src/engine/collection.js';
import { Quiver } from '../../src/engine/quiver.js';
import { WorkerSearchPool } from '../../src/engine/worker-search-pool.js';
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
const [points = 20_000, dim = 128, seconds = 5] = process.argv.slice(2).map(Number);
const ROUNDS = Number(process.env['QUIVER_BENCH_ROUNDS'] ?? 3);

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
  const stats = db2.stats();
  console.log(`segments: ${stats.segments}, memory ${stats.memoryBytes} bytes`);
  await db2.close();
  // One copy of the database per server, so that all three run at once (idle ones cost
  // nothing) and the rounds interleave: this machine's speed drifts, so each cell is the
  // median of ROUNDS runs spread over the whole measurement.
  const threadCounts = [0, 1, 2];
  const dirs = threadCounts.map((t) => {
    const copy = `${dir}-w${t}`;
    cpSync(dir, copy, { recursive: true });
    return copy;
  });
  const servers = await Promise.all(threadCounts.map((t, i) => startChild(t, dirs[i]!)));
  const bodies = queries.map((q) => JSON.stringify({ vector: q, limit: 10, with_payload: true }));
  const cells = new Map<string, number[]>();
  const record = (key: string, value: number): void => {
    cells.set(key, [...(cells.get(key) ?? []), value]);
  };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // In process, one search at a time on the main thread.
      const db = await Quiver.open(dir, { fsync: 'none' });
      record('in-process, one at a time', await sequential(db.collection('bench'), queries));
      await db.close();
      for (const [i, threads] of threadCounts.entries()) {
        // In process, 16 searches in flight.
        const pool =
          threads === 0 ? undefined : await WorkerSearchPool.start(threads, SILENT_LOGGER);
        const db3 = await Quiver.open(dir, {
          fsync: 'none',
          ...(pool === undefined ? {} : { searchPool: pool }),
        });
        record(
          `in-process, 16 in flight, ${threads} workers`,
          await inFlight16(db3.collection('bench'), queries),
        );
        await db3.close();
        await pool?.close();
        for (const connections of [1, 16]) {
          const r = await drive(servers[i]!.url, connections, bodies);
          record(`http, ${threads} workers, c=${connections}`, r.qps);
          record(`http, ${threads} workers, c=${connections}, p99 ms`, r.p99);
        }
      }
      console.log(`round ${round + 1}/${ROUNDS} done`);
    }
  } finally {
    for (const s of servers) s.child.kill('SIGTERM');
    await Promise.all(servers.map((s) => new Promise((r) => s.child.once('exit', r))));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  const medians: Record<string, number> = {};
  for (const [key, values] of cells) {
    const sorted = [...values].sort((x, y) => x - y);
    medians[key] = Math.round(sorted[Math.floor(sorted.length / 2)]! * 10) / 10;
    console.log(`${key}: ${medians[key]} (runs: ${values.map((v) => Math.round(v)).join(', ')})`);
  }
  console.log(JSON.stringify({ points, dim, seconds, rounds: ROUNDS, medians }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/** Queries per second of one search at a time, for `seconds`. */
async function sequential(c: Collection, queries: readonly number[][]): Promise<number> {
  let n = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    await c.search(queries[n % queries.length]!, { k: 10, withPayload: true });
    n++;
  }
  return n / seconds;
}

/** Queries per second with 16 searches in flight, for `seconds`. */
async function inFlight16(c: Collection, queries: readonly number[][]): Promise<number> {
  let done = 0;
  const stop = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: 16 }, async (_, w) => {
      let i = w;
      while (performance.now() < stop) {
        await c.search(queries[i++ % queries.length]!, { k: 10, withPayload: true });
        done++;
      }
    }),
  );
  return done / seconds;
}

/** Starts `quiver serve` over `data` with `threads` search workers; resolves once ready. */
async function startChild(
  threads: number,
  data: string,
): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'test/server/serve-child.ts'),
      'serve',
      '--data',
      data,
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
  return { child, url };
}

/** Drives POST /points/search at `url` with autocannon, cycling the query bodies. */
async function drive(
  url: string,
  connections: number,
  bodies: readonly string[],
): Promise<{ qps: number; p99: number }> {
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
  if (json.non2xx > 0) throw new Error(`${json.non2xx} searches failed at ${url}`);
  return { qps: json.requests.average, p99: json.latency.p99 };
}
