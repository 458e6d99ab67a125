/**
 * Logged points as a collection's state applies them: with their payload as an object.
 * A point prepared on this node carries both forms; one decoded from a log (WAL replay,
 * or a shard stream in cluster mode) carries only the JSON text, parsed here once.
 */
import type { Payload, PointId } from '../common/types.js';
import type { LoggedPoint } from '../storage/wal/wal-body-codec.js';

export interface AppliedPoint {
  readonly id: PointId;
  readonly vector: Float32Array;
  readonly payload: Payload;
}

/** `points` with payload objects; a batch prepared here is returned as it is. */
export function appliedPoints(
  points: readonly (LoggedPoint & { readonly payload?: Payload })[],
): readonly AppliedPoint[] {
  if (points.every((p) => p.payload !== undefined)) return points as readonly AppliedPoint[];
  return points.map((p) => ({
    id: p.id,
    vector: p.vector,
    payload: p.payload ?? (p.payloadJson === '' ? {} : (JSON.parse(p.payloadJson) as Payload)),
  }));
}
