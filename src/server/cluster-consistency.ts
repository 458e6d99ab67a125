/**
 * Cluster mode's consistency at the HTTP edge: a write to a cluster collection is published
 * to its shard streams and answered with a session token (the stream sequence per shard, in
 * the `quiver-session-token` header); `?wait=true` also waits until this node applied it.
 * A read that sends the token back, or asks Qdrant's `consistency` (`majority`, `quorum`,
 * `all` or a number), waits until the serving node has applied that much — bounded, then 503.
 * Reads of a cluster collection go through the cluster (`readsOf`): each node that serves a
 * shard for the read waits there for the same thing. A request's Qdrant `shard_key`
 * (custom sharding) narrows a read to those keys' shards and routes a write to them.
 */
import type { FastifyReply } from 'fastify';
import { QuiverError } from '../common/quiver-error.js';
import type { Collection, PointOp } from '../engine/collection.js';
import type { WriteToken } from '../cluster/cluster-node.js';
import type { ReadWait } from '../cluster/shard-read.js';
import type { PointReads } from '../cluster/shard-reads.js';
import type { ShardKey } from '../cluster/cluster-meta.js';
import { badRequest, needsCluster } from './http-errors.js';
import { parseShardKeySelector } from './qdrant/qdrant-input.js';
import { envelope, queryOf } from './route-table.js';
import type { ServerContext } from './server-context.js';

export const SESSION_HEADER = 'quiver-session-token';
/** How long a read or a `wait=true` write waits for this node to catch up. */
export const CONSISTENCY_WAIT_MS = 10_000;

/** `0:12,1:7` — shard:sequence pairs. */
export function formatToken(token: WriteToken): string {
  return Object.entries(token)
    .map(([shard, seq]) => `${shard}:${seq}`)
    .join(',');
}

export function parseToken(text: string): WriteToken {
  const out: Record<number, number> = {};
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const m = /^\s*(\d{1,3}):(\d{1,16})\s*$/.exec(part);
    if (m === null || !Number.isSafeInteger(Number(m[2]))) {
      throw badRequest(
        `${SESSION_HEADER} must be shard:sequence pairs like "0:12,1:7" (as a write returned it), got ${JSON.stringify(text)}.`,
      );
    }
    out[Number(m[1])] = Number(m[2]);
  }
  return out;
}

/**
 * Publishes a prepared write through the cluster and answers it: `acknowledged` once a
 * quorum of servers holds it, `completed` when `?wait=true` also saw it applied here.
 */
export async function clusterWrite(
  ctx: ServerContext,
  req: { readonly query?: unknown },
  reply: FastifyReply,
  collection: string,
  op: PointOp | undefined,
  shardKeys?: readonly ShardKey[],
): Promise<unknown> {
  const cluster = ctx.clusterNode!;
  const token = await cluster.write(collection, op, undefined, shardKeys);
  reply.header(SESSION_HEADER, formatToken(token));
  let applied = false;
  if (queryOf(req.query)['wait'] === 'true') {
    // The write is stored whatever happens here; a node too slow to apply it in time
    // answers `acknowledged` (with the token) rather than an error a client would retry.
    applied = await cluster.waitFor(collection, token, CONSISTENCY_WAIT_MS).then(
      () => true,
      () => false,
    );
  }
  return envelope(reply, {
    operation_id: Math.max(0, ...Object.values(token)),
    status: applied ? 'completed' : 'acknowledged',
  });
}

type Headers = Readonly<Record<string, string | string[] | undefined>>;

/** What a read asks to see: its session token, else everything (`consistency`), else any. */
export function readWaitOf(headers: Headers, query: unknown): ReadWait {
  const token = headers[SESSION_HEADER];
  if (Array.isArray(token)) {
    throw badRequest(`Send one ${SESSION_HEADER} header (the last write's), not ${token.length}.`);
  }
  if (typeof token === 'string' && token !== '') return { token: parseToken(token) };
  const consistency = queryOf(query)['consistency'];
  if (consistency === undefined) return {}; // eventually consistent, as Qdrant's default
  if (!['majority', 'quorum', 'all'].includes(consistency) && !/^\d+$/.test(consistency)) {
    throw badRequest(
      `consistency must be majority, quorum, all or a number of replicas, got ${JSON.stringify(consistency)}.`,
    );
  }
  // Every level means "what the log had when the read arrived": each replica is made from
  // the same replicated log, so waiting for its end is the strongest read.
  return { latest: true };
}

/**
 * The reads a route makes of `c`: through the cluster (every shard, wherever it is) for a
 * cluster collection, else the local collection itself.
 */
export function readsOf(
  ctx: ServerContext,
  req: { readonly headers: Headers; readonly query?: unknown },
  c: Collection,
  shardKeys?: readonly ShardKey[],
): PointReads {
  const cluster = ctx.clusterNode;
  if (cluster === undefined || !cluster.defines(c.name)) return c;
  return cluster.reads(c.name, readWaitOf(req.headers, req.query), shardKeys);
}

/**
 * The shard keys a request's `shard_key` names (undefined: none), checked against the
 * collection before any work: on a custom collection a write must name one (400), a
 * key it does not have is 404, and a key on an auto collection is 400. A standalone
 * server (or a collection that is not the cluster's) answers 501.
 */
export async function shardKeysOf(
  ctx: ServerContext,
  collection: string,
  body: Record<string, unknown>,
  write: boolean,
): Promise<readonly ShardKey[] | undefined> {
  const selector = parseShardKeySelector(body['shard_key']);
  const cluster = ctx.clusterNode;
  if (cluster === undefined || !cluster.defines(collection)) {
    if (selector !== undefined) throw needsCluster('shard_key');
    return undefined;
  }
  let keys: readonly ShardKey[] | undefined;
  if (selector === undefined) keys = undefined;
  else if ('keys' in selector) keys = selector.keys;
  else {
    const has = cluster.definition(collection).custom?.keys.some((k) => k.key === selector.target);
    keys = [has === true ? selector.target : selector.fallback];
  }
  await cluster.checkShardKeys(collection, keys, write);
  return keys;
}

/**
 * Checks, before a read of a cluster collection, that this node can coordinate it and
 * that what the request asks to see is well formed. The waiting itself happens on each
 * node that serves a shard of the read (ShardReads), for that shard only: waiting here on
 * every local shard would also wait for a replica that is still catching up and that the
 * read does not use.
 */
export function readConsistency(
  ctx: ServerContext,
  collection: string,
  headers: Headers,
  query: unknown,
): void {
  const cluster = ctx.clusterNode;
  if (cluster === undefined || !cluster.defines(collection)) return;
  if (!cluster.hosts(collection)) {
    // Whatever the local directory holds under this name is not the cluster's collection.
    throw new QuiverError(
      'UNAVAILABLE',
      `Node ${cluster.id} does not host "${collection}" (see its log for why); read from another node.`,
      { collection },
    );
  }
  readWaitOf(headers, query);
}
