/**
 * Custom sharding (Qdrant's `sharding_method: "custom"`): which shards a shard key owns, how
 * a write naming keys is split over their shards, and how a node tells the points of one
 * key's shards from another's in its local copy. A key owns its own shard numbers (streams
 * like any shard's, never reused after the key is dropped); within a key a point goes to
 * the key's shard picked by the stable id hash. A node keeps every shard it holds in one
 * local collection, so each point written under a key carries that key in a reserved
 * payload field ({@link SHARD_KEY_FIELD}), set here on the way to the stream and taken out
 * of every answer by ShardReads; reads restricted to some shards filter on it.
 */
import { idBucket } from '../common/id-hash.js';
import { QuiverError } from '../common/quiver-error.js';
import type { Payload, PointId } from '../common/types.js';
import type { PointOp } from '../engine/collection.js';
import type { FilterNode } from '../filter/filter-ast.js';
import { Filter } from '../filter/filter-ast.js';
import type {
  ClusterCollectionDef,
  CustomSharding,
  Placement,
  ShardKey,
  ShardKeyDef,
} from './cluster-meta.js';
import { splitOp } from './shard-routing.js';

/** The payload field that records a point's shard key in a node's local copy. */
export const SHARD_KEY_FIELD = '__quiver_shard_key';

/**
 * Live shards a custom collection may have, over all its keys. Each shard is a replicated
 * JetStream stream with a consumer on every node that holds it, so keys are not free: a
 * tenant per key stops here, and tenants beyond it belong in a payload field and a filter.
 */
export const MAX_CUSTOM_SHARDS = 256;

export type CustomDef = ClusterCollectionDef & { readonly custom: CustomSharding };

export function isCustom(def: ClusterCollectionDef): def is CustomDef {
  return def.custom !== undefined;
}

/** A shard key as Qdrant writes it in messages: `"tenant-a"` or `7`. */
export function keyLabel(key: ShardKey): string {
  return JSON.stringify(key);
}

/** Qdrant's ShardKey: a non-empty string or a non-negative integer; INVALID_ARGUMENT else. */
export function checkShardKey(value: unknown, where: string): ShardKey {
  if (typeof value === 'string' && value !== '' && value.length <= 256) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  throw new QuiverError(
    'INVALID_ARGUMENT',
    `${where} must be a shard key: a non-empty string (at most 256 characters) or a non-negative integer, got ${JSON.stringify(value)}.`,
    { field: where },
  );
}

/** The shards that exist: 0..shards-1, or on a custom collection those of its keys. */
export function liveShards(def: ClusterCollectionDef): number[] {
  if (!isCustom(def)) return Array.from({ length: def.shards }, (_, s) => s);
  return def.custom.keys.flatMap((k) => k.shards).sort((a, b) => a - b);
}

/** The key owning `shard` of a custom collection (undefined: none, or an auto collection). */
export function keyOfShard(def: ClusterCollectionDef, shard: number): ShardKey | undefined {
  return def.custom?.keys.find((k) => k.shards.includes(shard))?.key;
}

/**
 * The keys a request names, checked against the collection: undefined for "every shard"
 * (a read without `shard_key`, or any request to an auto collection that names none).
 * INVALID_ARGUMENT for a key on an auto collection or a write without one on a custom
 * collection; COLLECTION_NOT_FOUND (404) for a key the collection does not have.
 */
export function resolveKeys(
  def: ClusterCollectionDef,
  keys: readonly ShardKey[] | undefined,
  write: boolean,
): readonly ShardKeyDef[] | undefined {
  if (!isCustom(def)) {
    if (keys === undefined) return undefined;
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `Collection "${def.name}" uses automatic sharding: shard_key is only for collections created with "sharding_method": "custom".`,
      { collection: def.name },
    );
  }
  if (keys === undefined) {
    if (!write) return undefined;
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `Shard key not specified: collection "${def.name}" uses custom sharding, so every write names its "shard_key" (one of: ${def.custom.keys.map((k) => keyLabel(k.key)).join(', ') || 'none yet; create one with PUT /collections/' + def.name + '/shards'}).`,
      { collection: def.name },
    );
  }
  if (keys.length === 0) {
    throw new QuiverError('INVALID_ARGUMENT', 'shard_key must name at least one key.', {
      collection: def.name,
    });
  }
  return [...new Set(keys)].map((key) => {
    const found = def.custom.keys.find((k) => k.key === key);
    if (found === undefined) {
      throw new QuiverError(
        'COLLECTION_NOT_FOUND',
        `Shard key ${keyLabel(key)} does not exist in collection "${def.name}".`,
        { collection: def.name },
      );
    }
    return found;
  });
}

/** The shards a read of `keys` (undefined: every key) covers. */
export function shardsOfKeys(
  def: ClusterCollectionDef,
  keys: readonly ShardKeyDef[] | undefined,
): number[] {
  if (keys === undefined) return liveShards(def);
  return keys.flatMap((k) => k.shards).sort((a, b) => a - b);
}

/** The shard of `id` within a key. */
export function shardInKey(key: ShardKeyDef, id: PointId): number {
  return key.shards[idBucket(id, key.shards.length)]!;
}

/**
 * `op` split into one operation per shard: by id hash on an auto collection, else within
 * each named key by id hash over its shards, every part marked with its key (see
 * {@link tagOp}). A shard belongs to one key, so parts never collide.
 */
export function splitByKeys(
  def: ClusterCollectionDef,
  op: PointOp,
  keys: readonly ShardKeyDef[] | undefined,
): Map<number, PointOp> {
  if (keys === undefined) return splitOp(op, def.shards);
  const out = new Map<number, PointOp>();
  for (const key of keys) {
    for (const [i, part] of splitOp(op, key.shards.length)) {
      out.set(key.shards[i]!, tagOp(part, key.key));
    }
  }
  return out;
}

/** `{...}` with the key field added last (a duplicate the user sent loses to it). */
function withKey(payloadJson: string, key: ShardKey): string {
  const field = `${JSON.stringify(SHARD_KEY_FIELD)}:${JSON.stringify(key)}`;
  const text = payloadJson.trim();
  if (text === '' || /^\{\s*\}$/.test(text)) return `{${field}}`;
  return `${text.slice(0, -1)},${field}}`;
}

/**
 * The operation as a node of a custom collection applies it: upserted payloads and
 * overwrites carry the key; a clear keeps only the key; a key delete never removes it.
 */
export function tagOp(op: PointOp, key: ShardKey): PointOp {
  if (op.kind === 'upsert') {
    return {
      ...op,
      points: op.points.map((p) => ({ ...p, payloadJson: withKey(p.payloadJson, key) })),
    };
  }
  if (op.kind !== 'payload') return op;
  switch (op.mode) {
    case 'merge':
    case 'overwrite':
      return { ...op, payloadJson: withKey(op.payloadJson, key) };
    case 'clear':
      return { ...op, mode: 'overwrite', payloadJson: withKey('', key) };
    case 'delete-keys':
      return { ...op, keys: op.keys.filter((k) => k !== SHARD_KEY_FIELD) };
    default:
      return op;
  }
}

/** A payload without the key field (what clients see). */
export function stripKey(payload: Payload): Payload {
  if (!(SHARD_KEY_FIELD in payload)) return payload;
  const { [SHARD_KEY_FIELD]: _key, ...rest } = payload;
  return rest;
}

/**
 * The points of `asked` shards in a node's local copy: an id-hash filter on an auto
 * collection; on a custom one, per key with asked shards, its key field and the id hash
 * over its shards. A shard no key owns (its key dropped) matches nothing.
 */
export function shardFilter(def: ClusterCollectionDef, asked: readonly number[]): FilterNode {
  if (!isCustom(def)) return Filter.idBucket(def.shards, asked);
  const want = new Set(asked);
  const parts: FilterNode[] = [];
  for (const key of def.custom.keys) {
    const local = key.shards.flatMap((s, i) => (want.has(s) ? [i] : []));
    if (local.length === 0) continue;
    const match = Filter.eq(SHARD_KEY_FIELD, key.key);
    parts.push(
      local.length === key.shards.length
        ? match
        : Filter.and([match, Filter.idBucket(key.shards.length, local)]),
    );
  }
  return parts.length === 0 ? Filter.none() : parts.length === 1 ? parts[0]! : Filter.or(parts);
}

/** True when a stored point (id and raw payload) belongs to one of `asked` shards. */
export function inShards(
  def: ClusterCollectionDef,
  asked: ReadonlySet<number>,
  id: PointId,
  payload: Payload,
): boolean {
  if (!isCustom(def)) return asked.has(idBucket(id, def.shards));
  const key = def.custom.keys.find((k) => k.key === payload[SHARD_KEY_FIELD]);
  return key !== undefined && asked.has(shardInKey(key, id));
}

/** The shards a point with `id` may be in, over `keys` (undefined: every key). */
export function shardsOfId(
  def: ClusterCollectionDef,
  id: PointId,
  keys: readonly ShardKeyDef[] | undefined,
): number[] {
  if (!isCustom(def)) return [idBucket(id, def.shards)];
  return (keys ?? def.custom.keys).map((k) => shardInKey(k, id));
}

/**
 * `def` with a new key owning the next `count` shard numbers; `placement`, when given, is
 * the whole next placement (every shard's, the new key's included). INVALID_ARGUMENT when
 * the collection is not custom, already has the key, or would pass MAX_CUSTOM_SHARDS.
 */
export function withShardKey(
  def: ClusterCollectionDef,
  key: ShardKey,
  count: number,
  placement: Placement | undefined,
): ClusterCollectionDef {
  const custom = requireCustom(def);
  if (custom.keys.some((k) => k.key === key)) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `Shard key ${keyLabel(key)} already exists in collection "${def.name}".`,
      { collection: def.name },
    );
  }
  const live = liveShards(def).length;
  if (live + count > MAX_CUSTOM_SHARDS) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `Collection "${def.name}" has ${live} shards under ${custom.keys.length} shard keys; shard key ${keyLabel(key)} with ${count} more would pass the limit of ${MAX_CUSTOM_SHARDS} (each shard is a replicated stream). Drop keys no longer used (POST /collections/${def.name}/shards/delete), or keep many small tenants under fewer keys and tell them apart by a payload field and a filter.`,
      { collection: def.name },
    );
  }
  const shards = Array.from({ length: count }, (_, i) => def.shards + i);
  return {
    ...def,
    shards: def.shards + count,
    custom: { ...custom, keys: [...custom.keys, { key, shards }] },
    ...(placement === undefined ? {} : { placement }),
  };
}

/** `def` without `key` and the placement of its shards. */
export function withoutShardKey(def: ClusterCollectionDef, key: ShardKey): ClusterCollectionDef {
  const custom = requireCustom(def);
  const gone = custom.keys.find((k) => k.key === key);
  if (gone === undefined) {
    throw new QuiverError(
      'COLLECTION_NOT_FOUND',
      `Shard key ${keyLabel(key)} does not exist in collection "${def.name}".`,
      { collection: def.name },
    );
  }
  const placement =
    def.placement === undefined
      ? undefined
      : Object.fromEntries(
          Object.entries(def.placement).filter(([s]) => !gone.shards.includes(Number(s))),
        );
  return {
    ...def,
    custom: { ...custom, keys: custom.keys.filter((k) => k !== gone) },
    ...(placement === undefined ? {} : { placement }),
  };
}

export function requireCustom(def: ClusterCollectionDef): CustomSharding {
  if (def.custom === undefined) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `Collection "${def.name}" uses automatic sharding: shard keys are only for collections created with "sharding_method": "custom".`,
      { collection: def.name },
    );
  }
  return def.custom;
}
