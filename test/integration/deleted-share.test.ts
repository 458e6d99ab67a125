/**
 * One deleted share everywhere (issue 10 item 10): after deleting a known fraction of the
 * slots — tombstones in a sealed segment and holes sealed from the growing one — db.stats(),
 * GET /stats on a real server, `quiver stats --json` and `quiver compact --json` (the built
 * CLI) report the same number, and an explicit compaction leaves one segment and 0.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import { pino } from 'pino';
import { Quiver } from '../../src/engine/quiver.js';
import type { Collection } from '../../src/engine/collection.js';
import { resolveServerConfig } from '../../src/server/config.js';
import { createServer } from '../../src/server/create-server.js';
import { tempDir } from '../helpers/temp-dir.js';
import { removeDir } from '../server/server-helpers.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** 1 000 sealed points with 300 deleted, then 100 more of which 50 die before their seal. */
const EXPECTED = (300 + 50) / 1100;

const points = (from: number, to: number): { id: number; vector: number[] }[] =>
  Array.from({ length: to - from }, (_, i) => ({ id: from + i, vector: [from + i, 1, 2, 3] }));
const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

async function fillWithDeletes(db: Quiver): Promise<Collection> {
  const c = await db.createCollection('docs', { dimension: 4, metric: 'euclid' });
  await c.upsert(points(0, 1000));
  await db.checkpoint();
  await c.delete(range(0, 300)); // tombstones in the sealed segment
  await c.upsert(points(1000, 1100));
  await c.delete(range(1000, 50)); // holes: dead before the growing segment is sealed
  await db.checkpoint();
  return c;
}

/** Runs the built CLI (what users run) and parses its JSON. */
function quiverJson(args: string[]): Record<string, unknown> {
  assert.ok(
    existsSync(join(ROOT, 'dist/cli/main.js')),
    'dist/ is missing: run `npm run build` before `npm test`',
  );
  const r = spawnSync(process.execPath, ['dist/cli/main.js', ...args, '--json'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `quiver ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

function cliDeletedRatio(data: string): number {
  const report = quiverJson(['stats', data]) as { collections: { deletedRatio: number }[] };
  return report.collections[0]!.deletedRatio;
}

/**
 * A fresh database, closed (after `closeFirst`, e.g. its server) and removed after the test.
 */
async function openDb(
  t: TestContext,
): Promise<{ db: Quiver; dir: string; data: string; closeFirst: (() => Promise<void>)[] }> {
  const dir = tempDir(undefined, 'quiver-deleted-share-');
  const data = join(dir, 'data');
  const db = await Quiver.open(data, { fsync: 'none', autoCompact: false });
  const closeFirst: (() => Promise<void>)[] = [];
  t.after(async () => {
    for (const close of closeFirst) await close();
    await db.close();
    removeDir(dir);
  });
  return { db, dir, data, closeFirst };
}

/** A server over `db` listening on 127.0.0.1 (a random port); closed after the test. */
async function listen(
  db: Quiver,
  dir: string,
  closeFirst: (() => Promise<void>)[],
): Promise<string> {
  const server = await createServer({
    config: resolveServerConfig({
      data: db.path,
      logLevel: 'silent',
      auditLog: join(dir, 'audit.log'),
      snapshotsDir: join(dir, 'snapshots'),
    }),
    db,
    logger: pino({ level: 'silent' }),
  });
  closeFirst.push(() => server.close());
  return server.app.listen({ host: '127.0.0.1', port: 0 });
}

interface HttpStats {
  deletedShare: number;
  segments: number;
  perCollection: { deletedShare: number; segments: number }[];
}

async function httpStats(url: string): Promise<HttpStats> {
  const res = await fetch(`${url}/stats`);
  assert.equal(res.status, 200);
  return (await res.json()) as HttpStats;
}

test('engine, GET /stats, quiver stats and quiver compact report one deleted share', async (t) => {
  const { db, dir, data, closeFirst } = await openDb(t);
  await fillWithDeletes(db);

  const engine = db.stats();
  assert.ok(Math.abs(engine.deletedShare - EXPECTED) < 1e-12, `engine: ${engine.deletedShare}`);
  assert.equal(engine.perCollection[0]!.deletedShare, engine.deletedShare);

  const url = await listen(db, dir, closeFirst);
  const http = await httpStats(url);
  assert.equal(http.deletedShare, engine.deletedShare, 'GET /stats');
  assert.equal(http.perCollection[0]!.deletedShare, engine.deletedShare);
  const metrics = await (await fetch(`${url}/metrics`)).text();
  const gauge = /^quiver_collection_deleted_ratio\{collection="docs"\} (\S+)$/m.exec(metrics);
  assert.equal(Number(gauge?.[1]), engine.deletedShare, 'the /metrics gauge');
  // Online, beside the server: the files as of the last checkpoint.
  assert.equal(cliDeletedRatio(data), engine.deletedShare, 'quiver stats --json');
  await db.close();

  const compact = quiverJson(['compact', data]) as {
    before: { deletedShare: number; segments: number };
    after: { deletedShare: number; segments: number };
  };
  assert.equal(compact.before.deletedShare, engine.deletedShare, 'compact report, before');
  assert.equal(compact.before.segments, 2);
  assert.deepEqual(
    [compact.after.deletedShare, compact.after.segments],
    [0, 1],
    'compact: one segment',
  );
  assert.equal(cliDeletedRatio(data), 0, 'quiver stats after compact');
});

test('POST /admin/compact merges growing and sealed data into one segment with share 0', async (t) => {
  const { db, dir, data, closeFirst } = await openDb(t);
  const c = await fillWithDeletes(db);
  // Unsealed writes and a delete in the growing segment when the compaction is asked for.
  await c.upsert(points(2000, 2100));
  await c.delete(range(2000, 10));
  const url = await listen(db, dir, closeFirst);

  const res = await fetch(`${url}/admin/compact`, {
    method: 'POST',
    body: '{}',
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(res.status, 200, await res.clone().text());
  const http = await httpStats(url);
  assert.deepEqual([http.deletedShare, http.segments], [0, 1], '/stats after /admin/compact');
  assert.equal(http.perCollection[0]!.deletedShare, 0);
  assert.equal(db.stats().points, 700 + 50 + 90);
  assert.equal(cliDeletedRatio(data), 0, 'quiver stats after /admin/compact');
});

test('the compaction trigger counts holes like every report does', async (t) => {
  const { db } = await openDb(t);
  const c = await db.createCollection('docs', { dimension: 4, metric: 'euclid' });
  await c.upsert(points(0, 100));
  await c.delete(range(0, 30)); // 30 % of the segment is dead when it is sealed
  await db.checkpoint();
  assert.ok(Math.abs(db.stats().deletedShare - 0.3) < 1e-12);
  assert.equal(db.stats().compactionQueueDepth, 1, 'a segment past 20 % dead is due');
});
