/**
 * Where a point lives in a cluster: its shard (a stable hash of its id), and the names of
 * a shard's JetStream stream and subject. Every node computes the same answer without
 * asking anyone, so any node can route a write.
 */
import type { PointId } from '../common/types.js';

/**
 * FNV-1a (32-bit) over the id's canonical text: an integer's decimal digits, a UUID in
 * lower case (Qdrant accepts either case for the same UUID). Stable across versions and
 * machines: changing it would move every point, so it is part of the cluster's format.
 */
export function shardOf(id: PointId, shards: number): number {
  const text = typeof id === 'number' ? String(id) : id.toLowerCase();
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
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
