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
import type { Collection } from '../engine/collection.js';
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
  /** Ids per page (default 1000; a page's points come in parts under max_payload). */
  readonly pageSize?: number;
}

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
    const page = (await o.ask(peer, {
      ...common,
      op: 'page',
      limit: o.pageSize ?? 1000,
      ...(from === undefined ? {} : { from }),
    })) as PageAnswer;
    if (page.ids.length > 0) {
      const records = (await o.ask(peer, {
        ...common,
        op: 'getMany',
        ids: page.ids,
        withVector: true,
      })) as PointRecord[];
      const op = o.local.prepareUpsert(
        records.map((r) => ({ id: r.id, vector: r.vector, payload: r.payload })),
      );
      if (op !== undefined) await o.local.applyOp(op);
      copied += records.length;
      o.onPage?.(copied);
    }
    from = page.next;
  } while (from !== undefined);
  return copied;
}
