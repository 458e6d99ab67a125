/**
 * PointTable's search planner: which plan (exact scan, graph, filtered exact, filtered
 * graph, empty) it picks just below and just above each threshold — the segment size,
 * the filter's match count (and `ef`, which raises it), `exact`, an exact index — and that
 * deferred vectors and frozen payload postings do not change what a search finds.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PointId } from '../common/types.js';
import type { CompiledFilter } from '../filter/filter-evaluator.js';
import { compileFilter } from '../filter/filter-evaluator.js';
import { parseMongoFilter } from '../filter/mongo-filter-parser.js';
import { ExactIndex } from '../ann/exact-index.js';
import { createHnswIndex } from '../ann/hnsw/hnsw-index.js';
import { seededRandom } from '../ann/hnsw/hnsw.fixtures.js';
import {
  EXACT_FILTER_THRESHOLD,
  EXACT_SEGMENT_THRESHOLD,
  PointTable,
  setExactFilterThreshold,
} from './point-table.js';
import type { SegmentSearchOptions } from './segment.js';

const DIM = 8;
const random = seededRandom(3);
const vectors = Array.from({ length: EXACT_FILTER_THRESHOLD + 100 }, () =>
  Float32Array.from({ length: DIM }, () => random() * 2 - 1),
);
const query = vectors[0]!;

/** A table over an HNSW index (or an exact one) holding ids 0..count-1, payload { g: id % 10 }. */
function tableOf(count: number, exactIndex = false, defer = false): PointTable {
  const index = exactIndex
    ? new ExactIndex(DIM, 'euclid')
    : createHnswIndex({ dimension: DIM, metric: 'euclid', efConstruction: 16 });
  const table = new PointTable(index);
  for (let id = 0; id < count; id++) table.append(id, vectors[id]!, { g: id % 10 }, defer);
  return table;
}

function options(overrides: Partial<SegmentSearchOptions> = {}): SegmentSearchOptions {
  return { k: 10, ef: 64, exact: false, filter: undefined, withVector: false, ...overrides };
}

/** Admits ids below `n`: exactly n matches in a table of more. */
function idsBelow(n: number): CompiledFilter {
  return (_payload, id: PointId) => (id as number) < n;
}

function planOf(table: PointTable, overrides: Partial<SegmentSearchOptions> = {}): string {
  return table.search(query, options(overrides)).stats.plan;
}

describe('PointTable.plan: segment size', () => {
  const atThreshold = tableOf(EXACT_SEGMENT_THRESHOLD);
  const aboveThreshold = tableOf(EXACT_SEGMENT_THRESHOLD + 1);

  it(`scans a segment of ${EXACT_SEGMENT_THRESHOLD} live points exactly`, () => {
    assert.equal(planOf(atThreshold), 'exact-scan');
  });

  it(`walks the graph of a segment of ${EXACT_SEGMENT_THRESHOLD + 1}`, () => {
    assert.equal(planOf(aboveThreshold), 'hnsw');
    assert.equal(aboveThreshold.search(query, options()).stats.candidates, 257);
  });

  it('counts live points, not slots: a delete brings the segment back to a scan', () => {
    const table = tableOf(EXACT_SEGMENT_THRESHOLD + 1);
    table.remove(5);
    assert.equal(table.slots, EXACT_SEGMENT_THRESHOLD + 1);
    assert.equal(planOf(table), 'exact-scan');
    assert.ok(!table.search(query, options({ k: 300 })).hits.some((h) => h.id === 5));
  });

  it('scans exactly when asked, whatever the size', () => {
    assert.equal(planOf(aboveThreshold, { exact: true }), 'exact-scan');
  });

  it('always scans an exact index', () => {
    assert.equal(planOf(tableOf(EXACT_SEGMENT_THRESHOLD + 50, true)), 'exact-scan');
  });

  it('plans nothing for an empty table', () => {
    const empty = tableOf(0);
    const r = empty.search(query, options());
    assert.equal(r.stats.plan, 'empty');
    assert.deepEqual(r.hits, []);
  });
});

describe('PointTable.plan: filters at the default threshold', () => {
  const table = tableOf(EXACT_FILTER_THRESHOLD + 100);

  it(`scans the matches of a filter that admits ${EXACT_FILTER_THRESHOLD - 1}`, () => {
    const r = table.search(query, options({ filter: idsBelow(EXACT_FILTER_THRESHOLD - 1) }));
    assert.equal(r.stats.plan, 'exact-filtered');
    assert.equal(r.stats.filterMatches, EXACT_FILTER_THRESHOLD - 1);
  });

  it(`walks the graph for a filter that admits ${EXACT_FILTER_THRESHOLD}`, () => {
    const r = table.search(query, options({ filter: idsBelow(EXACT_FILTER_THRESHOLD) }));
    assert.equal(r.stats.plan, 'hnsw-filtered');
    assert.equal(r.stats.filterMatches, EXACT_FILTER_THRESHOLD);
  });

  it('plans nothing when the filter admits nothing', () => {
    const r = table.search(query, options({ filter: () => false }));
    assert.equal(r.stats.plan, 'empty');
    assert.equal(r.stats.filterMatches, 0);
  });

  it('scans exactly when asked, filter or not', () => {
    const r = table.search(query, options({ exact: true, filter: idsBelow(2050) }));
    assert.equal(r.stats.plan, 'exact-filtered');
  });
});

describe('PointTable.plan: a lowered threshold, and ef', () => {
  // In hooks, not the describe body: bodies run while tests are collected, before any test.
  before(() => setExactFilterThreshold(100));
  after(() => setExactFilterThreshold(undefined));
  const table = tableOf(600);

  it('scans 99 matches and walks the graph for 100', () => {
    assert.equal(planOf(table, { filter: idsBelow(99) }), 'exact-filtered');
    assert.equal(planOf(table, { filter: idsBelow(100) }), 'hnsw-filtered');
  });

  it('raises the threshold to ef: 100 matches are scanned when ef is 101', () => {
    assert.equal(planOf(table, { filter: idsBelow(100), ef: 101 }), 'exact-filtered');
    assert.equal(planOf(table, { filter: idsBelow(101), ef: 101 }), 'hnsw-filtered');
  });

  it('returns only admitted points from either plan', () => {
    for (const n of [99, 100, 300]) {
      const hits = table.search(vectors[500]!, options({ filter: idsBelow(n) })).hits;
      assert.equal(hits.length, 10);
      for (const h of hits) assert.ok((h.id as number) < n, `id ${String(h.id)} of ${n}`);
    }
  });
});

describe('PointTable: deferred vectors and frozen postings', () => {
  it('finds vectors still waiting for the graph, and after they are indexed', () => {
    const table = tableOf(400, false, true);
    assert.equal(table.pendingCount, 400);
    const before = table.search(vectors[123]!, options());
    assert.equal(before.stats.plan, 'hnsw');
    assert.equal(before.hits[0]!.id, 123);
    assert.equal(table.indexPending(1000), 400);
    assert.equal(table.pendingCount, 0);
    assert.deepEqual(
      table.search(vectors[123]!, options()).hits.map((h) => h.id),
      before.hits.map((h) => h.id),
    );
  });

  it('a frozen table narrows a filter through postings and finds the same points', () => {
    const live = tableOf(600);
    const frozen = tableOf(600);
    frozen.freeze();
    const filter = compileFilter(parseMongoFilter({ g: 3 }));
    for (const table of [live, frozen]) {
      const r = table.search(query, options({ filter, exact: true }));
      assert.equal(r.stats.filterMatches, 60);
      assert.ok(r.hits.every((h) => h.payload['g'] === 3));
    }
    const ids = (t: PointTable): PointId[] =>
      t.search(query, options({ filter, exact: true })).hits.map((h) => h.id);
    assert.deepEqual(ids(frozen), ids(live));
  });
});

describe('PointTable.trimIndex', () => {
  it('drops the room kept for growth and keeps every answer, and deletes still apply', () => {
    const table = tableOf(1100);
    table.retire(5);
    const before = table.memoryBytes();
    const answers = vectors.slice(0, 20).map((q) => table.search(q, options()).hits);
    table.trimIndex();
    assert.ok(table.memoryBytes() < before, `${table.memoryBytes()} < ${before}`);
    vectors.slice(0, 20).forEach((q, i) => {
      assert.deepEqual(table.search(q, options()).hits, answers[i]);
    });
    table.retire(6);
    assert.ok(!table.search(vectors[6]!, options()).hits.some((h) => h.id === 6 || h.id === 5));
    const again = table.memoryBytes();
    table.trimIndex();
    assert.equal(table.memoryBytes(), again, 'a trimmed index is not copied again');
  });

  it('leaves a table whose vectors wait for the graph as it is', () => {
    const table = tableOf(1100, false, true);
    const before = table.memoryBytes();
    table.trimIndex();
    assert.equal(table.memoryBytes(), before);
  });
});
