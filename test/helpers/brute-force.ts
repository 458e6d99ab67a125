/**
 * The search oracle of the crash tests: the exact top k of a collection computed here, in
 * plain JS over the points the collection stores (read back through `scan`), compared with
 * what `search` answers: exact scans score for score, and every hit of either kind a
 * stored point scored by its current vector (a deleted point or an old copy of an updated
 * one, surfacing from an index after recovery, fails). Graph recall is not asserted here:
 * the crash data lie on a wrapped 1-D curve in 8-d, where greedy graph search from random
 * queries is legitimately poor; recall is the business of the recall tests.
 */
import assert from 'node:assert/strict';
import type { Collection, PointId } from '../../src/index.js';

interface Stored {
  readonly id: PointId;
  readonly vector: readonly number[];
}

/** Euclidean distance in float64 over float32 inputs (Qdrant's euclid score). */
function euclid(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    s += d * d;
  }
  return Math.sqrt(s);
}

/** Best first, ties broken by id as the engine does (numbers before strings). */
function byScoreThenId(a: { id: PointId; score: number }, b: { id: PointId; score: number }) {
  if (a.score !== b.score) return a.score - b.score;
  if (typeof a.id === typeof b.id) return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  return typeof a.id === 'number' ? -1 : 1;
}

/** A hit names a stored point and scores its stored vector (not a deleted or old copy). */
function checkHit(
  h: { id: PointId; score: number },
  q: readonly number[],
  byId: ReadonlyMap<PointId, readonly number[]>,
  where: string,
): void {
  const v = byId.get(h.id);
  assert.ok(v !== undefined, `${where}: search returned ${String(h.id)}, which is not stored`);
  const d = euclid(q, v);
  assert.ok(
    Math.abs(h.score - d) <= 1e-3 * Math.max(1, d),
    `${where}: hit ${String(h.id)} scored ${h.score}, its stored vector is at ${d} (a stale copy?)`,
  );
}

/**
 * Checks `queries` against brute force over everything `c` stores (euclid metric):
 * `exact: true` returns the brute-force top k (rank by rank in score); no hit of it or of
 * a graph search (ef 256) scores other than its stored vector.
 */
export async function checkSearchAgainstBruteForce(
  c: Collection,
  queries: readonly (readonly number[])[],
  where: string,
  k = 10,
): Promise<void> {
  const stored: Stored[] = [];
  for await (const p of c.scan({ withVector: true })) {
    stored.push({ id: p.id, vector: p.vector ?? [] });
  }
  const byId = new Map(stored.map((p) => [p.id, p.vector]));
  for (const q of queries) {
    const truth = stored
      .map((p) => ({ id: p.id, score: euclid(q, p.vector) }))
      .sort(byScoreThenId)
      .slice(0, k);
    // The engine ranks in float32: near ties may come in another order than here, so the
    // exact answer must match rank by rank in score, and each hit be a stored point.
    const exact = await c.search([...q], { k, exact: true, withPayload: false });
    assert.equal(exact.length, truth.length, `${where}: exact search returned too few hits`);
    exact.forEach((h, i) => {
      checkHit(h, q, byId, where);
      const want = truth[i]!.score;
      assert.ok(
        Math.abs(h.score - want) <= 1e-3 * Math.max(1, want),
        `${where}: exact hit ${i} scored ${h.score}, brute force's ${i}th best is ${want}`,
      );
    });
    const graph = await c.search([...q], { k, ef: 256, withPayload: false });
    for (const h of graph) checkHit(h, q, byId, where);
  }
}
