/**
 * ClusterNode: one Quiver database taking part in a cluster on NATS JetStream (SPEC §10).
 * Collections are defined in the metadata bucket, with the nodes that hold each shard
 * (every node, unless the collection was made with a replication factor or its replicas
 * were moved). A node keeps the shards it holds in a local collection of the same name,
 * one ShardApplier per shard, and follows placement changes: a shard placed here is read
 * from its stream's start, a shard taken away is stopped and its points removed. A write
 * is validated here, split by shard and published; it is acknowledged when JetStream
 * holds it on a quorum, and its token (the sequence per shard) lets a read wait until a
 * node has applied it. Reads fan out to one replica of every shard (ShardReads); other
 * nodes' parts travel over NATS request-reply (ReadTransport). A custom collection's
 * shards belong to shard keys (shard-keys.ts): keys are created and dropped here, writes
 * name their keys and reads may narrow to them.
 */
import { randomUUID } from 'node:crypto';
import type { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import { connect } from 'nats';
import type { Logger } from '../common/logger.js';
import { QuiverError, isQuiverError } from '../common/quiver-error.js';
import type { Collection, PointOp } from '../engine/collection.js';
import type { PointId } from '../common/types.js';
import { Filter } from '../filter/filter-ast.js';
import type { Quiver } from '../engine/quiver.js';
import type { CreateCollectionOptions } from '../engine/validation.js';
import type { FileSystem } from '../storage/io/file-system.js';
import type { Positions } from './applied-positions.js';
import { POSITIONS_DIR, readPositions, writePositions } from './applied-positions.js';
import { checkCount, defineCollection } from './cluster-collections.js';
import type { ClusterCollectionDef, NodeBeat } from './cluster-meta.js';
import { ClusterMeta } from './cluster-meta.js';
import { notInCluster } from './cluster-meta.js';
import {
  deleteShardStream,
  encodeOpMessage,
  ensureShardStream,
  isSealed,
  publishOp,
  shardStreamState,
  unavailable,
} from './shard-log.js';
import { abortReshard, reshard } from './resharding.js';
import { seedFromPeer } from './peer-seed.js';
import { ShardApplier } from './shard-applier.js';
import { StagedCopy } from './staged-copy.js';
import type { ReadView } from './shard-placement.js';
import {
  allShards,
  explicitPlacement,
  initialPlacement,
  planReads,
  promoted,
  replicasOf,
  shardsOn,
} from './shard-placement.js';
import { NODE_ID, ReadTransport } from './read-transport.js';
import type { ReadWait, ShardReadAnswer, ShardReadRequest } from './shard-read.js';
import { answerShardRead } from './shard-read.js';
import type { PointReads } from './shard-reads.js';
import { ShardReads } from './shard-reads.js';
import { idsOf, shardOf } from './shard-routing.js';
import type { Placement, ShardKey, ShardKeyDef } from './cluster-meta.js';
import {
  SHARD_KEY_FIELD,
  isCustom,
  keyLabel,
  liveShards,
  requireCustom,
  resolveKeys,
  withShardKey,
  withoutShardKey,
  shardFilter,
  shardsOfId,
  shardsOfKeys,
  splitByKeys,
  stripKey,
} from './shard-keys.js';
import { EmptyReads } from './shard-reads.js';
import type { CopiesSplit } from './copies-watch.js';
import { COPIES_LOOK_EVERY_MS, CopiesWatch } from './copies-watch.js';

export interface ClusterNodeOptions {
  /** NATS server URLs, e.g. `nats://127.0.0.1:4222,nats://127.0.0.1:4223`. */
  readonly servers: string | readonly string[];
  /** This node's name in the cluster (default: kept in the data directory across restarts). */
  readonly nodeId?: string;
  /** Replicas of each stream and bucket: default 3, or fewer when fewer servers are listed. */
  readonly replicas?: number;
  /** The HTTP address other nodes and operators reach this node at. */
  readonly url?: string;
  readonly logger: Logger;
  readonly fileSystem: FileSystem;
  /**
   * A replica starting from nothing copies a peer's points instead of replaying its stream
   * when the stream holds more than this many operations (peer-seed.ts; default 1000).
   */
  readonly seedAboveOps?: number;
  /**
   * How often the node compares the NATS servers' copies of the streams it holds
   * (copies-watch.ts; default every minute, 0: never).
   */
  readonly copiesLookEveryMs?: number;
}

/** A write's position per shard: a read that carries it waits until applied. */
export type WriteToken = Readonly<Record<number, number>>;

export interface ShardStatus {
  readonly shard: number;
  readonly stream: string;
  readonly applied: number;
  /** Where this node started reading the stream (its saved position, or 0). */
  readonly from: number;
  /** The sequence a peer's copy seeded this replica to, when it was (peer-seed.ts). */
  readonly seeded: number | undefined;
  readonly streamLast: number;
  readonly lag: number;
  readonly consumerRestarts: number;
  /** The NATS server leading the shard's stream, as last seen. */
  readonly leader: string | undefined;
  readonly leaderChanges: number;
  readonly error: string | undefined;
  /** The latest split of the servers' copies of the stream found by this node, if any. */
  readonly copiesSplit: CopiesSplit | undefined;
  /** Splits found (each sequence once). */
  readonly copiesSplits: number;
}

/** What an operator watches (the server's metrics read it at scrape time). */
export interface ClusterStats {
  readonly nodeId: string;
  readonly shards: readonly (ShardStatus & { readonly collection: string })[];
  /** Nodes in the registry at the last heartbeat, by state. */
  readonly nodes: { readonly up: number; readonly catchingUp: number };
  /** Parts of other nodes' reads being answered here, and those refused (too many at once). */
  readonly readParts: { readonly serving: number; readonly refused: number };
  /**
   * Replicas of every shard of every cluster collection, by state: `active` and `partial`
   * on nodes that are up, `down` on nodes that are not (an alert wants `active` ≥ 1).
   */
  readonly replicas: readonly {
    readonly collection: string;
    readonly shard: number;
    readonly active: number;
    readonly partial: number;
    readonly down: number;
  }[];
}

/**
 * Operations a node may trail its shard streams by and still count as caught up: it
 * answers /ready 200 and serves its own shards' reads (beyond it, another replica serves).
 */
export const READY_MAX_LAG = 1000;
const BEAT_EVERY_MS = 2_000;
/** How long a node serving part of a read waits to have applied what the read asks to see. */
const READ_WAIT_MS = 10_000;
/** A replica starting from nothing copies a peer above this many stream operations. */
const SEED_ABOVE_OPS = 1000;
/** Points removed per local delete when a shard leaves this node. */
const PURGE_BATCH = 10_000;
const SAVE_EVERY_MS = 1_000;
/** How long a create waits for this node to have the collection locally. */
const CREATE_WAIT_MS = 15_000;
/** How long a read of a shard key's shard waits for this node to follow a new key. */
const NEW_KEY_WAIT_MS = 5_000;
/** How long a closing node waits to remove its heartbeat (it expires anyway). */
const FORGET_WAIT_MS = 1_000;
/** How long a node's switch to resharded streams waits for its new copy to catch up. */
const SWITCH_WAIT_MS = 60_000;
/**
 * How long a write refused by a sealed stream waits for this node to switch to the
 * resharded collection's new streams: the tail copy, the switch wait and the swap.
 */
const RESHARD_WAIT_MS = SWITCH_WAIT_MS + 60_000;

export class ClusterNode {
  readonly id: string;
  /** collection → shard → applier, for the collections hosted here (maybe with no shard). */
  private readonly appliers = new Map<string, Map<number, ShardApplier>>();
  /** Placement changes in progress per collection: its copy may hold other shards' points. */
  private readonly purging = new Map<string, number>();
  private readonly defs = new Map<string, ClusterCollectionDef>();
  /** collection → the copy of its next definition, while it is resharded. */
  private readonly staged = new Map<string, StagedCopy>();
  private readonly startedAt = new Date().toISOString();
  private saved: string = '';
  /** Writes of positions.json, one at a time: they share one temporary file. */
  private saving: Promise<void> = Promise.resolve();
  /** Definitions this node failed to host (not refused): the heartbeat tries them again. */
  private readonly retry = new Set<string>();
  /** Collections the heartbeat queued a look at that has not run yet. */
  private readonly following = new Set<string>();
  private nodeCounts = { up: 0, catchingUp: 0 };
  /** Nodes in the registry at the last heartbeat (this one always included). */
  private live: string[] = [];
  /** Spreads reads over a shard's replicas. */
  private turn = 0;
  /** Nodes whose last heartbeat said they trail their streams by more than READY_MAX_LAG. */
  private behind: ReadonlySet<string> = new Set();
  private url: string | undefined;
  private timers: NodeJS.Timeout[] = [];
  private copiesWatch: CopiesWatch | undefined;
  private stopWatch: () => void = () => undefined;
  /** Other nodes' parts of reads, over NATS request-reply. */
  private readonly readTransport: ReadTransport;
  private closed = false;
  /** Collection changes are applied one at a time, in the order the bucket delivers them. */
  private changes: Promise<void> = Promise.resolve();

  private constructor(
    private readonly db: Quiver,
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly meta: ClusterMeta,
    private readonly o: ClusterNodeOptions,
    private readonly replicas: number,
    id: string,
    private positions: Positions,
  ) {
    this.id = id;
    this.url = o.url;
    this.readTransport = new ReadTransport(nc, id, READ_WAIT_MS, (req) => this.serveRead(req));
  }

  static async start(db: Quiver, options: ClusterNodeOptions): Promise<ClusterNode> {
    const servers =
      typeof options.servers === 'string' ? options.servers.split(',') : [...options.servers];
    const replicas = options.replicas ?? Math.min(3, servers.length);
    const id = options.nodeId ?? (await nodeIdOf(options.fileSystem, db.path));
    if (!NODE_ID.test(id)) {
      throw new QuiverError(
        'INVALID_ARGUMENT',
        `A cluster node id is 1 to 64 letters, digits, _ or -, got ${JSON.stringify(id)}.`,
        { field: 'clusterNodeId' },
      );
    }
    let nc: NatsConnection;
    try {
      nc = await connect({ servers, name: `quiver-${id}`, maxReconnectAttempts: -1 });
    } catch (e) {
      throw unavailable(`connecting to ${servers.join(',')}`, e);
    }
    try {
      const js = nc.jetstream();
      const jsm = await nc.jetstreamManager();
      const meta = await ClusterMeta.open(js, replicas);
      const positions = await readPositions(options.fileSystem, db.path);
      const node = new ClusterNode(db, nc, js, jsm, meta, options, replicas, id, positions);
      node.readTransport.start();
      // Returns once every collection already defined is hosted here: until then a write
      // to one would find only last run's local copy and must not be taken.
      node.stopWatch = await meta.watchCollections(
        (name, def) => node.onCollection(name, def),
        (e) => options.logger.error({ err: e }, 'cluster metadata watch failed'),
      );
      // The watch delivers them too, but maybe later: host the current ones now (hosting
      // the same definition twice is a no-op).
      const defined = await meta.collections();
      for (const def of defined) void node.onCollection(def.name, def);
      await node.changes;
      await node.dropCopiesOfDropped(new Set(defined.map((d) => d.name)));
      node.timers = [
        setInterval(() => void node.beat(), BEAT_EVERY_MS),
        setInterval(() => void node.savePositions(), SAVE_EVERY_MS),
      ];
      const lookEvery = options.copiesLookEveryMs ?? COPIES_LOOK_EVERY_MS;
      if (lookEvery > 0 && replicas > 1) {
        node.copiesWatch = new CopiesWatch(servers, options.logger);
        node.timers.push(setInterval(() => void node.lookAtCopies(), lookEvery));
      }
      for (const t of node.timers) t.unref();
      await node.beat();
      return node;
    } catch (e) {
      await nc.close();
      throw e instanceof QuiverError ? e : unavailable('joining the cluster', e);
    }
  }

  /**
   * Defines a collection cluster-wide and waits until this node hosts it. With
   * `replicationFactor`, each shard is placed on that many of the nodes up now (spread
   * evenly); without, every node holds every shard, nodes that join later included.
   */
  async createCollection(
    name: string,
    config: CreateCollectionOptions,
    shards = 1,
    replicationFactor?: number,
    custom = false,
  ): Promise<void> {
    await defineCollection(
      this.meta,
      this.jsm,
      this.replicas,
      { name, config, shards, replicationFactor, custom },
      async () => (await this.meta.nodes()).map((n) => n.id).concat(this.id),
    );
    await this.until(
      () => this.appliers.has(name),
      CREATE_WAIT_MS,
      `creating "${name}" on node ${this.id}`,
    );
  }

  /** Drops a collection cluster-wide: its definition, then its streams. */
  async dropCollection(name: string): Promise<void> {
    const def = await this.meta.collection(name);
    if (def === undefined) {
      throw notInCluster(name);
    }
    await this.meta.dropCollection(name);
    await this.until(() => !this.appliers.has(name), CREATE_WAIT_MS, `dropping "${name}"`);
    // The streams are this definition's alone (their names carry its uid): a collection
    // made again under the name meanwhile has its own. Those of a resharding in progress,
    // or of the definition before one, go too.
    const uids = [
      { uid: def.uid, shards: def.shards },
      ...(def.resharding === undefined ? [] : [def.resharding]),
      ...(def.previous === undefined ? [] : [def.previous]),
    ];
    for (const { uid, shards } of uids) {
      for (let shard = 0; shard < shards; shard++) {
        await deleteShardStream(this.jsm, { collection: name, uid, shard });
      }
    }
    if (def.resharding !== undefined) await this.meta.forgetReshardProgress(name);
  }

  /**
   * Creates shard key `key` of custom collection `name` (Qdrant's `PUT .../shards`): its
   * `shards` (default: the collection's `shard_number`) get new shard numbers and streams,
   * recorded by compare-and-set with the rest of the definition; placed on `placement`
   * (node names) or, with a replication factor (the request's, else the collection's), on
   * that many nodes up now, else on every node. Resolves once this node follows it.
   */
  async createShardKey(
    name: string,
    key: ShardKey,
    options: {
      readonly shards?: number | undefined;
      readonly replicationFactor?: number | undefined;
      readonly placement?: readonly string[] | undefined;
    } = {},
  ): Promise<void> {
    const first = this.defOf(name);
    const custom = requireCustom(first);
    const count = options.shards ?? custom.shardsPerKey;
    checkCount('shards_number', count, name);
    const factor = options.replicationFactor ?? custom.replicationFactor;
    if (factor !== undefined) checkCount('replication_factor', factor, name);
    if (options.placement !== undefined && options.placement.length === 0) {
      throw new QuiverError('INVALID_ARGUMENT', 'placement must name at least one peer.', {
        collection: name,
      });
    }
    const live = [...new Set([this.id, ...(await this.meta.nodes()).map((n) => n.id)])];
    // The key's shards, placed as asked, in the definition as it stands at the
    // compare-and-set (a concurrent key or replica move makes it run again on the newer one).
    const withKey = (d: ClusterCollectionDef): ClusterCollectionDef => {
      let placement: Placement | undefined;
      if (options.placement !== undefined || factor !== undefined || d.placement) {
        const pool = options.placement ?? live;
        const spread = initialPlacement(d.shards + count, pool, factor ?? pool.length);
        const next: Record<string, Placement[string]> = { ...explicitPlacement(d, live) };
        for (let i = 0; i < count; i++) next[String(d.shards + i)] = spread[String(d.shards + i)]!;
        placement = next;
      }
      return withShardKey(d, key, count, placement);
    };
    for (let attempt = 0; ; attempt++) {
      const current = await this.meta.collection(name);
      if (current === undefined || current.uid !== first.uid) throw notInCluster(name);
      withKey(current); // refuses a key that exists before any stream is made
      // Streams for the next numbers first: nodes start reading them as soon as the key is
      // recorded. Numbers taken meanwhile by another key are only tried again.
      for (let shard = current.shards; shard < current.shards + count; shard++) {
        await ensureShardStream(
          this.jsm,
          { collection: name, uid: current.uid, shard },
          this.replicas,
        );
      }
      const stored = await this.meta.updateCollection(name, (d) =>
        d.uid === current.uid && d.shards === current.shards ? withKey(d) : d,
      );
      if (stored.custom?.keys.some((k) => k.key === key && k.shards[0] === current.shards)) break;
      if (attempt >= 20) {
        throw new QuiverError(
          'UNAVAILABLE',
          `Could not record shard key ${keyLabel(key)} of "${name}" (the definition kept changing).`,
          { collection: name },
        );
      }
    }
    await this.until(
      () => this.defs.get(name)?.custom?.keys.some((k) => k.key === key) === true,
      CREATE_WAIT_MS,
      `creating shard key ${keyLabel(key)} of "${name}" on node ${this.id}`,
    );
  }

  /**
   * Drops shard key `key` of `name` (Qdrant's `POST .../shards/delete`): out of the
   * definition by compare-and-set (every node then stops its shards and removes its
   * points), then its streams.
   */
  async dropShardKey(name: string, key: ShardKey): Promise<void> {
    const def = this.defOf(name);
    requireCustom(def);
    let gone: readonly number[] = [];
    await this.meta.updateCollection(name, (d) => {
      gone = d.custom?.keys.find((k) => k.key === key)?.shards ?? [];
      return withoutShardKey(d, key);
    });
    await this.until(
      () => !gone.some((s) => this.appliers.get(name)?.has(s) === true),
      CREATE_WAIT_MS,
      `dropping shard key ${keyLabel(key)} of "${name}" on node ${this.id}`,
    );
    for (const shard of gone) {
      await deleteShardStream(this.jsm, { collection: name, uid: def.uid, shard });
    }
  }

  /**
   * True when `name` is defined in the cluster (as this node last heard): its writes go
   * through the streams even if this node failed to host it (its reads then wait and 503).
   */
  defines(name: string): boolean {
    return this.defs.has(name);
  }

  /** True when this node hosts `name`: its local copy follows the streams. */
  hosts(name: string): boolean {
    return this.appliers.has(name);
  }

  /**
   * Publishes a prepared operation (from `Collection.prepare*`), split by shard, and
   * resolves with its token once JetStream acknowledged every part. `requestId` makes
   * retries of the same request idempotent.
   */
  async write(
    name: string,
    op: PointOp | undefined,
    requestId = randomUUID(),
    shardKeys?: readonly ShardKey[],
  ): Promise<WriteToken> {
    const def = this.defOf(name);
    const keys = resolveKeys(def, shardKeys, true);
    if (op === undefined) return {};
    if (keys !== undefined) {
      const checked = await this.keepToKeys(def, op, keys);
      if (checked === undefined) return {};
      op = checked;
    }
    try {
      return await this.publish(def, op, requestId, keys);
    } catch (e) {
      if (!isSealed(e)) throw e;
      // The collection is being resharded: its streams are sealed, and its definition
      // switches to the new ones once their tail is copied. The write goes there (a part
      // stored before the seal is applied again after it, which changes nothing).
      const end = Date.now() + RESHARD_WAIT_MS;
      for (;;) {
        const now = this.defs.get(name);
        if (now !== undefined && now.uid !== def.uid) break;
        // Gone here for a moment (a node that could not swap rebuilds the collection), or
        // dropped: only the bucket says which.
        if (now === undefined && (await this.meta.collection(name)) === undefined) {
          throw notInCluster(name);
        }
        if (Date.now() > end) {
          const to = this.defs.get(name)?.resharding?.shards;
          throw new QuiverError(
            'UNAVAILABLE',
            `Collection "${name}" is being resharded and its old shards are sealed, but it did not switch to the new ones within ${RESHARD_WAIT_MS / 1000} s. If no resharding run is going (quiver cluster status), finish it: quiver cluster reshard --collection ${name} --shards ${to ?? 'N'}. Then retry the write.`,
            { collection: name },
          );
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      return this.write(name, op, requestId, shardKeys);
    }
  }

  /**
   * The shard keys a request names, checked against `name` (see shard-keys.ts's
   * resolveKeys): a route calls it before any work so a wrong key fails first, and a key
   * this node has not heard of yet but the cluster has is waited for.
   */
  async checkShardKeys(
    name: string,
    keys: readonly ShardKey[] | undefined,
    write: boolean,
  ): Promise<void> {
    try {
      resolveKeys(this.defOf(name), keys, write);
    } catch (e) {
      if (!isQuiverError(e, 'COLLECTION_NOT_FOUND') || keys === undefined) throw e;
      // A key created a moment ago through another node may not have reached this one's
      // definitions yet: the bucket says whether it exists.
      const has = (d: ClusterCollectionDef | undefined): boolean =>
        keys.every((k) => d?.custom?.keys.some((x) => x.key === k) === true);
      if (!has(await this.meta.collection(name))) throw e;
      await this.until(
        () => has(this.defs.get(name)),
        NEW_KEY_WAIT_MS,
        `following the new shard keys of "${name}" on node ${this.id}`,
      );
    }
  }

  /**
   * A point id lives under one shard key here (a node keeps all its shards in one local
   * copy): an upsert of ids that are under another key is refused, and a delete or payload
   * update keeps only the ids that are under the named keys, read as of now (so it cannot
   * touch a point of another key on a node holding both). Undefined: nothing left to do.
   */
  private async keepToKeys(
    def: ClusterCollectionDef,
    op: PointOp,
    keys: readonly ShardKeyDef[],
  ): Promise<PointOp | undefined> {
    const ids = idsOf(op);
    if (op.kind === 'upsert') {
      const others = def.custom?.keys.filter((k) => !keys.includes(k)) ?? [];
      if (others.length === 0) return op;
      const found = await this.rawReads(def, { latest: true }, others).getMany(ids, {
        withVector: false,
      });
      const [clash] = found;
      if (clash !== undefined) {
        throw new QuiverError(
          'INVALID_ARGUMENT',
          `Point ${JSON.stringify(clash.id)} is under shard key ${keyLabel(clash.payload[SHARD_KEY_FIELD] as ShardKey)} of "${def.name}"${found.length > 1 ? ` (and ${found.length - 1} more of this write under other keys)` : ''}: in Quiver a point id lives under one shard key at a time. Delete it there first, or use other ids.`,
          { collection: def.name },
        );
      }
      return op;
    }
    const found = await this.rawReads(def, { latest: true }, keys).getMany(ids, {
      withVector: false,
    });
    if (found.length === ids.length) return op;
    const kept = new Set(found.map((p) => p.id));
    const left = ids.filter((id) => kept.has(id));
    return left.length === 0 ? undefined : { ...op, ids: left };
  }

  /** Publishes `op` to the streams of `def`, split by shard. */
  private async publish(
    def: ClusterCollectionDef,
    op: PointOp,
    requestId: string,
    keys: readonly ShardKeyDef[] | undefined,
  ): Promise<WriteToken> {
    const name = def.name;
    // Every part is encoded and checked before anything is published: a batch is written
    // whole or refused whole, never half-stored because one shard's part was too big.
    const max = this.nc.info?.max_payload ?? 1024 * 1024;
    const parts = [...splitByKeys(def, op, keys)].map(([shard, part]) => {
      const data = encodeOpMessage(part);
      if (data.length > max) {
        throw new QuiverError(
          'INVALID_ARGUMENT',
          `The write to "${name}" encodes to ${data.length} bytes for shard ${shard}, over the NATS servers' max_payload of ${max} bytes. Send smaller batches (or raise max_payload in the NATS config).`,
          { collection: name },
        );
      }
      return { shard, data };
    });
    const token: Record<number, number> = {};
    await Promise.all(
      parts.map(async ({ shard, data }) => {
        const ref = { collection: name, uid: def.uid, shard };
        token[shard] = await publishOp(this.js, ref, data, `${requestId}:${shard}`);
      }),
    );
    return token;
  }

  /**
   * Waits until `token` is applied: by this node for the shards it holds, by a replica
   * elsewhere for the others (a write with `wait=true` sent to a node that does not hold
   * its shards still means applied). UNAVAILABLE after `timeoutMs`.
   */
  async waitFor(name: string, token: WriteToken, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.defOf(name);
    // Defined a moment ago, this node may be making its local copy right now.
    while (!this.appliers.has(name) && this.defs.has(name) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const appliers = this.appliersOf(name);
    if (!this.appliers.has(name)) {
      throw new QuiverError(
        'UNAVAILABLE',
        `Node ${this.id} does not host "${name}" (it could not create its local copy: see its log). Read from another node.`,
        { collection: name },
      );
    }
    const left = Math.max(1, deadline - Date.now());
    const held = Object.entries(token).filter(([shard]) => appliers.has(Number(shard)));
    const elsewhere = Object.entries(token).filter(([shard]) => !appliers.has(Number(shard)));
    const waits = held.map(([shard, seq]) => appliers.get(Number(shard))!.waitFor(seq, left));
    if (elsewhere.length > 0) {
      waits.push(this.appliedElsewhere(name, Object.fromEntries(elsewhere), left));
    }
    if ((await Promise.all(waits)).every(Boolean)) return;
    throw new QuiverError(
      'UNAVAILABLE',
      `The requested writes to "${name}" were not applied within ${timeoutMs} ms by node ${this.id} or the replicas of their shards (catching up, or down: see GET /cluster). Retry, or read from another node.`,
      { collection: name },
    );
  }

  /**
   * True once a replica of each shard in `token` (none of them held here) has applied it:
   * a count of those shards' points, which every serving node answers only after applying
   * the token's sequence (READ_WAIT_MS); false when none did within `timeoutMs`.
   */
  private async appliedElsewhere(
    name: string,
    token: WriteToken,
    timeoutMs: number,
  ): Promise<boolean> {
    const shards = Object.keys(token).map(Number);
    const read = this.readsOver(this.defOf(name), { token }, shards, undefined)
      .count()
      .then(
        () => true,
        () => false,
      );
    const late = new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref());
    return Promise.race([read, late]);
  }

  /**
   * Waits until this node applied everything its shards of `name` (or `shards` of them)
   * held when called.
   */
  async waitLatest(name: string, timeoutMs: number, shards?: readonly number[]): Promise<void> {
    const def = this.defOf(name);
    const deadline = Date.now() + timeoutMs;
    const which = shards ?? [...this.appliersOf(name).keys()];
    const ends = await Promise.race([
      Promise.all(
        which.map((shard) => shardStreamState(this.jsm, { collection: name, uid: def.uid, shard })),
      ),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), timeoutMs).unref()),
    ]);
    if (ends === undefined) {
      throw new QuiverError(
        'UNAVAILABLE',
        `The cluster did not say where the streams of "${name}" end within ${timeoutMs} ms; check the NATS servers.`,
        { collection: name },
      );
    }
    const token = Object.fromEntries(ends.map((e, i) => [which[i]!, e.last]));
    await this.waitFor(name, token, Math.max(1, deadline - Date.now()));
  }

  /** Shard state of one collection on this node. */
  shardStatus(name: string): ShardStatus[] {
    const held = [...this.appliersOf(name)].sort(([x], [y]) => x - y);
    return held.map(([shard, a]) => ({
      shard,
      stream: a.stream,
      applied: a.applied,
      from: a.from,
      seeded: a.seeded,
      streamLast: a.streamLast,
      lag: a.lag,
      consumerRestarts: a.restarts,
      leader: a.leader,
      leaderChanges: a.leaderChanges,
      error: a.lastError instanceof Error ? a.lastError.message : undefined,
      copiesSplit: this.copiesWatch?.splitOf(a.stream),
      copiesSplits: this.copiesWatch?.splitsIn(a.stream) ?? 0,
    }));
  }

  /** Sets the HTTP address this node's heartbeats advertise (known once the server listens). */
  advertise(url: string): void {
    this.url = url;
  }

  /** Replication state for metrics: every shard here, and the registry's node counts. */
  stats(): ClusterStats {
    return {
      nodeId: this.id,
      shards: this.everyShardStatus(),
      nodes: this.nodeCounts,
      readParts: this.readTransport.counts(),
      replicas: [...this.defs.values()].flatMap((def) =>
        allShards(def).map((shard) => {
          const list = replicasOf(def, shard, this.live);
          const up = list.filter((r) => this.live.includes(r.node));
          return {
            collection: def.name,
            shard,
            active: up.filter((r) => r.state === 'active').length,
            partial: up.filter((r) => r.state === 'partial').length,
            down: list.length - up.length,
          };
        }),
      ),
    };
  }

  /**
   * Reshards `name` to `shards` shards from this node, in the background (Qdrant's
   * `start_resharding`): resolves once the resharding has begun (new streams made and
   * recorded), rejects if it could not begin. Progress goes to the log.
   */
  startReshard(name: string, shards: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const log = (m: string) => this.o.logger.info({ collection: name }, `resharding: ${m}`);
      reshard(this.meta, this.jsm, this.js, name, shards, { onStarted: resolve, onProgress: log })
        .then((r) => log(`done: ${r.from} → ${r.to} shards in ${r.seconds} s`))
        .catch((e: unknown) => {
          reject(e instanceof Error ? e : new Error(String(e)));
          this.o.logger.error({ err: e, collection: name }, 'resharding stopped');
        });
    });
  }

  /** Aborts the resharding of `name` (Qdrant's `abort_resharding`; only before the seal). */
  async abortReshard(name: string): Promise<void> {
    await abortReshard(this.meta, this.jsm, name);
  }

  /** The copy of the new shards this node builds while `name` is resharded, and its lag. */
  reshardingCopy(name: string): { readonly uid: string; readonly lag: number } | undefined {
    const copy = this.staged.get(name);
    return copy === undefined ? undefined : { uid: copy.uid, lag: copy.lag };
  }

  /** Collections defined in the cluster, as this node knows them. */
  collections(): ClusterCollectionDef[] {
    return [...this.defs.values()];
  }

  /** The cluster's metadata: operators' replica moves change it (shard-moves.ts). */
  get metadata(): ClusterMeta {
    return this.meta;
  }

  /** The definition of `name` as this node last heard it (placement included). */
  definition(name: string): ClusterCollectionDef {
    return this.defOf(name);
  }

  /** Every node that beat recently (this one included). */
  nodes(): Promise<NodeBeat[]> {
    return this.meta.nodes();
  }

  /** Operations not yet applied here, over every shard. */
  get lag(): number {
    let n = 0;
    for (const list of this.appliers.values()) for (const a of list.values()) n += a.lag;
    return n;
  }

  /** Stops applying, saves positions, leaves the node registry and disconnects. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    try {
      await this.copiesWatch?.stop();
      this.stopWatch();
      await this.changes;
      await this.readTransport.stop();
      for (const list of this.appliers.values()) {
        await Promise.all([...list.values()].map((a) => a.stop()));
      }
      // Staging collections stay: the next open drops them, and the copy is built again.
      await Promise.all([...this.staged.values()].map((c) => c.stop()));
      await this.savePositions();
      // The servers may be gone; then the heartbeat expires by itself (so wait briefly).
      await Promise.race([
        this.meta.forget(this.id).catch(() => undefined),
        new Promise((r) => setTimeout(r, FORGET_WAIT_MS).unref()),
      ]);
    } finally {
      // Whatever failed above, the connection (and its timers) must not outlive the node.
      await this.nc.close();
    }
  }

  private defOf(name: string): ClusterCollectionDef {
    const def = this.defs.get(name);
    if (def === undefined) {
      throw notInCluster(name);
    }
    return def;
  }

  private appliersOf(name: string): ReadonlyMap<number, ShardApplier> {
    this.defOf(name);
    return this.appliers.get(name) ?? new Map();
  }

  /** A collection was defined (def) or dropped (undefined) in the bucket. */
  private onCollection(name: string, def: ClusterCollectionDef | undefined): Promise<void> {
    this.changes = this.changes.then(() => this.onCollectionNow(name, def));
    return this.changes;
  }

  private async onCollectionNow(
    name: string,
    def: ClusterCollectionDef | undefined,
  ): Promise<void> {
    try {
      if (def === undefined) await this.unhost(name);
      else await this.host(def);
      this.retry.delete(name);
    } catch (e) {
      // A local collection it refuses to overwrite stays refused; anything else (a full
      // disk, a file it could not write) is tried again by the next heartbeat.
      if (def !== undefined && !(e instanceof QuiverError && e.code === 'COLLECTION_EXISTS')) {
        this.retry.add(name);
      } else this.retry.delete(name);
      this.o.logger.error(
        { err: e, collection: name },
        'could not follow a cluster collection change',
      );
    }
  }

  private async host(def: ClusterCollectionDef): Promise<void> {
    if (this.closed) return;
    const hosted = this.defs.get(def.name);
    if (hosted?.uid === def.uid && this.appliers.has(def.name)) {
      // The same collection with another placement, or a resharding begun or aborted.
      this.defs.set(def.name, def);
      await this.placeShards(def, {}, false);
      await this.followResharding(def);
      return;
    }
    const staged = this.staged.get(def.name);
    if (hosted !== undefined && staged?.uid === def.uid && this.appliers.has(def.name)) {
      await this.switchTo(def, staged);
      return;
    }
    // Replaced while we looked away (a same-uid definition that is not hosted failed
    // before: it is simply tried again).
    if (hosted !== undefined && hosted.uid !== def.uid) await this.unhost(def.name);
    this.defs.set(def.name, def);
    // Saved positions count only for this definition: a local copy of an older one (the
    // name was dropped and made again while this node was away) is dropped and rebuilt
    // from the new streams.
    const saved = this.positions[def.name];
    if (saved === undefined && this.db.hasCollection(def.name)) {
      // Not a copy this node made of any definition: never overwrite, never serve it.
      throw new QuiverError(
        'COLLECTION_EXISTS',
        `Collection "${def.name}" exists in ${this.db.path} but is not this node's copy of the cluster's (it was made here before the node joined the cluster, or ${POSITIONS_DIR}/positions.json was lost). This node will not serve it: export it if needed, drop it (quiver drop-collection ${this.db.path} ${def.name}), then restart.`,
        { collection: def.name },
      );
    }
    if (saved !== undefined && saved.uid !== def.uid && this.db.hasCollection(def.name)) {
      this.o.logger.warn(
        { collection: def.name, uid: def.uid },
        'local copy belongs to an older definition of the collection; rebuilding it from the cluster',
      );
      await this.db.dropCollection(def.name);
    }
    const from = saved?.uid === def.uid ? saved.shards : {};
    if (saved?.uid !== def.uid) {
      // Recorded before the local copy exists, so a crash in between cannot leave a copy
      // that the next start would take for someone else's.
      this.positions = { ...this.positions, [def.name]: { uid: def.uid, shards: {} } };
      await this.persistPositions();
    }
    // The local copy exists even with no shard placed here: writes are validated against
    // its config, and reads of the other shards are coordinated from it.
    if (!this.db.hasCollection(def.name)) await this.db.createCollection(def.name, def.config);
    this.appliers.set(def.name, new Map());
    await this.placeShards(def, from, true);
    await this.followResharding(def);
  }

  /**
   * Builds the copy of the definition `def` is being resharded into (a node that joins or
   * restarts meanwhile starts it from the new streams' start), or drops one that `def` no
   * longer leads to (an aborted resharding).
   */
  private async followResharding(def: ClusterCollectionDef): Promise<void> {
    const staged = this.staged.get(def.name);
    if (staged !== undefined && staged.uid !== def.resharding?.uid) {
      this.staged.delete(def.name);
      await staged.discard();
      this.o.logger.info({ collection: def.name }, 'resharding aborted: its copy dropped');
    }
    if (def.resharding === undefined || this.staged.has(def.name) || this.closed) return;
    const copy = await StagedCopy.start(
      { ...def, resharding: def.resharding },
      { db: this.db, js: this.js, jsm: this.jsm, logger: this.o.logger, nodeId: this.id },
    );
    this.staged.set(def.name, copy);
  }

  /**
   * The collection was resharded into `def`: once the copy built from its streams has
   * caught up, the old appliers stop and the copy replaces the old one in one step; reads
   * keep being served from the old copy (complete: its streams were sealed) until then.
   * If the swap fails, the collection is rebuilt from the new streams instead.
   */
  private async switchTo(def: ClusterCollectionDef, staged: StagedCopy): Promise<void> {
    const name = def.name;
    if (!(await staged.caughtUp(READY_MAX_LAG, SWITCH_WAIT_MS))) {
      this.o.logger.warn(
        { collection: name, lag: staged.lag },
        'resharding: the new copy is still catching up; switching anyway (it goes on reading)',
      );
    }
    this.staged.delete(name);
    const old = this.appliers.get(name)!;
    // From here until the new definition is in place this node serves no shard of it: the
    // local collection changes layout under the old definition at the swap.
    this.appliers.set(name, new Map());
    await Promise.all([...old.values()].map((a) => a.stop()));
    let applied: Record<string, number>;
    try {
      applied = await staged.swapIn();
    } catch (e) {
      this.o.logger.error(
        { err: e, collection: name },
        'resharding: could not swap the new copy in; rebuilding the collection from its new streams',
      );
      await staged.discard().catch(() => undefined);
      await this.unhost(name);
      await this.host(def);
      return;
    }
    // Only after the swap is durable: positions of the new uid over the old copy would be
    // believed (under the `periodic` or `none` fsync policies the swap may not be yet).
    await this.db.flush();
    this.positions = { ...this.positions, [name]: { uid: def.uid, shards: applied } };
    await this.persistPositions();
    this.defs.set(name, def);
    this.appliers.set(name, new Map());
    await this.placeShards(def, applied, false);
    this.o.logger.info(
      { collection: name, shards: def.shards },
      'resharding: switched to the new shards',
    );
  }

  /**
   * Starts an applier for every shard placed here that has none (from its saved position,
   * else from the stream's start), and stops every applier whose shard is placed here no
   * more, removing that shard's points from the local copy. The first time after a start
   * (`first`), points of any shard not placed here are removed too: a removal that a crash
   * cut short. While points of a shard not read here may be in the copy, reads restrict
   * every answer by shard (see serveRead).
   */
  private async placeShards(
    def: ClusterCollectionDef,
    from: Record<string, number>,
    first: boolean,
  ): Promise<void> {
    const list = this.appliers.get(def.name)!;
    const local = this.db.collection(def.name);
    const wanted = new Set(shardsOn(def, this.id));
    this.purging.set(def.name, (this.purging.get(def.name) ?? 0) + 1);
    try {
      const leaving = [...list.keys()].filter((s) => !wanted.has(s));
      for (const shard of leaving) {
        await list.get(shard)!.stop();
        list.delete(shard);
        this.o.logger.info({ collection: def.name, shard }, 'shard replica removed from this node');
      }
      const arriving = [...wanted].filter((s) => !list.has(s)).sort((a, b) => a - b);
      // A shard read from its start must hold nothing an earlier replica left behind.
      const drop = new Set([...leaving, ...arriving.filter((s) => (from[String(s)] ?? 0) === 0)]);
      if (isCustom(def)) {
        // Which shard a point is in depends on its key: keep those of the shards kept.
        if (drop.size > 0 || first) {
          const keep = [...wanted].filter((s) => !drop.has(s));
          await purgeIds(local, await local.ids(Filter.not(shardFilter(def, keep))));
        }
      } else if (drop.size > 0 || (first && def.placement !== undefined)) {
        await purgeShards(local, def.shards, (s) => drop.has(s) || (first && !wanted.has(s)));
      }
      for (const shard of arriving) {
        const a = new ShardApplier({
          js: this.js,
          jsm: this.jsm,
          name: def.name,
          collection: local,
          uid: def.uid,
          shard,
          from: from[String(shard)] ?? 0,
          logger: this.o.logger,
          seed: (progress, stopped) => this.seedShard(def, shard, progress, stopped),
        });
        a.start();
        list.set(shard, a);
      }
    } finally {
      this.purging.set(def.name, this.purging.get(def.name)! - 1);
    }
    // Positions now name only the shards held: a restart must not resume a removed one.
    await this.savePositions();
  }

  /**
   * Fills this node's empty replica of `shard` from an active replica on another node that
   * is up and not behind (peer-seed.ts): the sequence the copy holds everything to, or
   * undefined to read the whole stream (a short stream, no such peer, or every peer failed).
   */
  private async seedShard(
    def: ClusterCollectionDef,
    shard: number,
    progress: () => void,
    stopped: () => boolean,
  ): Promise<number | undefined> {
    const ref = { collection: def.name, uid: def.uid, shard };
    const upTo = (await shardStreamState(this.jsm, ref)).last;
    if (upTo <= (this.o.seedAboveOps ?? SEED_ABOVE_OPS)) return undefined;
    // The registry as of now: at a node's start its own view is not filled in yet.
    const beats = await this.meta.nodes();
    const ok = new Set(beats.filter((b) => b.behind !== true).map((b) => b.id));
    const peers = replicasOf(
      def,
      shard,
      beats.map((b) => b.id),
    ).filter((r) => r.node !== this.id && r.state === 'active' && ok.has(r.node));
    for (const { node } of peers) {
      try {
        const points = await seedFromPeer(node, {
          name: def.name,
          uid: def.uid,
          shard,
          upTo,
          local: this.db.collection(def.name),
          ask: (n, req) => this.readTransport.ask(n, req),
          onPage: progress,
          stopped,
        });
        this.o.logger.info(
          { collection: def.name, shard, peer: node, points, upTo },
          'shard replica copied from a peer',
        );
        return upTo;
      } catch (e) {
        if (stopped()) throw e;
        this.o.logger.warn(
          { err: e, collection: def.name, shard, peer: node },
          'could not copy the shard from this peer; trying another',
        );
      }
    }
    return undefined;
  }

  /**
   * The reads of `name` over the whole cluster (or over the shards of `shardKeys`, on a
   * custom collection): each shard read from one active replica (this node's own when it
   * holds one), waiting on each serving node for `wait`.
   */
  reads(name: string, wait: ReadWait = {}, shardKeys?: readonly ShardKey[]): PointReads {
    const def = this.defOf(name);
    const keys = resolveKeys(def, shardKeys, false);
    const reads = this.readsOver(def, wait, shardsOfKeys(def, keys), keys);
    return isCustom(def) ? reads.withPayloadOut(stripKey) : reads;
  }

  /** Reads of a custom collection's keys with the key field left in payloads. */
  private rawReads(
    def: ClusterCollectionDef,
    wait: ReadWait,
    keys: readonly ShardKeyDef[],
  ): PointReads {
    return this.readsOver(def, wait, shardsOfKeys(def, keys), keys);
  }

  private readsOver(
    def: ClusterCollectionDef,
    wait: ReadWait,
    shards: readonly number[],
    keys: readonly ShardKeyDef[] | undefined,
  ): ShardReads | EmptyReads {
    const name = def.name;
    const local = this.db.collection(name);
    // A custom collection with no key yet (or a read of keys with no shard) reads nothing.
    if (shards.length === 0) return new EmptyReads(local);
    const turn = this.turn++;
    return new ShardReads({
      collection: name,
      uid: def.uid,
      shardCount: def.shards,
      lowerIsBetter: local.config.metric === 'euclid',
      wait,
      readShards: shards,
      shardsOfId: (id) => shardsOfId(def, id, keys),
      plan: (exclude, need) =>
        planReads(this.defs.get(name) ?? def, this.readView(name, exclude, turn), need),
      send: (node, req) =>
        node === this.id ? this.serveRead(req) : this.readTransport.ask(node, req),
    });
  }

  /** What planning a read of `name` needs to know of this node and the others. */
  private readView(name: string, exclude: ReadonlySet<string>, turn: number): ReadView {
    const list = this.appliers.get(name) ?? new Map<number, ShardApplier>();
    return {
      self: this.id,
      held: new Set(list.keys()),
      ready: new Set([...list].filter(([, a]) => a.within(READY_MAX_LAG)).map(([s]) => s)),
      live: this.live,
      behind: this.behind,
      exclude,
      turn,
    };
  }

  /** This node's part of a read: `req.shards` must all be held here. */
  private async serveRead(req: ShardReadRequest): Promise<ShardReadAnswer> {
    const def = this.defs.get(req.collection);
    if (def === undefined) {
      // Not heard of yet (the definition is on its way) or dropped meanwhile: another
      // replica may answer.
      throw new QuiverError(
        'UNAVAILABLE',
        `Node ${this.id} does not know collection "${req.collection}" (yet).`,
        { collection: req.collection },
      );
    }
    let list = this.appliers.get(req.collection);
    let missing = req.shards.filter((s) => list?.has(s) !== true);
    if (missing.length > 0 && list !== undefined && def.uid === req.uid && isCustom(def)) {
      // A shard key created a moment ago: the asking node follows it, this one not yet
      // (its definition, or its applier, is on its way). Wait for it a little.
      const end = Date.now() + NEW_KEY_WAIT_MS;
      while (missing.length > 0 && Date.now() < end && !this.closed) {
        const now = this.defs.get(req.collection);
        const known = now === undefined ? [] : liveShards(now);
        const placed = now === undefined ? [] : shardsOn(now, this.id);
        // Known to the definition and placed elsewhere: not coming here.
        if (missing.some((s) => known.includes(s) && !placed.includes(s))) break;
        await new Promise((r) => setTimeout(r, 20));
        list = this.appliers.get(req.collection);
        missing = req.shards.filter((s) => list?.has(s) !== true);
      }
    }
    if (def.uid !== req.uid || list === undefined || missing.length > 0) {
      throw new QuiverError(
        'UNAVAILABLE',
        `Node ${this.id} does not hold shard(s) ${missing.join(', ') || req.shards.join(', ')} of "${req.collection}" (placement changed, or its local copy failed: see its log).`,
        { collection: req.collection },
      );
    }
    const token = req.wait?.token;
    if (token !== undefined) {
      const mine = Object.fromEntries(req.shards.map((s) => [s, token[s] ?? 0]));
      await this.waitFor(req.collection, mine, READ_WAIT_MS);
    } else if (req.wait?.latest === true) {
      await this.waitLatest(req.collection, READ_WAIT_MS, req.shards);
    }
    if (req.shards.some((s) => this.appliers.get(req.collection)?.has(s) !== true)) {
      throw new QuiverError(
        'UNAVAILABLE',
        `Node ${this.id} gave up a shard of "${req.collection}" while the read waited.`,
        { collection: req.collection },
      );
    }
    // The copy holds exactly the shards with appliers, unless a placement change is
    // removing (or has yet to remove) points of others.
    const held = (this.purging.get(req.collection) ?? 0) > 0 ? undefined : [...list.keys()];
    return answerShardRead(this.db.collection(req.collection), def, req, held);
  }

  private async unhost(name: string): Promise<void> {
    const list = this.appliers.get(name);
    this.appliers.delete(name);
    this.defs.delete(name);
    const staged = this.staged.get(name);
    this.staged.delete(name);
    if (staged !== undefined) {
      if (this.closed) await staged.stop();
      else await staged.discard();
    }
    // Only a copy this node hosted is dropped: a local collection it refused to host (not
    // the cluster's) stays as it is.
    if (list === undefined) return;
    await Promise.all([...list.values()].map((a) => a.stop()));
    if (this.closed) return; // a drop seen while closing is applied at the next start
    if (this.db.hasCollection(name)) await this.db.dropCollection(name);
    delete this.positions[name];
  }

  /**
   * Copies this node made of collections the cluster dropped while it was away (they have
   * saved positions but no definition now) are dropped too.
   */
  private async dropCopiesOfDropped(defined: ReadonlySet<string>): Promise<void> {
    const gone = Object.keys(this.positions).filter((name) => !defined.has(name));
    for (const name of gone) {
      this.o.logger.info(
        { collection: name },
        'dropping the copy of a collection dropped while away',
      );
      if (this.db.hasCollection(name)) await this.db.dropCollection(name);
      this.positions = Object.fromEntries(
        Object.entries(this.positions).filter(([other]) => other !== name),
      );
    }
    if (gone.length > 0) await this.persistPositions();
  }

  /** Saves applied positions once the database flushed what they cover. */
  private savePositions(): Promise<void> {
    return this.queuePositions(() => this.saveOnce());
  }

  /** Writes `this.positions` as they are now (after the writes queued before it). */
  private persistPositions(): Promise<void> {
    return this.queuePositions(() =>
      writePositions(this.o.fileSystem, this.db.path, this.positions),
    );
  }

  private queuePositions(write: () => Promise<void>): Promise<void> {
    const done = this.saving.then(write);
    this.saving = done.catch(() => undefined);
    return done;
  }

  private async saveOnce(): Promise<void> {
    const next: Positions = {};
    const read = new Map(this.appliers);
    for (const [name, list] of read) {
      const def = this.defs.get(name);
      if (def === undefined) continue;
      next[name] = {
        uid: def.uid,
        shards: appliedOf(list),
      };
    }
    // Entries recorded before a copy's appliers exist stay: dropping one from the file
    // would make the copy look like someone else's after a crash.
    const all = { ...this.positions, ...next };
    const text = JSON.stringify(all);
    if (text === this.saved) return;
    try {
      await this.db.flush();
      await writePositions(this.o.fileSystem, this.db.path, all);
      this.saved = text;
      // Only collections still hosted as read: one unhosted meanwhile stays forgotten
      // (the next save drops it from the file).
      for (const [name, p] of Object.entries(next)) {
        if (this.appliers.get(name) === read.get(name)) this.positions[name] = p;
      }
    } catch (e) {
      this.o.logger.warn({ err: e }, 'could not save cluster positions (a restart replays more)');
    }
  }

  /** The state of every shard held here, with its collection. */
  private everyShardStatus(): (ShardStatus & { readonly collection: string })[] {
    return [...this.appliers.keys()].flatMap((collection) =>
      this.shardStatus(collection).map((s) => ({ collection, ...s })),
    );
  }

  /** One look of the copies watch over every stream this node holds. */
  private async lookAtCopies(): Promise<void> {
    if (this.closed || this.copiesWatch === undefined) return;
    try {
      await this.copiesWatch.look(this.everyShardStatus());
    } catch (e) {
      this.o.logger.warn({ err: e }, "comparing the NATS servers' copies of the streams failed");
    }
  }

  private async beat(): Promise<void> {
    if (this.closed) return;
    const applied: Record<string, Record<string, number>> = {};
    for (const [name, list] of this.appliers) {
      applied[name] = appliedOf(list);
    }
    try {
      await this.meta.beat({
        id: this.id,
        url: this.url,
        startedAt: this.startedAt,
        beatAt: new Date().toISOString(),
        applied,
        catchingUp: this.lag > 0,
        behind: this.lag > READY_MAX_LAG,
        hosting: Object.fromEntries(
          [...this.appliers.keys()].map((name) => [name, this.defs.get(name)?.uid ?? '']),
        ),
      });
      const nodes = await this.meta.nodes();
      const catchingUp = nodes.filter((n) => n.catchingUp).length;
      this.behind = new Set(nodes.filter((n) => n.behind === true).map((n) => n.id));
      this.nodeCounts = { up: nodes.length - catchingUp, catchingUp };
      this.live = [...new Set([this.id, ...nodes.map((n) => n.id)])];
      await this.promoteCaughtUp();
    } catch (e) {
      this.o.logger.warn({ err: e }, 'cluster heartbeat failed');
    }
    // Apart: a registry that times out (its stream electing a leader) must not keep this
    // node from following the definitions.
    try {
      await this.reconcile();
    } catch (e) {
      this.o.logger.warn({ err: e }, 'could not compare the cluster definitions');
    }
  }

  /**
   * Compares the definitions in the bucket with those this node follows and applies any
   * difference: the watch is the fast path, this the safety net (a watch whose consumer
   * stopped delivering, as JetStream consumers sometimes do around a leader change, would
   * otherwise leave this node without a collection for good).
   */
  private async reconcile(): Promise<void> {
    const current = await this.meta.collections();
    const names = new Set(current.map((d) => d.name));
    const missed = new Set([
      ...current
        .filter((d) => JSON.stringify(this.defs.get(d.name)) !== JSON.stringify(d))
        .map((d) => d.name),
      ...[...this.defs.keys()].filter((name) => !names.has(name)),
    ]);
    const retried = [...this.retry].filter((name) => names.has(name) && !missed.has(name));
    for (const name of [...missed, ...retried]) {
      if (this.following.has(name)) continue; // queued by an earlier heartbeat
      if (missed.has(name)) {
        this.o.logger.warn(
          { collection: name },
          'metadata watch missed a change; following it now',
        );
      } else {
        this.o.logger.info({ collection: name }, 'hosting a collection again after a failure');
      }
      this.following.add(name);
      // Read again when its turn comes: a change the watch delivers meanwhile stays newer.
      this.changes = this.changes.then(async () => {
        this.following.delete(name);
        try {
          const def = await this.meta.collection(name);
          const differs = JSON.stringify(this.defs.get(name)) !== JSON.stringify(def);
          if (differs || this.retry.has(name)) await this.onCollectionNow(name, def);
        } catch (e) {
          // The chain must go on: the next heartbeat looks again.
          this.o.logger.warn({ err: e, collection: name }, 'could not read a definition');
        }
      });
    }
  }

  /** Marks this node's `partial` replicas that have caught up with their streams `active`. */
  private async promoteCaughtUp(): Promise<void> {
    for (const [name, list] of this.appliers) {
      const def = this.defs.get(name);
      for (const [shard, a] of list) {
        const here = def?.placement?.[String(shard)]?.find((r) => r.node === this.id);
        if (here?.state !== 'partial' || !a.caughtUp || def === undefined) continue;
        // Only the definition this applier follows (not one made since under the name).
        await this.meta.updateCollection(name, (d) =>
          d.uid === def.uid ? promoted(d, shard, this.id) : d,
        );
        this.o.logger.info({ collection: name, shard }, 'shard replica caught up: now active');
      }
    }
  }

  private async until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > end) {
        throw new QuiverError('UNAVAILABLE', `Timed out ${what} after ${timeoutMs} ms.`, {});
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** Shard → applied sequence of one collection's appliers (what positions and beats carry). */
function appliedOf(list: ReadonlyMap<number, ShardApplier>): Record<string, number> {
  return Object.fromEntries([...list].map(([shard, a]) => [String(shard), a.applied]));
}

/** Removes from `local` the points of the shards `drop` names (one pass over the ids). */
async function purgeShards(
  local: Collection,
  shards: number,
  drop: (shard: number) => boolean,
): Promise<void> {
  await purgeIds(
    local,
    (await local.ids()).filter((id) => drop(shardOf(id, shards))),
  );
}

async function purgeIds(local: Collection, ids: readonly PointId[]): Promise<void> {
  for (let i = 0; i < ids.length; i += PURGE_BATCH) {
    await local.delete(ids.slice(i, i + PURGE_BATCH));
  }
}

/** The node id kept in `cluster/node-id` of the data directory (made on first start). */
async function nodeIdOf(fs: FileSystem, dir: string): Promise<string> {
  const path = `${dir}/cluster/node-id`;
  if (await fs.exists(path)) return new TextDecoder().decode(await fs.readFile(path)).trim();
  const id = `node-${randomUUID().slice(0, 8)}`;
  await fs.mkdirp(`${dir}/cluster`);
  await fs.createExclusive(path, new TextEncoder().encode(id));
  return id;
}
