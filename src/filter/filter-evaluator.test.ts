/**
 * The evaluator against slow oracles: naive interpreters of the raw Mongo and Qdrant filters,
 * written here apart from the AST, on random payloads. Replay with QUIVER_SEED / QUIVER_RUNS.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isQuiverError } from '../common/quiver-error.js';
import type { Payload, PointId } from '../common/types.js';
import { Filter, isFilterNode } from './filter-ast.js';
import type { FilterNode } from './filter-ast.js';
import { compileFilter, matchesFilter } from './filter-evaluator.js';
import { parseMongoFilter } from './mongo-filter-parser.js';
import { parseQdrantFilter } from './qdrant-filter-parser.js';

const seed =
  process.env['QUIVER_SEED'] !== undefined
    ? Number(process.env['QUIVER_SEED'])
    : (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0;
const numRuns = Number(process.env['QUIVER_RUNS'] ?? 1000);
console.log(`filter properties: QUIVER_SEED=${seed} QUIVER_RUNS=${numRuns} (set both to replay)`);
const runOptions = { seed, numRuns };

type Raw = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Oracle helpers: the value model of filter-ast.ts, implemented the slow and obvious way.

function isObj(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every value at a dotted path: a frontier of holders, arrays on the way opened one level. */
function valuesAt(doc: unknown, dotted: string): unknown[] {
  let frontier: unknown[] = [doc];
  for (const key of dotted.split('.')) {
    const next: unknown[] = [];
    for (const v of frontier) {
      for (const holder of Array.isArray(v) ? (v as unknown[]) : [v]) {
        if (isObj(holder) && Object.hasOwn(holder, key)) next.push(holder[key]);
      }
    }
    frontier = next;
  }
  return frontier;
}

/** A canonical text of a JSON value (keys sorted), so equality is string equality. */
function canon(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
  if (isObj(v)) {
    const keys = Object.keys(v).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canon(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

const elements = (v: unknown): unknown[] => (Array.isArray(v) ? (v as unknown[]) : [v]);

function within(x: number | string, bounds: Raw): boolean {
  for (const [name, b] of Object.entries(bounds)) {
    if (b === null || b === undefined) continue;
    const bound = b as number | string;
    if (name === 'gt' && !(x > bound)) return false;
    if (name === 'gte' && !(x >= bound)) return false;
    if (name === 'lt' && !(x < bound)) return false;
    if (name === 'lte' && !(x <= bound)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Mongo oracle.

function refMongo(doc: Raw, filter: Raw): boolean {
  return Object.keys(filter).every((key) => {
    const arg = filter[key];
    if (key === '$and') return (arg as Raw[]).every((f) => refMongo(doc, f));
    if (key === '$or') return (arg as Raw[]).some((f) => refMongo(doc, f));
    if (key === '$not') return !refMongo(doc, arg as Raw);
    const values = valuesAt(doc, key);
    const isOperators =
      isObj(arg) && Object.keys(arg).length > 0 && Object.keys(arg).every((k) => k[0] === '$');
    return isOperators ? refOperators(values, arg) : refEquals(values, arg);
  });
}

function refEquals(values: unknown[], x: unknown): boolean {
  if (x === null && values.length === 0) return true;
  const wanted = canon(x);
  // A value matches as a whole, or (an array) through any element.
  return values.some((v) =>
    [v, ...(Array.isArray(v) ? (v as unknown[]) : [])].some((c) => canon(c) === wanted),
  );
}

function refOperators(values: unknown[], operators: Raw): boolean {
  return Object.entries(operators).every(([op, arg]) => {
    switch (op) {
      case '$eq':
        return refEquals(values, arg);
      case '$ne':
        return !refEquals(values, arg);
      case '$in':
        return (arg as unknown[]).some((x) => refEquals(values, x));
      case '$nin':
        return !(arg as unknown[]).some((x) => refEquals(values, x));
      case '$exists':
        return values.length > 0 === arg;
      case '$not':
        return !refOperators(values, arg as Raw);
      default: {
        const bound = arg as number | string;
        return values.some((v) =>
          elements(v).some(
            (c) =>
              typeof c === typeof bound && within(c as number | string, { [op.slice(1)]: bound }),
          ),
        );
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Qdrant oracle.

const list = (x: unknown): Raw[] =>
  x === null || x === undefined ? [] : Array.isArray(x) ? (x as Raw[]) : [x as Raw];

function refQdrant(doc: Raw, id: PointId, filter: Raw): boolean {
  const must = list(filter['must']).every((c) => refCondition(doc, id, c));
  const should = list(filter['should']);
  const anyShould = should.length === 0 || should.some((c) => refCondition(doc, id, c));
  const mustNot = list(filter['must_not']).every((c) => !refCondition(doc, id, c));
  const minShould = filter['min_should'] as { conditions: Raw[]; min_count: number } | undefined;
  const enough =
    minShould === undefined ||
    minShould.conditions.filter((c) => refCondition(doc, id, c)).length >= minShould.min_count;
  return must && anyShould && mustNot && enough;
}

function refCondition(doc: Raw, id: PointId, c: Raw): boolean {
  if (typeof c['key'] === 'string') {
    const values = valuesAt(doc, c['key'].replaceAll('[]', ''));
    const some = (test: (e: unknown) => boolean): boolean =>
      values.some((v) => elements(v).some(test));
    if (isObj(c['match'])) {
      const m = c['match'];
      if ('value' in m) return some((e) => e === m['value']);
      if ('any' in m) return some((e) => (m['any'] as unknown[]).includes(e));
      if ('except' in m) return some((e) => e !== null && !(m['except'] as unknown[]).includes(e));
      return some((e) => typeof e === 'string' && e.includes(m['text'] as string));
    }
    if (isObj(c['range'])) {
      const bounds = c['range'];
      const numeric = Object.values(bounds).some((b) => typeof b === 'number');
      if (numeric) return some((e) => typeof e === 'number' && within(e, bounds));
      const instants = Object.fromEntries(
        Object.entries(bounds).map(([k, b]) => [k, b === null ? null : Date.parse(b as string)]),
      );
      return some(
        (e) => typeof e === 'string' && !isNaN(Date.parse(e)) && within(Date.parse(e), instants),
      );
    }
    const count = values.reduce<number>(
      (n, v) => n + (v === null ? 0 : Array.isArray(v) ? v.length : 1),
      0,
    );
    return within(count, c['values_count'] as Raw);
  }
  if (isObj(c['is_empty'])) {
    const values = valuesAt(doc, (c['is_empty']['key'] as string).replaceAll('[]', ''));
    return values.every((v) => v === null || (Array.isArray(v) && v.length === 0));
  }
  if (isObj(c['is_null'])) {
    const values = valuesAt(doc, (c['is_null']['key'] as string).replaceAll('[]', ''));
    return values.some((v) => v === null || (Array.isArray(v) && v.includes(null)));
  }
  if (Array.isArray(c['has_id'])) return (c['has_id'] as PointId[]).includes(id);
  if (isObj(c['nested'])) {
    const { key, filter } = c['nested'] as { key: string; filter: Raw };
    return valuesAt(doc, key.replaceAll('[]', '')).some((v) =>
      elements(v).some((e) => isObj(e) && refQdrant(e, id, filter)),
    );
  }
  return refQdrant(doc, id, c);
}

// ---------------------------------------------------------------------------------------------
// Generators: few keys, few values, many arrays, and filter values often taken from the
// documents themselves (whole, or objects less one key), so conditions both hit and miss.

const KEYS = ['a', 'b'] as const;
const DATES = ['2024-01-01T00:00:00Z', '2024-01-01T12:00:00Z', '2024-01-02T00:00:00+01:00'];
const IDS: PointId[] = [0, 1, 2, 'x'];

const numberArb = fc.constantFrom(0, 1, 2.5);
const stringArb = fc.constantFrom('', 'a', 'ab');
const scalarArb = fc.oneof(numberArb, stringArb, fc.boolean(), fc.constant(null));

function jsonArb(scalar: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      { arbitrary: scalar, weight: 3 },
      { arbitrary: fc.array(tie('value'), { maxLength: 3 }), weight: 2 },
      {
        arbitrary: fc.dictionary(fc.constantFrom(...KEYS), tie('value'), { maxKeys: 2 }),
        weight: 1,
      },
    ),
  })).value;
}

function docsArb(scalar: fc.Arbitrary<unknown>): fc.Arbitrary<Raw[]> {
  const doc = fc.dictionary(fc.constantFrom(...KEYS, 'c'), jsonArb(scalar), { maxKeys: 3 });
  return fc.array(doc, { minLength: 1, maxLength: 6 });
}

/** Every sub-value of the documents, and each object less one key: likely filter values. */
function poolOf(docs: readonly unknown[]): unknown[] {
  const pool: unknown[] = [];
  const visit = (v: unknown): void => {
    pool.push(v);
    if (Array.isArray(v)) {
      for (const e of v as unknown[]) visit(e);
    } else if (isObj(v)) {
      const keys = Object.keys(v);
      for (const k of keys) {
        visit(v[k]);
        pool.push(Object.fromEntries(keys.filter((x) => x !== k).map((x) => [x, v[x]])));
      }
    }
  };
  for (const doc of docs) visit(doc);
  return pool;
}

const mongoPathArb = fc.oneof(
  { arbitrary: fc.constantFrom('a', 'b'), weight: 4 },
  { arbitrary: fc.constantFrom('a.b', 'b.a', 'a.a', 'a.b.a'), weight: 3 },
  { arbitrary: fc.constantFrom('c', 'toString', 'a.__proto__'), weight: 1 },
);

function mongoFilterArb(value: fc.Arbitrary<unknown>): fc.Arbitrary<Raw> {
  return fc.letrec<{ op: [string, unknown]; ops: Raw; entry: [string, unknown]; filter: Raw }>(
    (tie) => ({
      op: fc.oneof(
        { depthSize: 'small' },
        fc.tuple(fc.constantFrom('$eq', '$ne'), value),
        fc.tuple(fc.constantFrom('$gt', '$gte', '$lt', '$lte'), fc.oneof(numberArb, stringArb)),
        fc.tuple(fc.constantFrom('$in', '$nin'), fc.array(value, { maxLength: 3 })),
        fc.tuple(fc.constant('$exists'), fc.boolean()),
        fc.tuple(fc.constant('$not'), tie('ops')),
      ),
      ops: fc
        .uniqueArray(tie('op'), { minLength: 1, maxLength: 3, selector: ([k]) => k })
        .map((entries) => Object.fromEntries(entries)),
      entry: fc.oneof(
        { depthSize: 'small' },
        { arbitrary: fc.tuple(mongoPathArb, value), weight: 2 },
        { arbitrary: fc.tuple(mongoPathArb, tie('ops')), weight: 4 },
        {
          arbitrary: fc.tuple(
            fc.constantFrom('$and', '$or'),
            fc.array(tie('filter'), { minLength: 1, maxLength: 3 }),
          ),
          weight: 1,
        },
        { arbitrary: fc.tuple(fc.constant('$not'), tie('filter')), weight: 1 },
      ),
      filter: fc
        .uniqueArray(tie('entry'), { maxLength: 3, selector: ([k]) => k })
        .map((entries) => Object.fromEntries(entries)),
    }),
  ).filter;
}

/** Documents, then a Mongo filter whose values are often found in them. */
const mongoCaseArb = docsArb(scalarArb).chain((docs) => {
  const value = fc.oneof(jsonArb(scalarArb), fc.constantFrom(...poolOf(docs)));
  return fc.tuple(mongoFilterArb(value), fc.constant(docs));
});

const QDRANT_KEYS = ['a', 'b', 'c', 'a.b', 'a[].b', 'b[]', 'a[].b[]', 'b.a'];

function boundsArb<T>(bound: fc.Arbitrary<T>): fc.Arbitrary<Raw> {
  return fc
    .record(
      {
        gt: fc.option(bound, { nil: null }),
        gte: bound,
        lt: fc.option(bound, { nil: null }),
        lte: bound,
      },
      { requiredKeys: [] },
    )
    .filter((b) => Object.values(b).some((v) => v !== null));
}

function qFilterArb(
  depth: number,
  inNested: boolean,
  scalar: fc.Arbitrary<string | number | boolean>,
): fc.Arbitrary<Raw> {
  const key = fc.constantFrom(...QDRANT_KEYS);
  const leaves: fc.Arbitrary<Raw>[] = [
    fc.record({ key, match: fc.record({ value: scalar }) }),
    fc.record({ key, match: fc.record({ any: fc.array(scalar, { maxLength: 3 }) }) }),
    fc.record({ key, match: fc.record({ except: fc.array(scalar, { maxLength: 3 }) }) }),
    fc.record({ key, match: fc.record({ text: fc.constantFrom('', 'a', 'b', '01', '2024') }) }),
    fc.record({ key, range: boundsArb(fc.constantFrom(-1, 0, 0.5, 1, 2.5)) }),
    fc.record({ key, range: boundsArb(fc.constantFrom(...DATES)) }),
    fc.record({ key, values_count: boundsArb(fc.nat(3)) }),
    fc.record({ is_empty: fc.record({ key }) }),
    fc.record({ is_null: fc.record({ key }) }),
  ];
  // Counting and substrings have the most corner cases: draw them twice as often.
  leaves.push(leaves[3]!, leaves[6]!);
  if (!inNested) {
    leaves.push(fc.record({ has_id: fc.array(fc.constantFrom(...IDS), { maxLength: 3 }) }));
  }
  const conditions: fc.Arbitrary<Raw>[] = [...leaves];
  if (depth > 0) {
    conditions.push(qFilterArb(depth - 1, inNested, scalar));
    const nestedKey = fc.constantFrom('a', 'b', 'a[]');
    const nested = fc.record({ key: nestedKey, filter: qFilterArb(depth - 1, true, scalar) });
    conditions.push(fc.record({ nested }));
  }
  const condition = fc.oneof(...conditions);
  const clause = fc.oneof(
    { arbitrary: fc.array(condition, { maxLength: 2 }), weight: 4 },
    { arbitrary: condition, weight: 1 },
    { arbitrary: fc.constant(null), weight: 1 },
  );
  const minShould = fc.record({
    conditions: fc.array(condition, { maxLength: 3 }),
    min_count: fc.nat(2),
  });
  // Every clause narrows the matches, so filters rarely carry all four.
  return fc.oneof(
    fc.record({ must: clause }),
    fc.record({ should: clause }),
    fc.record({ must_not: clause }),
    fc.record({ min_should: minShould }),
    fc.record(
      { must: clause, should: clause, must_not: clause, min_should: minShould },
      { requiredKeys: [] },
    ),
  );
}

const qScalarArb = fc.oneof(fc.constantFrom(-1, 0, 1, 2.5), stringArb, fc.boolean());
const qDocScalarArb = fc.oneof({ arbitrary: scalarArb, weight: 4 }, fc.constantFrom(...DATES));

/** Points (payload and id), then a Qdrant filter whose values are often found in them. */
const qdrantCaseArb = docsArb(qDocScalarArb).chain((docs) => {
  const found = poolOf(docs).filter(
    (v): v is string | number | boolean => v !== null && typeof v !== 'object',
  );
  const scalar = found.length === 0 ? qScalarArb : fc.oneof(qScalarArb, fc.constantFrom(...found));
  const points = fc.tuple(
    ...docs.map((doc) => fc.tuple(fc.constant(doc), fc.constantFrom(...IDS))),
  );
  return fc.tuple(qFilterArb(2, false, scalar), points);
});

/** Counts outcomes so a property can prove it saw both matches and misses. */
class Tally {
  hits = 0;
  misses = 0;
  add(result: boolean): void {
    if (result) this.hits++;
    else this.misses++;
  }
  assertBalanced(label: string): void {
    const total = this.hits + this.misses;
    console.log(`${label}: ${this.hits} matches, ${this.misses} misses in ${total} checks`);
    assert.ok(this.hits > total * 0.1, `${label}: too few matches to mean anything`);
    assert.ok(this.misses > total * 0.1, `${label}: too few misses to mean anything`);
  }
}

// ---------------------------------------------------------------------------------------------

void describe('filter evaluator against the oracles', () => {
  void test('Mongo dialect: compiled filters agree with the naive interpreter', () => {
    const tally = new Tally();
    fc.assert(
      fc.property(mongoCaseArb, ([filter, docs]) => {
        const matches = compileFilter(parseMongoFilter(filter));
        for (const doc of docs) {
          const expected = refMongo(doc, filter);
          tally.add(expected);
          assert.equal(
            matches(doc as Payload, 0),
            expected,
            `filter ${JSON.stringify(filter)} on ${JSON.stringify(doc)}`,
          );
        }
      }),
      runOptions,
    );
    tally.assertBalanced('Mongo property');
  });

  void test('Qdrant dialect: compiled filters agree with the naive interpreter', () => {
    const tally = new Tally();
    fc.assert(
      fc.property(qdrantCaseArb, ([filter, points]) => {
        const matches = compileFilter(parseQdrantFilter(filter));
        for (const [doc, id] of points) {
          const expected = refQdrant(doc, id, filter);
          tally.add(expected);
          assert.equal(
            matches(doc as Payload, id),
            expected,
            `filter ${JSON.stringify(filter)} on ${JSON.stringify(doc)} id ${JSON.stringify(id)}`,
          );
        }
      }),
      runOptions,
    );
    tally.assertBalanced('Qdrant property');
  });

  void test('parsers answer any input with a node or INVALID_ARGUMENT, nothing else', () => {
    const mongoKeys = fc.constantFrom(
      '$eq',
      '$ne',
      '$gt',
      '$in',
      '$nin',
      '$exists',
      '$not',
      '$and',
      '$or',
      '$foo',
      'a',
      'a.b',
      '',
      'a..b',
      '__proto__',
    );
    const qdrantKeys = fc.constantFrom(
      'must',
      'should',
      'must_not',
      'min_should',
      'key',
      'match',
      'value',
      'any',
      'except',
      'text',
      'range',
      'gt',
      'values_count',
      'is_empty',
      'is_null',
      'has_id',
      'nested',
      'filter',
      'conditions',
      'min_count',
    );
    const inputs = (key: fc.Arbitrary<string>): fc.Arbitrary<unknown> =>
      fc.anything({
        key,
        maxDepth: 5,
        withNullPrototype: true,
        withDate: true,
        withMap: true,
        withBigInt: true,
        withSparseArray: true,
        withBoxedValues: true,
      });
    const check = (parse: (input: unknown) => unknown) => (input: unknown) => {
      try {
        assert.ok(isFilterNode(parse(input)));
      } catch (e) {
        assert.ok(isQuiverError(e, 'INVALID_ARGUMENT'), `unexpected ${String(e)}`);
        assert.match(e.message, /^Invalid filter at filter/);
      }
    };
    fc.assert(fc.property(inputs(mongoKeys), check(parseMongoFilter)), runOptions);
    fc.assert(fc.property(inputs(qdrantKeys), check(parseQdrantFilter)), runOptions);
  });

  void test('compiled filters never throw, whatever the payload holds', () => {
    const payloadArb = fc.anything({
      key: fc.constantFrom(...KEYS, '__proto__', 'constructor'),
      maxDepth: 4,
      withNullPrototype: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withBigInt: true,
      withTypedArray: true,
      withSparseArray: true,
      withBoxedValues: true,
      withObjectString: true,
    });
    fc.assert(
      fc.property(
        mongoFilterArb(jsonArb(scalarArb)),
        qFilterArb(1, false, qScalarArb),
        payloadArb,
        fc.anything(),
        (m, q, payload, id) => {
          for (const node of [parseMongoFilter(m), parseQdrantFilter(q)]) {
            const result = compileFilter(node)(payload as Payload, id as PointId);
            assert.equal(typeof result, 'boolean');
          }
        },
      ),
      runOptions,
    );
  });
});

void describe('filter evaluator semantics', () => {
  const doc: Payload = {
    lang: 'en',
    price: 10,
    tags: ['ai', 'db'],
    meta: { author: 'ada', stats: { views: 3 } },
    reviews: [
      { user: 'alan', score: 4 },
      { user: 'grace', score: 5, tags: ['x'] },
    ],
    empty: [],
    none: null,
    matrix: [
      [1, 2],
      [3, 4],
    ],
  };
  const is = (node: FilterNode, expected: boolean, id: PointId = 1): void =>
    assert.equal(matchesFilter(node, doc, id), expected);

  void test('paths reach into objects and through arrays of objects', () => {
    is(Filter.eq('meta.author', 'ada'), true);
    is(Filter.eq('meta.stats.views', 3), true);
    is(Filter.eq('reviews.user', 'grace'), true);
    is(Filter.eq('reviews.tags', 'x'), true);
    is(Filter.eq('reviews.user', 'ada'), false);
    is(Filter.exists('meta.missing'), false);
    is(Filter.exists('lang.length'), false);
    is(Filter.exists('toString'), false);
    is(Filter.exists(['meta', 'author']), true);
  });

  void test('arrays match through any element, and equality also compares them whole', () => {
    is(Filter.eq('tags', 'db'), true);
    is(Filter.eq('tags', ['ai', 'db']), true);
    is(Filter.eq('tags', ['db', 'ai']), false);
    is(Filter.eq('matrix', [3, 4]), true);
    is(Filter.eq('matrix', 3), false);
    is(Filter.in('tags', ['x', 'ai']), true);
    is(Filter.range('reviews.score', { gt: 4 }), true);
    is(Filter.range('reviews.score', { gt: 5 }), false);
  });

  void test('object equality ignores key order but not extra keys', () => {
    is(Filter.eq('meta', { stats: { views: 3 }, author: 'ada' }), true);
    is(Filter.eq('meta', { author: 'ada' }), false);
    is(Filter.in('reviews', [{ score: 4, user: 'alan' }]), true);
  });

  void test('range compares numbers with numbers and strings with strings only', () => {
    is(Filter.range('price', { gte: 10, lt: 11 }), true);
    is(Filter.range('price', { gt: '1' }), false);
    is(Filter.range('lang', { gt: 'a' }), true);
    is(Filter.range('lang', { gt: 1 }), false);
    is(Filter.range('none', { lt: 1 }), false);
  });

  void test('Qdrant-only kinds: except, text, isEmpty, valuesCount, nested, hasId, atLeast', () => {
    is(Filter.except('tags', ['ai']), true);
    is(Filter.except('tags', ['ai', 'db']), false);
    is(Filter.except('missing', ['ai']), false);
    is(Filter.except('none', ['ai']), false);
    is(Filter.text('meta.author', 'd'), true);
    is(Filter.isEmpty('empty'), true);
    is(Filter.isEmpty('none'), true);
    is(Filter.isEmpty('missing'), true);
    is(Filter.isEmpty('tags'), false);
    is(Filter.valuesCount('tags', { gte: 2, lte: 2 }), true);
    is(Filter.valuesCount('reviews.user', { gt: 1 }), true);
    is(Filter.valuesCount('missing', { lt: 1 }), true);
    is(Filter.valuesCount('none', { lt: 1 }), true);
    is(Filter.valuesCount('empty', { gt: 0 }), false);
    is(Filter.text('tags', 'b'), true);
    is(Filter.text('lang', 'x'), false);
    const sameElement = Filter.and([Filter.eq('user', 'alan'), Filter.eq('score', 5)]);
    is(Filter.nested('reviews', sameElement), false);
    is(Filter.and([Filter.eq('reviews.user', 'alan'), Filter.eq('reviews.score', 5)]), true);
    is(
      Filter.nested('reviews', Filter.and([Filter.eq('user', 'grace'), Filter.eq('score', 5)])),
      true,
    );
    is(Filter.hasId([1, 'x']), true);
    is(Filter.hasId([1, 'x']), false, '1');
    const three = [Filter.eq('lang', 'en'), Filter.eq('price', 10), Filter.eq('lang', 'de')];
    is(Filter.atLeast(2, three), true);
    is(Filter.atLeast(3, three), false);
  });

  void test('date ranges compare instants, not text', () => {
    const events = { at: ['2024-03-01T12:00:00+01:00', 'not a date'] };
    const t = Date.UTC(2024, 2, 1, 11);
    assert.equal(matchesFilter(Filter.dateRange('at', { gte: t, lte: t }), events, 1), true);
    assert.equal(matchesFilter(Filter.dateRange('at', { gt: t }), events, 1), false);
  });

  void test('a payload that is not an object reads as empty', () => {
    const exists = compileFilter(Filter.not(Filter.exists('a')));
    for (const payload of [null, undefined, 5, 'a', [{ a: 1 }]]) {
      assert.equal(exists(payload as unknown as Payload, 1), true);
    }
  });

  void test('compileFilter refuses hand-made nodes', () => {
    for (const forged of [
      { kind: 'regex', path: ['a'] },
      { kind: 'eq', path: 'a', value: 1 },
    ]) {
      assert.throws(
        () => compileFilter(forged as unknown as FilterNode),
        (e: unknown) =>
          isQuiverError(e, 'INVALID_ARGUMENT') && e.message.includes('Filter factory'),
      );
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Cases the random payloads above rarely or never build (mutation testing found them unpinned).

describe('evaluator: cases the generators miss', () => {
  const m = (node: FilterNode, payload: Payload, id: PointId = 1): boolean =>
    matchesFilter(node, payload, id);

  test('except: a value counts only if present, not null and not listed, element by element', () => {
    const f = Filter.except('f', [1, 2]);
    assert.equal(m(f, { f: [1] }), false);
    assert.equal(m(f, { f: [1, 2] }), false);
    assert.equal(m(f, { f: null }), false);
    assert.equal(m(f, { f: [null] }), false);
    assert.equal(m(f, { f: [null, 2] }), false);
    assert.equal(m(f, { f: [2, 3] }), true);
    assert.equal(m(f, { f: 3 }), true);
  });

  test('dateRange: a string that is not a date never matches, however wide the bounds', () => {
    const wide = Filter.dateRange('t', { gte: -8.64e15, lte: 8.64e15 });
    assert.equal(m(wide, { t: 'not a date' }), false);
    assert.equal(m(wide, { t: ['2025-13-45', 'yesterday'] }), false);
    assert.equal(m(wide, { t: ['yesterday', '2025-01-31T12:00:00Z'] }), true);
  });

  test('in and eq with objects and arrays compare whole values, every key', () => {
    const any = Filter.in('x', [{ a: 1 }, { b: 2 }]);
    assert.equal(m(any, { x: { b: 2 } }), true);
    assert.equal(m(any, { x: { a: 1 } }), true);
    assert.equal(m(any, { x: { b: 3 } }), false);
    assert.equal(m(any, { x: { a: 1, b: 2 } }), false);
    assert.equal(m(Filter.in('x', [{ a: 1 }, 'k']), { x: 'k' }), true);
    const obj = Filter.eq('x', { a: 1, b: [1, 2] });
    assert.equal(m(obj, { x: { b: [1, 2], a: 1 } }), true);
    assert.equal(m(obj, { x: { a: 1, b: [1, 3] } }), false);
    assert.equal(m(obj, { x: { a: 2, b: [1, 2] } }), false);
    assert.equal(m(obj, { x: { a: 1, c: [1, 2] } }), false);
    assert.equal(m(obj, { x: { a: 1, b: [1, 2, 3] } }), false);
    assert.equal(m(obj, { x: { a: 1 } }), false);
  });

  test('idBucket: an id matches when its hash bucket is listed', () => {
    const f = Filter.idBucket(4, [1, 3]);
    const ids: PointId[] = Array.from({ length: 64 }, (_, i) => i);
    const inside = ids.filter((id) => m(f, {}, id));
    const outside = ids.filter((id) => m(Filter.idBucket(4, [0, 2]), {}, id));
    assert.ok(inside.length > 0 && outside.length > 0);
    assert.equal(inside.length + outside.length, ids.length);
    assert.deepEqual(
      inside.filter((id) => outside.includes(id)),
      [],
    );
    assert.equal(m(Filter.idBucket(4, [0, 1, 2, 3]), {}, 'some-uuid-like-id'), true);
  });
});
