/**
 * What `quiver cluster status` prints, read straight from the NATS servers (so it works
 * while every Quiver node is down): the collections defined, each shard stream's end,
 * leader and replicas, the nodes that beat recently, and how far each node trails each
 * shard, and whether the servers' copies of each stream hold the same last messages
 * (replica-agreement.ts). Reads only: it binds to the existing buckets and creates nothing.
 */
import type { JetStreamManager } from 'nats';
import type { ClusterCollectionDef, ClusterMeta, NodeBeat, ReplicaState } from './cluster-meta.js';
import { withCluster } from './cluster-connection.js';
import type { ReplicaAgreement } from './replica-agreement.js';
import { AGREEMENT_WINDOW, ServerCopies } from './replica-agreement.js';
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
  /** The servers' copies compared at the stream's end (none for an empty stream). */
  readonly agreement?: ReplicaAgreement;
}

export interface ClusterReport {
  readonly servers: readonly string[];
  readonly nodes: readonly NodeBeat[];
  readonly collections: readonly (ClusterCollectionDef & {
    readonly shardReports: ShardReport[];
  })[];
}

/**
 * Reads the cluster's state from `servers`, comparing the servers' copies of each stream's
 * last `window` messages; UNAVAILABLE when unreachable or not a cluster.
 */
export async function clusterReport(
  servers: readonly string[],
  window = AGREEMENT_WINDOW,
): Promise<ClusterReport> {
  const copies = await ServerCopies.open(window === 0 ? [] : servers);
  try {
    return await withCluster(servers, (meta, jsm) => report(servers, meta, jsm, copies, window));
  } finally {
    await copies.close();
  }
}

async function report(
  servers: readonly string[],
  meta: ClusterMeta,
  jsm: JetStreamManager,
  copies: ServerCopies,
  window: number,
): Promise<ClusterReport> {
  const nodes = await meta.nodes();
  const collections = [];
  for (const def of await meta.collections()) {
    const shardReports: ShardReport[] = [];
    for (const shard of allShards(def)) {
      shardReports.push(await shardReport(def, shard, nodes, jsm, copies, window));
    }
    collections.push({ ...def, shardReports });
  }
  return { servers, nodes, collections };
}

async function shardReport(
  def: ClusterCollectionDef,
  shard: number,
  nodes: readonly NodeBeat[],
  jsm: JetStreamManager,
  copies: ServerCopies,
  window: number,
): Promise<ShardReport> {
  const name = streamName({ collection: def.name, uid: def.uid, shard });
  const info = await jsm.streams.info(name).catch(() => undefined);
  const lastSeq = info?.state.last_seq ?? 0;
  const leader = info?.cluster?.leader;
  const replicas = info?.cluster?.replicas ?? [];
  const placed = replicasOf(
    def,
    shard,
    nodes.map((n) => n.id),
  );
  return {
    shard,
    stream: name,
    lastSeq,
    leader,
    replicas: replicas.map((r) => ({ server: r.name, current: r.current })),
    nodes: placed.map((r) => {
      const beat = nodes.find((n) => n.id === r.node);
      const applied = beat?.applied[def.name]?.[String(shard)] ?? 0;
      return {
        node: r.node,
        state: beat === undefined ? 'down' : r.state,
        applied,
        lag: Math.max(0, lastSeq - applied),
      };
    }),
    ...(lastSeq === 0 || window === 0
      ? {}
      : { agreement: await copies.compare(name, lastSeq, window) }),
  };
}
