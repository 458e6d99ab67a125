/**
 * parseQdrantFilter: Qdrant REST filters (must / should / must_not / min_should and their
 * conditions) checked and compiled to the same filter AST as the Mongo dialect.
 */
import { normalizeUuid } from '../common/uuid.js';
import { isQuiverError } from '../common/quiver-error.js';
import { checkPointId } from '../common/types.js';
import type { PointId } from '../common/types.js';
import { parseDateTime } from './date-time.js';
import {
  Filter,
  checkFilterDepth,
  describeType,
  filterError,
  formatKey,
  isPlainObject,
} from './filter-ast.js';
import type { Bounds, FieldPath, FilterNode } from './filter-ast.js';

const ROOT = 'filter';
const FILTER_KEYS: readonly string[] = ['must', 'should', 'must_not', 'min_should'];
const CONDITIONS =
  '{ "key", "match" | "range" | "values_count" }, { "is_empty": { "key" } }, { "is_null": { "key" } }, { "has_id": [ids] }, { "nested": { "key", "filter" } } or a nested filter { "must", "should", "must_not" }';
const EXAMPLE = '{ "must": [{ "key": "city", "match": { "value": "London" } }] }';
const BOUND_KEYS: readonly string[] = ['gt', 'gte', 'lt', 'lte'];

/**
 * Parses a Qdrant filter into the filter AST.
 *
 * - `must`: every condition holds; `must_not`: none holds; `should`: at least one holds when
 *   the list is not empty; `min_should: { conditions, min_count }`: at least `min_count` hold.
 *   Each takes an array of conditions (or a single one); `null` is the same as absent.
 * - Conditions: `{ key, match: { value } | { any } | { except } | { text } }`,
 *   `{ key, range: { gt, gte, lt, lte } }` (numbers, or RFC 3339 date-times),
 *   `{ key, values_count: {…} }`, `{ is_empty: { key } }`, `{ is_null: { key } }`,
 *   `{ has_id: [ids] }`, `{ nested: { key, filter } }`, or a filter itself.
 * - Keys are dotted paths; `[]` after a key (`country.cities[].name`) walks an array, as
 *   arrays met on a path always are. A condition on an array holds when an element matches.
 * - `{}`, `undefined` and `null` match everything.
 *
 * Throws INVALID_ARGUMENT naming the place in the filter that is wrong and how to fix it.
 *
 * ### Examples
 * ```ts
 * parseQdrantFilter({
 *   must: [{ key: 'city', match: { value: 'London' } }],
 *   must_not: [{ key: 'price', range: { gt: 100 } }],
 * });
 * ```
 */
export function parseQdrantFilter(input: unknown): FilterNode {
  if (input === undefined || input === null) return Filter.all();
  return parseFilter(input, ROOT, 1, false);
}

function parseFilter(input: unknown, where: string, depth: number, nested: boolean): FilterNode {
  if (!isPlainObject(input)) {
    throw filterError(
      where,
      `a filter must be an object with must, should, must_not or min_should, got ${describeType(input)}`,
      `Write a filter such as ${EXAMPLE}.`,
      { expected: 'object', received: describeType(input) },
    );
  }
  checkDepth(where, depth);
  for (const key of Object.keys(input)) {
    if (FILTER_KEYS.includes(key)) continue;
    const looksLikeCondition = ['key', 'has_id', 'is_empty', 'is_null', 'nested'].includes(key);
    throw filterError(
      `${where}${formatKey(key)}`,
      `unknown filter key "${key}"`,
      looksLikeCondition
        ? `A filter holds conditions in must, should or must_not: wrap this one, e.g. ${EXAMPLE}.`
        : 'A filter has must, should, must_not and min_should.',
      { received: key },
    );
  }
  const parts: FilterNode[] = [];
  const must = clauses(input['must'], `${where}.must`);
  must.forEach((c, i) => parts.push(parseCondition(c, `${where}.must[${i}]`, depth + 1, nested)));
  const should = clauses(input['should'], `${where}.should`);
  if (should.length > 0) {
    const any = should.map((c, i) => parseCondition(c, `${where}.should[${i}]`, depth + 1, nested));
    parts.push(Filter.or(any));
  }
  const mustNot = clauses(input['must_not'], `${where}.must_not`);
  mustNot.forEach((c, i) =>
    parts.push(Filter.not(parseCondition(c, `${where}.must_not[${i}]`, depth + 1, nested))),
  );
  const minShould = input['min_should'];
  if (minShould !== undefined && minShould !== null) {
    parts.push(parseMinShould(minShould, `${where}.min_should`, depth + 1, nested));
  }
  return Filter.and(parts);
}

/** A clause's conditions: an array, a single condition, or nothing (absent or null). */
function clauses(value: unknown, where: string): readonly unknown[] {
  if (value === undefined || value === null) return [];
  // Array.from turns the holes of sparse arrays into undefined, refused as conditions.
  if (Array.isArray(value)) return Array.from(value as unknown[]);
  if (isPlainObject(value)) return [value];
  throw filterError(
    where,
    `expected an array of conditions, got ${describeType(value)}`,
    `Write ${EXAMPLE}.`,
    { expected: 'array', received: describeType(value) },
  );
}

function parseMinShould(value: unknown, where: string, depth: number, nested: boolean): FilterNode {
  const hint = 'Write { "min_should": { "conditions": [ … ], "min_count": 2 } }.';
  if (!isPlainObject(value)) {
    throw filterError(where, `min_should must be an object, got ${describeType(value)}`, hint);
  }
  checkDepth(where, depth);
  for (const key of Object.keys(value)) {
    if (key !== 'conditions' && key !== 'min_count') {
      throw filterError(`${where}${formatKey(key)}`, `unknown key "${key}"`, hint);
    }
  }
  const count = value['min_count'];
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) {
    throw filterError(
      `${where}.min_count`,
      `min_count must be a whole number ≥ 0, got ${describeType(count)}`,
      hint,
    );
  }
  const conditions = value['conditions'];
  if (!Array.isArray(conditions)) {
    throw filterError(
      `${where}.conditions`,
      `conditions must be an array, got ${describeType(conditions)}`,
      hint,
    );
  }
  const parsed = Array.from(conditions, (c: unknown, i) =>
    parseCondition(c, `${where}.conditions[${i}]`, depth + 1, nested),
  );
  return Filter.atLeast(count, parsed);
}

function parseCondition(
  condition: unknown,
  where: string,
  depth: number,
  nested: boolean,
): FilterNode {
  if (!isPlainObject(condition)) {
    throw filterError(
      where,
      `a condition must be an object, got ${describeType(condition)}`,
      `Conditions are ${CONDITIONS}.`,
      { expected: 'object', received: describeType(condition) },
    );
  }
  checkDepth(where, depth);
  const keys = Object.keys(condition);
  if (keys.includes('key')) return parseFieldCondition(condition, where);
  if (keys.every((k) => FILTER_KEYS.includes(k))) {
    return parseFilter(condition, where, depth, nested);
  }
  const [kind] = keys.filter((k) => !FILTER_KEYS.includes(k));
  if (keys.length > 1) {
    throw filterError(
      where,
      `the condition mixes "${kind}" with ${keys.filter((k) => k !== kind).join(', ')}`,
      'Give each condition its own object in the list.',
    );
  }
  const value = condition[kind!];
  const at = `${where}.${kind}`;
  switch (kind) {
    case 'is_empty':
      return Filter.isEmpty(payloadField(value, at));
    case 'is_null':
      return Filter.isNull(payloadField(value, at));
    case 'has_id':
      if (nested) {
        throw filterError(
          at,
          'has_id cannot be used inside a nested filter',
          'Move it to the outer filter: ids belong to points, not to array elements.',
        );
      }
      return Filter.hasId(pointIds(value, at));
    case 'nested': {
      const hint = 'Write { "nested": { "key": "reviews", "filter": { "must": [ … ] } } }.';
      if (!isPlainObject(value)) {
        throw filterError(at, `nested must be an object, got ${describeType(value)}`, hint);
      }
      for (const key of Object.keys(value)) {
        if (key !== 'key' && key !== 'filter') {
          throw filterError(`${at}${formatKey(key)}`, `unknown key "${key}"`, hint);
        }
      }
      const path = parseKey(value['key'], `${at}.key`);
      return Filter.nested(path, parseFilter(value['filter'], `${at}.filter`, depth + 1, true));
    }
    case 'has_vector':
      throw filterError(
        at,
        'has_vector is not supported: collections hold one unnamed vector per point',
        'Remove the condition.',
      );
    default:
      throw filterError(where, `unknown condition "${kind}"`, `Conditions are ${CONDITIONS}.`, {
        received: kind,
      });
  }
}

function parseFieldCondition(condition: Record<string, unknown>, where: string): FilterNode {
  const path = parseKey(condition['key'], `${where}.key`);
  const tests = Object.keys(condition).filter((k) => k !== 'key');
  for (const test of tests) {
    if (test.startsWith('geo_')) {
      throw filterError(
        `${where}.${test}`,
        `${test} is not supported yet`,
        'Filter on numeric lat/lon fields with range conditions instead.',
      );
    }
    if (test !== 'match' && test !== 'range' && test !== 'values_count') {
      throw filterError(
        `${where}${formatKey(test)}`,
        `unknown field condition "${test}"`,
        'A field condition has "key" and one of "match", "range", "values_count".',
        { received: test },
      );
    }
  }
  if (tests.length !== 1) {
    throw filterError(
      where,
      tests.length === 0
        ? `the condition on "${formatPathForMessage(condition['key'])}" has nothing to test`
        : `the condition has both ${tests.join(' and ')}`,
      'Give exactly one of "match", "range", "values_count"; use several conditions in must to combine them.',
    );
  }
  const test = tests[0]!;
  const value = condition[test];
  const at = `${where}.${test}`;
  if (test === 'match') return parseMatch(path, value, at);
  if (test === 'range') return parseRange(path, value, at);
  const bounds = parseBounds(
    value,
    at,
    (b) => typeof b === 'number' && Number.isSafeInteger(b) && b >= 0,
    'a whole number ≥ 0',
  );
  return Filter.valuesCount(path, bounds as Bounds<number>);
}

function parseMatch(path: FieldPath, match: unknown, where: string): FilterNode {
  const hint =
    'Write "match": { "value": "red" }, { "any": ["red", "blue"] }, { "except": ["red"] } or { "text": "word" }.';
  if (!isPlainObject(match)) {
    throw filterError(where, `match must be an object, got ${describeType(match)}`, hint);
  }
  const keys = Object.keys(match);
  if (keys.length !== 1) {
    throw filterError(
      where,
      keys.length === 0 ? 'match is empty' : `match has several kinds (${keys.join(', ')})`,
      hint,
    );
  }
  const kind = keys[0]!;
  const operand = match[kind];
  const at = `${where}${formatKey(kind)}`;
  switch (kind) {
    case 'value':
      if (!isMatchScalar(operand)) {
        throw filterError(
          at,
          `match.value must be a string, number or boolean, got ${describeType(operand)}`,
          operand === null
            ? 'Use { "is_null": { "key": … } } to find null values.'
            : 'Use "any" to match one of several values.',
          { expected: 'string, number or boolean', received: describeType(operand) },
        );
      }
      return Filter.eq(path, operand);
    case 'any':
    case 'except': {
      if (!Array.isArray(operand)) {
        throw filterError(
          at,
          `match.${kind} must be an array of strings or numbers, got ${describeType(operand)}`,
          hint,
          { expected: 'array', received: describeType(operand) },
        );
      }
      Array.from(operand, (v: unknown, i) => {
        if (!isMatchScalar(v)) {
          throw filterError(
            `${at}[${i}]`,
            `match.${kind} holds a ${describeType(v)}`,
            'List strings, numbers or booleans only.',
            { expected: 'string, number or boolean', received: describeType(v) },
          );
        }
      });
      const values = operand as (string | number | boolean)[];
      return kind === 'any' ? Filter.in(path, values) : Filter.except(path, values);
    }
    case 'text':
      if (typeof operand !== 'string') {
        throw filterError(
          at,
          `match.text must be a string, got ${describeType(operand)}`,
          'Write "match": { "text": "word" } to find strings containing "word".',
        );
      }
      return Filter.text(path, operand);
    default:
      throw filterError(at, `unknown match kind "${kind}"`, hint, { received: kind });
  }
}

function isMatchScalar(value: unknown): value is string | number | boolean {
  return (
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value))
  );
}

function parseRange(path: FieldPath, range: unknown, where: string): FilterNode {
  const bounds = parseBounds(
    range,
    where,
    (b) => typeof b === 'string' || (typeof b === 'number' && Number.isFinite(b)),
    'a number or an RFC 3339 date-time string',
  );
  const values = Object.values(bounds);
  if (values.every((v) => typeof v === 'number')) {
    return Filter.range(path, bounds as Bounds<number>);
  }
  if (values.some((v) => typeof v === 'number')) {
    throw filterError(
      where,
      'the range mixes numbers and date-times',
      'Use numbers for numeric fields or date-time strings for date fields, not both.',
    );
  }
  const instants: { gt?: number; gte?: number; lt?: number; lte?: number } = {};
  for (const [name, text] of Object.entries(bounds) as [keyof Bounds<number>, string][]) {
    const instant = parseDateTime(text);
    if (instant === undefined) {
      throw filterError(
        `${where}.${name}`,
        `${JSON.stringify(text)} is not an RFC 3339 date-time`,
        'Write date-times like "2024-03-01T12:00:00Z" or "2024-03-01".',
        { received: text },
      );
    }
    instants[name] = instant;
  }
  return Filter.dateRange(path, instants);
}

/** gt / gte / lt / lte, null meaning absent; at least one must be given. */
function parseBounds(
  value: unknown,
  where: string,
  accept: (bound: unknown) => boolean,
  expected: string,
): Bounds<unknown> {
  const hint = 'Write bounds such as { "gte": 1, "lt": 10 }.';
  if (!isPlainObject(value)) {
    throw filterError(where, `expected bounds, got ${describeType(value)}`, hint);
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    if (!BOUND_KEYS.includes(key)) {
      throw filterError(`${where}${formatKey(key)}`, `unknown bound "${key}"`, hint, {
        received: key,
      });
    }
    const bound = value[key];
    if (bound === null || bound === undefined) continue;
    if (!accept(bound)) {
      throw filterError(
        `${where}.${key}`,
        `the bound must be ${expected}, got ${describeType(bound)}`,
        hint,
        { expected, received: describeType(bound) },
      );
    }
    out[key] = bound;
  }
  if (Object.keys(out).length === 0) {
    throw filterError(where, 'no bound is given', `Give at least one of gt, gte, lt, lte. ${hint}`);
  }
  return out;
}

/** `{ "key": "a.b" }` as used by is_empty and is_null. */
function payloadField(value: unknown, where: string): FieldPath {
  if (!isPlainObject(value) || Object.keys(value).some((k) => k !== 'key')) {
    throw filterError(
      where,
      `expected { "key": "field" }, got ${isPlainObject(value) ? 'other keys' : describeType(value)}`,
      'Write e.g. { "is_empty": { "key": "reports" } }.',
    );
  }
  return parseKey(value['key'], `${where}.key`);
}

function pointIds(value: unknown, where: string): PointId[] {
  if (!Array.isArray(value)) {
    throw filterError(
      where,
      `has_id needs an array of point ids, got ${describeType(value)}`,
      'Write { "has_id": [1, 2, "3fa85f64-5717-4562-b3fc-2c963f66afa6"] }.',
      { expected: 'array', received: describeType(value) },
    );
  }
  return Array.from(value, (id: unknown, i) => {
    try {
      // Qdrant names a UUID point by any spelling; points are stored under one.
      if (typeof id === 'string') return normalizeUuid(id) ?? checkPointId(id, `${where}[${i}]`);
      return checkPointId(id, `${where}[${i}]`);
    } catch (e) {
      if (!isQuiverError(e)) throw e;
      throw filterError(
        `${where}[${i}]`,
        `${describeId(id)} is not a point id`,
        'Point ids are whole numbers from 0 to 2^53-1 or strings of 1 to 256 bytes (UUIDs).',
        { received: describeType(id) },
      );
    }
  });
}

/**
 * A Qdrant key: dotted names, each optionally followed by `[]` (walk the array). Array
 * indexes such as `[0]` are refused rather than silently read as something else.
 */
function parseKey(key: unknown, where: string): FieldPath {
  if (typeof key !== 'string' || key.length === 0) {
    throw filterError(
      where,
      typeof key === 'string'
        ? 'the key is empty'
        : `the key must be a string, got ${describeType(key)}`,
      'Name a payload field, e.g. "city" or "country.cities[].name".',
    );
  }
  return key.split('.').map((part) => {
    const m = /^([^[\]]+)((?:\[\])*)$/.exec(part);
    if (m !== null) return m[1]!;
    const indexed = /\[\d+\]/.test(part);
    throw filterError(
      where,
      indexed
        ? `the key "${key}" indexes an array, which is not supported`
        : `the key "${key}" has ${part.length === 0 ? 'an empty part' : `an invalid part "${part}"`}`,
      indexed
        ? 'Use [] to match any element, e.g. "cities[].name".'
        : 'Write dotted names, with [] after a name to walk an array, e.g. "country.cities[].name".',
      { received: key },
    );
  });
}

function describeId(id: unknown): string {
  if (typeof id === 'string') return JSON.stringify(id.length > 40 ? `${id.slice(0, 40)}…` : id);
  return typeof id === 'number' ? String(id) : `a ${describeType(id)}`;
}

function formatPathForMessage(key: unknown): string {
  return typeof key === 'string' ? key : describeType(key);
}

const DEPTH_HINT = 'Flatten it: must, should and must_not take many conditions at one level.';

function checkDepth(where: string, depth: number): void {
  checkFilterDepth(where, depth, DEPTH_HINT);
}
