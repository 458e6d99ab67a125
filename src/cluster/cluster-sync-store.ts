/**
 * Document sync and the doctor against a cluster collection (a SyncStore): ids and points
 * are read from every shard, each read seeing all its stream held when it arrived (so a
 * run started on one node sees what a run on another wrote), and writes go through the
 * shards' streams like any client write. A file's new and old chunks may live on
 * different shards, so they are not one write here: the new chunks are written first and
 * the old ones deleted after, and a run stopped between the two leaves both (never
 * neither) until the next run deletes the rest. Writes are cut to stay well inside a
 * stream message. A collection dropped (or dropped and made again) during a run stops it
 * with CLOSED. Checkpoints stay in the node's own database directory. Custom-sharded
 * collections are refused: every write to them must name a shard key, which a folder of
 * documents does not give.
 */
import { isQuiverError, QuiverError } from '../common/quiver-error.js';
import type { Payload, PointId } from '../common/types.js';
import type { PointOp } from '../engine/collection.js';
import type { PointRecord } from '../engine/collection-types.js';
import type { Quiver } from '../engine/quiver.js';
import type { PointInput } from '../engine/validation.js';
import type { SyncCollection, SyncStore } from '../sync/sync-store.js';
import type { ClusterCollectionDef, JobLease } from './cluster-meta.js';
import type { ClusterNode } from './cluster-node.js';
import { isCustom } from './shard-keys.js';
import { unavailable } from './shard-log.js';

/** A held job lease: renewed in the background until released. */
export interface JobHold {
  release(): Promise<void>;
}

/** A lease lapses this long after its last renewal (a node that died holding it). */
const LEASE_MS = 15_000;
const RENEW_MS = 5_000;

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
    const def = this.node.definition(name);
    if (isCustom(def)) {
      throw new QuiverError(
        'INVALID_ARGUMENT',
        `Collection "${name}" uses custom sharding: each write must name a shard key, and a sync has none to give. Sync into a collection with automatic sharding.`,
        { collection: name },
      );
    }
    if (!this.node.hosts(name)) {
      // Its writes are prepared by the node's own copy, which it does not have.
      throw new QuiverError(
        'UNAVAILABLE',
        `This node does not host collection "${name}" (its local copy could not be made: see the node's log); start the job on another node, or fix this one.`,
        { collection: name },
      );
    }
    return new ClusterSyncCollection(this.node, this.db, name, def.createdAt);
  }

  /**
   * Takes the cluster-wide job lease of collection `name` for job `job` of `kind`, so that
   * one sync or doctor job runs on a collection at a time on any node; or says which job
   * holds it (UNAVAILABLE when NATS does not answer). Held until released, renewed every
   * RENEW_MS, one renewal at a time. `onLost` is called once if the hold is lost while the
   * job runs (another job took the key, or no renewal got through before it lapsed): the
   * caller stops the job then, as two jobs must not run at once.
   */
  async holdJob(
    name: string,
    kind: string,
    job: string,
    onLost: () => void,
  ): Promise<{ readonly hold: JobHold } | { readonly holder: JobLease }> {
    const meta = this.node.metadata;
    const lease = (): JobLease => ({ node: this.node.id, job, kind, until: Date.now() + LEASE_MS });
    let sent = lease();
    let taken;
    try {
      taken = await meta.takeJobLease(name, sent);
    } catch (e) {
      throw unavailable(`taking the job lease of "${name}"`, e);
    }
    if ('holder' in taken) return taken;
    let revision: number | undefined = taken.revision;
    let until = sent.until;
    let renewing: Promise<void> | undefined;
    const lost = (): void => {
      revision = undefined;
      clearInterval(timer);
      onLost();
    };
    const timer = setInterval(() => {
      if (renewing !== undefined || revision === undefined) return; // one at a time
      if (Date.now() >= until) return lost(); // no renewal got through in time
      sent = lease();
      renewing = meta
        .renewJobLease(name, sent, revision)
        .then(
          (next) => {
            if (next === undefined) return lost();
            revision = next;
            until = sent.until;
          },
          () => undefined, // NATS did not answer: the next turn tries again while it can
        )
        .finally(() => (renewing = undefined));
    }, RENEW_MS);
    timer.unref();
    return {
      hold: {
        release: async () => {
          clearInterval(timer);
          await renewing;
          const at = revision;
          revision = undefined;
          if (at !== undefined) await meta.releaseJobLease(name, at).catch(() => undefined);
        },
      },
    };
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

/**
 * Bytes of points (vectors and payloads) in one write: a stream message is at most NATS's
 * max_payload (1 MiB by default), and a batch of sync chunks of wide vectors can pass it
 * when a collection has one shard.
 */
const WRITE_BYTES = 256 << 10;
/** Ids in one delete (a UUID is about 40 bytes encoded). */
const DELETE_IDS = 4096;

class ClusterSyncCollection implements SyncCollection {
  constructor(
    private readonly node: ClusterNode,
    private readonly db: Quiver,
    private readonly name: string,
    /**
     * When the collection this sync started on was made. A resharding gives a collection
     * a new definition (and uid) but keeps this; one dropped and made again has another.
     */
    private readonly createdAt: string,
  ) {}

  get config(): { readonly dimension: number } {
    return this.current().config;
  }

  ids(): Promise<PointId[]> {
    return this.reads().ids();
  }

  getMany(ids: readonly PointId[], options?: { withVector?: boolean }): Promise<PointRecord[]> {
    return this.reads().getMany(ids, options);
  }

  async replace(points: readonly PointInput[], deleteIds: readonly PointId[]): Promise<void> {
    const dimension = this.config.dimension;
    let part: PointInput[] = [];
    let bytes = 0;
    for (const p of points) {
      const size = dimension * 4 + JSON.stringify(p.payload ?? {}).length + 64;
      if (part.length > 0 && bytes + size > WRITE_BYTES) {
        await this.write(this.local().prepareUpsert(part));
        part = [];
        bytes = 0;
      }
      part.push(p);
      bytes += size;
    }
    if (part.length > 0) await this.write(this.local().prepareUpsert(part));
    await this.delete(deleteIds);
  }

  async delete(ids: readonly PointId[]): Promise<void> {
    for (let i = 0; i < ids.length; i += DELETE_IDS) {
      await this.write(this.local().prepareDelete(ids.slice(i, i + DELETE_IDS)));
    }
  }

  async setPayload(ids: readonly PointId[], payload: Payload): Promise<void> {
    await this.write(this.local().preparePayloadUpdate(ids, 'merge', payload, []));
  }

  /**
   * The definition, as long as it is of the collection the sync started on (resharded or
   * not); CLOSED naming the collection once it was dropped (and maybe made again): the
   * run stops there (sync.ts says so in its own words).
   */
  private current(): ClusterCollectionDef {
    const def = this.node.defines(this.name) ? this.node.definition(this.name) : undefined;
    if (def?.createdAt !== this.createdAt) {
      throw new QuiverError(
        'CLOSED',
        `Collection "${this.name}" was dropped from the cluster during this call.`,
        { collection: this.name },
      );
    }
    return def;
  }

  /** Every shard read from one replica, after all its stream held when the read arrived. */
  private reads(): ReturnType<ClusterNode['reads']> {
    this.current();
    return this.node.reads(this.name, { latest: true });
  }

  /** The node's own copy: it checks and prepares operations as a local write would. */
  private local(): ReturnType<Quiver['collection']> {
    this.current();
    return this.db.collection(this.name);
  }

  private async write(op: PointOp | undefined): Promise<void> {
    this.current();
    try {
      await this.node.write(this.name, op);
    } catch (e) {
      if (isQuiverError(e, 'COLLECTION_NOT_FOUND')) this.current(); // dropped just now
      throw e;
    }
  }
}
