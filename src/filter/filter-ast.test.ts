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
