/**
 * parseMongoFilter: the embedded API's MongoDB-style filters (SPEC section 3) checked and
 * compiled to the filter AST. Every malformed input is INVALID_ARGUMENT naming where it is.
 */
import type { JsonValue } from '../common/types.js';
import {
  Filter,
  checkFilterDepth,
  describeType,
  filterError,
  formatKey,
  freezeJsonValue,
  isPlainObject,
} from './filter-ast.js';
import type { FieldPath, FilterNode } from './filter-ast.js';

const ROOT = 'filter';
const TOP_LEVEL_OPERATORS = '$and, $or, $not';
const FIELD_OPERATORS = '$eq, $ne, $gt, $gte, $lt, $lte, $in, $nin, $exists, $not';
const COMPARISONS = { $gt: 'gt', $gte: 'gte', $lt: 'lt', $lte: 'lte' } as const;
const EXAMPLE = "{ lang: 'en', price: { $lt: 100 } }";

/**
 * Parses a MongoDB-style filter into the filter AST.
 *
 * - `{ field: value }` is equality; several fields (or operators on one field) must all hold.
 * - Operators: `$eq $ne $gt $gte $lt $lte $in $nin $exists $not` on a field; `$and $or $not`
 *   at any filter level, taking filters.
 * - `'meta.author'` reaches into nested objects; arrays on the way are searched.
 * - An array field matches when any element does; `$eq` also compares the whole array.
 * - `$ne` and `$nin` match points without the field; `{ field: null }` matches null or missing.
 * - `$gt $gte $lt $lte` compare numbers with numbers and strings with strings only.
 * - `{}`, `undefined` and `null` match everything.
 *
 * Throws INVALID_ARGUMENT (a `QuiverError`) naming the place in the filter that is wrong
 * and how to fix it: unknown operators, wrong operand types, objects mixing operators and
 * fields, empty field names, non-JSON values, nesting deeper than {@link MAX_FILTER_DEPTH}.
 *
 * ### Examples
 * ```ts
 * parseMongoFilter({ lang: 'en', price: { $lt: 100 } });
 * parseMongoFilter({ $or: [{ tags: 'ai' }, { 'meta.author': { $in: ['ada', 'alan'] } }] });
 * parseMongoFilter({ price: { $not: { $gt: 5 } } });
 * ```
 */
export function parseMongoFilter(input: unknown): FilterNode {
  if (input === undefined || input === null) return Filter.all();
  return parseFilter(input, ROOT, 1);
}

function parseFilter(input: unknown, where: string, depth: number): FilterNode {
  if (!isPlainObject(input)) {
    throw filterError(
      where,
      `a filter must be an object, got ${describeType(input)}`,
      `Write a filter such as ${EXAMPLE}.`,
      { expected: 'object', received: describeType(input) },
    );
  }
  checkDepth(where, depth);
  const parts: FilterNode[] = [];
  for (const key of Object.keys(input)) {
    const value = input[key];
    const at = `${where}${formatKey(key)}`;
    if (key.startsWith('$')) {
      parts.push(parseTopLevelOperator(key, value, at, depth));
    } else {
      parts.push(parseField(toPath(key, at), value, at, depth + 1));
    }
  }
  return Filter.and(parts);
}

function parseTopLevelOperator(
  operator: string,
  value: unknown,
  where: string,
  depth: number,
): FilterNode {
  switch (operator) {
    case '$and':
    case '$or': {
      if (!Array.isArray(value) || value.length === 0) {
        throw filterError(
          where,
          `${operator} needs a non-empty array of filters, got ${describeEmpty(value)}`,
          `Write { ${operator}: [{ lang: 'en' }, { price: { $lt: 100 } }] }.`,
          { expected: 'non-empty array', received: describeEmpty(value) },
        );
      }
      checkDepth(where, depth + 1);
      // Array.from visits the holes of sparse arrays, so they are refused rather than skipped.
      const children = Array.from(value, (f: unknown, i) =>
        parseFilter(f, `${where}[${i}]`, depth + 2),
      );
      return operator === '$and' ? Filter.and(children) : Filter.or(children);
    }
    case '$not':
      if (!isPlainObject(value)) {
        throw filterError(
          where,
          `$not at the top level needs a filter object, got ${describeType(value)}`,
          "Write { $not: { lang: 'en' } }.",
          { expected: 'object', received: describeType(value) },
        );
      }
      return Filter.not(parseFilter(value, where, depth + 1));
    default:
      if (isFieldOperator(operator)) {
        throw filterError(
          where,
          `${operator} is a field operator and needs a field`,
          `Put it under a field, e.g. { price: { ${operator}: ${operator === '$exists' ? 'true' : '5'} } }.`,
        );
      }
      throw filterError(
        where,
        `unknown operator ${operator}`,
        `Use ${TOP_LEVEL_OPERATORS} here, or a field name; field operators are ${FIELD_OPERATORS}.`,
        { received: operator },
      );
  }
}

function isFieldOperator(key: string): boolean {
  return FIELD_OPERATORS.split(', ').includes(key);
}

/** A field's condition: an object of operators, or a value the field must equal. */
function parseField(path: FieldPath, condition: unknown, where: string, depth: number): FilterNode {
  if (!isPlainObject(condition)) return equality(path, condition, where);
  const keys = Object.keys(condition);
  const operators = keys.filter((k) => k.startsWith('$'));
  if (operators.length === 0) return equality(path, condition, where);
  if (operators.length < keys.length) {
    const plain = keys.filter((k) => !k.startsWith('$'));
    throw filterError(
      where,
      `the object mixes operators (${operators.join(', ')}) with plain keys (${plain.join(', ')})`,
      `Use either operators, e.g. { price: { $gte: 1, $lt: 10 } }, or a value to compare, or a dotted path such as { 'meta.author': 'ada' }.`,
    );
  }
  checkDepth(where, depth);
  return parseOperators(path, condition, where, depth);
}

function parseOperators(
  path: FieldPath,
  operators: Record<string, unknown>,
  where: string,
  depth: number,
): FilterNode {
  const parts: FilterNode[] = [];
  for (const operator of Object.keys(operators)) {
    const operand = operators[operator];
    const at = `${where}${formatKey(operator)}`;
    parts.push(parseOperator(path, operator, operand, at, depth));
  }
  return Filter.and(parts);
}

function parseOperator(
  path: FieldPath,
  operator: string,
  operand: unknown,
  where: string,
  depth: number,
): FilterNode {
  switch (operator) {
    case '$eq':
      return equality(path, operand, where);
    case '$ne':
      return Filter.not(equality(path, operand, where));
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte': {
      if (
        typeof operand === 'string' ||
        (typeof operand === 'number' && Number.isFinite(operand))
      ) {
        return Filter.range(path, { [COMPARISONS[operator]]: operand });
      }
      throw filterError(
        where,
        `${operator} compares numbers or strings, got ${describeType(operand)}`,
        `Write { ${field(path)}: { ${operator}: 5 } } or { ${field(path)}: { ${operator}: '2024-01-01' } }; use $eq to compare other values.`,
        { expected: 'number or string', received: describeType(operand) },
      );
    }
    case '$in':
      return membership(path, operator, operand, where);
    case '$nin':
      return Filter.not(membership(path, operator, operand, where));
    case '$exists':
      if (typeof operand !== 'boolean') {
        throw filterError(
          where,
          `$exists needs true or false, got ${describeType(operand)}`,
          `Write { ${field(path)}: { $exists: true } } or { ${field(path)}: { $exists: false } }.`,
          { expected: 'boolean', received: describeType(operand) },
        );
      }
      return operand ? Filter.exists(path) : Filter.not(Filter.exists(path));
    case '$not': {
      const keys = isPlainObject(operand) ? Object.keys(operand) : [];
      if (!isPlainObject(operand) || keys.length === 0 || !keys.every((k) => k.startsWith('$'))) {
        throw filterError(
          where,
          `$not on a field needs an object of operators, got ${isPlainObject(operand) ? (keys.length === 0 ? 'an empty object' : 'an object with plain keys') : describeType(operand)}`,
          `Write { ${field(path)}: { $not: { $gt: 5 } } }; to negate a whole filter use { $not: { … } } at the top level.`,
        );
      }
      checkDepth(where, depth + 1);
      return Filter.not(parseOperators(path, operand, where, depth + 1));
    }
    default:
      throw filterError(
        where,
        `unknown operator ${operator}`,
        `Field operators are ${FIELD_OPERATORS}${operator === '$and' || operator === '$or' ? `; ${operator} belongs at the top level, e.g. { ${operator}: [{ a: 1 }, { b: 2 }] }` : ''}.`,
        { received: operator },
      );
  }
}

/** MongoDB equality: equal to the value; `null` also matches a missing field. */
function equality(path: FieldPath, value: unknown, where: string): FilterNode {
  const frozen: JsonValue = freezeJsonValue(value, where);
  const eq = Filter.eq(path, frozen);
  return frozen === null ? Filter.or([eq, Filter.not(Filter.exists(path))]) : eq;
}

/** `$in`: equal to one of the values; a `null` among them also matches a missing field. */
function membership(
  path: FieldPath,
  operator: string,
  operand: unknown,
  where: string,
): FilterNode {
  if (!Array.isArray(operand)) {
    throw filterError(
      where,
      `${operator} needs an array of values, got ${describeType(operand)}`,
      `Write { ${field(path)}: { ${operator}: ['a', 'b'] } }.`,
      { expected: 'array', received: describeType(operand) },
    );
  }
  const values = Array.from(operand, (v: unknown, i) => freezeJsonValue(v, `${where}[${i}]`));
  const node = Filter.in(path, values);
  return values.includes(null) ? Filter.or([node, Filter.not(Filter.exists(path))]) : node;
}

function toPath(key: string, where: string): FieldPath {
  if (key.length === 0) {
    throw filterError(where, 'the field name is empty', `Name a field, e.g. ${EXAMPLE}.`);
  }
  const path = key.split('.');
  if (path.some((k) => k.length === 0)) {
    throw filterError(
      where,
      `the field path "${key}" has an empty part`,
      "Separate nested keys with single dots, e.g. 'meta.author'.",
    );
  }
  return path;
}

/** A field as written in an example: `price`, or `'meta.author'` when it needs quotes. */
function field(path: FieldPath): string {
  const key = path.join('.');
  return /^[A-Za-z_$][\w$]*$/.test(key) ? key : `'${key}'`;
}

const DEPTH_HINT = 'Flatten it: $and and $or take many filters at one level.';

function checkDepth(where: string, depth: number): void {
  checkFilterDepth(where, depth, DEPTH_HINT);
}

function describeEmpty(value: unknown): string {
  return Array.isArray(value) && value.length === 0 ? 'an empty array' : describeType(value);
}
