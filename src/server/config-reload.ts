/**
 * Config reload: what SIGHUP (`systemctl reload`) does to a running server. The settings
 * SETTINGS marks reloadable take effect at once (keys file re-read, IP blocks, log level,
 * slow-query threshold, default ef, request limits, query and semantic cache); any other changed setting is named in
 * the log as needing a restart and keeps its running value. The new settings are checked
 * (and the keys file loaded) before anything changes, so a bad file changes nothing.
 */
import type { Logger as PinoLogger } from 'pino';
import { KeyStore } from './auth/key-store.js';
import type { ServerConfig } from './config.js';
import { SETTING_KEYS, SETTINGS } from './config.js';
import type { ServerContext } from './server-context.js';

/** What a reload did. */
export interface ReloadOutcome {
  /** Reloadable settings that changed, with their old and new values (secrets hidden). */
  readonly changed: Readonly<Record<string, { from: unknown; to: unknown }>>;
  /** Settings that changed but keep their running value until a restart. */
  readonly needsRestart: readonly string[];
  /** True when the keys file's keys differ from the ones in force before. */
  readonly keysChanged: boolean;
}

const SECRET_KEYS: ReadonlySet<string> = new Set(['apiKey']);

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function shown(key: string, value: unknown): unknown {
  if (value === undefined) return null;
  return SECRET_KEYS.has(key) ? '[hidden]' : value;
}

/**
 * Applies `next` (freshly read file + environment + flags) to the running server and logs
 * what changed. Throws, changing nothing, when the keys file cannot be loaded.
 */
export async function applyConfigReload(
  ctx: ServerContext,
  next: ServerConfig,
  logger: PinoLogger,
): Promise<ReloadOutcome> {
  const current = ctx.config;
  // Load the keys first: a broken keys file must leave every setting as it was.
  const keys = await KeyStore.load(ctx.fs, next.keysFile, next.apiKey);
  const changed: Record<string, { from: unknown; to: unknown }> = {};
  const needsRestart: string[] = [];
  const effective: Record<string, unknown> = { ...current };
  for (const key of SETTING_KEYS) {
    if (same(current[key], next[key])) continue;
    if (!SETTINGS[key].reload) {
      needsRestart.push(key);
      continue;
    }
    changed[key] = { from: shown(key, current[key]), to: shown(key, next[key]) };
    effective[key] = next[key];
  }
  const keysChanged = !same(ctx.keys.list(), keys.list());
  ctx.keys = keys;
  // Blocks and unblocks made through the admin API stay (ip-block.json).
  ctx.applyIpBlockConfig(next.ipBlock);
  // Runtime settings (also changed by PATCH /admin/config): only what the file changed.
  if ('slowQueryMs' in changed) ctx.settings.slowQueryMs = next.slowQueryMs;
  if ('defaultEf' in changed) ctx.settings.defaultEf = next.defaultEf;
  if ('semanticCache' in changed) {
    const db = ctx.loadedDb;
    for (const name of Object.keys(ctx.settings.semanticCache))
      db?.setSemanticCache(name, undefined);
    for (const [name, s] of Object.entries(next.semanticCache)) db?.setSemanticCache(name, s);
    ctx.settings.semanticCache = next.semanticCache;
  }
  if ('queryCacheBytes' in changed) {
    ctx.settings.queryCacheBytes = next.queryCacheBytes;
    ctx.loadedDb?.setQueryCacheBytes(next.queryCacheBytes);
  }
  if ('vectorCacheBytes' in changed) {
    ctx.settings.vectorCacheBytes = next.vectorCacheBytes;
    ctx.loadedDb?.setVectorCacheBytes(next.vectorCacheBytes);
  }
  if ('logLevel' in changed) {
    ctx.settings.logLevel = next.logLevel;
    logger.level = next.logLevel;
  }
  ctx.config = Object.freeze(effective as unknown as ServerConfig);
  logger.info({ changed, keysChanged, keys: keys.list().length }, 'config reloaded');
  if (needsRestart.length > 0) {
    logger.warn(
      { needsRestart },
      `config reload: ${needsRestart.join(', ')} changed but needs a restart; running with the old value until then`,
    );
  }
  return { changed, needsRestart, keysChanged };
}
