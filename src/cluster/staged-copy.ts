/**
 * StagedCopy: a node's copy of a collection's next definition while the collection is
 * resharded (resharding.ts). It is a hidden staging collection (Quiver.createStagingCollection)
 * fed by appliers of the new streams placed on this node, built beside the copy that keeps
 * serving reads. When the definition switches to the new streams, the node swaps it in
 * with one logged step (Quiver.swapCollection), so no read ever sees a half-built copy.
 * A node that stops meanwhile loses it (the next open drops staging collections) and
 * builds it again from the new streams' start.
 */
import type { JetStreamClient, JetStreamManager } from 'nats';
import type { Logger } from '../common/logger.js';
import { isQuiverError } from '../common/quiver-error.js';
import type { Collection } from '../engine/collection.js';
import type { Quiver } from '../engine/quiver.js';
import type { ClusterCollectionDef, Resharding } from './cluster-meta.js';
import { ShardApplier } from './shard-applier.js';
import { shardsOn } from './shard-placement.js';

export interface StagedCopyDeps {
  readonly db: Quiver;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly logger: Logger;
  readonly nodeId: string;
}

const POLL_MS = 50;
const SWAP_ATTEMPTS = 5;

export class StagedCopy {
  private constructor(
    /** The uid of the definition this copy follows. */
    readonly uid: string,
    private readonly staging: Collection,
    private readonly appliers: ReadonlyMap<number, ShardApplier>,
    private readonly deps: StagedCopyDeps,
  ) {}

  /** Creates the staging collection for `def.resharding` and starts reading its shards. */
  static async start(
    def: ClusterCollectionDef & { readonly resharding: Resharding },
    deps: StagedCopyDeps,
  ): Promise<StagedCopy> {
    const next = nextDefinition(def);
    const staging = await deps.db.createStagingCollection(def.name, def.config);
    const appliers = new Map<number, ShardApplier>();
    for (const shard of shardsOn(next, deps.nodeId)) {
      const a = new ShardApplier({
        js: deps.js,
        jsm: deps.jsm,
        name: def.name,
        collection: staging,
        uid: next.uid,
        shard,
        from: 0,
        logger: deps.logger,
      });
      a.start();
      appliers.set(shard, a);
    }
    deps.logger.info(
      { collection: def.name, uid: next.uid, shards: [...appliers.keys()] },
      'resharding: building the copy of the new shards',
    );
    return new StagedCopy(next.uid, staging, appliers, deps);
  }

  /** Operations of the new streams not yet applied to the copy. */
  get lag(): number {
    let n = 0;
    for (const a of this.appliers.values()) n += a.lag;
    return n;
  }

  /**
   * Resolves true once every applier has seen its stream's end and trails it by at most
   * `maxLag`, false after `timeoutMs`.
   */
  async caughtUp(maxLag: number, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    const done = () => [...this.appliers.values()].every((a) => a.within(maxLag));
    while (!done()) {
      if (Date.now() > end) return false;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    return true;
  }

  /**
   * Stops reading and puts the copy in its collection's place. Resolves with the sequence
   * applied per shard: the swapped-in collection's positions in the new streams.
   */
  async swapIn(): Promise<Record<string, number>> {
    await this.stop();
    // The swap seals the copy first and refuses (UNAVAILABLE, "Retry") when a checkpoint
    // running meanwhile left some of it unsealed: try again a few times before giving up.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.deps.db.swapCollection(this.staging);
        break;
      } catch (e) {
        if (attempt >= SWAP_ATTEMPTS || !isQuiverError(e, 'UNAVAILABLE')) throw e;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
    return Object.fromEntries([...this.appliers].map(([s, a]) => [String(s), a.applied]));
  }

  /** Stops reading and drops the copy (the resharding was aborted, or the collection dropped). */
  async discard(): Promise<void> {
    await this.stop();
    await this.deps.db.dropStagingCollection(this.staging);
  }

  /** Stops reading; the staging collection stays until the next open drops it. */
  async stop(): Promise<void> {
    await Promise.all([...this.appliers.values()].map((a) => a.stop()));
  }
}

/** The definition a resharding leads to: the new uid, shard count and placement. */
export function nextDefinition(
  def: ClusterCollectionDef & { readonly resharding: Resharding },
): ClusterCollectionDef {
  const { resharding } = def;
  return {
    name: def.name,
    uid: resharding.uid,
    config: def.config,
    shards: resharding.shards,
    replicas: def.replicas,
    createdAt: def.createdAt,
    ...(resharding.placement === undefined ? {} : { placement: resharding.placement }),
  };
}
