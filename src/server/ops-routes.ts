/**
 * Operations routes (SPEC section 6) and Qdrant's service routes: `/health`, `/ready`,
 * `/metrics`, `/stats`, `/`, `/healthz`, `/livez`, `/readyz`, `/telemetry`, `/cluster`.
 * `/health` is the only route that never needs a key. A key limited to some collections
 * sees only those in /stats, /ready and /telemetry, and is refused /metrics (every series
 * there is database-wide or names a collection).
 */
import { READY_MAX_LAG } from '../cluster/cluster-node.js';
import { clusterInfo, collectionClusterInfo } from './cluster-info.js';
import { clusterOperation } from './cluster-operations.js';
import { randomInt, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { DatabaseStats } from '../engine/quiver.js';
import { scopeOf } from './auth/auth-hook.js';
import { badRequest, HttpError, notImplemented } from './http-errors.js';
import type { ServerMetrics } from './metrics.js';
import { envelope, paramsOf } from './route-table.js';
import type { ServerContext } from './server-context.js';
import { QDRANT_API_VERSION } from './server-version.js';

const PROBE_EVERY_MS = 5_000;

/** Why the server is unhealthy (empty when healthy). */
export async function healthProblems(
  ctx: ServerContext,
  probe: () => Promise<string | undefined>,
): Promise<string[]> {
  const reasons: string[] = [];
  if (ctx.loadError !== undefined) reasons.push(`database failed to open: ${ctx.loadError}`);
  const db = ctx.loadedDb;
  if (db === undefined) return reasons;
  let stats;
  try {
    stats = db.stats();
  } catch (e) {
    reasons.push(`database unavailable: ${e instanceof Error ? e.message : String(e)}`);
    return reasons;
  }
  const breaker = stats.circuitBreaker;
  if (breaker.state !== 'closed') {
    reasons.push(
      `WAL circuit breaker is ${breaker.state} after repeated I/O failures${breaker.lastError === undefined ? '' : ` (last: ${breaker.lastError})`}; writes fail until it closes or POST /admin/circuit-breaker/reset`,
    );
  }
  if (stats.wal.broken) reasons.push('the write-ahead log stopped after a failed write or fsync');
  const unwritable = await probe();
  if (unwritable !== undefined) reasons.push(`storage is not writable: ${unwritable}`);
  return reasons;
}

/** Per-collection stats with the server's search counters (`avgSearchSeconds`: engine time). */
function withSearchLatency(
  perCollection: DatabaseStats['perCollection'],
  metrics: ServerMetrics,
): Record<string, unknown>[] {
  return perCollection.map((c) => ({ ...c, ...metrics.searchLatency(c.name) }));
}

/**
 * /stats for a key limited to `scope`: its collections only, totals summed over them, and
 * none of the database-wide sections (path, WAL, storage, recovery) that would count or
 * name the others.
 */
function scopedStats(s: DatabaseStats, scope: ReadonlySet<string>): Record<string, unknown> {
  const mine = s.perCollection.filter((c) => scope.has(c.name));
  const sum = (pick: (c: DatabaseStats['perCollection'][number]) => number): number =>
    mine.reduce((total, c) => total + pick(c), 0);
  return {
    collections: mine.length,
    points: sum((c) => c.points),
    segments: sum((c) => c.segments),
    diskBytes: sum((c) => c.diskBytes),
    memoryBytes: sum((c) => c.memoryBytes),
    unsealedBytes: sum((c) => c.unsealedBytes),
    readOnly: s.readOnly,
    circuitBreaker: s.circuitBreaker,
    perCollection: mine,
  };
}

/** Who this standalone node says it is in /telemetry and the cluster answers. */
interface StandaloneIdentity {
  readonly instanceId: string;
  readonly peerId: number;
  readonly startup: string;
}

/** Registers the operations and service routes. */
export function registerOpsRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const standalone: StandaloneIdentity = {
    instanceId: randomUUID(),
    peerId: randomInt(1, 2 ** 47),
    startup: new Date().toISOString(),
  };
  registerOperationsRoutes(app, ctx);
  registerServiceRoutes(app, ctx, standalone);
  registerClusterRoutes(app, ctx, standalone);
  // Reading the issues report is a read; clearing it changes server state: admin only.
  app.get('/issues', { config: { access: 'read' } }, () => {
    throw notImplemented('the issues report');
  });
  app.delete('/issues', { config: { access: 'admin' } }, () => {
    throw notImplemented('the issues report');
  });
}

/**
 * Whether the database directory takes a write: a small file written and removed, at most
 * once every PROBE_EVERY_MS (between probes the last answer stands). Undefined: writable.
 */
function storageProbe(ctx: ServerContext): () => Promise<string | undefined> {
  let lastProbe = 0;
  let lastProbeResult: string | undefined;
  return async (): Promise<string | undefined> => {
    const db = ctx.loadedDb;
    if (db === undefined || Date.now() - lastProbe < PROBE_EVERY_MS) return lastProbeResult;
    lastProbe = Date.now();
    const path = `${db.path}/.health-probe`;
    try {
      const fh = await ctx.fs.open(path, 'readwrite');
      try {
        await fh.write(new TextEncoder().encode(String(Date.now())), 0);
      } finally {
        await fh.close();
      }
      await ctx.fs.unlink(path);
      lastProbeResult = undefined;
    } catch (e) {
      lastProbeResult = e instanceof Error ? e.message : String(e);
    }
    return lastProbeResult;
  };
}

/** The names of the collections the request's key may see. */
async function visibleCollections(
  ctx: ServerContext,
  req: Parameters<typeof scopeOf>[0],
): Promise<string[]> {
  const scope = scopeOf(req);
  const names = (await ctx.db().listCollections()).map((c) => c.name);
  return scope === undefined ? names : names.filter((n) => scope.has(n));
}

/** Quiver's own probes and figures: /health, /ready, /metrics, /stats. */
function registerOperationsRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const probe = storageProbe(ctx);
  app.get('/health', { config: { access: 'public' } }, async (_req, reply) => {
    const reasons = await healthProblems(ctx, probe);
    if (reasons.length === 0) return { status: 'ok', version: ctx.version };
    return reply.code(503).send({ status: 'unavailable', version: ctx.version, reasons });
  });

  app.get('/ready', { config: { access: 'read' } }, async (req, reply) => {
    if (ctx.isShuttingDown) return reply.code(503).send({ status: 'shutting-down' });
    if (ctx.loadedDb === undefined) {
      return reply.code(503).send({
        status: ctx.loadError === undefined ? 'loading' : 'failed',
        ...(ctx.loadError === undefined ? {} : { reason: ctx.loadError }),
      });
    }
    // A cluster node far behind its shard streams would answer reads with old data: a load
    // balancer should send them elsewhere until it caught up.
    const lag = ctx.clusterNode?.lag ?? 0;
    if (lag > READY_MAX_LAG) {
      return reply.code(503).send({ status: 'catching-up', lag, maxLag: READY_MAX_LAG });
    }
    return { status: 'ready', collections: (await visibleCollections(ctx, req)).length };
  });

  app.get('/metrics', { config: { access: 'read' } }, async (req, reply) => {
    if (scopeOf(req) !== undefined) {
      throw new HttpError(
        403,
        `Forbidden: key "${req.apiKey?.id ?? ''}" is limited to some collections, and /metrics covers the whole database; scrape it with an unscoped read key.`,
      );
    }
    const { contentType, text } = await ctx.metrics.render();
    return reply.header('content-type', contentType).send(text);
  });

  app.get('/stats', { config: { access: 'read' } }, (req) => Promise.resolve(statsOf(ctx, req)));
}

/** The /stats answer, limited to the key's collections when it has a scope. */
function statsOf(ctx: ServerContext, req: Parameters<typeof scopeOf>[0]): Record<string, unknown> {
  const s = ctx.db().stats();
  const scope = scopeOf(req);
  const view = scope === undefined ? { ...s } : scopedStats(s, scope);
  const perCollection = withSearchLatency(
    scope === undefined ? s.perCollection : s.perCollection.filter((c) => scope.has(c.name)),
    ctx.metrics,
  );
  return {
    ...view,
    total_vectors: view.points,
    perCollection,
    server: {
      version: ctx.version,
      settings: ctx.settings,
      searchWorkers: ctx.searchWorkers() ?? { threads: 0 },
    },
  };
}

/** Qdrant's service routes: /, the Kubernetes probes, /telemetry. */
function registerServiceRoutes(
  app: FastifyInstance,
  ctx: ServerContext,
  standalone: StandaloneIdentity,
): void {
  // Exactly Qdrant's keys: clients check `version`; Quiver's own version is in /health.
  app.get('/', { config: { access: 'read' } }, () =>
    Promise.resolve({
      title: 'quiver - vector search engine',
      version: QDRANT_API_VERSION,
      commit: null,
    }),
  );
  app.get('/healthz', { config: { access: 'read' } }, (_req, reply) =>
    reply.type('text/plain').send('healthz check passed'),
  );
  app.get('/livez', { config: { access: 'read' } }, (_req, reply) =>
    reply.type('text/plain').send('healthz check passed'),
  );
  app.get('/readyz', { config: { access: 'read' } }, (_req, reply) =>
    ctx.loadedDb === undefined || ctx.isShuttingDown
      ? reply.code(503).type('text/plain').send('some shards are not ready')
      : reply.type('text/plain').send('all shards are ready'),
  );
  app.get('/telemetry', { config: { access: 'read' } }, async (req, reply) => {
    const list = await visibleCollections(ctx, req);
    // Only keys of Qdrant's TelemetryData schema: the Python client's models refuse others.
    return envelope(reply, {
      id: standalone.instanceId,
      app: { name: 'quiver', version: QDRANT_API_VERSION, startup: standalone.startup },
      collections: {
        number_of_collections: list.length,
        collections: list.map((name) => ({ id: name })),
      },
      cluster: { enabled: false },
    });
  });
}

/** Qdrant's cluster routes, answered as a standalone Qdrant (one node, no peers). */
function registerClusterRoutes(
  app: FastifyInstance,
  ctx: ServerContext,
  standalone: StandaloneIdentity,
): void {
  app.get('/cluster', { config: { access: 'read' } }, async (_req, reply) => {
    const cluster = ctx.clusterNode;
    if (cluster === undefined) return envelope(reply, { status: 'disabled' });
    return envelope(reply, await clusterInfo(cluster));
  });
  // A standalone Qdrant: one local shard holding every point, no peers, no transfers.
  app.get(
    '/collections/:collection_name/cluster',
    { config: { access: 'read' } },
    async (req, reply) => {
      const c = ctx.collection(paramsOf(req.params)['collection_name'] ?? '');
      const cluster = ctx.clusterNode;
      if (cluster?.hosts(c.name) === true) {
        return envelope(reply, await collectionClusterInfo(cluster, c));
      }
      return Promise.resolve(
        envelope(reply, {
          peer_id: standalone.peerId,
          shard_count: 1,
          local_shards: [{ shard_id: 0, points_count: c.stats().points, state: 'Active' }],
          remote_shards: [],
          shard_transfers: [],
        }),
      );
    },
  );
  app.post(
    '/collections/:collection_name/cluster',
    { config: { access: 'admin' } },
    async (req, reply) => {
      const name = paramsOf(req.params)['collection_name'] ?? '';
      const cluster = ctx.clusterNode;
      if (cluster?.defines(name) !== true) {
        ctx.collection(name); // 404 for a collection that does not exist at all
        throw badRequest(
          `"${name}" is not a cluster collection: Quiver runs it on this node alone, with one shard and no replicas to move.`,
        );
      }
      await clusterOperation(cluster, name, req.body, ctx.logger);
      return envelope(reply, true);
    },
  );
  // As Qdrant in standalone mode words them. (Qdrant answers recover with a 500; a request
  // that cannot succeed here is the client's to fix, so Quiver keeps it a 400.)
  app.post('/cluster/recover', { config: { access: 'admin' } }, () => {
    throw badRequest(
      'Quiver is running in standalone mode (one node): there is no cluster peer to recover.',
    );
  });
  app.delete('/cluster/peer/:peer_id', { config: { access: 'admin' } }, () => {
    throw badRequest('Distributed mode disabled: Quiver runs on one node and has no peers.');
  });
  app.route({
    method: ['GET', 'POST', 'PUT', 'DELETE'],
    url: '/cluster/*',
    config: { access: 'admin' },
    handler: () => {
      throw notImplemented('cluster operations (Quiver runs on one node)');
    },
  });
}
