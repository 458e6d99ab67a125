/**
 * `quiver serve [--data DIR] [--host H] [--port P] [--config FILE]`: runs the
 * Qdrant-compatible server (SPEC section 6). Settings: defaults < config file < QUIVER_*
 * environment < flags. Exits 0 after SIGTERM drained requests and closed the database.
 */
import type { Command } from 'commander';
import type { ServerConfigInput } from '../server/config.js';
import { configFromEnv, readConfigFile, resolveServerConfig } from '../server/config.js';
import { startServer } from '../server/start-server.js';

interface ServeFlags {
  data?: string;
  host?: string;
  port?: string;
  config?: string;
  logLevel?: string;
  keysFile?: string;
  searchThreads?: string;
}

/** Registers `quiver serve`. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('Run the Qdrant-compatible HTTP server over a database directory.')
    .option('--data <dir>', 'database directory (default ./data)')
    .option('--host <host>', 'interface to bind (default 127.0.0.1)')
    .option('--port <port>', 'TCP port (default 6333)')
    .option('--config <file>', 'settings file, YAML or JSON')
    .option('--log-level <level>', 'trace, debug, info, warn, error, fatal or silent')
    .option('--keys-file <file>', 'API keys file (hashed keys); enables authentication')
    .option(
      '--search-threads <n>',
      'worker threads for graph searches (0 = main thread only; default cores - 1)',
    )
    .addHelpText(
      'after',
      '\nEnvironment: QUIVER_DATA, QUIVER_HOST, QUIVER_PORT, QUIVER_LOG_LEVEL, QUIVER_KEYS_FILE,\n' +
        'QUIVER_API_KEY, QUIVER_AUDIT_LOG, QUIVER_SNAPSHOTS_DIR, QUIVER_BODY_LIMIT_BYTES,\n' +
        'QUIVER_SLOW_QUERY_MS, QUIVER_DEFAULT_EF, QUIVER_IP_BLOCK, QUIVER_FSYNC,\n' +
        'QUIVER_SEARCH_THREADS, QUIVER_SHUTDOWN_GRACE_SECONDS.\n' +
        '\nExample:\n  $ quiver serve --data ./data --port 6333',
    )
    .action(async (opts: ServeFlags) => {
      const fromFile = opts.config === undefined ? {} : await readConfigFile(opts.config);
      const flags: ServerConfigInput = {
        data: opts.data,
        host: opts.host,
        port: opts.port,
        logLevel: opts.logLevel,
        keysFile: opts.keysFile,
        searchThreads: opts.searchThreads,
      };
      const config = resolveServerConfig(fromFile, configFromEnv(process.env), flags);
      const running = await startServer({ config });
      process.exitCode = await running.done;
    });
}
