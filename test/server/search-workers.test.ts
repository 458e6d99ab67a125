/**
 * Search worker threads (real worker_threads over shared WebAssembly memory): a database
 * opened with a pool answers every search exactly as one without it (plain, filtered,
 * after deletes, after a seal that happened while open), the workers did the graph work,
 * and a worker that dies or a closed pool only moves searches back to the main thread.
 * A worker's stale answer is counted (`stale`), not only redone; the workers read the
 * main thread's memory itself (a delete there is seen by the next worker search, with no
 * copy sent); and `quiver serve --search-threads 1` hands searches of sealed segments to
 * its worker under load, answering as an embedded search does.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { SILENT_LOGGER } from '../../src/common/logger.js';
import type { JsonObject } from '../../src/common/types.js';
import type { Collection } from '../../src/engine/collection.js';
import { Quiver } from '../../src/engine/quiver.js';
import type { SearchPool } from '../../src/engine/search-pool.js';
import { createHnswIndex, sharedHnswAvailable } from '../../src/ann/hnsw/hnsw-index.js';
import { WorkerSearchPool } from '../../src/engine/worker-search-pool.js';
import { randomVector, rng } from '../helpers/random.js';
import { needs } from '../helpers/facility.js';
import { tempDir } from '../helpers/temp-dir.js';
import { spawnServe } from './server-helpers.js';

const DIM = 16;
const POINTS = 9000;

interface Probe {
  readonly vector: number[];
  readonly filter: JsonObject | undefined;
}

async function fill(dir: string): Promise<Probe[]> {
  const rand = rng(7);
  const db = await Quiver.open(dir, {
    fsync: 'none',
    queryCacheBytes: 0,
    sealPoints: 3000,
    autoCompact: false,
  });
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
      const plain = await Quiver.open(dir, {
        fsync: 'none',
        queryCacheBytes: 0,
        autoCompact: false,
      });
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
      const db = await Quiver.open(dir, {
        fsync: 'none',
        queryCacheBytes: 0,
        autoCompact: false,
        searchPool: pool,
      });
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
      const beforeDeletes = pool.stats();
      for (const p of probes) {
        for (const h of await c.search(p.vector, { k: 10 })) {
          assert.ok(!gone.has(h.id as number), `deleted point ${h.id} returned`);
        }
      }
      // ...on the workers themselves: none of their answers held a deleted point (which the
      // main thread would have discarded as stale and redone).
      const afterDeletes = pool.stats();
      assert.ok(afterDeletes.completed - beforeDeletes.completed >= probes.length * 2);
      assert.equal(afterDeletes.stale, 0, 'the workers saw the deletes in shared memory');
      await db.close();
    });

    it('shares segments sealed while open, and survives a dead worker and a closed pool', async (t) => {
      const dir = tempDir(t);
      const probes = await fill(dir);
      const pool = await WorkerSearchPool.start(1, SILENT_LOGGER);
      t.after(() => pool.close());
      const db = await Quiver.open(dir, {
        fsync: 'none',
        queryCacheBytes: 0,
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
        discarded: () => real.discarded(),
      };
      const db = await Quiver.open(dir, {
        fsync: 'none',
        queryCacheBytes: 0,
        autoCompact: false,
        searchPool: pool,
      });
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
      // Found because the worker's answer was detected as stale and redone, and counted.
      assert.equal(real.stats().stale, 1, 'the stale worker answer is counted');
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

    it('the workers search the main thread memory itself, not a copy', async (t) => {
      const pool = await WorkerSearchPool.start(1, SILENT_LOGGER);
      t.after(() => pool.close());
      const index = createHnswIndex({ dimension: DIM, metric: 'cosine' });
      const rand = rng(11);
      for (let i = 0; i < 600; i++) index.add(i, Float32Array.from(randomVector(rand, DIM)));
      const shared = index.toShared(1);
      const handle = shared.sharedHandle()!;
      assert.ok(handle.memory.buffer instanceof SharedArrayBuffer, 'shared WebAssembly memory');
      assert.equal(shared.sharedHandle()?.memory, handle.memory, 'one memory, not copies');
      const query = Float32Array.from(randomVector(rand, DIM));
      const ask = (): Promise<{ ids: ArrayLike<number> }> =>
        pool.search(handle, {
          query,
          k: 5,
          ef: 32,
          mode: shared.lanePlan(10, 32, undefined, undefined)!.mode,
          allow: undefined,
        })!;
      const first = Array.from((await ask()).ids);
      assert.equal(first.length, 5);
      // A delete on this thread is a store into the shared memory: the worker, which was
      // sent the memory once, sees it on its next search without being told.
      shared.remove(first[0]!);
      const sent = pool.stats().completed;
      const second = Array.from((await ask()).ids);
      assert.equal(pool.stats().completed, sent + 1);
      assert.ok(!second.includes(first[0]!), 'the worker no longer returns the deleted point');
      assert.deepEqual(second.slice(0, 4), first.slice(1, 5));
    });

    it('quiver serve --search-threads 1 searches sealed segments on its worker under load', async (t) => {
      const dir = tempDir(t);
      const probes = await fill(dir);
      const embedded = await Quiver.open(dir, {
        fsync: 'none',
        queryCacheBytes: 0,
        autoCompact: false,
      });
      const want = await answers(embedded.collection('docs'), probes);
      const { explain } = await embedded.collection('docs').search(probes[0]!.vector, {
        k: 10,
        explain: true,
      });
      assert.ok(
        explain.segments.filter((s) => s.kind === 'sealed').length >= 2,
        JSON.stringify(explain.segments.map((s) => [s.kind, s.plan, s.candidates])),
      );
      await embedded.close();

      const serve = await spawnServe(t, [
        '--data',
        dir,
        '--search-threads',
        '1',
        '--query-cache-bytes',
        '0',
      ]);
      const search = async (i: number): Promise<string> => {
        const p = probes[i]!;
        const body = {
          vector: p.vector,
          limit: 10,
          ...(p.filter === undefined
            ? {}
            : { filter: { must: [{ key: 'tag', match: { value: 'common' } }] } }),
        };
        const res = await fetch(`${serve.url}/collections/docs/points/search`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        assert.equal(res.status, 200);
        const { result } = (await res.json()) as { result: { id: number; score: number }[] };
        return JSON.stringify(result.map((h) => [h.id, h.score]));
      };
      const workers = async (): Promise<Record<string, number>> => {
        const res = await fetch(`${serve.url}/stats`);
        const stats = (await res.json()) as { server: { searchWorkers: Record<string, number> } };
        return stats.server.searchWorkers;
      };
      assert.equal((await workers())['threads'], 1);
      // An idle server searches on its main thread; waves of concurrent searches keep it
      // busy until it hands them to the worker (bounded: the test fails if it never does).
      for (let wave = 0; wave < 50 && (await workers())['completed'] === 0; wave++) {
        const got = await Promise.all(
          Array.from({ length: 200 }, (_, j) => search(j % probes.length)),
        );
        got.forEach((g, j) =>
          assert.equal(g, want[j % probes.length], `probe ${j % probes.length}`),
        );
      }
      const pool = await workers();
      assert.ok(pool['completed']! > 0, `the worker completed searches: ${JSON.stringify(pool)}`);
      assert.equal(pool['failed'], 0);
      assert.equal(pool['stale'], 0);
      assert.equal(await serve.stop(), 0);
    });
  },
);
