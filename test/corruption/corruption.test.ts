/**
 * Corruption: flip a byte at several offsets in each kind of file of a closed database.
 * Opening and reading must either return exactly the original data or fail with CORRUPT
 * naming that file — never a crash, never different data. verify must agree.
 */
import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { before, describe, test } from 'node:test';
import { Quiver, isQuiverError } from '../../src/index.js';
import type { PointId } from '../../src/index.js';
import { verifyDatabase } from '../../src/ops/verify.js';
import { randomVector, rng } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';

const DIM = 12;

interface Snapshot {
  points: string;
  searches: string;
}

async function snapshot(dir: string): Promise<Snapshot> {
  const db = await Quiver.open(dir, { autoCompact: false });
  try {
    const c = db.collection('c');
    const all: { id: PointId; vector?: number[]; payload: unknown }[] = [];
    for await (const p of c.scan({ withVector: true })) all.push(p);
    all.sort((a, b) => String(a.id).localeCompare(String(b.id)));
    const rand = rng(5);
    const searches = [];
    for (let q = 0; q < 5; q++) searches.push(await c.search(randomVector(rand, DIM), { k: 5 }));
    return { points: JSON.stringify(all), searches: JSON.stringify(searches) };
  } finally {
    await db.close();
  }
}

describe('corruption: a flipped byte is detected or harmless, never wrong data', () => {
  let source = '';
  let truth: Snapshot;

  before(async () => {
    source = tempDir(undefined, 'quiver-corrupt-src-');
    const db = await Quiver.open(source, { fsync: 'none', sealPoints: 60, autoCompact: false });
    const c = await db.createCollection('c', { dimension: DIM, metric: 'cosine' });
    const rand = rng(11);
    for (let b = 0; b < 4; b++) {
      await c.upsert(
        Array.from({ length: 60 }, (_, i) => ({
          id: b * 60 + i,
          vector: randomVector(rand, DIM),
          payload: { b, i, s: `p${i}` },
        })),
      );
      await db.idle();
    }
    await db.checkpoint();
    await c.delete([1, 2, 3, 70]);
    await db.checkpoint();
    await c.upsert([{ id: 'tail', vector: randomVector(rand, DIM), payload: { tail: true } }]);
    await c.delete([100]);
    await db.close();
    truth = await snapshot(source);
  });

  const kinds: [string, (name: string) => boolean, string][] = [
    ['WAL file', (n) => n.endsWith('.wal'), 'wal'],
    ['segment file', (n) => n.endsWith('.qseg'), 'segments'],
    ['tombstone file', (n) => n.endsWith('.tomb'), 'segments'],
    ['manifest', (n) => n === 'MANIFEST', '.'],
    ['clean-shutdown mark', (n) => n === 'CLEAN', '.'],
  ];

  for (const [kind, match, sub] of kinds) {
    test(kind, async (t) => {
      const names = readdirSync(`${source}/${sub}`).filter(match);
      assert.ok(names.length > 0, `the source database has a ${kind}`);
      let detected = 0;
      let harmless = 0;
      for (const name of names) {
        const size = statSync(`${source}/${sub}/${name}`).size;
        const rand = rng(size);
        const offsets = new Set([0, 4, 9, 17, Math.floor(size / 2), size - 5, size - 1]);
        for (let i = 0; i < 3; i++) offsets.add(Math.floor(rand() * size));
        for (const offset of offsets) {
          if (offset < 0 || offset >= size) continue;
          const dir = tempDir(t, 'quiver-corrupt-');
          cpSync(source, dir, { recursive: true });
          const path = `${dir}/${sub}/${name}`;
          const bytes = readFileSync(path);
          bytes[offset] = bytes[offset]! ^ 0x5a;
          writeFileSync(path, bytes);
          const where = `${kind} ${name} offset ${offset}`;
          let result: Snapshot | undefined;
          try {
            result = await snapshot(dir);
          } catch (e) {
            assert.ok(isQuiverError(e, 'CORRUPT'), `${where}: expected CORRUPT, got ${String(e)}`);
            assert.equal(basename(String(e.details.file)), name, `${where}: error names the file`);
            assert.equal(typeof e.details.offset, 'number');
            const report = await verifyDatabase(dir);
            assert.ok(report.errors > 0, `${where}: verify finds the damage too`);
            assert.ok(
              report.problems.some((p) => basename(p.file) === name),
              `${where}: verify names the file`,
            );
            detected++;
            continue;
          }
          assert.equal(result.points, truth.points, `${where}: opened with different data`);
          assert.equal(result.searches, truth.searches, `${where}: searches differ`);
          harmless++;
        }
      }
      console.log(`[corruption] ${kind}: ${detected} detected, ${harmless} harmless`);
      if (kind !== 'clean-shutdown mark') assert.ok(detected > 0);
    });
  }
});
