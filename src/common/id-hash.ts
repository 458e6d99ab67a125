/**
 * A stable hash of a point id into one of `buckets`: FNV-1a (32-bit) over the id's
 * canonical text — an integer's decimal digits, a UUID in lower case (Qdrant accepts
 * either case for the same UUID). The cluster's shard of a point is this hash, so it is
 * part of the on-wire format: changing it would move every point.
 */
import type { PointId } from './types.js';

export function idBucket(id: PointId, buckets: number): number {
  const text = typeof id === 'number' ? String(id) : id.toLowerCase();
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % buckets;
}
