/**
 * The embedded API end to end on a real directory: collections, points, persistence across
 * reopen, and a QuiverError with the SPEC's code for every kind of bad input.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Quiver, isQuiverError } from '../../src/index.js';
import type { ErrorCode } from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';

function rejectsWith(p: Promise<unknown>, code: ErrorCode, pattern?: RegExp): Promise<void> {
  return assert.rejects(p, (e: unknown) => {
    assert.ok(isQuiverError(e), `expected QuiverError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (pattern !== undefined) assert.match(e.message, pattern);
    return true;
  });
}

function throwsWith(fn: () => unknown, code: ErrorCode, pattern?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isQuiverError(e), `expected QuiverError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (pattern !== undefined) assert.match(e.message, pattern);
    return true;
  });
}

describe('embedded API', () => {
  test('collections: create, list, get, drop, and they survive reopen', async (t) => {
    const dir = tempDir(t);
    const db = await Quiver.open(`${dir}/db`);
    const docs = await db.createCollection('docs', { dimension: 3, metric: 'cosine' });
    await db.createCollection('pics', { dimension: 2, metric: 'euclid' });
    await db.createCollection('dots', { dimension: 4, metric: 'dot', hnsw: { m: 8 } });
    assert.equal(docs.name, 'docs');
    assert.equal(db.collection('docs'), docs);
    await docs.upsert([{ id: 1, vector: [1, 0, 0] }]);
    const listed = await db.listCollections();
    assert.ok(listed.every((c) => typeof c.createdAt === 'string'));
    assert.deepEqual(
      listed.map((c) => ({
        name: c.name,
        dimension: c.dimension,
        metric: c.metric,
        points: c.points,
      })),
      [
        { name: 'docs', dimension: 3, metric: 'cosine', points: 1 },
        { name: 'dots', dimension: 4, metric: 'dot', points: 0 },
        { name: 'pics', dimension: 2, metric: 'euclid', points: 0 },
      ],
    );
    await db.dropCollection('pics');
    await db.close();

    const db2 = await Quiver.open(`${dir}/db`);
    assert.equal(db2.recovery.cleanShutdown, true);
    assert.deepEqual(
      (await db2.listCollections()).map((c) => c.name),
      ['docs', 'dots'],
    );
    assert.equal(db2.collection('dots').config.hnsw.m, 8);
    throwsWith(() => db2.collection('pics'), 'COLLECTION_NOT_FOUND', /pics/);
    // A dropped name can be created again, empty.
    const pics = await db2.createCollection('pics', { dimension: 5 });
    assert.equal(await pics.count(), 0);
    await db2.close();
  });

  test('points: upsert, get, replace, delete, deleteWhere, count, scan, and reopen', async (t) => {
    const dir = tempDir(t);
    const db = await Quiver.open(dir, { fsync: 'always' });
    const c = await db.createCollection('items', { dimension: 2, metric: 'euclid' });
    const r = await c.upsert([
      { id: 1, vector: [0, 0], payload: { lang: 'en', price: 10, tags: ['a', 'b'] } },
      { id: 'two', vector: [1, 1], payload: { lang: 'de', price: 20 } },
      { id: 3, vector: [2, 2], payload: { lang: 'en', price: 30, meta: { author: 'x' } } },
      { id: 2 ** 53 - 1, vector: [3, 3] },
    ]);
    assert.equal(r.count, 4);
    assert.ok(r.lsn > 0);
    assert.deepEqual(await c.get('two'), {
      id: 'two',
      vector: [1, 1],
      payload: { lang: 'de', price: 20 },
    });
    assert.deepEqual(await c.get(2 ** 53 - 1), { id: 2 ** 53 - 1, vector: [3, 3], payload: {} });
    assert.equal(await c.get(99), undefined);
    assert.equal(await c.get('1'), undefined, 'string "1" and integer 1 are different ids');
    assert.equal(await c.count(), 4);
    assert.equal(await c.count({ lang: 'en' }), 2);
    assert.equal(await c.count({ tags: 'b' }), 1);
    assert.equal(await c.count({ 'meta.author': 'x' }), 1);
    // Replace keeps one point per id.
    await c.upsert([{ id: 1, vector: [5, 5], payload: { lang: 'fr' } }]);
    assert.equal(await c.count(), 4);
    assert.deepEqual((await c.get(1))?.payload, { lang: 'fr' });
    // Returned payloads are copies: mutating them changes nothing stored.
    const got = await c.get(1);
    (got!.payload as Record<string, unknown>)['lang'] = 'mutated';
    assert.deepEqual((await c.get(1))?.payload, { lang: 'fr' });
    const d = await c.delete([3, 404]);
    assert.equal(d.count, 1);
    const dw = await c.deleteWhere({ price: { $gte: 20 } });
    assert.equal(dw.count, 1);
    const ids: unknown[] = [];
    for await (const p of c.scan()) ids.push(p.id);
    assert.deepEqual(ids, [2 ** 53 - 1, 1]);
    const withVectors: unknown[] = [];
    for await (const p of c.scan({ filter: { lang: 'fr' }, withVector: true })) withVectors.push(p);
    assert.deepEqual(withVectors, [{ id: 1, payload: { lang: 'fr' }, vector: [5, 5] }]);
    await db.close();

    const db2 = await Quiver.open(dir);
    const c2 = db2.collection('items');
    assert.equal(await c2.count(), 2);
    assert.deepEqual(await c2.get(1), { id: 1, vector: [5, 5], payload: { lang: 'fr' } });
    assert.equal(await c2.get('two'), undefined);
    await db2.close();
  });

  test('cosine vectors are stored normalised; scores follow SPEC section 2', async (t) => {
    const db = await Quiver.open(tempDir(t));
    const cos = await db.createCollection('cos', { dimension: 2, metric: 'cosine' });
    await cos.upsert([
      { id: 1, vector: [3, 4] },
      { id: 2, vector: [-1, 0] },
    ]);
    const v = (await cos.get(1))!.vector;
    assert.ok(Math.abs(v[0]! - 0.6) < 1e-6 && Math.abs(v[1]! - 0.8) < 1e-6);
    const hits = await cos.search([6, 8], { k: 2 });
    assert.deepEqual(
      hits.map((h) => h.id),
      [1, 2],
    );
    assert.ok(Math.abs(hits[0]!.score - 1) < 1e-6);
    const eu = await db.createCollection('eu', { dimension: 2, metric: 'euclid' });
    await eu.upsert([
      { id: 1, vector: [0, 0] },
      { id: 2, vector: [3, 4] },
    ]);
    const e = await eu.search([0, 0], { k: 2 });
    assert.deepEqual(
      e.map((h) => [h.id, h.score]),
      [
        [1, 0],
        [2, 5],
      ],
    );
    const dot = await db.createCollection('dot', { dimension: 2, metric: 'dot' });
    await dot.upsert([
      { id: 1, vector: [1, 2] },
      { id: 2, vector: [2, 3] },
    ]);
    const dh = await dot.search([1, 1], { k: 2, withPayload: false, withVector: true });
    assert.deepEqual(dh, [
      { id: 2, score: 5, vector: [2, 3] },
      { id: 1, score: 3, vector: [1, 2] },
    ]);
    const ex = await dot.search([1, 1], { k: 1, explain: true });
    assert.equal(ex.hits.length, 1);
    assert.equal(ex.explain.plan, 'exact-scan');
    assert.equal(ex.explain.distanceComputations, 2);
    await db.close();
  });

  test('every bad input gets the SPEC code and a message that says what and where', async (t) => {
    const dir = tempDir(t);
    const db = await Quiver.open(dir);
    const c = await db.createCollection('c', { dimension: 3 });
    await c.upsert([{ id: 1, vector: [1, 2, 3], payload: { a: 1 } }]);

    // collection names and configs
    await rejectsWith(
      db.createCollection('bad name', { dimension: 3 }),
      'INVALID_ARGUMENT',
      /bad name/,
    );
    await rejectsWith(db.createCollection('x'.repeat(65), { dimension: 3 }), 'INVALID_ARGUMENT');
    await rejectsWith(db.createCollection('ok', { dimension: 0 }), 'INVALID_ARGUMENT', /dimension/);
    await rejectsWith(
      db.createCollection('ok', { dimension: 70000 }),
      'INVALID_ARGUMENT',
      /dimension/,
    );
    await rejectsWith(
      db.createCollection('ok', { dimension: 3, metric: 'manhattan' as 'dot' }),
      'INVALID_ARGUMENT',
      /metric/,
    );
    await rejectsWith(db.createCollection('c', { dimension: 3 }), 'COLLECTION_EXISTS', /"c"/);
    throwsWith(() => db.collection('nope'), 'COLLECTION_NOT_FOUND', /nope/);
    await rejectsWith(db.dropCollection('nope'), 'COLLECTION_NOT_FOUND');

    // vectors
    await rejectsWith(
      c.upsert([{ id: 2, vector: [1, 2] }]),
      'DIMENSION_MISMATCH',
      /2 values.*dimension 3/,
    );
    await rejectsWith(
      c.upsert([{ id: 2, vector: [1, NaN, 3] }]),
      'INVALID_ARGUMENT',
      /vector\[1\].*NaN/,
    );
    await rejectsWith(
      c.upsert([{ id: 2, vector: [1, Infinity, 3] }]),
      'INVALID_ARGUMENT',
      /Infinity/,
    );
    await rejectsWith(c.upsert([{ id: 2, vector: [1, 1e39, 3] }]), 'INVALID_ARGUMENT', /overflows/);
    await rejectsWith(
      c.upsert([{ id: 2, vector: 'abc' as unknown as number[] }]),
      'INVALID_ARGUMENT',
    );
    await rejectsWith(c.search([1, 2]), 'DIMENSION_MISMATCH');
    await rejectsWith(c.search([1, 2, NaN]), 'INVALID_ARGUMENT');

    // ids
    await rejectsWith(
      c.upsert([{ id: -1, vector: [1, 2, 3] }]),
      'INVALID_ARGUMENT',
      /points\[0\]\.id/,
    );
    await rejectsWith(c.upsert([{ id: 1.5, vector: [1, 2, 3] }]), 'INVALID_ARGUMENT');
    await rejectsWith(c.upsert([{ id: 2 ** 53, vector: [1, 2, 3] }]), 'INVALID_ARGUMENT');
    await rejectsWith(c.upsert([{ id: '', vector: [1, 2, 3] }]), 'INVALID_ARGUMENT');
    await rejectsWith(
      c.upsert([{ id: 'x'.repeat(257), vector: [1, 2, 3] }]),
      'INVALID_ARGUMENT',
      /256/,
    );
    await rejectsWith(
      c.upsert([{ id: null as unknown as number, vector: [1, 2, 3] }]),
      'INVALID_ARGUMENT',
    );
    await rejectsWith(c.get({} as unknown as number), 'INVALID_ARGUMENT');

    // payloads
    await rejectsWith(
      c.upsert([{ id: 2, vector: [1, 2, 3], payload: [1] as unknown as Record<string, never> }]),
      'INVALID_ARGUMENT',
      /JSON object/,
    );
    await rejectsWith(
      c.upsert([{ id: 2, vector: [1, 2, 3], payload: { big: 'x'.repeat(1024 * 1024) } }]),
      'INVALID_ARGUMENT',
      /over the limit/,
    );
    await rejectsWith(
      c.upsert([
        {
          id: 2,
          vector: [1, 2, 3],
          payload: { when: new Date() } as unknown as Record<string, never>,
        },
      ]),
      'INVALID_ARGUMENT',
      /Date/,
    );
    await rejectsWith(
      c.upsert([{ id: 2, vector: [1, 2, 3], payload: { n: NaN } }]),
      'INVALID_ARGUMENT',
    );

    // filters
    await rejectsWith(c.count({ a: { $foo: 1 } }), 'INVALID_ARGUMENT', /\$foo/);
    await rejectsWith(
      c.search([1, 2, 3], { filter: { a: { $in: 3 } } }),
      'INVALID_ARGUMENT',
      /\$in/,
    );
    await rejectsWith(c.deleteWhere({ $and: 'x' }), 'INVALID_ARGUMENT', /\$and/);

    // search options
    await rejectsWith(c.search([1, 2, 3], { k: 0 }), 'INVALID_ARGUMENT', /k must/);
    await rejectsWith(c.search([1, 2, 3], { kk: 3 } as never), 'INVALID_ARGUMENT', /kk/);

    // A rejected batch changes nothing: the good points before the bad one are not written.
    await rejectsWith(
      c.upsert([
        { id: 10, vector: [1, 1, 1] },
        { id: 11, vector: [1, 1] },
      ]),
      'DIMENSION_MISMATCH',
      /points\[1\]/,
    );
    assert.equal(await c.get(10), undefined);
    assert.equal(await c.count(), 1);

    // options of open
    await rejectsWith(
      Quiver.open(`${dir}/o`, { fsync: 'sometimes' as 'none' }),
      'INVALID_ARGUMENT',
      /fsync/,
    );

    // read-only mode
    db.setReadOnly(true);
    await rejectsWith(c.upsert([{ id: 5, vector: [1, 1, 1] }]), 'READ_ONLY');
    await rejectsWith(c.delete([1]), 'READ_ONLY');
    assert.equal(await c.count(), 1, 'reads go on in read-only mode');
    db.setReadOnly(false);
    await c.upsert([{ id: 5, vector: [1, 1, 1] }]);

    // use after close
    await db.close();
    await rejectsWith(c.upsert([{ id: 6, vector: [1, 1, 1] }]), 'CLOSED');
    await rejectsWith(c.search([1, 1, 1]), 'CLOSED');
    await rejectsWith(c.count(), 'CLOSED');
    throwsWith(() => db.collection('c'), 'CLOSED');
    await rejectsWith(db.listCollections(), 'CLOSED');
    await db.close(); // idempotent
  });

  test('a dropped collection handle is CLOSED', async (t) => {
    const db = await Quiver.open(tempDir(t));
    const c = await db.createCollection('gone', { dimension: 2 });
    await db.dropCollection('gone');
    await rejectsWith(c.upsert([{ id: 1, vector: [1, 1] }]), 'CLOSED', /dropped/);
    await db.close();
  });

  test('concurrent writers all land, and survive reopen', async (t) => {
    const dir = tempDir(t);
    const db = await Quiver.open(dir, { fsync: 'batch' });
    const c = await db.createCollection('c', { dimension: 4 });
    await Promise.all(
      Array.from({ length: 50 }, (_, b) =>
        c.upsert(Array.from({ length: 20 }, (_, i) => ({ id: b * 20 + i, vector: [b, i, 1, 1] }))),
      ),
    );
    assert.equal(await c.count(), 1000);
    await db.close();
    const db2 = await Quiver.open(dir);
    assert.equal(await db2.collection('c').count(), 1000);
    await db2.close();
  });
});
