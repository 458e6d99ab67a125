/**
 * Opening a database streams its segment files instead of reading them whole
 * (segment-loader.ts), whether the vectors stay on disk (codes encoded from the stream) or
 * in memory (copied from the stream into the graph): no segment file is read whole, the
 * reopened collections answer exactly as before, and a flipped byte in each kind of section
 * (the vectors included, which only pass through a small buffer, and those of a product
 * segment, whose codes are stored and so need no vector at all) or a cut file still fails
 * the open with CORRUPT naming the file.
 */
import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { isQuiverError, Quiver } from '../../src/index.js';
import type { QuiverOptions, SearchHit } from '../../src/index.js';
import { SegmentSection } from '../../src/storage/format.js';
import { readSegmentLayout } from '../../src/storage/segment/segment-file.js';
import { clusteredVectors } from '../../src/ann/hnsw/hnsw.fixtures.js';
import { HandleCountingFileSystem } from '../helpers/handle-counting-file-system.js';
import { tempDir } from '../helpers/temp-dir.js';

const DIM = 32;
const N = 1500;
const vectors = clusteredVectors(N, DIM, 'euclid', 71);
const queries = clusteredVectors(12, DIM, 'euclid', 72);
/** Collections with their vectors on disk, by name, and their quantization. */
const MODES = {
  int8: 'scalar',
  b1: 'binary',
  pq: { kind: 'product', compression: 'x8' },
} as const;
/** Collections with their vectors in memory. */
const IN_MEMORY = { float: 'none', int8ram: 'scalar' } as const;

/** Records the paths read whole. */
class ReadRecordingFileSystem extends HandleCountingFileSystem {
  readonly readWhole: string[] = [];
  override readFile(path: string): Promise<Uint8Array> {
    this.readWhole.push(path);
    return super.readFile(path);
  }
}

/** Builds the collections, sealed, and returns their answers before the database closes. */
async function build(dir: string): Promise<string> {
  const db = await Quiver.open(dir, { fsync: 'none', autoCompact: false });
  const all = [
    ...Object.entries(MODES).map(([name, quantization]) => ({ name, quantization, onDisk: true })),
    ...Object.entries(IN_MEMORY).map(([name, quantization]) => ({ name, quantization })),
  ];
  for (const { name, ...options } of all) {
    const c = await db.createCollection(name, { dimension: DIM, metric: 'euclid', ...options });
    await c.upsert(vectors.map((v, i) => ({ id: i, vector: v, payload: { i } })));
    await db.checkpoint();
  }
  try {
    return await answersOf(db);
  } finally {
    await db.close();
  }
}

/** Every collection's answers to the queries and one stored vector, as JSON. */
async function answersOf(db: Quiver): Promise<string> {
  const out: Record<string, { hits: SearchHit[][]; vector: number[] | undefined }> = {};
  for (const name of [...Object.keys(MODES), ...Object.keys(IN_MEMORY)]) {
    const c = db.collection(name);
    const held = c.stats().memory.vectors;
    if (name in MODES) assert.equal(held, 0, `${name} holds no vectors`);
    else assert.ok(held >= N * DIM * 4, `${name} holds its vectors`);
    const hits = [];
    for (const q of queries) hits.push(await c.search(q, { k: 10 }));
    const vector = (await c.get(777))?.vector;
    assert.deepEqual(vector, Array.from(vectors[777]!), `${name}: the stored vector`);
    out[name] = { hits, vector };
  }
  return JSON.stringify(out);
}

/** answersOf the database in `dir`, opened with `options`. */
async function answers(dir: string, options: Partial<QuiverOptions> = {}): Promise<string> {
  const db = await Quiver.open(dir, { fsync: 'none', autoCompact: false, ...options });
  try {
    return await answersOf(db);
  } finally {
    await db.close();
  }
}

/** The segment file of collection `name` (each has one) and its sections. */
function segmentOf(dir: string, name: string): { path: string; sections: Map<number, number> } {
  for (const file of readdirSync(join(dir, 'segments')).filter((f) => f.endsWith('.qseg'))) {
    const path = join(dir, 'segments', file);
    const bytes = readFileSync(path);
    const layout = readSegmentLayout(bytes, path, bytes.length);
    if (layout.collection !== name) continue;
    return { path, sections: new Map(layout.sections.map((s) => [s.kind, s.offset])) };
  }
  throw new Error(`no segment of ${name}`);
}

async function assertCorrupt(dir: string, file: string, where: string): Promise<void> {
  await assert.rejects(answers(dir), (e: unknown) => {
    assert.ok(isQuiverError(e, 'CORRUPT'), `${where}: expected CORRUPT, got ${String(e)}`);
    assert.equal(basename(String(e.details.file)), basename(file), `${where}: names the file`);
    return true;
  });
}

test('segments open streamed: nothing read whole, the same answers, every byte checked', async (t) => {
  const source = tempDir(t, 'quiver-ondisk-open-');
  const truth = await build(source);
  const fs = new ReadRecordingFileSystem();
  assert.equal(await answers(source, { fileSystem: fs }), truth, 'the same answers once reopened');
  assert.deepEqual(
    fs.readWhole.filter((p) => p.endsWith('.qseg')),
    [],
    'no segment file is read whole',
  );
  assert.deepEqual(fs.openPaths(), [], 'the open closed every file it streamed');
  // Graphs shared with a search worker (in shared memory, with lanes) stream as well.
  assert.equal(await answers(source, { searchThreads: 1 }), truth, 'with a search worker');

  const damage = [
    ['int8', SegmentSection.VECTORS],
    ['pq', SegmentSection.VECTORS],
    ['b1', SegmentSection.GRAPH],
    ['int8', SegmentSection.QUANT],
    ['pq', SegmentSection.IDS],
    ['float', SegmentSection.VECTORS],
    ['int8ram', SegmentSection.PAYLOADS],
  ] as const;
  for (const [name, kind] of damage) {
    const dir = tempDir(t, 'quiver-ondisk-flip-');
    cpSync(source, dir, { recursive: true });
    const { path, sections } = segmentOf(dir, name);
    const bytes = readFileSync(path);
    const at = sections.get(kind)! + 37;
    bytes[at] = bytes[at]! ^ 0x5a;
    writeFileSync(path, bytes);
    await assertCorrupt(dir, path, `${name}: byte ${at} of section ${kind}`);
  }

  const cut = tempDir(t, 'quiver-ondisk-cut-');
  cpSync(source, cut, { recursive: true });
  const { path } = segmentOf(cut, 'b1');
  truncateSync(path, readFileSync(path).length - 100);
  await assertCorrupt(cut, path, 'b1 cut short');
});
