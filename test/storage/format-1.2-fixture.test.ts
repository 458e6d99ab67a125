/**
 * A database written by format 1.2 (test/fixtures/format-1.2/, checked in: segment graphs
 * that carry their own vectors, tombstone files, a WAL tail) opens with today's code,
 * verifies clean, answers every point and graph searches as before; compaction rewrites
 * its segments in today's format (1.3: graphs without vectors, which then load from the
 * segments' VECTORS sections), and the answers stay the same after a reopen.
 */
import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { hnswMajor } from '../../src/ann/hnsw/hnsw-codec.js';
import { Quiver } from '../../src/index.js';
import type { Collection } from '../../src/index.js';
import { verifyDatabase } from '../../src/ops/verify.js';
import { FORMAT_MINOR } from '../../src/storage/format.js';
import { decodeSegment } from '../../src/storage/segment/segment-file.js';
import { tempDir } from '../helpers/temp-dir.js';
import { DELETED, FIXTURE_DIR, POINTS, fixtureVector } from '../fixtures/make-format-1.2.js';

/** Segment file name → (file minor version, graph blob major or undefined). */
function segmentVersions(dir: string): Map<string, { minor: number; graph: number | undefined }> {
  const out = new Map<string, { minor: number; graph: number | undefined }>();
  const segDir = join(dir, 'segments');
  for (const name of readdirSync(segDir).filter((n) => n.endsWith('.qseg'))) {
    const bytes = new Uint8Array(readFileSync(join(segDir, name)));
    const data = decodeSegment(bytes, name);
    const minor = new DataView(bytes.buffer).getUint16(6, true);
    out.set(name, { minor, graph: data.graph === undefined ? undefined : hnswMajor(data.graph) });
  }
  return out;
}

async function checkAnswers(c: Collection, where: string): Promise<void> {
  const deleted = new Set(DELETED);
  assert.equal(await c.count(), POINTS - DELETED.length, `${where}: count`);
  for (let id = 0; id < POINTS; id++) {
    const p = await c.get(id);
    if (deleted.has(id)) {
      assert.equal(p, undefined, `${where}: ${id} was deleted`);
      continue;
    }
    assert.ok(p !== undefined, `${where}: ${id} lost`);
    const want = fixtureVector(id);
    p.vector.forEach((x, i) => assert.ok(Math.abs(x - want[i]!) < 1e-5, `${where}: ${id}[${i}]`));
    assert.equal(p.payload['n'], id);
  }
  for (let q = 0; q < 20; q++) {
    const query = fixtureVector(q * 29 + 1).map((x) => x + 0.01);
    const exact = await c.search(query, { k: 5, exact: true });
    const graph = await c.search(query, { k: 5, ef: POINTS });
    assert.deepEqual(
      graph.map((h) => h.id),
      exact.map((h) => h.id),
      `${where}: query ${q}`,
    );
  }
}

test('a format 1.2 database opens, verifies, answers, and compacts into 1.3', async (t) => {
  const dir = tempDir(t);
  cpSync(FIXTURE_DIR, dir, { recursive: true });
  const before = segmentVersions(dir);
  assert.ok(
    [...before.values()].some((v) => v.minor === 2 && v.graph === 1),
    'fixture is 1.2',
  );

  const report = await verifyDatabase(dir);
  assert.equal(report.status, 'ok', JSON.stringify(report.problems));
  let db = await Quiver.open(dir);
  try {
    await checkAnswers(db.collection('old'), 'format 1.2');
    await db.compact('old');
  } finally {
    await db.close();
  }
  const after = segmentVersions(dir);
  assert.ok(after.size >= 1);
  for (const [name, v] of after) {
    assert.equal(v.minor, FORMAT_MINOR, `${name} rewritten in today's format`);
    if (v.graph !== undefined) assert.equal(v.graph, 2, `${name}: graph without vectors`);
  }
  const again = await verifyDatabase(dir);
  assert.equal(again.status, 'ok', JSON.stringify(again.problems));
  db = await Quiver.open(dir);
  try {
    await checkAnswers(db.collection('old'), 'compacted to 1.3 and reopened');
  } finally {
    await db.close();
  }
});
