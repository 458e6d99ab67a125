/**
 * The request gate (SPEC section 6): IP block list, then API keys (header `api-key` or
 * `Authorization: Bearer`) checked against each route's declared access level and the
 * key's collections, then the audit record of every mutating and admin call.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorEnvelope } from '../http-errors.js';
import type { Access } from '../route-table.js';
import { paramsOf } from '../route-table.js';
import type { ServerContext } from '../server-context.js';
import type { Role, StoredKey } from './key-store.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The key that authenticated this request, when keys are in use. */
    apiKey: StoredKey | undefined;
    /** The error code of a failed request (for metrics). */
    errorCode: string | undefined;
  }
}

const RANK: Readonly<Record<Role, number>> = { read: 1, write: 2, admin: 3 };
const NEEDED: Readonly<Record<Exclude<Access, 'public'>, number>> = { read: 1, write: 2, admin: 3 };

/** The key a request presents, if any. */
export function presentedKey(req: FastifyRequest): string | undefined {
  const header = req.headers['api-key'];
  if (typeof header === 'string' && header !== '') return header;
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m !== null) return m[1];
  }
  return undefined;
}

/** The access level of the route a request matched (unknown routes need a read key). */
export function accessOf(req: FastifyRequest): Access {
  return req.routeOptions.config.access ?? 'read';
}

/**
 * The collections a request may see when its key is limited to some (undefined: all).
 * Server-wide read routes (/stats, /telemetry, /ready) filter what they report by it, so a
 * scoped key never learns the names or number of collections outside its scope.
 */
export function scopeOf(req: FastifyRequest): ReadonlySet<string> | undefined {
  const collections = req.apiKey?.collections;
  return collections === undefined ? undefined : new Set(collections);
}

function deny(
  req: FastifyRequest,
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
): FastifyReply {
  req.errorCode = code;
  return reply.code(status).send(errorEnvelope(message, reply.elapsedTime / 1000));
}

/** Installs the IP block, authentication and audit hooks. */
export function installAuth(app: FastifyInstance, ctx: ServerContext): void {
  app.decorateRequest('apiKey', undefined);
  app.decorateRequest('errorCode', undefined);
  app.addHook('onRequest', async (req, reply) => admit(ctx, req, reply));
  app.addHook('onResponse', async (req, reply) => {
    audit(ctx, req, reply);
  });
}

/**
 * Lets a request through (undefined) or answers it 401/403: a blocked address, no key or
 * an unknown one where keys are on, a role below the route's access, a collection outside
 * the key's scope. Sets `req.apiKey` to the key presented.
 */
async function admit(
  ctx: ServerContext,
  req: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply | undefined> {
  if (ctx.ipBlock.has(req.ip)) {
    return deny(req, reply, 403, 'FORBIDDEN', `Forbidden: address ${req.ip} is blocked.`);
  }
  const access = accessOf(req);
  if (access === 'public' || !ctx.keys.enabled) return undefined;
  const presented = presentedKey(req);
  if (presented === undefined) {
    return deny(
      req,
      reply,
      401,
      'UNAUTHORIZED',
      'Unauthorized: this server requires an API key (header "api-key" or "Authorization: Bearer <key>").',
    );
  }
  const key = ctx.keys.authenticate(presented);
  if (key === undefined) {
    return deny(
      req,
      reply,
      401,
      'UNAUTHORIZED',
      'Unauthorized: the API key is invalid or revoked.',
    );
  }
  req.apiKey = key;
  if (RANK[key.role] < NEEDED[access]) {
    return deny(
      req,
      reply,
      403,
      'FORBIDDEN',
      `Forbidden: key "${key.id}" has role ${key.role}; ${req.method} ${req.routeOptions.url ?? req.url} needs ${access}.`,
    );
  }
  const outOfScope = scopeRefusal(req, key, access);
  if (outOfScope !== undefined) return deny(req, reply, 403, 'FORBIDDEN', outOfScope);
  return undefined;
}

/**
 * Why a key limited to some collections may not make this call (undefined: it may): the
 * route names another collection, or it is a server-wide admin call.
 */
function scopeRefusal(req: FastifyRequest, key: StoredKey, access: Access): string | undefined {
  if (key.collections === undefined) return undefined;
  const collection = paramsOf(req.params)['collection_name'];
  if (collection === undefined ? access !== 'admin' : key.collections.includes(collection)) {
    return undefined;
  }
  return collection === undefined
    ? `Forbidden: key "${key.id}" is limited to collections ${key.collections.join(', ')}; server-wide admin calls need an unscoped key.`
    : `Forbidden: key "${key.id}" may not use collection "${collection}".`;
}

/**
 * Records writes and admin calls by their route's access level (searches sent as POST are
 * reads); a mutating method on no known route is recorded too (probing).
 */
function audit(ctx: ServerContext, req: FastifyRequest, reply: FastifyReply): void {
  const access = accessOf(req);
  const mutating = req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'OPTIONS';
  const unknownRoute = req.routeOptions.url === undefined;
  if (access === 'write' || access === 'admin' || (unknownRoute && mutating)) {
    ctx.audit.write({
      time: new Date().toISOString(),
      keyId: req.apiKey?.id ?? null,
      ip: req.ip,
      method: req.method,
      route: req.routeOptions.url ?? req.url.split('?')[0] ?? req.url,
      collection: paramsOf(req.params)['collection_name'] ?? null,
      status: reply.statusCode,
    });
  }
}
