/**
 * tune: recommendations follow the profiles and the budget, and the footprint formula of
 * docs/TUNING.md is checked against a measured database (disk from the files, RAM from
 * the engine's memory statistics).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Quiver } from '../../src/index.js';
import { databaseStats } from '../../src/ops/stats.js';
import { estimateFootprint, tune } from '../../src/ops/tune.js';
import { randomVector, rng } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';

test('profiles and the memory budget shape the recommendation', () => {
  const b = tune({ vectors: 1_000_000, dimension: 768 });
  const hi = tune({ vectors: 1_000_000, dimension: 768, profile: 'high-recall' });
  const lo = tune({ vectors: 1_000_000, dimension: 768, profile: 'low-latency' });
  assert.ok(hi.m > b.m && b.m > lo.m);
  assert.ok(hi.efSearch > b.efSearch && b.efSearch > lo.efSearch);
  assert.throws(() => tune({ vectors: 0, dimension: 8 }));
});

test('tune recommends only settings createCollection accepts, and says when RAM is short', async (t) => {
  const tight = tune({ vectors: 1_000_000, dimension: 768, memoryBudgetBytes: 2 * 1024 ** 3 });
  assert.equal(tight.quantization, 'scalar', 'over budget: int8 codes with the vectors on disk');
  assert.equal(tight.onDisk, true);
  assert.equal(tight.fitsBudget, true);
  assert.match(tight.notes.join(' '), /Over the memory budget in RAM: scalar codes .* on disk/);
  const [none, scalar, binary, product, scalarDisk, binaryDisk, productDisk] = tight.choices;
  assert.deepEqual(
    tight.choices.map((c) => `${c.quantization}${c.onDisk ? '+disk' : ''}`),
    ['none', 'scalar', 'binary', 'product', 'scalar+disk', 'binary+disk', 'product+disk'],
  );
  assert.equal(product!.bytesPerPoint - none!.bytesPerPoint, 768 / 4, 'a byte per 4 values (x16)');
  assert.equal(product!.bytesPerPoint - productDisk!.bytesPerPoint, 768 * 4);
  assert.equal(scalar!.bytesPerPoint - none!.bytesPerPoint, 768 + 16, 'one code row per point');
  assert.equal(binary!.bytesPerPoint - none!.bytesPerPoint, 768 / 8 + 16, 'one bit per value');
  assert.equal(scalar!.bytesPerPoint - scalarDisk!.bytesPerPoint, 768 * 4, 'no floats in RAM');
  assert.equal(binary!.bytesPerPoint - binaryDisk!.bytesPerPoint, 768 * 4);
  const tiny = tune({ vectors: 1_000_000, dimension: 768, memoryBudgetBytes: 256 * 1024 ** 2 });
  assert.equal(tiny.fitsBudget, false);
  assert.match(tiny.notes.join(' '), /int8 codes with the vectors on disk \(\d+ MiB\) do not fit/);
  const fast = tune({ vectors: 1_000_000, dimension: 768, profile: 'low-latency' });
  assert.equal(fast.quantization, 'scalar', 'large low-latency collections walk int8 codes');
  assert.equal(fast.estimate.ramBytes, fast.choices[1]!.ramBytes);
  assert.equal(
    tune({ vectors: 5_000, dimension: 768, profile: 'low-latency' }).quantization,
    'none',
  );
  const roomy = tune({ vectors: 1_000, dimension: 768, memoryBudgetBytes: 1024 ** 3 });
  assert.equal(roomy.fitsBudget, true);
  // The recommendation as a user would apply it, on the real engine.
  const db = await Quiver.open(tempDir(t, 'quiver-tune-'), { fsync: 'none' });
  for (const [i, r] of [tight, roomy, fast].entries()) {
    await db.createCollection(`c${i}`, {
      dimension: r.dimension,
      metric: 'cosine',
      hnsw: { m: r.m, efConstruction: r.efConstruction, efSearch: r.efSearch },
      quantization: r.quantization,
      onDisk: r.onDisk,
    });
  }
  await db.close();
});

test('the estimate is within 2x of a measured database', async (t) => {
  const dir = tempDir(t, 'quiver-tune-');
  const N = 3000;
  const D = 64;
  const db = await Quiver.open(dir, { sealPoints: 100_000 });
  const c = await db.createCollection('t', { dimension: D, metric: 'euclid', hnsw: { m: 16 } });
  const rand = rng(9);
  for (let b = 0; b < N / 500; b++) {
    await c.upsert(
      Array.from({ length: 500 }, (_, i) => ({
        id: b * 500 + i,
        vector: randomVector(rand, D),
        payload: { n: i },
      })),
    );
  }
  await db.checkpoint();
  const measuredRam = db.stats().memoryBytes;
  await db.close();
  const stats = await databaseStats(dir);
  const est = estimateFootprint(N, D, 16, 'none', 10);
  const ratioDisk = est.diskBytes / stats.segmentBytes;
  const ratioRam = est.ramBytes / measuredRam;
  console.log(
    `[tune] disk est ${est.diskBytes} vs ${stats.segmentBytes} (x${ratioDisk.toFixed(2)}); RAM est ${est.ramBytes} vs ${measuredRam} (x${ratioRam.toFixed(2)})`,
  );
  assert.ok(ratioDisk > 0.5 && ratioDisk < 2, `disk estimate ratio ${ratioDisk}`);
  assert.ok(ratioRam > 0.5 && ratioRam < 2, `RAM estimate ratio ${ratioRam}`);
});
