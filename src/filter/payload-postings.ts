/**
 * Payload postings: for one field of a set of payloads that no longer changes (a sealed
 * segment), the slots holding each scalar value; and the planner step that turns a filter's
 * equality conditions into candidate slots, so a selective filter checks its candidates
 * instead of every payload. Candidates are a superset of the matches (the full filter is
 * still applied to each), so any filter shape is safe: shapes the postings cannot narrow
 * answer undefined, meaning "check every slot".
 */
import type { Payload } from '../common/types.js';
import type { FieldPath, FilterNode } from './filter-ast.js';
import { forEachScalarAt } from './filter-evaluator.js';

type Scalar = string | number | boolean | null;

function isScalar(value: unknown): value is Scalar {
  return value === null || (typeof value !== 'object' && typeof value !== 'function');
}

/** Slots by scalar value for one field path, in ascending slot order. */
export class PayloadPostings {
  private readonly byValue = new Map<Scalar, number[]>();
  private entries = 0;

  /** Indexes `payloadAt(slot)` for slots [0, slots); undefined payloads are skipped. */
  static build(
    path: FieldPath,
    slots: number,
    payloadAt: (slot: number) => Payload | undefined,
  ): PayloadPostings {
    const postings = new PayloadPostings();
    for (let slot = 0; slot < slots; slot++) {
      const payload = payloadAt(slot);
      if (payload === undefined) continue;
      forEachScalarAt(payload, path, (value) => {
        const list = postings.byValue.get(value);
        if (list === undefined) postings.byValue.set(value, [slot]);
        else if (list[list.length - 1] !== slot) list.push(slot);
        else return;
        postings.entries++;
      });
    }
    return postings;
  }

  /** Slots whose field holds `value` (itself or as an array element). */
  slots(value: Scalar): readonly number[] {
    return this.byValue.get(value) ?? [];
  }

  /** Distinct values indexed. */
  get size(): number {
    return this.byValue.size;
  }

  /** Approximate bytes held (for memory accounting). */
  get bytes(): number {
    return this.entries * 8 + this.byValue.size * 80;
  }
}

/**
 * Candidate slots for `node` (ascending, a superset of its matches), or undefined when its
 * shape gives no narrowing: `eq` and `in` of scalars use the postings of their path; `and`
 * takes its narrowest child. `postingsOf` builds or returns the postings of a path
 * (undefined: that path has none, e.g. past a cap).
 */
export function candidateSlots(
  node: FilterNode,
  postingsOf: (path: FieldPath) => PayloadPostings | undefined,
): readonly number[] | undefined {
  switch (node.kind) {
    case 'eq':
      return isScalar(node.value) ? postingsOf(node.path)?.slots(node.value) : undefined;
    case 'in': {
      if (!node.values.every(isScalar)) return undefined;
      const postings = postingsOf(node.path);
      if (postings === undefined) return undefined;
      const lists = node.values.map((v) => postings.slots(v));
      if (lists.length === 1) return lists[0];
      const union = new Set<number>();
      for (const list of lists) for (const slot of list) union.add(slot);
      return [...union].sort((a, b) => a - b);
    }
    case 'and': {
      let best: readonly number[] | undefined;
      for (const child of node.children) {
        const c = candidateSlots(child, postingsOf);
        if (c !== undefined && (best === undefined || c.length < best.length)) best = c;
      }
      return best;
    }
    default:
      return undefined;
  }
}
