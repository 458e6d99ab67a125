/**
 * startServer: `quiver serve` — listens at once (so /ready can say "loading" while the
 * database opens), starts the search workers and opens the database, and on SIGTERM or
 * SIGINT stops accepting, drains in-flight requests, closes the database (flushing the
 * WAL), stops the workers and resolves `done` with 0. SIGHUP reloads the settings. A
 * failed listen (port in use) closes everything it started and throws.
 */
import type { Logger as PinoLogger } from 'pino';
import { QuiverError } from '../common/quiver-error.js';
import { Quiver } from '../engine/quiver.js';
import { sharedHnswAvailable } from '../ann/hnsw/hnsw-index.js';
import { sharedWasmLoadFailure } from '../kernels/wasm-module.js';
import { WorkerSearchPool } from '../engine/worker-search-pool.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import { ClusterNode } from '../cluster/cluster-node.js';
import type { ServerConfig } from './config.js';
import { engineOptionsOf } from './config.js';
import { applyConfigReload } from './config-reload.js';
import type { QuiverServer } from './create-server.js';
import { createLogger, createServer } from './create-server.js';

/** A running server. */
export interface RunningServer {
  readonly server: QuiverServer;
  /** `http://host:port` actually bound (port 0 resolves to the real port). */
  readonly url: string;
  /** Resolves once the database is open. */
  readonly ready: Promise<Quiver>;
  /** Stops the server: drain, close the database. Resolves with the exit code. */
  stop(reason?: string): Promise<number>;
  /** Resolves with the exit code once the server stopped (after a signal or `stop`). */
  readonly done: Promise<number>;
}

/** Options of {@link startServer}. */
export interface StartServerOptions {
  readonly config: ServerConfig;
  readonly fileSystem?: FileSystem;
  /** Install SIGTERM / SIGINT (stop) and SIGHUP (reload) handlers. Default true. */
  readonly handleSignals?: boolean;
  /** Reads the settings again (config file, environment, flags): what SIGHUP applies. */
  readonly reload?: () => Promise<ServerConfig>;
}

/**
 * A listen that failed (most often EADDRINUSE): the database and the search workers are
 * already starting, and they would hold the directory lock and keep the process alive.
 * Closes them all and returns the error to throw (exit 3 in the CLI).
 */
async function failedListen(
  e: unknown,
  config: ServerConfig,
  server: QuiverServer,
  opening: Promise<Quiver>,
  pool: () => WorkerSearchPool | undefined,
): Promise<QuiverError> {
  const code = (e as { code?: unknown } | null)?.code;
  const where = `${config.host}:${config.port}`;
  const message =
    code === 'EADDRINUSE'
      ? `Cannot listen on ${where}: the address is already in use by another process. Stop that process or pick another port (--port, QUIVER_PORT).`
      : `Cannot listen on ${where}: ${e instanceof Error ? e.message : String(e)}. Check --host and --port.`;
  await server.close().catch(() => undefined);
  await closeOpening(opening, pool);
  return new QuiverError('UNAVAILABLE', message, { host: config.host, port: config.port }, e);
}

/** Closes the database a failed start was opening (once it has opened) and the workers. */
async function closeOpening(
  opening: Promise<Quiver>,
  pool: () => WorkerSearchPool | undefined,
): Promise<void> {
  const db = await opening.catch(() => undefined);
  await db?.close().catch(() => undefined);
  await pool()?.close();
}

/** SIGHUP: reads the settings again and applies them; a bad file keeps the running ones. */
async function reloadConfig(
  server: QuiverServer,
  reload: (() => Promise<ServerConfig>) | undefined,
  logger: PinoLogger,
): Promise<void> {
  if (reload === undefined) {
    logger.warn('SIGHUP: this server has no config source to reload; nothing changed');
    return;
  }
  try {
    await applyConfigReload(server.context, await reload(), logger);
  } catch (e) {
    logger.error(
      { err: e },
      `config reload failed, keeping the running config: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

/** What the steps of a start and a stop share. */
interface Lifecycle {
  readonly config: ServerConfig;
  readonly logger: PinoLogger;
  readonly opening: Promise<Quiver>;
  /** The search workers once started (undefined: none, or not yet). */
  readonly pool: () => WorkerSearchPool | undefined;
  /** The cluster node once joined (undefined: standalone, or not yet). */
  readonly cluster: () => ClusterNode | undefined;
}

/** Starts the server over `config.data` and returns once it listens. */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const { config } = options;
  const logger = createLogger(config.logLevel);
  const life = startOpening(options, logger);
  const server = await buildServer(options, life);
  let address: string;
  try {
    address = await server.app.listen({ host: config.host, port: config.port });
  } catch (e) {
    throw await failedListen(e, config, server, life.opening, life.pool);
  }
  logger.info(
    { url: address, data: config.data, auth: server.context.keys.enabled },
    'quiver listening',
  );
  // The port is known only now (--port 0 picks one): what cluster heartbeats advertise.
  void life.opening.then(
    () => life.cluster()?.advertise(address),
    () => undefined,
  );

  let resolveDone: (code: number) => void = () => undefined;
  const done = new Promise<number>((r) => (resolveDone = r));
  let stopping: Promise<number> | undefined;
  const stop = (reason = 'stop requested'): Promise<number> => {
    stopping ??= shutDown(life, server, reason).then((code) => {
      resolveDone(code);
      return code;
    });
    return stopping;
  };
  if (options.handleSignals !== false) {
    installSignalHandlers(server, options.reload, logger, stop, done);
  }
  life.opening.then(
    (db) => logger.info({ collections: db.recovery }, 'database ready'),
    (e: unknown) => {
      logger.fatal({ err: e, data: config.data }, 'database failed to open');
      void stop('database failed to open').then(() => resolveDone(3));
    },
  );
  return { server, url: address, ready: life.opening, stop, done };
}

/**
 * Starts the search workers, then opens the database. The workers start first: sealed
 * segments load straight into shared memory with a lane for each. A pool that cannot start
 * leaves searches on the main thread.
 */
function startOpening(options: StartServerOptions, logger: PinoLogger): Lifecycle {
  const { config } = options;
  let pool: WorkerSearchPool | undefined;
  let cluster: ClusterNode | undefined;
  const opening = (async (): Promise<Quiver> => {
    if (config.searchThreads > 0 && sharedHnswAvailable()) {
      try {
        pool = await WorkerSearchPool.start(
          config.searchThreads,
          logger.child({ component: 'search-workers' }),
        );
        pool.adaptToLoad();
      } catch (e) {
        logger.error({ err: e }, 'search workers did not start; searching on the main thread');
      }
    } else if (config.searchThreads > 0) {
      logger.warn(
        { reason: sharedWasmLoadFailure() },
        'search workers unavailable; searching on the main thread',
      );
    }
    const db = await Quiver.open(config.data, {
      ...engineOptionsOf(config),
      logger: logger.child({ component: 'engine' }),
      ...(options.fileSystem === undefined ? {} : { fileSystem: options.fileSystem }),
      ...(pool === undefined ? {} : { searchPool: pool }),
    });
    if (config.cluster.length > 0) cluster = await joinCluster(db, options, logger);
    return db;
  })();
  opening.catch(() => undefined);
  return { config, logger, opening, pool: () => pool, cluster: () => cluster };
}

/**
 * Joins the cluster before the database is handed to the routes (a write to a cluster
 * collection must never land locally only). A node that cannot join closes its database.
 */
async function joinCluster(
  db: Quiver,
  options: StartServerOptions,
  logger: PinoLogger,
): Promise<ClusterNode> {
  const { config } = options;
  try {
    const node = await ClusterNode.start(db, {
      servers: config.cluster,
      ...(config.clusterNodeId === undefined ? {} : { nodeId: config.clusterNodeId }),
      seedAboveOps: config.clusterSeedAboveOps,
      copiesLookEveryMs: config.clusterCopiesCheckSeconds * 1000,
      logger: logger.child({ component: 'cluster' }),
      fileSystem: options.fileSystem ?? new NodeFileSystem(),
    });
    logger.info({ node: node.id, servers: config.cluster }, 'joined the cluster');
    return node;
  } catch (e) {
    await db.close().catch(() => undefined);
    throw e;
  }
}

/** Builds the app over the opening database; a failed build closes what was starting. */
async function buildServer(options: StartServerOptions, life: Lifecycle): Promise<QuiverServer> {
  try {
    return await createServer({
      config: life.config,
      db: life.opening,
      logger: life.logger,
      searchPool: life.pool,
      cluster: life.cluster,
      ...(options.fileSystem === undefined ? {} : { fileSystem: options.fileSystem }),
    });
  } catch (e) {
    // A server that cannot be built (a bad keys file, ip-block.json, …) must not keep the
    // database it was opening: its lock and WAL handle would outlive the failed start.
    await closeOpening(life.opening, life.pool);
    throw e;
  }
}

/**
 * Stops accepting, drains requests (closing the connections left after the grace period),
 * closes the database (flushing the WAL) and the workers. Resolves with the exit code:
 * 0, 1 (the server did not close cleanly) or 3 (the database did not).
 */
async function shutDown(life: Lifecycle, server: QuiverServer, reason: string): Promise<number> {
  const { logger } = life;
  logger.info({ reason }, 'shutting down: draining requests');
  let code = 0;
  const grace = setTimeout(() => {
    logger.warn(
      { seconds: server.context.config.shutdownGraceSeconds },
      'grace period over; closing connections',
    );
    server.app.server.closeAllConnections();
  }, server.context.config.shutdownGraceSeconds * 1000);
  try {
    await server.close();
  } catch (e) {
    logger.error({ err: e }, 'server did not close cleanly');
    code = 1;
  } finally {
    clearTimeout(grace);
  }
  try {
    // The cluster node first: it stops applying and saves its positions, which needs the
    // database still open.
    await life.cluster()?.close();
  } catch (e) {
    logger.error({ err: e }, 'cluster node did not close cleanly');
  }
  try {
    const db = await life.opening;
    await db.close();
    logger.info({ data: life.config.data }, 'database closed; WAL flushed');
  } catch (e) {
    logger.error({ err: e }, 'database did not close cleanly');
    code = code === 0 ? 3 : code;
  }
  await life.pool()?.close();
  return code;
}

/** SIGTERM / SIGINT stop the server, SIGHUP reloads it; all removed once it stopped. */
function installSignalHandlers(
  server: QuiverServer,
  reload: (() => Promise<ServerConfig>) | undefined,
  logger: PinoLogger,
  stop: (reason: string) => Promise<number>,
  done: Promise<number>,
): void {
  const onSignal = (signal: NodeJS.Signals): void => {
    void stop(signal);
  };
  // SIGHUP would kill the process (Node's default) without draining or the clean mark.
  let reloading = Promise.resolve();
  const onHangup = (): void => {
    reloading = reloading.then(() => reloadConfig(server, reload, logger));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  process.on('SIGHUP', onHangup);
  void done.then(() => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('SIGHUP', onHangup);
  });
}
