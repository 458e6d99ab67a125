/**
 * Where a point lives in a cluster: its shard (a stable hash of its id), and the names of
 * a shard's JetStream stream and subject. Every node computes the same answer without
 * asking anyone, so any node can route a write.
 */
import { idBucket } from '../common/id-hash.js';
import type { PointId } from '../common/types.js';
import type { PointOp } from '../engine/collection.js';

/** The shard of a point: the stable id hash of common/id-hash.ts, stable across versions. */
export function shardOf(id: PointId, shards: number): number {
  return idBucket(id, shards);
}

/** The ids an operation touches. */
export function idsOf(op: PointOp): readonly PointId[] {
  return op.kind === 'upsert' ? op.points.map((p) => p.id) : op.ids;
}

/** `items` grouped by the shard of their id (shards with none are left out), order kept. */
export function groupByShard<T>(
  items: readonly T[],
  idOf: (item: T) => PointId,
  shards: number,
): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const item of items) {
    const s = shardOf(idOf(item), shards);
    let group = out.get(s);
    if (group === undefined) out.set(s, (group = []));
    group.push(item);
  }
  return out;
}

/**
 * One shard of one definition of a collection. Streams belong to a definition (its `uid`,
 * made when it is created), so a collection dropped and made again under the same name
 * never reads, or deletes, the stream of the old one.
 */
export interface ShardRef {
  readonly collection: string;
  readonly uid: string;
  readonly shard: number;
}

/**
 * The stream of one shard. Collection names are `[A-Za-z0-9_-]` (engine/validation.ts) and
 * uids hex, all legal in stream names and subject tokens, so they are used as they are.
 */
export function streamName(ref: ShardRef): string {
  return `QUIVER_${ref.collection}_${ref.uid}_${ref.shard}`;
}

/** The subject a shard's operations are published on. */
export function shardSubject(ref: ShardRef): string {
  return `quiver.ops.${ref.collection}.${ref.uid}.${ref.shard}`;
}

/** `op` split into one operation per shard that holds some of its ids. */
export function splitOp(op: PointOp, shards: number): Map<number, PointOp> {
  const out = new Map<number, PointOp>();
  if (op.kind === 'upsert') {
    for (const [s, points] of groupByShard(op.points, (p) => p.id, shards))
      out.set(s, { ...op, points });
  } else {
    for (const [s, ids] of groupByShard(op.ids, (id: PointId) => id, shards))
      out.set(s, { ...op, ids });
  }
  return out;
}
