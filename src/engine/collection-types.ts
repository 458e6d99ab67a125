/**
 * The shapes the Collection API takes and returns, besides search hits (search-results.ts):
 * points as read back, search and scan options, write results and statistics.
 */
import type { QuantizedSearch } from '../ann/vector-index.js';
import type { JsonObject, Payload, PointId } from '../common/types.js';
import type { FilterNode } from '../filter/filter-ast.js';

/** A point as returned by `get`. */
export interface PointRecord {
  readonly id: PointId;
  readonly vector: number[];
  readonly payload: Payload;
}

/** A point as yielded by `scan`. */
export interface ScanPoint {
  readonly id: PointId;
  readonly payload: Payload;
  readonly vector?: number[];
}

/** Options of `search`. */
export interface SearchOptions {
  /** Number of results. Default 10. */
  readonly k?: number;
  /** Mongo-style filter (SPEC section 3), or a filter already parsed to a FilterNode. */
  readonly filter?: JsonObject | FilterNode;
  /** Beam width of the graph search; higher = better recall, slower. Default: the collection's efSearch; raised to k. */
  readonly ef?: number;
  /** Brute-force scan instead of the index: exact, slower. Default false. */
  readonly exact?: boolean;
  /** Include payloads. Default true. */
  readonly withPayload?: boolean;
  /** Include vectors. Default false. */
  readonly withVector?: boolean;
  /** Return `{ hits, explain }` instead of hits. Default false. */
  readonly explain?: boolean;
  /**
   * For a quantized collection: `ignore` walks the graph with the full vectors, `rescore:
   * false` keeps the int8 scores, `oversampling` (1..16, default 2) is how many candidates
   * per result the int8 walk hands to rescoring with the full vectors.
   */
  readonly quantization?: QuantizedSearch;
}

/** Memory of one collection (or segment) by what holds it, in bytes. */
export interface SegmentMemory {
  /** Full-precision vectors, with the room graphs reserve for more. */
  readonly vectors: number;
  /** int8 codes of quantized sealed segments (a quarter of their vectors, padded to 16). */
  readonly codes: number;
  /** Graph links, levels and flags, and the index's search scratch. */
  readonly graph: number;
  /** Payloads (estimated from their JSON). */
  readonly payloads: number;
  /** Postings of the payload indexes. */
  readonly payloadIndex: number;
  /** Point ids and their slot tables. */
  readonly ids: number;
}

/** A collection's memory: its segments' parts plus its answers in the query cache. */
export interface CollectionMemory extends SegmentMemory {
  readonly queryCache: number;
}

/** Plain numbers about one collection. */
export interface CollectionStats {
  readonly name: string;
  /** When it was created (ISO 8601, UTC); null for one created before format 1.1. */
  readonly createdAt: string | null;
  readonly points: number;
  /** Sealed segments plus the growing one (when it holds points). */
  readonly segments: number;
  readonly sealedSegments: number;
  readonly growingPoints: number;
  /**
   * Share of the slots in this collection's segment files that hold a deleted or replaced
   * point, waiting for compaction (common/deleted-share.ts).
   */
  readonly deletedShare: number;
  /** Bytes of sealed segment files. */
  readonly diskBytes: number;
  /** Memory held, all parts but the query cache's (which `memory` adds). */
  readonly memoryBytes: number;
  /** Memory by what holds it (`quiver_memory_bytes{collection,part}`). */
  readonly memory: CollectionMemory;
  /** Memory of growing and sealing segments (what the memory budget limits). */
  readonly unsealedBytes: number;
  /** Estimated recall@k of approximate searches (sampled, re-run exactly); undefined until measured. */
  readonly recallEstimate: number | undefined;
}

/** The result of a write: its LSN (the point in the log where it became durable). */
export interface WriteResult {
  readonly lsn: number;
  /** Points written (upsert) or removed (delete, deleteWhere). */
  readonly count: number;
}

export interface ScanOptions {
  readonly filter?: JsonObject | FilterNode;
  /** Include vectors. Default false. */
  readonly withVector?: boolean;
}
