/**
 * Search worker threads (real worker_threads over shared WebAssembly memory): a database
 * opened with a pool answers every search exactly as one without it (plain, filtered,
 * after deletes, after a seal that happened while open), the workers did the graph work,
 * and a worker that dies or a closed pool only moves searches back to the main thread.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { SILENT_LOGGER } from '../../src/common/logger.js';
import type { JsonObject } from '../../src/common/types.js';
import type { Collection } from '../../src/engine/collection.js';
import { Quiver } from '../../src/engine/quiver.js';
import { sharedHnswAvailable } from '../../src/index/hnsw/hnsw-index.js';
import { WorkerSearchPool } from '../../src/server/search-workers.js';
import { randomVector, rng } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';

const DIM = 16;
const POINTS = 9000;

interface Probe {
  readonly vector: number[];
  readonly filter: JsonObject | undefined;
}

async function fill(dir: string): Promise<Probe[]> {
  const rand = rng(7);
  const db = await Quiver.open(dir, { fsync: 'none', sealPoints: 3000, autoCompact: false });
  const c = await db.createCollection('docs', { dimension: DIM, metric: 'cosine' });
  for (let i = 0; i < POINTS; i += 500) {
    await c.upsert(
      Array.from({ length: 500 }, (_, j) => ({
        id: i + j,
        vector: randomVector(rand, DIM),
        payload: { tag: (i + j) % 5 === 0 ? 'rare' : 'common' },
      })),
    );
  }
  await db.idle();
  await db.checkpoint();
  await db.close();
  return Array.from({ length: 40 }, (_, i) => ({
    vector: randomVector(rand, DIM),
    // 'common' admits 80 %: enough per segment for the filtered graph search.
    filter: i % 2 === 0 ? undefined : { tag: 'common' },
  }));
}

/** Sealed-segment graph searches the probes make (what the workers should run). */
async function graphSearches(c: Collection, probes: readonly Probe[]): Promise<number> {
  let n = 0;
  for (const p of probes) {
    const { explain } = await c.search(p.vector, {
      k: 10,
      explain: true,
      ...(p.filter === undefined ? {} : { filter: p.filter }),
    });
    n += explain.segments.filter((s) => s.kind === 'sealed' && s.plan.startsWith('hnsw')).length;
  }
  return n;
}

async function answers(c: Collection, probes: readonly Probe[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of probes) {
    const hits = await c.search(p.vector, {
      k: 10,
      ...(p.filter === undefined ? {} : { filter: p.filter }),
    });
    out.push(JSON.stringify(hits.map((h) => [h.id, h.score])));
  }
  return out;
}

describe('search worker pool', { skip: !sharedHnswAvailable() }, () => {
  it('answers as the main thread does, with the graph work on the workers', async (t) => {
    const dir = tempDir(t);
    const probes = await fill(dir);
    const plain = await Quiver.open(dir, { fsync: 'none', autoCompact: false });
    const want = await answers(plain.collection('docs'), probes);
    const { explain } = await plain
      .collection('docs')
      .search(probes[1]!.vector, { k: 10, filter: { tag: 'common' }, explain: true });
    assert.ok(explain.segments.some((s) => s.kind === 'sealed' && s.plan === 'hnsw-filtered'));
    const graphWork = await graphSearches(plain.collection('docs'), probes);
    assert.ok(graphWork >= probes.length * 2, `${graphWork} graph searches`);
    await plain.close();

    const pool = await WorkerSearchPool.start(2, SILENT_LOGGER);
    t.after(() => pool.close());
    const db = await Quiver.open(dir, { fsync: 'none', autoCompact: false, searchPool: pool });
    const c = db.collection('docs');
    assert.deepEqual(await answers(c, probes), want);
    const s = pool.stats();
    assert.equal(s.failed, 0);
    assert.equal(s.completed, graphWork, 'every sealed graph search ran on a worker');

    // 16 searches at once spread over both workers and still agree.
    const together = await Promise.all(probes.slice(0, 16).map((p) => answers(c, [p])));
    assert.deepEqual(together.flat(), want.slice(0, 16));

    // Deletes reach the frozen shared graphs at once.
    const gone = new Set<number>();
    for (const p of probes) {
      for (const h of await c.search(p.vector, { k: 3 })) gone.add(h.id as number);
    }
    await c.delete([...gone]);
    for (const p of probes) {
      for (const h of await c.search(p.vector, { k: 10 })) {
        assert.ok(!gone.has(h.id as number), `deleted point ${h.id} returned`);
      }
    }
    await db.close();
  });

  it('shares segments sealed while open, and survives a dead worker and a closed pool', async (t) => {
    const dir = tempDir(t);
    const probes = await fill(dir);
    const pool = await WorkerSearchPool.start(1, SILENT_LOGGER);
    t.after(() => pool.close());
    const db = await Quiver.open(dir, {
      fsync: 'none',
      sealPoints: 3000,
      autoCompact: false,
      searchPool: pool,
    });
    const c = db.collection('docs');
    const sealedBefore = (await c.search(probes[0]!.vector, { k: 1, explain: true })).explain
      .segments.length;
    const rand = rng(99);
    await c.upsert(
      Array.from({ length: 3000 }, (_, i) => ({
        id: POINTS + i,
        vector: randomVector(rand, DIM),
        payload: { tag: 'common' },
      })),
    );
    await db.idle();
    await db.checkpoint();
    const want = await answers(c, probes);
    const { explain } = await c.search(probes[0]!.vector, { k: 10, explain: true });
    assert.equal(explain.segments.filter((s) => s.kind === 'sealed').length, sealedBefore + 1);
    const before = pool.stats().completed;
    const graphWork = await graphSearches(c, probes);
    assert.equal(pool.stats().completed - before, graphWork, 'the new segment is shared too');
    assert.ok(graphWork >= probes.length * (sealedBefore + 1) * 0.5);

    // Kill the worker: in-flight searches fall back, a new worker takes over.
    const lanes = (pool as unknown as { lanes: { worker: Worker }[] }).lanes;
    const pending = answers(c, probes);
    await lanes[0]!.worker.terminate();
    assert.deepEqual(await pending, want);
    for (let i = 0; i < 100 && pool.stats().restarts === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(pool.stats().restarts, 1);
    assert.deepEqual(await answers(c, probes), want);

    await pool.close();
    assert.deepEqual(await answers(c, probes), want, 'a closed pool leaves search to this thread');
    await db.close();
  });
});
