/**
 * Quiver.updateCollection: a collection's quantization and onDisk change after creation.
 * Its sealed segments follow at once (codes trained, dropped, vectors moved to and from
 * their files) with the same answers; the change is logged, so a reopen and a replay of the
 * log (a copy of the files taken before any checkpoint, as after a crash) keep it; bad
 * changes are typed errors.
 */
import assert from 'node:assert/strict';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Quiver } from '../../src/index.js';
import type { Collection } from '../../src/index.js';
import { isQuiverError } from '../../src/common/quiver-error.js';
import { clusteredVectors } from '../../src/ann/hnsw/hnsw.fixtures.js';
import { tempDir } from '../helpers/temp-dir.js';

const DIM = 32;
const N = 4000;
const OPTIONS = { fsync: 'batch', autoCompact: false } as const;
const vectors = clusteredVectors(N, DIM, 'euclid', 71);
const queries = clusteredVectors(30, DIM, 'euclid', 72);

async function recall(c: Collection): Promise<number> {
  let hits = 0;
  for (const q of queries) {
    const truth = new Set((await c.search(q, { k: 10, exact: true })).map((h) => h.id));
    for (const h of await c.search(q, { k: 10 })) if (truth.has(h.id)) hits++;
  }
  return hits / (queries.length * 10);
}

async function sealedQuantized(c: Collection): Promise<boolean[]> {
  const { explain } = await c.search(queries[0]!, { k: 10, explain: true });
  return explain.segments.filter((s) => s.kind === 'sealed').map((s) => s.quantized);
}

test('quantization and onDisk change after creation, survive a reopen and a replay', async (t) => {
  const dir = tempDir(t, 'quiver-update-');
  const db = await Quiver.open(dir, OPTIONS);
  let reopened: Quiver | undefined;
  try {
    const c = await db.createCollection('u', { dimension: DIM, metric: 'euclid' });
    await c.upsert(vectors.slice(0, N / 2).map((v, i) => ({ id: i, vector: v })));
    await db.checkpoint();
    await c.upsert(vectors.slice(N / 2).map((v, i) => ({ id: N / 2 + i, vector: v })));
    await db.checkpoint();
    assert.deepEqual(await sealedQuantized(c), [false, false]);

    const scalar = await db.updateCollection('u', { quantization: 'scalar' });
    assert.deepEqual(scalar.quantization, { kind: 'scalar', quantile: 0.99 });
    assert.deepEqual(c.config, scalar, 'the handle sees the new config');
    assert.deepEqual(await sealedQuantized(c), [true, true]);
    assert.ok(c.stats().memory.codes > 0);
    assert.ok((await recall(c)) >= 0.9);
    const before = await Promise.all(queries.map((q) => c.search(q, { k: 10 })));

    await db.updateCollection('u', { onDisk: true });
    assert.equal(c.config.onDisk, true);
    assert.equal(c.stats().memory.vectors, 0, 'the sealed vectors left memory');
    const onDisk = await Promise.all(queries.map((q) => c.search(q, { k: 10 })));
    assert.deepEqual(
      onDisk.map((hits) => hits.map((h) => h.id)),
      before.map((hits) => hits.map((h) => h.id)),
    );
    assert.ok(db.stats().vectorCache.misses > 0);

    // A copy of the files now (the updates are logged, no checkpoint since): a crash image.
    const image = join(dir, '..', `${dir.split('/').pop()}-image`);
    t.after(() => rmSync(image, { recursive: true, force: true }));
    cpSync(dir, image, { recursive: true, filter: (p) => !p.endsWith('LOCK') });
    reopened = await Quiver.open(image, OPTIONS);
    const r = reopened.collection('u');
    assert.ok(reopened.stats().recovery.recordsReplayed >= 2, 'the updates were replayed');
    assert.equal(r.config.onDisk, true);
    assert.deepEqual(r.config.quantization, { kind: 'scalar', quantile: 0.99 });
    assert.equal(r.stats().memory.vectors, 0, 'the replayed update moved the vectors to disk');
    const replayed = await Promise.all(queries.map((q) => r.search(q, { k: 10 })));
    assert.deepEqual(replayed, onDisk);
    await reopened.close();
    reopened = undefined;

    // On disk, the codes change kind: the segments come back into memory, are coded again
    // and go back to their files.
    await db.updateCollection('u', { quantization: { kind: 'binary', encoding: 'two_bits' } });
    assert.equal(c.stats().memory.vectors, 0);
    assert.deepEqual(await sealedQuantized(c), [true, true]);
    assert.ok((await recall(c)) >= 0.85);
    // And to product codes, still on disk.
    await db.updateCollection('u', { quantization: { kind: 'product', compression: 'x8' } });
    assert.equal(c.stats().memory.vectors, 0);
    assert.deepEqual(await sealedQuantized(c), [true, true]);
    assert.ok((await recall(c)) >= 0.9);

    // Back to floats in memory: the walk uses the vectors again.
    await db.updateCollection('u', { quantization: 'none', onDisk: false });
    assert.equal(c.config.quantization, 'none');
    assert.ok(c.stats().memory.vectors >= N * DIM * 4);
    assert.deepEqual(await sealedQuantized(c), [false, false]);
    assert.ok((await recall(c)) >= 0.9);
    const same = await db.updateCollection('u', { onDisk: false });
    assert.equal(same, c.config, 'no change, nothing logged');

    for (const changes of [{ dimension: 8 }, { onDisk: 'yes' }, { quantization: 'int4' }, 7]) {
      await assert.rejects(
        db.updateCollection('u', changes as never),
        (e) => isQuiverError(e, 'INVALID_ARGUMENT'),
        JSON.stringify(changes),
      );
    }
    await assert.rejects(db.updateCollection('nope', { onDisk: true }), (e) =>
      isQuiverError(e, 'COLLECTION_NOT_FOUND'),
    );
  } finally {
    await reopened?.close();
    await db.close();
  }
  const again = await Quiver.open(dir, OPTIONS);
  try {
    const c = again.collection('u');
    assert.equal(c.config.quantization, 'none');
    assert.equal(c.config.onDisk, false);
    assert.ok((await recall(c)) >= 0.9);
  } finally {
    await again.close();
  }
});

test('new codes for segments shared with search workers, with deletes landing while they train and encode', async (t) => {
  const dir = tempDir(t, 'quiver-update-shared-');
  const db = await Quiver.open(dir, { ...OPTIONS, searchThreads: 2, queryCacheBytes: 0 });
  try {
    const c = await db.createCollection('w', {
      dimension: DIM,
      metric: 'euclid',
      quantization: 'scalar',
    });
    await c.upsert(vectors.map((v, i) => ({ id: i, vector: v })));
    await db.checkpoint();
    await db.idle();
    // Searches through the workers share the sealed graphs, int8 codes and all: their codes
    // can no longer change in place, so the update makes copies.
    for (const q of queries) await c.search(q, { k: 10 });
    const update = db.updateCollection('w', {
      quantization: { kind: 'product', compression: 'x4' },
    });
    let done = false;
    void update.finally(() => (done = true));
    const deleted: number[] = [];
    while (!done) {
      const id = deleted.length * 7;
      await c.delete([id]);
      deleted.push(id);
      await new Promise((r) => setTimeout(r, 2));
    }
    await update;
    assert.ok(deleted.length > 1, `deletes landed during the update (${deleted.length})`);
    assert.deepEqual(await sealedQuantized(c), [true]);
    assert.equal(await c.count(), N - deleted.length);
    assert.deepEqual(await c.getMany(deleted), [], 'no delete was lost with the copy');
    for (const q of queries) {
      const hits = await c.search(q, { k: 10 });
      assert.ok(hits.every((h) => !deleted.includes(Number(h.id))));
    }
  } finally {
    await db.close();
  }
});
