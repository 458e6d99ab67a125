/**
 * The Filter factory: nodes are deeply frozen and detached from the caller's values,
 * combinators simplify, and invalid arguments are INVALID_ARGUMENT.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isQuiverError } from '../common/quiver-error.js';
import {
  Filter,
  MAX_FILTER_DEPTH,
  formatPath,
  freezeJsonValue,
  isFilterNode,
} from './filter-ast.js';
import type { FilterNode } from './filter-ast.js';

/** True when `value` and everything reachable from it is frozen. */
function deeplyFrozen(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (!Object.isFrozen(value)) return false;
  return Object.values(value).every(deeplyFrozen);
}

function assertInvalid(build: () => unknown, ...fragments: string[]): void {
  assert.throws(build, (e: unknown) => {
    assert.ok(isQuiverError(e, 'INVALID_ARGUMENT'), `expected INVALID_ARGUMENT, got ${String(e)}`);
    for (const fragment of fragments) assert.ok(e.message.includes(fragment), e.message);
    return true;
  });
}

const lang = Filter.eq('lang', 'en');
const cheap = Filter.range('price', { lt: 100 });

void describe('Filter factory', () => {
  void test('every node is deeply frozen', () => {
    const nodes: FilterNode[] = [
      Filter.all(),
      Filter.none(),
      Filter.and([lang, cheap]),
      Filter.or([lang, cheap]),
      Filter.not(lang),
      Filter.atLeast(2, [lang, cheap, Filter.exists('a')]),
      Filter.eq('meta.author', { name: 'ada', tags: ['x', { deep: [1] }] }),
      Filter.in('tags', ['a', ['b'], { c: 1 }]),
      Filter.except('tags', ['a']),
      Filter.range('price', { gte: 1, lt: 2 }),
      Filter.dateRange('at', { gt: 0 }),
      Filter.exists('a'),
      Filter.isEmpty('a'),
      Filter.isNull('a'),
      Filter.text('a', 'x'),
      Filter.valuesCount('a', { gt: 1 }),
      Filter.hasId([3, 'x', 1]),
      Filter.nested('reviews', Filter.and([lang, cheap])),
    ];
    for (const node of nodes) {
      assert.ok(deeplyFrozen(node), `${node.kind} is not deeply frozen`);
      assert.ok(isFilterNode(node));
      assert.throws(() => {
        (node as { kind: string }).kind = 'changed';
      }, TypeError);
    }
    const and = Filter.and([lang, cheap]);
    assert.equal(and.kind, 'and');
    if (and.kind === 'and') {
      assert.throws(() => (and.children as FilterNode[]).push(lang), TypeError);
    }
  });

  void test('values are copied: the caller may keep changing its own objects', () => {
    const value = { author: 'ada', tags: ['x'] };
    const node = Filter.eq('meta', value);
    value.author = 'alan';
    value.tags.push('y');
    assert.equal(Object.isFrozen(value), false);
    assert.deepEqual(node.value, { author: 'ada', tags: ['x'] });
    const path = ['meta', 'author'];
    const eq = Filter.eq(path, 'ada');
    path[0] = 'other';
    assert.deepEqual(eq.path, ['meta', 'author']);
  });

  void test('paths: dotted strings split, arrays keep keys with dots', () => {
    assert.deepEqual(Filter.exists('meta.author').path, ['meta', 'author']);
    assert.deepEqual(Filter.exists(['a.b', 'c']).path, ['a.b', 'c']);
    assert.equal(formatPath(['meta', 'author']), 'meta.author');
  });

  void test('combinators simplify as they build', () => {
    assert.equal(Filter.and([]), Filter.all());
    assert.equal(Filter.and([lang]), lang);
    assert.equal(Filter.and([Filter.all(), lang]), lang);
    assert.equal(Filter.and([lang, Filter.none()]), Filter.none());
    assert.deepEqual(Filter.and([Filter.and([lang, cheap]), lang]), {
      kind: 'and',
      children: [lang, cheap, lang],
    });
    assert.equal(Filter.or([]), Filter.none());
    assert.equal(Filter.or([lang, Filter.all()]), Filter.all());
    assert.deepEqual(Filter.or([Filter.or([lang]), cheap]), {
      kind: 'or',
      children: [lang, cheap],
    });
    assert.equal(Filter.not(Filter.not(lang)), lang);
    assert.equal(Filter.atLeast(0, [lang]), Filter.all());
    assert.equal(Filter.atLeast(2, [lang]), Filter.none());
    assert.deepEqual(Filter.atLeast(1, [lang, cheap]), Filter.or([lang, cheap]));
    assert.deepEqual(Filter.atLeast(2, [lang, cheap]), Filter.and([lang, cheap]));
    assert.equal(Filter.isNull('a').kind, 'eq');
  });

  void test('hasId keeps each id once, sorted integers first', () => {
    assert.deepEqual(Filter.hasId(['b', 3, 1, 'a', 3]).ids, [1, 3, 'a', 'b']);
  });

  void test('"__proto__" keys in values stay data', () => {
    const value = freezeJsonValue(JSON.parse('{"__proto__": {"x": 1}}'), 'v');
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.deepEqual(Object.keys(value as object), ['__proto__']);
  });

  void test('invalid arguments are INVALID_ARGUMENT saying what is wrong', () => {
    assertInvalid(() => Filter.eq('', 1), 'empty');
    assertInvalid(() => Filter.eq('a..b', 1), 'a..b');
    assertInvalid(() => Filter.eq([], 1), 'empty');
    assertInvalid(() => Filter.eq('a', NaN), 'NaN');
    assertInvalid(() => Filter.eq('a', { at: new Date() } as never), 'Date', 'value.at');
    assertInvalid(() => Filter.eq('a', undefined as never), 'undefined');
    assertInvalid(() => Filter.in('a', 'x' as never), 'array');
    assertInvalid(() => Filter.in('a', [1, Infinity]), 'values[1]', 'Infinity');
    assertInvalid(() => Filter.range('a', {}), 'no bound');
    assertInvalid(() => Filter.range('a', { gt: 1, lt: 'z' } as never), 'lt', 'number');
    assertInvalid(() => Filter.range('a', { above: 1 } as never), 'above');
    assertInvalid(() => Filter.atLeast(-1, [lang]), 'min');
    assertInvalid(() => Filter.atLeast(1.5, [lang]), 'min');
    assertInvalid(() => Filter.hasId([-1]), 'hasId');
    assertInvalid(() => Filter.text('a', 5 as never), 'text');
    const forged = Object.freeze({ kind: 'eq', path: ['a'], value: 1 }) as FilterNode;
    assert.equal(isFilterNode(forged), false);
    assertInvalid(() => Filter.and([lang, forged]), 'Filter.and[1]', 'filter node');
    assertInvalid(() => Filter.not(forged), 'Filter.not');
  });

  void test(`values nest at most ${MAX_FILTER_DEPTH} levels, cycles included`, () => {
    let deep: unknown = 1;
    for (let i = 0; i < MAX_FILTER_DEPTH; i++) deep = [deep];
    assert.doesNotThrow(() => freezeJsonValue(deep, 'v'));
    assertInvalid(() => freezeJsonValue([deep], 'v'), String(MAX_FILTER_DEPTH));
    const cycle: Record<string, unknown> = {};
    cycle['self'] = cycle;
    assertInvalid(() => Filter.eq('a', cycle as never), 'refers to itself');
  });
});

// Each case below pins behaviour that mutation testing showed no test noticed (filter-ast.ts
// was at 77.4 %): the factory's own checks, the names its errors carry, and simplifications.
describe('Filter factory: checks and messages mutation testing found unpinned', () => {
  const nop = Filter.eq('a', 1);
  /** The message and `field` name the factory (or the path inside it) that was misused. */
  function invalidAt(build: () => unknown, field: string, ...fragments: string[]): void {
    assert.throws(build, (e: unknown) => {
      assert.ok(isQuiverError(e, 'INVALID_ARGUMENT'), String(e));
      assert.equal(e.details.field, field, e.message);
      assert.ok(e.message.startsWith(`Invalid filter at ${field}: `), e.message);
      for (const f of fragments) assert.ok(e.message.includes(f), e.message);
      return true;
    });
  }

  test('only factory-made nodes are filter nodes', () => {
    assert.equal(isFilterNode({ kind: 'eq', path: ['a'], value: 1 }), false);
    assert.equal(isFilterNode(Object.freeze({ kind: 'all' })), false);
    assert.equal(isFilterNode(null), false);
    assert.equal(isFilterNode(undefined), false);
    assert.equal(isFilterNode('all'), false);
    assert.equal(isFilterNode(nop), true);
  });

  test('every factory names itself when its path is bad', () => {
    const cases: [string, (p: string) => unknown][] = [
      ['Filter.eq', (p) => Filter.eq(p, 1)],
      ['Filter.in', (p) => Filter.in(p, [1])],
      ['Filter.except', (p) => Filter.except(p, [1])],
      ['Filter.range', (p) => Filter.range(p, { gt: 1 })],
      ['Filter.dateRange', (p) => Filter.dateRange(p, { gt: 1 })],
      ['Filter.exists', (p) => Filter.exists(p)],
      ['Filter.isEmpty', (p) => Filter.isEmpty(p)],
      ['Filter.text', (p) => Filter.text(p, 'x')],
      ['Filter.valuesCount', (p) => Filter.valuesCount(p, { gt: 1 })],
      ['Filter.nested', (p) => Filter.nested(p, nop)],
    ];
    for (const [name, build] of cases) {
      invalidAt(() => build(''), name, 'the field path "" has an empty key');
      invalidAt(
        () => build([] as unknown as string),
        name,
        'the field path is empty',
        "Name a field, e.g. 'meta.au",
      );
    }
    invalidAt(
      () => Filter.eq(['a', ''], 1),
      'Filter.eq',
      "Name every key of a dotted path, e.g. 'meta.author'.",
    );
    invalidAt(() => Filter.eq(['a', 5 as unknown as string], 1), 'Filter.eq');
  });

  test('combinators take arrays of factory-made nodes, and or flattens', () => {
    invalidAt(
      () => Filter.and('x' as unknown as FilterNode[]),
      'Filter.and',
      'children must be an array of filter nodes',
      'Build them with Filter.',
    );
    invalidAt(
      () => Filter.or([{ kind: 'all' }]),
      'Filter.or[0]',
      'Build nodes with the Filter factory (Filter.eq, Filter.and, …).',
    );
    invalidAt(() => Filter.atLeast(2, [{} as FilterNode]), 'Filter.atLeast[0]');
    invalidAt(() => Filter.nested('a', {} as FilterNode), 'Filter.nested[0]');
    invalidAt(
      () => Filter.atLeast(-1, [nop]),
      'Filter.atLeast',
      'Pass how many children must match.',
    );
    const b = Filter.eq('b', 2);
    const c = Filter.eq('c', 3);
    assert.equal(Filter.or([nop]), nop, 'an or of one is that one');
    const flat = Filter.or([Filter.or([nop, b]), c]);
    assert.equal(flat.kind, 'or');
    assert.deepEqual(flat.kind === 'or' ? flat.children : [], [nop, b, c]);
  });

  test('bounds: an object of gt, gte, lt, lte of one type; undefined ones are left out', () => {
    invalidAt(
      () => Filter.range('x', 5 as unknown as { gt: number }),
      'Filter.range bounds',
      'bounds must be an object, got number',
      'Write bounds such as { gte: 1, lt: 10 }.',
    );
    invalidAt(
      () => Filter.range('x', {}),
      'Filter.range bounds',
      'no bound is given',
      'Give at least one of gt, gte, lt,',
    );
    invalidAt(
      () => Filter.range('x', { gte: 1, near: 2 } as unknown as { gte: number }),
      'Filter.range bounds.near',
      'unknown bound "near"',
      'Bounds are gt, gte, lt and lte.',
    );
    invalidAt(
      () => Filter.range('x', { gte: NaN }),
      'Filter.range bounds.gte',
      'the bound must be a finite number, got NaN',
      'Use a finite number.',
    );
    invalidAt(
      () => Filter.range('x', { gte: 'a', lt: 5 } as unknown as { gte: string }),
      'Filter.range bounds.gte',
      'the bound must be a finite number, got string',
    );
    invalidAt(
      () => Filter.dateRange('t', { gte: '2025' as unknown as number }),
      'Filter.dateRange bounds.gte',
      'the bound must be epoch ms, got string',
      'Use epoch ms.',
    );
    invalidAt(
      () => Filter.valuesCount('v', { gte: Infinity }),
      'Filter.valuesCount bounds.gte',
      'the bound must be a number, got Infinity',
    );
    const open = Filter.range('x', { gte: 1, lt: undefined } as unknown as { gte: number });
    assert.deepEqual(open.kind === 'range' ? open.bounds : undefined, { gte: 1 });
    const words = Filter.range('x', { gte: 'a', lte: 'b' });
    assert.deepEqual(words.kind === 'range' ? words.bounds : undefined, { gte: 'a', lte: 'b' });
  });

  test('values must be JSON, and the error says which kind was given', () => {
    invalidAt(
      () => Filter.eq('x', NaN),
      'Filter.eq value',
      'NaN is not a JSON number',
      'Use a finite number (JSON has no NaN or Infinity).',
    );
    invalidAt(
      () => Filter.eq('x', undefined as unknown as number),
      'Filter.eq value',
      'undefined is not a JSON value',
      'Leave the key out instead of setting it to undefined.',
    );
    invalidAt(
      () => Filter.eq('x', (() => 1) as unknown as number),
      'Filter.eq value',
      'a function is not a JSON value',
    );
    invalidAt(
      () => Filter.except('x', 'en' as unknown as string[]),
      'Filter.except values',
      "Pass a list such as ['en', 'de'].",
    );
    invalidAt(
      () => Filter.text('x', new Date() as unknown as string),
      'Filter.text',
      'text must be a string, got Date',
      'Pass the substring to look for.',
    );
    invalidAt(() => Filter.text('x', Object.create(null) as string), 'Filter.text', 'got object');
    class Anonymous {}
    Object.defineProperty(Anonymous, 'name', { value: '' });
    invalidAt(
      () => Filter.text('x', new Anonymous() as unknown as string),
      'Filter.text',
      'got object',
    );
    invalidAt(
      () => Filter.hasId('x' as unknown as number[]),
      'Filter.hasId',
      'ids must be an array, got string',
      'Pass a list of point ids.',
    );
  });

  test('idBucket: a shard count and distinct shard numbers within it, sorted', () => {
    invalidAt(
      () => Filter.idBucket(0, [0]),
      'Filter.idBucket',
      'count must be a whole number ≥ 1, got 0',
      'Pass the number of shards.',
    );
    for (const bad of [[4], [-1], [1.5]]) {
      invalidAt(
        () => Filter.idBucket(4, bad),
        'Filter.idBucket',
        'buckets must be whole numbers from 0 to 3',
        'Pass the shard numbers.',
      );
    }
    const node = Filter.idBucket(4, [3, 1, 3, 0]);
    assert.deepEqual(node.buckets, [0, 1, 3]);
  });
});
