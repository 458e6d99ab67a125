/**
 * On-disk vectors (`onDisk: true`) through the embedded API: sealed segments hold their
 * graph and codes in memory and read the full vectors from their files (through the block
 * cache) to rescore, to scan exactly and to hand a vector out. Answers match the same
 * collection kept in memory; memory by part shows no vectors for sealed segments; deletes,
 * filters, reopen and compaction work; files are closed when compaction collects them and
 * when the database closes; a bad option is a typed error.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Quiver } from '../../src/index.js';
import type { Collection } from '../../src/index.js';
import { isQuiverError } from '../../src/common/quiver-error.js';
import { clusteredVectors } from '../../src/ann/hnsw/hnsw.fixtures.js';
import { HandleCountingFileSystem } from '../helpers/handle-counting-file-system.js';
import type { OnDiskVectors } from '../../src/engine/on-disk-vectors.js';
import { RETIRE_GRACE_MS } from '../../src/engine/on-disk-vectors.js';
import { tempDir } from '../helpers/temp-dir.js';

const DIM = 48;
const N = 6000;
const vectors = clusteredVectors(N, DIM, 'euclid', 61);
const queries = clusteredVectors(40, DIM, 'euclid', 62);

async function recall(c: Collection, options: Record<string, unknown> = {}): Promise<number> {
  let hits = 0;
  for (const q of queries) {
    const truth = new Set((await c.search(q, { k: 10, exact: true })).map((h) => h.id));
    for (const h of await c.search(q, { k: 10, ...options })) if (truth.has(h.id)) hits++;
  }
  return hits / (queries.length * 10);
}

async function load(c: Collection, db: Quiver): Promise<void> {
  const points = vectors.map((v, i) => ({ id: i, vector: v, payload: { group: i % 50 } }));
  await c.upsert(points.slice(0, N / 2));
  await db.checkpoint();
  await c.upsert(points.slice(N / 2));
  await db.checkpoint();
}

test('an onDisk collection answers as the same collection in memory, with no vectors in memory', async (t) => {
  const dir = tempDir(t, 'quiver-ondisk-');
  const fs = new HandleCountingFileSystem();
  const options = { fsync: 'none', autoCompact: false, fileSystem: fs } as const;
  let db = await Quiver.open(dir, options);
  const quantization = { kind: 'scalar', quantile: 0.99 } as const;
  let disk = await db.createCollection('disk', {
    dimension: DIM,
    metric: 'euclid',
    quantization,
    onDisk: true,
  });
  const ram = await db.createCollection('ram', { dimension: DIM, metric: 'euclid', quantization });
  assert.equal(disk.config.onDisk, true);
  assert.equal(ram.config.onDisk, false);
  await load(disk, db);
  await load(ram, db);

  // Memory: the sealed segments of `disk` hold codes and graph, not the vectors.
  const dm = disk.stats().memory;
  const rm = ram.stats().memory;
  assert.equal(dm.vectors, 0, JSON.stringify(dm));
  assert.ok(rm.vectors >= N * DIM * 4, JSON.stringify(rm));
  assert.ok(dm.codes > 0 && dm.codes === rm.codes, `${dm.codes} vs ${rm.codes}`);

  // The same answers: ids equal (the same graph and codes), scores equal to float32 rounding.
  for (const q of queries) {
    const a = await disk.search(q, { k: 10 });
    const b = await ram.search(q, { k: 10 });
    assert.deepEqual(
      a.map((h) => h.id),
      b.map((h) => h.id),
    );
    a.forEach((h, i) => assert.ok(Math.abs(h.score - b[i]!.score) < 1e-4, `${h.score}`));
  }
  const rd = await recall(disk);
  assert.ok(rd >= 0.9, `recall ${rd}`);
  assert.ok(Math.abs(rd - (await recall(ram))) <= 0.01);
  // Exact search reads every vector from the file: exactly the in-memory exact answer.
  const exactDisk = await disk.search(queries[0]!, { k: 20, exact: true });
  const exactRam = await ram.search(queries[0]!, { k: 20, exact: true });
  assert.deepEqual(
    exactDisk.map((h) => h.id),
    exactRam.map((h) => h.id),
  );
  // A vector handed out is the stored float32 vector, read from the file.
  const got = await disk.get(4321);
  assert.deepEqual(got?.vector, Array.from(vectors[4321]!));
  // Filters: a selective one (scanned exactly) and a broad one (walked).
  const one = await disk.search(queries[1]!, { k: 5, filter: { group: 7 } });
  assert.ok(one.length === 5 && one.every((h) => Number(h.id) % 50 === 7));
  const wide = await disk.search(queries[1]!, { k: 5, filter: { group: { $ne: 7 } } });
  assert.ok(wide.length === 5 && wide.every((h) => Number(h.id) % 50 !== 7));
  // Deletes are never returned (tombstones stay in the frozen graph).
  const top = (await disk.search(queries[2]!, { k: 3 })).map((h) => h.id);
  await disk.delete(top);
  const after = (await disk.search(queries[2]!, { k: 10 })).map((h) => h.id);
  assert.ok(!after.some((id) => top.includes(id)), after.join(', '));
  assert.equal(await disk.get(top[0]!), undefined);
  // rescore: false answers in the codes' order, read nothing back.
  assert.equal(
    (await disk.search(queries[3]!, { k: 10, quantization: { rescore: false } })).length,
    10,
  );

  const cache = db.stats().vectorCache;
  assert.ok(cache.misses > 0 && cache.hits > 0, JSON.stringify(cache));
  assert.ok(cache.bytes > 0 && cache.bytes <= cache.capacityBytes, JSON.stringify(cache));
  db.setVectorCacheBytes(0);
  assert.equal(db.stats().vectorCache.bytes, 0);
  assert.ok((await recall(disk)) >= 0.9, 'with the cache off, reads go to the file');

  // Two segment files of `disk` are open for reading.
  const vectorFiles = (): string[] => fs.openPaths().filter((p) => p.endsWith('.qseg'));
  assert.equal(vectorFiles().length, 2, vectorFiles().join(', '));
  const before = await Promise.all(queries.map((q) => disk.search(q, { k: 10 })));
  await db.close();
  assert.deepEqual(vectorFiles(), [], 'closing closes the vector files');

  db = await Quiver.open(dir, options);
  disk = db.collection('disk');
  assert.equal(disk.config.onDisk, true);
  assert.equal(disk.stats().memory.vectors, 0);
  const reopened = await Promise.all(queries.map((q) => disk.search(q, { k: 10 })));
  assert.deepEqual(reopened, before, 'the same answers after a restart');

  // A scan that listed the segments before a compaction replaced them reads on.
  const listed = disk.scan({ withVector: true });
  const first = await listed.next();
  await db.compact('disk');
  assert.equal(disk.stats().segments, 1);
  assert.equal(disk.stats().memory.vectors, 0);
  let scanned = first.done === true ? 0 : 1;
  for (let p = await listed.next(); p.done !== true; p = await listed.next()) {
    assert.equal(p.value.vector?.length, DIM);
    scanned++;
  }
  assert.ok(scanned >= N - 3, `${scanned}`);
  // The merged files stay open for such readers for a grace period, then close.
  assert.ok(vectorFiles().length >= 3, vectorFiles().join(', '));
  const vectorsOf = (d: Quiver): OnDiskVectors =>
    (d as unknown as { storage: { vectors: OnDiskVectors } }).storage.vectors;
  await vectorsOf(db).closeRetired(Date.now() + RETIRE_GRACE_MS);
  assert.equal(
    vectorFiles().length,
    1,
    `compaction closed the merged files: ${vectorFiles().join(', ')}`,
  );
  assert.ok((await recall(disk)) >= 0.9);
  await db.close();
  assert.deepEqual(vectorFiles(), []);
});

test('onDisk without a quantization walks int8 codes; bad values are refused', async (t) => {
  const db = await Quiver.open(tempDir(t, 'quiver-ondisk-opts-'), { fsync: 'none' });
  try {
    await plainOnDisk(db);
  } finally {
    await db.close();
  }
});

async function plainOnDisk(db: Quiver): Promise<void> {
  const c = await db.createCollection('plain', { dimension: DIM, metric: 'euclid', onDisk: true });
  assert.equal(c.config.quantization, 'none');
  await load(c, db);
  // Compaction grows a copy of the largest segment's graph (no deletes here): the copy
  // reads its vectors back from the file.
  await db.compact('plain');
  assert.equal(c.stats().segments, 1);
  const { explain } = await c.search(queries[0]!, { k: 10, explain: true });
  assert.ok(explain.segments.some((s) => s.kind === 'sealed' && s.quantized));
  assert.equal(c.stats().memory.vectors, 0);
  assert.ok((await recall(c)) >= 0.9);
  for (const onDisk of ['yes', 1, null]) {
    await assert.rejects(
      db.createCollection('x', { dimension: 4, onDisk } as never),
      (e) => isQuiverError(e, 'INVALID_ARGUMENT') && /onDisk/.test(e.message),
    );
  }
  assert.throws(
    () => db.setVectorCacheBytes(-1),
    (e) => isQuiverError(e, 'INVALID_ARGUMENT'),
  );
}
