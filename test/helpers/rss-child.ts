/**
 * A child process for memory tests: `build DIR disk|ram N` writes N random 128-d points to
 * an int8-quantized collection (vectors on disk or in memory) and closes; `on-disk DIR`
 * turns the vectors of that collection to disk (updateCollection, then a checkpoint), so a
 * copy of a collection built once can be measured both ways; `open DIR`
 * (run with --expose-gc) opens it, runs 200 searches, collects garbage and prints the
 * resident set growth since before the open, with the engine's memory by part, as JSON.
 */
import { Quiver } from '../../src/index.js';

const DIM = 128;
const [mode, dir, kind, count] = process.argv.slice(2);

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5;
}

async function build(path: string, onDisk: boolean, n: number): Promise<void> {
  const rnd = random(7);
  const db = await Quiver.open(path, { fsync: 'none', autoCompact: false, sealPoints: 50_000 });
  const c = await db.createCollection('v', {
    dimension: DIM,
    metric: 'euclid',
    quantization: 'scalar',
    onDisk,
    hnsw: { m: 8, efConstruction: 32 },
  });
  for (let b = 0; b < n; b += 10_000) {
    const points = [];
    for (let i = b; i < Math.min(n, b + 10_000); i++) {
      points.push({ id: i, vector: Array.from({ length: DIM }, rnd) });
    }
    await c.upsert(points);
  }
  await db.checkpoint();
  await db.close();
}

async function toDisk(path: string): Promise<void> {
  const db = await Quiver.open(path, { fsync: 'none', autoCompact: false });
  await db.updateCollection('v', { onDisk: true });
  await db.checkpoint();
  await db.close();
}

async function open(path: string): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  gc();
  const before = process.memoryUsage().rss;
  const db = await Quiver.open(path, {
    fsync: 'none',
    autoCompact: false,
    vectorCacheBytes: 8 << 20,
  });
  const c = db.collection('v');
  const rnd = random(9);
  for (let i = 0; i < 200; i++) await c.search(Array.from({ length: DIM }, rnd), { k: 10 });
  gc();
  await new Promise((r) => setTimeout(r, 100));
  gc();
  const grew = process.memoryUsage().rss - before;
  // The highest resident set the open reached (maxRSS is in KiB), above the start.
  const peak = process.resourceUsage().maxRSS * 1024 - before;
  process.stdout.write(
    `${JSON.stringify({ grew, peak, memory: c.stats().memory, cache: db.stats().vectorCache })}\n`,
  );
  await db.close();
}

if (mode === 'build') await build(dir!, kind === 'disk', Number(count));
else if (mode === 'on-disk') await toDisk(dir!);
else await open(dir!);
