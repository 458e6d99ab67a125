/**
 * Qdrant's shard key routes (custom sharding, cluster mode): `PUT /collections/{c}/shards`
 * creates a key, `POST /collections/{c}/shards/delete` drops one with its points; also the
 * `create_sharding_key` / `drop_sharding_key` operations of `POST /collections/{c}/cluster`.
 * The work is cluster/cluster-node.ts's; a standalone server answers 501.
 */
import type { FastifyInstance } from 'fastify';
import type { ClusterNode } from '../../cluster/cluster-node.js';
import { checkShardKey } from '../../cluster/shard-keys.js';
import { peerIdOf } from '../cluster-info.js';
import { badRequest, needsCluster } from '../http-errors.js';
import { envelope, paramsOf } from '../route-table.js';
import type { ServerContext } from '../server-context.js';
import { bodyObject, checkKeys, intField } from './qdrant-input.js';

/** Creates the key a Qdrant CreateShardingKey body describes. */
export async function createShardKeyFrom(
  cluster: ClusterNode,
  name: string,
  body: Record<string, unknown>,
  where: string,
): Promise<void> {
  checkKeys(
    body,
    ['shard_key', 'shards_number', 'replication_factor', 'placement', 'initial_state'],
    where,
  );
  const key = checkShardKey(body['shard_key'], `${where}.shard_key`);
  const optional = (field: string): number | undefined =>
    body[field] === undefined || body[field] === null
      ? undefined
      : intField(body[field], `${where}.${field}`, 1, 64, 1);
  const state = body['initial_state'];
  if (state !== undefined && state !== null && state !== 'Active') {
    throw badRequest(
      `${where}.initial_state: Quiver makes a key's shards Active at once (they start empty); got ${JSON.stringify(state)}.`,
    );
  }
  let placement: string[] | undefined;
  const raw = body['placement'];
  if (raw !== undefined && raw !== null) {
    if (!Array.isArray(raw)) throw badRequest(`${where}.placement must be a list of peer ids.`);
    const nodes = (await cluster.nodes()).map((n) => n.id);
    placement = (raw as unknown[]).map((p, i) => {
      const node = nodes.find((n) => peerIdOf(n) === p || n === p);
      if (node === undefined) {
        throw badRequest(
          `${where}.placement[${i}] must name a node that is up, by peer id or name (one of: ${nodes.map((n) => `${n} = ${peerIdOf(n)}`).join(', ')}), got ${JSON.stringify(p)}.`,
        );
      }
      return node;
    });
  }
  await cluster.createShardKey(name, key, {
    shards: optional('shards_number'),
    replicationFactor: optional('replication_factor'),
    placement,
  });
}

/** Drops the key a Qdrant DropShardingKey body names. */
export async function dropShardKeyFrom(
  cluster: ClusterNode,
  name: string,
  body: Record<string, unknown>,
  where: string,
): Promise<void> {
  checkKeys(body, ['shard_key'], where);
  await cluster.dropShardKey(name, checkShardKey(body['shard_key'], `${where}.shard_key`));
}

/** Registers the shard key routes. */
export function registerShardKeyRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const clusterOf = (name: string): ClusterNode => {
    const cluster = ctx.clusterNode;
    if (cluster?.defines(name) !== true) {
      ctx.collection(name); // 404 for a collection that does not exist at all
      throw needsCluster('custom sharding (shard keys)');
    }
    return cluster;
  };
  app.put(
    '/collections/:collection_name/shards',
    { config: { access: 'write' } },
    async (req, reply) => {
      const name = paramsOf(req.params)['collection_name'] ?? '';
      await createShardKeyFrom(clusterOf(name), name, bodyObject(req.body), 'the shard key body');
      return envelope(reply, true);
    },
  );
  app.post(
    '/collections/:collection_name/shards/delete',
    { config: { access: 'write' } },
    async (req, reply) => {
      const name = paramsOf(req.params)['collection_name'] ?? '';
      await dropShardKeyFrom(clusterOf(name), name, bodyObject(req.body), 'the shard key body');
      return envelope(reply, true);
    },
  );
}
