/**
 * The error table of API.md for the storage conditions, through the real engine:
 * BACKPRESSURE → 429 (a `quiver serve` with the smallest memoryBudgetBytes), NO_SPACE → 507
 * (writes failing with ENOSPC under the server), CORRUPT → 500 whose message names the
 * damaged file and the offset (a sealed segment with flipped bytes), INTERNAL (a broken
 * invariant) → 500 logged with its stack, each counted under its code in
 * `quiver_errors_total`, and nothing acknowledged lost.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { QuiverError } from '../../src/common/quiver-error.js';
import { Quiver } from '../../src/engine/quiver.js';
import { resolveServerConfig } from '../../src/server/config.js';
import { createServer } from '../../src/server/create-server.js';
import { FaultyFileSystem } from '../helpers/faulty-file-system.js';
import { randomVector, rng } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';
import { call, makeServer, spawnServe } from './server-helpers.js';

const ROOT = resolve(import.meta.dirname, '../..');
const MIB = 1024 * 1024;

/** The sum of a metric's series (Prometheus text) whose labels include `label`. */
function metric(text: string, name: string, label = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const at = line.lastIndexOf(' ');
    const series = line.slice(0, at);
    const value = line.slice(at + 1);
    if (series !== name && !series.startsWith(`${name}{`)) continue;
    if (series.includes(label)) sum += Number(value);
  }
  return sum;
}

test('BACKPRESSURE is 429 "Too many requests", counted; writes resume once sealing caught up, nothing acknowledged lost', async (t) => {
  const data = join(tempDir(t, 'quiver-429-'), 'data');
  const serve = await spawnServe(t, [
    '--data',
    data,
    '--memory-budget-bytes',
    String(MIB),
    '--search-threads',
    '0',
  ]);
  const json = { 'content-type': 'application/json' };
  const put = await fetch(`${serve.url}/collections/c`, {
    method: 'PUT',
    headers: json,
    body: JSON.stringify({ vectors: { size: 8, distance: 'Dot' } }),
  });
  assert.equal(put.status, 200);
  const rand = rng(429);
  const upsert = (first: number): Promise<Response> =>
    fetch(`${serve.url}/collections/c/points?wait=true`, {
      method: 'PUT',
      headers: json,
      body: JSON.stringify({
        points: Array.from({ length: 50 }, (_, i) => ({
          id: first + i,
          vector: randomVector(rand, 8),
          payload: { pad: 'x'.repeat(2000) },
        })),
      }),
    });
  let acknowledged = 0;
  let refused: { status: number; body: { status: { error: string } } } | undefined;
  // About 100 KiB a batch: the 1 MiB budget is crossed after a dozen.
  for (let batch = 0; batch < 200 && refused === undefined; batch++) {
    const res = await upsert(acknowledged);
    if (res.status === 200) acknowledged += 50;
    else refused = { status: res.status, body: (await res.json()) as never };
  }
  assert.ok(refused !== undefined, 'the memory budget was never enforced');
  assert.equal(refused.status, 429, JSON.stringify(refused.body));
  assert.match(refused.body.status.error, /^Too many requests: .*memoryBudgetBytes/);

  const metrics = await (await fetch(`${serve.url}/metrics`)).text();
  assert.ok(metric(metrics, 'quiver_errors_total', 'code="BACKPRESSURE"') >= 1, metrics);
  assert.ok(metric(metrics, 'quiver_backpressure_events_total') >= 1);

  // Sealing catches up by itself: a write is accepted again (polled, with a deadline).
  const deadline = Date.now() + 30_000;
  let resumed = false;
  while (!resumed && Date.now() < deadline) {
    const res = await upsert(acknowledged);
    if (res.status === 200) {
      acknowledged += 50;
      resumed = true;
    } else {
      assert.equal(res.status, 429);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  assert.ok(resumed, 'writes resumed after sealing');
  const count = await fetch(`${serve.url}/collections/c/points/count`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ exact: true }),
  });
  assert.deepEqual(((await count.json()) as { result: unknown }).result, { count: acknowledged });
});

test('NO_SPACE is 507 "Insufficient storage", counted; reads go on and writes resume when space returns', async (t) => {
  const fs = new FaultyFileSystem();
  const { server } = await makeServer(t, {
    open: (d) => Quiver.open(d, { fsync: 'always', fileSystem: fs }),
  });
  assert.equal(
    (await call(server, 'PUT', '/collections/c', { vectors: { size: 4, distance: 'Dot' } }))
      .statusCode,
    200,
  );
  const point = (id: number): unknown => ({ points: [{ id, vector: [id, 1, 2, 3] }] });
  assert.equal((await call(server, 'PUT', '/collections/c/points', point(1))).statusCode, 200);

  fs.plan = { failWriteAt: fs.writes + 1, failWith: 'ENOSPC', sticky: true };
  const full = await call(server, 'PUT', '/collections/c/points?wait=true', point(2));
  assert.equal(full.statusCode, 507, full.body);
  assert.match(full.json<{ status: { error: string } }>().status.error, /^Insufficient storage: /);
  const metrics = (await call(server, 'GET', '/metrics')).body;
  assert.equal(metric(metrics, 'quiver_errors_total', 'code="NO_SPACE"'), 1, metrics);
  assert.ok(metric(metrics, 'quiver_no_space_events_total') >= 1);
  const read = await call(server, 'GET', '/collections/c/points/1');
  assert.equal(read.statusCode, 200, 'reads go on with the disk full');

  fs.heal();
  let resumed = await call(server, 'PUT', '/collections/c/points', point(3));
  // The first write after the failure may still find the WAL recovering (503, retry).
  for (let i = 0; i < 100 && resumed.statusCode === 503; i++) {
    await new Promise((r) => setTimeout(r, 20));
    resumed = await call(server, 'PUT', '/collections/c/points', point(3));
  }
  assert.equal(resumed.statusCode, 200, resumed.body);
  const ids = await call(server, 'POST', '/collections/c/points', { ids: [1, 2, 3] });
  assert.deepEqual(
    ids
      .json<{ result: { id: number }[] }>()
      .result.map((p) => p.id)
      .sort(),
    [1, 3],
    'the acknowledged points are there; the refused one is not',
  );
});

/** A closed database with one sealed segment whose vector bytes were flipped. */
async function damagedDatabase(data: string): Promise<{ file: string; flipped: number }> {
  const db = await Quiver.open(data, { fsync: 'none', sealPoints: 100 });
  const c = await db.createCollection('c', { dimension: 8 });
  const rand = rng(500);
  await c.upsert(Array.from({ length: 150 }, (_, id) => ({ id, vector: randomVector(rand, 8) })));
  await db.flush();
  await db.close();
  const segments = join(data, 'segments');
  const name = readdirSync(segments).find((n) => n.endsWith('.qseg'));
  assert.ok(name !== undefined, `a sealed segment in ${segments}`);
  const file = join(segments, name);
  const bytes = readFileSync(file);
  const flipped = bytes.length - 40;
  bytes[flipped]! ^= 0xff;
  writeFileSync(file, bytes);
  return { file, flipped };
}

test('CORRUPT is 500 "Storage damaged" naming the file and offset; quiver serve exits 3 saying the same', async (t) => {
  const dir = tempDir(t, 'quiver-500-');
  const data = join(dir, 'data');
  const { file, flipped } = await damagedDatabase(data);

  // In process: the server stays up to say why the database could not be opened.
  const opening = Quiver.open(data);
  opening.catch(() => undefined);
  const server = await createServer({
    config: resolveServerConfig({
      data,
      logLevel: 'silent',
      auditLog: join(dir, 'audit.log'),
      snapshotsDir: join(dir, 'snapshots'),
    }),
    db: opening,
    logger: pino({ level: 'silent' }),
  });
  t.after(() => server.close());
  await server.app.ready();
  await opening.catch(() => undefined);
  const res = await call(server, 'GET', '/collections/c');
  assert.equal(res.statusCode, 500, res.body);
  const message = res.json<{ status: { error: string } }>().status.error;
  assert.match(message, /^Storage damaged: /);
  assert.ok(message.includes(file), `names the file: ${message}`);
  const offset = Number(/at offset (\d+)/.exec(message)?.[1]);
  assert.ok(offset > 0 && offset <= flipped, `names the offset of the damaged part: ${message}`);
  assert.match(message, /quiver verify/);
  const ready = await call(server, 'GET', '/ready');
  assert.equal(ready.statusCode, 503);
  assert.equal(ready.json<{ status: string }>().status, 'failed');
  const metrics = (await call(server, 'GET', '/metrics')).body;
  assert.equal(metric(metrics, 'quiver_errors_total', 'code="CORRUPT"'), 1, metrics);

  // As a process: the fatal log names the file and offset, and the exit code is 3.
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'test/server/serve-child.ts'),
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--data',
      data,
      '--search-threads',
      '0',
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  assert.equal(code, 3, out);
  const fatal = out.split('\n').find((l) => l.includes('database failed to open'));
  assert.ok(fatal?.includes(file) === true && /at offset \d+/.test(fatal), out);
});

test('INTERNAL (a broken invariant) is 500 "Service internal error" with its code, logged with its stack, counted', async (t) => {
  const lines: string[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => void lines.push(line) });
  const { server, db } = await makeServer(t, { logger });
  // An engine call that meets a state only a bug can cause (point-table.ts raises these).
  const bug = new QuiverError('INTERNAL', 'index returned a deleted slot; this is a bug');
  db.listCollections = () => Promise.reject(bug);
  const res = await call(server, 'GET', '/collections');
  assert.equal(res.statusCode, 500, res.body);
  assert.equal(
    res.json<{ status: { error: string } }>().status.error,
    'Service internal error: index returned a deleted slot; this is a bug',
  );
  const logged = lines.map((l) => JSON.parse(l) as { msg: string; err?: { stack?: string } });
  const failed = logged.find((l) => l.msg === 'request failed');
  assert.ok(failed?.err?.stack?.includes('this is a bug') === true, lines.join('\n'));
  const metrics = (await call(server, 'GET', '/metrics')).body;
  assert.equal(metric(metrics, 'quiver_errors_total', 'code="INTERNAL"'), 1, metrics);
});
