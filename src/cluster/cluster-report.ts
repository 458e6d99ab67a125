/**
 * What `quiver cluster status` prints, read straight from the NATS servers (so it works
 * while every Quiver node is down): the collections defined, each shard stream's end,
 * leader and replicas, the nodes that beat recently, and how far each node trails each
 * shard. Reads only: it binds to the existing buckets and creates nothing.
 */
import type { ClusterCollectionDef, NodeBeat, ReplicaState } from './cluster-meta.js';
import { withCluster } from './cluster-connection.js';
import { allShards, replicasOf } from './shard-placement.js';
import { streamName } from './shard-routing.js';

export interface ShardReport {
  readonly shard: number;
  readonly stream: string;
  readonly lastSeq: number;
  readonly leader: string | undefined;
  /** The stream's other servers and whether each holds every message. */
  readonly replicas: readonly { readonly server: string; readonly current: boolean }[];
  /** Per node holding a replica: its state, applied sequence and lag behind `lastSeq`. */
  readonly nodes: readonly {
    readonly node: string;
    /** `down`: placed there, but the node sends no heartbeat. */
    readonly state: ReplicaState | 'down';
    readonly applied: number;
    readonly lag: number;
  }[];
}

export interface ClusterReport {
  readonly servers: readonly string[];
  readonly nodes: readonly NodeBeat[];
  readonly collections: readonly (ClusterCollectionDef & {
    readonly shardReports: ShardReport[];
  })[];
}

/** Reads the cluster's state from `servers`; UNAVAILABLE when unreachable or not a cluster. */
export async function clusterReport(servers: readonly string[]): Promise<ClusterReport> {
  return withCluster(servers, async (meta, jsm) => {
    const nodes = await meta.nodes();
    const collections = [];
    for (const def of await meta.collections()) {
      const shardReports: ShardReport[] = [];
      for (const shard of allShards(def)) {
        const name = streamName({ collection: def.name, uid: def.uid, shard });
        const info = await jsm.streams.info(name).catch(() => undefined);
        const lastSeq = info?.state.last_seq ?? 0;
        const holders = replicasOf(
          def,
          shard,
          nodes.map((n) => n.id),
        );
        shardReports.push({
          shard,
          stream: name,
          lastSeq,
          leader: info?.cluster?.leader,
          replicas: (info?.cluster?.replicas ?? []).map((r) => ({
            server: r.name,
            current: r.current,
          })),
          nodes: holders.map((r) => {
            const beat = nodes.find((n) => n.id === r.node);
            const applied = beat?.applied[def.name]?.[String(shard)] ?? 0;
            return {
              node: r.node,
              state: beat === undefined ? 'down' : r.state,
              applied,
              lag: Math.max(0, lastSeq - applied),
            };
          }),
        });
      }
      collections.push({ ...def, shardReports });
    }
    return { servers, nodes, collections };
  });
}
