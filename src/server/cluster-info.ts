/**
 * What `GET /cluster` and `GET /collections/{c}/cluster` answer in cluster mode: Qdrant's
 * shapes (peers, local and remote shards) filled from the cluster's node registry and this
 * node's appliers, plus a `quiver` section with what Qdrant has no field for: each shard's
 * applied sequence, the stream's end and the lag between them, per node. A custom
 * collection's shards name their shard key (`shard_key`), as Qdrant's do.
 */
import type { ClusterNode } from '../cluster/cluster-node.js';
import type { ClusterCollectionDef, ReplicaState } from '../cluster/cluster-meta.js';
import { allShards, replicasOf } from '../cluster/shard-placement.js';
import { shardOf } from '../cluster/shard-routing.js';
import type { ShardKey } from '../cluster/cluster-meta.js';
import { isCustom, keyOfShard, shardFilter } from '../cluster/shard-keys.js';
import type { Collection } from '../engine/collection.js';

/** Qdrant's peer ids are numbers: a stable one per node name. */
export function peerIdOf(nodeId: string): number {
  return shardOf(nodeId, 2 ** 31 - 1) + 1;
}

export async function clusterInfo(cluster: ClusterNode): Promise<Record<string, unknown>> {
  const nodes = await cluster.nodes();
  return {
    status: 'enabled',
    peer_id: peerIdOf(cluster.id),
    peers: Object.fromEntries(nodes.map((n) => [peerIdOf(n.id), { uri: n.url ?? '' }])),
    // The log's consensus is NATS JetStream's (Raft inside the servers), not the nodes'.
    raft_info: {
      term: 0,
      commit: 0,
      pending_operations: 0,
      leader: null,
      role: 'Follower',
      is_voter: false,
    },
    consensus_thread_status: {
      consensus_thread_status: 'working',
      last_update: new Date().toISOString(),
    },
    message_send_failures: {},
    quiver: {
      node: cluster.id,
      log: 'nats-jetstream',
      nodes: nodes.map((n) => ({
        id: n.id,
        peer_id: peerIdOf(n.id),
        url: n.url,
        started_at: n.startedAt,
        beat_at: n.beatAt,
        catching_up: n.catchingUp,
      })),
      collections: cluster.collections().map((d) => ({
        name: d.name,
        shards: d.shards,
        ...(d.custom === undefined ? {} : { sharding_method: 'custom', shard_keys: d.custom.keys }),
        replicas: d.replicas,
        placement: d.placement ?? 'every node holds every shard',
        shard_status: cluster.shardStatus(d.name),
      })),
    },
  };
}

/**
 * Qdrant's `resharding_operations` while the collection is resharded: the direction and the
 * shard added (up) or removed (down) last; Quiver changes the count in one step.
 */
function reshardingInfo(
  cluster: ClusterNode,
  def: ClusterCollectionDef,
): { resharding_operations?: Record<string, unknown>[] } {
  const r = def.resharding;
  if (r === undefined) return {};
  const up = r.shards > def.shards;
  return {
    resharding_operations: [
      {
        direction: up ? 'up' : 'down',
        shard_id: up ? r.shards - 1 : def.shards - 1,
        peer_id: peerIdOf(cluster.id),
      },
    ],
  };
}

/**
 * Qdrant's view of one collection's shards from this node: its local replicas with their
 * points, every other replica by peer, and replicas still catching up as transfers.
 */
export async function collectionClusterInfo(
  cluster: ClusterNode,
  c: Collection,
): Promise<Record<string, unknown>> {
  const def = cluster.definition(c.name);
  const nodes = await cluster.nodes();
  const up = nodes.map((n) => n.id);
  const status = cluster.shardStatus(c.name);
  // Points per shard held here, counted from the local copy (by key on a custom collection).
  const counts = new Array<number>(def.shards).fill(0);
  if (isCustom(def)) {
    for (const s of status) counts[s.shard] = await c.count(shardFilter(def, [s.shard]));
  } else for (const id of await c.ids()) counts[shardOf(id, def.shards)]!++;
  // Qdrant names a custom collection's shard's key in `shard_key`.
  const keyOf = (shard: number): { shard_key?: ShardKey } => {
    const key = keyOfShard(def, shard);
    return key === undefined ? {} : { shard_key: key };
  };
  const stateOf = (s: ReplicaState): string => (s === 'active' ? 'Active' : 'Partial');
  const replicas = allShards(def).flatMap((shard) =>
    replicasOf(def, shard, up).map((r) => ({ shard, ...r })),
  );
  const others = nodes.filter((n) => n.id !== cluster.id);
  return {
    peer_id: peerIdOf(cluster.id),
    shard_count: allShards(def).length,
    replication_factor: def.placement === undefined ? up.length : undefined,
    local_shards: status.map((s) => ({
      shard_id: s.shard,
      ...keyOf(s.shard),
      points_count: counts[s.shard] ?? 0,
      state: stateOf(
        replicas.find((r) => r.shard === s.shard && r.node === cluster.id)?.state ?? 'active',
      ),
    })),
    remote_shards: replicas
      .filter((r) => r.node !== cluster.id)
      .map((r) => ({
        shard_id: r.shard,
        ...keyOf(r.shard),
        peer_id: peerIdOf(r.node),
        state: stateOf(r.state),
      })),
    shard_transfers: replicas
      .filter((r) => r.state === 'partial')
      .map((r) => ({
        shard_id: r.shard,
        from: peerIdOf(
          replicas.find((x) => x.shard === r.shard && x.state === 'active')?.node ?? r.node,
        ),
        to: peerIdOf(r.node),
        sync: false,
        method: 'stream_records',
      })),
    ...reshardingInfo(cluster, def),
    quiver: {
      placement: def.placement ?? 'every node holds every shard',
      ...(def.resharding === undefined
        ? {}
        : {
            resharding: {
              to_shards: def.resharding.shards,
              sealed: def.resharding.sealed,
              started_at: def.resharding.startedAt,
              local_copy_lag: cluster.reshardingCopy(c.name)?.lag ?? null,
            },
          }),
      replication: [
        ...status.map((s) => ({ node: cluster.id, ...s })),
        ...others.flatMap((n) =>
          Object.entries(n.applied[c.name] ?? {}).map(([shard, applied]) => ({
            node: n.id,
            shard: Number(shard),
            applied,
          })),
        ),
      ],
    },
  };
}
