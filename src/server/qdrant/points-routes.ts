/**
 * Qdrant point routes: upsert (list and batch forms), retrieve, get one, delete by ids or
 * filter, set / overwrite / delete / clear payload, scroll and count. Writes resolve once
 * durable, so every write answers `status: "completed"`. In cluster mode each takes
 * Qdrant's `shard_key` (custom sharding): writes go to, and reads cover, those keys.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Payload, PointId } from '../../common/types.js';
import { isJsonObject } from '../../common/types.js';
import type { Collection, PointRecord } from '../../engine/collection.js';
import type { PointInput } from '../../engine/validation.js';
import type { PointReads } from '../../cluster/shard-reads.js';
import { badRequest, notFound, notImplemented } from '../http-errors.js';
import { checkAskedFor } from '../request-limits.js';
import { sendJson } from '../response-stream.js';
import { envelope, paramsOf, updateResult } from '../route-table.js';
import type { ServerContext } from '../server-context.js';
import { clusterWrite, readsOf, shardKeysOf } from '../cluster-consistency.js';
import type { PayloadProjection } from './qdrant-input.js';
import {
  asObject,
  bodyObject,
  boolField,
  checkKeys,
  intField,
  parseFilterField,
  parsePathPointId,
  parsePointId,
  parsePointIds,
  parseVector,
  parseWithPayload,
  parseWithVector,
} from './qdrant-input.js';

/** A point as Qdrant returns it from retrieve and scroll. */
export function recordOut(
  p: { id: PointId; payload: Payload; vector?: readonly number[] },
  project: PayloadProjection,
  withVector: boolean,
): Record<string, unknown> {
  return {
    id: p.id,
    payload: project(p.payload),
    vector: withVector && p.vector !== undefined ? p.vector : null,
  };
}

function payloadOf(value: unknown, where: string): Payload | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isJsonObject(value)) throw badRequest(`${where} must be a JSON object.`);
  return value;
}

function parseUpsertPoints(body: Record<string, unknown>): PointInput[] {
  checkKeys(body, ['points', 'batch', 'shard_key', 'update_filter'], 'the upsert body');
  if (body['update_filter'] !== undefined && body['update_filter'] !== null) {
    throw notImplemented('conditional upserts (update_filter)');
  }
  if (body['points'] !== undefined) {
    if (!Array.isArray(body['points'])) {
      throw badRequest('points must be an array of { "id", "vector", "payload"? }.');
    }
    return Array.from(body['points'] as unknown[], (raw, i) => {
      const p = asObject(raw, `points[${i}]`);
      checkKeys(p, ['id', 'vector', 'payload'], `points[${i}]`);
      const payload = payloadOf(p['payload'], `points[${i}].payload`);
      return {
        id: parsePointId(p['id'], `points[${i}].id`),
        vector: parseVector(p['vector'], `points[${i}].vector`),
        ...(payload === undefined ? {} : { payload }),
      };
    });
  }
  if (body['batch'] !== undefined) {
    const b = asObject(body['batch'], 'batch');
    checkKeys(b, ['ids', 'vectors', 'payloads'], 'batch');
    const ids = parsePointIds(b['ids'], 'batch.ids');
    const vectors = b['vectors'];
    if (!Array.isArray(vectors)) {
      if (typeof vectors === 'object' && vectors !== null) throw notImplemented('named vectors');
      throw badRequest('batch.vectors must be an array of vectors.');
    }
    if (vectors.length !== ids.length) {
      throw badRequest(
        `batch.ids has ${ids.length} entries but batch.vectors has ${vectors.length}; they must match.`,
      );
    }
    const payloads = b['payloads'];
    if (payloads !== undefined && payloads !== null) {
      if (!Array.isArray(payloads) || payloads.length !== ids.length) {
        throw badRequest('batch.payloads must be an array with one entry (or null) per id.');
      }
    }
    return ids.map((id, i) => {
      const payload = payloadOf(
        Array.isArray(payloads) ? (payloads as unknown[])[i] : undefined,
        `batch.payloads[${i}]`,
      );
      return {
        id,
        vector: parseVector((vectors as unknown[])[i], `batch.vectors[${i}]`),
        ...(payload === undefined ? {} : { payload }),
      };
    });
  }
  throw badRequest('the upsert body needs "points": [...] or "batch": { ids, vectors }.');
}

/** Ids selected by `{ points }` or `{ filter }` (exactly one). */
async function selectIds(
  c: PointReads,
  body: Record<string, unknown>,
  what: string,
): Promise<PointId[]> {
  const hasPoints = body['points'] !== undefined && body['points'] !== null;
  const hasFilter = body['filter'] !== undefined && body['filter'] !== null;
  if (hasPoints === hasFilter) {
    throw badRequest(
      `${what} needs either "points": [ids] or "filter": {...}, not both or neither.`,
    );
  }
  if (hasPoints) return parsePointIds(body['points'], 'points');
  return c.ids(parseFilterField(body['filter']));
}

/** The parts of a request the point handlers read. */
interface PointRequest {
  readonly params: unknown;
  readonly body: unknown;
  readonly query?: unknown;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}
/** A point route's handler, given the server's shared state. */
type PointHandler = (
  ctx: ServerContext,
  req: PointRequest,
  reply: FastifyReply,
) => Promise<unknown>;

/** Registers the point routes. */
export function registerPointRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const on =
    (handler: PointHandler) =>
    (req: PointRequest, reply: FastifyReply): Promise<unknown> =>
      handler(ctx, req, reply);
  const read = { config: { access: 'read' as const } };
  const write = { config: { access: 'write' as const } };

  app.put('/collections/:collection_name/points', write, on(upsertPoints));
  app.post('/collections/:collection_name/points', read, on(retrievePoints));
  app.get('/collections/:collection_name/points/:id', read, on(getPoint));
  app.post('/collections/:collection_name/points/delete', write, on(deletePoints));
  app.post('/collections/:collection_name/points/payload', write, on(setPayload('merge')));
  app.put('/collections/:collection_name/points/payload', write, on(setPayload('overwrite')));
  app.post('/collections/:collection_name/points/payload/delete', write, on(deletePayloadKeys));
  app.post('/collections/:collection_name/points/payload/clear', write, on(clearPayload));
  app.post('/collections/:collection_name/points/scroll', read, on(scrollPoints));
  app.post('/collections/:collection_name/points/count', read, on(countPoints));

  // Not in Quiver yet: batched mixed updates and vector-only updates.
  app.post('/collections/:collection_name/points/batch', { config: { access: 'write' } }, () => {
    throw notImplemented('batch update operations (POST /points/batch)');
  });
  app.put('/collections/:collection_name/points/vectors', { config: { access: 'write' } }, () => {
    throw notImplemented('updating vectors alone (upsert the whole point instead)');
  });
  app.post(
    '/collections/:collection_name/points/vectors/delete',
    { config: { access: 'write' } },
    () => {
      throw notImplemented('deleting named vectors');
    },
  );
}

/** True when `c` is a cluster collection: its writes go through the shard streams. */
function inCluster(ctx: ServerContext, c: Collection): boolean {
  return ctx.clusterNode?.defines(c.name) === true;
}

/** The collection named in the route. */
function collectionOf(ctx: ServerContext, req: PointRequest): Collection {
  return ctx.collection(paramsOf(req.params)['collection_name'] ?? '');
}

/** PUT /points: upserts the points of either body form. */
async function upsertPoints(
  ctx: ServerContext,
  req: PointRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const c = collectionOf(ctx, req);
  const body = bodyObject(req.body);
  const points = parseUpsertPoints(body);
  const keys = await shardKeysOf(ctx, c.name, body, true);
  if (keys !== undefined && keys.length > 1) {
    throw badRequest(
      'An upsert names one shard key: in Quiver a point id lives under one shard key at a time.',
    );
  }
  if (inCluster(ctx, c)) {
    const op = c.prepareUpsert(points);
    const answer = await clusterWrite(ctx, req, reply, c.name, op, keys);
    ctx.metrics.upsertTotal.inc({ collection: c.name }, points.length);
    return answer;
  }
  const r = await c.upsert(points);
  ctx.metrics.upsertTotal.inc({ collection: c.name }, r.count);
  return envelope(reply, updateResult(r.lsn));
}

/** POST /points: the points with the given ids (missing ids are left out). */
async function retrievePoints(
  ctx: ServerContext,
  req: PointRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const c = collectionOf(ctx, req);
  const body = bodyObject(req.body);
  checkKeys(body, ['ids', 'with_payload', 'with_vector', 'shard_key'], 'the retrieve body');
  const keys = await shardKeysOf(ctx, c.name, body, false);
  const ids = parsePointIds(body['ids'], 'ids');
  const project = parseWithPayload(body['with_payload'], true);
  const withVector = parseWithVector(body['with_vector'], false);
  const found = await readsOf(ctx, req, c, keys).getMany(ids, { withVector });
  return envelope(
    reply,
    found.map((p) => recordOut(p, project, withVector)),
  );
}

/** GET /points/:id: one point with its payload and vector. */
async function getPoint(
  ctx: ServerContext,
  req: PointRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const c = collectionOf(ctx, req);
  const id = parsePathPointId(paramsOf(req.params)['id']);
  const p: PointRecord | undefined = await readsOf(ctx, req, c).get(id);
  if (p === undefined) throw notFound(`No point with id ${String(id)} found`);
  return envelope(
    reply,
    recordOut(p, (x) => x, true),
  );
}

/** POST /points/delete: by ids or by filter. */
async function deletePoints(
  ctx: ServerContext,
  req: PointRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const c = collectionOf(ctx, req);
  const body = bodyObject(req.body);
  checkKeys(body, ['points', 'filter', 'shard_key'], 'the delete body');
  const keys = await shardKeysOf(ctx, c.name, body, true);
  const hasPoints = body['points'] !== undefined && body['points'] !== null;
  const hasFilter = body['filter'] !== undefined && body['filter'] !== null;
  if (hasPoints === hasFilter) {
    throw badRequest('delete needs either "points": [ids] or "filter": {...}.');
  }
  if (inCluster(ctx, c)) {
    const op = hasPoints
      ? c.prepareDelete(parsePointIds(body['points'], 'points'))
      : // A filter is resolved over every shard (this node may hold only some).
        c.prepareDelete(await readsOf(ctx, req, c, keys).ids(parseFilterField(body['filter'])));
    return clusterWrite(ctx, req, reply, c.name, op, keys);
  }
  const r = hasPoints
    ? await c.delete(parsePointIds(body['points'], 'points'))
    : await c.deleteWhere(parseFilterField(body['filter'])!);
  return envelope(reply, updateResult(r.lsn));
}

/** POST /points/payload merges the payload in; PUT /points/payload replaces it. */
function setPayload(mode: 'merge' | 'overwrite'): PointHandler {
  return async (ctx, req, reply) => {
    const c = collectionOf(ctx, req);
    const body = bodyObject(req.body);
    checkKeys(body, ['payload', 'points', 'filter', 'shard_key'], 'the payload body', ['key']);
    const keys = await shardKeysOf(ctx, c.name, body, true);
    const payload = payloadOf(body['payload'], 'payload');
    if (payload === undefined) throw badRequest('payload must be a JSON object.');
    const ids = await selectIds(readsOf(ctx, req, c, keys), body, 'a payload update');
    if (inCluster(ctx, c)) {
      const op = c.preparePayloadUpdate(ids, mode, payload, []);
      return clusterWrite(ctx, req, reply, c.name, op, keys);
    }
    const r =
      mode === 'merge' ? await c.setPayload(ids, payload) : await c.overwritePayload(ids, payload);
    return envelope(reply, updateResult(r.lsn));
  };
}

/** POST /points/payload/delete: removes the given keys from the selected points. */
async function deletePayloadKeys(
  ctx: ServerContext,
  req: PointRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const c = collectionOf(ctx, req);
  const body = bodyObject(req.body);
  checkKeys(body, ['keys', 'points', 'filter', 'shard_key'], 'the delete-payload body');
  const shardKeys = await shardKeysOf(ctx, c.name, body, true);
  const keys = body['keys'];
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string' || k === '')) {
    throw badRequest('keys must be an array of payload keys, e.g. ["color"].');
  }
  const ids = await selectIds(readsOf(ctx, req, c, shardKeys), body, 'delete payload');
  if (inCluster(ctx, c)) {
    const op = c.preparePayloadUpdate(ids, 'delete-keys', undefined, keys as string[]);
    return clusterWrite(ctx, req, reply, c.name, op, shardKeys);
  }
  const r = await c.deletePayloadKeys(ids, keys as string[]);
  return envelope(reply, updateResult(r.lsn));
}

/** POST /points/payload/clear: empties the payload of the selected points. */
async function clearPayload(
  ctx: ServerContext,
  req: PointRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const c = collectionOf(ctx, req);
  const body = bodyObject(req.body);
  checkKeys(body, ['points', 'filter', 'shard_key'], 'the clear-payload body');
  const keys = await shardKeysOf(ctx, c.name, body, true);
  const ids = await selectIds(readsOf(ctx, req, c, keys), body, 'clear payload');
  if (inCluster(ctx, c)) {
    const op = c.preparePayloadUpdate(ids, 'clear', undefined, []);
    return clusterWrite(ctx, req, reply, c.name, op, keys);
  }
  const r = await c.clearPayload(ids);
  return envelope(reply, updateResult(r.lsn));
}

/** POST /points/scroll: a page of points in id order, with the offset of the next page. */
async function scrollPoints(
  ctx: ServerContext,
  req: PointRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const c = collectionOf(ctx, req);
  const body = bodyObject(req.body);
  checkKeys(
    body,
    ['filter', 'limit', 'offset', 'with_payload', 'with_vector', 'shard_key'],
    'the scroll body',
    ['order_by'],
  );
  const keys = await shardKeysOf(ctx, c.name, body, false);
  const filter = parseFilterField(body['filter']);
  const limit = intField(body['limit'], 'limit', 1, 100_000, 10);
  const offset =
    body['offset'] === undefined || body['offset'] === null
      ? undefined
      : parsePointId(body['offset'], 'offset');
  const project = parseWithPayload(body['with_payload'], true);
  const withVector = parseWithVector(body['with_vector'], false);
  checkAskedFor([{ points: limit, returned: limit, withVector }], c.config.dimension, ctx.config);
  const reads = readsOf(ctx, req, c, keys);
  const page = await reads.idsPage({
    ...(filter === undefined ? {} : { filter }),
    ...(offset === undefined ? {} : { from: offset }),
    limit,
  });
  const records = await reads.getMany(page.ids, { withVector });
  const result = {
    points: records.map((p) => recordOut(p, project, withVector)),
    next_page_offset: page.next ?? null,
  };
  // Serialized in slices: a page of 100 000 points with vectors takes seconds.
  return sendJson(reply, envelope(reply, result), ctx.config.maxResponseBytes);
}

/** POST /points/count: how many points match the filter. */
async function countPoints(
  ctx: ServerContext,
  req: PointRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const c = collectionOf(ctx, req);
  const body = bodyObject(req.body);
  checkKeys(body, ['filter', 'exact', 'shard_key'], 'the count body');
  const keys = await shardKeysOf(ctx, c.name, body, false);
  boolField(body['exact'], 'exact', true);
  const filter = parseFilterField(body['filter']);
  return envelope(reply, { count: await readsOf(ctx, req, c, keys).count(filter) });
}
