/**
 * ShardReads: the reads of a cluster collection whose shards are spread over nodes. Each
 * read is split by shard, each node asked for the shards it serves (one active replica per
 * shard, this node's own first), and the answers merged: search hits by score, ids in id
 * order, pages cut at the limit with the next page's first id, counts summed. A node that
 * does not answer is left out of the next plan and its shards asked of another replica.
 * The server's point and search routes read through this (or through the local collection
 * when the collection is not the cluster's): both satisfy {@link PointReads}. A read may
 * cover only some shards (a custom collection's shard keys, shard-keys.ts); one covering
 * none is {@link EmptyReads}.
 */
import { QuiverError, isQuiverError } from '../common/quiver-error.js';
import type { Payload, PointId } from '../common/types.js';
import { compareIds } from '../common/types.js';
import type { PointRecord } from '../engine/collection-types.js';
import type { QuantizedSearch } from '../ann/vector-index.js';
import type { SearchExplain, SearchHit } from '../engine/search-results.js';
import type { FilterNode } from '../filter/filter-ast.js';
import { Filter } from '../filter/filter-ast.js';
import type { PageAnswer, ReadWait, ShardReadAnswer, ShardReadRequest } from './shard-read.js';
import { shardOf } from './shard-routing.js';

export interface ReadSearchOptions {
  readonly k: number;
  readonly filter?: FilterNode;
  readonly ef?: number;
  readonly exact?: boolean;
  readonly quantization?: QuantizedSearch;
  readonly withPayload?: boolean;
  readonly withVector?: boolean;
  readonly explain: true;
}

/** The reads the HTTP routes make of a collection (a local Collection has them too). */
export interface PointReads {
  search(
    vector: readonly number[],
    options: ReadSearchOptions,
  ): Promise<{ hits: SearchHit[]; explain: SearchExplain }>;
  getMany(ids: readonly PointId[], options?: { withVector?: boolean }): Promise<PointRecord[]>;
  get(id: PointId): Promise<PointRecord | undefined>;
  ids(filter?: FilterNode): Promise<PointId[]>;
  idsPage(options: { filter?: FilterNode; from?: PointId; limit?: number }): Promise<PageAnswer>;
  count(filter?: FilterNode): Promise<number>;
}

/**
 * Which node serves which of the `shards` (never one in `exclude`); UNAVAILABLE when
 * none can serve one of them.
 */
export type ReadPlanner = (
  exclude: ReadonlySet<string>,
  shards: ReadonlySet<number>,
) => Map<string, number[]>;

export interface ShardReadsOptions {
  readonly collection: string;
  readonly uid: string;
  readonly shardCount: number;
  /** Euclidean scores are distances: smaller is better. */
  readonly lowerIsBetter: boolean;
  readonly wait: ReadWait;
  readonly plan: ReadPlanner;
  /** Runs one node's part: this node's in place, another's over NATS. */
  readonly send: (node: string, req: ShardReadRequest) => Promise<ShardReadAnswer>;
  /** Ids per page when a whole id list is read (default {@link IDS_PAGE}). */
  readonly idsPageSize?: number;
  /** The shards this read covers (default: 0..shardCount-1; shard keys narrow it). */
  readonly readShards?: readonly number[];
  /** The shards a point may be in (default: its id hash over shardCount). */
  readonly shardsOfId?: (id: PointId) => readonly number[];
  /** Applied to every payload answered (a custom collection's key field comes off). */
  readonly payloadOut?: (payload: Payload) => Payload;
}

/** Other replicas tried for a shard whose node failed, before the read gives up. */
const RETRIES = 2;
const DEFAULT_PAGE = 100;
/**
 * Ids per round of {@link ShardReads.ids}: a node's part of a page (at most this many and
 * one more) stays far below a NATS message's 1 MiB with 36-character UUIDs (about 400 KiB).
 */
export const IDS_PAGE = 10_000;

/** A request without what every part shares (collection, uid, shards, wait). */
type Part = ShardReadRequest extends infer R
  ? R extends ShardReadRequest
    ? Omit<R, 'collection' | 'uid' | 'shards' | 'wait'>
    : never
  : never;

export class ShardReads implements PointReads {
  constructor(private readonly o: ShardReadsOptions) {}

  /** The same reads with `out` applied to every payload answered. */
  withPayloadOut(out: (payload: Payload) => Payload): ShardReads {
    return new ShardReads({ ...this.o, payloadOut: out });
  }

  async search(
    vector: readonly number[],
    options: ReadSearchOptions,
  ): Promise<{ hits: SearchHit[]; explain: SearchExplain }> {
    const parts = await this.fanOut<{ hits: SearchHit[]; explain: SearchExplain }>({
      op: 'search',
      vector: Array.from(vector),
      k: options.k,
      ...(options.ef === undefined ? {} : { ef: options.ef }),
      exact: options.exact === true,
      ...(options.quantization === undefined ? {} : { quantization: options.quantization }),
      withPayload: options.withPayload !== false,
      withVector: options.withVector === true,
      ...(options.filter === undefined ? {} : { filter: options.filter }),
    });
    const seen = new Set<PointId>();
    const sign = this.o.lowerIsBetter ? 1 : -1;
    const hits = parts
      .flatMap((p) => p.hits)
      .sort((a, b) => sign * (a.score - b.score) || compareIds(a.id, b.id))
      .filter((h) => !seen.has(h.id) && seen.add(h.id) !== undefined)
      .slice(0, options.k);
    const out = this.o.payloadOut;
    if (out !== undefined) {
      for (let i = 0; i < hits.length; i++) {
        const h = hits[i]!;
        if (h.payload !== undefined) hits[i] = { ...h, payload: out(h.payload) };
      }
    }
    return { hits, explain: mergeExplain(parts.map((p) => p.explain)) };
  }

  async getMany(
    ids: readonly PointId[],
    options: { withVector?: boolean } = {},
  ): Promise<PointRecord[]> {
    const where = this.o.shardsOfId ?? ((id: PointId) => [shardOf(id, this.o.shardCount)]);
    const shards = new Set(ids.flatMap((id) => where(id)));
    const withVector = options.withVector !== false;
    // Each node is sent only the ids of its shards.
    const parts = await this.fanOut<PointRecord[]>(
      (asked) => ({
        op: 'getMany',
        ids: ids.filter((id) => where(id).some((s) => asked.includes(s))),
        withVector,
      }),
      shards,
    );
    // In the order asked, as a local getMany answers (missing ids left out).
    const byId = new Map<PointId, PointRecord>();
    const out = this.o.payloadOut;
    for (const p of parts.flat())
      byId.set(p.id, out === undefined ? p : { ...p, payload: out(p.payload) });
    return ids.flatMap((id) => {
      const p = byId.get(id);
      return p === undefined ? [] : [p];
    });
  }

  async get(id: PointId): Promise<PointRecord | undefined> {
    const [p] = await this.getMany([id], { withVector: true });
    return p;
  }

  /**
   * Every matching id, in id order, read a page at a time: one node's whole list (a delete
   * by filter over a large collection) may not fit in one NATS message.
   */
  async ids(filter?: FilterNode): Promise<PointId[]> {
    const out: PointId[] = [];
    const limit = this.o.idsPageSize ?? IDS_PAGE;
    let from: PointId | undefined;
    do {
      const page = await this.idsPage({
        ...(filter === undefined ? {} : { filter }),
        ...(from === undefined ? {} : { from }),
        limit,
      });
      out.push(...page.ids);
      from = page.next;
    } while (from !== undefined);
    return out;
  }

  async idsPage(options: {
    filter?: FilterNode;
    from?: PointId;
    limit?: number;
  }): Promise<PageAnswer> {
    const limit = options.limit ?? DEFAULT_PAGE;
    const parts = await this.fanOut<PageAnswer>({
      op: 'page',
      ...withFilter(options.filter),
      ...(options.from === undefined ? {} : { from: options.from }),
      limit,
    });
    // Each part holds its first limit + 1 ids (the page and its `next`): the first
    // limit + 1 of their union are the first limit + 1 of the collection.
    const all = new Set<PointId>();
    for (const p of parts) {
      for (const id of p.ids) all.add(id);
      if (p.next !== undefined) all.add(p.next);
    }
    const sorted = [...all].sort(compareIds);
    return { ids: sorted.slice(0, limit), next: sorted[limit] };
  }

  async count(filter?: FilterNode): Promise<number> {
    const parts = await this.fanOut<number>({ op: 'count', ...withFilter(filter) });
    return parts.reduce((a, b) => a + b, 0);
  }

  /**
   * Asks every node in the plan for its shards (only those in `need`, when given) and
   * returns their answers. A node that fails with UNAVAILABLE (gone, or not caught up in
   * time) is excluded and its shards planned again, up to RETRIES times.
   */
  private async fanOut<T extends ShardReadAnswer>(
    part: Part | ((shards: readonly number[]) => Part),
    need?: ReadonlySet<number>,
  ): Promise<T[]> {
    let pending = new Set(
      need ?? this.o.readShards ?? Array.from({ length: this.o.shardCount }, (_, s) => s),
    );
    const exclude = new Set<string>();
    const out: T[] = [];
    for (let attempt = 0; pending.size > 0; attempt++) {
      const plan = [...this.o.plan(exclude, pending)]
        .map(([node, shards]) => [node, shards.filter((s) => pending.has(s))] as const)
        .filter(([, shards]) => shards.length > 0);
      const failed = new Set<number>();
      let lastError: unknown;
      await Promise.all(
        plan.map(async ([node, shards]) => {
          const req = {
            ...(typeof part === 'function' ? part(shards) : part),
            collection: this.o.collection,
            uid: this.o.uid,
            shards,
            wait: this.o.wait,
          } as ShardReadRequest;
          try {
            out.push((await this.o.send(node, req)) as T);
          } catch (e) {
            if (!isQuiverError(e, 'UNAVAILABLE') || attempt >= RETRIES) throw e;
            exclude.add(node);
            lastError = e;
            for (const s of shards) failed.add(s);
          }
        }),
      );
      pending = failed;
      if (pending.size > 0 && attempt >= RETRIES) {
        throw lastError instanceof Error
          ? lastError
          : new QuiverError('UNAVAILABLE', 'No replica answered.', {});
      }
    }
    return out;
  }
}

/**
 * The reads of no shard at all (a custom collection without keys): nothing found. A search
 * still runs on the local copy, matching nothing, so its answer has a real explain.
 */
export class EmptyReads implements PointReads {
  constructor(private readonly local: PointReads) {}

  withPayloadOut(): EmptyReads {
    return this;
  }

  search(
    vector: readonly number[],
    options: ReadSearchOptions,
  ): Promise<{ hits: SearchHit[]; explain: SearchExplain }> {
    return this.local.search(vector, { ...options, filter: Filter.none() });
  }

  getMany(): Promise<PointRecord[]> {
    return Promise.resolve([]);
  }

  get(): Promise<PointRecord | undefined> {
    return Promise.resolve(undefined);
  }

  ids(): Promise<PointId[]> {
    return Promise.resolve([]);
  }

  idsPage(): Promise<PageAnswer> {
    return Promise.resolve({ ids: [], next: undefined });
  }

  count(): Promise<number> {
    return Promise.resolve(0);
  }
}

function withFilter(filter: FilterNode | undefined): { filter?: FilterNode } {
  return filter === undefined ? {} : { filter };
}

/** One explain for the whole read: work summed, phases as long as the slowest node's. */
function mergeExplain(parts: readonly SearchExplain[]): SearchExplain {
  const [first, ...rest] = parts;
  if (first === undefined) throw new QuiverError('INTERNAL', 'A search had no parts.', {});
  let out = first;
  for (const e of rest) {
    const timings = { ...out.timings };
    for (const key of Object.keys(timings) as (keyof SearchExplain['timings'])[]) {
      timings[key] = Math.max(timings[key], e.timings[key]);
    }
    out = {
      ...out,
      plan: out.plan === e.plan ? out.plan : 'mixed',
      // From the index when any part was; else semantic when any part was.
      source: [out.source, e.source].includes('index')
        ? 'index'
        : [out.source, e.source].includes('semantic')
          ? 'semantic'
          : 'cache',
      ef: Math.max(out.ef, e.ef),
      segmentsSearched: out.segmentsSearched + e.segmentsSearched,
      segments: [...out.segments, ...e.segments],
      nodesVisited: out.nodesVisited + e.nodesVisited,
      distanceComputations: out.distanceComputations + e.distanceComputations,
      timings,
    };
  }
  return out;
}
