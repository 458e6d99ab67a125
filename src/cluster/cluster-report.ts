/**
 * What `quiver cluster status` prints, read straight from the NATS servers (so it works
 * while every Quiver node is down): the collections defined, each shard stream's end,
 * leader and replicas, the nodes that beat recently, and how far each node trails each
 * shard. Reads only: it binds to the existing buckets and creates nothing.
 */
import type { NatsConnection } from 'nats';
import { connect } from 'nats';
import { QuiverError } from '../common/quiver-error.js';
import type { ClusterCollectionDef, NodeBeat } from './cluster-meta.js';
import { ClusterMeta } from './cluster-meta.js';
import { unavailable } from './shard-log.js';
import { streamName } from './shard-routing.js';

export interface ShardReport {
  readonly shard: number;
  readonly stream: string;
  readonly lastSeq: number;
  readonly leader: string | undefined;
  /** The stream's other servers and whether each holds every message. */
  readonly replicas: readonly { readonly server: string; readonly current: boolean }[];
  /** Per node: its applied sequence and the lag behind `lastSeq`. */
  readonly nodes: readonly {
    readonly node: string;
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
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: [...servers], name: 'quiver-cluster-status', timeout: 5_000 });
  } catch (e) {
    throw unavailable(`connecting to ${servers.join(',')}`, e);
  }
  try {
    const js = nc.jetstream();
    const jsm = await nc.jetstreamManager();
    let meta: ClusterMeta;
    try {
      meta = await ClusterMeta.bind(js);
    } catch (e) {
      throw new QuiverError(
        'UNAVAILABLE',
        `No Quiver cluster on ${servers.join(',')}: its buckets quiver_meta and quiver_nodes are missing (${e instanceof Error ? e.message : String(e)}). Start a node with quiver serve --cluster first.`,
        {},
        e,
      );
    }
    const nodes = await meta.nodes();
    const collections = [];
    for (const def of await meta.collections()) {
      const shardReports: ShardReport[] = [];
      for (let shard = 0; shard < def.shards; shard++) {
        const name = streamName({ collection: def.name, uid: def.uid, shard });
        const info = await jsm.streams.info(name).catch(() => undefined);
        const lastSeq = info?.state.last_seq ?? 0;
        shardReports.push({
          shard,
          stream: name,
          lastSeq,
          leader: info?.cluster?.leader,
          replicas: (info?.cluster?.replicas ?? []).map((r) => ({
            server: r.name,
            current: r.current,
          })),
          nodes: nodes.map((n) => {
            const applied = n.applied[def.name]?.[String(shard)] ?? 0;
            return { node: n.id, applied, lag: Math.max(0, lastSeq - applied) };
          }),
        });
      }
      collections.push({ ...def, shardReports });
    }
    return { servers, nodes, collections };
  } finally {
    await nc.close();
  }
}
