/**
 * Document sync and the doctor against a cluster collection (a SyncStore): ids and points
 * are read from every shard, each read seeing all its stream held when it arrived (so a
 * run started on one node sees what a run on another wrote), and writes go through the
 * shards' streams like any client write. A file's new and old chunks may live on
 * different shards, so they are not one write here: the new chunks are written first and
 * the old ones deleted after, and a run stopped between the two leaves both (never
 * neither) until the next run deletes the rest. Checkpoints stay in the node's own
 * database directory. Custom-sharded collections are refused: every write to them must
 * name a shard key, which a folder of documents does not give.
 */
import { QuiverError } from '../common/quiver-error.js';
import type { Payload, PointId } from '../common/types.js';
import type { PointOp } from '../engine/collection.js';
import type { PointRecord } from '../engine/collection-types.js';
import type { Quiver } from '../engine/quiver.js';
import type { PointInput } from '../engine/validation.js';
import type { SyncCollection, SyncStore } from '../sync/sync-store.js';
import type { ClusterNode } from './cluster-node.js';
import { isCustom } from './shard-keys.js';

/** The cluster collections `node` serves, as sync sees them. */
export class ClusterSyncStore implements SyncStore {
  constructor(
    private readonly node: ClusterNode,
    private readonly db: Quiver,
  ) {}

  get path(): string {
    return this.db.path;
  }

  hasCollection(name: string): boolean {
    return this.node.defines(name);
  }

  collection(name: string): SyncCollection {
    if (isCustom(this.node.definition(name))) {
      throw new QuiverError(
        'INVALID_ARGUMENT',
        `Collection "${name}" uses custom sharding: each write must name a shard key, and a sync has none to give. Sync into a collection with automatic sharding.`,
        { collection: name },
      );
    }
    return new ClusterSyncCollection(this.node, this.db, name);
  }

  /** Defined cluster-wide with one shard on every node, as a Qdrant create without sharding. */
  async createCollection(
    name: string,
    options: { readonly dimension: number; readonly metric: 'cosine' },
  ): Promise<SyncCollection> {
    await this.node.createCollection(name, { ...options });
    return this.collection(name);
  }
}

class ClusterSyncCollection implements SyncCollection {
  constructor(
    private readonly node: ClusterNode,
    private readonly db: Quiver,
    private readonly name: string,
  ) {}

  get config(): { readonly dimension: number } {
    return this.node.definition(this.name).config;
  }

  ids(): Promise<PointId[]> {
    return this.reads().ids();
  }

  getMany(ids: readonly PointId[], options?: { withVector?: boolean }): Promise<PointRecord[]> {
    return this.reads().getMany(ids, options);
  }

  async replace(points: readonly PointInput[], deleteIds: readonly PointId[]): Promise<void> {
    await this.write(this.local().prepareUpsert(points));
    await this.write(this.local().prepareDelete(deleteIds));
  }

  async delete(ids: readonly PointId[]): Promise<void> {
    await this.write(this.local().prepareDelete(ids));
  }

  async setPayload(ids: readonly PointId[], payload: Payload): Promise<void> {
    await this.write(this.local().preparePayloadUpdate(ids, 'merge', payload, []));
  }

  /** Every shard read from one replica, after all its stream held when the read arrived. */
  private reads(): ReturnType<ClusterNode['reads']> {
    return this.node.reads(this.name, { latest: true });
  }

  /** The node's own copy: it checks and prepares operations as a local write would. */
  private local(): ReturnType<Quiver['collection']> {
    return this.db.collection(this.name);
  }

  private async write(op: PointOp | undefined): Promise<void> {
    await this.node.write(this.name, op);
  }
}
