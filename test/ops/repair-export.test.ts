/**
 * repair of a database with one corrupt segment returns every point of the other segments
 * (and the WAL tail) and lists the lost ids; export → import into a new database gives
 * identical points; an invalid import line is reported with its number.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Quiver } from '../../src/index.js';
import type { PointId } from '../../src/index.js';
import { exportCollection } from '../../src/ops/export.js';
import { importCollection } from '../../src/ops/import.js';
import { fileSink, readFileLines } from '../../src/ops/line-io.js';
import { repairDatabase } from '../../src/ops/repair.js';
import { segmentSections } from '../../src/ops/graph-check.js';
import { SegmentSection } from '../../src/storage/format.js';
import { decodeSegment } from '../../src/storage/segment/segment-file.js';
import { NodeFileSystem } from '../../src/storage/io/node-file-system.js';
import { randomVector, rng } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';
import type { PointState } from './ops-data.js';
import { readPoints } from './ops-helpers.js';

async function build(dir: string): Promise<void> {
  const db = await Quiver.open(dir, { sealPoints: 40, autoCompact: false });
  const c = await db.createCollection('ops', { dimension: 6, metric: 'cosine' });
  const rand = rng(21);
  for (let b = 0; b < 4; b++) {
    await c.upsert(
      Array.from({ length: 40 }, (_, i) => ({
        id: i % 4 === 0 ? `k${b}-${i}` : b * 40 + i,
        vector: randomVector(rand, 6),
        payload: { b, i, nested: { ok: true } },
      })),
    );
    await db.idle();
  }
  await c.delete([1, 2, 45]);
  await c.setPayload([5, 'k3-0'], { touched: true });
  await db.checkpoint();
  await c.upsert([{ id: 'tail', vector: randomVector(rand, 6), payload: { tail: 1 } }]);
  await c.delete([7]);
  await c.setPayload([9], { late: true });
  await db.close();
}

/** `actual` holds exactly the ids of `expected`, with the same payloads and vectors. */
function assertExact(
  actual: Map<string, PointState>,
  expected: Map<string, PointState>,
  where: string,
): void {
  const sorted = (m: Map<string, PointState>): string[] => [...m.keys()].sort();
  assert.deepEqual(sorted(actual), sorted(expected), `${where}: the set of ids`);
  for (const [id, p] of expected) {
    const q = actual.get(id)!;
    assert.deepEqual(q.payload, p.payload, `${where}: payload of ${id}`);
    q.vector.forEach((v, i) => assert.ok(Math.abs(v - p.vector[i]!) < 1e-6, `vector of ${id}`));
  }
}

describe('repair and export/import', () => {
  test('repair salvages every other segment and lists the lost ids', async (t) => {
    const root = tempDir(t, 'quiver-repair-');
    await build(`${root}/db`);
    const before = await readPoints(`${root}/db`);
    const seg = readdirSync(`${root}/db/segments`).filter((n) => n.endsWith('.qseg'))[1]!;
    const path = `${root}/db/segments/${seg}`;
    const bytes = readFileSync(path);
    const lostIds = decodeSegment(new Uint8Array(bytes), path).ids.filter((x) => x !== undefined);
    // A damaged graph loses nothing: the points are read from the other sections.
    const sections = segmentSections(new Uint8Array(bytes));
    const graph = sections.find((x) => x.kind === SegmentSection.GRAPH)!;
    const g = Buffer.from(bytes);
    const gi = graph.offset + Math.floor(graph.length / 2);
    g[gi] = g[gi]! ^ 0xff;
    writeFileSync(path, g);
    const graphOnly = await repairDatabase(`${root}/db`, `${root}/out-graph`);
    assert.deepEqual(graphOnly.lost, []);
    assert.equal(graphOnly.notes.length, 1);
    assertExact(await readPoints(`${root}/out-graph`), before, 'graph damaged: every point');
    // Damaged vectors lose the segment's points; the id section still names them.
    const vectors = sections.find((x) => x.kind === SegmentSection.VECTORS)!;
    const at = vectors.offset + Math.floor(vectors.length / 2);
    bytes[at] = bytes[at]! ^ 0xff;
    writeFileSync(path, bytes);
    const r = await repairDatabase(`${root}/db`, `${root}/out`);
    assert.equal(r.verify.status, 'ok');
    const lost = r.lost.find((l) => l.file === path);
    assert.ok(lost, `the damaged segment is reported: ${JSON.stringify(r.lost)}`);
    assert.ok(lost.ids !== undefined && lost.ids.length > 0, 'with its ids');
    const lostSet = new Set((lost.ids ?? []).map((x: PointId) => JSON.stringify(x)));
    for (const id of lostIds) assert.ok(lostSet.has(JSON.stringify(id)));
    // Exact: every point not reported lost is there as it was, and nothing else is — no
    // deleted point comes back and no stale version of a point replaces its last one. (A
    // reported id may still be salvaged: its last version lived in another segment.)
    const after = await readPoints(`${root}/out`);
    const kept = new Map([...before].filter(([id]) => !lostSet.has(id) || after.has(id)));
    assert.ok(kept.size < before.size, 'the damaged segment held live points');
    assertExact(after, kept, 'vectors damaged: every point not lost');
    assert.deepEqual(readdirSync(`${root}/db/segments`).includes(seg), true, 'source untouched');
  });

  test('export then import gives identical points; a bad line is reported by number', async (t) => {
    const root = tempDir(t, 'quiver-export-');
    await build(`${root}/db`);
    const fs = new NodeFileSystem();
    const exported = await exportCollection(
      `${root}/db`,
      'ops',
      await fileSink(fs, `${root}/ops.jsonl`),
    );
    const source = await readPoints(`${root}/db`);
    assert.equal(exported.points, source.size);
    const r = await importCollection(`${root}/new`, 'ops', readFileLines(fs, `${root}/ops.jsonl`), {
      metric: 'cosine',
    });
    assert.equal(r.status, 'ok');
    assert.equal(r.imported, source.size);
    const copy = await readPoints(`${root}/new`);
    assert.equal(copy.size, source.size);
    for (const [id, p] of source) {
      const q = copy.get(id);
      assert.ok(q, `point ${id} imported`);
      assert.deepEqual(q.payload, p.payload);
      q.vector.forEach((v, i) => assert.ok(Math.abs(v - p.vector[i]!) < 1e-6));
    }
    const lines = readFileSync(`${root}/ops.jsonl`, 'utf8').split('\n');
    lines.splice(3, 0, '{"id": 1, "vector": [1, "x"]}');
    writeFileSync(`${root}/bad.jsonl`, lines.join('\n'));
    const stop = await importCollection(
      `${root}/bad`,
      'ops',
      readFileLines(fs, `${root}/bad.jsonl`),
    );
    assert.equal(stop.status, 'stopped');
    assert.deepEqual(
      stop.badLines.map((b) => b.line),
      [4],
    );
    assert.equal(stop.imported, 3, 'the lines before the bad one are imported');
    const skip = await importCollection(
      `${root}/skip`,
      'ops',
      readFileLines(fs, `${root}/bad.jsonl`),
      {
        skipInvalid: true,
      },
    );
    assert.equal(skip.status, 'skipped-invalid');
    assert.equal(skip.imported, source.size);
  });
});
