/**
 * The storage engine on real files: sealing into segment files, reopening without replay,
 * tombstones, WAL release, compaction (disk shrinks, recall holds, no file leaked),
 * memory-budget backpressure, disk full, and the WAL circuit breaker.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Quiver, isQuiverError } from '../../src/index.js';
import type { PointInput, QuiverOptions } from '../../src/index.js';
import { verifyDatabase } from '../../src/ops/verify.js';
import { FaultyFileSystem } from '../helpers/faulty-file-system.js';
import { randomVector, rng } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';

const DIM = 16;

function points(from: number, n: number, seed = from): PointInput[] {
  const rand = rng(seed + 1);
  return Array.from({ length: n }, (_, i) => ({
    id: from + i,
    vector: randomVector(rand, DIM),
    payload: { n: from + i, even: (from + i) % 2 === 0, tag: `t${(from + i) % 10}` },
  }));
}

async function assertVerified(dir: string): Promise<void> {
  const report = await verifyDatabase(dir);
  assert.equal(report.errors, 0, JSON.stringify(report.problems, null, 2));
}

const SMALL: QuiverOptions = { fsync: 'none', sealPoints: 100, autoCompact: false };

describe('storage engine', () => {
  test('growing data is sealed into segment files; reopen loads them and replays only the tail', async (t) => {
    const dir = tempDir(t);
    const db = await Quiver.open(dir, SMALL);
    const c = await db.createCollection('c', { dimension: DIM, metric: 'euclid' });
    for (let b = 0; b < 10; b++) await c.upsert(points(b * 50, 50));
    await db.idle();
    const s = db.stats();
    assert.ok(s.storage.seals >= 2, `sealed ${s.storage.seals} times`);
    assert.ok(s.perCollection[0]!.sealedSegments >= 2);
    assert.equal(s.points, 500);
    const before = await c.search(randomVector(rng(9), DIM), { k: 10 });
    await db.close();
    await assertVerified(dir);

    const db2 = await Quiver.open(dir, SMALL);
    assert.ok(db2.recovery.segmentsLoaded >= 2);
    assert.ok(db2.recovery.recordsReplayed < 5, `replayed ${db2.recovery.recordsReplayed} records`);
    const c2 = db2.collection('c');
    assert.equal(await c2.count(), 500);
    assert.deepEqual(await c2.search(randomVector(rng(9), DIM), { k: 10 }), before);
    const p123 = points(100, 50)[23]!;
    assert.deepEqual(await c2.get(123), {
      id: 123,
      vector: Array.from(new Float32Array(p123.vector as number[])),
      payload: { n: 123, even: false, tag: 't3' },
    });
    await db2.close();
  });

  test('deletes and replacements of sealed points survive reopen (tombstone files)', async (t) => {
    const dir = tempDir(t);
    const db = await Quiver.open(dir, SMALL);
    const c = await db.createCollection('c', { dimension: DIM });
    await c.upsert(points(0, 300));
    await db.checkpoint();
    await c.delete([1, 2, 3]);
    await c.deleteWhere({ tag: 't9' });
    await c.upsert([{ id: 5, vector: randomVector(rng(5), DIM), payload: { replaced: true } }]);
    await db.checkpoint();
    await c.delete([7]);
    assert.equal(await c.count(), 300 - 3 - 30 - 1);
    await db.close();
    await assertVerified(dir);
    const files = readdirSync(`${dir}/segments`);
    assert.ok(
      files.some((f) => f.endsWith('.tomb')),
      `tombstone file written: ${files.join(' ')}`,
    );

    const db2 = await Quiver.open(dir, SMALL);
    const c2 = db2.collection('c');
    assert.equal(await c2.count(), 300 - 34);
    for (const id of [1, 2, 3, 7, 9, 19, 299])
      assert.equal(await c2.get(id), undefined, `id ${id}`);
    assert.deepEqual((await c2.get(5))?.payload, { replaced: true });
    assert.equal(await c2.count({ replaced: true }), 1);
    const hits = await c2.search(randomVector(rng(1), DIM), { k: 300 });
    assert.ok(hits.every((h) => ![1, 2, 3, 7].includes(h.id as number)));
    await db2.close();
  });

  test('WAL files before the manifest start are released', async (t) => {
    const dir = tempDir(t);
    const db = await Quiver.open(dir, { ...SMALL, sealPoints: 1_000_000, walFileBytes: 4096 });
    const c = await db.createCollection('c', { dimension: DIM });
    for (let b = 0; b < 20; b++) await c.upsert(points(b * 20, 20));
    const walFilesBefore = readdirSync(`${dir}/wal`).length;
    await db.checkpoint();
    const walFilesAfter = readdirSync(`${dir}/wal`).length;
    assert.ok(walFilesBefore > 3, `${walFilesBefore} WAL files`);
    assert.ok(walFilesAfter < walFilesBefore, `${walFilesAfter} after checkpoint`);
    await db.close();
    const db2 = await Quiver.open(dir, SMALL);
    assert.equal(await db2.collection('c').count(), 400);
    await db2.close();
    await assertVerified(dir);
  });

  test('compaction after deleting half: disk shrinks, results match a fresh build, no file leaks', async (t) => {
    const dir = tempDir(t);
    const db = await Quiver.open(dir, { ...SMALL, sealPoints: 200 });
    const c = await db.createCollection('c', { dimension: DIM, metric: 'cosine' });
    for (let b = 0; b < 5; b++) await c.upsert(points(b * 200, 200));
    await db.checkpoint();
    await c.deleteWhere({ even: true });
    await db.checkpoint();
    const diskBefore = db.stats().storage.segmentBytes;
    assert.ok(db.stats().deletedShare > 0.45);
    await db.compact();
    const s = db.stats();
    assert.ok(
      s.storage.segmentBytes < diskBefore * 0.7,
      `${s.storage.segmentBytes} vs ${diskBefore}`,
    );
    assert.equal(s.deletedShare, 0);
    assert.equal(s.perCollection[0]!.sealedSegments, 1);
    assert.equal(await c.count(), 500);
    // Recall against exact search over the survivors.
    let found = 0;
    const rand = rng(77);
    for (let q = 0; q < 20; q++) {
      const v = randomVector(rand, DIM);
      const exact = await c.search(v, { k: 10, exact: true });
      const approx = await c.search(v, { k: 10 });
      const want = new Set(exact.map((h) => h.id));
      found += approx.filter((h) => want.has(h.id)).length;
      assert.ok(approx.every((h) => (h.id as number) % 2 === 1));
    }
    assert.ok(found / 200 >= 0.95, `recall ${found / 200}`);
    await db.close();
    // No leaked file: everything in segments/ is referenced by the manifest.
    const report = await verifyDatabase(dir);
    assert.equal(report.errors, 0);
    assert.equal(report.warnings, 0, JSON.stringify(report.problems));
    const db2 = await Quiver.open(dir, SMALL);
    assert.equal(await db2.collection('c').count(), 500);
    assert.equal(await db2.collection('c').count({ even: true }), 0);
    await db2.close();
  });

  test('writes during compaction are kept (deletes after the snapshot reach the new segment)', async (t) => {
    const dir = tempDir(t);
    const db = await Quiver.open(dir, { ...SMALL, sealPoints: 150 });
    const c = await db.createCollection('c', { dimension: DIM });
    for (let b = 0; b < 4; b++) await c.upsert(points(b * 150, 150));
    await db.checkpoint();
    await c.delete(Array.from({ length: 100 }, (_, i) => i * 2));
    const compacting = db.compact();
    // Interleave writes while compaction runs.
    await c.delete([1, 3, 5]);
    await c.upsert([{ id: 11, vector: randomVector(rng(3), DIM), payload: { during: true } }]);
    await compacting;
    assert.equal(await c.get(1), undefined);
    assert.equal(await c.get(3), undefined);
    assert.deepEqual((await c.get(11))?.payload, { during: true });
    const expected = 600 - 100 - 3;
    assert.equal(await c.count(), expected);
    await db.close();
    const db2 = await Quiver.open(dir, SMALL);
    assert.equal(await db2.collection('c').count(), expected);
    assert.equal(await db2.collection('c').get(5), undefined);
    await db2.close();
    await assertVerified(dir);
  });

  test('closing during a compaction stops it early and loses nothing', async (t) => {
    const dir = tempDir(t);
    const db = await Quiver.open(dir, { ...SMALL, sealPoints: 300 });
    const c = await db.createCollection('c', { dimension: DIM });
    for (let b = 0; b < 6; b++) {
      await c.upsert(points(b * 300, 300));
      await db.checkpoint();
    }
    await c.deleteWhere({ even: true });
    const compacting = db.compact();
    await db.close();
    await compacting;
    const db2 = await Quiver.open(dir, SMALL);
    assert.equal(await db2.collection('c').count(), 900);
    assert.equal(await db2.collection('c').count({ even: true }), 0);
    await db2.close();
    await assertVerified(dir);
  });

  test('a tiny memory budget gives BACKPRESSURE, counted, and writes succeed after sealing', async (t) => {
    const dir = tempDir(t);
    const db = await Quiver.open(dir, {
      ...SMALL,
      sealPoints: 1_000_000,
      memoryBudgetBytes: 20_000,
    });
    const c = await db.createCollection('c', { dimension: DIM });
    let refused = 0;
    for (let b = 0; b < 20; b++) {
      try {
        await c.upsert(points(b * 20, 20));
      } catch (e) {
        assert.ok(isQuiverError(e, 'BACKPRESSURE'), String(e));
        refused++;
        await db.idle();
        await c.upsert(points(b * 20, 20)); // after the flush it goes through
      }
    }
    assert.ok(refused > 0);
    assert.equal(db.stats().backpressureEvents, refused);
    assert.equal(await c.count(), 400);
    await db.close();
  });

  test('disk full: NO_SPACE, reads go on, nothing acknowledged lost, writes resume by themselves', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const db = await Quiver.open(dir, { ...SMALL, fileSystem: fs });
    const c = await db.createCollection('c', { dimension: DIM });
    await c.upsert(points(0, 150));
    await db.idle();
    await c.upsert(points(500, 30));
    fs.plan = { failWriteAt: fs.writes + 1, sticky: true };
    await assert.rejects(c.upsert(points(1000, 10)), (e: unknown) => isQuiverError(e, 'NO_SPACE'));
    await assert.rejects(c.upsert(points(1000, 10)), (e: unknown) => isQuiverError(e, 'NO_SPACE'));
    await assert.rejects(db.checkpoint(), (e: unknown) => isQuiverError(e, 'NO_SPACE'));
    assert.equal(await c.count(), 180, 'reads go on');
    assert.equal((await c.search(randomVector(rng(2), DIM), { k: 3 })).length, 3);
    assert.equal(db.circuitBreaker.state, 'closed', 'disk full does not open the breaker');
    fs.heal();
    await c.upsert(points(1000, 10));
    await db.checkpoint();
    assert.equal(await c.count(), 190);
    assert.ok(db.stats().noSpaceEvents >= 2);
    await db.close();
    const db2 = await Quiver.open(dir, SMALL);
    assert.equal(await db2.collection('c').count(), 190);
    await db2.close();
    await assertVerified(dir);
  });

  test('circuit breaker: repeated WAL failures open it, writes fail fast, half-open trial closes it', async (t) => {
    const dir = tempDir(t);
    const fs = new FaultyFileSystem();
    const db = await Quiver.open(dir, {
      fsync: 'always',
      fileSystem: fs,
      breakerFailures: 3,
      breakerCooldownMs: 200,
    });
    const c = await db.createCollection('c', { dimension: DIM });
    await c.upsert(points(0, 5));
    fs.plan = { failWith: 'EIO', failWriteAt: fs.writes + 1, sticky: true };
    for (let i = 0; i < 3; i++) {
      await assert.rejects(c.upsert(points(100, 1)), (e: unknown) =>
        isQuiverError(e, 'UNAVAILABLE'),
      );
    }
    assert.equal(db.circuitBreaker.state, 'open');
    const writesBefore = fs.writes;
    await assert.rejects(c.upsert(points(100, 1)), (e: unknown) => {
      assert.ok(isQuiverError(e, 'UNAVAILABLE'));
      assert.match(e.message, /paused/);
      return true;
    });
    assert.equal(fs.writes, writesBefore, 'fail fast: no I/O attempted while open');
    assert.equal(await c.count(), 5, 'reads go on');
    fs.heal();
    // The cooldown (200 ms) ends on its own clock: wait for the state, not a guessed sleep.
    for (let until = Date.now() + 10_000; db.circuitBreaker.state === 'open';) {
      assert.ok(Date.now() < until, 'the breaker left open within 10 s of its 200 ms cooldown');
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(db.circuitBreaker.state, 'half-open');
    await c.upsert(points(100, 1));
    assert.equal(db.circuitBreaker.state, 'closed');
    // The admin reset closes it at once.
    fs.plan = { failWith: 'EIO', failWriteAt: fs.writes + 1, sticky: true };
    for (let i = 0; i < 3; i++) await c.upsert(points(200, 1)).catch(() => undefined);
    assert.equal(db.circuitBreaker.state, 'open');
    fs.heal();
    await db.resetCircuitBreaker();
    await c.upsert(points(200, 1));
    assert.equal(await c.count(), 7);
    await db.close();
  });

  test('read-only mode refuses every write with READ_ONLY until lifted', async (t) => {
    const db = await Quiver.open(tempDir(t), SMALL);
    const c = await db.createCollection('c', { dimension: DIM });
    db.setReadOnly(true);
    await assert.rejects(c.upsert(points(0, 1)), (e: unknown) => isQuiverError(e, 'READ_ONLY'));
    await assert.rejects(db.createCollection('d', { dimension: 2 }), (e: unknown) =>
      isQuiverError(e, 'READ_ONLY'),
    );
    await assert.rejects(db.dropCollection('c'), (e: unknown) => isQuiverError(e, 'READ_ONLY'));
    await assert.rejects(c.deleteWhere({}), (e: unknown) => isQuiverError(e, 'READ_ONLY'));
    assert.equal(db.stats().readOnly, true);
    db.setReadOnly(false);
    await c.upsert(points(0, 1));
    await db.close();
  });
});
