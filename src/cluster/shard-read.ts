/**
 * One node's part of a read that fans out over shards: the request as it travels (JSON
 * over NATS request-reply, or called in place for this node's own part) and how a node
 * answers it from its local collection. A node's local collection holds every shard it
 * has a replica of; when it is asked for only some of them (another node serves the rest,
 * or one of its replicas is still catching up), points of the other shards are left out
 * of the answer so that the coordinator never counts a point twice or reads a stale copy.
 */
import { ERROR_CODES, QuiverError } from '../common/quiver-error.js';
import type { ErrorCode } from '../common/quiver-error.js';
import type { PointId } from '../common/types.js';
import type { Collection } from '../engine/collection.js';
import type { QuantizedSearch } from '../ann/vector-index.js';
import type { PointRecord } from '../engine/collection-types.js';
import type { SearchExplain, SearchHit } from '../engine/search-results.js';
import type { FilterNode } from '../filter/filter-ast.js';
import { Filter, isFilterNode } from '../filter/filter-ast.js';
import { filterFromJson } from '../filter/filter-json.js';
import type { ClusterCollectionDef } from './cluster-meta.js';
import { inShards, isCustom, liveShards, shardFilter } from './shard-keys.js';
import { shardOf } from './shard-routing.js';

/** What a read waits for on the node that serves it (see server/cluster-consistency.ts). */
export interface ReadWait {
  /** shard → sequence: a write's session token. */
  readonly token?: Readonly<Record<number, number>>;
  /** Everything each shard's stream held when the read arrived. */
  readonly latest?: boolean;
}

interface Common {
  readonly collection: string;
  readonly uid: string;
  readonly shards: readonly number[];
  readonly wait?: ReadWait;
}

export type ShardReadRequest = Common &
  (
    | {
        readonly op: 'search';
        readonly vector: readonly number[];
        readonly k: number;
        readonly ef?: number;
        readonly exact: boolean;
        readonly quantization?: QuantizedSearch;
        readonly withPayload: boolean;
        readonly withVector: boolean;
        readonly filter?: FilterNode;
      }
    | { readonly op: 'getMany'; readonly ids: readonly PointId[]; readonly withVector: boolean }
    | { readonly op: 'ids' | 'count'; readonly filter?: FilterNode }
    | {
        readonly op: 'page';
        readonly filter?: FilterNode;
        readonly from?: PointId;
        readonly limit: number;
      }
  );

export interface PageAnswer {
  readonly ids: PointId[];
  readonly next: PointId | undefined;
}

export type ShardReadAnswer =
  | { readonly hits: SearchHit[]; readonly explain: SearchExplain }
  | PointRecord[]
  | PointId[]
  | number
  | PageAnswer;

/**
 * The wire form of an answer: the result, or the error it raised (code kept). A getMany
 * answer too large for one message carries the records that fit and, in `rest`, the ids
 * still to ask for.
 */
export type WireAnswer =
  | {
      readonly ok: true;
      readonly result: ShardReadAnswer;
      readonly rest?: readonly PointId[];
    }
  | { readonly ok: false; readonly code: ErrorCode; readonly message: string };

const encoder = new TextEncoder();

/**
 * `result` as one message of at most `max` bytes. Records of a getMany are cut to those
 * that fit (the asker asks again for `rest`); any other answer over `max` is an error that
 * says what to ask for instead.
 */
export function encodeAnswer(
  req: ShardReadRequest,
  result: ShardReadAnswer,
  max: number,
): Uint8Array {
  const whole = encoder.encode(JSON.stringify({ ok: true, result }));
  if (whole.length <= max) return whole;
  if (req.op === 'getMany' && Array.isArray(result)) {
    const records = result as PointRecord[];
    // The longest prefix of records that fits, found by halving (at least one record:
    // a single point over max_payload cannot travel at all).
    let lo = 1;
    let hi = records.length - 1;
    let best: Uint8Array | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const part = encoder.encode(
        JSON.stringify({
          ok: true,
          result: records.slice(0, mid),
          rest: restAfter(req.ids, records[mid - 1]!.id),
        }),
      );
      if (part.length <= max) {
        best = part;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (best !== undefined) return best;
  }
  throw new QuiverError(
    'INVALID_ARGUMENT',
    `The answer is ${whole.length} bytes, over the NATS servers' max_payload of ${max}: ask for fewer points (a smaller limit, without vectors), or raise max_payload in the NATS config.`,
    { collection: req.collection },
  );
}

/** The ids of `ids` after `last` (the order of a getMany answer follows the ids asked). */
function restAfter(ids: readonly PointId[], last: PointId): PointId[] {
  const at = ids.indexOf(last);
  return ids.slice(at + 1);
}

/**
 * Answers `req` from `local`, which holds exactly the shards in `held` (undefined: not
 * known, e.g. while a placement change removes points). Unless those are the asked shards
 * (or every shard is asked for), the read is restricted to the asked shards by an id-hash
 * filter (on a custom collection, shard-keys.ts's key-and-hash filter) evaluated with the
 * rest of the filter: the copy may also hold other shards
 * (served by another node, still catching up, or being removed), and none of their points
 * may reach the answer. Filters arrive as JSON and are rebuilt (validated) before use.
 */
export async function answerShardRead(
  local: Collection,
  sharding: number | ClusterCollectionDef,
  req: ShardReadRequest,
  held?: readonly number[],
): Promise<ShardReadAnswer> {
  // A shard count (auto sharding), or the definition (which also knows shard keys).
  const def = typeof sharding === 'number' ? undefined : sharding;
  const shardCount = def === undefined ? (sharding as number) : liveShards(def).length;
  const asked = new Set(req.shards);
  // On a custom collection points of a dropped key may linger until purged: only a copy
  // known to hold exactly the asked shards is read unrestricted.
  const all =
    (asked.size === shardCount && (def === undefined || !isCustom(def))) ||
    (held !== undefined && held.length === asked.size && held.every((s) => asked.has(s)));
  const given =
    'filter' in req && req.filter !== undefined
      ? // This node's own part arrives as the node itself; only wire JSON is rebuilt.
        isFilterNode(req.filter)
        ? req.filter
        : filterFromJson(req.filter)
      : undefined;
  const restrict = all
    ? undefined
    : def === undefined
      ? Filter.idBucket(shardCount, [...asked])
      : shardFilter(def, [...asked]);
  const filter =
    restrict === undefined ? given : given === undefined ? restrict : Filter.and([restrict, given]);
  const withFilter = filter === undefined ? {} : { filter };
  switch (req.op) {
    case 'search':
      return local.search(req.vector, {
        k: req.k,
        ...withFilter,
        ...(req.ef === undefined ? {} : { ef: req.ef }),
        exact: req.exact,
        ...(req.quantization === undefined ? {} : { quantization: req.quantization }),
        withPayload: req.withPayload,
        withVector: req.withVector,
        explain: true,
      });
    case 'getMany':
      if (def !== undefined && isCustom(def) && !all) {
        // Which shard a point is in depends on the key it was written under.
        const found = await local.getMany(req.ids, { withVector: req.withVector });
        return found.filter((p) => inShards(def, asked, p.id, p.payload));
      }
      return local.getMany(
        req.ids.filter(
          (id) => all || asked.has(shardOf(id, def === undefined ? shardCount : def.shards)),
        ),
        { withVector: req.withVector },
      );
    case 'count':
      return local.count(filter);
    case 'ids':
      return local.ids(filter);
    case 'page':
      return local.idsPage({
        ...withFilter,
        ...(req.from === undefined ? {} : { from: req.from }),
        limit: req.limit,
      });
    default:
      throw new QuiverError(
        'INVALID_ARGUMENT',
        `Unknown shard read ${JSON.stringify((req as { op?: unknown }).op)} (a node of another version?).`,
        {},
      );
  }
}

/** An error as it crosses the wire (codes that are not Quiver's become INTERNAL). */
export function wireError(e: unknown): WireAnswer {
  const code: ErrorCode = e instanceof QuiverError && e.code in ERROR_CODES ? e.code : 'INTERNAL';
  return { ok: false, code, message: e instanceof Error ? e.message : String(e) };
}

/** The error an answer carried, raised again on the coordinating node. */
export function errorOfWire(node: string, a: { code: ErrorCode; message: string }): QuiverError {
  return new QuiverError(a.code, `Node ${node}: ${a.message}`, {});
}
