/**
 * Qdrant snapshot routes for collections: create, list, download, delete, recover from a
 * location (file path, file:// or http(s):// URL) and upload (multipart or raw body).
 * Whole-database snapshots and shard snapshots answer 501.
 */
import type { FastifyInstance } from 'fastify';
import { badRequest, notImplemented } from '../http-errors.js';
import { envelope, paramsOf } from '../route-table.js';
import type { ServerContext } from '../server-context.js';
import type { SnapshotStore } from '../snapshot-store.js';
import { checkSnapshotName, restoreSnapshot } from '../snapshot-store.js';
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

async function fetchLocation(
  ctx: ServerContext,
  store: SnapshotStore,
  location: string,
): Promise<Uint8Array> {
  if (/^https?:\/\//i.test(location)) {
    let url: URL;
    try {
      url = new URL(location);
    } catch {
      throw badRequest(`location ${JSON.stringify(location)} is not a valid URL.`);
    }
    const own = OWN_URL_RE.exec(url.pathname);
    if (own !== null) {
      const [, collection, name] = own;
      const decoded = decodeURIComponent(name!);
      if (await store.has(collection!, decoded)) return store.read(collection!, decoded);
    }
    const res = await fetch(url, { signal: AbortSignal.timeout(60_000) }).catch((e: unknown) => {
      throw badRequest(
        `downloading ${location} failed: ${e instanceof Error ? e.message : String(e)}`,
      );
    });
    if (!res.ok) throw badRequest(`downloading ${location} failed with HTTP ${res.status}.`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (bytes.length > ctx.config.bodyLimitBytes * 64) {
      throw badRequest(`the snapshot at ${location} is too large.`);
    }
    return bytes;
  }
  let path: string;
  try {
    path = location.startsWith('file://')
      ? decodeURIComponent(new URL(location).pathname)
      : location;
  } catch {
    throw badRequest(`location ${JSON.stringify(location)} is not a valid file URL.`);
  }
  try {
    return await ctx.fs.readFile(path);
  } catch (e) {
    throw badRequest(
      `no readable snapshot file at ${location}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

/** Registers the snapshot routes. */
export function registerSnapshotRoutes(
  app: FastifyInstance,
  ctx: ServerContext,
  store: SnapshotStore,
): void {
  const name = (params: unknown): string => paramsOf(params)['collection_name'] ?? '';

  app.post(
    '/collections/:collection_name/snapshots',
    { config: { access: 'write' } },
    async (req, reply) => {
      const c = ctx.collection(name(req.params));
      return envelope(reply, await store.create(c));
    },
  );

  app.get(
    '/collections/:collection_name/snapshots',
    { config: { access: 'read' } },
    async (req, reply) => {
      const c = ctx.collection(name(req.params));
      return envelope(reply, await store.list(c.name));
    },
  );

  app.get(
    '/collections/:collection_name/snapshots/:snapshot_name',
    { config: { access: 'read' } },
    async (req, reply) => {
      const collection = name(req.params);
      const snapshot = checkSnapshotName(paramsOf(req.params)['snapshot_name']);
      const bytes = await store.read(collection, snapshot);
      return reply
        .header('content-type', 'application/octet-stream')
        .header('content-disposition', `attachment; filename="${snapshot}"`)
        .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    },
  );

  app.delete(
    '/collections/:collection_name/snapshots/:snapshot_name',
    { config: { access: 'write' } },
    async (req, reply) => {
      const collection = name(req.params);
      await store.delete(collection, paramsOf(req.params)['snapshot_name']);
      return envelope(reply, true);
    },
  );

  app.put(
    '/collections/:collection_name/snapshots/recover',
    { config: { access: 'admin' } },
    async (req, reply) => {
      const collection = name(req.params);
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
      const bytes = await fetchLocation(ctx, store, location);
      await restoreSnapshot(
        ctx.db(),
        collection,
        bytes,
        typeof checksum === 'string' ? checksum : undefined,
      );
      await ctx.payloadIndexes.dropCollection(collection);
      return envelope(reply, true);
    },
  );

  app.post(
    '/collections/:collection_name/snapshots/upload',
    { config: { access: 'admin' } },
    async (req, reply) => {
      const collection = name(req.params);
      if (!Buffer.isBuffer(req.body)) {
        throw badRequest(
          'upload the snapshot as multipart/form-data (field "snapshot") or application/octet-stream.',
        );
      }
      const type = req.headers['content-type'] ?? '';
      const bytes = type.startsWith('multipart/') ? firstMultipartFile(req.body, type) : req.body;
      const checksum = (req.query as Record<string, string | undefined>)['checksum'];
      await restoreSnapshot(ctx.db(), collection, bytes, checksum);
      await ctx.payloadIndexes.dropCollection(collection);
      return envelope(reply, true);
    },
  );

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
