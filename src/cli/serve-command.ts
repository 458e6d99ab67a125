/**
 * `quiver serve [--data DIR] [--host H] [--port P] [--config FILE] [--<setting> VALUE …]`:
 * runs the Qdrant-compatible server (SPEC section 6). Settings: defaults < config file <
 * QUIVER_* environment < flags; every setting of SETTINGS has its flag and variable.
 * Exits 0 after SIGTERM drained requests and closed the database; SIGHUP reloads the
 * config file.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import type { ServerConfig, ServerConfigInput } from '../server/config.js';
import {
  configFromEnv,
  envNameOf,
  FLAG_ALIASES,
  flagOf,
  readConfigFile,
  resolveServerConfig,
  SETTING_KEYS,
  SETTINGS,
} from '../server/config.js';
import { startServer } from '../server/start-server.js';

/** The settings given as flags (commander names them after the camelCase key). */
function flagInput(opts: Readonly<Record<string, unknown>>): ServerConfigInput {
  const out: Partial<Record<keyof ServerConfig, unknown>> = {};
  for (const key of SETTING_KEYS) {
    if (flagOf(key) !== undefined && opts[key] !== undefined) out[key] = opts[key];
  }
  return out;
}

/** Registers `quiver serve`. */
export function registerServeCommand(program: Command): void {
  const command = program
    .command('serve')
    .description('Run the Qdrant-compatible HTTP server over a database directory.')
    .option('--config <file>', 'settings file, YAML or JSON (SIGHUP reloads it)');
  for (const key of SETTING_KEYS) {
    const flag = flagOf(key);
    const spec = SETTINGS[key];
    if (flag === undefined || spec.metavar === undefined) continue;
    command.option(
      `${flag} <${spec.metavar}>`,
      `${spec.description} (default ${spec.defaultText.replaceAll('`', '')})`,
    );
  }
  // Old spellings: the same setting (commander names both after the key), not in --help.
  for (const [flag, key] of Object.entries(FLAG_ALIASES)) {
    const metavar = SETTINGS[key].metavar ?? 'value';
    command.addOption(new Option(`${flag} <${metavar}>`).hideHelp());
  }
  command
    .addHelpText(
      'after',
      `\nEnvironment: ${SETTING_KEYS.map(envNameOf).join(', ')}.\n` +
        'Lists (ipBlock, snapshotUrlAllowList) are comma-separated in flags and variables.\n' +
        '\nExample:\n  $ quiver serve --data ./data --port 6333',
    )
    .action(async (opts: Readonly<Record<string, unknown>>) => {
      const file = typeof opts['config'] === 'string' ? opts['config'] : undefined;
      const flags = flagInput(opts);
      const load = async (): Promise<ServerConfig> =>
        resolveServerConfig(
          file === undefined ? {} : await readConfigFile(file),
          configFromEnv(process.env),
          flags,
        );
      const config = await load();
      const running = await startServer({ config, reload: load });
      process.exitCode = await running.done;
    });
}
