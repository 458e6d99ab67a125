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
import type { SearchPool } from '../../src/engine/search-pool.js';
import { createHnswIndex, sharedHnswAvailable } from '../../src/index/hnsw/hnsw-index.js';
import { WorkerSearchPool } from '../../src/server/search-workers.js';
import { randomVector, rng } from '../helpers/random.js';
import { needs } from '../helpers/facility.js';
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

/** Segment searches of the probes: graph searches of sealed segments, and those a worker ran. */
async function segmentWork(
  c: Collection,
  probes: readonly Probe[],
): Promise<{ graph: number; onWorkers: number }> {
  let graph = 0;
  let onWorkers = 0;
  for (const p of probes) {
    const { explain } = await c.search(p.vector, {
      k: 10,
      explain: true,
      ...(p.filter === undefined ? {} : { filter: p.filter }),
    });
    for (const s of explain.segments) {
      if (s.kind === 'sealed' && s.plan.startsWith('hnsw')) graph++;
      if (s.worker) onWorkers++;
    }
  }
  return { graph, onWorkers };
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

describe(
  'search worker pool',
  { skip: needs('shared WebAssembly memory', sharedHnswAvailable(), 'no shared wasm build') },
  () => {
    it('answers as the main thread does, with the graph work on the workers', async (t) => {
      const dir = tempDir(t);
      const probes = await fill(dir);
      const plain = await Quiver.open(dir, { fsync: 'none', autoCompact: false });
      const want = await answers(plain.collection('docs'), probes);
      const { explain } = await plain
        .collection('docs')
        .search(probes[1]!.vector, { k: 10, filter: { tag: 'common' }, explain: true });
      assert.ok(explain.segments.some((s) => s.kind === 'sealed' && s.plan === 'hnsw-filtered'));
      const plainWork = await segmentWork(plain.collection('docs'), probes);
      assert.ok(plainWork.graph >= probes.length * 2, `${plainWork.graph} graph searches`);
      assert.equal(plainWork.onWorkers, 0);
      await plain.close();

      const pool = await WorkerSearchPool.start(2, SILENT_LOGGER);
      t.after(() => pool.close());
      const db = await Quiver.open(dir, { fsync: 'none', autoCompact: false, searchPool: pool });
      const c = db.collection('docs');
      assert.deepEqual(await answers(c, probes), want);
      // Every sealed graph search went to a worker (explain says which).
      const before = pool.stats().completed;
      const work = await segmentWork(c, probes);
      assert.equal(work.graph, plainWork.graph);
      assert.equal(pool.stats().completed - before, work.onWorkers);
      assert.equal(work.onWorkers, work.graph, 'every sealed graph search ran on a worker');
      assert.equal(pool.stats().failed, 0);

      // 16 searches at once: all their sealed graph searches go to the workers, and agree.
      const beforeTogether = pool.stats().completed;
      const together = await Promise.all(probes.slice(0, 16).map((p) => answers(c, [p])));
      assert.deepEqual(together.flat(), want.slice(0, 16));
      assert.ok(pool.stats().completed - beforeTogether >= 16 * 2);

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
      const work = await segmentWork(c, probes);
      assert.equal(pool.stats().completed - before, work.onWorkers);
      assert.equal(work.onWorkers, work.graph);
      assert.ok(
        work.graph >= probes.length * (sealedBefore + 1) * 0.5,
        'the new segment is shared too',
      );

      // While the main thread is idle (the server's load probe says so) it searches itself:
      // no hand-off, same answers.
      pool.offloadWhen = () => false;
      const idle = pool.stats().completed;
      assert.deepEqual(await answers(c, probes), want);
      assert.equal(pool.stats().completed, idle, 'an idle main thread searches itself');
      pool.adaptToLoad();
      pool.offloadWhen = () => true;

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
      assert.deepEqual(
        await answers(c, probes),
        want,
        'a closed pool leaves search to this thread',
      );
      await db.close();
    });

    it('a point updated while a worker searches is not lost', async (t) => {
      const dir = tempDir(t);
      const probes = await fill(dir);
      const real = await WorkerSearchPool.start(1, SILENT_LOGGER);
      t.after(() => real.close());
      // A pool whose searches start only at `release`, so that the update lands first.
      let release: () => void = () => undefined;
      let gate: Promise<void> = Promise.resolve();
      const pool: SearchPool = {
        threads: real.threads,
        search: (handle, request) =>
          gate.then(() => real.search(handle, request) ?? Promise.reject(new Error('declined'))),
      };
      const db = await Quiver.open(dir, { fsync: 'none', autoCompact: false, searchPool: pool });
      const c = db.collection('docs');
      const target = probes[0]!.vector;
      const [best] = await c.search(target, { k: 1 });
      assert.ok(best !== undefined);
      // Tombstones in every segment: the workers then skip deleted slots, so the moved point
      // is not a stale hit the main thread would notice; it is simply absent.
      const others = Array.from({ length: POINTS / 10 }, (_, i) => i * 10 + 3);
      await c.delete(others.filter((id) => id !== best.id));
      gate = new Promise<void>((r) => (release = r));
      const searching = c.search(target, { k: 1 });
      // The best point is updated (payload only): it leaves its sealed segment for the
      // growing one, which this search has already read.
      await c.setPayload([best.id], { touched: true });
      release();
      const [after] = await searching;
      assert.equal(after?.id, best.id, 'the updated point is still found');
      await db.close();
    });

    it('a worker that lost an index gets it again', async (t) => {
      const pool = await WorkerSearchPool.start(1, SILENT_LOGGER);
      t.after(() => pool.close());
      const index = createHnswIndex({ dimension: DIM, metric: 'cosine' });
      const rand = rng(5);
      for (let i = 0; i < 600; i++) index.add(i, Float32Array.from(randomVector(rand, DIM)));
      const handle = index.toShared(1).sharedHandle()!;
      const request = {
        query: Float32Array.from(randomVector(rand, DIM)),
        k: 5,
        ef: 32,
        mode: 0,
        allow: undefined,
      };
      // Pretend the worker was sent the index although it was not (as after a failed add).
      (pool as unknown as { lanes: { known: Set<number> }[] }).lanes[0]!.known.add(handle.id);
      await assert.rejects(pool.search(handle, request)!, /not loaded/);
      const r = await pool.search(handle, request)!;
      assert.equal(r.ids.length, 5);
    });
  },
);
