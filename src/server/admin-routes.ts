/**
 * Admin routes (SPEC section 6), admin keys only: read-only mode, compaction, the
 * integrity check (ops/verify in the background), live settings, the query cache, the circuit breaker,
 * API keys and the IP block list. Answers are plain JSON objects.
 */
import { isIP } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { verifyDatabase } from '../ops/verify.js';
import type { Role } from './auth/key-store.js';
import { ROLES } from './auth/key-store.js';
import type { LogLevel } from './config.js';
import { LOG_LEVELS } from './config.js';
import { badRequest, notFound } from './http-errors.js';
import { asObject, bodyObject, checkKeys, intField } from './qdrant/qdrant-input.js';
import { DEFAULT_QUERY_CACHE_BYTES } from '../engine/options.js';
import type { ServerContext } from './server-context.js';

const MIB = 1024 * 1024;

function integrityView(ctx: ServerContext): Record<string, unknown> {
  const i = ctx.integrity;
  return {
    state: i.state,
    startedAt: i.startedAt ?? null,
    finishedAt: i.finishedAt ?? null,
    report: i.report ?? null,
    error: i.error ?? null,
  };
}

/** Registers the admin routes. */
export function registerAdminRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const admin = { config: { access: 'admin' as const } };

  app.post('/admin/readonly', admin, () => {
    ctx.db().setReadOnly(true);
    return Promise.resolve({ readOnly: true });
  });

  app.post('/admin/readwrite', admin, () => {
    ctx.db().setReadOnly(false);
    return Promise.resolve({ readOnly: false });
  });

  app.post('/admin/compact', admin, (req) => compact(ctx, req.body));

  app.post('/admin/integrity-check', admin, () => {
    startIntegrityCheck(ctx);
    return Promise.resolve(integrityView(ctx));
  });

  app.get('/admin/integrity-check/status', admin, () => Promise.resolve(integrityView(ctx)));

  app.patch('/admin/config', admin, (req) => Promise.resolve(changeSettings(ctx, req.body)));

  app.post('/admin/cache/clear', admin, () => {
    const db = ctx.db();
    const cleared = db.clearQueryCache();
    ctx.logger.warn({ cleared }, 'query cache cleared');
    return Promise.resolve({ cleared, queryCache: db.stats().queryCache });
  });

  app.post('/admin/circuit-breaker/reset', admin, async () => {
    const db = ctx.db();
    await db.resetCircuitBreaker();
    return { circuitBreaker: db.circuitBreaker };
  });

  app.get('/admin/keys', admin, () => Promise.resolve({ keys: ctx.keys.list() }));

  app.post('/admin/keys', admin, (req) => createKey(ctx, req.body));

  app.post('/admin/keys/revoke', admin, async (req) => {
    const body = asObject(req.body, 'the revoke body');
    checkKeys(body, ['id'], 'the revoke body');
    const id = body['id'];
    if (typeof id !== 'string') throw badRequest('id must name the key to revoke.');
    if (!(await ctx.keys.revoke(id))) throw notFound(`no live key with id "${id}".`);
    return { id, revoked: true };
  });

  app.get('/admin/ip-block', admin, () => Promise.resolve({ blocked: [...ctx.ipBlock].sort() }));

  app.post('/admin/ip-block', admin, (req) => changeIpBlocks(ctx, req.body));
}

/** POST /admin/compact: compacts one collection (or all) and says how long it took. */
async function compact(ctx: ServerContext, raw: unknown): Promise<Record<string, unknown>> {
  const body = bodyObject(raw);
  checkKeys(body, ['collection'], 'the compact body');
  const collection = body['collection'];
  if (collection !== undefined && collection !== null && typeof collection !== 'string') {
    throw badRequest('collection must be a collection name.');
  }
  const t0 = performance.now();
  await ctx.db().compact(typeof collection === 'string' ? collection : undefined);
  return { status: 'completed', seconds: (performance.now() - t0) / 1000 };
}

/** Starts a verification in the background unless one is running; its outcome lands in ctx. */
function startIntegrityCheck(ctx: ServerContext): void {
  const db = ctx.db();
  const i = ctx.integrity;
  if (i.state === 'running') return;
  i.state = 'running';
  i.startedAt = new Date().toISOString();
  i.finishedAt = undefined;
  i.report = undefined;
  i.error = undefined;
  verifyDatabase(db.path, { fileSystem: ctx.fs }).then(
    (report) => {
      i.state = 'done';
      i.report = report;
      i.finishedAt = new Date().toISOString();
      ctx.logger.info({ status: report.status, errors: report.errors }, 'integrity check done');
    },
    (e: unknown) => {
      i.state = 'failed';
      i.error = e instanceof Error ? e.message : String(e);
      i.finishedAt = new Date().toISOString();
      ctx.logger.error({ err: e }, 'integrity check failed to run');
    },
  );
}

/** PATCH /admin/config: every field is checked before any setting changes. */
function changeSettings(ctx: ServerContext, raw: unknown): Record<string, unknown> {
  const body = bodyObject(raw);
  checkKeys(
    body,
    [
      'slowQueryMs',
      'defaultEf',
      'logLevel',
      'queryCacheBytes',
      'vectorCacheBytes',
      'cache',
      'semanticCache',
    ],
    'the config body',
  );
  const s = ctx.settings;
  const slow = body['slowQueryMs'];
  const ef = body['defaultEf'];
  const level = body['logLevel'];
  const cacheBytes = queryCacheBytesOf(body, s.queryCacheBytes);
  const vectorBytes =
    body['vectorCacheBytes'] === undefined
      ? s.vectorCacheBytes
      : intField(body['vectorCacheBytes'], 'vectorCacheBytes', 0, 2 ** 48, 0);
  const semantic = semanticCacheOf(body['semanticCache'], s.semanticCache);
  const next = {
    slowQueryMs:
      slow === undefined ? s.slowQueryMs : intField(slow, 'slowQueryMs', 0, 3_600_000, 0),
    defaultEf:
      ef === undefined
        ? s.defaultEf
        : ef === null
          ? undefined
          : intField(ef, 'defaultEf', 1, 100_000, 64),
    logLevel: s.logLevel,
  };
  if (level !== undefined) {
    if (typeof level !== 'string' || !(LOG_LEVELS as readonly string[]).includes(level)) {
      throw badRequest(`logLevel must be one of ${LOG_LEVELS.join(', ')}.`);
    }
    next.logLevel = level as LogLevel;
  }
  if (cacheBytes !== s.queryCacheBytes) ctx.db().setQueryCacheBytes(cacheBytes);
  if (vectorBytes !== s.vectorCacheBytes) ctx.db().setVectorCacheBytes(vectorBytes);
  if (semantic !== s.semanticCache) {
    const db = ctx.db();
    for (const name of Object.keys(s.semanticCache)) db.setSemanticCache(name, undefined);
    for (const [name, min] of Object.entries(semantic)) db.setSemanticCache(name, min);
    s.semanticCache = semantic;
  }
  s.slowQueryMs = next.slowQueryMs;
  s.defaultEf = next.defaultEf;
  s.logLevel = next.logLevel;
  s.queryCacheBytes = cacheBytes;
  s.vectorCacheBytes = vectorBytes;
  ctx.logger.level = next.logLevel;
  ctx.logger.warn({ settings: { ...s } }, 'settings changed');
  return { ...s, defaultEf: s.defaultEf ?? null };
}

/**
 * The query cache size a config body asks for: `queryCacheBytes`, or the alias
 * `{"cache": {"query_cache": {"enabled": bool, "size_mb": n}}}` (another system's shape,
 * accepted so its operators' scripts work). Not both.
 */
function queryCacheBytesOf(body: Record<string, unknown>, current: number): number {
  const bytes = body['queryCacheBytes'];
  const alias = body['cache'];
  if (bytes !== undefined && alias !== undefined) {
    throw badRequest('Give queryCacheBytes or cache.query_cache, not both.');
  }
  if (bytes !== undefined) return intField(bytes, 'queryCacheBytes', 0, 2 ** 48, current);
  if (alias === undefined) return current;
  const cache = asObject(alias, 'cache');
  checkKeys(cache, ['query_cache'], 'cache');
  const q = asObject(cache['query_cache'], 'cache.query_cache');
  checkKeys(q, ['enabled', 'size_mb'], 'cache.query_cache');
  const enabled = q['enabled'];
  if (enabled !== undefined && typeof enabled !== 'boolean') {
    throw badRequest('cache.query_cache.enabled must be true or false.');
  }
  if (enabled === false) return 0;
  const mb = q['size_mb'];
  if (mb !== undefined && mb !== null)
    return intField(mb, 'cache.query_cache.size_mb', 1, 2 ** 28, 0) * MIB;
  // Enabled without a size: the size in force, or the default when it was off.
  return current > 0 ? current : DEFAULT_QUERY_CACHE_BYTES;
}

/**
 * The semantic cache's collections after a config body's `semanticCache`: an object of
 * collection → minimum similarity (above 0, at most 1) or null to opt one out, merged
 * into `current`. The same object when the body has none.
 */
function semanticCacheOf(
  raw: unknown,
  current: Readonly<Record<string, number>>,
): Readonly<Record<string, number>> {
  if (raw === undefined) return current;
  const next: Record<string, number> = { ...current };
  for (const [name, min] of Object.entries(asObject(raw, 'semanticCache'))) {
    if (min === null) {
      delete next[name];
      continue;
    }
    if (typeof min !== 'number' || !(min > 0 && min <= 1)) {
      throw badRequest(
        `semanticCache.${name} must be a minimum similarity above 0 and at most 1 (e.g. 0.97), or null to opt out; got ${JSON.stringify(min)}.`,
      );
    }
    next[name] = min;
  }
  return next;
}

/** POST /admin/keys: a new key; its secret is shown in this answer only. */
async function createKey(ctx: ServerContext, raw: unknown): Promise<Record<string, unknown>> {
  const body = bodyObject(raw);
  checkKeys(body, ['role', 'collections', 'id'], 'the create-key body');
  const role = body['role'];
  if (!ROLES.includes(role as Role)) throw badRequest(`role must be one of ${ROLES.join(', ')}.`);
  const collections = body['collections'];
  if (
    collections !== undefined &&
    collections !== null &&
    (!Array.isArray(collections) || collections.some((c) => typeof c !== 'string'))
  ) {
    throw badRequest('collections must be a list of collection names.');
  }
  const id = body['id'];
  if (id !== undefined && typeof id !== 'string') throw badRequest('id must be a string.');
  const created = await ctx.keys.create({
    role: role as Role,
    ...(Array.isArray(collections) ? { collections: collections as string[] } : {}),
    ...(typeof id === 'string' ? { id } : {}),
  });
  return { ...created.info, key: created.key };
}

/** POST /admin/ip-block: blocks and unblocks addresses, saved before they take effect. */
async function changeIpBlocks(ctx: ServerContext, raw: unknown): Promise<{ blocked: string[] }> {
  const body = asObject(raw, 'the ip-block body');
  checkKeys(body, ['block', 'unblock'], 'the ip-block body');
  const list = (v: unknown, where: string): string[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || isIP(x) === 0)) {
      throw badRequest(`${where} must be a list of IP addresses.`);
    }
    return v as string[];
  };
  const block = list(body['block'], 'block');
  const unblock = list(body['unblock'], 'unblock');
  // Saved before it takes effect: an answer of 200 means it survives a restart.
  await ctx.ipBlocks.change(block, unblock);
  for (const ip of block) ctx.ipBlock.add(ip);
  for (const ip of unblock) ctx.ipBlock.delete(ip);
  ctx.logger.warn({ block, unblock, file: ctx.ipBlocks.path }, 'IP block list changed');
  return { blocked: [...ctx.ipBlock].sort() };
}
