/**
 * ShardApplier: keeps one local collection in step with one shard's stream. It reads the
 * stream in order from the last applied sequence (an ephemeral consumer per attempt: this
 * node owns its position, nothing on the servers does) and applies each operation through
 * `Collection.applyOp`, the same path as a local write, so the node's WAL, segments and
 * checkpoints are those of a standalone database. Operations are idempotent replayed in
 * order (upserts and deletes are absolute, payload merges and key deletes repeat to the
 * same result), which is why a restart may start from a position saved a little early.
 */
import type { JetStreamClient, JetStreamManager } from 'nats';
import type { PointOp } from '../engine/collection.js';
import type { Logger } from '../common/logger.js';
import type { Collection } from '../engine/collection.js';
import { addReadConsumer, decodeOpMessage, shardStreamState } from './shard-log.js';
import type { ShardRef } from './shard-routing.js';
import { streamName } from './shard-routing.js';

/** Operations applied concurrently (their local WAL appends share fsyncs). */
const IN_FLIGHT = 256;
/**
 * A consumer that delivers nothing for this long while the stream holds more is recreated:
 * after a stream leader change, nats.js 2.29 with server 2.9 sometimes leaves a consumer
 * hung (seen in 5 of 8 failover runs, reference/cluster-on-nats.md).
 */
const STALL_MS = 5_000;
const WATCH_EVERY_MS = 1_000;
const ABANDONED = Symbol('abandoned');
/** Makes each consumer name of this process unique. */
let consumerSerial = 0;

export interface ShardApplierOptions {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** The cluster collection: its streams' names carry this name. */
  readonly name: string;
  /**
   * Where operations are applied: the node's copy of the collection, or the hidden staging
   * collection a resharding builds (staged-copy.ts), whose name differs.
   */
  readonly collection: Collection;
  /** The definition's uid (its streams' names carry it). */
  readonly uid: string;
  readonly shard: number;
  /** The last sequence already applied here (0: none). */
  readonly from: number;
  readonly logger: Logger;
  /**
   * For a replica starting from nothing: copies the shard's points from a peer and
   * resolves with the sequence the copy holds every operation to (undefined: no peer, read
   * the whole stream). `progress` is called as pages arrive; `stopped` says to give up.
   * See peer-seed.ts.
   */
  readonly seed?: (progress: () => void, stopped: () => boolean) => Promise<number | undefined>;
}

export class ShardApplier {
  /** Highest sequence whose operation (and every earlier one) is applied and visible. */
  applied: number;
  /** The position this applier started from (saved by an earlier run, or 0). */
  readonly from: number;
  /** The stream's last sequence as last seen (for lag). */
  streamLast = 0;
  /** Times the consumer was recreated because it stalled. */
  restarts = 0;
  /** The sequence a peer's copy seeded this replica to (undefined: not seeded). */
  seeded: number | undefined;
  /** The NATS server leading the stream, as last seen, and how often that changed. */
  leader: string | undefined;
  leaderChanges = 0;
  readonly stream: string;
  /** True once the stream's end was read at least once (until then `lag` knows nothing). */
  private observed = false;
  /**
   * While seeding from a peer, and until the stream's end at the copy's close is applied,
   * the copy may mix states of different moments: the replica does not count as caught up.
   */
  private seeding = false;
  private settledAt = 0;
  private readonly ref: ShardRef;
  private readonly o: ShardApplierOptions;
  private dispatched: number;
  private inFlight: Promise<void>[] = [];
  /** The first operation that failed to apply in the current attempt. */
  private applyFailure: { seq: number; error: unknown } | undefined;
  /** Ends the current consumer attempt (the run loop then starts a new one unless stopped). */
  private abandon: () => void = () => undefined;
  private stopped = false;
  private lastProgress = Date.now();
  private failure: unknown;
  private readonly waiters = new Set<{ seq: number; resolve: () => void }>();
  private loop: Promise<void> | undefined;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(options: ShardApplierOptions) {
    this.o = options;
    this.applied = options.from;
    this.dispatched = options.from;
    this.from = options.from;
    this.ref = { collection: options.name, uid: options.uid, shard: options.shard };
    this.stream = streamName(this.ref);
  }

  /** Starts reading the stream (and the stall watchdog). */
  start(): void {
    this.loop = this.run();
    this.watchdog = setInterval(() => void this.watch(), WATCH_EVERY_MS);
    this.watchdog.unref();
  }

  /** Stops reading; operations already dispatched finish applying first. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.watchdog);
    this.abandon();
    await this.loop;
  }

  /** Operations in the stream not yet applied here (as of the last look at the stream). */
  get lag(): number {
    return Math.max(0, this.streamLast - this.applied);
  }

  /** True when everything the stream held at the last look is applied here. */
  get caughtUp(): boolean {
    return this.settled && this.applied >= this.streamLast;
  }

  /** True when the stream's end was seen and this applier trails it by at most `maxLag`. */
  within(maxLag: number): boolean {
    return this.settled && this.lag <= maxLag;
  }

  /** The stream's end was seen, and a seeded copy has applied past where its copy ended. */
  private get settled(): boolean {
    return this.observed && !this.seeding && this.applied >= this.settledAt;
  }

  /** Resolves true once `seq` is applied here, false after `timeoutMs`. */
  waitFor(seq: number, timeoutMs: number): Promise<boolean> {
    if (this.applied >= seq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = {
        seq,
        resolve: () => {
          clearTimeout(timer);
          this.waiters.delete(w);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        resolve(false);
      }, timeoutMs);
      timer.unref();
      this.waiters.add(w);
    });
  }

  /** Consumes until stopped; a failed consumer or apply starts again from `applied + 1`. */
  private async run(): Promise<void> {
    if (this.applied === 0 && this.o.seed !== undefined) await this.seedOnce(this.o.seed);
    while (!this.stopped) {
      try {
        await this.consumeOnce();
      } catch (e) {
        if (this.stopped) break;
        this.failure = e;
        this.o.logger.warn(
          { err: e, stream: this.stream, applied: this.applied },
          'shard applier failed; restarting from the last applied operation',
        );
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private async consumeOnce(): Promise<void> {
    // Operations dispatched but not applied are re-read: replaying them is harmless.
    this.dispatched = this.applied;
    this.applyFailure = undefined;
    // The watchdog abandons this attempt by resolving `abandoned`; every wait races it.
    const abandoned = new Promise<typeof ABANDONED>((resolve) => {
      this.abandon = () => resolve(ABANDONED);
    });
    // A plain ephemeral pull consumer, not nats.js's ordered one: that one retries its own
    // re-creation forever, even after the connection closed (nats.js 2.29), which kept
    // stopped nodes' processes alive. Order is checked here instead: a gap restarts.
    const name = `quiver_${process.pid}_${++consumerSerial}`;
    const added = await Promise.race([
      addReadConsumer(this.o.jsm, this.stream, name, this.applied + 1),
      abandoned,
    ]);
    if (added === ABANDONED) return;
    try {
      const consumer = await this.o.js.consumers.get(this.stream, name);
      this.lastProgress = Date.now();
      while (!this.stopped) {
        const batch = await Promise.race([
          consumer.fetch({ max_messages: IN_FLIGHT, expires: 2_000 }),
          abandoned,
        ]);
        if (batch === ABANDONED) return;
        const it = batch[Symbol.asyncIterator]();
        for (;;) {
          const next = await Promise.race([it.next(), abandoned]);
          if (next === ABANDONED) {
            batch.stop();
            return;
          }
          if (next.done === true) break;
          const m = next.value;
          if (m.seq <= this.dispatched) continue;
          this.throwIfFailed();
          if (m.seq !== this.dispatched + 1) {
            throw new Error(`stream ${this.stream} skipped from ${this.dispatched} to ${m.seq}`);
          }
          this.dispatch(m.seq, decodeOpMessage(m.data, this.stream, m.seq));
          if (this.inFlight.length >= IN_FLIGHT) await this.inFlight.shift();
          this.throwIfFailed();
        }
      }
    } finally {
      await Promise.all(this.inFlight);
      this.inFlight = [];
      const deleting = this.o.jsm.consumers.delete(this.stream, name).catch(() => undefined);
      // A stopping node does not wait for it (the servers drop an idle consumer after a
      // minute anyway): with the servers gone, each wait took the 5 s request timeout.
      if (!this.stopped) await deleting;
      this.throwIfFailed();
    }
  }

  /** Seeds from a peer; on failure the replica reads the whole stream instead. */
  private async seedOnce(seed: NonNullable<ShardApplierOptions['seed']>): Promise<void> {
    this.seeding = true;
    try {
      const upTo = await seed(
        () => (this.lastProgress = Date.now()),
        () => this.stopped,
      );
      if (upTo === undefined || this.stopped) return;
      // Points copied late may be newer than `upTo`: only once the stream is applied to
      // where it ended when the copy finished is the copy one state of the shard.
      this.settledAt = (await shardStreamState(this.o.jsm, this.ref)).last;
      this.seeded = upTo;
      this.dispatched = upTo;
      this.advance(upTo);
      this.o.logger.info({ stream: this.stream, seq: upTo }, 'shard replica seeded from a peer');
    } catch (e) {
      if (this.stopped) return;
      // The points copied so far stay: the whole stream replayed over them ends right, but
      // is one state of the shard only once applied to where the stream ends now.
      this.settledAt = await shardStreamState(this.o.jsm, this.ref).then(
        (st) => st.last,
        () => this.streamLast,
      );
      this.o.logger.warn(
        { err: e, stream: this.stream },
        'seeding from a peer failed; reading the whole stream instead',
      );
    } finally {
      this.seeding = false;
    }
  }

  /**
   * Starts applying one operation; appends run in call order, so they resolve in order.
   * After a failure nothing at or past the failed sequence counts as applied, even if a
   * later operation succeeded meanwhile: the restart replays from the failed one, and the
   * replay in order puts the later ones right again.
   */
  private dispatch(seq: number, op: PointOp): void {
    this.dispatched = seq;
    const local = this.o.collection;
    // The stream holds the operation durably: visible once in the local WAL, fsync or not
    // (positions are saved only after a flush, so a crash replays whatever was not synced).
    const named = op.collection === local.name ? op : { ...op, collection: local.name };
    this.inFlight.push(
      local.applyOp(named, { durableElsewhere: true }).then(
        () => {
          if (this.applyFailure === undefined || seq < this.applyFailure.seq) this.advance(seq);
        },
        (error: unknown) => {
          if (this.applyFailure === undefined || seq < this.applyFailure.seq) {
            this.applyFailure = { seq, error };
          }
          // End this attempt now, not when the next message arrives (an idle shard would
          // leave the operation unapplied until then); the run loop retries from `applied`.
          this.abandon();
        },
      ),
    );
  }

  private throwIfFailed(): void {
    const f = this.applyFailure;
    if (f !== undefined) throw f.error;
  }

  private advance(seq: number): void {
    if (seq <= this.applied) return;
    this.applied = seq;
    this.streamLast = Math.max(this.streamLast, seq);
    this.lastProgress = Date.now();
    this.failure = undefined;
    for (const w of this.waiters) if (w.seq <= seq) w.resolve();
  }

  /** Recreates the consumer when the stream holds more but nothing arrived for a while. */
  private async watch(): Promise<void> {
    if (this.stopped) return;
    try {
      const state = await shardStreamState(this.o.jsm, this.ref);
      this.streamLast = state.last;
      this.observed = true;
      if (state.leader !== undefined && state.leader !== this.leader) {
        if (this.leader !== undefined) this.leaderChanges++;
        this.leader = state.leader;
      }
    } catch {
      return; // the servers are electing or away: nothing to judge yet
    }
    // A seed is not a consumer: its pages, not deliveries, are its progress.
    if (this.seeding) return;
    if (this.streamLast > this.applied && Date.now() - this.lastProgress > STALL_MS) {
      this.restarts++;
      this.lastProgress = Date.now();
      this.o.logger.warn(
        { stream: this.stream, applied: this.applied, last: this.streamLast },
        'shard consumer stalled; recreating it',
      );
      this.abandon();
    }
  }

  /** The last error that stopped applying, cleared by the next applied operation. */
  get lastError(): unknown {
    return this.failure;
  }
}
