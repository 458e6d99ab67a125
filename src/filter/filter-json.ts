/**
 * A FilterNode from its JSON form. Nodes are pure data, so `JSON.stringify` already writes
 * them; reading one back (a filter sent to another cluster node) must not trust the bytes,
 * so every node is rebuilt through the `Filter` factory, which validates it as it would a
 * filter a user wrote: a hostile or damaged message becomes an INVALID_ARGUMENT, never a
 * malformed node inside the evaluator.
 */
import type { JsonValue, PointId } from '../common/types.js';
import type { Bounds, FilterNode } from './filter-ast.js';
import {
  Filter,
  checkFilterDepth,
  describeType,
  filterError,
  isPlainObject,
} from './filter-ast.js';

const WHERE = 'filterFromJson';

export function filterFromJson(value: unknown): FilterNode {
  return rebuild(value, 0);
}

function rebuild(value: unknown, depth: number): FilterNode {
  checkFilterDepth(WHERE, depth, 'Send a flatter filter.');
  if (!isPlainObject(value)) {
    throw filterError(
      WHERE,
      `a filter node must be an object, got ${describeType(value)}`,
      'Send a FilterNode as JSON.',
    );
  }
  const v = value;
  const children = (): FilterNode[] => listOf(v['children']).map((c) => rebuild(c, depth + 1));
  const path = v['path'] as readonly string[];
  switch (v['kind']) {
    case 'all':
      return Filter.all();
    case 'and':
      return Filter.and(children());
    case 'or':
      return Filter.or(children());
    case 'not':
      return Filter.not(rebuild(v['child'], depth + 1));
    case 'atLeast':
      return Filter.atLeast(v['min'] as number, children());
    case 'eq':
      return Filter.eq(path, v['value'] as JsonValue);
    case 'in':
      return Filter.in(path, listOf(v['values']) as JsonValue[]);
    case 'except':
      return Filter.except(path, listOf(v['values']) as JsonValue[]);
    case 'range':
      return Filter.range(path, v['bounds'] as Bounds<number>);
    case 'dateRange':
      return Filter.dateRange(path, v['bounds'] as Bounds<number>);
    case 'exists':
      return Filter.exists(path);
    case 'isEmpty':
      return Filter.isEmpty(path);
    case 'text':
      return Filter.text(path, v['text'] as string);
    case 'valuesCount':
      return Filter.valuesCount(path, v['bounds'] as Bounds<number>);
    case 'hasId':
      return Filter.hasId(listOf(v['ids']) as PointId[]);
    case 'idBucket':
      return Filter.idBucket(v['count'] as number, listOf(v['buckets']) as number[]);
    case 'nested':
      return Filter.nested(path, rebuild(v['filter'], depth + 1));
    default:
      throw filterError(
        WHERE,
        `unknown filter node kind ${JSON.stringify(v['kind'])}`,
        'Send a FilterNode as JSON.',
      );
  }
}

function listOf(value: unknown): unknown[] {
  if (!Array.isArray(value)) {
    throw filterError(
      WHERE,
      `expected an array, got ${describeType(value)}`,
      'Send a FilterNode as JSON.',
    );
  }
  return value;
}
