/**
 * createServer: the Fastify app over one database (SPEC section 6) — body parsing with a
 * size limit, the auth gate, Qdrant, operations and admin routes, Qdrant-shaped errors,
 * metrics and the route registry. It does not listen: startServer does, and tests inject.
 */
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { pino } from 'pino';
import type { Logger as PinoLogger } from 'pino';
import type { DatabaseStats, Quiver } from '../engine/quiver.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import { registerAdminRoutes } from './admin-routes.js';
import { AuditLog } from './auth/audit-log.js';
import { accessOf, installAuth } from './auth/auth-hook.js';
import { KeyStore } from './auth/key-store.js';
import type { ServerConfig } from './config.js';
import { badRequest, describeHttpError, errorEnvelope } from './http-errors.js';
import { RuntimeIpBlocks } from './ip-block-file.js';
import { errorCodeLabel, ServerMetrics } from './metrics.js';
import { PayloadIndexRegistry } from './payload-index-registry.js';
import type { WorkerSearchPool } from '../engine/worker-search-pool.js';
import { registerOpsRoutes } from './ops-routes.js';
import { registerShardKeyRoutes } from './qdrant/shard-key-routes.js';
import { registerCollectionRoutes } from './qdrant/collections-routes.js';
import { registerPointRoutes } from './qdrant/points-routes.js';
import { registerSearchRoutes } from './qdrant/search-routes.js';
import { registerSnapshotRoutes } from './qdrant/snapshot-routes.js';
import { registerSyncJobRoutes } from './sync-jobs.js';
import type { RouteInfo } from './route-table.js';
import { ServerContext } from './server-context.js';
import { quiverVersion } from './server-version.js';
import { SnapshotStore } from './snapshot-store.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import { readConsistency } from './cluster-consistency.js';
import { paramsOf } from './route-table.js';

/** Options of {@link createServer}. */
export interface CreateServerOptions {
  readonly config: ServerConfig;
  /** The database, or its opening: until it resolves, /ready and data routes answer 503. */
  readonly db: Quiver | Promise<Quiver>;
  /** File system for keys, audit log, snapshots. Default: the real one. */
  readonly fileSystem?: FileSystem;
  /** Logger. Default: pino to stdout at `config.logLevel`. */
  readonly logger?: PinoLogger;
  /** The search workers (for /metrics and /stats), once started. */
  readonly searchPool?: () => WorkerSearchPool | undefined;
  /** The cluster node (`--cluster`), once joined. */
  readonly cluster?: () => ClusterNode | undefined;
}

/** A built server: the app (not listening), its shared state and its route table. */
export interface QuiverServer {
  readonly app: FastifyInstance;
  readonly context: ServerContext;
  /** Every registered route with its access level (complete once `app.ready()` resolved). */
  readonly routes: readonly RouteInfo[];
  /** Closes the app (draining requests) and the audit log; the database stays open. */
  close(): Promise<void>;
}

/** Builds the pino logger the server and the engine share. */
export function createLogger(level: string): PinoLogger {
  return pino({
    level,
    base: { service: 'quiver' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}

/**
 * Builds the server app over `db`.
 *
 * ### Examples
 * ```ts
 * const db = await Quiver.open('./data');
 * const { app } = await createServer({ db, config: resolveServerConfig({ data: './data' }) });
 * await app.listen({ host: '127.0.0.1', port: 6333 });
 * ```
 */
export async function createServer(options: CreateServerOptions): Promise<QuiverServer> {
  const config = options.config;
  const context = await buildContext(options);
  const { fs, logger, metrics, audit } = context;
  const app = newApp(config, logger);
  const routes = collectRouteTable(app);
  installBodyParsers(app);
  installAuth(app, context);
  installRequestMetrics(app, metrics, logger);
  installErrorHandlers(app, logger);
  installReadConsistency(app, context);

  registerOpsRoutes(app, context);
  registerAdminRoutes(app, context);
  registerCollectionRoutes(app, context);
  registerShardKeyRoutes(app, context);
  registerPointRoutes(app, context);
  registerSearchRoutes(app, context);
  registerSnapshotRoutes(app, context, new SnapshotStore(fs, config.snapshotsDir));
  registerSyncJobRoutes(app, context);

  countConnections(app, metrics);

  return {
    app,
    context,
    routes,
    async close() {
      context.markShuttingDown();
      await app.close();
      await audit.close();
      metrics.close();
    },
  };
}

/** Loads the server's state (keys, indexes, blocks, audit, metrics) and attaches the db. */
async function buildContext(options: CreateServerOptions): Promise<ServerContext> {
  const config = options.config;
  const fs = options.fileSystem ?? new NodeFileSystem();
  const logger = options.logger ?? createLogger(config.logLevel);
  const keys = await KeyStore.load(fs, config.keysFile, config.apiKey);
  // Everything that can refuse the start-up is read before the audit file is opened, so a
  // refused start leaves no file handle behind for the garbage collector to close.
  const payloadIndexes = await PayloadIndexRegistry.load(fs, config.data, logger);
  const ipBlocks = await RuntimeIpBlocks.load(fs, config.data);
  const audit = await AuditLog.open(fs, config.auditLog, logger);
  const metrics: ServerMetrics = new ServerMetrics(
    (): DatabaseStats | undefined => {
      // Called at scrape time only, after `context` below exists.
      const db = context.loadedDb;
      try {
        return db?.stats();
      } catch {
        return undefined; // closed while scraping
      }
    },
    () => options.searchPool?.()?.stats(),
    () => options.cluster?.()?.stats(),
  );
  const context: ServerContext = new ServerContext({
    config,
    fs,
    logger,
    metrics,
    keys,
    audit,
    ipBlocks,
    payloadIndexes,
    version: quiverVersion(),
    searchWorkers: () => options.searchPool?.()?.stats(),
    ...(options.cluster === undefined ? {} : { cluster: options.cluster }),
  });
  if (options.db instanceof Promise) {
    options.db.then(
      (db) => context.attach(db),
      (e: unknown) => context.failed(e instanceof Error ? e.message : String(e), e),
    );
  } else context.attach(options.db);
  return context;
}

/**
 * In cluster mode, a read of a collection is checked first (this node hosts it; the
 * session token or Qdrant's `consistency` is well formed); each node serving a shard for
 * the read waits there for what it asks to see (server/cluster-consistency.ts).
 */
function installReadConsistency(app: FastifyInstance, ctx: ServerContext): void {
  app.addHook('preHandler', async (req) => {
    const config = req.routeOptions.config;
    if (ctx.clusterNode === undefined || config.access !== 'read' || config.nodeLocal) return;
    const name = paramsOf(req.params)['collection_name'];
    if (name !== undefined) readConsistency(ctx, name, req.headers, req.query);
    return Promise.resolve();
  });
}

/** The Fastify app with the server's limits and shutdown behaviour. */
function newApp(config: ServerConfig, logger: PinoLogger): FastifyInstance {
  const baseLogger: FastifyBaseLogger = logger;
  return Fastify({
    loggerInstance: baseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true },
  });
}

/** Records every route as it is registered, refusing one without an access level. */
function collectRouteTable(app: FastifyInstance): RouteInfo[] {
  const routes: RouteInfo[] = [];
  app.addHook('onRoute', (route) => {
    const access = route.config?.access;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (access === undefined) {
      throw new Error(
        `Route ${methods.join(',')} ${route.url} declares no access level (config.access): every route must.`,
      );
    }
    for (const method of methods) routes.push({ method, url: route.url, access });
  });
  return routes;
}

/** Bodies: JSON (empty = absent), and raw bytes for snapshot uploads. */
function installBodyParsers(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  // No text/plain body either: a JSON route answers any other type 400 "Content type error".
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      done(null, JSON.parse(text) as unknown);
    } catch (e) {
      done(
        badRequest(`the body is not valid JSON: ${e instanceof Error ? e.message : String(e)}`),
        undefined,
      );
    }
  });
  app.addContentTypeParser(
    ['application/octet-stream', 'multipart/form-data'],
    { parseAs: 'buffer' },
    (_req, body, done) => done(null, body),
  );
}

/** Times every answered request and counts the failed ones by route and error code. */
function installRequestMetrics(
  app: FastifyInstance,
  metrics: ServerMetrics,
  logger: PinoLogger,
): void {
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    metrics.requestDuration.observe(
      { method: req.method, route, status: String(status) },
      reply.elapsedTime / 1000,
    );
    if (status >= 400) {
      metrics.errorsTotal.inc({
        op: `${req.method} ${route}`,
        code: errorCodeLabel(status, req.errorCode),
      });
    }
    if (logger.isLevelEnabled('debug')) {
      logger.debug(
        { method: req.method, route, status, ms: reply.elapsedTime, access: accessOf(req) },
        'request',
      );
    }
  });
}

/** Qdrant-shaped answers for thrown errors and unknown routes. */
function installErrorHandlers(app: FastifyInstance, logger: PinoLogger): void {
  app.setErrorHandler((error, req, reply) => {
    const d = describeHttpError(error);
    req.errorCode = d.code;
    if (d.status >= 500 && d.status !== 501 && d.status !== 503) {
      logger.error({ err: error, method: req.method, url: req.url }, 'request failed');
    }
    return reply.code(d.status).send(errorEnvelope(d.message, reply.elapsedTime / 1000));
  });
  app.setNotFoundHandler((req, reply) => {
    req.errorCode = 'NOT_FOUND';
    return reply
      .code(404)
      .send(
        errorEnvelope(
          `Not found: no route ${req.method} ${req.url.split('?')[0] ?? ''}`,
          reply.elapsedTime / 1000,
        ),
      );
  });
}

/** Keeps `quiver_active_connections` at the number of open sockets. */
function countConnections(app: FastifyInstance, metrics: ServerMetrics): void {
  app.server.on('connection', (socket) => {
    metrics.activeConnections.inc();
    socket.once('close', () => metrics.activeConnections.dec());
  });
}
