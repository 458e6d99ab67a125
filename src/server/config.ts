/**
 * ServerConfig: the settings of `quiver serve` and where they come from (SPEC section 6).
 * Defaults < config file (YAML or JSON) < QUIVER_* environment variables < command-line
 * flags. Every value is checked here, so the server never starts on a half-valid config.
 */
import { availableParallelism } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { invalidArgument } from '../common/quiver-error.js';
import type { FsyncPolicy } from '../storage/wal/log.js';
import { FSYNC_POLICIES } from '../storage/wal/log.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import { readText } from '../ops/ops-files.js';

/** Log levels pino understands, quietest last. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Everything the server needs to run. */
export interface ServerConfig {
  /** Database directory. Default `./data`. */
  readonly data: string;
  /** Interface to bind. Default `127.0.0.1` (loopback only: expose it on purpose). */
  readonly host: string;
  /** TCP port. Default 6333 (Qdrant's), 0 for any free port. */
  readonly port: number;
  /** pino level. Default `info`. */
  readonly logLevel: LogLevel;
  /** Largest request body in bytes; larger ones get 413. Default 32 MiB (Qdrant's). */
  readonly bodyLimitBytes: number;
  /** Searches slower than this are logged at warn level. Default 200 ms. */
  readonly slowQueryMs: number;
  /** Beam width of searches that do not set `params.hnsw_ef`. Default: the collection's efSearch. */
  readonly defaultEf: number | undefined;
  /** Keys file (JSON or YAML, hashed keys); keys created through the admin API are saved to it. */
  readonly keysFile: string | undefined;
  /** A single admin key given in clear (environment: QUIVER_API_KEY); hashed at start-up. */
  readonly apiKey: string | undefined;
  /** Audit log (JSON lines). Default `<data>/audit.log`; `""` turns it off. */
  readonly auditLog: string;
  /** Where collection snapshots are written. Default `<data>/snapshots`. */
  readonly snapshotsDir: string;
  /**
   * Origins (`https://host:port`) that snapshot recover may download from. Default empty: no
   * URLs at all, only files inside snapshotsDir (a URL fetch is a server-side request).
   */
  readonly snapshotUrlAllowList: readonly string[];
  /** Client addresses refused with 403 on every route. */
  readonly ipBlock: readonly string[];
  /** WAL fsync policy of the database. Default `batch`. */
  readonly fsync: FsyncPolicy;
  /** Seconds SIGTERM waits for in-flight requests before closing anyway. Default 10. */
  readonly shutdownGraceSeconds: number;
  /**
   * Worker threads that search sealed segments' graphs (shared memory, not copies); 0 keeps
   * every search on the main thread. Default: cores − 1, at least 1, at most 8.
   */
  readonly searchThreads: number;
  /** Most searches in one `search/batch` or `query/batch` request; more get 400. Default 256. */
  readonly maxBatchSearches: number;
  /**
   * Most points one request may ask for: the sum over its searches of limit + offset, or a
   * scroll's limit; more get 400. Default 100 000.
   */
  readonly maxResultPoints: number;
  /**
   * Largest estimated response of one request in bytes (points × (dimension × 10 + payload
   * bytes) when vectors are asked for); larger get 400. Default 256 MiB.
   */
  readonly maxResponseBytes: number;
}

/** Settings as given by a file, the environment or flags: any subset, unchecked. */
export type ServerConfigInput = { readonly [K in keyof ServerConfig]?: unknown };

const KEYS: readonly (keyof ServerConfig)[] = [
  'data',
  'host',
  'port',
  'logLevel',
  'bodyLimitBytes',
  'slowQueryMs',
  'defaultEf',
  'keysFile',
  'apiKey',
  'auditLog',
  'snapshotsDir',
  'snapshotUrlAllowList',
  'ipBlock',
  'fsync',
  'shutdownGraceSeconds',
  'searchThreads',
  'maxBatchSearches',
  'maxResultPoints',
  'maxResponseBytes',
];

/** QUIVER_* environment variables and the setting each sets. */
export const ENV_VARS: Readonly<Record<string, keyof ServerConfig>> = Object.freeze({
  QUIVER_DATA: 'data',
  QUIVER_HOST: 'host',
  QUIVER_PORT: 'port',
  QUIVER_LOG_LEVEL: 'logLevel',
  QUIVER_BODY_LIMIT_BYTES: 'bodyLimitBytes',
  QUIVER_SLOW_QUERY_MS: 'slowQueryMs',
  QUIVER_DEFAULT_EF: 'defaultEf',
  QUIVER_KEYS_FILE: 'keysFile',
  QUIVER_API_KEY: 'apiKey',
  QUIVER_AUDIT_LOG: 'auditLog',
  QUIVER_SNAPSHOTS_DIR: 'snapshotsDir',
  QUIVER_SNAPSHOT_URL_ALLOW_LIST: 'snapshotUrlAllowList',
  QUIVER_IP_BLOCK: 'ipBlock',
  QUIVER_FSYNC: 'fsync',
  QUIVER_SHUTDOWN_GRACE_SECONDS: 'shutdownGraceSeconds',
  QUIVER_SEARCH_THREADS: 'searchThreads',
  QUIVER_MAX_BATCH_SEARCHES: 'maxBatchSearches',
  QUIVER_MAX_RESULT_POINTS: 'maxResultPoints',
  QUIVER_MAX_RESPONSE_BYTES: 'maxResponseBytes',
});

const NUMERIC = new Set<keyof ServerConfig>([
  'port',
  'bodyLimitBytes',
  'slowQueryMs',
  'defaultEf',
  'shutdownGraceSeconds',
  'searchThreads',
  'maxBatchSearches',
  'maxResultPoints',
  'maxResponseBytes',
]);

/** One search worker per core beyond the main thread's, at least 1, at most 8. */
export function defaultSearchThreads(): number {
  return Math.min(8, Math.max(1, availableParallelism() - 1));
}

function intSetting(key: string, value: unknown, min: number, max: number): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw invalidArgument(
      `Setting ${key} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}.`,
      { field: key, received: value },
    );
  }
  return n;
}

function stringSetting(key: string, value: unknown): string {
  if (typeof value !== 'string') {
    throw invalidArgument(`Setting ${key} must be a string, got ${JSON.stringify(value)}.`, {
      field: key,
      received: value,
    });
  }
  return value;
}

/** A list of http(s) origins, each normalized to `scheme://host[:port]` so a check is one compare. */
function urlOrigins(key: string, value: unknown): readonly string[] {
  if (!Array.isArray(value) || value.some((s) => typeof s !== 'string')) {
    throw invalidArgument(`Setting ${key} must be a list of http(s) origins.`, { field: key });
  }
  const origins = (value as string[])
    .filter((s) => s !== '')
    .map((s) => {
      let url: URL | undefined;
      try {
        url = new URL(s);
      } catch {
        url = undefined;
      }
      if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
        throw invalidArgument(
          `Setting ${key} must hold http(s) origins like https://backups.example:8443, got ${JSON.stringify(s)}.`,
          { field: key, received: s },
        );
      }
      return url.origin;
    });
  return Object.freeze(origins);
}

/** Reads QUIVER_* variables from `env` into a config input. */
export function configFromEnv(env: NodeJS.ProcessEnv): ServerConfigInput {
  const out: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV_VARS)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    const isList = key === 'ipBlock' || key === 'snapshotUrlAllowList';
    out[key] = isList ? v.split(',').map((s) => s.trim()) : v;
  }
  return out;
}

/**
 * Reads a config file: YAML or JSON (JSON is YAML), keys as in {@link ServerConfig}.
 * INVALID_ARGUMENT for unknown keys or a file that is not a mapping.
 */
export async function readConfigFile(
  path: string,
  fs: FileSystem = new NodeFileSystem(),
): Promise<ServerConfigInput> {
  const text = await readText(fs, path);
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (e) {
    throw invalidArgument(
      `Config file ${path} is neither valid YAML nor JSON: ${e instanceof Error ? e.message : String(e)}`,
      { file: path },
    );
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw invalidArgument(`Config file ${path} must hold a mapping of settings.`, { file: path });
  }
  for (const key of Object.keys(parsed)) {
    if (!(KEYS as readonly string[]).includes(key)) {
      throw invalidArgument(
        `Unknown setting "${key}" in ${path}: allowed are ${KEYS.join(', ')}.`,
        { file: path, field: key },
      );
    }
  }
  return parsed;
}

/**
 * Merges inputs (later ones win) over the defaults and checks every value.
 *
 * ### Examples
 * ```ts
 * const config = resolveServerConfig(await readConfigFile('quiver.yaml'), configFromEnv(process.env), { port: 7000 });
 * ```
 */
export function resolveServerConfig(...inputs: readonly ServerConfigInput[]): ServerConfig {
  const merged: Record<string, unknown> = {};
  for (const input of inputs) {
    for (const [k, v] of Object.entries(input)) {
      if (v === undefined) continue;
      if (!(KEYS as readonly string[]).includes(k)) {
        throw invalidArgument(`Unknown setting "${k}": allowed are ${KEYS.join(', ')}.`, {
          field: k,
        });
      }
      merged[k] = v;
    }
  }
  const data = stringSetting('data', merged['data'] ?? './data');
  if (data === '') throw invalidArgument('Setting data must name a directory.', { field: 'data' });
  const logLevel = stringSetting('logLevel', merged['logLevel'] ?? 'info');
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw invalidArgument(
      `Setting logLevel must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}.`,
      { field: 'logLevel', received: logLevel },
    );
  }
  const fsync = stringSetting('fsync', merged['fsync'] ?? 'batch');
  if (!(FSYNC_POLICIES as readonly string[]).includes(fsync)) {
    throw invalidArgument(
      `Setting fsync must be one of ${FSYNC_POLICIES.join(', ')}, got ${JSON.stringify(fsync)}.`,
      { field: 'fsync', received: fsync },
    );
  }
  const ipBlockRaw = merged['ipBlock'] ?? [];
  if (!Array.isArray(ipBlockRaw) || ipBlockRaw.some((s) => typeof s !== 'string')) {
    throw invalidArgument('Setting ipBlock must be a list of IP addresses.', { field: 'ipBlock' });
  }
  const optionalString = (key: keyof ServerConfig): string | undefined => {
    const v = merged[key];
    return v === undefined || v === null ? undefined : stringSetting(key, v);
  };
  for (const key of NUMERIC) {
    if (merged[key] === null) delete merged[key];
  }
  return Object.freeze({
    data,
    host: stringSetting('host', merged['host'] ?? '127.0.0.1'),
    port: intSetting('port', merged['port'] ?? 6333, 0, 65535),
    logLevel: logLevel as LogLevel,
    bodyLimitBytes: intSetting(
      'bodyLimitBytes',
      merged['bodyLimitBytes'] ?? 32 * 1024 * 1024,
      1024,
      2 ** 31,
    ),
    slowQueryMs: intSetting('slowQueryMs', merged['slowQueryMs'] ?? 200, 0, 3_600_000),
    defaultEf:
      merged['defaultEf'] === undefined
        ? undefined
        : intSetting('defaultEf', merged['defaultEf'], 1, 100_000),
    keysFile: optionalString('keysFile'),
    apiKey: optionalString('apiKey'),
    auditLog: optionalString('auditLog') ?? `${data}/audit.log`,
    snapshotsDir: optionalString('snapshotsDir') ?? `${data}/snapshots`,
    snapshotUrlAllowList: urlOrigins('snapshotUrlAllowList', merged['snapshotUrlAllowList'] ?? []),
    ipBlock: Object.freeze([...(ipBlockRaw as string[])]),
    fsync: fsync as FsyncPolicy,
    shutdownGraceSeconds: intSetting(
      'shutdownGraceSeconds',
      merged['shutdownGraceSeconds'] ?? 10,
      0,
      3600,
    ),
    searchThreads: intSetting(
      'searchThreads',
      merged['searchThreads'] ?? defaultSearchThreads(),
      0,
      64,
    ),
    maxBatchSearches: intSetting(
      'maxBatchSearches',
      merged['maxBatchSearches'] ?? 256,
      1,
      1_000_000,
    ),
    maxResultPoints: intSetting(
      'maxResultPoints',
      merged['maxResultPoints'] ?? 100_000,
      1,
      1_000_000_000,
    ),
    maxResponseBytes: intSetting(
      'maxResponseBytes',
      merged['maxResponseBytes'] ?? 256 * 1024 * 1024,
      1024,
      2 ** 40,
    ),
  });
}
