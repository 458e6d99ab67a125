/**
 * parseMongoFilter: the SPEC's examples, MongoDB's semantics on arrays, nulls and missing
 * fields, and one test per kind of malformed filter.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isQuiverError } from '../common/quiver-error.js';
import type { Payload } from '../common/types.js';
import { Filter, MAX_FILTER_DEPTH } from './filter-ast.js';
import { compileFilter } from './filter-evaluator.js';
import { parseMongoFilter } from './mongo-filter-parser.js';

/** The ids (positions) of `docs` that `filter` matches. */
function select(filter: unknown, docs: readonly Payload[]): number[] {
  const matches = compileFilter(parseMongoFilter(filter));
  return docs.flatMap((doc, i) => (matches(doc, i) ? [i] : []));
}

function assertInvalid(filter: unknown, where: string, ...fragments: string[]): void {
  assert.throws(
    () => parseMongoFilter(filter),
    (e: unknown) => {
      assert.ok(
        isQuiverError(e, 'INVALID_ARGUMENT'),
        `expected INVALID_ARGUMENT, got ${String(e)}`,
      );
      assert.ok(e.message.startsWith(`Invalid filter at ${where}: `), e.message);
      for (const fragment of fragments) assert.ok(e.message.includes(fragment), e.message);
      assert.equal(e.details.field, where);
      return true;
    },
  );
}

function deeplyFrozen(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  return Object.isFrozen(value) && Object.values(value).every(deeplyFrozen);
}

void describe('parseMongoFilter', () => {
  void test("the SPEC's example: { lang: 'en', price: { $lt: 100 } }", () => {
    const node = parseMongoFilter({ lang: 'en', price: { $lt: 100 } });
    assert.deepEqual(
      node,
      Filter.and([Filter.eq('lang', 'en'), Filter.range('price', { lt: 100 })]),
    );
    const docs: Payload[] = [
      { lang: 'en', price: 10 },
      { lang: 'en', price: 100 },
      { lang: 'de', price: 10 },
      { lang: 'en' },
      { lang: 'en', price: '10' },
    ];
    assert.deepEqual(select({ lang: 'en', price: { $lt: 100 } }, docs), [0]);
  });

  void test('the result is deeply frozen and the input is left alone', () => {
    const input = { tags: { $in: ['a', { b: 1 }] }, $or: [{ x: 1 }, { y: { $exists: true } }] };
    const node = parseMongoFilter(input);
    assert.ok(deeplyFrozen(node));
    assert.equal(Object.isFrozen(input), false);
    assert.equal(Object.isFrozen(input.tags.$in), false);
  });

  void test('{}, undefined and null match everything', () => {
    for (const empty of [{}, undefined, null, { $and: [{}] }]) {
      assert.equal(parseMongoFilter(empty), Filter.all());
    }
  });

  const docs: Payload[] = [
    /* 0 */ { lang: 'en', price: 5, tags: ['ai', 'db'], meta: { author: 'ada' } },
    /* 1 */ { lang: 'de', price: 50, tags: ['db'], meta: { author: 'alan', year: 1950 } },
    /* 2 */ { lang: null, price: [1, 20], tags: [] },
    /* 3 */ { price: 'cheap', meta: [{ author: 'grace' }, { author: 'ada' }] },
  ];

  void test('fields, operators on one field, and $and are all AND', () => {
    assert.deepEqual(select({ lang: 'en', tags: 'db' }, docs), [0]);
    assert.deepEqual(select({ price: { $gte: 5, $lte: 50 } }, docs), [0, 1, 2]);
    // As in MongoDB, each operator may be met by a different element of an array.
    assert.deepEqual(select({ price: { $gt: 5, $lt: 10 } }, docs), [2]);
    assert.deepEqual(select({ $and: [{ tags: 'db' }, { price: { $gt: 10 } }] }, docs), [1]);
    assert.deepEqual(select({ $or: [{ lang: 'de' }, { price: 'cheap' }] }, docs), [1, 3]);
  });

  void test('dotted paths reach into objects and arrays of objects', () => {
    assert.deepEqual(select({ 'meta.author': 'ada' }, docs), [0, 3]);
    assert.deepEqual(select({ 'meta.year': { $exists: true } }, docs), [1]);
    assert.deepEqual(select({ 'meta.author.first': { $exists: true } }, docs), []);
  });

  void test('arrays match through any element; $eq also compares the whole array', () => {
    assert.deepEqual(select({ tags: 'ai' }, docs), [0]);
    assert.deepEqual(select({ tags: { $in: ['ai', 'x'] } }, docs), [0]);
    assert.deepEqual(select({ tags: ['db'] }, docs), [1]);
    assert.deepEqual(select({ tags: { $eq: [] } }, docs), [2]);
    assert.deepEqual(select({ tags: ['db', 'ai'] }, docs), []);
  });

  void test('$ne and $nin match points without the field', () => {
    assert.deepEqual(select({ lang: { $ne: 'en' } }, docs), [1, 2, 3]);
    assert.deepEqual(select({ lang: { $nin: ['en', 'de'] } }, docs), [2, 3]);
    assert.deepEqual(select({ tags: { $ne: 'db' } }, docs), [2, 3]);
  });

  void test('null matches null or missing; $exists sees null as present', () => {
    assert.deepEqual(select({ lang: null }, docs), [2, 3]);
    assert.deepEqual(select({ lang: { $eq: null } }, docs), [2, 3]);
    assert.deepEqual(select({ lang: { $in: [null, 'de'] } }, docs), [1, 2, 3]);
    assert.deepEqual(select({ lang: { $ne: null } }, docs), [0, 1]);
    assert.deepEqual(select({ lang: { $exists: true } }, docs), [0, 1, 2]);
    assert.deepEqual(select({ lang: { $exists: false } }, docs), [3]);
  });

  void test('comparisons pair numbers with numbers and strings with strings only', () => {
    assert.deepEqual(select({ price: { $gt: 'a' } }, docs), [3]);
    assert.deepEqual(select({ price: { $gte: 0 } }, docs), [0, 1, 2]);
    assert.deepEqual(select({ lang: { $lt: 1 } }, docs), []);
  });

  void test('$not works on a field (missing fields match) and on a whole filter', () => {
    assert.deepEqual(select({ price: { $not: { $gt: 5 } } }, docs), [0, 3]);
    assert.deepEqual(select({ 'meta.year': { $not: { $exists: true } } }, docs), [0, 2, 3]);
    assert.deepEqual(select({ $not: { lang: 'en' } }, docs), [1, 2, 3]);
    assert.deepEqual(select({ $not: { lang: 'en', price: 5 } }, docs), [1, 2, 3]);
  });

  void test('a plain object is compared whole, key order aside', () => {
    // Doc 3 matches through an element of its array.
    assert.deepEqual(select({ meta: { author: 'ada' } }, docs), [0, 3]);
    assert.deepEqual(select({ meta: { year: 1950, author: 'alan' } }, docs), [1]);
  });

  void test('a very wide $or is fine: width is not depth', () => {
    const wide = { $or: Array.from({ length: 200_000 }, (_, i) => ({ n: i })) };
    const matches = compileFilter(parseMongoFilter(wide));
    assert.equal(matches({ n: 199_999 }, 1), true);
    assert.equal(matches({ n: -1 }, 1), false);
  });
});

void describe('parseMongoFilter errors name the problem, the place and the fix', () => {
  void test('a filter that is not an object', () => {
    for (const bad of [5, 'lang', true, [], [{ lang: 'en' }], new Date(0), new Map()]) {
      assertInvalid(bad, 'filter', 'must be an object');
    }
    assertInvalid({ $or: [{ a: 1 }, 'b'] }, 'filter.$or[1]', 'must be an object, got string');
  });

  void test('unknown operators', () => {
    assertInvalid({ price: { $foo: 1 } }, 'filter.price.$foo', 'unknown operator $foo', '$eq');
    assertInvalid({ $foo: [] }, 'filter.$foo', 'unknown operator $foo', '$and, $or, $not');
    assertInvalid({ $nor: [{ a: 1 }] }, 'filter.$nor', 'unknown operator $nor');
    assertInvalid({ a: { $and: [{ b: 1 }] } }, 'filter.a.$and', 'belongs at the top level');
    assertInvalid({ $gt: 5 }, 'filter.$gt', '$gt is a field operator', '{ price: { $gt: 5 } }');
  });

  void test('wrong operand types', () => {
    assertInvalid({ tags: { $in: 'ai' } }, 'filter.tags.$in', '$in needs an array', 'got string');
    assertInvalid({ tags: { $nin: { a: 1 } } }, 'filter.tags.$nin', '$nin needs an array');
    assertInvalid({ a: { $exists: 1 } }, 'filter.a.$exists', 'true or false', 'got number');
    assertInvalid({ price: { $gt: {} } }, 'filter.price.$gt', 'numbers or strings', 'got object');
    assertInvalid({ price: { $lt: null } }, 'filter.price.$lt', 'got null');
    assertInvalid({ price: { $gte: [1] } }, 'filter.price.$gte', 'got array');
    assertInvalid({ price: { $lte: NaN } }, 'filter.price.$lte', 'got NaN');
    assertInvalid({ price: { $not: 5 } }, 'filter.price.$not', 'object of operators');
    assertInvalid({ price: { $not: {} } }, 'filter.price.$not', 'empty object');
    assertInvalid({ price: { $not: { a: 1 } } }, 'filter.price.$not', 'plain keys');
    assertInvalid({ $not: [] }, 'filter.$not', 'needs a filter object');
  });

  void test('$and / $or need a non-empty array of filters', () => {
    assertInvalid({ $and: [] }, 'filter.$and', 'non-empty array', 'an empty array');
    assertInvalid({ $or: { a: 1 } }, 'filter.$or', 'non-empty array', 'got object');
    assertInvalid({ $and: [{ a: 1 }, 5] }, 'filter.$and[1]', 'must be an object');
    // A hole in a sparse array is refused, not skipped.
    // eslint-disable-next-line no-sparse-arrays
    assertInvalid({ $or: [{ a: 1 }, , { b: 2 }] }, 'filter.$or[1]', 'got undefined');
  });

  void test('an object mixing operators and plain keys', () => {
    assertInvalid(
      { meta: { $exists: true, author: 'ada' } },
      'filter.meta',
      'mixes operators ($exists) with plain keys (author)',
      "'meta.author'",
    );
  });

  void test('empty field names and empty path parts', () => {
    assertInvalid({ '': 1 }, 'filter[""]', 'field name is empty');
    assertInvalid({ 'a..b': 1 }, 'filter["a..b"]', 'empty part');
    assertInvalid({ '.a': 1 }, 'filter[".a"]', 'empty part');
    assertInvalid({ $or: [{ 'a.': 1 }] }, 'filter.$or[0]["a."]', 'empty part');
  });

  void test('values that are not JSON', () => {
    assertInvalid(
      { a: undefined },
      'filter.a',
      'undefined is not a JSON value',
      'Leave the key out',
    );
    assertInvalid({ a: () => 1 }, 'filter.a', 'function');
    assertInvalid({ a: Infinity }, 'filter.a', 'Infinity');
    assertInvalid({ at: new Date(0) }, 'filter.at', 'a Date is not a JSON value');
    assertInvalid({ a: { $in: [1, undefined] } }, 'filter.a.$in[1]', 'undefined');
    assertInvalid({ a: { $eq: { b: [1, NaN] } } }, 'filter.a.$eq.b[1]', 'NaN');
  });

  void test(`nesting deeper than ${MAX_FILTER_DEPTH} levels`, () => {
    const nest = (levels: number): unknown => {
      let filter: unknown = { a: 1 };
      for (let i = 0; i < levels; i++) filter = { $and: [filter] };
      return filter;
    };
    assert.doesNotThrow(() => parseMongoFilter(nest(MAX_FILTER_DEPTH / 2 - 1)));
    assert.throws(
      () => parseMongoFilter(nest(MAX_FILTER_DEPTH)),
      (e: unknown) =>
        isQuiverError(e, 'INVALID_ARGUMENT') && /deeper than 32 levels/.test(e.message),
    );
    let nots: unknown = { a: 1 };
    for (let i = 0; i < 1000; i++) nots = { $not: nots };
    assert.throws(
      () => parseMongoFilter(nots),
      (e: unknown) => isQuiverError(e, 'INVALID_ARGUMENT') && e.message.includes('Flatten'),
    );
    let fieldNots: unknown = { $gt: 1 };
    for (let i = 0; i < 1000; i++) fieldNots = { $not: fieldNots };
    assert.throws(
      () => parseMongoFilter({ a: fieldNots }),
      (e: unknown) => isQuiverError(e, 'INVALID_ARGUMENT'),
    );
  });
});

void describe('parseMongoFilter: what its errors say (pinned by mutation testing)', () => {
  /** The error `filter` raises (it must raise INVALID_ARGUMENT). */
  function errorOf(filter: unknown): { message: string; details: Record<string, unknown> } {
    try {
      parseMongoFilter(filter);
    } catch (e) {
      assert.ok(isQuiverError(e, 'INVALID_ARGUMENT'), String(e));
      return { message: e.message, details: e.details };
    }
    assert.fail(`${JSON.stringify(filter)} was accepted`);
  }

  void test('comparisons take finite numbers or strings only', () => {
    for (const operand of [Infinity, -Infinity, NaN, true, null, [1], { a: 1 }]) {
      const e = errorOf({ price: { $gt: operand } });
      assert.match(e.message, /\$gt compares numbers or strings/);
      assert.equal(e.details['expected'], 'number or string');
    }
    assert.doesNotThrow(() => parseMongoFilter({ price: { $lte: -1e300 }, day: { $lt: 'x' } }));
  });

  void test('each malformed operand names what was expected and what came', () => {
    const cases: [unknown, string, string][] = [
      [5, 'object', 'number'],
      [{ $and: [] }, 'non-empty array', 'an empty array'],
      [{ $or: 'x' }, 'non-empty array', 'string'],
      [{ $not: 5 }, 'object', 'number'],
      [{ tags: { $in: 'a' } }, 'array', 'string'],
      [{ seen: { $exists: 1 } }, 'boolean', 'number'],
    ];
    for (const [filter, expected, received] of cases) {
      const e = errorOf(filter);
      assert.equal(e.details['expected'], expected, JSON.stringify(filter));
      assert.equal(e.details['received'], received, JSON.stringify(filter));
    }
    assert.equal(errorOf({ price: { $near: 1 } }).details['received'], '$near');
    assert.equal(errorOf({ $near: 1 }).details['received'], '$near');
  });

  void test('hints name the field as written, quoted when it is not an identifier', () => {
    assert.match(errorOf({ price: { $gt: true } }).message, /\{ price: \{ \$gt: 5 \} \}/);
    assert.match(
      errorOf({ 'list price': { $gt: true } }).message,
      /\{ 'list price': \{ \$gt: 5 \} \}/,
    );
    assert.match(
      errorOf({ 'meta.n': { $exists: 1 } }).message,
      /\{ 'meta\.n': \{ \$exists: true \} \}/,
    );
    assert.match(errorOf({ $gt: 5 }).message, /e\.g\. \{ price: \{ \$gt: 5 \} \}/);
    assert.match(errorOf({ $exists: true }).message, /e\.g\. \{ price: \{ \$exists: true \} \}/);
    assert.match(errorOf({ a: { $or: [] } }).message, /\$or belongs at the top level/);
    assert.doesNotMatch(errorOf({ a: { $near: 1 } }).message, /belongs at the top level/);
  });

  void test('$not on a field takes only operators', () => {
    assert.match(errorOf({ a: { $not: { $gt: 5, b: 1 } } }).message, /an object with plain keys/);
    assert.match(errorOf({ a: { $not: {} } }).message, /an empty object/);
    assert.deepEqual(select({ a: { $not: { $gt: 5 } } }, [{ a: 3 }, { a: 7 }, {}]), [0, 2]);
  });

  void test('the depth limit counts every nested object, wherever it nests', () => {
    const deepest = (make: (n: number) => unknown): number => {
      let n = 0;
      while (n < 100) {
        try {
          parseMongoFilter(make(n + 1));
        } catch (e) {
          assert.match(String(e), /deeper than 32 levels/);
          break;
        }
        n++;
      }
      return n;
    };
    const ands = (n: number): unknown => {
      let f: unknown = { a: 1 };
      for (let i = 0; i < n; i++) f = { $and: [f] };
      return f;
    };
    const fieldNots = (n: number): unknown => {
      let f: unknown = { $gt: 5 };
      for (let i = 0; i < n; i++) f = { $not: f };
      return { a: f };
    };
    const topNots = (n: number): unknown => {
      let f: unknown = { a: 1 };
      for (let i = 0; i < n; i++) f = { $not: f };
      return f;
    };
    assert.equal(deepest(ands), MAX_FILTER_DEPTH / 2 - 1);
    assert.equal(deepest(fieldNots), MAX_FILTER_DEPTH - 2);
    assert.equal(deepest(topNots), MAX_FILTER_DEPTH - 1);
  });
});
