/**
 * Qdrant snapshot routes for collections: create, list, download, delete, recover from a
 * location (file path, file:// or http(s):// URL) and upload (multipart or raw body).
 * Whole-database snapshots and shard snapshots answer 501.
 */
import { relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { pathEscape } from '../../common/contained-path.js';
import { checkCollectionName } from '../../engine/validation.js';
import type { StoredKey } from '../auth/key-store.js';
import { badRequest, HttpError, notImplemented } from '../http-errors.js';
import { envelope, paramsOf } from '../route-table.js';
import type { ServerContext } from '../server-context.js';
import type { SnapshotStore } from '../snapshot-store.js';
import { checkSnapshot, restoreSnapshot } from '../snapshot-store.js';
import { bodyObject, checkKeys } from './qdrant-input.js';

const OWN_URL_RE = /\/collections\/([A-Za-z0-9_-]{1,64})\/snapshots\/([^/]+)$/;

/** The first file part of a multipart/form-data body (Qdrant's `snapshot` field). */
export function firstMultipartFile(body: Buffer, contentType: string): Buffer {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (boundary === undefined) throw badRequest('multipart body without a boundary.');
  const delimiter = Buffer.from(`--${boundary}`);
  const start = body.indexOf(delimiter);
  if (start < 0) throw badRequest('multipart body without any part.');
  const headersEnd = body.indexOf('\r\n\r\n', start);
  if (headersEnd < 0) throw badRequest('multipart part without headers.');
  const end = body.indexOf(Buffer.from(`\r\n--${boundary}`), headersEnd + 4);
  if (end < 0) throw badRequest('multipart part is not terminated.');
  return body.subarray(headersEnd + 4, end);
}

/** 403 for a location or source collection this server or this key may not read. */
function forbidden(message: string): HttpError {
  return new HttpError(403, `Forbidden: ${message}`);
}

/** Where a snapshot to recover comes from, and its bytes. */
interface FetchedSnapshot {
  readonly bytes: Uint8Array;
  /** The collection whose snapshots directory held it (undefined for a download). */
  readonly storedUnder: string | undefined;
}

/**
 * A snapshot inside the snapshots directory, named by a path (absolute, or relative to
 * the directory) or a file:// URL: exactly `<collection>/<name>.snapshot` under the root,
 * anything else is refused before the file system is touched.
 */
async function readLocalSnapshot(store: SnapshotStore, location: string): Promise<FetchedSnapshot> {
  let path: string;
  try {
    path = location.startsWith('file://') ? fileURLToPath(location) : location;
  } catch {
    throw badRequest(`location ${JSON.stringify(location)} is not a valid file URL.`);
  }
  const root = resolve(store.root);
  const inside = relative(root, resolve(root, path));
  const parts = inside.split(sep);
  if (pathEscape(root, inside) !== undefined || parts.length !== 2) {
    throw forbidden(
      `location ${JSON.stringify(location)} is not a snapshot inside the snapshots directory ${root}; only <collection>/<name>.snapshot files there (or allow-listed URLs, setting snapshotUrlAllowList) can be recovered from.`,
    );
  }
  const [collection, name] = parts as [string, string];
  try {
    return { bytes: await store.read(collection, name), storedUnder: collection };
  } catch (e) {
    throw badRequest(
      `no readable snapshot file at ${location}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

/** Downloads `url` with the size cap enforced while reading (an over-long body is cut off). */
async function download(url: URL, cap: number): Promise<Uint8Array> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error('timed out after 60 s')), 60_000);
  try {
    // No redirects: a redirect could lead to an origin that is not allow-listed.
    const res = await fetch(url, { signal: abort.signal, redirect: 'error' });
    if (!res.ok) throw badRequest(`downloading ${url.href} failed with HTTP ${res.status}.`);
    const tooLarge = (): HttpError =>
      badRequest(`the snapshot at ${url.href} is larger than the limit of ${cap} bytes.`);
    if (Number(res.headers.get('content-length') ?? 0) > cap) throw tooLarge();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of res.body ?? []) {
      total += (chunk as Uint8Array).length;
      if (total > cap) throw tooLarge();
      chunks.push(chunk as Uint8Array);
    }
    return Buffer.concat(chunks);
  } catch (e) {
    if (e instanceof HttpError) throw e;
    throw badRequest(
      `downloading ${url.href} failed: ${e instanceof Error ? e.message : String(e)}`,
    );
  } finally {
    clearTimeout(timer);
    // Stops reading a body that was refused (or is still arriving after an error).
    abort.abort();
  }
}

async function fetchLocation(
  ctx: ServerContext,
  store: SnapshotStore,
  location: string,
): Promise<FetchedSnapshot> {
  if (!/^https?:\/\//i.test(location)) return readLocalSnapshot(store, location);
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw badRequest(`location ${JSON.stringify(location)} is not a valid URL.`);
  }
  // One of this server's own snapshot URLs: read the file, no request to anyone.
  const own = OWN_URL_RE.exec(url.pathname);
  if (own !== null) {
    const [, collection, name] = own;
    const decoded = decodeURIComponent(name!);
    if (await store.has(collection!, decoded)) {
      return { bytes: await store.read(collection!, decoded), storedUnder: collection };
    }
  }
  if (!ctx.config.snapshotUrlAllowList.includes(url.origin)) {
    throw forbidden(
      `downloading snapshots from ${url.origin} is not allowed; add the origin to the server setting snapshotUrlAllowList (QUIVER_SNAPSHOT_URL_ALLOW_LIST), or copy the file into the snapshots directory.`,
    );
  }
  return { bytes: await download(url, ctx.config.bodyLimitBytes * 64), storedUnder: undefined };
}

/** A collection-scoped key must be allowed on the collection a snapshot was taken of. */
function checkSourceScope(
  key: StoredKey | undefined,
  sources: readonly (string | undefined)[],
): void {
  if (key?.collections === undefined) return;
  for (const source of sources) {
    if (source !== undefined && !key.collections.includes(source)) {
      throw forbidden(
        `key "${key.id}" may not read collection "${source}", whose snapshot this is.`,
      );
    }
  }
}

/** Checks a snapshot whole, checks the caller may read its source, then replaces `collection`. */
async function recover(
  ctx: ServerContext,
  key: StoredKey | undefined,
  collection: string,
  fetched: FetchedSnapshot,
  checksum: string | undefined,
): Promise<void> {
  if (ctx.clusterNode !== undefined) {
    // A restore replaces one node's local copy; the other replicas would not follow.
    throw notImplemented(
      'restoring a snapshot in cluster mode (upsert the points through the API instead)',
    );
  }
  const checked = checkSnapshot(fetched.bytes, collection, ctx.config.maxPayloadBytes, checksum);
  checkSourceScope(key, [fetched.storedUnder, checked.source]);
  await restoreSnapshot(ctx.db(), checked, () => ctx.payloadIndexes.dropCollection(collection));
}

/** Registers the snapshot routes. */
export function registerSnapshotRoutes(
  app: FastifyInstance,
  ctx: ServerContext,
  store: SnapshotStore,
): void {
  app.post(
    '/collections/:collection_name/snapshots',
    { config: { access: 'write' } },
    async (req, reply) => {
      const c = ctx.collection(collectionParam(req));
      return envelope(reply, await store.create(c));
    },
  );

  app.get(
    '/collections/:collection_name/snapshots',
    { config: { access: 'read' } },
    async (req, reply) => {
      const c = ctx.collection(collectionParam(req));
      return envelope(reply, await store.list(c.name));
    },
  );

  app.get(
    '/collections/:collection_name/snapshots/:snapshot_name',
    { config: { access: 'read' } },
    (req, reply) => sendSnapshot(ctx, store, req, reply),
  );

  app.delete(
    '/collections/:collection_name/snapshots/:snapshot_name',
    { config: { access: 'write' } },
    async (req, reply) => {
      const collection = ctx.collection(collectionParam(req)).name;
      await store.delete(collection, paramsOf(req.params)['snapshot_name']);
      return envelope(reply, true);
    },
  );

  app.put(
    '/collections/:collection_name/snapshots/recover',
    { config: { access: 'admin' } },
    (req, reply) => recoverFromLocation(ctx, store, req, reply),
  );

  app.post(
    '/collections/:collection_name/snapshots/upload',
    { config: { access: 'admin' } },
    (req, reply) => recoverFromUpload(ctx, req, reply),
  );

  registerUnsupportedSnapshotRoutes(app);
}

/** The collection named in the route. */
function collectionParam(req: FastifyRequest): string {
  return paramsOf(req.params)['collection_name'] ?? '';
}

/** GET a snapshot file: its bytes, as a download. */
async function sendSnapshot(
  ctx: ServerContext,
  store: SnapshotStore,
  req: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const collection = ctx.collection(collectionParam(req)).name;
  const snapshot = paramsOf(req.params)['snapshot_name'];
  const bytes = await store.read(collection, snapshot);
  return reply
    .header('content-type', 'application/octet-stream')
    .header('content-disposition', `attachment; filename="${snapshot}"`)
    .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/** PUT /snapshots/recover: replaces the collection with the snapshot at `location`. */
async function recoverFromLocation(
  ctx: ServerContext,
  store: SnapshotStore,
  req: FastifyRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const collection = checkCollectionName(collectionParam(req));
  const body = bodyObject(req.body);
  checkKeys(body, ['location', 'priority', 'checksum', 'api_key'], 'the recover body');
  const location = body['location'];
  if (typeof location !== 'string' || location === '') {
    throw badRequest('location must be a file path, a file:// URL or an http(s):// URL.');
  }
  const checksum = body['checksum'];
  if (checksum !== undefined && checksum !== null && typeof checksum !== 'string') {
    throw badRequest('checksum must be the SHA-256 of the snapshot in hex.');
  }
  const fetched = await fetchLocation(ctx, store, location);
  const given = typeof checksum === 'string' ? checksum : undefined;
  await recover(ctx, req.apiKey, collection, fetched, given);
  return envelope(reply, true);
}

/** POST /snapshots/upload: replaces the collection with the snapshot in the body. */
async function recoverFromUpload(
  ctx: ServerContext,
  req: FastifyRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const collection = checkCollectionName(collectionParam(req));
  if (!Buffer.isBuffer(req.body)) {
    throw badRequest(
      'upload the snapshot as multipart/form-data (field "snapshot") or application/octet-stream.',
    );
  }
  const type = req.headers['content-type'] ?? '';
  const bytes = type.startsWith('multipart/') ? firstMultipartFile(req.body, type) : req.body;
  const checksum = (req.query as Record<string, string | undefined>)['checksum'];
  // The caller sends the bytes: there is no other collection's data to protect.
  await recover(ctx, undefined, collection, { bytes, storedUnder: undefined }, checksum);
  return envelope(reply, true);
}

/** Whole-database and shard snapshots: Qdrant's routes, answered 501. */
function registerUnsupportedSnapshotRoutes(app: FastifyInstance): void {
  for (const method of ['GET', 'POST'] as const) {
    app.route({
      method,
      url: '/snapshots',
      config: { access: method === 'GET' ? 'read' : 'admin' },
      handler: () => {
        throw notImplemented(
          'whole-database snapshots (snapshot each collection, or use "quiver backup")',
        );
      },
    });
  }
  app.route({
    method: ['GET', 'DELETE'],
    url: '/snapshots/:snapshot_name',
    config: { access: 'admin' },
    handler: () => {
      throw notImplemented('whole-database snapshots');
    },
  });
  app.route({
    method: ['GET', 'POST', 'PUT', 'DELETE'],
    url: '/collections/:collection_name/shards/*',
    config: { access: 'admin' },
    handler: () => {
      throw notImplemented('shards and shard snapshots');
    },
  });
}
