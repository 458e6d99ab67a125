/**
 * Search workers in embedded use (`Quiver.open(dir, { searchThreads })`): the same answers
 * as the caller's thread, ids and scores, with and without a filter and with several
 * searches in flight, while the sealed graphs are really searched on the workers (explain
 * says so); the workers close with the database; `searchThreads` beside `searchPool` is
 * refused.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isQuiverError, Quiver } from '../../src/index.js';
import type { SearchHit } from '../../src/index.js';
import { sharedHnswAvailable } from '../../src/ann/hnsw/hnsw-index.js';
import { needs } from '../helpers/facility.js';
import { randomVector, rng } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';

const DIM = 16;
const N = 3000;
const rand = rng(77);
const queries = Array.from({ length: 24 }, () => randomVector(rand, DIM));

async function build(dir: string): Promise<void> {
  const db = await Quiver.open(dir, { fsync: 'none', queryCacheBytes: 0, sealPoints: 1500 });
  const c = await db.createCollection('w', { dimension: DIM, metric: 'cosine' });
  for (let from = 0; from < N; from += 500) {
    await c.upsert(
      Array.from({ length: 500 }, (_, i) => ({
        id: from + i,
        vector: randomVector(rand, DIM),
        payload: { g: (from + i) % 4 },
      })),
    );
  }
  await db.checkpoint();
  await db.idle();
  await db.close();
}

type Answer = Pick<SearchHit, 'id' | 'score'>[];

async function answers(db: Quiver): Promise<{ plain: Answer[]; filtered: Answer[] }> {
  const c = db.collection('w');
  const strip = (hits: SearchHit[]): Answer => hits.map(({ id, score }) => ({ id, score }));
  // All in flight at once, as an embedded caller serving many users would.
  const plain = await Promise.all(queries.map((q) => c.search(q, { k: 10, ef: 64 })));
  const filtered = await Promise.all(
    queries.map((q) => c.search(q, { k: 10, ef: 64, filter: { g: 1 } })),
  );
  return { plain: plain.map(strip), filtered: filtered.map(strip) };
}

describe('search workers in embedded use', () => {
  const skip = needs('shared WebAssembly memory', sharedHnswAvailable(), 'no shared wasm build');
  test(
    'give the same answers as the caller thread, searched on the workers',
    { skip },
    async (t) => {
      const dir = tempDir(t);
      await build(dir);
      const here = await Quiver.open(dir, { fsync: 'none', queryCacheBytes: 0 });
      const expected = await answers(here);
      await here.close();

      const db = await Quiver.open(dir, { fsync: 'none', queryCacheBytes: 0, searchThreads: 2 });
      try {
        assert.equal(db.stats().perCollection[0]!.segments >= 2, true, 'several sealed segments');
        const got = await answers(db);
        assert.deepEqual(got.plain, expected.plain);
        assert.deepEqual(got.filtered, expected.filtered);
        const r = await db.collection('w').search(queries[0]!, { k: 10, ef: 64, explain: true });
        const sealed = r.explain.segments.filter((s) => s.kind === 'sealed');
        assert.ok(sealed.length >= 2);
        assert.ok(
          sealed.every((s) => s.worker),
          `sealed graphs searched on workers: ${JSON.stringify(sealed.map((s) => s.worker))}`,
        );
      } finally {
        await db.close();
      }
    },
  );

  test(
    'search the codes of an onDisk collection, rescored from the files on this thread',
    { skip },
    async (t) => {
      const dir = tempDir(t);
      const quantization = { kind: 'scalar', quantile: 0.99 } as const;
      const open = (threads: number): Promise<Quiver> =>
        Quiver.open(dir, { fsync: 'none', queryCacheBytes: 0, searchThreads: threads });
      let db = await open(0);
      const c = await db.createCollection('d', {
        dimension: DIM,
        metric: 'cosine',
        quantization,
        onDisk: true,
      });
      for (let from = 0; from < N; from += 1000) {
        await c.upsert(
          Array.from({ length: 1000 }, (_, i) => ({
            id: from + i,
            vector: randomVector(rand, DIM),
          })),
        );
        await db.checkpoint();
      }
      const search = (d: Quiver, q: number[], options = {}): Promise<Answer> =>
        d
          .collection('d')
          .search(q, { k: 10, ef: 64, ...options })
          .then((hits) => hits.map(({ id, score }) => ({ id, score })));
      const modes = [
        {},
        { quantization: { rescore: false } },
        { quantization: { oversampling: 3 } },
      ];
      const expected = await Promise.all(
        modes.flatMap((m) => queries.map((q) => search(db, q, m))),
      );
      await db.close();

      db = await open(2);
      try {
        assert.equal(db.collection('d').stats().memory.vectors, 0, 'the vectors stay on disk');
        const got = await Promise.all(modes.flatMap((m) => queries.map((q) => search(db, q, m))));
        assert.deepEqual(got, expected, 'the same ids and scores as on the caller thread');
        const r = await db.collection('d').search(queries[0]!, { k: 10, ef: 64, explain: true });
        const sealed = r.explain.segments.filter((s) => s.kind === 'sealed');
        assert.ok(sealed.length >= 3);
        assert.ok(
          sealed.every((s) => s.worker),
          `sealed graphs walked on workers: ${JSON.stringify(sealed.map((s) => s.worker))}`,
        );
        assert.equal(db.collection('d').stats().memory.vectors, 0, 'nor did sharing load them');
      } finally {
        await db.close();
      }
    },
  );

  test('searchThreads beside searchPool is refused', async (t) => {
    const pool = { threads: 1, search: () => undefined };
    await assert.rejects(
      Quiver.open(tempDir(t), { searchThreads: 1, searchPool: pool }),
      (e) => isQuiverError(e, 'INVALID_ARGUMENT') && /not both/.test(e.message),
    );
  });
});
