/**
 * Seeding an empty shard replica from a peer: a node that holds nothing of a shard (it
 * joined, was given a replica, or lost its data) copies the points a peer replica holds
 * instead of replaying the shard's whole stream, then reads the stream from the sequence
 * the copy is known to include. That sequence S is the stream's end when the copy starts,
 * and every request of the copy makes the peer wait until it has applied S (a read's
 * token), so each point copied is as of S or later. Replaying the operations after S on
 * top of such a copy ends in the same state as replaying them all (operations replayed in
 * order are idempotent: see shard-applier.ts), however the peer's copy moved meanwhile.
 */
import type { Collection, PointOp } from '../engine/collection.js';
import type { PointRecord } from '../engine/collection-types.js';
import type { PageAnswer, ShardReadAnswer, ShardReadRequest } from './shard-read.js';

export interface PeerSeedOptions {
  /** The cluster collection, its definition's uid, and the shard. */
  readonly name: string;
  readonly uid: string;
  readonly shard: number;
  /** The shard's stream end when the copy starts: the copy holds every operation to it. */
  readonly upTo: number;
  /** The local collection the points go into (it holds none of this shard). */
  readonly local: Collection;
  /** Asks `node` a shard read (ReadTransport.ask). */
  readonly ask: (node: string, req: ShardReadRequest) => Promise<ShardReadAnswer>;
  /** Called after each page (the applier's stall watchdog counts it as progress). */
  readonly onPage?: (points: number) => void;
  /** True once the copy should stop (the replica was removed, the node is closing). */
  readonly stopped: () => boolean;
  /** Ids per page (default: about 500 kB of vectors as JSON, at most 1000). */
  readonly pageSize?: number;
}

/** What a page's vectors should come to as JSON: well under NATS's default 1 MiB payload. */
const PAGE_BYTES = 500_000;
/** Bytes of JSON per vector value (a float32 in shortest form is up to ~15) and per point. */
const VALUE_BYTES = 16;
const POINT_BYTES = 512;

/** Copies the shard's points from `peer`; resolves with how many were copied. */
export async function seedFromPeer(peer: string, o: PeerSeedOptions): Promise<number> {
  const common = {
    collection: o.name,
    uid: o.uid,
    shards: [o.shard],
    wait: { token: { [o.shard]: o.upTo } },
  };
  let from: PageAnswer['next'];
  let copied = 0;
  do {
    if (o.stopped()) throw new Error('the shard replica stopped while it was being seeded');
    const dim = o.local.config.dimension;
    const page = (await o.ask(peer, {
      ...common,
      op: 'page',
      limit:
        o.pageSize ??
        Math.max(1, Math.min(1000, Math.floor(PAGE_BYTES / (dim * VALUE_BYTES + POINT_BYTES)))),
      ...(from === undefined ? {} : { from }),
    })) as PageAnswer;
    if (page.ids.length > 0) {
      const records = (await o.ask(peer, {
        ...common,
        op: 'getMany',
        ids: page.ids,
        withVector: true,
      })) as PointRecord[];
      if (o.stopped()) throw new Error('the shard replica stopped while it was being seeded');
      if (records.length > 0) await o.local.applyOp(storedUpsert(o.local, records));
      copied += records.length;
      o.onPage?.(copied);
    }
    from = page.next;
  } while (from !== undefined);
  return copied;
}

/**
 * The upsert of points as a replica stores them: vectors already prepared (normalised for
 * cosine: preparing them again would move their last bits) and payloads as they are (a
 * merge may have grown one past the size limit an upsert checks). Vectors are checked for
 * their length and finite values, which a stored vector always has.
 */
function storedUpsert(local: Collection, records: readonly PointRecord[]): PointOp {
  const dimension = local.config.dimension;
  return {
    kind: 'upsert',
    collection: local.name,
    dimension,
    points: records.map((r) => {
      if (r.vector.length !== dimension || !r.vector.every(Number.isFinite)) {
        throw new Error(
          `point ${JSON.stringify(r.id)} came with a vector that is not ${dimension} finite numbers`,
        );
      }
      const empty = Object.keys(r.payload).length === 0;
      return {
        id: r.id,
        vector: Float32Array.from(r.vector),
        payloadJson: empty ? '' : JSON.stringify(r.payload),
        payload: r.payload,
      };
    }),
  };
}
