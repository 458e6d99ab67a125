/**
 * A short connection to an existing cluster for operators' tools (`quiver cluster ...`):
 * connects to the NATS servers, binds the metadata buckets (creating nothing) and closes
 * when the work is done. UNAVAILABLE names the servers when they or the buckets are missing.
 */
import type { JetStreamClient, JetStreamManager } from 'nats';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { QuiverError } from '../common/quiver-error.js';
import { ClusterMeta } from './cluster-meta.js';
import { unavailable } from './shard-log.js';

export async function withCluster<T>(
  servers: readonly string[],
  work: (meta: ClusterMeta, jsm: JetStreamManager, js: JetStreamClient) => Promise<T>,
): Promise<T> {
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: [...servers], name: 'quiver-cluster-tool', timeout: 5_000 });
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
    return await work(meta, jsm, js);
  } finally {
    await nc.close();
  }
}
