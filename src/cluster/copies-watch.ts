/**
 * A node's watch over the NATS servers' copies of the shard streams it holds: at each look
 * (every minute by default), a stream that grew since the last look has the messages added
 * meanwhile compared across its copies (replica-agreement.ts; at most the last 16, so a
 * look after a burst of writes sees only its end). A split found is logged as an error
 * naming the points to write again, counted (`quiver_shard_copies_splits_total`) and kept
 * in the shard's status, so an operator is told without running `quiver cluster shards`.
 */
import type { Logger } from '../common/logger.js';
import type { PointId } from '../common/types.js';
import { AGREEMENT_WINDOW, ServerCopies, splitPoints } from './replica-agreement.js';

/** The default time between looks. */
export const COPIES_LOOK_EVERY_MS = 60_000;

/** A split found in a shard's stream: where, and the points to write again. */
export interface CopiesSplit {
  readonly seq: number;
  readonly points: readonly PointId[];
}

/** A shard as the watch sees it. */
export interface WatchedShard {
  readonly collection: string;
  readonly shard: number;
  readonly stream: string;
  readonly streamLast: number;
}

export class CopiesWatch {
  /** Per stream, the last sequence compared (a look goes on after it: none is compared twice). */
  private readonly looked = new Map<string, number>();
  /** Per stream, how many splits were found and the latest. */
  private readonly found = new Map<string, { count: number; latest: CopiesSplit }>();
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly servers: readonly string[],
    private readonly logger: Logger,
  ) {}

  /**
   * Compares what each stream of `shards` gained since the last look. Looks do not overlap:
   * one called while another runs returns at once (the next one covers the gap).
   */
  async look(shards: readonly WatchedShard[]): Promise<void> {
    const grown = shards.filter((s) => s.streamLast > (this.looked.get(s.stream) ?? 0));
    if (this.stopped || this.running !== undefined || grown.length === 0) return;
    this.running = this.lookAtAll(grown);
    try {
      await this.running;
    } finally {
      this.running = undefined;
    }
  }

  /** Stops looking; resolves once a look under way has closed its connections. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running?.catch(() => undefined);
  }

  /** The latest split found in `stream`, if any. */
  splitOf(stream: string): CopiesSplit | undefined {
    return this.found.get(stream)?.latest;
  }

  /** How many splits were found in `stream` (each sequence once). */
  splitsIn(stream: string): number {
    return this.found.get(stream)?.count ?? 0;
  }

  private async lookAtAll(shards: readonly WatchedShard[]): Promise<void> {
    const copies = await ServerCopies.open(this.servers);
    try {
      // One server alone holds the only copy: nothing to compare (and nothing to lose).
      if (copies.servers.length < 2) return;
      for (const s of shards) if (!this.stopped) await this.lookAt(copies, s);
    } finally {
      await copies.close();
    }
  }

  private async lookAt(copies: ServerCopies, s: WatchedShard): Promise<void> {
    const since = this.looked.get(s.stream) ?? 0;
    const window = Math.min(AGREEMENT_WINDOW, s.streamLast - since);
    const agreement = await copies.compare(s.stream, s.streamLast, window, () => this.stopped);
    // Cut short (or at a split), the next look goes on after the last message compared.
    if (agreement.to >= agreement.from) this.looked.set(s.stream, agreement.to);
    const split = agreement.diverged;
    if (split === undefined) return;
    const points = splitPoints(split);
    const count = (this.found.get(s.stream)?.count ?? 0) + 1;
    this.found.set(s.stream, { count, latest: { seq: split.seq, points } });
    this.logger.error(
      { collection: s.collection, shard: s.shard, stream: s.stream, seq: split.seq, points },
      `the NATS servers' copies of shard ${s.shard} of "${s.collection}" hold ${split.versions.length} different messages at sequence ${split.seq} (nats-server's split after a partition): nodes may hold different versions of points ${JSON.stringify(points)}. Write those points again from your source (docs/RUNBOOK.md#a-shard-streams-copies-differ).`,
    );
  }
}
