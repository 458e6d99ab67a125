/**
 * The one filter AST both dialects compile to (SPEC sections 3 and 8): immutable nodes tagged
 * by `kind`, made only by the `Filter` factory, which validates and freezes them. Pure data.
 */
import { invalidArgument } from '../common/quiver-error.js';
import type { ErrorDetails, QuiverError } from '../common/quiver-error.js';
import { checkPointId, compareIds } from '../common/types.js';
import type { JsonValue, PointId } from '../common/types.js';

/**
 * The deepest nesting a filter (and any value inside it) may have. It bounds the recursion of
 * parsing, compiling and comparing, so a hostile filter cannot exhaust the stack.
 */
export const MAX_FILTER_DEPTH = 32;

/** A field path: the keys from the payload's root to the field, e.g. `['meta', 'author']`. */
export type FieldPath = readonly string[];

/** What the factory accepts as a path: a dotted string (`'meta.author'`) or its keys. */
export type PathInput = string | readonly string[];

/** Range bounds; every bound given must hold. At least one is required. */
export interface Bounds<T> {
  readonly gt?: T;
  readonly gte?: T;
  readonly lt?: T;
  readonly lte?: T;
}

/*
 * How field nodes see a payload (the evaluator and every oracle implement exactly this):
 * - Resolving a path yields the list of values found at it. At each step an object is looked
 *   into by key (own keys only); an array met before the last key is traversed one level (each
 *   element that is an object is looked into). A missing key contributes no value, so a missing
 *   field yields an empty list; `null` is a value.
 * - The candidates of a found value are its elements when it is an array, else the value itself.
 *   A field node holds when some found value has a candidate that passes its test.
 */

/** Matches every point. */
export interface AllNode {
  readonly kind: 'all';
}

/** Matches when every child matches (`and()` of no children matches everything). */
export interface AndNode {
  readonly kind: 'and';
  readonly children: readonly FilterNode[];
}

/** Matches when some child matches (`or()` of no children matches nothing). */
export interface OrNode {
  readonly kind: 'or';
  readonly children: readonly FilterNode[];
}

/** Matches when its child does not. */
export interface NotNode {
  readonly kind: 'not';
  readonly child: FilterNode;
}

/** Matches when at least `min` children match (Qdrant's `min_should`). */
export interface AtLeastNode {
  readonly kind: 'atLeast';
  readonly min: number;
  readonly children: readonly FilterNode[];
}

/**
 * Matches when a value at `path` equals `value` (JSON equality, key order ignored), or is an
 * array with an element equal to it. Finding nothing never matches: MongoDB's "null or
 * missing" is `or(eq(path, null), not(exists(path)))`, built by the Mongo parser.
 */
export interface EqNode {
  readonly kind: 'eq';
  readonly path: FieldPath;
  readonly value: JsonValue;
}

/** Matches when a value at `path`, or an element of it, equals one of `values`. */
export interface InNode {
  readonly kind: 'in';
  readonly path: FieldPath;
  readonly values: readonly JsonValue[];
}

/**
 * Qdrant's `match: { except }`: matches when some candidate at `path` is not null and not one
 * of `values`. A missing field, `null` and `[]` do not match (unlike MongoDB's `$nin`).
 */
export interface ExceptNode {
  readonly kind: 'except';
  readonly path: FieldPath;
  readonly values: readonly JsonValue[];
}

/**
 * Matches when some candidate at `path` has the bounds' type (number, or string compared by
 * UTF-16 code units) and lies within every bound. Other types never match.
 */
export interface RangeNode {
  readonly kind: 'range';
  readonly path: FieldPath;
  readonly bounds: Bounds<number> | Bounds<string>;
}

/**
 * Matches when some candidate at `path` is a string holding a date-time (see
 * `parseDateTime`) whose instant, in epoch milliseconds, lies within every bound.
 */
export interface DateRangeNode {
  readonly kind: 'dateRange';
  readonly path: FieldPath;
  readonly bounds: Bounds<number>;
}

/** Matches when `path` yields at least one value (`null` included). */
export interface ExistsNode {
  readonly kind: 'exists';
  readonly path: FieldPath;
}

/** Qdrant's `is_empty`: matches when every value at `path` is `null` or `[]` (or there is none). */
export interface IsEmptyNode {
  readonly kind: 'isEmpty';
  readonly path: FieldPath;
}

/** Matches when some candidate at `path` is a string containing `text`. */
export interface TextNode {
  readonly kind: 'text';
  readonly path: FieldPath;
  readonly text: string;
}

/**
 * Qdrant's `values_count`: the number of values at `path` (an array counts its elements, `null`
 * counts 0, anything else 1, summed over every value found) lies within every bound.
 */
export interface ValuesCountNode {
  readonly kind: 'valuesCount';
  readonly path: FieldPath;
  readonly bounds: Bounds<number>;
}

/** Matches when the point's id is one of `ids` (sorted, without duplicates). */
export interface HasIdNode {
  readonly kind: 'hasId';
  readonly ids: readonly PointId[];
}

/**
 * Matches when the point id's stable hash (common/id-hash.ts) modulo `count` is one of
 * `buckets`: a cluster node answering for some of the shards its copy holds. Internal:
 * no filter dialect produces it.
 */
export interface IdBucketNode {
  readonly kind: 'idBucket';
  readonly count: number;
  /** Sorted, without duplicates, each in [0, count). */
  readonly buckets: readonly number[];
}

/**
 * Qdrant's `nested`: matches when some object candidate at `path` matches `filter` on its own,
 * so all of the filter's conditions hold for the same array element.
 */
export interface NestedNode {
  readonly kind: 'nested';
  readonly path: FieldPath;
  readonly filter: FilterNode;
}

/** A node of the filter AST; switch on `kind`. Build nodes with {@link Filter} only. */
export type FilterNode =
  | AllNode
  | AndNode
  | OrNode
  | NotNode
  | AtLeastNode
  | EqNode
  | InNode
  | ExceptNode
  | RangeNode
  | DateRangeNode
  | ExistsNode
  | IsEmptyNode
  | TextNode
  | ValuesCountNode
  | HasIdNode
  | IdBucketNode
  | NestedNode;

/** The tag of a filter node. */
export type FilterKind = FilterNode['kind'];

/** Nodes made by the factory: the only values {@link isFilterNode} accepts. */
const madeByFactory = new WeakSet<object>();

function seal<T extends FilterNode>(node: T): T {
  Object.freeze(node);
  madeByFactory.add(node);
  return node;
}

const ALL: AllNode = seal({ kind: 'all' });
const NONE: OrNode = seal({ kind: 'or', children: Object.freeze([]) });

/** True when `value` is a node built by {@link Filter} (hand-made objects are refused). */
export function isFilterNode(value: unknown): value is FilterNode {
  return typeof value === 'object' && value !== null && madeByFactory.has(value);
}

/** Throws INVALID_ARGUMENT at `where` when a filter nests deeper than MAX_FILTER_DEPTH. @internal */
export function checkFilterDepth(where: string, depth: number, hint: string): void {
  if (depth > MAX_FILTER_DEPTH) {
    throw filterError(where, `the filter is nested deeper than ${MAX_FILTER_DEPTH} levels`, hint, {
      expected: `at most ${MAX_FILTER_DEPTH} levels`,
    });
  }
}

/**
 * An INVALID_ARGUMENT error for a malformed filter, saying what is wrong, where (a path inside
 * the filter such as `filter.price.$gt`) and what to do.
 * @internal
 */
export function filterError(
  where: string,
  problem: string,
  hint: string,
  details: ErrorDetails = {},
): QuiverError {
  return invalidArgument(`Invalid filter at ${where}: ${problem}. ${hint}`, {
    field: where,
    ...details,
  });
}

/** Names the type of a value for error messages: `null`, `array`, `NaN`, `Date`, `string`… @internal */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  if (typeof value === 'object') {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) return 'object';
    const ctor: unknown = (proto as { constructor?: unknown }).constructor;
    return typeof ctor === 'function' && ctor.name !== '' ? ctor.name : 'object';
  }
  return typeof value;
}

/** True for a plain object (`{…}` or `Object.create(null)`), as JSON objects are. @internal */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Validates `value` as JSON (finite numbers, plain objects, arrays, no `undefined`, at most
 * {@link MAX_FILTER_DEPTH} levels) and returns a deep-frozen copy, so later changes to the
 * caller's object cannot change a filter. `where` names the value in errors.
 * @internal
 */
export function freezeJsonValue(value: unknown, where: string): JsonValue {
  return copyJson(value, where, 1);
}

function copyJson(value: unknown, where: string, depth: number): JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return value;
    throw filterError(
      where,
      `${String(value)} is not a JSON number`,
      'Use a finite number (JSON has no NaN or Infinity).',
      { received: String(value) },
    );
  }
  if (depth > MAX_FILTER_DEPTH) {
    throw filterError(
      where,
      `the value is nested deeper than ${MAX_FILTER_DEPTH} levels (or refers to itself)`,
      'Compare against a smaller value.',
      { expected: `at most ${MAX_FILTER_DEPTH} levels` },
    );
  }
  if (Array.isArray(value)) {
    const items: JsonValue[] = [];
    for (let i = 0; i < value.length; i++) {
      items.push(copyJson(value[i], `${where}[${i}]`, depth + 1));
    }
    return Object.freeze(items) as JsonValue[];
  }
  if (isPlainObject(value)) {
    // fromEntries defines own properties, so a "__proto__" key stays data, not a prototype.
    const entries: [string, JsonValue][] = [];
    for (const key of Object.keys(value)) {
      entries.push([key, copyJson(value[key], `${where}${formatKey(key)}`, depth + 1)]);
    }
    return Object.freeze(Object.fromEntries<JsonValue>(entries));
  }
  const type = describeType(value);
  throw filterError(
    where,
    `${type === 'undefined' ? 'undefined' : `a ${type}`} is not a JSON value`,
    type === 'undefined'
      ? 'Leave the key out instead of setting it to undefined.'
      : 'Filters compare JSON values: strings, finite numbers, booleans, null, arrays and plain objects (store dates as ISO strings or epoch numbers).',
    { received: type },
  );
}

/** Appends a key to an error location: `.name` when readable, `["odd key"]` otherwise. @internal */
export function formatKey(key: string): string {
  return /^[\w$-]+(?:\.[\w$-]+)*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/** Joins a path for messages and explain output: `meta.author`. */
export function formatPath(path: FieldPath): string {
  return path.join('.');
}

function toPath(path: PathInput, where: string): FieldPath {
  const parts: readonly unknown[] = typeof path === 'string' ? path.split('.') : path;
  const keys: string[] = [];
  for (const key of Array.isArray(parts) ? parts : []) {
    if (typeof key !== 'string' || key.length === 0) {
      throw filterError(
        where,
        `the field path ${JSON.stringify(path)} has an empty key`,
        "Name every key of a dotted path, e.g. 'meta.author'.",
      );
    }
    keys.push(key);
  }
  if (keys.length === 0) {
    throw filterError(where, 'the field path is empty', "Name a field, e.g. 'meta.author'.");
  }
  return Object.freeze(keys);
}

function checkChildren(children: readonly unknown[], where: string): FilterNode[] {
  if (!Array.isArray(children)) {
    throw filterError(
      where,
      'children must be an array of filter nodes',
      'Build them with Filter.',
    );
  }
  // Array.from visits holes of sparse arrays (as undefined), which map would skip.
  return Array.from(children, (child: unknown, i) => {
    if (!isFilterNode(child)) {
      throw filterError(
        `${where}[${i}]`,
        `expected a filter node, got ${describeType(child)}`,
        'Build nodes with the Filter factory (Filter.eq, Filter.and, …).',
      );
    }
    return child;
  });
}

function checkValues(values: readonly unknown[], where: string): readonly JsonValue[] {
  if (!Array.isArray(values)) {
    throw filterError(
      where,
      `expected an array of values, got ${describeType(values)}`,
      "Pass a list such as ['en', 'de'].",
    );
  }
  return Object.freeze(Array.from(values, (v: unknown, i) => freezeJsonValue(v, `${where}[${i}]`)));
}

const BOUND_NAMES = ['gt', 'gte', 'lt', 'lte'] as const;

function checkBounds<T>(
  bounds: unknown,
  where: string,
  accept: (v: unknown) => v is T,
  expected: string,
): Bounds<T> {
  if (!isPlainObject(bounds)) {
    throw filterError(
      where,
      `bounds must be an object, got ${describeType(bounds)}`,
      'Write bounds such as { gte: 1, lt: 10 }.',
    );
  }
  const out: { gt?: T; gte?: T; lt?: T; lte?: T } = {};
  let count = 0;
  for (const key of Object.keys(bounds)) {
    const name = BOUND_NAMES.find((n) => n === key);
    if (name === undefined) {
      throw filterError(
        `${where}${formatKey(key)}`,
        `unknown bound "${key}"`,
        'Bounds are gt, gte, lt and lte.',
      );
    }
    const value = bounds[key];
    if (value === undefined) continue;
    if (!accept(value)) {
      throw filterError(
        `${where}.${key}`,
        `the bound must be ${expected}, got ${describeType(value)}`,
        `Use ${expected}.`,
        { expected, received: describeType(value) },
      );
    }
    out[name] = value;
    count++;
  }
  if (count === 0) {
    throw filterError(where, 'no bound is given', 'Give at least one of gt, gte, lt, lte.');
  }
  return Object.freeze(out);
}

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isString = (v: unknown): v is string => typeof v === 'string';

/**
 * The companion factory of {@link FilterNode}: every node is made here, validated (paths,
 * JSON values, bounds, ids) and deeply frozen. Invalid arguments throw INVALID_ARGUMENT.
 * Boolean combinators simplify as they build: nested `and`s flatten, `and()` is `all()`, a
 * single child is returned as is, `not(not(x))` is `x`.
 *
 * ### Examples
 * ```ts
 * const node = Filter.and([Filter.eq('lang', 'en'), Filter.range('price', { lt: 100 })]);
 * Object.isFrozen(node); // true
 * ```
 */
export const Filter = Object.freeze({
  /** Matches every point. */
  all(): AllNode {
    return ALL;
  },

  /** Matches no point (an `or` of no children). */
  none(): OrNode {
    return NONE;
  },

  /** Matches when every child matches; takes an array, so any number of children fits. */
  and(children: readonly FilterNode[]): FilterNode {
    const flat: FilterNode[] = [];
    for (const child of checkChildren(children, 'Filter.and')) {
      if (child.kind === 'and') for (const grandchild of child.children) flat.push(grandchild);
      else if (child === NONE) return NONE;
      else if (child.kind !== 'all') flat.push(child);
    }
    if (flat.length === 0) return ALL;
    if (flat.length === 1) return flat[0]!;
    return seal({ kind: 'and', children: Object.freeze(flat) });
  },

  /** Matches when some child matches; `or()` matches nothing. */
  or(children: readonly FilterNode[]): FilterNode {
    const flat: FilterNode[] = [];
    for (const child of checkChildren(children, 'Filter.or')) {
      if (child.kind === 'or') for (const grandchild of child.children) flat.push(grandchild);
      else if (child.kind === 'all') return ALL;
      else flat.push(child);
    }
    if (flat.length === 0) return NONE;
    if (flat.length === 1) return flat[0]!;
    return seal({ kind: 'or', children: Object.freeze(flat) });
  },

  /** Matches when `child` does not. */
  not(child: FilterNode): FilterNode {
    const checked = checkChildren([child], 'Filter.not')[0]!;
    if (checked.kind === 'not') return checked.child;
    return seal({ kind: 'not', child: checked });
  },

  /** Matches when at least `min` (an integer ≥ 0) of `children` match. */
  atLeast(min: number, children: readonly FilterNode[]): FilterNode {
    const checked = checkChildren(children, 'Filter.atLeast');
    if (!Number.isSafeInteger(min) || min < 0) {
      throw filterError(
        'Filter.atLeast',
        `min must be a whole number ≥ 0, got ${String(min)}`,
        'Pass how many children must match.',
      );
    }
    if (min === 0) return ALL;
    if (min > checked.length) return NONE;
    if (min === 1) return Filter.or(checked);
    if (min === checked.length) return Filter.and(checked);
    return seal({ kind: 'atLeast', min, children: Object.freeze(checked) });
  },

  /** A value at `path` (or an element of it) equals `value`. */
  eq(path: PathInput, value: JsonValue): EqNode {
    const p = toPath(path, 'Filter.eq');
    return seal({ kind: 'eq', path: p, value: freezeJsonValue(value, 'Filter.eq value') });
  },

  /** A value at `path` (or an element of it) equals one of `values`. */
  in(path: PathInput, values: readonly JsonValue[]): InNode {
    const p = toPath(path, 'Filter.in');
    return seal({ kind: 'in', path: p, values: checkValues(values, 'Filter.in values') });
  },

  /** Some non-null candidate at `path` is none of `values` (Qdrant's `match.except`). */
  except(path: PathInput, values: readonly JsonValue[]): ExceptNode {
    const p = toPath(path, 'Filter.except');
    return seal({
      kind: 'except',
      path: p,
      values: checkValues(values, 'Filter.except values'),
    });
  },

  /** Some candidate at `path` lies within the bounds: all numbers, or all strings. */
  range(path: PathInput, bounds: Bounds<number> | Bounds<string>): RangeNode {
    const p = toPath(path, 'Filter.range');
    const values = isPlainObject(bounds) ? Object.values(bounds) : [];
    const checked =
      values.some((v) => typeof v === 'string') && !values.some((v) => typeof v === 'number')
        ? checkBounds(bounds, 'Filter.range bounds', isString, 'a string')
        : checkBounds(bounds, 'Filter.range bounds', isFiniteNumber, 'a finite number');
    return seal({ kind: 'range', path: p, bounds: checked });
  },

  /** Some date-time string at `path` lies within the bounds, given in epoch milliseconds. */
  dateRange(path: PathInput, bounds: Bounds<number>): DateRangeNode {
    const p = toPath(path, 'Filter.dateRange');
    const checked = checkBounds(bounds, 'Filter.dateRange bounds', isFiniteNumber, 'epoch ms');
    return seal({ kind: 'dateRange', path: p, bounds: checked });
  },

  /** `path` yields at least one value, `null` included. */
  exists(path: PathInput): ExistsNode {
    return seal({ kind: 'exists', path: toPath(path, 'Filter.exists') });
  },

  /** Every value at `path` is `null` or `[]`, or there is none (Qdrant's `is_empty`). */
  isEmpty(path: PathInput): IsEmptyNode {
    return seal({ kind: 'isEmpty', path: toPath(path, 'Filter.isEmpty') });
  },

  /** Qdrant's `is_null`: a value at `path` is `null` or holds `null`; the same as `eq(path, null)`. */
  isNull(path: PathInput): EqNode {
    return Filter.eq(path, null);
  },

  /** Some string candidate at `path` contains `text`. */
  text(path: PathInput, text: string): TextNode {
    const p = toPath(path, 'Filter.text');
    if (typeof text !== 'string') {
      throw filterError(
        'Filter.text',
        `text must be a string, got ${describeType(text)}`,
        'Pass the substring to look for.',
      );
    }
    return seal({ kind: 'text', path: p, text });
  },

  /** The number of values at `path` lies within the bounds. */
  valuesCount(path: PathInput, bounds: Bounds<number>): ValuesCountNode {
    const p = toPath(path, 'Filter.valuesCount');
    const checked = checkBounds(bounds, 'Filter.valuesCount bounds', isFiniteNumber, 'a number');
    return seal({ kind: 'valuesCount', path: p, bounds: checked });
  },

  /** The point's id is one of `ids`. */
  hasId(ids: readonly PointId[]): HasIdNode {
    if (!Array.isArray(ids)) {
      throw filterError(
        'Filter.hasId',
        `ids must be an array, got ${describeType(ids)}`,
        'Pass a list of point ids.',
      );
    }
    const checked = Array.from(ids, (id: unknown, i) => checkPointId(id, `Filter.hasId ids[${i}]`));
    const unique = [...new Set(checked)].sort(compareIds);
    return seal({ kind: 'hasId', ids: Object.freeze(unique) });
  },

  /** The id's stable hash modulo `count` is one of `buckets` (a cluster node's shards). */
  idBucket(count: number, buckets: readonly number[]): IdBucketNode {
    if (!Number.isSafeInteger(count) || count < 1) {
      throw filterError(
        'Filter.idBucket',
        `count must be a whole number ≥ 1, got ${String(count)}`,
        'Pass the number of shards.',
      );
    }
    if (
      !Array.isArray(buckets) ||
      !buckets.every((b) => Number.isInteger(b) && b >= 0 && b < count)
    ) {
      throw filterError(
        'Filter.idBucket',
        `buckets must be whole numbers from 0 to ${count - 1}`,
        'Pass the shard numbers.',
      );
    }
    const unique = [...new Set(buckets)].sort((a, b) => a - b);
    return seal({ kind: 'idBucket', count, buckets: Object.freeze(unique) });
  },

  /** Some object candidate at `path` matches `filter` by itself (Qdrant's `nested`). */
  nested(path: PathInput, filter: FilterNode): NestedNode {
    const p = toPath(path, 'Filter.nested');
    const checked = checkChildren([filter], 'Filter.nested')[0]!;
    return seal({ kind: 'nested', path: p, filter: checked });
  },
});
