/**
 * `POST /collections/{c}/cluster` in cluster mode: Qdrant's replica operations on a
 * collection's shards — `move_shard`, `replicate_shard`, `drop_replica` — carried out by
 * cluster/shard-moves.ts. Peers are named by Qdrant's numeric peer id (as GET /cluster
 * lists them) or by Quiver node name. As in Qdrant, the answer comes once the operation
 * has started; a transfer in progress shows in `shard_transfers` of GET /collections/{c}/cluster.
 * `start_resharding` (one shard more or fewer, as in Qdrant, or Quiver's `shard_number`
 * for any count) runs cluster/resharding.ts from this node in the background, and
 * `abort_resharding` stops one not yet sealed; one in progress shows in
 * `resharding_operations`. `create_sharding_key` and `drop_sharding_key` do what the shard
 * key routes do (qdrant/shard-key-routes.ts).
 */
import type { ClusterNode } from '../cluster/cluster-node.js';
import { dropReplica, replicateShard, startMove } from '../cluster/shard-moves.js';
import type { Logger } from '../common/logger.js';
import { peerIdOf } from './cluster-info.js';
import { badRequest, notImplemented } from './http-errors.js';
import { createShardKeyFrom, dropShardKeyFrom } from './qdrant/shard-key-routes.js';
import { asObject, bodyObject, checkKeys, intField } from './qdrant/qdrant-input.js';

const OPERATIONS = [
  'move_shard',
  'replicate_shard',
  'drop_replica',
  'start_resharding',
  'abort_resharding',
  'create_sharding_key',
  'drop_sharding_key',
];
const NOT_YET = ['abort_transfer', 'restart_transfer', 'replicate_points'];

/** Runs the operation in `raw` on collection `name`; resolves once it has started. */
export async function clusterOperation(
  cluster: ClusterNode,
  name: string,
  raw: unknown,
  logger: Logger,
): Promise<void> {
  const body = bodyObject(raw);
  const kinds = Object.keys(body);
  const known = kinds.filter((k) => NOT_YET.includes(k));
  if (known.length > 0) throw notImplemented(`the "${known[0]}" cluster operation`);
  checkKeys(body, OPERATIONS, 'the cluster operation body');
  if (kinds.length !== 1) {
    throw badRequest(`Send exactly one operation, one of ${OPERATIONS.join(', ')}.`);
  }
  const kind = kinds[0]!;
  const op = asObject(body[kind], kind);
  const meta = cluster.metadata;
  const up = (await cluster.nodes()).map((n) => n.id);
  // A replica can be taken off a node that is down (it may never come back); only a node
  // that is up can be given one.
  const placed = Object.values(cluster.definition(name).placement ?? {}).flatMap((list) =>
    list.map((r) => r.node),
  );
  const holders = [...new Set([...up, ...placed])];
  const peer = (field: string): string =>
    nodeOf(op[field], `${kind}.${field}`, field === 'to_peer_id' ? up : holders);
  // Shard numbers of a custom collection's keys go on growing past 63 (never reused).
  const shard = (): number => intField(op['shard_id'], `${kind}.shard_id`, 0, 1_000_000, -1);
  const log = (message: string): void => logger.info({ collection: name }, message);
  switch (kind) {
    case 'move_shard': {
      checkKeys(op, ['shard_id', 'from_peer_id', 'to_peer_id', 'method'], kind);
      const move = await startMove(meta, name, shard(), peer('from_peer_id'), peer('to_peer_id'), {
        onProgress: log,
      });
      move.done.catch((e: unknown) =>
        logger.error({ err: e, collection: name }, 'shard move failed'),
      );
      return;
    }
    case 'start_resharding': {
      checkKeys(op, ['direction', 'shard_number'], kind);
      await cluster.startReshard(name, reshardTarget(op, cluster.definition(name).shards));
      return;
    }
    case 'create_sharding_key':
      await createShardKeyFrom(cluster, name, op, kind);
      return;
    case 'drop_sharding_key':
      await dropShardKeyFrom(cluster, name, op, kind);
      return;
    case 'abort_resharding': {
      checkKeys(op, [], kind);
      await cluster.abortReshard(name);
      return;
    }
    case 'replicate_shard': {
      checkKeys(op, ['shard_id', 'from_peer_id', 'to_peer_id', 'method'], kind);
      await replicateShard(meta, name, shard(), peer('to_peer_id'), {
        wait: false,
        onProgress: log,
      });
      return;
    }
    default: {
      checkKeys(op, ['shard_id', 'peer_id'], kind);
      await dropReplica(meta, name, shard(), peer('peer_id'));
    }
  }
}

/**
 * The shard count `start_resharding` asks for: Qdrant's `direction` (`up`: one more,
 * `down`: one fewer) or Quiver's `shard_number`. Qdrant's `peer_id` and `shard_key` are
 * refused by checkKeys: Quiver places new shards itself and has no custom shard keys.
 */
function reshardTarget(op: Record<string, unknown>, shards: number): number {
  if (op['shard_number'] !== undefined) {
    return intField(op['shard_number'], 'start_resharding.shard_number', 1, 64, -1);
  }
  if (op['direction'] === 'up') return shards + 1;
  if (op['direction'] === 'down') return shards - 1;
  throw badRequest(
    `start_resharding needs "direction": "up" or "down" (or "shard_number"), got ${JSON.stringify(op['direction'])}.`,
  );
}

/** A node named by Qdrant peer id (a number) or by its Quiver name, among `nodes`. */
function nodeOf(value: unknown, field: string, nodes: readonly string[]): string {
  const found =
    typeof value === 'number'
      ? nodes.find((n) => peerIdOf(n) === value)
      : typeof value === 'string'
        ? nodes.find((n) => n === value || String(peerIdOf(n)) === value)
        : undefined;
  if (found === undefined) {
    throw badRequest(
      `${field} must name a node, by peer id or name (one of: ${nodes.map((n) => `${n} = ${peerIdOf(n)}`).join(', ')}), got ${JSON.stringify(value)}.`,
    );
  }
  return found;
}
