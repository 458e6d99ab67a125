/**
 * Scalar (int8) and binary quantization through the embedded API: a quantized collection's
 * sealed segments walk their codes (explain says so) with recall after rescoring within
 * 0.02 of the float walk (int8) and at least 0.9 against exact search; codes show in
 * memory by part (a quarter of the floats for int8, less for binary); the
 * quantizer is stored in the segment file, read back on reopen and retrained by
 * compaction; bad options are typed errors; a flipped byte in the stored quantizer makes
 * the database refuse to open with CORRUPT.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { Quiver } from '../../src/index.js';
import type { Collection } from '../../src/index.js';
import { isQuiverError } from '../../src/common/quiver-error.js';
import { clusteredVectors } from '../../src/ann/hnsw/hnsw.fixtures.js';
import { decodeSegment } from '../../src/storage/segment/segment-file.js';
import { SegmentSection } from '../../src/storage/format.js';
import { tempDir } from '../helpers/temp-dir.js';

const DIM = 32;
const N = 4000;
const OPTIONS = { fsync: 'none', autoCompact: false } as const;
const vectors = clusteredVectors(N, DIM, 'euclid', 51);
const queries = clusteredVectors(50, DIM, 'euclid', 52);

async function recall(c: Collection, options: Record<string, unknown>): Promise<number> {
  let hits = 0;
  for (const q of queries) {
    const truth = new Set((await c.search(q, { k: 10, exact: true })).map((h) => h.id));
    for (const h of await c.search(q, { k: 10, ...options })) if (truth.has(h.id)) hits++;
  }
  return hits / (queries.length * 10);
}

function segmentFiles(dir: string): string[] {
  return readdirSync(join(dir, 'segments'))
    .filter((f) => f.endsWith('.qseg'))
    .map((f) => join(dir, 'segments', f));
}

const CASES = [
  {
    option: { kind: 'scalar', quantile: 0.995 },
    config: { kind: 'scalar', quantile: 0.995 },
    floatGap: 0.02,
    minRecall: 0.9,
    raw: 0.7,
    codes: { min: N * DIM, vectorShare: 1 / 2 },
  },
  {
    option: { kind: 'binary', encoding: 'two_bits', queryEncoding: 'scalar8bits' },
    config: { kind: 'binary', encoding: 'two_bits', queryEncoding: 'scalar8bits' },
    floatGap: 0.1,
    minRecall: 0.9,
    raw: 0.5,
    // Two 16-byte planes and a 16-byte tail per 32-d row: 48 of the floats' 128 bytes (at
    // 1024-d: 272 of 4096).
    codes: { min: N * 48, vectorShare: 0.4 },
  },
  {
    option: { kind: 'binary', encoding: 'one_and_half_bits' },
    config: { kind: 'binary', encoding: 'one_and_half_bits', queryEncoding: 'default' },
    // Symmetric bits over 32 dimensions are coarse: 0.77–0.85 measured, one_bit 0.84 on the
    // same data (binary is for wide vectors: the bench's 1024-d set is where it is judged).
    floatGap: 0.2,
    minRecall: 0.75,
    raw: 0.3,
    // A 16-byte plane, a 16-byte half plane (one bit per pair, rounded up) and the tail.
    codes: { min: N * 48, vectorShare: 0.4 },
  },
  {
    option: { kind: 'product', compression: 'x16' },
    config: { kind: 'product', compression: 'x16' },
    floatGap: 0.05,
    minRecall: 0.9,
    raw: 0.4,
    // A byte per 4 values: 8 bytes, a 16-byte row per 32-d vector, and 32 KiB of centroids
    // per segment.
    codes: { min: N * 16, vectorShare: 0.4 },
  },
] as const;

for (const k of CASES) {
  const what =
    k.option.kind === 'binary'
      ? `binary ${k.option.encoding}`
      : k.option.kind === 'product'
        ? `product ${k.option.compression}`
        : k.option.kind;
  test(`a ${what}-quantized collection searches codes, stores its quantizer, reopens`, (t) =>
    quantizedCollection(t, k));
}

async function quantizedCollection(t: TestContext, k: (typeof CASES)[number]): Promise<void> {
  const dir = tempDir(t, 'quiver-quant-');
  let db = await Quiver.open(dir, OPTIONS);
  let c = await db.createCollection('q', {
    dimension: DIM,
    metric: 'euclid',
    quantization: k.option,
  });
  assert.deepEqual(c.config.quantization, k.config);
  await c.upsert(vectors.slice(0, N / 2).map((v, i) => ({ id: i, vector: v })));
  await db.checkpoint();
  await c.upsert(vectors.slice(N / 2).map((v, i) => ({ id: N / 2 + i, vector: v })));
  await db.checkpoint();

  const { explain } = await c.search(queries[0]!, { k: 10, explain: true });
  assert.ok(explain.segments.length >= 2);
  for (const s of explain.segments) {
    assert.equal(s.quantized, s.kind === 'sealed', `segment ${s.kind} ${s.plan}`);
  }
  const ignored = await c.search(queries[0]!, {
    k: 10,
    explain: true,
    quantization: { ignore: true },
  });
  assert.ok(
    ignored.explain.segments.every((s) => !s.quantized),
    'ignore walks the floats',
  );

  const float = await recall(c, { quantization: { ignore: true } });
  const coded = await recall(c, {});
  assert.ok(
    coded >= float - k.floatGap && coded >= k.minRecall,
    `codes ${coded} vs float ${float}`,
  );
  assert.ok((await recall(c, { quantization: { rescore: false } })) >= k.raw);

  const memory = c.stats().memory;
  assert.ok(
    memory.codes >= k.codes.min && memory.codes < memory.vectors * k.codes.vectorShare,
    JSON.stringify(memory),
  );

  const files = segmentFiles(dir);
  assert.ok(files.length >= 2);
  const decoded = files.map((f) => decodeSegment(readFileSync(f), f));
  const stored = decoded.map((d) => d.quantizer);
  for (const d of decoded) {
    // Product codes are stored beside the codebooks (an open copies them); others are not.
    const width = k.option.kind === 'product' ? DIM / 4 : 0;
    assert.equal(d.productCodes?.length ?? 0, d.ids.length * width);
  }
  for (const q of stored) {
    assert.equal(q?.kind, k.option.kind);
    if (q?.kind === 'scalar') assert.equal(q.quantile, Math.fround(0.995));
    if (q?.kind === 'binary' && k.config.kind === 'binary')
      assert.equal(q.encoding, k.config.encoding);
  }
  const before = await Promise.all(queries.map((q) => c.search(q, { k: 10 })));
  await db.close();

  db = await Quiver.open(dir, OPTIONS);
  c = db.collection('q');
  assert.deepEqual(c.config.quantization, k.config);
  const after = await Promise.all(queries.map((q) => c.search(q, { k: 10 })));
  assert.deepEqual(after, before, 'the stored quantizer answers as before the restart');

  await db.compact('q');
  const merged = segmentFiles(dir);
  assert.equal(merged.length, 1);
  assert.equal(decodeSegment(readFileSync(merged[0]!), merged[0]!).quantizer?.kind, k.option.kind);
  const compacted = await recall(c, {});
  assert.ok(compacted >= k.minRecall, `after compaction ${compacted}`);
  await db.close();

  // A flipped byte in the stored quantizer: the segment's checksum catches it.
  const file = merged[0]!;
  const bytes = readFileSync(file);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let quantAt = -1;
  const tableStart = 64 + 'q'.length;
  for (let e = tableStart; e < tableStart + 24 * 8; e += 24) {
    if (view.getUint32(e, true) === SegmentSection.QUANT) quantAt = view.getUint32(e + 8, true);
  }
  assert.ok(quantAt > 0, 'the file has a QUANT section');
  bytes[quantAt + 9]! ^= 0x40;
  writeFileSync(file, bytes);
  await assert.rejects(Quiver.open(dir, OPTIONS), (e) => isQuiverError(e, 'CORRUPT'));
}

test('quantization options are checked: defaults filled in, bad values refused', async (t) => {
  const db = await Quiver.open(tempDir(t, 'quiver-quant-opts-'), OPTIONS);
  try {
    await checkOptions(db);
  } finally {
    await db.close();
  }
});

async function checkOptions(db: Quiver): Promise<void> {
  for (const quantization of [
    { kind: 'product', compression: 'x3' },
    { kind: 'product', compression: 16 },
    { kind: 'product', quantile: 0.99 },
    'int4',
    { kind: 'scalar', quantile: 0.2 },
    { kind: 'scalar', bits: 4 },
    { kind: 'binary', encoding: 'one_and_half_bits', queryEncoding: 'scalar8bits' },
    { kind: 'binary', encoding: 'three_bits' },
    { kind: 'binary', queryEncoding: 'scalar2bits' },
    { kind: 'binary', quantile: 0.99 },
  ]) {
    await assert.rejects(
      db.createCollection('x', { dimension: 4, quantization } as never),
      (e) => isQuiverError(e, 'INVALID_ARGUMENT'),
      JSON.stringify(quantization),
    );
  }
  const p = await db.createCollection('p', { dimension: 4, quantization: 'product' });
  assert.deepEqual(p.config.quantization, { kind: 'product', compression: 'x16' });
  const b = await db.createCollection('b', { dimension: 4, quantization: 'binary' });
  assert.deepEqual(b.config.quantization, {
    kind: 'binary',
    encoding: 'one_bit',
    queryEncoding: 'default',
  });
  const c = await db.createCollection('s', { dimension: 4, quantization: 'scalar' });
  assert.deepEqual(c.config.quantization, { kind: 'scalar', quantile: 0.99 });
  await c.upsert([{ id: 1, vector: [1, 2, 3, 4] }]);
  await assert.rejects(
    c.search([1, 2, 3, 4], { k: 10_000, quantization: { oversampling: 16 } }),
    (e) => isQuiverError(e, 'INVALID_ARGUMENT') && /over the 100000 candidates/.test(e.message),
  );
  for (const quantization of [
    { oversampling: 0.5 },
    { oversampling: 100 },
    { rescore: 1 },
    { x: 1 },
  ]) {
    await assert.rejects(
      c.search([1, 2, 3, 4], { quantization } as never),
      (e) => isQuiverError(e, 'INVALID_ARGUMENT') && /quantization/.test(e.message),
      JSON.stringify(quantization),
    );
  }
  const hits = await c.search([1, 2, 3, 4], { quantization: { oversampling: 2, rescore: true } });
  assert.equal(hits[0]?.id, 1);
}
