/**
 * Payload postings (property test, fast-check): over random payloads (scalars, arrays,
 * nested objects and arrays of objects, null, missing fields) and random filters, the
 * candidates always contain every match of the compiled filter; for a lone `eq` / `in` of
 * scalars they are exactly the matches; shapes postings cannot narrow give undefined.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { JsonValue, Payload } from '../common/types.js';
import type { FieldPath, FilterNode } from './filter-ast.js';
import { Filter } from './filter-ast.js';
import { compileFilter, filterSource } from './filter-evaluator.js';
import { candidateSlots, PayloadPostings } from './payload-postings.js';

const seed = Number(process.env['QUIVER_SEED'] ?? Math.floor(Math.random() * 0x7fffffff));
const numRuns = Number(process.env['QUIVER_RUNS'] ?? 300);
console.log(`postings properties: QUIVER_SEED=${seed} QUIVER_RUNS=${numRuns} (set both to replay)`);

const scalar = fc.oneof(
  fc.constantFrom('a', 'b', 'c', ''),
  fc.constantFrom(0, 1, 2, -0, 1.5),
  fc.boolean(),
  fc.constant(null),
);
const value: fc.Arbitrary<JsonValue> = fc.oneof(
  { weight: 4, arbitrary: scalar },
  { weight: 2, arbitrary: fc.array(scalar, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.record({ x: scalar, y: fc.array(scalar, { maxLength: 2 }) }) },
  {
    weight: 1,
    arbitrary: fc.array(fc.record({ x: scalar }), { maxLength: 2 }),
  },
);
const payload: fc.Arbitrary<Payload | undefined> = fc.option(
  fc.record({ f: value, g: value }, { requiredKeys: [] }),
  { nil: undefined, freq: 8 },
);
const path: fc.Arbitrary<FieldPath> = fc.constantFrom(['f'], ['g'], ['f', 'x'], ['f', 'y']);

const leaf: fc.Arbitrary<FilterNode> = fc.oneof(
  fc.tuple(path, scalar).map(([p, v]) => Filter.eq(p.join('.'), v)),
  fc
    .tuple(path, fc.array(scalar, { minLength: 1, maxLength: 3 }))
    .map(([p, vs]) => Filter.in(p.join('.'), vs)),
  fc.tuple(path, fc.array(scalar, { maxLength: 2 })).map(([p, v]) => Filter.eq(p.join('.'), v)),
  path.map((p) => Filter.exists(p.join('.'))),
  path.map((p) => Filter.range(p.join('.'), { gte: 1 })),
);
const node: fc.Arbitrary<FilterNode> = fc.oneof(
  { weight: 3, arbitrary: leaf },
  {
    weight: 2,
    arbitrary: fc.array(leaf, { minLength: 1, maxLength: 3 }).map((c) => Filter.and(c)),
  },
  {
    weight: 1,
    arbitrary: fc.array(leaf, { minLength: 1, maxLength: 2 }).map((c) => Filter.or(c)),
  },
);

test('candidates contain every match; a lone scalar eq/in gives exactly the matches', () => {
  fc.assert(
    fc.property(fc.array(payload, { maxLength: 40 }), node, (payloads, filter) => {
      const cache = new Map<string, PayloadPostings>();
      const postingsOf = (p: FieldPath): PayloadPostings => {
        const key = p.join('.');
        let postings = cache.get(key);
        if (postings === undefined) {
          postings = PayloadPostings.build(p, payloads.length, (slot) => payloads[slot]);
          cache.set(key, postings);
        }
        return postings;
      };
      const match = compileFilter(filter);
      assert.equal(filterSource(match), filter);
      const matches = payloads.flatMap((p, slot) =>
        p !== undefined && match(p, slot) ? [slot] : [],
      );
      const candidates = candidateSlots(filter, postingsOf);
      const scalarLeaf =
        (filter.kind === 'eq' && (filter.value === null || typeof filter.value !== 'object')) ||
        (filter.kind === 'in' && filter.values.every((v) => v === null || typeof v !== 'object'));
      if (candidates === undefined) {
        assert.ok(!scalarLeaf, `a scalar ${filter.kind} must narrow`);
        return;
      }
      for (let i = 1; i < candidates.length; i++) assert.ok(candidates[i - 1]! < candidates[i]!);
      const set = new Set(candidates);
      for (const slot of matches) assert.ok(set.has(slot), `match ${slot} missing from candidates`);
      if (scalarLeaf) assert.deepEqual([...candidates], matches);
    }),
    { seed, numRuns },
  );
});

test('shapes postings cannot narrow answer undefined', () => {
  const postingsOf = (p: FieldPath): PayloadPostings =>
    PayloadPostings.build(p, 1, () => ({ f: 1 }));
  assert.equal(
    candidateSlots(Filter.or([Filter.eq('f', 1), Filter.eq('g', 2)]), postingsOf),
    undefined,
  );
  assert.equal(candidateSlots(Filter.not(Filter.eq('f', 1)), postingsOf), undefined);
  assert.equal(candidateSlots(Filter.eq('f', [1]), postingsOf), undefined);
  assert.deepEqual(
    candidateSlots(Filter.and([Filter.exists('f'), Filter.eq('f', 1)]), postingsOf),
    [0],
  );
  assert.equal(
    candidateSlots(Filter.eq('f', 1), () => undefined),
    undefined,
    'a path without postings (past the cap) is scanned',
  );
});

/** Postings of `f` over payloads where slot s holds f = s % 3, plus g = 'x' on slot 0 only. */
function smallPostings(): (p: FieldPath) => PayloadPostings | undefined {
  const payloads: (Payload | undefined)[] = [0, 1, 2, 3, 4, 5].map((s) =>
    s === 4 ? undefined : { f: s % 3, ...(s === 0 ? { g: 'x' } : {}) },
  );
  const built = new Map<string, PayloadPostings>();
  return (p) => {
    const key = p.join('.');
    if (key !== 'f' && key !== 'g') return undefined;
    let got = built.get(key);
    if (got === undefined) {
      got = PayloadPostings.build(p, payloads.length, (s) => payloads[s]);
      built.set(key, got);
    }
    return got;
  };
}

test('an and takes the narrowest child, whatever its position', () => {
  const of = smallPostings();
  const wide = Filter.in('f', [0, 1]); // slots 0, 1, 3
  const narrow = Filter.eq('g', 'x'); // slot 0
  assert.deepEqual(candidateSlots(Filter.and([wide, narrow]), of), [0]);
  assert.deepEqual(candidateSlots(Filter.and([narrow, wide]), of), [0]);
  // Equal lengths keep the first; a child without postings never wins.
  assert.deepEqual(candidateSlots(Filter.and([Filter.eq('f', 1), Filter.eq('g', 'x')]), of), [1]);
  assert.deepEqual(candidateSlots(Filter.and([Filter.eq('g', 'x'), Filter.eq('f', 1)]), of), [0]);
  assert.deepEqual(candidateSlots(Filter.and([Filter.eq('h', 1), Filter.eq('f', 2)]), of), [2, 5]);
  assert.equal(candidateSlots(Filter.and([Filter.eq('h', 1), Filter.exists('f')]), of), undefined);
});

test('in: one value is its list, several their sorted union; non-scalars and unindexed paths do not narrow', () => {
  const of = smallPostings();
  assert.deepEqual(candidateSlots(Filter.in('f', [2]), of), [2, 5]);
  assert.deepEqual(candidateSlots(Filter.in('f', [2, 0]), of), [0, 2, 3, 5]);
  assert.equal(candidateSlots(Filter.in('f', [1, { a: 1 }]), of), undefined);
  assert.equal(candidateSlots(Filter.in('f', [[1]]), of), undefined);
  assert.equal(candidateSlots(Filter.in('h', [1]), of), undefined);
  assert.equal(candidateSlots(Filter.eq('f', { a: 1 }), of), undefined);
});

test('postings skip missing payloads and count their entries and values', () => {
  const postings = smallPostings()(['f'])!;
  assert.equal(postings.size, 3, 'values 0, 1, 2');
  assert.deepEqual(postings.slots(1), [1]);
  assert.deepEqual(postings.slots(7), []);
  // Five payloads hold f (slot 4 has none): 5 entries × 8 + 3 values × 80.
  assert.equal(postings.bytes, 5 * 8 + 3 * 80);
  const arrays = PayloadPostings.build(['t'], 2, (s) => ({ t: s === 0 ? ['a', 'a', 'b'] : null }));
  assert.deepEqual(arrays.slots('a'), [0], 'a value repeated in one array is one entry');
  assert.deepEqual(arrays.slots(null), [1]);
  assert.equal(arrays.bytes, 3 * 8 + 3 * 80);
});
