/**
 * What document sync and the doctor need of the database they keep in step with a folder:
 * a collection's ids, points and writes, creating it, and a folder for checkpoints. An
 * embedded database (Quiver) is one as it stands; a cluster node gives another
 * (cluster/cluster-sync-store.ts) whose reads fan out over the shards and whose writes go
 * through the shards' streams.
 */
import type { Payload, PointId } from '../common/types.js';
import type { PointRecord } from '../engine/collection-types.js';
import type { PointInput } from '../engine/validation.js';

/** The collection a sync writes into. */
export interface SyncCollection {
  readonly config: { readonly dimension: number };
  /** Every point's id. */
  ids(): Promise<PointId[]>;
  getMany(ids: readonly PointId[], options?: { withVector?: boolean }): Promise<PointRecord[]>;
  /**
   * Upserts `points` and deletes `deleteIds` (a file's new chunks and its old ones): in one
   * write where the store can (a local collection), else the upsert first, so that a
   * stop between the two leaves chunks twice, never none (the next run deletes the rest).
   */
  replace(points: readonly PointInput[], deleteIds: readonly PointId[]): Promise<unknown>;
  delete(ids: readonly PointId[]): Promise<unknown>;
  /** Merges `payload` into each point's payload. */
  setPayload(ids: readonly PointId[], payload: Payload): Promise<unknown>;
}

/** The database a sync writes into. */
export interface SyncStore {
  /** The database directory: checkpoints go in its `sync/` folder. */
  readonly path: string;
  hasCollection(name: string): boolean;
  /** COLLECTION_NOT_FOUND when missing. */
  collection(name: string): SyncCollection;
  /** COLLECTION_EXISTS when another caller made it first. */
  createCollection(
    name: string,
    options: { readonly dimension: number; readonly metric: 'cosine' },
  ): Promise<SyncCollection>;
}
