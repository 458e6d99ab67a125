/**
 * Deterministic operations for the backup and point-in-time tests: op n is an upsert of a
 * small batch, a delete, or a payload update, always the same for the same n. `applyOps`
 * computes the expected state after the ops with LSN ≤ a bound (the oracle).
 */
import type { Collection, JsonObject, PointId, WriteResult } from '../../src/index.js';
import { randomVector, rng } from '../helpers/random.js';

export const DIM = 8;
export const COLLECTION = 'ops';

export type Op =
  | {
      kind: 'upsert';
      points: { id: PointId; vector: number[]; payload: JsonObject }[];
    }
  | { kind: 'delete'; ids: PointId[] }
  | { kind: 'payload'; ids: PointId[]; payload: JsonObject };

/** The n-th operation (n ≥ 1). */
export function opAt(n: number): Op {
  const r = rng(n * 7919);
  const k = n % 10;
  if (k === 7 && n > 10) {
    return { kind: 'delete', ids: [Math.floor(r() * n * 3), `s${Math.floor(r() * n)}`] };
  }
  if (k === 3 && n > 10) {
    return {
      kind: 'payload',
      ids: [Math.floor(r() * n * 3), `s${Math.floor(r() * n)}`, Math.floor(r() * n * 3) + 1],
      payload: { touched: n },
    };
  }
  const points = [];
  for (let i = 0; i < 6; i++) {
    const id: PointId = i % 3 === 0 ? `s${Math.floor(r() * n + i)}` : Math.floor(r() * n * 3) + i;
    points.push({ id, vector: randomVector(r, DIM), payload: { n, i, tag: `t${n % 5}` } });
  }
  return { kind: 'upsert', points };
}

/** Writes op `op` to the collection (the writer child and the PITR test both do this). */
export function writeOp(c: Collection, op: Op): Promise<WriteResult> {
  return op.kind === 'upsert'
    ? c.upsert(op.points)
    : op.kind === 'delete'
      ? c.delete(op.ids)
      : c.setPayload(op.ids, op.payload);
}

export interface PointState {
  vector: number[];
  payload: JsonObject;
}

/** Applies `ops` (in LSN order) to a map. */
export function applyOps(ops: readonly { op: Op }[]): Map<string, PointState> {
  const state = new Map<string, PointState>();
  for (const { op } of ops) {
    if (op.kind === 'upsert') {
      for (const p of op.points) {
        state.set(JSON.stringify(p.id), { vector: p.vector, payload: p.payload });
      }
    } else if (op.kind === 'delete') {
      for (const id of op.ids) state.delete(JSON.stringify(id));
    } else {
      for (const id of op.ids) {
        const s = state.get(JSON.stringify(id));
        if (s !== undefined) s.payload = { ...s.payload, ...op.payload };
      }
    }
  }
  return state;
}
