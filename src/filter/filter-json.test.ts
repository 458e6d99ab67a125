/**
 * filterFromJson: any node the factory builds survives JSON and comes back equal (property
 * test over generated trees), and what is not a node is refused with INVALID_ARGUMENT.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { FilterNode } from './filter-ast.js';
import { Filter, MAX_FILTER_DEPTH } from './filter-ast.js';
import { filterFromJson } from './filter-json.js';

const pathArb = fc.constantFrom(['a'], ['a', 'b'], ['c']);
const scalarArb = fc.oneof(
  fc.integer({ min: -5, max: 5 }),
  fc.constantFrom('x', 'yz', ''),
  fc.boolean(),
);
const idArb = fc.oneof(fc.nat(1000), fc.uuid());

const leafArb: fc.Arbitrary<FilterNode> = fc.oneof(
  fc.tuple(pathArb, scalarArb).map(([p, v]) => Filter.eq(p, v)),
  fc.tuple(pathArb, fc.array(scalarArb, { maxLength: 3 })).map(([p, v]) => Filter.in(p, v)),
  fc.tuple(pathArb, fc.array(scalarArb, { maxLength: 3 })).map(([p, v]) => Filter.except(p, v)),
  fc
    .tuple(pathArb, fc.integer(), fc.integer())
    .map(([p, a, b]) => Filter.range(p, { gte: Math.min(a, b), lt: Math.max(a, b) + 1 })),
  fc.tuple(pathArb, fc.nat()).map(([p, t]) => Filter.dateRange(p, { gt: t })),
  pathArb.map((p) => Filter.exists(p)),
  pathArb.map((p) => Filter.isEmpty(p)),
  fc.tuple(pathArb, fc.string({ maxLength: 4 })).map(([p, t]) => Filter.text(p, t)),
  fc.tuple(pathArb, fc.nat(4)).map(([p, n]) => Filter.valuesCount(p, { lte: n })),
  fc.array(idArb, { maxLength: 4 }).map((ids) => Filter.hasId(ids)),
  fc
    .integer({ min: 1, max: 8 })
    .chain((n) => fc.tuple(fc.constant(n), fc.array(fc.nat(n - 1), { maxLength: 4 })))
    .map(([n, b]) => Filter.idBucket(n, b)),
  fc.constant(Filter.all()),
);

const treeArb = fc.letrec<{ node: FilterNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafArb,
    fc.array(tie('node'), { maxLength: 3 }).map((c) => Filter.and(c)),
    fc.array(tie('node'), { maxLength: 3 }).map((c) => Filter.or(c)),
    tie('node').map((c) => Filter.not(c)),
    fc
      .tuple(fc.nat(3), fc.array(tie('node'), { maxLength: 3 }))
      .map(([m, c]) => Filter.atLeast(m, c)),
    fc.tuple(pathArb, tie('node')).map(([p, f]) => Filter.nested(p, f)),
  ),
})).node;

describe('filterFromJson', () => {
  it('rebuilds every factory-made node from its JSON, equal to the original', () => {
    fc.assert(
      fc.property(treeArb, (node) => {
        const back = filterFromJson(JSON.parse(JSON.stringify(node)));
        assert.deepEqual(back, node);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses what is not a filter node', () => {
    for (const bad of [
      null,
      7,
      [],
      { kind: 'nope' },
      { kind: 'and', children: 'x' },
      { kind: 'eq', path: 5, value: 1 },
      { kind: 'range', path: ['a'], bounds: {} },
      { kind: 'idBucket', count: 3, buckets: [3] },
      { kind: 'idBucket', count: 0, buckets: [] },
      { kind: 'not', child: { kind: 'hasId', ids: [{}] } },
    ]) {
      assert.throws(
        () => filterFromJson(bad),
        (e: Error & { code?: string }) => e.code === 'INVALID_ARGUMENT',
        JSON.stringify(bad),
      );
    }
  });

  it('refuses a filter nested too deep', () => {
    let deep: unknown = { kind: 'exists', path: ['a'] };
    for (let i = 0; i < 40; i++) deep = { kind: 'not', child: { kind: 'not', child: deep } };
    assert.throws(() => filterFromJson(deep), /deeper/);
  });
});

describe('filterFromJson: limits and messages (mutation testing found them unpinned)', () => {
  const refused = (value: unknown, ...fragments: string[]): void => {
    assert.throws(
      () => filterFromJson(value),
      (e: unknown) => {
        assert.ok(e instanceof Error && 'code' in e && e.code === 'INVALID_ARGUMENT', String(e));
        assert.ok(e.message.startsWith('Invalid filter at filterFromJson: '), e.message);
        for (const f of fragments) assert.ok(e.message.includes(f), e.message);
        return true;
      },
    );
  };

  it('counts depth through children and nested filters', () => {
    const leaf = { kind: 'eq', path: ['a'], value: 1 };
    const viaAnd = (n: number): unknown =>
      n === 0 ? leaf : { kind: 'and', children: [viaAnd(n - 1), leaf] };
    const viaNested = (n: number): unknown =>
      n === 0 ? leaf : { kind: 'nested', path: ['n'], filter: viaNested(n - 1) };
    for (const build of [viaAnd, viaNested]) {
      assert.doesNotThrow(() => filterFromJson(build(MAX_FILTER_DEPTH - 1)));
      refused(
        build(MAX_FILTER_DEPTH + 1),
        `nested deeper than ${MAX_FILTER_DEPTH} levels`,
        'Send a flatter filter.',
      );
    }
  });

  it('names what it was given', () => {
    refused('eq', 'a filter node must be an object, got string', 'Send a FilterNode as JSON.');
    refused({ kind: 'near' }, 'unknown filter node kind "near"', 'Send a FilterNode as JSON.');
    refused(
      { kind: 'and', children: 'x' },
      'expected an array, got string',
      'Send a FilterNode as JSON.',
    );
  });
});
