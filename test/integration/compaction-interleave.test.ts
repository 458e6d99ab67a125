/**
 * Compaction while the collection changes (issue 16 item 8): upserts, vector replacements,
 * payload updates and deletes that land while a merge is building are all there, exactly,
 * after the swap and after a reopen (no replaced or deleted copy resurfaces from the merged
 * segment); and a close during a merge stops it before it writes anything: the manifest
 * still lists the old segments, no merged file is left behind, and every point survives.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { Collection } from '../../src/engine/collection.js';
import { Quiver } from '../../src/engine/quiver.js';
import { verifyDatabase } from '../../src/ops/verify.js';
import { NodeFileSystem } from '../../src/storage/io/node-file-system.js';
import { manifestFiles, readManifest } from '../../src/storage/manifest/manifest.js';
import { randomVector, rng } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';

const DIM = 16;
const SEGMENTS = 6;
const PER_SEGMENT = 1000;
/** Large thresholds: only the test decides when a segment is sealed or merged. */
const OPTIONS = { sealPoints: 100_000, autoCompact: false, fsync: 'batch' } as const;

interface Expected {
  vector: number[];
  payload: Record<string, unknown>;
}

/** SEGMENTS sealed segments of PER_SEGMENT points, plus 10 growing ones; returns the oracle. */
async function fill(db: Quiver): Promise<{ c: Collection; expected: Map<number, Expected> }> {
  const c = await db.createCollection('m', { dimension: DIM, metric: 'euclid' });
  const rand = rng(16);
  const expected = new Map<number, Expected>();
  const put = async (from: number, n: number): Promise<void> => {
    const batch = Array.from({ length: n }, (_, i) => ({
      id: from + i,
      vector: randomVector(rand, DIM),
      payload: { v: 0 },
    }));
    await c.upsert(batch);
    for (const p of batch) expected.set(p.id, { vector: p.vector, payload: p.payload });
  };
  for (let s = 0; s < SEGMENTS; s++) {
    await put(s * PER_SEGMENT, PER_SEGMENT);
    await db.checkpoint();
  }
  // A few growing points: the forced compaction seals them first, writing a manifest, so a
  // new manifest generation says the merge itself has begun.
  await put(SEGMENTS * PER_SEGMENT, 10);
  return { c, expected };
}

/** Starts db.compact() and resolves once its merge is building (after its sealing checkpoint). */
async function startMerge(db: Quiver): Promise<{ done: () => boolean; merge: Promise<void> }> {
  const generation = db.stats().storage.manifestGeneration;
  let finished = false;
  const merge = db.compact('m').then(() => {
    finished = true;
  });
  while (db.stats().storage.manifestGeneration === generation) {
    assert.ok(!finished, 'the compaction wrote its sealing checkpoint before finishing');
    await new Promise((r) => setImmediate(r));
  }
  return { done: () => finished, merge };
}

/** Asserts that the collection holds exactly `expected`, in scans, gets and searches. */
async function assertExactly(c: Collection, expected: Map<number, Expected>, where: string) {
  const seen = new Map<number, Expected>();
  for await (const p of c.scan({ withVector: true })) {
    assert.ok(!seen.has(p.id as number), `${where}: ${String(p.id)} scanned twice`);
    seen.set(p.id as number, { vector: [...(p.vector ?? [])], payload: p.payload });
  }
  assert.equal(seen.size, expected.size, `${where}: number of points`);
  for (const [id, e] of expected) {
    const a = seen.get(id);
    assert.ok(a !== undefined, `${where}: point ${id} is missing`);
    assert.deepEqual(a.vector, e.vector.map(Math.fround), `${where}: vector of ${id}`);
    assert.deepEqual(a.payload, e.payload, `${where}: payload of ${id}`);
  }
  assert.equal(await c.count(), expected.size, `${where}: count`);
}

/** Searches by the old vectors of changed points: no hit may be a deleted or old copy. */
async function assertNoOldCopies(
  c: Collection,
  old: Map<number, number[]>,
  expected: Map<number, Expected>,
  where: string,
): Promise<void> {
  for (const [id, vector] of old) {
    for (const exact of [true, false]) {
      const hits = await c.search(vector, { k: 5, exact, withVector: true });
      for (const h of hits) {
        const e = expected.get(h.id as number);
        assert.ok(e !== undefined, `${where}: deleted point ${String(h.id)} found (near ${id})`);
        assert.deepEqual(
          h.vector,
          e.vector.map(Math.fround),
          `${where}: ${String(h.id)} found with an old vector (exact ${exact})`,
        );
        assert.deepEqual(h.payload, e.payload, `${where}: ${String(h.id)} old payload`);
      }
    }
  }
}

describe('compaction interleaved with writes', () => {
  test('writes that land during a merge are all there after it and after a reopen', async (t) => {
    const dir = tempDir(t, 'quiver-compact-interleave-');
    let db = await Quiver.open(dir, OPTIONS);
    const { c, expected } = await fill(db);
    const rand = rng(99);
    const compactionsBefore = db.stats().storage.compactions;
    const { done, merge } = await startMerge(db);

    // Every write below is issued and acknowledged while the merge is still building; they
    // run together (one group commit) so that they fit well inside the merge.
    assert.ok(!done(), 'the writes are issued while the merge runs');
    const old = new Map<number, number[]>();
    // Replaced vectors, in the segments being merged (the largest one and the others).
    const replaced = [5, 1500, 2500, 4999];
    const replacement = replaced.map((id) => ({
      id,
      vector: randomVector(rand, DIM),
      payload: { v: 1 },
    }));
    const deleted = [7, 1007, 3333, 5999, SEGMENTS * PER_SEGMENT + 1];
    const updated = [8, 2008, 4008];
    const added = Array.from({ length: 5 }, (_, i) => ({
      id: 10_000 + i,
      vector: randomVector(rand, DIM),
      payload: { v: 3 },
    }));
    for (const id of [...replaced, ...deleted]) old.set(id, expected.get(id)!.vector);
    await Promise.all([
      c.upsert(replacement),
      c.delete(deleted),
      c.setPayload(updated, { v: 2, tag: 'x' }),
      c.upsert(added),
    ]);
    assert.ok(!done(), 'the writes were acknowledged while the merge runs (make it bigger)');
    for (const p of [...replacement, ...added]) {
      expected.set(p.id, { vector: p.vector, payload: p.payload });
    }
    for (const id of deleted) expected.delete(id);
    for (const id of updated) expected.get(id)!.payload = { v: 2, tag: 'x' };
    await merge;
    assert.equal(db.stats().storage.compactions, compactionsBefore + 1, 'the merge swapped in');
    await assertExactly(c, expected, 'after the merge');
    await assertNoOldCopies(c, old, expected, 'after the merge');

    await db.close();
    db = await Quiver.open(dir, OPTIONS);
    const again = db.collection('m');
    await assertExactly(again, expected, 'after a reopen');
    await assertNoOldCopies(again, old, expected, 'after a reopen');
    await db.checkpoint();
    await db.close();
    db = await Quiver.open(dir, OPTIONS);
    await assertExactly(db.collection('m'), expected, 'after a checkpoint and a reopen');
    await db.close();
    const report = await verifyDatabase(dir);
    assert.equal(report.status, 'ok', JSON.stringify(report.problems));
    assert.equal(report.warnings, 0, JSON.stringify(report.problems));
  });

  test('a close during a merge stops it: nothing of it on disk, every point intact', async (t) => {
    const dir = tempDir(t, 'quiver-compact-stop-');
    const fs = new NodeFileSystem();
    let db = await Quiver.open(dir, OPTIONS);
    const { expected } = await fill(db);
    const { done } = await startMerge(db);
    // The merge is building: its sealing checkpoint is the manifest on disk now.
    const before = await readManifest(fs, dir);
    const segmentsBefore = new Set(readdirSync(`${dir}/segments`));
    assert.equal(before.collections[0]!.segments.length, SEGMENTS + 1, 'six sealed + one sealed');
    await db.close();
    assert.ok(done(), 'close waited for the stopped compaction');

    const after = await readManifest(fs, dir);
    assert.deepEqual(manifestFiles(after).sort(), manifestFiles(before).sort(), 'old segments');
    assert.deepEqual(
      new Set(readdirSync(`${dir}/segments`)),
      segmentsBefore,
      'no file of the stopped merge',
    );
    const report = await verifyDatabase(dir);
    assert.equal(report.status, 'ok', JSON.stringify(report.problems));
    assert.equal(report.warnings, 0, `no orphan files: ${JSON.stringify(report.problems)}`);

    db = await Quiver.open(dir, OPTIONS);
    await assertExactly(db.collection('m'), expected, 'after a reopen');
    assert.equal(db.stats().storage.compactions, 0);
    // The merge it stopped can run to the end later.
    await db.compact('m');
    assert.equal(db.collection('m').stats().segments, 1);
    await assertExactly(db.collection('m'), expected, 'after the merge ran again');
    await db.close();
  });
});
