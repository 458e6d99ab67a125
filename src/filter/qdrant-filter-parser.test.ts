/**
 * parseQdrantFilter: examples in the shape of Qdrant's filtering documentation, the same AST
 * as the Mongo dialect for the same question, and one test per kind of malformed filter.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isQuiverError } from '../common/quiver-error.js';
import type { Payload, PointId } from '../common/types.js';
import { Filter, MAX_FILTER_DEPTH } from './filter-ast.js';
import { compileFilter } from './filter-evaluator.js';
import { parseMongoFilter } from './mongo-filter-parser.js';
import { parseQdrantFilter } from './qdrant-filter-parser.js';

const points: { id: PointId; payload: Payload }[] = [
  { id: 1, payload: { city: 'London', color: 'green', price: 10, tags: ['a', 'b'] } },
  { id: 2, payload: { city: 'London', color: 'red', price: 20, reports: [] } },
  { id: 3, payload: { city: 'Moscow', color: 'green', price: 30, reports: null } },
  { id: 4, payload: { city: 'Berlin', color: 'red', rating: [3, 7, 9], reports: [null] } },
  {
    id: 'c6f2a0b4-3b8e-4f57-9d0e-0a6b3f6a9e11',
    payload: {
      country: {
        name: 'Germany',
        cities: [
          { name: 'Berlin', population: 3.7, sightseeing: ['Brandenburg Gate', 'Reichstag'] },
          { name: 'Munich', population: 1.5, sightseeing: ['Marienplatz'] },
        ],
      },
      diet: [
        { food: 'meat', likes: false },
        { food: 'leaves', likes: true },
      ],
      shipped_at: '2024-03-01T12:00:00+01:00',
    },
  },
];

/** The ids of the points that `filter` matches. */
function select(filter: unknown): PointId[] {
  const matches = compileFilter(parseQdrantFilter(filter));
  return points.filter((p) => matches(p.payload, p.id)).map((p) => p.id);
}

function assertInvalid(filter: unknown, where: string, ...fragments: string[]): void {
  assert.throws(
    () => parseQdrantFilter(filter),
    (e: unknown) => {
      assert.ok(
        isQuiverError(e, 'INVALID_ARGUMENT'),
        `expected INVALID_ARGUMENT, got ${String(e)}`,
      );
      assert.ok(e.message.startsWith(`Invalid filter at ${where}: `), e.message);
      for (const fragment of fragments) assert.ok(e.message.includes(fragment), e.message);
      return true;
    },
  );
}

const key = (k: string, test: object): object => ({ key: k, ...test });
const GERMANY = 'c6f2a0b4-3b8e-4f57-9d0e-0a6b3f6a9e11';

void describe('parseQdrantFilter', () => {
  void test('must, should and must_not', () => {
    const london = key('city', { match: { value: 'London' } });
    const red = key('color', { match: { value: 'red' } });
    assert.deepEqual(select({ must: [london, red] }), [2]);
    assert.deepEqual(select({ should: [london, red] }), [1, 2, 4]);
    assert.deepEqual(select({ must_not: [london, red] }), [3, GERMANY]);
    assert.deepEqual(select({ must: [london], must_not: [red] }), [1]);
    assert.deepEqual(select({ must: london }), [1, 2], 'a single condition instead of a list');
  });

  void test('an empty or absent should imposes nothing; null clauses are absent', () => {
    assert.equal(parseQdrantFilter({}), Filter.all());
    assert.equal(parseQdrantFilter(undefined), Filter.all());
    assert.equal(parseQdrantFilter({ must: null, should: [], must_not: null }), Filter.all());
    assert.deepEqual(
      select({ should: [], must: [key('city', { match: { value: 'Moscow' } })] }),
      [3],
    );
  });

  void test('min_should: at least min_count conditions', () => {
    const conditions = [
      key('city', { match: { value: 'London' } }),
      key('color', { match: { value: 'green' } }),
      key('price', { range: { lte: 10 } }),
    ];
    assert.deepEqual(select({ min_should: { conditions, min_count: 2 } }), [1]);
    assert.deepEqual(select({ min_should: { conditions, min_count: 1 } }), [1, 2, 3]);
  });

  void test('match: value, any, except, text', () => {
    assert.deepEqual(select({ must: [key('tags', { match: { value: 'b' } })] }), [1]);
    assert.deepEqual(select({ must: [key('rating', { match: { value: 7 } })] }), [4]);
    assert.deepEqual(select({ must: [key('color', { match: { any: ['red', 'blue'] } })] }), [2, 4]);
    // except: some value is not listed; points without the field do not match.
    assert.deepEqual(select({ must: [key('color', { match: { except: ['red'] } })] }), [1, 3]);
    assert.deepEqual(select({ must: [key('tags', { match: { except: ['a'] } })] }), [1]);
    assert.deepEqual(select({ must: [key('city', { match: { text: 'on' } })] }), [1, 2]);
  });

  void test('range on numbers and on RFC 3339 date-times', () => {
    assert.deepEqual(select({ must: [key('price', { range: { gte: 10, lt: 30 } })] }), [1, 2]);
    assert.deepEqual(select({ must: [key('rating', { range: { gt: 8 } })] }), [4]);
    const at = (range: object): PointId[] => select({ must: [key('shipped_at', { range })] });
    assert.deepEqual(at({ gte: '2024-03-01T11:00:00Z', lte: '2024-03-01T11:00:00Z' }), [GERMANY]);
    assert.deepEqual(at({ gt: '2024-03-01T11:00:00Z' }), []);
    assert.deepEqual(at({ gt: '2024-03-01', lt: null }), [GERMANY]);
  });

  void test('nested keys with dots and [], is_empty, is_null, values_count, has_id', () => {
    const berlin = { key: 'country.cities[].name', match: { value: 'Berlin' } };
    assert.deepEqual(select({ must: [berlin] }), [GERMANY]);
    assert.deepEqual(
      select({ must: [key('country.cities[].sightseeing', { match: { value: 'Reichstag' } })] }),
      [GERMANY],
    );
    assert.deepEqual(select({ must: [{ is_empty: { key: 'reports' } }] }), [1, 2, 3, GERMANY]);
    assert.deepEqual(select({ must: [{ is_null: { key: 'reports' } }] }), [3, 4]);
    assert.deepEqual(select({ must: [key('rating', { values_count: { gt: 2 } })] }), [4]);
    assert.deepEqual(
      select({ must: [key('country.cities[].sightseeing', { values_count: { gte: 3 } })] }),
      [GERMANY],
    );
    assert.deepEqual(select({ must: [{ has_id: [2, GERMANY, 99] }] }), [2, GERMANY]);
    // Any spelling of a UUID names the stored (lowercase hyphenated) point, as in Qdrant.
    const hex = GERMANY.replace(/-/g, '');
    for (const spelling of [GERMANY.toUpperCase(), `{${GERMANY}}`, `urn:uuid:${GERMANY}`, hex]) {
      assert.deepEqual(select({ must: [{ has_id: [spelling] }] }), [GERMANY], spelling);
    }
    assert.deepEqual(select({ must: [{ has_id: ['not-a-uuid'] }] }), []);
  });

  void test('nested: every condition holds for the same array element', () => {
    const likesMeat = [
      key('food', { match: { value: 'meat' } }),
      key('likes', { match: { value: true } }),
    ];
    assert.deepEqual(
      select({ must: [{ nested: { key: 'diet', filter: { must: likesMeat } } }] }),
      [],
    );
    assert.deepEqual(
      select({
        must: likesMeat.map((c) => ({ ...c, key: `diet[].${String((c as { key: string }).key)}` })),
      }),
      [GERMANY],
    );
    const likesLeaves = {
      must: [key('food', { match: { value: 'leaves' } }), key('likes', { match: { value: true } })],
    };
    assert.deepEqual(select({ must: [{ nested: { key: 'diet', filter: likesLeaves } }] }), [
      GERMANY,
    ]);
  });

  void test('a nested filter as a condition', () => {
    const filter = {
      must: [
        {
          should: [
            key('city', { match: { value: 'London' } }),
            key('city', { match: { value: 'Berlin' } }),
          ],
        },
        { must_not: [key('color', { match: { value: 'red' } })] },
      ],
    };
    assert.deepEqual(select(filter), [1]);
  });

  void test('both dialects build the same AST for the same question', () => {
    const mongo = parseMongoFilter({ lang: 'en', price: { $lt: 100 }, tags: { $in: ['a', 'b'] } });
    const qdrant = parseQdrantFilter({
      must: [
        { key: 'lang', match: { value: 'en' } },
        { key: 'price', range: { lt: 100 } },
        { key: 'tags', match: { any: ['a', 'b'] } },
      ],
    });
    assert.deepEqual(qdrant, mongo);
    assert.deepEqual(
      parseQdrantFilter({ must_not: [{ key: 'meta.author', match: { value: 'ada' } }] }),
      parseMongoFilter({ $not: { 'meta.author': 'ada' } }),
    );
  });
});

void describe('parseQdrantFilter errors name the problem, the place and the fix', () => {
  const c = (condition: unknown): unknown => ({ must: [condition] });

  void test('filters and clauses of the wrong shape', () => {
    assertInvalid(5, 'filter', 'must be an object', 'must, should, must_not');
    assertInvalid([], 'filter', 'got array');
    assertInvalid(
      { key: 'a', match: { value: 1 } },
      'filter.key',
      'unknown filter key "key"',
      'wrap',
    );
    assertInvalid({ musts: [] }, 'filter.musts', 'unknown filter key');
    assertInvalid({ must: 3 }, 'filter.must', 'array of conditions', 'got number');
    assertInvalid({ should: [7] }, 'filter.should[0]', 'condition must be an object');
    // eslint-disable-next-line no-sparse-arrays
    assertInvalid({ must: [, { has_id: [1] }] }, 'filter.must[0]', 'got undefined');
  });

  void test('unknown and mixed conditions', () => {
    assertInvalid(c({ has_vector: 'image' }), 'filter.must[0].has_vector', 'not supported');
    assertInvalid(c({ is_full: { key: 'a' } }), 'filter.must[0]', 'unknown condition "is_full"');
    assertInvalid(c({ is_empty: { key: 'a' }, has_id: [1] }), 'filter.must[0]', 'mixes');
    assertInvalid(c({ must: [], is_null: { key: 'a' } }), 'filter.must[0]', 'mixes');
  });

  void test('field conditions', () => {
    assertInvalid(c({ key: 'a' }), 'filter.must[0]', 'nothing to test');
    assertInvalid(
      c({ key: 'a', match: { value: 1 }, range: { gt: 1 } }),
      'filter.must[0]',
      'both match and range',
    );
    assertInvalid(c({ key: 'a', geo_radius: {} }), 'filter.must[0].geo_radius', 'not supported');
    assertInvalid(
      c({ key: 'a', matches: {} }),
      'filter.must[0].matches',
      'unknown field condition',
    );
  });

  void test('match', () => {
    assertInvalid(c({ key: 'a', match: 'x' }), 'filter.must[0].match', 'must be an object');
    assertInvalid(c({ key: 'a', match: {} }), 'filter.must[0].match', 'match is empty');
    assertInvalid(
      c({ key: 'a', match: { value: 1, any: [1] } }),
      'filter.must[0].match',
      'several kinds',
    );
    assertInvalid(
      c({ key: 'a', match: { like: 'x' } }),
      'filter.must[0].match.like',
      'unknown match kind',
    );
    assertInvalid(
      c({ key: 'a', match: { value: null } }),
      'filter.must[0].match.value',
      'got null',
      'is_null',
    );
    assertInvalid(
      c({ key: 'a', match: { value: { b: 1 } } }),
      'filter.must[0].match.value',
      'got object',
    );
    assertInvalid(
      c({ key: 'a', match: { any: 'x' } }),
      'filter.must[0].match.any',
      'must be an array',
    );
    assertInvalid(
      c({ key: 'a', match: { except: [1, [2]] } }),
      'filter.must[0].match.except[1]',
      'array',
    );
    assertInvalid(
      c({ key: 'a', match: { text: 5 } }),
      'filter.must[0].match.text',
      'must be a string',
    );
  });

  void test('range and values_count', () => {
    assertInvalid(c({ key: 'a', range: 5 }), 'filter.must[0].range', 'expected bounds');
    assertInvalid(c({ key: 'a', range: {} }), 'filter.must[0].range', 'no bound');
    assertInvalid(c({ key: 'a', range: { gt: null } }), 'filter.must[0].range', 'no bound');
    assertInvalid(
      c({ key: 'a', range: { above: 1 } }),
      'filter.must[0].range.above',
      'unknown bound',
    );
    assertInvalid(c({ key: 'a', range: { gt: true } }), 'filter.must[0].range.gt', 'got boolean');
    assertInvalid(
      c({ key: 'a', range: { gt: 1, lt: '2024-01-01' } }),
      'filter.must[0].range',
      'mixes',
    );
    assertInvalid(
      c({ key: 'a', range: { gt: 'yesterday' } }),
      'filter.must[0].range.gt',
      'RFC 3339',
    );
    assertInvalid(
      c({ key: 'a', values_count: { gt: -1 } }),
      'filter.must[0].values_count.gt',
      'whole number',
    );
    assertInvalid(
      c({ key: 'a', values_count: { lt: 1.5 } }),
      'filter.must[0].values_count.lt',
      'whole number',
    );
  });

  void test('keys', () => {
    assertInvalid(c({ match: { value: 1 }, key: '' }), 'filter.must[0].key', 'key is empty');
    assertInvalid(c({ key: 5, match: { value: 1 } }), 'filter.must[0].key', 'must be a string');
    assertInvalid(
      c({ key: 'a[0].b', match: { value: 1 } }),
      'filter.must[0].key',
      'indexes an array',
      '[]',
    );
    assertInvalid(c({ key: 'a..b', match: { value: 1 } }), 'filter.must[0].key', 'empty part');
    assertInvalid(c({ key: 'a[', match: { value: 1 } }), 'filter.must[0].key', 'invalid part "a["');
    assertInvalid(c({ is_empty: 'a' }), 'filter.must[0].is_empty', '{ "key": "field" }');
    assertInvalid(c({ is_null: { key: 'a', extra: 1 } }), 'filter.must[0].is_null', 'other keys');
  });

  void test('has_id, nested, min_should', () => {
    assertInvalid(c({ has_id: 1 }), 'filter.must[0].has_id', 'array of point ids');
    assertInvalid(c({ has_id: [1, -2] }), 'filter.must[0].has_id[1]', '-2 is not a point id');
    assertInvalid(c({ has_id: [''] }), 'filter.must[0].has_id[0]', 'is not a point id');
    assertInvalid(
      c({ nested: { key: 'a', filter: { must: [{ has_id: [1] }] } } }),
      'filter.must[0].nested.filter.must[0].has_id',
      'inside a nested filter',
    );
    assertInvalid(c({ nested: 'a' }), 'filter.must[0].nested', 'must be an object');
    assertInvalid(
      c({ nested: { key: 'a', where: {} } }),
      'filter.must[0].nested.where',
      'unknown key',
    );
    assertInvalid(
      c({ nested: { key: 'a', filter: 1 } }),
      'filter.must[0].nested.filter',
      'must be an object',
    );
    assertInvalid({ min_should: [] }, 'filter.min_should', 'must be an object');
    assertInvalid(
      { min_should: { conditions: [], min_count: -1 } },
      'filter.min_should.min_count',
      'whole number',
    );
    assertInvalid(
      { min_should: { conditions: {}, min_count: 1 } },
      'filter.min_should.conditions',
      'must be an array',
    );
  });

  void test(`nesting deeper than ${MAX_FILTER_DEPTH} levels`, () => {
    let filter: unknown = { must: [{ key: 'a', match: { value: 1 } }] };
    for (let i = 0; i < 100; i++) filter = { must: [filter] };
    assert.throws(
      () => parseQdrantFilter(filter),
      (e: unknown) =>
        isQuiverError(e, 'INVALID_ARGUMENT') && /deeper than 32 levels/.test(e.message),
    );
  });
});

// Cases mutation testing showed unpinned (qdrant-filter-parser.ts was at 79.4 %).
describe('parseQdrantFilter: limits and messages mutation testing found unpinned', () => {
  const cond = { key: 'a', match: { value: 1 } };
  function invalidAt(filter: unknown, field: string, ...fragments: string[]): void {
    assert.throws(
      () => parseQdrantFilter(filter),
      (e: unknown) => {
        assert.ok(isQuiverError(e, 'INVALID_ARGUMENT'), String(e));
        assert.equal(e.details.field, field, e.message);
        for (const f of fragments) assert.ok(e.message.includes(f), e.message);
        return true;
      },
    );
  }

  test('no filter matches everything', () => {
    assert.deepEqual(parseQdrantFilter(null), Filter.all());
    assert.deepEqual(parseQdrantFilter(undefined), Filter.all());
  });

  test('every way of nesting counts toward the depth limit', () => {
    const wraps: [string, (f: object) => object][] = [
      ['must', (f) => ({ must: [f] })],
      ['should', (f) => ({ should: [f] })],
      ['must_not', (f) => ({ must_not: [f] })],
      ['min_should', (f) => ({ min_should: { conditions: [f], min_count: 1 } })],
      ['nested', (f) => ({ must: [{ nested: { key: 'n', filter: f } }] })],
    ];
    for (const [name, wrap] of wraps) {
      const deep = (n: number): object => {
        let f: object = { must: [cond] };
        for (let i = 0; i < n; i++) f = wrap(f);
        return f;
      };
      assert.doesNotThrow(() => parseQdrantFilter(deep(Math.floor(MAX_FILTER_DEPTH / 4))), name);
      assert.throws(
        () => parseQdrantFilter(deep(MAX_FILTER_DEPTH)),
        (e: unknown) =>
          isQuiverError(e, 'INVALID_ARGUMENT') &&
          e.message.includes(`nested deeper than ${MAX_FILTER_DEPTH} levels`),
        name,
      );
    }
  });

  test('min_should takes conditions and a whole min_count ≥ 0, nothing else', () => {
    invalidAt(
      { min_should: { conditions: [cond], min_count: 1, extra: 1 } },
      'filter.min_should.extra',
      'unknown key "extra"',
    );
    for (const bad of [-1, 1.5, '2']) {
      invalidAt(
        { min_should: { conditions: [cond], min_count: bad } },
        'filter.min_should.min_count',
        'min_count must be a whole number ≥ 0',
      );
    }
  });

  test('bounds: null is an absent bound, values_count takes whole numbers ≥ 0, no Infinity', () => {
    assert.deepEqual(
      parseQdrantFilter({ must: [{ key: 'a', range: { gt: null, lt: 5 } }] }),
      Filter.range('a', { lt: 5 }),
    );
    for (const bad of [-1, 1.5]) {
      invalidAt(
        { must: [{ key: 'a', values_count: { gte: bad } }] },
        'filter.must[0].values_count.gte',
        'the bound must be a whole number ≥ 0',
      );
    }
    invalidAt(
      { must: [{ key: 'a', range: { gt: Infinity } }] },
      'filter.must[0].range.gt',
      'got Infinity',
    );
    invalidAt(
      { must: [{ key: 'a', range: { gt: '2025-01-01T00:00:00Z', lt: Infinity } }] },
      'filter.must[0].range.lt',
      'got Infinity',
    );
    invalidAt(
      { must: [{ key: 'a', match: { value: null } }] },
      'filter.must[0].match.value',
      'got null',
      'is_null',
    );
  });

  test('ids and keys in messages: long ids cut at 40 characters, other types named', () => {
    const long = 'x'.repeat(300);
    assert.throws(
      () => parseQdrantFilter({ must: [{ has_id: [long] }] }),
      (e: unknown) =>
        isQuiverError(e, 'INVALID_ARGUMENT') &&
        e.message.includes(`"${'x'.repeat(40)}…"`) &&
        !e.message.includes('x'.repeat(41)),
    );
    invalidAt(
      { must: [{ has_id: [{ a: 1 }] }] },
      'filter.must[0].has_id[0]',
      'a object is not a point id',
    );
    invalidAt({ must: [{ has_id: [-1] }] }, 'filter.must[0].has_id[0]', '-1 is not a point id');
    assert.deepEqual(
      parseQdrantFilter({ must: [{ has_id: ['9A1F5C3E-0000-4000-8000-000000000001'] }] }),
      Filter.hasId(['9a1f5c3e-0000-4000-8000-000000000001']),
    );
    invalidAt(
      { must: [{ key: 5, match: { value: 1 } }] },
      'filter.must[0].key',
      'the key must be a string, got number',
    );
    invalidAt(
      { must: [{ key: 'a[12].b', match: { value: 1 } }] },
      'filter.must[0].key',
      'indexes an array',
    );
    invalidAt(
      { must: [{ key: 'x.[]a', match: { value: 1 } }] },
      'filter.must[0].key',
      'has an invalid part "[]a"',
    );
    assert.deepEqual(
      parseQdrantFilter({ must: [{ key: 'a.b[]', match: { value: 1 } }] }),
      Filter.eq(['a', 'b'], 1),
    );
  });
});
