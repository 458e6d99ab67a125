/**
 * Scenario "what a server user gets": the dataset in a database directory (sealed and
 * settled), served by a `quiver serve` child (default search threads) on 127.0.0.1 and
 * driven with autocannon at 1 and 16 connections cycling the dataset's queries, beside
 * in-process `collection.search` over the same directory, one search at a time. The load
 * generator shares the machine's cores with the server: the ratio is what one box gives.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Quiver } from '../../src/index.js';
import type { Dataset } from '../datasets.js';
import { upsertDataset } from '../public-api.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

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
}) => Promise<{ requests: { average: number }; latency: { p99: number }; non2xx: number }>;

export interface HttpResult {
  readonly dataset: string;
  readonly points: number;
  readonly ef: number;
  /** In-process `collection.search`, one at a time, by wall time. */
  readonly inProcessQps: number;
  readonly http1Qps: number;
  readonly http16Qps: number;
  readonly http16P99Ms: number;
  /** HTTP at 16 connections over in-process. */
  readonly ratio16: number;
}

function freePort(): Promise<number> {
  return new Promise((r) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => r(port));
    });
  });
}

async function build(dir: string, ds: Dataset): Promise<void> {
  const db = await Quiver.open(dir, { queryCacheBytes: 0, fsync: 'none' });
  const c = await db.createCollection('bench', { dimension: ds.dim, metric: ds.metric });
  await upsertDataset(c, ds);
  await db.checkpoint();
  await db.idle();
  await db.close();
}

async function inProcess(dir: string, ds: Dataset, ef: number, seconds: number): Promise<number> {
  const db = await Quiver.open(dir, { queryCacheBytes: 0, fsync: 'none' });
  try {
    const c = db.collection('bench');
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      const q = n % ds.queryCount;
      await c.search(ds.queries.subarray(q * ds.dim, (q + 1) * ds.dim), { k: 10, ef });
      n++;
    }
    return n / ((performance.now() - t0) / 1000);
  } finally {
    await db.close();
  }
}

async function serve(dir: string): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'src/cli/main.ts'),
      'serve',
      '--data',
      dir,
      '--port',
      `${port}`,
      '--query-cache-bytes',
      '0',
    ],
    {
      cwd: ROOT,
      stdio: 'ignore',
      env: { ...process.env, QUIVER_LOG_LEVEL: 'warn', QUIVER_AUDIT_LOG: '' },
    },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    const ok = await fetch(`${url}/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return { child, url };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`quiver serve did not become ready at ${url}`);
}

async function drive(
  url: string,
  connections: number,
  bodies: readonly string[],
  seconds: number,
): Promise<{ qps: number; p99: number }> {
  const autocannonModule = 'autocannon';
  const autocannon = ((await import(autocannonModule)) as { default: Autocannon }).default;
  let n = 0;
  const r = await autocannon({
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
  if (r.non2xx > 0) throw new Error(`${r.non2xx} searches failed at ${url}`);
  return { qps: r.requests.average, p99: r.latency.p99 };
}

export async function runHttpSearch(ds: Dataset, ef: number, seconds: number): Promise<HttpResult> {
  const dir = mkdtempSync(join(tmpdir(), 'quiver-bench-http-'));
  try {
    await build(dir, ds);
    const inProcessQps = await inProcess(dir, ds, ef, seconds);
    const bodies = Array.from({ length: ds.queryCount }, (_, q) =>
      JSON.stringify({
        vector: Array.from(ds.queries.subarray(q * ds.dim, (q + 1) * ds.dim)),
        limit: 10,
        params: { hnsw_ef: ef },
      }),
    );
    const server = await serve(dir);
    try {
      const one = await drive(server.url, 1, bodies, seconds);
      const sixteen = await drive(server.url, 16, bodies, seconds);
      return {
        dataset: ds.name,
        points: ds.count,
        ef,
        inProcessQps,
        http1Qps: one.qps,
        http16Qps: sixteen.qps,
        http16P99Ms: sixteen.p99,
        ratio16: sixteen.qps / inProcessQps,
      };
    } finally {
      server.child.kill('SIGTERM');
      await new Promise((r) => server.child.once('exit', r));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
