/**
 * Cluster metadata in JetStream key-value buckets, replicated like the shard streams:
 * `quiver_meta` holds each collection's definition (`collections.<name>`: its engine
 * config, shard count and which nodes hold each shard), created with create-if-absent so two
 * nodes creating one name cannot both win and changed only by compare-and-set; `quiver_nodes` holds each node's heartbeat, which
 * expires with the bucket's TTL when the node stops beating.
 */
import type { JetStreamClient, KV, KvEntry } from 'nats';
import { QuiverError } from '../common/quiver-error.js';
import type { CreateCollectionOptions } from '../engine/validation.js';

/** `active` replicas serve reads; a `partial` one is still reading its stream from the start. */
export type ReplicaState = 'active' | 'partial';

export interface ShardReplica {
  readonly node: string;
  readonly state: ReplicaState;
}

/** shard (as a string key) → the nodes holding a replica of it. */
export type Placement = Readonly<Record<string, readonly ShardReplica[]>>;

export interface ClusterCollectionDef {
  readonly name: string;
  /** Made at creation: names this definition's streams and positions (see ShardRef). */
  readonly uid: string;
  /** What `db.createCollection` takes on every node. */
  readonly config: CreateCollectionOptions;
  readonly shards: number;
  /** Replicas of each stream on the NATS servers (not Quiver nodes). */
  readonly replicas: number;
  readonly createdAt: string;
  /**
   * Which Quiver nodes hold each shard. Absent: every node holds every shard, nodes that
   * join later included (the default, and what collections made before placement have).
   */
  readonly placement?: Placement;
  /**
   * Set while a cluster backup is restored into this collection (cluster-restore.ts): a
   * restore cut short resumes only with the same backup and `--to-time`.
   */
  readonly restoring?: { readonly backup: string; readonly toTime: string | null };
  /** Set while the collection is resharded (resharding.ts): where it is going. */
  readonly resharding?: Resharding;
  /**
   * After a resharding switched to this definition: the one before, whose streams are
   * deleted once every node follows this one (then this is cleared).
   */
  readonly previous?: { readonly uid: string; readonly shards: number };
  /**
   * Qdrant's `sharding_method: "custom"` (shard-keys.ts): points are routed by the shard key
   * a write names, then by id hash over that key's shards. Absent on auto collections (and
   * on every definition written before shard keys), whose shards are 0..shards-1. On a
   * custom collection `shards` counts every shard number ever given to a key (numbers are
   * never reused), and the live shards are those of `shardKeys`.
   */
  readonly custom?: CustomSharding;
}

/** A shard key: Qdrant's ShardKey, a string or a non-negative integer. */
export type ShardKey = string | number;

export interface ShardKeyDef {
  readonly key: ShardKey;
  /** The shard numbers (streams) of this key; a point goes to shards[idHash % length]. */
  readonly shards: readonly number[];
}

export interface CustomSharding {
  /** Shards a new key gets when its create names none (the collection's `shard_number`). */
  readonly shardsPerKey: number;
  /** Replicas per shard for a new key (the collection's `replication_factor`), if given. */
  readonly replicationFactor?: number;
  readonly keys: readonly ShardKeyDef[];
}

/**
 * A resharding in progress: the next definition's uid and shard count (its streams exist
 * and are being filled from the current ones), and its placement when the collection has
 * one. Nodes build their copy of it beside the current one and swap it in once the
 * definition switches to `uid`. After `sealed`, the current streams take no more writes
 * and the operation can only be finished, not aborted.
 */
export interface Resharding {
  readonly uid: string;
  readonly shards: number;
  readonly placement?: Placement;
  readonly sealed: boolean;
  readonly startedAt: string;
}

/**
 * How far a resharding copied each old shard's stream (old shard → last sequence copied),
 * and the run doing it: one run at a time holds this lease, renewed with every save.
 */
export interface ReshardProgress {
  readonly uid: string;
  readonly copied: Readonly<Record<string, number>>;
  readonly owner: string;
  readonly renewedAt: string;
}

export interface NodeBeat {
  readonly id: string;
  /** Where the node's HTTP API answers, when it serves one. */
  readonly url: string | undefined;
  readonly startedAt: string;
  readonly beatAt: string;
  /** collection → shard → applied sequence, and whether it is catching up. */
  readonly applied: Record<string, Record<string, number>>;
  readonly catchingUp: boolean;
  /** Trailing by more than READY_MAX_LAG (cluster-node.ts): reads prefer other replicas. */
  readonly behind?: boolean;
  /** collection → the uid of the definition this node's copy follows (a resharding waits on it). */
  readonly hosting?: Record<string, string>;
}

/** COLLECTION_NOT_FOUND for a name the cluster does not define. */
export function notInCluster(name: string): QuiverError {
  return new QuiverError(
    'COLLECTION_NOT_FOUND',
    `Collection "${name}" does not exist in the cluster.`,
    { collection: name },
  );
}

/**
 * A sync or doctor job's hold on a collection (`jobs.<name>`): one such job runs at a time
 * in the cluster. It lapses at `until` unless renewed, so a node that died holding it
 * blocks the collection's jobs for a lease period at most.
 */
export interface JobLease {
  readonly node: string;
  readonly job: string;
  readonly kind: string;
  /** Epoch milliseconds. */
  readonly until: number;
}

/** A node not heard from for this long is gone from `quiver_nodes`. */
export const NODE_TTL_MS = 10_000;
/**
 * True when a compare-and-set lost to another writer: the key moved on since the revision
 * given ("wrong last sequence"), or, for a create (`creating`), it exists already.
 */
function casLost(e: unknown, creating = false): boolean {
  return (creating ? /wrong last sequence|exists/i : /wrong last sequence/i).test(String(e));
}

const json = {
  encode: (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v)),
  decode: <T>(e: KvEntry): T => JSON.parse(new TextDecoder().decode(e.value)) as T,
};

export class ClusterMeta {
  private constructor(
    private readonly meta: KV,
    private readonly beats: KV,
  ) {}

  static async open(js: JetStreamClient, replicas: number): Promise<ClusterMeta> {
    // Reads through the stream's leader, not any replica ("direct get"): a replica a
    // moment behind showed a job lease already released as still held (CI saw the 409),
    // and the compare-and-set paths read the revision they then write against.
    const meta = await js.views.kv('quiver_meta', { replicas, history: 5, allow_direct: false });
    const beats = await js.views.kv('quiver_nodes', { replicas, ttl: NODE_TTL_MS });
    return new ClusterMeta(meta, beats);
  }

  /** The buckets of an existing cluster, for tools that only read (creates nothing). */
  static async bind(js: JetStreamClient): Promise<ClusterMeta> {
    const meta = await js.views.kv('quiver_meta', { bindOnly: true });
    const beats = await js.views.kv('quiver_nodes', { bindOnly: true });
    return new ClusterMeta(meta, beats);
  }

  /** Every collection defined in the cluster. */
  async collections(): Promise<ClusterCollectionDef[]> {
    const keys: string[] = [];
    for await (const key of await this.meta.keys('collections.>')) keys.push(key);
    const out: ClusterCollectionDef[] = [];
    for (const key of keys) {
      const def = await this.collection(key.slice('collections.'.length));
      if (def !== undefined) out.push(def);
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Creates the definition; false when a collection of that name already exists. */
  async createCollection(def: ClusterCollectionDef): Promise<boolean> {
    try {
      await this.meta.create(`collections.${def.name}`, json.encode(def));
      return true;
    } catch (e) {
      if (casLost(e, true)) return false;
      throw e;
    }
  }

  /**
   * Changes a definition by compare-and-set: `change` sees the current definition and
   * returns the next (or throws); a concurrent change makes it run again on the newer one.
   * Resolves with what was stored.
   */
  async updateCollection(
    name: string,
    change: (def: ClusterCollectionDef) => ClusterCollectionDef,
  ): Promise<ClusterCollectionDef> {
    for (let attempt = 0; ; attempt++) {
      const e = await this.meta.get(`collections.${name}`);
      if (e === null || e.operation !== 'PUT') {
        throw notInCluster(name);
      }
      const current = json.decode<ClusterCollectionDef>(e);
      const next = change(current);
      if (next === current) return current; // nothing to change: wake no watcher
      try {
        await this.meta.update(`collections.${name}`, json.encode(next), e.revision);
        return next;
      } catch (err) {
        if (attempt < 20 && casLost(err)) continue;
        throw err;
      }
    }
  }

  async dropCollection(name: string): Promise<void> {
    await this.meta.delete(`collections.${name}`);
  }

  /**
   * The copy progress of the resharding of `name` (undefined: none saved) and the entry's
   * revision, for {@link saveReshardProgress}.
   */
  async reshardProgress(
    name: string,
  ): Promise<{ progress: ReshardProgress | undefined; revision: number }> {
    const e = await this.meta.get(`reshard.${name}`);
    if (e === null) return { progress: undefined, revision: 0 };
    const progress = e.operation === 'PUT' ? json.decode<ReshardProgress>(e) : undefined;
    return { progress, revision: e.revision };
  }

  /**
   * Saves progress if the entry is still at `revision` (0: never written): the new
   * revision, or undefined when another run wrote it meanwhile.
   */
  async saveReshardProgress(
    name: string,
    progress: ReshardProgress,
    revision: number,
  ): Promise<number | undefined> {
    const key = `reshard.${name}`;
    try {
      return revision === 0
        ? await this.meta.create(key, json.encode(progress))
        : await this.meta.update(key, json.encode(progress), revision);
    } catch (e) {
      if (casLost(e, true)) return undefined;
      throw e;
    }
  }

  async forgetReshardProgress(name: string): Promise<void> {
    await this.meta.delete(`reshard.${name}`);
  }

  /**
   * Takes the job lease of collection `name`: created, or taken over by compare-and-set
   * when the one there has lapsed. Its revision (to renew and release it by), or the
   * lease another job holds.
   */
  async takeJobLease(
    name: string,
    lease: JobLease,
  ): Promise<{ readonly revision: number } | { readonly holder: JobLease }> {
    const key = `jobs.${name}`;
    for (let attempt = 0; ; attempt++) {
      const e = await this.meta.get(key);
      const held = e !== null && e.operation === 'PUT' ? json.decode<JobLease>(e) : undefined;
      // Ours already: a create that timed out here but was stored.
      if (e !== null && held?.job === lease.job) return { revision: e.revision };
      if (held !== undefined && held.until > Date.now()) return { holder: held };
      try {
        const revision =
          e === null
            ? await this.meta.create(key, json.encode(lease))
            : await this.meta.update(key, json.encode(lease), e.revision);
        return { revision };
      } catch (err) {
        if (attempt < 5 && casLost(err, true)) continue;
        throw err;
      }
    }
  }

  /**
   * Extends the lease of `lease.job`: the new revision, undefined when another job holds
   * the key now. `revision` is the one last known; when the key moved on (a renewal that
   * timed out here but was stored), it is read again and renewed if still this job's.
   */
  async renewJobLease(
    name: string,
    lease: JobLease,
    revision: number,
  ): Promise<number | undefined> {
    const key = `jobs.${name}`;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        return await this.meta.update(key, json.encode(lease), revision);
      } catch (e) {
        if (!casLost(e)) throw e;
      }
      const e = await this.meta.get(key);
      if (e === null || e.operation !== 'PUT' || json.decode<JobLease>(e).job !== lease.job) {
        return undefined;
      }
      revision = e.revision;
    }
    return undefined;
  }

  /** Lets go of a lease still at `revision` (one taken over meanwhile is left alone). */
  async releaseJobLease(name: string, revision: number): Promise<void> {
    try {
      await this.meta.delete(`jobs.${name}`, { previousSeq: revision });
    } catch (e) {
      if (!casLost(e)) throw e;
    }
  }

  async collection(name: string): Promise<ClusterCollectionDef | undefined> {
    const e = await this.meta.get(`collections.${name}`);
    return e === null || e.operation !== 'PUT' ? undefined : json.decode<ClusterCollectionDef>(e);
  }

  /**
   * Calls `onChange` for every collection now defined, then for each create (a definition)
   * and drop (undefined) as it happens, in order, until the returned function is called.
   * Resolves once the definitions that existed are delivered; `onError` hears of a bad
   * entry or of the watch ending.
   */
  async watchCollections(
    onChange: (name: string, def: ClusterCollectionDef | undefined) => Promise<void>,
    onError: (e: unknown) => void,
  ): Promise<() => void> {
    let stopped = false;
    let initialized: () => void = () => undefined;
    const ready = new Promise<void>((r) => (initialized = r));
    const watch = await this.meta.watch({
      key: 'collections.>',
      initializedFn: () => initialized(),
    });
    void (async () => {
      try {
        for await (const e of watch) {
          const name = e.key.slice('collections.'.length);
          try {
            await onChange(
              name,
              e.operation === 'PUT' ? json.decode<ClusterCollectionDef>(e) : undefined,
            );
          } catch (err) {
            onError(err); // one bad entry must not stop following the others
          }
        }
        if (!stopped) onError(new Error('the metadata watch ended'));
      } catch (err) {
        if (!stopped) onError(err);
      } finally {
        initialized();
      }
    })();
    // nats.js reports the end of the initial values (also for an empty bucket); the bound
    // keeps a start from hanging on servers that stopped answering mid-watch.
    await Promise.race([ready, new Promise((r) => setTimeout(r, 2_000).unref())]);
    return () => {
      stopped = true;
      watch.stop();
    };
  }

  async beat(b: NodeBeat): Promise<void> {
    await this.beats.put(`nodes.${b.id}`, json.encode(b));
  }

  async forget(id: string): Promise<void> {
    await this.beats.delete(`nodes.${id}`);
  }

  /** Every node that beat within the TTL. */
  async nodes(): Promise<NodeBeat[]> {
    // Keys first, then values: awaiting a get inside the keys iteration ends it after one
    // key (nats.js 2.29).
    const keys: string[] = [];
    for await (const key of await this.beats.keys('nodes.>')) keys.push(key);
    const out: NodeBeat[] = [];
    for (const key of keys) {
      const e = await this.beats.get(key);
      if (e !== null && e.operation === 'PUT') out.push(json.decode<NodeBeat>(e));
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }
}
