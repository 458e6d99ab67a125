/**
 * ServerConfig: the settings of `quiver serve` and where they come from (SPEC section 6).
 * Defaults < config file (YAML or JSON) < QUIVER_* environment variables < command-line
 * flags. One table, SETTINGS, defines every setting (parser, range, environment variable,
 * flag, default, description, whether SIGHUP reloads it); config files, the environment,
 * the serve command's flags and the table in docs/API.md all come from it. Every value is
 * checked here, so the server never starts on a half-valid config.
 */
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { invalidArgument } from '../common/quiver-error.js';
import type { QuiverOptions } from '../engine/quiver.js';
import type { FsyncPolicy } from '../storage/wal/log.js';
import { FSYNC_POLICIES } from '../storage/wal/log.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import { readText } from '../ops/ops-files.js';

/** Log levels pino understands, quietest last. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const MIB = 1024 * 1024;

/** Everything the server needs to run. SETTINGS below documents each field. */
export interface ServerConfig {
  readonly data: string;
  readonly host: string;
  readonly port: number;
  readonly logLevel: LogLevel;
  readonly bodyLimitBytes: number;
  readonly slowQueryMs: number;
  readonly defaultEf: number | undefined;
  readonly keysFile: string | undefined;
  readonly apiKey: string | undefined;
  readonly auditLog: string;
  readonly snapshotsDir: string;
  readonly snapshotUrlAllowList: readonly string[];
  readonly ipBlock: readonly string[];
  readonly shutdownGraceSeconds: number;
  readonly searchThreads: number;
  /** NATS servers of the cluster this node joins; empty: standalone. */
  readonly cluster: readonly string[];
  readonly clusterNodeId: string | undefined;
  /** A replica starting from nothing copies a peer above this many stream operations. */
  readonly clusterSeedAboveOps: number;
  /** Seconds between a node's comparisons of the NATS servers' copies; 0: never. */
  readonly clusterCopiesCheckSeconds: number;
  readonly maxBatchSearches: number;
  readonly maxResultPoints: number;
  readonly maxResponseBytes: number;
  // The storage engine's options (Quiver.open), passed through by engineOptionsOf.
  readonly fsync: FsyncPolicy;
  readonly batchDelayMs: number;
  readonly fsyncIntervalMs: number;
  readonly maxPayloadBytes: number;
  readonly walFileBytes: number;
  readonly walArchiveDir: string | undefined;
  readonly sealPoints: number;
  readonly sealBytes: number;
  readonly memoryBudgetBytes: number;
  readonly maxSegments: number;
  readonly segmentTargetPoints: number;
  readonly compactDeletedShare: number;
  readonly autoCompact: boolean;
  readonly breakerFailures: number;
  readonly breakerCooldownMs: number;
  readonly queryCacheBytes: number;
  readonly vectorCacheBytes: number;
  /** Collections in the semantic cache, with their minimum similarity. */
  readonly semanticCache: Readonly<Record<string, number>>;
  // Document sync jobs (POST /collections/{c}/sync, docs/SYNC.md).
  readonly syncRoots: readonly string[];
  readonly syncEmbedder: 'local' | 'openai';
  readonly syncModel: string | undefined;
  readonly syncDimension: number | undefined;
  readonly syncBaseUrl: string;
  readonly syncApiKeyFile: string | undefined;
  readonly syncPricePer1k: number;
  readonly syncMaxCost: number | undefined;
}

/** Settings as given by a file, the environment or flags: any subset, unchecked. */
export type ServerConfigInput = { readonly [K in keyof ServerConfig]?: unknown };

/** One setting: how it is parsed and checked, named, defaulted and documented. */
export interface SettingSpec<T> {
  /** Value shape for the docs: "integer 1–64", "string", … */
  readonly type: string;
  /** Placeholder of the command-line flag; undefined: no flag (secrets stay out of `ps`). */
  readonly metavar: string | undefined;
  /** The default, as the docs show it. */
  readonly defaultText: string;
  /** True when SIGHUP applies a change without a restart. */
  readonly reload: boolean;
  readonly description: string;
  /** Checks and converts a given value (strings from the environment or flags included). */
  parse(value: unknown, key: string): T;
  /** The value when none is given; `data` is the resolved database directory. */
  fallback(data: string): T;
}

type SettingTable = { readonly [K in keyof ServerConfig]: SettingSpec<ServerConfig[K]> };

/** One search worker per core beyond the main thread's, at least 1, at most 8. */
export function defaultSearchThreads(): number {
  return Math.min(8, Math.max(1, availableParallelism() - 1));
}

function describe(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function parseString(value: unknown, key: string): string {
  if (typeof value !== 'string') {
    throw invalidArgument(`Setting ${key} must be a string, got ${describe(value)}.`, {
      field: key,
      received: value,
    });
  }
  return value;
}

function parseInteger(min: number, max: number): (value: unknown, key: string) => number {
  return (value, key) => {
    const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
      throw invalidArgument(
        `Setting ${key} must be a whole number from ${min} to ${max}, got ${describe(value)}.`,
        { field: key, received: value },
      );
    }
    return n;
  };
}

/** `2 ** 40` → `2^40`, `10 ** 9` → `10^9`: large bounds as the docs write them. */
function boundText(n: number): string {
  const twos = Math.log2(n);
  if (n > 0 && Number.isInteger(twos) && twos >= 31) return `2^${twos}`;
  const tens = Math.log10(n);
  if (n > 0 && Number.isInteger(tens) && tens >= 9) return `10^${tens}`;
  return String(n);
}

/** The documented type and the parser of a whole-number setting, from one range. */
function integer(min: number, max: number): Pick<SettingSpec<number>, 'type' | 'parse'> {
  return { type: `integer ${boundText(min)}–${boundText(max)}`, parse: parseInteger(min, max) };
}

function parseFraction(value: unknown, key: string): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0 || n > 1) {
    throw invalidArgument(
      `Setting ${key} must be a number above 0 and at most 1, got ${describe(value)}.`,
      { field: key, received: value },
    );
  }
  return n;
}

function parseAmount(value: unknown, key: string): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    throw invalidArgument(`Setting ${key} must be a number of 0 or more, got ${describe(value)}.`, {
      field: key,
      received: value,
    });
  }
  return n;
}

function parseBoolean(value: unknown, key: string): boolean {
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw invalidArgument(`Setting ${key} must be true or false, got ${describe(value)}.`, {
    field: key,
    received: value,
  });
}

function parseOneOf<T extends string>(allowed: readonly T[]): (value: unknown, key: string) => T {
  return (value, key) => {
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      throw invalidArgument(
        `Setting ${key} must be one of ${allowed.join(', ')}, got ${describe(value)}.`,
        { field: key, received: value },
      );
    }
    return value as T;
  };
}

/** A list: an array of strings, or one comma-separated string (environment, flags). */
function parseList(value: unknown, key: string): string[] {
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : value;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string')) {
    throw invalidArgument(`Setting ${key} must be a list of strings, got ${describe(value)}.`, {
      field: key,
      received: value,
    });
  }
  return (list as string[]).filter((s) => s !== '');
}

function parseIpList(value: unknown, key: string): readonly string[] {
  const list = parseList(value, key);
  const bad = list.find((ip) => isIP(ip) === 0);
  if (bad !== undefined) {
    throw invalidArgument(`Setting ${key} must list IP addresses; ${describe(bad)} is not one.`, {
      field: key,
      received: bad,
    });
  }
  return Object.freeze(list);
}

/** A list of http(s) origins, each normalized to `scheme://host[:port]` so a check is one compare. */
function urlOrigins(value: unknown, key: string): readonly string[] {
  const origins = parseList(value, key).map((s) => {
    let url: URL | undefined;
    try {
      url = new URL(s);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw invalidArgument(
        `Setting ${key} must hold http(s) origins like https://backups.example:8443, got ${describe(s)}.`,
        { field: key, received: s },
      );
    }
    return url.origin;
  });
  return Object.freeze(origins);
}

/** NATS server URLs (`nats://host:port`; a bare `host:port` gets the scheme). */
function parseNatsUrls(value: unknown, key: string): readonly string[] {
  const list = parseList(value, key).map((u) => (u.includes('://') ? u : `nats://${u}`));
  const bad = list.find((u) => !/^(nats|tls):\/\/[^\s/]+$/.test(u));
  if (bad !== undefined) {
    throw invalidArgument(
      `Setting ${key} must list NATS server URLs like nats://127.0.0.1:4222; ${describe(bad)} is not one.`,
      { field: key, received: bad },
    );
  }
  return Object.freeze(list);
}

/**
 * The semantic cache's collections: an object `{ "faq": 0.97 }` (config file), or
 * `faq=0.97,docs=0.95` (environment, flag); empty for none.
 */
function parseSemanticCache(value: unknown, key: string): Readonly<Record<string, number>> {
  const pairs: [string, unknown][] =
    typeof value === 'string'
      ? value
          .split(',')
          .map((p) => p.trim())
          .filter((p) => p !== '')
          .map((p) => {
            const at = p.lastIndexOf('=');
            return at < 0 ? [p, undefined] : [p.slice(0, at).trim(), Number(p.slice(at + 1))];
          })
      : typeof value === 'object' && value !== null && !Array.isArray(value)
        ? Object.entries(value)
        : [['', value]];
  const out: Record<string, number> = {};
  for (const [name, s] of pairs) {
    if (name === '' || typeof s !== 'number' || !(s > 0 && s <= 1)) {
      throw invalidArgument(
        `Setting ${key} must map collection names to a minimum similarity above 0 and at most 1, like faq=0.97,docs=0.95 (or {"faq": 0.97} in a file); ${describe(name === '' ? value : `${name}=${String(s)}`)} is not one.`,
        { field: key },
      );
    }
    out[name] = s;
  }
  return Object.freeze(out);
}

function parseNodeId(value: unknown, key: string): string {
  const id = parseString(value, key);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
    throw invalidArgument(
      `Setting ${key} must be 1–64 characters from A-Z, a-z, 0-9, "_" and "-".`,
      {
        field: key,
        received: id,
      },
    );
  }
  return id;
}

function nonEmptyPath(value: unknown, key: string): string {
  const path = parseString(value, key);
  if (path === '') throw invalidArgument(`Setting ${key} must name a directory.`, { field: key });
  return path;
}

const constant =
  <T>(value: T) =>
  (): T =>
    value;

/**
 * Every setting of `quiver serve`, in the order the docs list them. The key is the
 * config-file key; the environment variable and the flag are derived from it
 * ({@link envNameOf}, {@link flagOf}).
 */
export const SETTINGS: SettingTable = Object.freeze({
  data: {
    type: 'path',
    metavar: 'dir',
    defaultText: '`./data`',
    reload: false,
    description: 'database directory',
    parse: nonEmptyPath,
    fallback: constant('./data'),
  },
  host: {
    type: 'string',
    metavar: 'host',
    defaultText: '`127.0.0.1`',
    reload: false,
    description: 'interface to bind; loopback unless you expose it on purpose',
    parse: parseString,
    fallback: constant('127.0.0.1'),
  },
  port: {
    ...integer(0, 65535),
    metavar: 'port',
    defaultText: '`6333`',
    reload: false,
    description: 'TCP port (`0` = any free port)',
    fallback: constant(6333),
  },
  logLevel: {
    type: LOG_LEVELS.join(', '),
    metavar: 'level',
    defaultText: '`info`',
    reload: true,
    description: 'pino log level',
    parse: parseOneOf(LOG_LEVELS),
    fallback: constant<LogLevel>('info'),
  },
  bodyLimitBytes: {
    ...integer(1024, 2 ** 31),
    metavar: 'bytes',
    defaultText: '33554432 (32 MiB, Qdrant’s)',
    reload: false,
    description: 'largest request body; larger ones get 413',
    fallback: constant(32 * MIB),
  },
  slowQueryMs: {
    ...integer(0, 3_600_000),
    metavar: 'ms',
    defaultText: '`200`',
    reload: true,
    description: 'searches at or above this are logged as `slow query` (warn)',
    fallback: constant(200),
  },
  defaultEf: {
    ...integer(1, 100_000),
    metavar: 'n',
    defaultText: 'collection’s `efSearch`',
    reload: true,
    description: 'beam width of searches without `params.hnsw_ef`',
    fallback: constant<number | undefined>(undefined),
  },
  keysFile: {
    type: 'path',
    metavar: 'file',
    defaultText: 'none',
    reload: true,
    description:
      'API keys file (hashed keys); enables authentication; admin key changes are saved to it',
    parse: parseString,
    fallback: constant<string | undefined>(undefined),
  },
  apiKey: {
    type: 'string',
    metavar: undefined,
    defaultText: 'none',
    reload: true,
    description:
      'one admin key in clear (id `env`), hashed at start-up; handy for bootstrapping (no flag: it would show in `ps`)',
    parse: parseString,
    fallback: constant<string | undefined>(undefined),
  },
  auditLog: {
    type: 'path',
    metavar: 'file',
    defaultText: '`<data>/audit.log`',
    reload: false,
    description: 'JSON-lines audit log; `""` turns it off',
    parse: parseString,
    fallback: (data) => `${data}/audit.log`,
  },
  snapshotsDir: {
    type: 'path',
    metavar: 'dir',
    defaultText: '`<data>/snapshots`',
    reload: false,
    description: 'where collection snapshots are written',
    parse: nonEmptyPath,
    fallback: (data) => `${data}/snapshots`,
  },
  snapshotUrlAllowList: {
    type: 'list of http(s) origins',
    metavar: 'origins',
    defaultText: '`[]`',
    reload: true,
    description:
      'origins (`https://host:port`) snapshot recover may download from; empty: no URLs, only files inside `snapshotsDir`',
    parse: urlOrigins,
    fallback: constant<readonly string[]>(Object.freeze([])),
  },
  ipBlock: {
    type: 'list of IP addresses',
    metavar: 'ips',
    defaultText: '`[]`',
    reload: true,
    description: 'client addresses refused with 403 on every route',
    parse: parseIpList,
    fallback: constant<readonly string[]>(Object.freeze([])),
  },
  shutdownGraceSeconds: {
    ...integer(0, 3600),
    metavar: 'seconds',
    defaultText: '`10`',
    reload: true,
    description: 'how long SIGTERM waits for in-flight requests',
    fallback: constant(10),
  },
  searchThreads: {
    ...integer(0, 64),
    metavar: 'n',
    defaultText: 'cores − 1 (at least 1, at most 8)',
    reload: false,
    description:
      'worker threads that search sealed segments’ graphs in shared memory (`0` = main thread only)',
    fallback: defaultSearchThreads,
  },
  cluster: {
    type: 'list of NATS URLs',
    metavar: 'urls',
    defaultText: 'none (standalone)',
    reload: false,
    description:
      'joins the cluster on these NATS JetStream servers (e.g. `nats://10.0.0.1:4222,nats://10.0.0.2:4222`): collections, writes and reads go through it (docs/CLUSTER.md)',
    parse: parseNatsUrls,
    fallback: constant<readonly string[]>(Object.freeze([])),
  },
  clusterNodeId: {
    type: 'string',
    metavar: 'id',
    defaultText: 'made at first start, kept in `DATA/cluster/node-id`',
    reload: false,
    description: 'this node’s name in the cluster',
    parse: parseNodeId,
    fallback: constant<string | undefined>(undefined),
  },
  clusterSeedAboveOps: {
    ...integer(0, 2 ** 48),
    metavar: 'n',
    defaultText: '`1000`',
    reload: false,
    description:
      'a shard replica starting from nothing (a new node, a moved replica, lost data) copies an up-to-date peer’s points when its stream holds more operations than this, then reads only the tail (docs/CLUSTER.md)',
    fallback: constant(1000),
  },
  clusterCopiesCheckSeconds: {
    ...integer(0, 86_400),
    metavar: 's',
    defaultText: '`60`',
    reload: false,
    description:
      'how often the node compares the NATS servers’ copies of the messages its shard streams gained (a split is logged and counted in `quiver_shard_copies_splits_total`, docs/RUNBOOK.md); `0`: never',
    fallback: constant(60),
  },
  maxBatchSearches: {
    ...integer(1, 1_000_000),
    metavar: 'n',
    defaultText: '`256`',
    reload: true,
    description: 'most searches in one `search/batch` or `query/batch` request; more get 400',
    fallback: constant(256),
  },
  maxResultPoints: {
    ...integer(1, 1_000_000_000),
    metavar: 'n',
    defaultText: '`100000`',
    reload: true,
    description:
      'most points one request may ask for (sum of limit + offset over its searches, or a scroll’s limit); more get 400',
    fallback: constant(100_000),
  },
  maxResponseBytes: {
    ...integer(1024, 2 ** 40),
    metavar: 'bytes',
    defaultText: '268435456 (256 MiB)',
    reload: true,
    description:
      'largest estimated response of one request (points × (dimension × 10 + payload bytes) with vectors); larger get 400',
    fallback: constant(256 * MIB),
  },
  fsync: {
    type: FSYNC_POLICIES.join(', '),
    metavar: 'policy',
    defaultText: '`batch`',
    reload: false,
    description: 'when a write is acknowledged: WAL fsync policy (`none` is for tests only)',
    parse: parseOneOf(FSYNC_POLICIES),
    fallback: constant<FsyncPolicy>('batch'),
  },
  batchDelayMs: {
    ...integer(0, 1000),
    metavar: 'ms',
    defaultText: '`2`',
    reload: false,
    description: '`batch` fsync: how long a write waits for others to share its fsync',
    fallback: constant(2),
  },
  fsyncIntervalMs: {
    ...integer(1, 60_000),
    metavar: 'ms',
    defaultText: '`100`',
    reload: false,
    description: '`periodic` fsync: the interval (a power loss loses at most this much)',
    fallback: constant(100),
  },
  maxPayloadBytes: {
    ...integer(1, 2 ** 31),
    metavar: 'bytes',
    defaultText: '1048576 (1 MiB)',
    reload: false,
    description: 'largest payload of one point, in bytes of JSON',
    fallback: constant(MIB),
  },
  walFileBytes: {
    ...integer(4096, 2 ** 32),
    metavar: 'bytes',
    defaultText: '67108864 (64 MiB)',
    reload: false,
    description: 'WAL files rotate past this size',
    fallback: constant(64 * MIB),
  },
  walArchiveDir: {
    type: 'path',
    metavar: 'dir',
    defaultText: 'none',
    reload: false,
    description:
      'WAL archive for point-in-time recovery: each WAL file is copied here before it is released (`quiver backup restore --to-lsn/--to-time --wal-archive DIR`)',
    parse: nonEmptyPath,
    fallback: constant<string | undefined>(undefined),
  },
  sealPoints: {
    ...integer(1, 1_000_000_000),
    metavar: 'n',
    defaultText: '`20000`',
    reload: false,
    description: 'a growing segment is sealed into a segment file at this many points',
    fallback: constant(20_000),
  },
  sealBytes: {
    ...integer(1024, 2 ** 40),
    metavar: 'bytes',
    defaultText: '67108864 (64 MiB)',
    reload: false,
    description: '… or at this many bytes of memory',
    fallback: constant(64 * MIB),
  },
  memoryBudgetBytes: {
    ...integer(MIB, 2 ** 48),
    metavar: 'bytes',
    defaultText: '1073741824 (1 GiB)',
    reload: false,
    description:
      'memory for growing (not yet sealed) data over all collections; past it writes get 429 while sealing catches up',
    fallback: constant(1024 * MIB),
  },
  maxSegments: {
    ...integer(1, 10_000),
    metavar: 'n',
    defaultText: '`8`',
    reload: false,
    description: 'compaction merges segments when a collection has more than this',
    fallback: constant(8),
  },
  segmentTargetPoints: {
    ...integer(1, 2 ** 31 - 1),
    metavar: 'points',
    defaultText: '`500000`',
    reload: false,
    description:
      'compaction merges onto the largest segment under this many live points while the result stays within it, so a large collection is searched as few graphs',
    fallback: constant(500_000),
  },
  compactDeletedShare: {
    type: 'number above 0, at most 1',
    metavar: 'share',
    defaultText: '`0.2`',
    reload: false,
    description: 'compaction rewrites segments whose deleted share passes this',
    parse: parseFraction,
    fallback: constant(0.2),
  },
  autoCompact: {
    type: 'true, false',
    metavar: 'bool',
    defaultText: '`true`',
    reload: false,
    description: 'compact automatically in the background',
    parse: parseBoolean,
    fallback: constant(true),
  },
  breakerFailures: {
    ...integer(1, 1000),
    metavar: 'n',
    defaultText: '`5`',
    reload: false,
    description: 'consecutive WAL I/O failures that open the circuit breaker',
    fallback: constant(5),
  },
  breakerCooldownMs: {
    ...integer(0, 86_400_000),
    metavar: 'ms',
    defaultText: '`60000`',
    reload: false,
    description: 'how long the open breaker refuses writes before a trial',
    fallback: constant(60_000),
  },
  queryCacheBytes: {
    ...integer(0, 2 ** 48),
    metavar: 'bytes',
    defaultText: '67108864 (64 MiB)',
    reload: true,
    description:
      'memory for cached search answers (a repeated search is answered from it until a write to its collection); `0` turns the cache off (docs/TUNING.md)',
    fallback: constant(64 * MIB),
  },
  vectorCacheBytes: {
    ...integer(0, 2 ** 48),
    metavar: 'bytes',
    defaultText: '67108864 (64 MiB)',
    reload: true,
    description:
      'memory for blocks of on-disk vectors (collections created with `on_disk: true`), the blocks searches read to rescore; `0` reads the files every time (docs/TUNING.md)',
    fallback: constant(64 * MIB),
  },
  semanticCache: {
    type: 'collection=similarity list',
    metavar: 'list',
    defaultText: 'none',
    reload: true,
    description:
      'collections whose searches may take a similar query’s cached answer, rescored (`faq=0.97`: cosine of the two queries at least 0.97); approximate by design, opt in per collection (docs/TUNING.md)',
    parse: parseSemanticCache,
    fallback: constant<Readonly<Record<string, number>>>(Object.freeze({})),
  },
  syncRoots: {
    type: 'list of paths',
    metavar: 'dirs',
    defaultText: '`[]`',
    reload: true,
    description:
      'folders a `POST /collections/{c}/sync` source must lie inside (symbolic links resolved); empty: sync jobs are off',
    parse: (value, key) => Object.freeze(parseList(value, key)),
    fallback: constant<readonly string[]>(Object.freeze([])),
  },
  syncEmbedder: {
    type: '`local` or `openai`',
    metavar: 'kind',
    defaultText: '`local`',
    reload: true,
    description:
      'embedder of sync jobs: `local` (feature hashing, offline, lexical) or `openai` (any OpenAI-compatible `/embeddings`)',
    parse: parseOneOf(['local', 'openai'] as const),
    fallback: constant<'local' | 'openai'>('local'),
  },
  syncModel: {
    type: 'string',
    metavar: 'name',
    defaultText: 'none',
    reload: true,
    description: 'model of the `openai` sync embedder (required with it)',
    parse: parseString,
    fallback: constant<string | undefined>(undefined),
  },
  syncDimension: {
    ...integer(8, 65_536),
    metavar: 'n',
    defaultText: '256 for `local`; the model’s for `openai`',
    reload: true,
    description: 'vector size of the sync embedder (checked against `openai` answers)',
    fallback: constant<number | undefined>(undefined),
  },
  syncBaseUrl: {
    type: 'URL',
    metavar: 'url',
    defaultText: '`https://api.openai.com/v1`',
    reload: true,
    description: 'base URL of the `openai` sync embedder (Ollama: `http://127.0.0.1:11434/v1`)',
    parse: parseString,
    fallback: constant('https://api.openai.com/v1'),
  },
  syncApiKeyFile: {
    type: 'path',
    metavar: 'file',
    defaultText: 'none',
    reload: true,
    description:
      'file holding the sync embedder’s API key, read for every request (replace the file to rotate the key); never logged',
    parse: parseString,
    fallback: constant<string | undefined>(undefined),
  },
  syncPricePer1k: {
    type: 'number ≥ 0',
    metavar: 'amount',
    defaultText: '`0`',
    reload: true,
    description: 'price of 1 000 embedding tokens, for the cost figures and the limit',
    parse: parseAmount,
    fallback: constant(0),
  },
  syncMaxCost: {
    type: 'number ≥ 0',
    metavar: 'amount',
    defaultText: 'none',
    reload: true,
    description: 'a sync job stops before its estimated cost would pass this',
    parse: parseAmount,
    fallback: constant<number | undefined>(undefined),
  },
});

/** Every setting key, in table order. */
export const SETTING_KEYS: readonly (keyof ServerConfig)[] = Object.freeze(
  Object.keys(SETTINGS) as (keyof ServerConfig)[],
);

function isSettingKey(key: string): key is keyof ServerConfig {
  return Object.hasOwn(SETTINGS, key);
}

/** `maxResponseBytes` → `QUIVER_MAX_RESPONSE_BYTES`. */
export function envNameOf(key: keyof ServerConfig): string {
  return `QUIVER_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/**
 * `maxResponseBytes` → `--max-response-bytes`, `syncPricePer1k` → `--sync-price-per-1k` (a
 * number starts a word, as in `quiver sync --price-per-1k`); undefined for settings without
 * a flag. Commander turns either spelling back into the key.
 */
export function flagOf(key: keyof ServerConfig): string | undefined {
  if (SETTINGS[key].metavar === undefined) return undefined;
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/([a-z])(\d)/g, '$1-$2')}`;
}

/**
 * Former spellings of flags, still accepted and hidden from --help: flag → setting key.
 * `--sync-price-per1k` was the flag of syncPricePer1k before it matched sync's --price-per-1k.
 */
export const FLAG_ALIASES: Readonly<Record<string, keyof ServerConfig>> = Object.freeze({
  '--sync-price-per1k': 'syncPricePer1k',
});

/** QUIVER_* environment variables and the setting each sets. */
const ENV_VARS: Readonly<Record<string, keyof ServerConfig>> = Object.freeze(
  Object.fromEntries(SETTING_KEYS.map((key) => [envNameOf(key), key])),
);

/** Reads QUIVER_* variables from `env` into a config input (lists are comma-separated). */
export function configFromEnv(env: NodeJS.ProcessEnv): ServerConfigInput {
  const out: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV_VARS)) {
    const v = env[name];
    if (v !== undefined && v !== '') out[key] = v;
  }
  return out;
}

function unknownSetting(key: string, where: string): never {
  throw invalidArgument(
    `Unknown setting "${key}"${where}: allowed are ${SETTING_KEYS.join(', ')}.`,
    { field: key },
  );
}

/**
 * Reads a config file: YAML or JSON (JSON is YAML), keys as in {@link SETTINGS}.
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
    if (!isSettingKey(key)) unknownSetting(key, ` in ${path}`);
  }
  return parsed;
}

/**
 * Merges inputs (later ones win) over the defaults and checks every value. `null` (or
 * absent) means the default.
 *
 * ### Examples
 * ```ts
 * const config = resolveServerConfig(await readConfigFile('quiver.yaml'), configFromEnv(process.env), { port: 7000 });
 * ```
 */
export function resolveServerConfig(...inputs: readonly ServerConfigInput[]): ServerConfig {
  const merged = new Map<keyof ServerConfig, unknown>();
  for (const input of inputs) {
    for (const [k, v] of Object.entries(input)) {
      if (v === undefined) continue;
      if (!isSettingKey(k)) unknownSetting(k, '');
      merged.set(k, v);
    }
  }
  const valueOf = <K extends keyof ServerConfig>(key: K, data: string): ServerConfig[K] => {
    const given = merged.get(key);
    const spec: SettingSpec<ServerConfig[K]> = SETTINGS[key];
    return given === undefined || given === null ? spec.fallback(data) : spec.parse(given, key);
  };
  const data = valueOf('data', '');
  const out: Partial<Record<keyof ServerConfig, unknown>> = {};
  for (const key of SETTING_KEYS) out[key] = valueOf(key, data);
  return Object.freeze(out as ServerConfig);
}

/** The storage engine's options (Quiver.open) a config sets. */
export function engineOptionsOf(c: ServerConfig): QuiverOptions {
  return {
    fsync: c.fsync,
    batchDelayMs: c.batchDelayMs,
    fsyncIntervalMs: c.fsyncIntervalMs,
    maxPayloadBytes: c.maxPayloadBytes,
    walFileBytes: c.walFileBytes,
    sealPoints: c.sealPoints,
    sealBytes: c.sealBytes,
    memoryBudgetBytes: c.memoryBudgetBytes,
    maxSegments: c.maxSegments,
    segmentTargetPoints: c.segmentTargetPoints,
    compactDeletedShare: c.compactDeletedShare,
    autoCompact: c.autoCompact,
    breakerFailures: c.breakerFailures,
    breakerCooldownMs: c.breakerCooldownMs,
    queryCacheBytes: c.queryCacheBytes,
    vectorCacheBytes: c.vectorCacheBytes,
    ...(c.walArchiveDir === undefined ? {} : { walArchiveDir: c.walArchiveDir }),
  };
}
