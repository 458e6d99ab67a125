/**
 * Helpers of the ops tests: read a whole database into a comparable map, compare it with
 * the oracle state, and read the acknowledgements a writer child logged.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Quiver } from '../../src/index.js';
import type { Op, PointState } from './ops-data.js';
import { COLLECTION, opAt } from './ops-data.js';

/** Every point of `collection` in the database at `dir`, keyed by JSON id. */
export async function readPoints(
  dir: string,
  collection = COLLECTION,
): Promise<Map<string, PointState>> {
  const db = await Quiver.open(dir, { autoCompact: false });
  try {
    const out = new Map<string, PointState>();
    if (!db.hasCollection(collection)) return out;
    for await (const p of db.collection(collection).scan({ withVector: true })) {
      out.set(JSON.stringify(p.id), {
        vector: [...(p.vector ?? [])],
        payload: p.payload,
      });
    }
    return out;
  } finally {
    await db.close();
  }
}

/** Asserts that `actual` holds exactly the points of `expected` (vectors as float32). */
export function assertSameState(
  actual: Map<string, PointState>,
  expected: Map<string, PointState>,
  where: string,
): void {
  assert.equal(actual.size, expected.size, `${where}: number of points`);
  for (const [id, e] of expected) {
    const a = actual.get(id);
    assert.ok(a !== undefined, `${where}: point ${id} is missing`);
    assert.deepEqual(a.vector, e.vector.map(Math.fround), `${where}: vector of ${id}`);
    assert.deepEqual(a.payload, e.payload, `${where}: payload of ${id}`);
  }
}

/** The acknowledged ops of a writer child, in LSN order. */
export function readAcks(path: string): { n: number; lsn: number; op: Op }[] {
  if (!existsSync(path)) return [];
  const out: { n: number; lsn: number; op: Op }[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '') continue;
    const v = JSON.parse(line) as { n?: number; lsn: number };
    if (v.n !== undefined) out.push({ n: v.n, lsn: v.lsn, op: opAt(v.n) });
  }
  return out.sort((a, b) => a.lsn - b.lsn);
}
