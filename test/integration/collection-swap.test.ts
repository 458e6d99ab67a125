/**
 * Snapshot restore as an atomic replacement (issue 10 item 2): the snapshot is loaded into
 * a hidden staging collection and swapped in with one WAL record. A crash (SIGKILL of a
 * real child) during the load or before the swap leaves the old collection whole and a
 * staging collection the next open removes; a crash right after the swap record leaves
 * the new content, complete; a write error during the load leaves the old collection
 * untouched; replay of a WAL holding the swap (point-in-time restore) gives the swapped
 * state.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Quiver } from '../../src/index.js';
import type { Logger } from '../../src/common/logger.js';
import { createBackup } from '../../src/ops/backup.js';
import { restoreBackup } from '../../src/ops/restore.js';
import { verifyDatabase } from '../../src/ops/verify.js';
import { checkSnapshot, restoreSnapshot } from '../../src/server/snapshot-store.js';
import { WalRecordType } from '../../src/storage/format.js';
import { readManifest } from '../../src/storage/manifest/manifest.js';
import { scanWal } from '../../src/storage/wal/wal-reader.js';
import { NodeFileSystem } from '../../src/storage/io/node-file-system.js';
import { FaultyFileSystem } from '../helpers/faulty-file-system.js';
import { tempDir } from '../helpers/temp-dir.js';

const CHILD = fileURLToPath(new URL('./collection-swap-child.ts', import.meta.url));
const DIM = 4;
const OLD = 300;
const NEW = 3500;

const oldVector = (i: number): number[] => [i, 1, 0, 0];
const newVector = (i: number): number[] => [0, 0, i, 2];

/** A snapshot file of `n` points (the format SnapshotStore writes). */
function snapshotBytes(n: number): Uint8Array {
  const header = {
    format: 'quiver-snapshot',
    version: 1,
    createdAt: new Date().toISOString(),
    collection: {
      name: 'src',
      dimension: DIM,
      metric: 'euclid',
      hnsw: { m: 8, efConstruction: 32, efSearch: 32 },
    },
    points: n,
  };
  const lines = [JSON.stringify(header)];
  for (let i = 1; i <= n; i++) {
    lines.push(JSON.stringify({ id: i, vector: newVector(i), payload: { v: 'new', i } }));
  }
  const body = `${lines.join('\n')}\n`;
  const sha256 = createHash('sha256').update(body).digest('hex');
  return new TextEncoder().encode(`${body}${JSON.stringify({ end: true, points: n, sha256 })}\n`);
}

/** A database holding collection "docs" with OLD old points (closed again). */
async function oldDatabase(dir: string): Promise<void> {
  const db = await Quiver.open(dir, { fsync: 'always' });
  const c = await db.createCollection('docs', { dimension: DIM, metric: 'euclid' });
  await c.upsert(
    Array.from({ length: OLD }, (_, k) => ({
      id: k + 1,
      vector: oldVector(k + 1),
      payload: { v: 'old' },
    })),
  );
  await db.close();
}

/** Runs the child until the failpoint kills it; returns the signal. */
async function runChild(
  dir: string,
  snap: string,
  failpoint: string,
  nth: number,
): Promise<string> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CHILD, dir, snap, failpoint, String(nth)],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const signal = await new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_c, s) => r(s)));
  assert.equal(signal, 'SIGKILL', `the child should die at ${failpoint}@${nth}: ${stderr}`);
  return signal;
}

/** A logger that keeps warning messages. */
function warnings(): { logger: Logger; seen: string[] } {
  const seen: string[] = [];
  const none = (): void => undefined;
  const logger = {
    trace: none,
    debug: none,
    info: none,
    warn: (_o: unknown, msg?: string) => seen.push(msg ?? ''),
    error: none,
    fatal: none,
    child: () => logger,
  } as unknown as Logger;
  return { logger, seen };
}

/** Asserts the database in `dir` holds exactly the old collection, and no staging. */
async function assertOld(db: Quiver): Promise<void> {
  const list = await db.listCollections();
  assert.deepEqual(
    list.map((c) => [c.name, c.points]),
    [['docs', OLD]],
  );
  assert.equal(db.stats().collections, 1);
  const p = await db.collection('docs').get(OLD);
  assert.deepEqual(p?.payload, { v: 'old' });
  assert.deepEqual(Array.from(p?.vector ?? []), oldVector(OLD));
}

async function assertNew(db: Quiver): Promise<void> {
  const list = await db.listCollections();
  assert.deepEqual(
    list.map((c) => [c.name, c.points]),
    [['docs', NEW]],
  );
  const c = db.collection('docs');
  for (const i of [1, OLD, NEW]) {
    const p = await c.get(i);
    assert.deepEqual(p?.payload, { v: 'new', i });
    assert.deepEqual(Array.from(p?.vector ?? []), newVector(i));
  }
  const hits = await c.search(newVector(1234), { k: 1 });
  assert.equal(hits[0]?.id, 1234);
}

test('SIGKILL in the middle of the load leaves the old collection; the next open removes the staging one', async (t) => {
  const root = tempDir(t, 'quiver-swap-');
  const dir = `${root}/db`;
  const snap = `${root}/docs.snapshot`;
  writeFileSync(snap, snapshotBytes(NEW));
  await oldDatabase(dir);
  // fsync 1 = the staging collection's creation, 2 and 3 = the first load batches.
  await runChild(dir, snap, 'afterWalFsync', 3);
  const { logger, seen } = warnings();
  const db = await Quiver.open(dir, { logger });
  try {
    await assertOld(db);
    assert.ok(
      seen.some((m) => m.includes('staging collection left by an interrupted snapshot restore')),
      `the removal is logged: ${JSON.stringify(seen)}`,
    );
  } finally {
    await db.close();
  }
  const again = await Quiver.open(dir);
  await assertOld(again);
  await again.close();
  assert.equal((await verifyDatabase(dir)).errors, 0);
});

test('SIGKILL after the staging collection is sealed but before the swap: old content, leftover reported and removed', async (t) => {
  const root = tempDir(t, 'quiver-swap-');
  const dir = `${root}/db`;
  const snap = `${root}/docs.snapshot`;
  writeFileSync(snap, snapshotBytes(NEW));
  await oldDatabase(dir);
  await runChild(dir, snap, 'beforeCollectionSwap', 1);
  // The staging collection is in the manifest (sealed, durable): verify names it plainly.
  const manifest = await readManifest(new NodeFileSystem(), dir);
  assert.ok(
    manifest.collections.some((c) => (c.config['name'] as string).startsWith('.staging-docs-')),
  );
  const report = await verifyDatabase(dir);
  assert.equal(report.errors, 0, JSON.stringify(report.problems));
  assert.ok(report.problems.some((p) => p.what.includes('hidden staging collection')));
  const db = await Quiver.open(dir);
  await assertOld(db);
  await db.checkpoint();
  await db.close();
  const after = await readManifest(new NodeFileSystem(), dir);
  assert.deepEqual(
    after.collections.map((c) => c.config['name']),
    ['docs'],
  );
});

test('SIGKILL right after the swap record: the new collection, complete', async (t) => {
  const root = tempDir(t, 'quiver-swap-');
  const dir = `${root}/db`;
  const snap = `${root}/docs.snapshot`;
  writeFileSync(snap, snapshotBytes(NEW));
  await oldDatabase(dir);
  await runChild(dir, snap, 'afterCollectionSwap', 1);
  const db = await Quiver.open(dir);
  await assertNew(db);
  await db.close();
  // Reopened from the manifest written at that open's checkpoint too.
  const again = await Quiver.open(dir);
  await assertNew(again);
  await again.compact('docs');
  await again.close();
  const third = await Quiver.open(dir);
  await assertNew(third);
  await third.close();
  assert.equal((await verifyDatabase(dir)).errors, 0);
});

test('a write error during the load leaves the old collection untouched and no staging collection', async (t) => {
  const dir = `${tempDir(t, 'quiver-swap-')}/db`;
  await oldDatabase(dir);
  const fs = new FaultyFileSystem();
  const db = await Quiver.open(dir, { fsync: 'always', fileSystem: fs });
  const checked = checkSnapshot(snapshotBytes(NEW), 'docs', 1024 * 1024);
  // Write 1 creates the staging collection, 2 is the first batch, 3 the second.
  fs.plan = { failWriteAt: fs.writes + 3, failWith: 'EIO' };
  await assert.rejects(restoreSnapshot(db, checked));
  fs.heal();
  await db.resetCircuitBreaker().catch(() => undefined);
  await assertOld(db);
  await db.close();
  const again = await Quiver.open(dir);
  await assertOld(again);
  await again.checkpoint();
  await again.close();
  const manifest = await readManifest(new NodeFileSystem(), dir);
  assert.deepEqual(
    manifest.collections.map((c) => c.config['name']),
    ['docs'],
  );
});

test('point-in-time restore replays the swap record: the swapped state', async (t) => {
  const root = tempDir(t, 'quiver-swap-');
  const dir = `${root}/db`;
  const archive = `${root}/archive`;
  const db = await Quiver.open(dir, { walArchiveDir: archive, walFileBytes: 16 * 1024 });
  const other = await db.createCollection('other', { dimension: DIM, metric: 'euclid' });
  await other.upsert([{ id: 1, vector: [1, 2, 3, 4], payload: {} }]);
  const c = await db.createCollection('docs', { dimension: DIM, metric: 'euclid' });
  await c.upsert(
    Array.from({ length: OLD }, (_, k) => ({
      id: k + 1,
      vector: oldVector(k + 1),
      payload: { v: 'old' },
    })),
  );
  await db.checkpoint();
  const backup = await createBackup(dir, `${root}/base`);
  await restoreSnapshot(db, checkSnapshot(snapshotBytes(NEW), 'docs', 1024 * 1024));
  await other.upsert([{ id: 2, vector: [4, 3, 2, 1], payload: {} }]);
  const lsn = db.stats().wal.lastLsn;
  await db.close();
  // The replacement is one SWAP_COLLECTION record in the log the restore replays.
  const types = new Set<number>();
  for (const d of [archive, `${dir}/wal`]) {
    await scanWal(new NodeFileSystem(), d, {
      cleanlyClosed: false,
      onRecord: (r) => types.add(r.type),
    }).catch(() => undefined);
  }
  assert.ok(types.has(WalRecordType.SWAP_COLLECTION), `record types ${[...types].join(',')}`);
  const target = `${root}/restored`;
  const report = await restoreBackup(backup.path, target, {
    toLsn: lsn,
    walArchives: [archive, `${dir}/wal`],
  });
  assert.equal(report.verify?.status, 'ok', JSON.stringify(report.verify?.problems));
  const restored = await Quiver.open(target);
  try {
    const list = await restored.listCollections();
    assert.deepEqual(
      list.map((x) => [x.name, x.points]),
      [
        ['docs', NEW],
        ['other', 2],
      ],
    );
    await assertNewContent(restored);
  } finally {
    await restored.close();
  }
  // The engine sealed the inherited points at that open: a second open agrees.
  const again = await Quiver.open(target);
  await assertNewContent(again);
  await again.close();
});

async function assertNewContent(db: Quiver): Promise<void> {
  const c = db.collection('docs');
  for (const i of [1, OLD, NEW]) {
    const p = await c.get(i);
    assert.deepEqual(p?.payload, { v: 'new', i });
  }
  assert.equal(await c.count(), NEW);
}
