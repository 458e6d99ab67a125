/**
 * What `GET /cluster` and `GET /collections/{c}/cluster` answer in cluster mode: Qdrant's
 * shapes (peers, local and remote shards) filled from the cluster's node registry and this
 * node's appliers, plus a `quiver` section with what Qdrant has no field for: each shard's
 * applied sequence, the stream's end and the lag between them, per node.
 */
import type { ClusterNode } from '../cluster/cluster-node.js';
import { shardOf } from '../cluster/shard-routing.js';
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
        replicas: d.replicas,
        shard_status: cluster.shardStatus(d.name),
      })),
    },
  };
}

export async function collectionClusterInfo(
  cluster: ClusterNode,
  c: Collection,
): Promise<Record<string, unknown>> {
  const def = cluster.collections().find((d) => d.name === c.name);
  const shards = def?.shards ?? 1;
  // Points per shard, counted from the ids (every node holds every shard today).
  const counts = new Array<number>(shards).fill(0);
  for (const id of await c.ids()) counts[shardOf(id, shards)]!++;
  const status = cluster.shardStatus(c.name);
  const others = (await cluster.nodes()).filter((n) => n.id !== cluster.id);
  return {
    peer_id: peerIdOf(cluster.id),
    shard_count: shards,
    local_shards: status.map((s) => ({
      shard_id: s.shard,
      points_count: counts[s.shard] ?? 0,
      state: s.lag > 0 ? 'Partial' : 'Active',
    })),
    remote_shards: others.flatMap((n) =>
      Array.from({ length: shards }, (_, shard) => ({
        shard_id: shard,
        peer_id: peerIdOf(n.id),
        state: n.catchingUp ? 'Partial' : 'Active',
      })),
    ),
    shard_transfers: [],
    quiver: {
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
