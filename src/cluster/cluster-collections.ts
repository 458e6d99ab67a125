/**
 * Defining a collection in the cluster: the checks every node's engine will make, one
 * stream per shard, then the definition in the metadata bucket by create-if-absent, so of
 * two creators of one name exactly one wins (the loser removes the streams it made). Used
 * by a node's create and by a cluster restore (cluster-backup.ts), which runs with no node.
 */
import { randomUUID } from 'node:crypto';
import type { JetStreamManager } from 'nats';
import { QuiverError } from '../common/quiver-error.js';
import type { CreateCollectionOptions } from '../engine/validation.js';
import { buildCollectionConfig } from '../engine/validation.js';
import type { ClusterCollectionDef, ClusterMeta } from './cluster-meta.js';
import { deleteShardStream, ensureShardStream } from './shard-log.js';
import { initialPlacement } from './shard-placement.js';

export interface CollectionRequest {
  readonly name: string;
  readonly config: CreateCollectionOptions;
  /** Qdrant's `shard_number`: 1 to 64. */
  readonly shards: number;
  /** Qdrant's `replication_factor`: nodes per shard; absent, every node holds every shard. */
  readonly replicationFactor?: number | undefined;
  /** Marks a collection being restored (see ClusterCollectionDef.restoring). */
  readonly restoring?: ClusterCollectionDef['restoring'];
  /**
   * Qdrant's `sharding_method: "custom"`: the collection starts with no shard; each shard key
   * created later gets `shards` of them (replicated `replicationFactor` times when given).
   */
  readonly custom?: boolean;
}

/**
 * Defines `request` in the cluster with streams of `replicas` NATS replicas; `nodes` lists
 * the nodes a replication factor spreads the shards over. COLLECTION_EXISTS when the name
 * is taken, INVALID_ARGUMENT for a bad option (before anything is created).
 */
export async function defineCollection(
  meta: ClusterMeta,
  jsm: JetStreamManager,
  replicas: number,
  request: CollectionRequest,
  nodes: () => Promise<readonly string[]>,
): Promise<ClusterCollectionDef> {
  const { name, config, shards, replicationFactor } = request;
  buildCollectionConfig(name, config); // the same checks every node's engine will make
  checkCount('shard_number', shards, name);
  if (replicationFactor !== undefined) checkCount('replication_factor', replicationFactor, name);
  const custom = request.custom === true;
  const placement =
    replicationFactor === undefined || custom
      ? undefined
      : initialPlacement(shards, await nodes(), replicationFactor);
  const uid = randomUUID().replaceAll('-', '').slice(0, 12);
  // A custom collection's shards come with its keys (shard-keys.ts).
  const made = custom ? 0 : shards;
  for (let shard = 0; shard < made; shard++) {
    await ensureShardStream(jsm, { collection: name, uid, shard }, replicas);
  }
  const def: ClusterCollectionDef = {
    name,
    uid,
    config,
    shards: made,
    replicas,
    createdAt: new Date().toISOString(),
    ...(placement === undefined ? {} : { placement }),
    ...(custom
      ? {
          custom: {
            shardsPerKey: shards,
            ...(replicationFactor === undefined ? {} : { replicationFactor }),
            keys: [],
          },
        }
      : {}),
    ...(request.restoring === undefined ? {} : { restoring: request.restoring }),
  };
  if (!(await meta.createCollection(def))) {
    for (let shard = 0; shard < made; shard++) {
      await deleteShardStream(jsm, { collection: name, uid, shard });
    }
    throw new QuiverError(
      'COLLECTION_EXISTS',
      `Collection "${name}" already exists in the cluster.`,
      { collection: name },
    );
  }
  return def;
}

/** Shard counts and replication factors are integers from 1 to 64. */
export function checkCount(field: string, value: number, collection: string): void {
  if (!Number.isInteger(value) || value < 1 || value > 64) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `${field} must be an integer from 1 to 64, got ${JSON.stringify(value)}.`,
      { collection, field },
    );
  }
}

/** The replication of the cluster's streams: that of its metadata bucket (made by the first node). */
export async function streamReplicas(jsm: JetStreamManager): Promise<number> {
  return (await jsm.streams.info('KV_quiver_meta')).config.num_replicas;
}
