/**
 * Qdrant search routes: the universal `/points/query` (nearest vector, by point id, or no
 * query), the legacy `/points/search`, and their batch forms. Each search is timed for the
 * metrics and the slow-query log. What one request may ask for is capped (request-limits),
 * a batch yields to the event loop between its searches and answers are serialized in
 * slices (response-stream), so one request cannot stall the others. Recommend, discover,
 * groups, facets and the search matrix answer 501.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { PointId } from '../../common/types.js';
import type { QuantizedSearch } from '../../ann/vector-index.js';
import type { Collection, SearchExplain } from '../../engine/collection.js';
import type { FilterNode } from '../../filter/filter-ast.js';
import { Filter } from '../../filter/filter-ast.js';
import type { PointReads } from '../../cluster/shard-reads.js';
import { readsOf, shardKeysOf } from '../cluster-consistency.js';
import { badRequest, notFound, notImplemented } from '../http-errors.js';
import { checkAskedFor, checkBatchSize } from '../request-limits.js';
import { sendJson } from '../response-stream.js';
import { envelope, paramsOf } from '../route-table.js';
import type { ServerContext } from '../server-context.js';
import type { PayloadProjection } from './qdrant-input.js';
import { parseSearchQuantization } from './quantization-config.js';
import {
  asObject,
  NO_PAYLOAD,
  bodyObject,
  boolField,
  checkKeys,
  intField,
  numberField,
  parseFilterField,
  parsePointId,
  parseVector,
  parseWithPayload,
  parseWithVector,
} from './qdrant-input.js';

const MAX_RESULTS = 10_000;

/** A search, checked and ready to run. */
interface SearchRequest {
  readonly vector: readonly number[] | undefined;
  /** Query by point id: search with its vector, leaving the point itself out. */
  readonly byId: PointId | undefined;
  readonly filter: FilterNode | undefined;
  readonly limit: number;
  readonly offset: number;
  readonly project: PayloadProjection;
  readonly withVector: boolean;
  readonly scoreThreshold: number | undefined;
  readonly ef: number | undefined;
  readonly exact: boolean;
  readonly quantization: QuantizedSearch | undefined;
  /** The body's `shard_key`, resolved against the collection when the search runs. */
  readonly shardKey: Record<string, unknown>;
}

function parseParams(value: unknown): {
  ef: number | undefined;
  exact: boolean;
  quantization: QuantizedSearch | undefined;
} {
  if (value === undefined || value === null) {
    return { ef: undefined, exact: false, quantization: undefined };
  }
  const p = asObject(value, 'params');
  checkKeys(p, ['hnsw_ef', 'exact', 'quantization', 'indexed_only', 'acorn'], 'params');
  const ef = p['hnsw_ef'];
  return {
    ef:
      ef === undefined || ef === null ? undefined : intField(ef, 'params.hnsw_ef', 1, 100_000, 64),
    exact: boolField(p['exact'], 'params.exact', false),
    quantization: parseSearchQuantization(p['quantization']),
  };
}

function common(body: Record<string, unknown>): Omit<SearchRequest, 'vector' | 'byId'> {
  const { ef, exact, quantization } = parseParams(body['params']);
  return {
    shardKey: { shard_key: body['shard_key'] },
    filter: parseFilterField(body['filter']),
    limit: intField(body['limit'] ?? body['top'], 'limit', 1, MAX_RESULTS, 10),
    offset: intField(body['offset'], 'offset', 0, MAX_RESULTS, 0),
    project: parseWithPayload(body['with_payload'], false),
    withVector: parseWithVector(body['with_vector'], false),
    scoreThreshold: numberField(body['score_threshold'], 'score_threshold'),
    ef,
    exact,
    quantization,
  };
}

const SEARCH_KEYS = [
  'vector',
  'filter',
  'limit',
  'top',
  'offset',
  'with_payload',
  'with_vector',
  'score_threshold',
  'params',
  'shard_key',
];

function parseSearchBody(raw: unknown): SearchRequest {
  const body = bodyObject(raw);
  checkKeys(body, SEARCH_KEYS, 'the search body');
  if (body['vector'] === undefined || body['vector'] === null) {
    throw badRequest('the search body needs "vector": [numbers].');
  }
  return { ...common(body), vector: parseVector(body['vector'], 'vector'), byId: undefined };
}

const QUERY_KEYS = [
  'query',
  'filter',
  'limit',
  'offset',
  'with_payload',
  'with_vector',
  'score_threshold',
  'params',
  'using',
  'shard_key',
  'prefetch',
  'lookup_from',
];

function parseQueryBody(raw: unknown): SearchRequest {
  const body = bodyObject(raw);
  checkKeys(body, QUERY_KEYS, 'the query body');
  for (const key of ['prefetch', 'lookup_from']) {
    const v = body[key];
    if (v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0)) {
      throw notImplemented(`"${key}" in queries`);
    }
  }
  if (body['using'] !== undefined && body['using'] !== null && body['using'] !== '') {
    throw notImplemented(`named vectors ("using": ${JSON.stringify(body['using'])})`);
  }
  const base = common(body);
  let q = body['query'];
  if (q === undefined || q === null) return { ...base, vector: undefined, byId: undefined };
  if (typeof q === 'object' && !Array.isArray(q)) {
    const o = q as Record<string, unknown>;
    if ('nearest' in o) q = o['nearest'];
    else {
      const kind = Object.keys(o)[0] ?? 'an empty object';
      if (
        [
          'recommend',
          'discover',
          'context',
          'order_by',
          'fusion',
          'sample',
          'formula',
          'rrf',
        ].includes(kind)
      ) {
        throw notImplemented(`"${kind}" queries`);
      }
      // `{ "": [...] }` style unnamed vectors fall through to parseVector.
      return { ...base, vector: parseVector(o, 'query'), byId: undefined };
    }
  }
  if (typeof q === 'number' || typeof q === 'string') {
    return { ...base, vector: undefined, byId: parsePointId(q, 'query') };
  }
  return { ...base, vector: parseVector(q, 'query'), byId: undefined };
}

/** Runs one search and returns Qdrant scored points. */
async function searchToScoredPoints(
  ctx: ServerContext,
  c: Collection,
  reads: PointReads,
  r: SearchRequest,
): Promise<{ points: Record<string, unknown>[]; source: SearchExplain['source'] }> {
  const started = performance.now();
  if (r.vector === undefined && r.byId === undefined) {
    return { points: await pointsInIdOrder(reads, r), source: 'index' };
  }
  const { vector, filter } = await resolveQuery(reads, r);
  const k = Math.min(MAX_RESULTS, r.limit + r.offset);
  const ef = r.ef ?? ctx.settings.defaultEf;
  const { hits, explain } = await reads.search(vector!, {
    k,
    ...(filter === undefined ? {} : { filter }),
    ...(ef === undefined ? {} : { ef }),
    exact: r.exact,
    ...(r.quantization === undefined ? {} : { quantization: r.quantization }),
    withPayload: r.project !== NO_PAYLOAD,
    withVector: r.withVector,
    explain: true,
  });
  const lowerIsBetter = c.config.metric === 'euclid';
  const t = r.scoreThreshold;
  const kept = hits
    .slice(r.offset)
    .filter((h) => t === undefined || (lowerIsBetter ? h.score <= t : h.score >= t));
  const seconds = (performance.now() - started) / 1000;
  observeSearch(ctx, c, { seconds, k, filtered: filter !== undefined, explain });
  const points = kept.map((h) => ({
    id: h.id,
    version: 0,
    score: h.score,
    payload: h.payload === undefined ? null : r.project(h.payload),
    vector: r.withVector && h.vector !== undefined ? h.vector : null,
  }));
  return { points, source: explain.source };
}

/** No query: points in id order, as Qdrant answers. */
async function pointsInIdOrder(
  reads: PointReads,
  r: SearchRequest,
): Promise<Record<string, unknown>[]> {
  const ids = await reads.ids(r.filter);
  const page = await reads.getMany(ids.slice(r.offset, r.offset + r.limit), {
    withVector: r.withVector,
  });
  return page.map((p) => ({
    id: p.id,
    version: 0,
    score: 0,
    payload: r.project(p.payload),
    vector: r.withVector ? p.vector : null,
  }));
}

/** The vector and filter to search with: a query by id takes the point's vector, not it. */
async function resolveQuery(
  reads: PointReads,
  r: SearchRequest,
): Promise<{ vector: readonly number[] | undefined; filter: FilterNode | undefined }> {
  if (r.byId === undefined) return { vector: r.vector, filter: r.filter };
  const [p] = await reads.getMany([r.byId], { withVector: true });
  if (p === undefined) throw notFound(`No point with id ${String(r.byId)} found`);
  const notSelf = Filter.not(Filter.hasId([r.byId]));
  return {
    vector: p.vector,
    filter: r.filter === undefined ? notSelf : Filter.and([r.filter, notSelf]),
  };
}

/** Counts a search in the metrics and logs it when it was slow. */
function observeSearch(
  ctx: ServerContext,
  c: Collection,
  s: { seconds: number; k: number; filtered: boolean; explain: SearchExplain },
): void {
  const { seconds, explain } = s;
  ctx.metrics.observeSearch(c.name, seconds, explain.source);
  ctx.metrics.distanceComputations.inc({ collection: c.name }, explain.distanceComputations);
  if (seconds * 1000 >= ctx.settings.slowQueryMs) {
    ctx.logger.warn(
      {
        collection: c.name,
        ms: Math.round(seconds * 10_000) / 10,
        k: s.k,
        ef: explain.ef,
        plan: explain.plan,
        filtered: s.filtered,
        nodesVisited: explain.nodesVisited,
        distanceComputations: explain.distanceComputations,
        waiting: explain.segments.reduce((n, seg) => n + seg.waiting, 0),
        timings: explain.timings,
      },
      'slow query',
    );
  }
}

function batchOf(ctx: ServerContext, raw: unknown): unknown[] {
  const body = bodyObject(raw);
  checkKeys(body, ['searches'], 'the batch body');
  const searches = body['searches'];
  if (!Array.isArray(searches)) throw badRequest('"searches" must be an array of search bodies.');
  checkBatchSize(searches.length, ctx.config);
  return searches as unknown[];
}

/** 400 when the searches together ask for more than the server's caps allow. */
function checkRequests(
  ctx: ServerContext,
  c: Collection,
  requests: readonly SearchRequest[],
): void {
  const asked = requests.map((r) => ({
    points: r.limit + r.offset,
    returned: r.limit,
    withVector: r.withVector,
  }));
  checkAskedFor(asked, c.config.dimension, ctx.config);
}

/** Runs the searches one after the other, letting other requests in between. */
async function runBatch<T>(
  requests: readonly SearchRequest[],
  run: (r: SearchRequest) => Promise<T>,
): Promise<T[]> {
  const out: T[] = [];
  for (const r of requests) {
    if (out.length > 0) await yieldToLoop();
    out.push(await run(r));
  }
  return out;
}

/** Search routes Quiver does not serve yet (501), with what each would do. */
const NOT_YET: readonly [string, string][] = [
  ['/collections/:collection_name/points/search/groups', 'search groups'],
  ['/collections/:collection_name/points/query/groups', 'query groups'],
  ['/collections/:collection_name/points/recommend', 'recommend'],
  ['/collections/:collection_name/points/recommend/batch', 'recommend'],
  ['/collections/:collection_name/points/recommend/groups', 'recommend groups'],
  ['/collections/:collection_name/points/discover', 'discover'],
  ['/collections/:collection_name/points/discover/batch', 'discover'],
  ['/collections/:collection_name/points/search/matrix/pairs', 'the search matrix'],
  ['/collections/:collection_name/points/search/matrix/offsets', 'the search matrix'],
  ['/collections/:collection_name/facet', 'facets'],
];

/** One search, its whole time observed as layer "http" of the search duration (failed ones are not). */
async function timedSearch(
  ctx: ServerContext,
  c: Collection,
  reads: PointReads,
  r: SearchRequest,
): Promise<Record<string, unknown>[]> {
  const t0 = performance.now();
  const { points, source } = await searchToScoredPoints(ctx, c, reads, r);
  ctx.metrics.searchDuration.observe(
    { collection: c.name, layer: 'http', source },
    (performance.now() - t0) / 1000,
  );
  return points;
}

/** The answer in Qdrant's envelope, serialized in slices when large. */
function send(ctx: ServerContext, reply: FastifyReply, result: unknown): Promise<FastifyReply> {
  return sendJson(reply, envelope(reply, result), ctx.config.maxResponseBytes);
}

/** Registers the search and query routes. */
export function registerSearchRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const collectionOf = (params: unknown): Collection =>
    ctx.collection(paramsOf(params)['collection_name'] ?? '');
  // A search's shard keys (cluster mode) are checked before any search of a batch runs.
  const readsFor = (
    req: {
      readonly headers: Readonly<Record<string, string | string[] | undefined>>;
      readonly query?: unknown;
    },
    c: Collection,
    r: SearchRequest,
  ): Promise<PointReads> =>
    shardKeysOf(ctx, c.name, r.shardKey, false).then((keys) => readsOf(ctx, req, c, keys));
  const readsForAll = async (
    req: Parameters<typeof readsFor>[0],
    c: Collection,
    requests: readonly SearchRequest[],
  ): Promise<PointReads[]> => {
    const out: PointReads[] = [];
    for (const r of requests) out.push(await readsFor(req, c, r));
    return out;
  };

  app.post(
    '/collections/:collection_name/points/search',
    { config: { access: 'read' } },
    async (req, reply) => {
      const c = collectionOf(req.params);
      const r = parseSearchBody(req.body);
      checkRequests(ctx, c, [r]);
      return send(ctx, reply, await timedSearch(ctx, c, await readsFor(req, c, r), r));
    },
  );

  app.post(
    '/collections/:collection_name/points/search/batch',
    { config: { access: 'read' } },
    async (req, reply) => {
      const c = collectionOf(req.params);
      const requests = batchOf(ctx, req.body).map((s) => parseSearchBody(s));
      checkRequests(ctx, c, requests);
      const reads = await readsForAll(req, c, requests);
      let i = 0;
      return send(ctx, reply, await runBatch(requests, (r) => timedSearch(ctx, c, reads[i++]!, r)));
    },
  );

  app.post(
    '/collections/:collection_name/points/query',
    { config: { access: 'read' } },
    async (req, reply) => {
      const c = collectionOf(req.params);
      const r = parseQueryBody(req.body);
      checkRequests(ctx, c, [r]);
      return send(ctx, reply, { points: await timedSearch(ctx, c, await readsFor(req, c, r), r) });
    },
  );

  app.post(
    '/collections/:collection_name/points/query/batch',
    { config: { access: 'read' } },
    async (req, reply) => {
      const c = collectionOf(req.params);
      const requests = batchOf(ctx, req.body).map((s) => parseQueryBody(s));
      checkRequests(ctx, c, requests);
      const reads = await readsForAll(req, c, requests);
      let i = 0;
      const out = await runBatch(requests, async (r) => ({
        points: await timedSearch(ctx, c, reads[i++]!, r),
      }));
      return send(ctx, reply, out);
    },
  );

  for (const [url, what] of NOT_YET) {
    app.post(url, { config: { access: 'read' } }, () => {
      throw notImplemented(what);
    });
  }
}
