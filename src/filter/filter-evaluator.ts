/**
 * compileFilter: turns a filter AST into one closure per node, once, so checking a point only
 * resolves paths and compares. Compiled filters never throw, whatever the payload holds.
 */
import { idBucket } from '../common/id-hash.js';
import type { JsonValue, Payload, PointId } from '../common/types.js';
import { invalidArgument } from '../common/quiver-error.js';
import { parseDateTime } from './date-time.js';
import { isFilterNode } from './filter-ast.js';
import type { Bounds, FieldPath, FilterNode } from './filter-ast.js';

/** A compiled filter: true when the point with this payload and id matches. */
export type CompiledFilter = (payload: Payload, id: PointId) => boolean;

/** A test on one value found at a path; `id` is passed through for nested filters. */
type ValueTest = (value: unknown, id: PointId) => boolean;

const matchAll: CompiledFilter = () => true;
const EMPTY: Payload = Object.freeze({});

/**
 * Compiles `node` into a predicate over (payload, id). The AST is walked once here; each call
 * then only resolves paths and compares. The predicate never throws: a payload that is not an
 * object is read as `{}`, and types a node does not expect simply do not match. Throws
 * INVALID_ARGUMENT for a node not built by the `Filter` factory (which validated it).
 *
 * ### Examples
 * ```ts
 * const matches = compileFilter(parseMongoFilter({ lang: 'en', price: { $lt: 100 } }));
 * matches({ lang: 'en', price: 10 }, 1); // true
 * ```
 */
export function compileFilter(node: FilterNode): CompiledFilter {
  if (!isFilterNode(node)) {
    throw invalidArgument(
      'compileFilter needs a node built by the Filter factory (or parseMongoFilter / parseQdrantFilter), not a hand-made object.',
    );
  }
  const compiled = compileNode(node);
  if (compiled === matchAll) return matchAll;
  const filter: CompiledFilter = (payload, id) => compiled(isObject(payload) ? payload : EMPTY, id);
  sources.set(filter, node);
  return filter;
}

/** The node each compiled filter came from, for planners that look at its shape. */
const sources = new WeakMap<CompiledFilter, FilterNode>();

/** The node `filter` was compiled from (undefined for match-all or a hand-written function). */
export function filterSource(filter: CompiledFilter): FilterNode | undefined {
  return sources.get(filter);
}

/**
 * Calls `visit` with every scalar (string, number, boolean, null) an `eq` or `in` node on
 * `path` could match in `payload`: the values found at the path, and the scalar elements of
 * found arrays (the same resolution the evaluator uses). Payload indexes are built with it.
 */
export function forEachScalarAt(
  payload: Payload,
  path: FieldPath,
  visit: (value: string | number | boolean | null) => void,
): void {
  someAt(
    payload,
    path,
    0,
    (v) => {
      if (isScalar(v)) visit(v);
      else if (Array.isArray(v)) for (const c of v) if (isScalar(c)) visit(c);
      return false;
    },
    0,
  );
}

/** One-off check of a point against `node`; compile once with {@link compileFilter} for loops. */
export function matchesFilter(node: FilterNode, payload: Payload, id: PointId): boolean {
  return compileFilter(node)(payload, id);
}

/**
 * One case per node kind, each a few lines: the switch is the table of what every kind
 * compiles to, and reads best whole (its length grows with the AST, not with any one case).
 */
function compileNode(node: FilterNode): CompiledFilter {
  switch (node.kind) {
    case 'all':
      return matchAll;
    case 'and': {
      const parts = node.children.map(compileNode);
      return (payload, id) => {
        for (const part of parts) if (!part(payload, id)) return false;
        return true;
      };
    }
    case 'or': {
      const parts = node.children.map(compileNode);
      return (payload, id) => {
        for (const part of parts) if (part(payload, id)) return true;
        return false;
      };
    }
    case 'not': {
      const child = compileNode(node.child);
      return (payload, id) => !child(payload, id);
    }
    case 'atLeast': {
      const parts = node.children.map(compileNode);
      const min = node.min;
      return (payload, id) => {
        let hits = 0;
        for (let i = 0; i < parts.length; i++) {
          if (parts[i]!(payload, id) && ++hits >= min) return true;
          if (hits + (parts.length - 1 - i) < min) return false;
        }
        return false;
      };
    }
    case 'eq':
      return anyValue(node.path, equalsTest(node.value));
    case 'in':
      return anyValue(node.path, inTest(node.values));
    case 'except': {
      const isListed = memberTest(node.values);
      const admits = (c: unknown): boolean => c !== null && c !== undefined && !isListed(c);
      return anyValue(node.path, (v) => (Array.isArray(v) ? v.some(admits) : admits(v)));
    }
    case 'range': {
      const bounds = node.bounds;
      const type = typeof Object.values(bounds)[0];
      const within = boundsTest<number | string>(bounds);
      const admits = (c: unknown): boolean => typeof c === type && within(c as number | string);
      return anyValue(node.path, candidatesTest(admits));
    }
    case 'dateRange': {
      const within = boundsTest(node.bounds);
      const admits = (c: unknown): boolean => {
        if (typeof c !== 'string') return false;
        const instant = parseDateTime(c);
        return instant !== undefined && within(instant);
      };
      return anyValue(node.path, candidatesTest(admits));
    }
    case 'exists':
      return anyValue(node.path, () => true);
    case 'isEmpty': {
      const notEmpty = anyValue(
        node.path,
        (v) => v !== null && !(Array.isArray(v) && v.length === 0),
      );
      return (payload, id) => !notEmpty(payload, id);
    }
    case 'text': {
      const text = node.text;
      return anyValue(
        node.path,
        candidatesTest((c) => typeof c === 'string' && c.includes(text)),
      );
    }
    case 'valuesCount': {
      const path = node.path;
      const within = boundsTest(node.bounds);
      return (payload) => within(countValues(payload, path, 0));
    }
    case 'hasId': {
      const ids = new Set<PointId>(node.ids);
      return (_payload, id) => ids.has(id);
    }
    case 'idBucket': {
      const { count } = node;
      const buckets = new Set(node.buckets);
      return (_payload, id) => buckets.has(idBucket(id, count));
    }
    case 'nested': {
      const inner = compileNode(node.filter);
      const admits = (c: unknown, id: PointId): boolean => isObject(c) && inner(c, id);
      return anyValue(node.path, (v, id) =>
        Array.isArray(v) ? v.some((c) => admits(c, id)) : admits(v, id),
      );
    }
    default:
      return unknownKind(node);
  }
}

function unknownKind(node: never): never {
  throw invalidArgument(
    `Cannot compile filter node of kind ${JSON.stringify((node as { kind?: unknown }).kind)}: build filter nodes with the Filter factory.`,
  );
}

function isObject(value: unknown): value is Payload {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value under `key` when `container` owns it (prototype keys such as `toString` do not count). */
function childOf(container: Payload, key: string): unknown {
  return Object.hasOwn(container, key) ? container[key] : undefined;
}

/**
 * True when some value at `path[i..]` below `value` passes `test`. Before the last key an
 * array is traversed one level: its object elements are looked into.
 */
function someAt(value: unknown, path: FieldPath, i: number, test: ValueTest, id: PointId): boolean {
  if (i === path.length) return test(value, id);
  const key = path[i]!;
  if (Array.isArray(value)) {
    for (const element of value) {
      if (!isObject(element)) continue;
      const child = childOf(element, key);
      if (child !== undefined && someAt(child, path, i + 1, test, id)) return true;
    }
    return false;
  }
  if (!isObject(value)) return false;
  const child = childOf(value, key);
  return child !== undefined && someAt(child, path, i + 1, test, id);
}

function anyValue(path: FieldPath, test: ValueTest): CompiledFilter {
  if (path.length === 1) {
    // The common case, a top-level field: one own-property read.
    const key = path[0]!;
    return (payload, id) => {
      const value = childOf(payload, key);
      return value !== undefined && test(value, id);
    };
  }
  return (payload, id) => someAt(payload, path, 0, test, id);
}

/** The number of values at `path[i..]`: an array counts its elements, null 0, others 1. */
function countValues(value: unknown, path: FieldPath, i: number): number {
  if (i === path.length) {
    if (value === null) return 0;
    return Array.isArray(value) ? value.length : 1;
  }
  const key = path[i]!;
  let count = 0;
  if (Array.isArray(value)) {
    for (const element of value) {
      if (!isObject(element)) continue;
      const child = childOf(element, key);
      if (child !== undefined) count += countValues(child, path, i + 1);
    }
  } else if (isObject(value)) {
    const child = childOf(value, key);
    if (child !== undefined) count += countValues(child, path, i + 1);
  }
  return count;
}

/** Lifts a test on one candidate to a found value: the value itself, or any of its elements. */
function candidatesTest(admits: (candidate: unknown) => boolean): ValueTest {
  return (v) => (Array.isArray(v) ? v.some(admits) : admits(v));
}

function boundsTest<T extends number | string>(bounds: Bounds<T>): (x: T) => boolean {
  const { gt, gte, lt, lte } = bounds;
  return (x) =>
    (gt === undefined || x > gt) &&
    (gte === undefined || x >= gte) &&
    (lt === undefined || x < lt) &&
    (lte === undefined || x <= lte);
}

function isScalar(value: unknown): value is string | number | boolean | null {
  return value === null || (typeof value !== 'object' && typeof value !== 'function');
}

/** The found value equals `expected`, or is an array with an element equal to it. */
function equalsTest(expected: JsonValue): ValueTest {
  if (isScalar(expected)) {
    return (v) => v === expected || (Array.isArray(v) && v.includes(expected));
  }
  return (v) =>
    jsonEquals(v, expected) || (Array.isArray(v) && v.some((c) => jsonEquals(c, expected)));
}

/** A membership test over JSON values: scalars by a Set, arrays and objects by jsonEquals. */
function memberTest(values: readonly JsonValue[]): (candidate: unknown) => boolean {
  const scalars = new Set<unknown>(values.filter(isScalar));
  const composites = values.filter((v) => !isScalar(v));
  if (composites.length === 0) return (c) => scalars.has(c);
  return (c) => (isScalar(c) ? scalars.has(c) : composites.some((d) => jsonEquals(c, d)));
}

function inTest(values: readonly JsonValue[]): ValueTest {
  const isListed = memberTest(values);
  return (v) => isListed(v) || (Array.isArray(v) && v.some(isListed));
}

/**
 * JSON equality of a payload value with a filter value, object key order ignored. Recursion
 * follows `expected`, which the factory bounded to MAX_FILTER_DEPTH, so any payload is safe.
 */
function jsonEquals(actual: unknown, expected: JsonValue): boolean {
  if (actual === expected) return true;
  if (isScalar(expected)) return false;
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return false;
    for (let i = 0; i < expected.length; i++) {
      if (!jsonEquals(actual[i], expected[i]!)) return false;
    }
    return true;
  }
  if (!isObject(actual)) return false;
  const keys = Object.keys(expected);
  let actualKeys = 0;
  for (const key of Object.keys(actual)) if (actual[key] !== undefined) actualKeys++;
  if (actualKeys !== keys.length) return false;
  for (const key of keys) {
    const child = childOf(actual, key);
    if (child === undefined || !jsonEquals(child, expected[key]!)) return false;
  }
  return true;
}
