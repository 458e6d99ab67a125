/**
 * Qdrant collection routes: list, get, exists, create, update, delete, payload indexes and
 * aliases (reference/qdrant-compat.md). Collection info is shaped exactly as the official
 * clients (and LangChain) read it.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { isQuiverError } from '../../common/quiver-error.js';
import type { Collection } from '../../engine/collection.js';
import type { CollectionChanges } from '../../engine/validation.js';
import type { PointReads } from '../../cluster/shard-reads.js';
import { parseQdrantFilter } from '../../filter/qdrant-filter-parser.js';
import { readsOf } from '../cluster-consistency.js';
import { allShards } from '../../cluster/shard-placement.js';
import { badRequest, HttpError, needsCluster, notFound, notImplemented } from '../http-errors.js';
import { envelope, paramsOf, updateResult } from '../route-table.js';
import type { PayloadIndexRecord } from '../payload-index-registry.js';
import type { ServerContext } from '../server-context.js';
import { parseQuantizationConfig, quantizationConfigOf } from './quantization-config.js';
import {
  asObject,
  bodyObject,
  checkKeys,
  DISTANCE_OF_METRIC,
  intField,
  metricOfDistance,
} from './qdrant-input.js';

const CREATE_KEYS = [
  'quantization_config',
  'vectors',
  'hnsw_config',
  'shard_number',
  'replication_factor',
  'write_consistency_factor',
  'on_disk_payload',
  'wal_config',
  'optimizers_config',
  'strict_mode_config',
  'metadata',
  'sharding_method',
];
const CREATE_UNSUPPORTED = ['sparse_vectors', 'init_from'];
const VECTOR_KEYS = [
  'size',
  'distance',
  'hnsw_config',
  'quantization_config',
  'on_disk',
  'datatype',
];
const HNSW_KEYS = [
  'm',
  'ef_construct',
  'full_scan_threshold',
  'max_indexing_threads',
  'on_disk',
  'payload_m',
  'inline_storage',
];
const FIELD_TYPES = ['keyword', 'integer', 'float', 'bool', 'geo', 'datetime', 'text', 'uuid'];

/** How a cluster collection is laid out: its counts come from every shard. */
export interface ClusterShape {
  readonly reads: PointReads;
  readonly shards: number;
  readonly replicationFactor: number;
  /** Qdrant's `sharding_method`: `custom` when points are routed by shard key. */
  readonly shardingMethod: 'auto' | 'custom';
}

/** Collection info in Qdrant's shape. */
export async function collectionInfo(
  c: Collection,
  indexes: ReadonlyMap<string, PayloadIndexRecord> | undefined,
  cluster?: ClusterShape,
): Promise<Record<string, unknown>> {
  const config = c.config;
  const stats = c.stats();
  const reads: PointReads = cluster?.reads ?? c;
  const points = cluster === undefined ? stats.points : await reads.count();
  const segments = Math.max(1, stats.segments);
  const payloadSchema: Record<string, unknown> = {};
  for (const [field, rec] of indexes ?? []) {
    const withField = parseQdrantFilter({ must_not: [{ is_empty: { key: field } }] });
    payloadSchema[field] = {
      data_type: rec.dataType,
      ...(typeof rec.schema === 'object' && rec.schema !== null ? { params: rec.schema } : {}),
      points: points === 0 ? 0 : await reads.count(withField),
    };
  }
  return {
    status: 'green',
    optimizer_status: 'ok',
    indexed_vectors_count: points,
    points_count: points,
    segments_count: segments,
    config: {
      params: {
        vectors: {
          size: config.dimension,
          distance: DISTANCE_OF_METRIC[config.metric],
          on_disk: config.onDisk,
        },
        shard_number: cluster?.shards ?? 1,
        sharding_method: cluster?.shardingMethod ?? 'auto',
        replication_factor: cluster?.replicationFactor ?? 1,
        write_consistency_factor: 1,
        on_disk_payload: false,
      },
      hnsw_config: {
        m: config.hnsw.m,
        ef_construct: config.hnsw.efConstruction,
        full_scan_threshold: 10000,
        max_indexing_threads: 0,
        on_disk: false,
      },
      optimizer_config: {
        deleted_threshold: 0.2,
        vacuum_min_vector_number: 1000,
        default_segment_number: 0,
        max_segment_size: null,
        memmap_threshold: null,
        indexing_threshold: 20000,
        flush_interval_sec: 5,
        max_optimization_threads: null,
      },
      wal_config: { wal_capacity_mb: 64, wal_segments_ahead: 0 },
      quantization_config: quantizationConfigOf(config.quantization),
      strict_mode_config: { enabled: false },
    },
    payload_schema: payloadSchema,
  };
}

function parseHnsw(value: unknown, where: string): { m?: number; efConstruction?: number } {
  if (value === undefined || value === null) return {};
  const h = asObject(value, where);
  checkKeys(h, HNSW_KEYS, where);
  const out: { m?: number; efConstruction?: number } = {};
  if (h['m'] !== undefined && h['m'] !== null) out.m = intField(h['m'], `${where}.m`, 2, 128, 16);
  if (h['ef_construct'] !== undefined && h['ef_construct'] !== null) {
    out.efConstruction = intField(h['ef_construct'], `${where}.ef_construct`, 1, 4096, 200);
  }
  return out;
}

/** The parts of a request the collection handlers read. */
interface CollectionRequest {
  readonly params: unknown;
  readonly body: unknown;
}

/** Registers the collection routes. */
export function registerCollectionRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/collections', { config: { access: 'read' } }, async (req, reply) => {
    const list = await ctx.db().listCollections();
    const allowed = req.apiKey?.collections;
    const visible = allowed === undefined ? list : list.filter((c) => allowed.includes(c.name));
    return envelope(reply, { collections: visible.map((c) => ({ name: c.name })) });
  });

  app.get('/collections/:collection_name', { config: { access: 'read' } }, async (req, reply) => {
    const name = paramsOf(req.params)['collection_name'] ?? '';
    const c = ctx.collection(name);
    const cluster = ctx.clusterNode;
    const def = cluster?.defines(name) === true ? cluster.definition(name) : undefined;
    // A custom collection's shard_number and replication_factor are per shard key.
    const shape =
      cluster !== undefined && def !== undefined
        ? {
            reads: readsOf(ctx, req, c),
            shards: def.custom?.shardsPerKey ?? def.shards,
            replicationFactor:
              def.custom?.replicationFactor ??
              def.placement?.[String(allShards(def)[0] ?? 0)]?.length ??
              (await cluster.nodes()).length,
            shardingMethod: def.custom === undefined ? ('auto' as const) : ('custom' as const),
          }
        : undefined;
    return envelope(reply, await collectionInfo(c, ctx.payloadIndexes.get(name), shape));
  });

  app.get('/collections/:collection_name/exists', { config: { access: 'read' } }, (req, reply) => {
    const name = paramsOf(req.params)['collection_name'] ?? '';
    return Promise.resolve(envelope(reply, { exists: ctx.db().hasCollection(name) }));
  });

  app.put('/collections/:collection_name', { config: { access: 'write' } }, (req, reply) =>
    createCollection(ctx, req, reply),
  );

  app.patch('/collections/:collection_name', { config: { access: 'write' } }, (req, reply) =>
    updateCollection(ctx, req, reply),
  );

  app.delete('/collections/:collection_name', { config: { access: 'write' } }, (req, reply) =>
    dropCollection(ctx, req, reply),
  );

  app.put('/collections/:collection_name/index', { config: { access: 'write' } }, (req, reply) =>
    createPayloadIndex(ctx, req, reply),
  );

  app.delete(
    '/collections/:collection_name/index/:field_name',
    { config: { access: 'write' } },
    (req, reply) => deletePayloadIndex(ctx, req, reply),
  );

  // Aliases: Quiver has none yet; listing says so truthfully, changes answer 501.
  app.get('/aliases', { config: { access: 'read' } }, (_req, reply) =>
    Promise.resolve(envelope(reply, { aliases: [] })),
  );
  app.get('/collections/:collection_name/aliases', { config: { access: 'read' } }, (req, reply) => {
    ctx.collection(paramsOf(req.params)['collection_name'] ?? '');
    return Promise.resolve(envelope(reply, { aliases: [] }));
  });
  app.post('/collections/aliases', { config: { access: 'write' } }, () => {
    throw notImplemented('collection aliases');
  });
}

/**
 * PATCH /collections/:name: Qdrant's update. `quantization_config` (scalar, binary, or
 * `"Disabled"`) and `vectors.on_disk` (also as `vectors: {"": {on_disk}}`, or the vector's
 * own `quantization_config`) change; the other parameters cannot change after creation
 * (501 naming them). The collection's segments follow before it answers.
 */
async function updateCollection(
  ctx: ServerContext,
  req: CollectionRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const name = paramsOf(req.params)['collection_name'] ?? '';
  ctx.collection(name);
  const body = bodyObject(req.body);
  const fixed = Object.entries(body)
    .filter(
      ([k, v]) => v !== null && v !== undefined && k !== 'quantization_config' && k !== 'vectors',
    )
    .map(([k]) => k);
  if (fixed.length > 0) {
    throw notImplemented(`changing collection parameters after creation (${fixed.join(', ')})`);
  }
  const changes: { quantization?: CollectionChanges['quantization']; onDisk?: boolean } = {};
  const readQuantization = (value: unknown, where: string): void => {
    if (value === 'Disabled') changes.quantization = 'none';
    else {
      const q = parseQuantizationConfig(value, where);
      if (q !== undefined) changes.quantization = q;
    }
  };
  readQuantization(body['quantization_config'], 'quantization_config');
  if (body['vectors'] !== undefined && body['vectors'] !== null) {
    const outer = asObject(body['vectors'], 'vectors');
    // The unnamed vector's diff, given directly or under the empty name.
    const named = outer[''];
    const v = named === undefined ? outer : asObject(named, 'vectors[""]');
    const where = named === undefined ? 'vectors' : 'vectors[""]';
    checkKeys(v, ['on_disk', 'quantization_config', 'hnsw_config'], where);
    if (v['hnsw_config'] !== undefined && v['hnsw_config'] !== null) {
      throw notImplemented(`changing ${where}.hnsw_config after creation`);
    }
    readQuantization(v['quantization_config'], `${where}.quantization_config`);
    const onDisk = v['on_disk'];
    if (onDisk !== undefined && onDisk !== null) {
      if (typeof onDisk !== 'boolean') throw badRequest(`${where}.on_disk must be true or false.`);
      changes.onDisk = onDisk;
    }
  }
  if (ctx.clusterNode?.defines(name) === true && Object.keys(changes).length > 0) {
    throw notImplemented('changing a cluster collection after creation');
  }
  if (Object.keys(changes).length > 0) await ctx.db().updateCollection(name, changes);
  return envelope(reply, true);
}

/** PUT /collections/:name: one unnamed vector of a size and distance, optional HNSW settings. */
async function createCollection(
  ctx: ServerContext,
  req: CollectionRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const name = paramsOf(req.params)['collection_name'] ?? '';
  const body = bodyObject(req.body);
  checkKeys(body, CREATE_KEYS, 'the create-collection body', CREATE_UNSUPPORTED);
  const method = body['sharding_method'];
  if (method !== undefined && method !== null && method !== 'auto' && method !== 'custom') {
    throw badRequest(`sharding_method must be "auto" or "custom", got ${JSON.stringify(method)}.`);
  }
  if (method === 'custom' && ctx.clusterNode === undefined) {
    throw needsCluster('custom sharding ("sharding_method": "custom")');
  }
  const vectors = asObject(body['vectors'], 'vectors');
  if (!('size' in vectors) && !('distance' in vectors)) {
    throw notImplemented('named vectors (vectors must be { "size", "distance" })');
  }
  checkKeys(vectors, VECTOR_KEYS, 'vectors', ['multivector_config']);
  const size = intField(vectors['size'], 'vectors.size', 1, 65536, 0);
  if (size === 0) throw badRequest('vectors.size is required: the number of values per vector.');
  const metric = metricOfDistance(vectors['distance'], 'vectors.distance');
  const hnsw = {
    ...parseHnsw(body['hnsw_config'], 'hnsw_config'),
    ...parseHnsw(vectors['hnsw_config'], 'vectors.hnsw_config'),
  };
  // Both are checked; the vector's own setting wins over the collection's, as in Qdrant.
  const collectionWide = parseQuantizationConfig(
    body['quantization_config'],
    'quantization_config',
  );
  const quantization =
    parseQuantizationConfig(vectors['quantization_config'], 'vectors.quantization_config') ??
    collectionWide;
  const onDisk = vectors['on_disk'];
  if (onDisk !== undefined && onDisk !== null && typeof onDisk !== 'boolean') {
    throw badRequest('vectors.on_disk must be true or false.');
  }
  const options = {
    dimension: size,
    metric,
    hnsw,
    ...(quantization === undefined ? {} : { quantization }),
    ...(onDisk === true ? { onDisk: true } : {}),
  };
  const cluster = ctx.clusterNode;
  if (cluster !== undefined) {
    const shards = intField(body['shard_number'], 'shard_number', 1, 64, 1);
    // Without replication_factor every node holds every shard; with it, that many do.
    const factor =
      body['replication_factor'] === undefined || body['replication_factor'] === null
        ? undefined
        : intField(body['replication_factor'], 'replication_factor', 1, 64, 1);
    await cluster.createCollection(name, options, shards, factor, method === 'custom');
  } else await ctx.db().createCollection(name, options);
  // A collection of that name dropped while the server was down may have left indexes.
  await ctx.payloadIndexes.dropCollection(name);
  return envelope(reply, true);
}

/** DELETE /collections/:name: the collection and its payload indexes. */
async function dropCollection(
  ctx: ServerContext,
  req: CollectionRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const name = paramsOf(req.params)['collection_name'] ?? '';
  // A sync or doctor job writing to it would make it again, or fail half-way.
  const job = ctx.jobs.running(name);
  if (job !== undefined) {
    throw new HttpError(
      409,
      `Conflict: a ${job.kind} job (${job.id}) is running on "${name}"; cancel it first (DELETE /collections/${name}/jobs/${job.id}) or wait for it to finish.`,
    );
  }
  try {
    // A collection of the cluster goes from every node; one that is only local (made
    // before this node joined) from this node.
    const cluster = ctx.clusterNode;
    if (cluster?.defines(name) === true) await cluster.dropCollection(name);
    else await ctx.db().dropCollection(name);
  } catch (e) {
    // Qdrant answers deleting a missing collection with 200 and `false`.
    if (isQuiverError(e, 'COLLECTION_NOT_FOUND')) return envelope(reply, false);
    throw e;
  }
  await ctx.payloadIndexes.dropCollection(name);
  return envelope(reply, true);
}

/** PUT /collections/:name/index: records a payload index on a field (of a known type). */
async function createPayloadIndex(
  ctx: ServerContext,
  req: CollectionRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const name = paramsOf(req.params)['collection_name'] ?? '';
  const c = ctx.collection(name);
  const body = bodyObject(req.body);
  checkKeys(body, ['field_name', 'field_schema'], 'the create-index body');
  const field = body['field_name'];
  if (typeof field !== 'string' || field === '') {
    throw badRequest('field_name must be the payload key to index, e.g. "city".');
  }
  const schema = body['field_schema'];
  const dataType = fieldDataType(schema);
  await ctx.payloadIndexes.set(c.name, field, {
    dataType,
    schema: typeof schema === 'string' ? undefined : schema,
  });
  return envelope(reply, updateResult(ctx.db().log.lsn));
}

/** DELETE /collections/:name/index/:field: forgets the payload index on the field. */
async function deletePayloadIndex(
  ctx: ServerContext,
  req: CollectionRequest,
  reply: FastifyReply,
): Promise<unknown> {
  const p = paramsOf(req.params);
  const c = ctx.collection(p['collection_name'] ?? '');
  const field = p['field_name'] ?? '';
  if (!(await ctx.payloadIndexes.delete(c.name, field))) {
    throw notFound(`no payload index on field "${field}" of collection "${c.name}".`);
  }
  return envelope(reply, updateResult(ctx.db().log.lsn));
}

/** The field type of a `field_schema`: a type name, or an object with a `type`. */
function fieldDataType(schema: unknown): string {
  let dataType: string;
  if (typeof schema === 'string') dataType = schema;
  else if (typeof schema === 'object' && schema !== null && !Array.isArray(schema)) {
    const t = (schema as Record<string, unknown>)['type'];
    if (typeof t !== 'string') throw badRequest('field_schema.type must name the field type.');
    dataType = t;
  } else if (schema === undefined || schema === null) {
    throw badRequest(`field_schema is required: one of ${FIELD_TYPES.join(', ')}.`);
  } else throw badRequest(`field_schema must be one of ${FIELD_TYPES.join(', ')}.`);
  if (!FIELD_TYPES.includes(dataType)) {
    throw badRequest(`field_schema must be one of ${FIELD_TYPES.join(', ')}, got "${dataType}".`);
  }
  return dataType;
}
