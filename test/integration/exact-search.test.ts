/**
 * Exact search equals a brute-force reference for all three metrics, with and without
 * filters, including k larger than the number of matches.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Quiver } from '../../src/index.js';
import type { JsonObject, MetricName, Payload, SearchHit } from '../../src/index.js';
import { randomVector, rng } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';

const N = 600;
const DIM = 24;

interface Doc {
  id: number | string;
  vector: Float32Array;
  payload: Payload;
}

/** The reference: stores what the engine should store, scores in double precision. */
function prepare(v: number[], metric: MetricName): Float32Array {
  const f = new Float32Array(v);
  if (metric === 'cosine') {
    let s = 0;
    for (const x of f) s += x * x;
    const inv = 1 / Math.sqrt(s);
    for (let i = 0; i < f.length; i++) f[i] = f[i]! * inv;
  }
  return f;
}

function score(metric: MetricName, a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    s += metric === 'euclid' ? (a[i]! - b[i]!) ** 2 : a[i]! * b[i]!;
  }
  return metric === 'euclid' ? Math.sqrt(s) : s;
}

function bruteForce(
  docs: Doc[],
  metric: MetricName,
  q: Float32Array,
  k: number,
  pred: (p: Payload) => boolean,
): { id: number | string; score: number }[] {
  const scored = docs
    .filter((d) => pred(d.payload))
    .map((d) => ({ id: d.id, score: score(metric, q, d.vector) }));
  scored.sort((a, b) => (metric === 'euclid' ? a.score - b.score : b.score - a.score));
  return scored.slice(0, k);
}

function assertSame(got: SearchHit[], want: { id: number | string; score: number }[]): void {
  assert.equal(got.length, want.length);
  got.forEach((h, i) => {
    assert.equal(h.id, want[i]!.id, `rank ${i}`);
    assert.ok(
      Math.abs(h.score - want[i]!.score) <= 1e-6 * Math.max(1, Math.abs(want[i]!.score)),
      `score at rank ${i}: ${h.score} vs ${want[i]!.score}`,
    );
  });
}

const FILTERS: { name: string; filter: JsonObject; pred: (p: Payload) => boolean }[] = [
  { name: 'no filter', filter: {}, pred: () => true },
  { name: 'equality', filter: { cat: 'a' }, pred: (p) => p['cat'] === 'a' },
  {
    name: 'range and $in',
    filter: { price: { $lt: 30 }, cat: { $in: ['b', 'c'] } },
    pred: (p) => (p['price'] as number) < 30 && ['b', 'c'].includes(p['cat'] as string),
  },
  {
    name: '$or with array field',
    filter: { $or: [{ tags: 't1' }, { price: { $gte: 95 } }] },
    pred: (p) => (p['tags'] as string[]).includes('t1') || (p['price'] as number) >= 95,
  },
  { name: 'rare (few matches)', filter: { price: 7 }, pred: (p) => p['price'] === 7 },
  { name: 'nothing matches', filter: { cat: 'zzz' }, pred: () => false },
];

describe('exact search equals brute force', () => {
  for (const metric of ['cosine', 'euclid', 'dot'] as const) {
    test(metric, async (t) => {
      const rand = rng(metric.length * 1000 + 7);
      const db = await Quiver.open(tempDir(t), { fsync: 'none' });
      const c = await db.createCollection('c', { dimension: DIM, metric });
      const docs: Doc[] = [];
      const input = [];
      for (let i = 0; i < N; i++) {
        const v = randomVector(rand, DIM);
        const payload: Payload = {
          cat: ['a', 'b', 'c', 'd'][i % 4]!,
          price: Math.floor(rand() * 100),
          tags: [`t${i % 5}`, `t${(i * 3) % 7}`],
        };
        const id = i % 3 === 0 ? `s${i}` : i;
        docs.push({ id, vector: prepare(v, metric), payload });
        input.push({ id, vector: v, payload });
      }
      await c.upsert(input);
      for (let qn = 0; qn < 10; qn++) {
        const qv = randomVector(rand, DIM);
        const q = prepare(qv, metric);
        for (const f of FILTERS) {
          for (const k of [1, 10, 50, N + 10]) {
            const want = bruteForce(docs, metric, q, k, f.pred);
            const got = await c.search(qv, { k, filter: f.filter, exact: true });
            assertSame(got, want);
            if (k === 10) {
              // What search does by default (no index yet, or the planner's exact path) agrees.
              assertSame(await c.search(qv, { k, filter: f.filter }), want);
            }
          }
        }
      }
      await db.close();
    });
  }
});
