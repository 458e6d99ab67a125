/**
 * Which nodes hold which shards of a collection, and the changes an operator makes to that
 * (replicate, promote, drop). Pure functions over a definition: the metadata bucket stores
 * their results by compare-and-set, so two operators racing both see the other's change.
 * A definition without placement means "every node holds every shard" (see ClusterMeta).
 */
import { QuiverError } from '../common/quiver-error.js';
import type { ClusterCollectionDef, Placement, ShardReplica } from './cluster-meta.js';
import { liveShards } from './shard-keys.js';

/** Shards 0..n-1, or the shards of a custom collection's keys (shard-keys.ts). */
export function allShards(def: ClusterCollectionDef): number[] {
  return liveShards(def);
}

/**
 * `factor` replicas of each shard over `nodes`, spread round-robin so each node holds
 * about the same number: shard s goes to nodes s, s+1, … (in name order).
 */
export function initialPlacement(
  shards: number,
  nodes: readonly string[],
  factor: number,
): Placement {
  const sorted = [...new Set(nodes)].sort();
  if (sorted.length === 0) {
    throw new QuiverError(
      'UNAVAILABLE',
      'No Quiver node is up in the cluster to place shards on.',
      {},
    );
  }
  const n = Math.min(factor, sorted.length);
  const out: Record<string, ShardReplica[]> = {};
  for (let s = 0; s < shards; s++) {
    out[String(s)] = Array.from({ length: n }, (_, r) => ({
      node: sorted[(s + r) % sorted.length]!,
      state: 'active' as const,
    }));
  }
  return out;
}

/** The replicas of `shard`; without placement, every node in `nodes` (all active). */
export function replicasOf(
  def: ClusterCollectionDef,
  shard: number,
  nodes: readonly string[],
): readonly ShardReplica[] {
  if (def.placement === undefined) return nodes.map((node) => ({ node, state: 'active' }));
  return def.placement[String(shard)] ?? [];
}

/** The shards `node` holds a replica of (any state). */
export function shardsOn(def: ClusterCollectionDef, node: string): number[] {
  if (def.placement === undefined) return allShards(def);
  return allShards(def).filter((s) => def.placement![String(s)]?.some((r) => r.node === node));
}

/** The placement written out (every node in `nodes` on every shard, when there was none). */
export function explicitPlacement(def: ClusterCollectionDef, nodes: readonly string[]): Placement {
  if (def.placement !== undefined) return def.placement;
  return Object.fromEntries(allShards(def).map((s) => [String(s), replicasOf(def, s, nodes)]));
}

/** `def` with a new `partial` replica of `shard` on `node` (it then reads the stream from 1). */
export function withReplica(
  def: ClusterCollectionDef,
  shard: number,
  node: string,
  nodes: readonly string[],
): ClusterCollectionDef {
  checkShard(def, shard);
  const placement = explicitPlacement(def, nodes);
  const list = placement[String(shard)] ?? [];
  if (list.some((r) => r.node === node)) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `Node ${node} already holds shard ${shard} of "${def.name}".`,
      { collection: def.name },
    );
  }
  return {
    ...def,
    placement: { ...placement, [String(shard)]: [...list, { node, state: 'partial' }] },
  };
}

/** `def` with `node`'s replica of `shard` active (it has caught up with the stream). */
export function promoted(
  def: ClusterCollectionDef,
  shard: number,
  node: string,
): ClusterCollectionDef {
  const list = def.placement?.[String(shard)];
  if (list === undefined || !list.some((r) => r.node === node && r.state === 'partial')) return def;
  return {
    ...def,
    placement: {
      ...def.placement,
      [String(shard)]: list.map((r) => (r.node === node ? { node, state: 'active' } : r)),
    },
  };
}

/**
 * `def` without `node`'s replica of `shard`. Refused unless another active replica stays
 * on a node that is up (`nodes`): the points would otherwise be readable nowhere until a
 * new replica replays the stream.
 */
export function withoutReplica(
  def: ClusterCollectionDef,
  shard: number,
  node: string,
  nodes: readonly string[],
): ClusterCollectionDef {
  checkShard(def, shard);
  const placement = explicitPlacement(def, nodes);
  const list = placement[String(shard)] ?? [];
  if (!list.some((r) => r.node === node)) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `Node ${node} holds no replica of shard ${shard} of "${def.name}" (holders: ${list.map((r) => r.node).join(', ') || 'none'}).`,
      { collection: def.name },
    );
  }
  const rest = list.filter((r) => r.node !== node);
  if (!rest.some((r) => r.state === 'active' && nodes.includes(r.node))) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `Dropping node ${node}'s replica of shard ${shard} of "${def.name}" would leave the shard without an active replica on a node that is up. Replicate it to a running node first (replicate_shard), wait until that replica is Active, then drop this one.`,
      { collection: def.name },
    );
  }
  return { ...def, placement: { ...placement, [String(shard)]: rest } };
}

function checkShard(def: ClusterCollectionDef, shard: number): void {
  if (def.resharding !== undefined) {
    // The new shards get their placement when the resharding begins; a replica moved
    // now would be dropped at the switch.
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `"${def.name}" is being resharded to ${def.resharding.shards} shards; move replicas after that finishes.`,
      { collection: def.name },
    );
  }
  if (!liveShards(def).includes(shard)) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      def.custom === undefined
        ? `"${def.name}" has shards 0 to ${def.shards - 1}; there is no shard ${String(shard)}.`
        : `"${def.name}" has shards ${liveShards(def).join(', ') || 'none'} (its shard keys'); there is no shard ${String(shard)}.`,
      { collection: def.name, field: 'shard_id' },
    );
  }
}

/** What a node knows when it plans a read (see {@link planReads}). */
export interface ReadView {
  /** This node. */
  readonly self: string;
  /** Shards this node applies. */
  readonly held: ReadonlySet<number>;
  /** Of those, the shards it has nearly caught up with (it serves them itself). */
  readonly ready: ReadonlySet<number>;
  /** Nodes in the registry. */
  readonly live: readonly string[];
  /** Nodes that said in their last heartbeat that they trail their streams. */
  readonly behind: ReadonlySet<string>;
  /** Nodes not to ask (they failed to answer this read). */
  readonly exclude: ReadonlySet<string>;
  /** Spreads reads over replicas, taken in turn. */
  readonly turn: number;
}

/**
 * Which node serves which shard of a read (of `only` those shards, when given): this node
 * for the active shards it holds and has nearly caught up with; otherwise an active replica
 * on a node that is up, preferring nodes that do not trail their streams (a node restarted
 * after a while serves what it applied so far, which a read should not meet while another
 * replica has it all); this node's own copy when it is behind but no other can serve.
 * UNAVAILABLE names a shard no node can serve.
 */
export function planReads(
  def: ClusterCollectionDef,
  view: ReadView,
  only?: ReadonlySet<number>,
): Map<string, number[]> {
  const { self, exclude } = view;
  const up = new Set(view.live);
  const plan = new Map<string, number[]>();
  for (const s of allShards(def)) {
    if (only !== undefined && !only.has(s)) continue; // a shard this read does not touch
    const replicas = replicasOf(def, s, view.live);
    const here =
      !exclude.has(self) &&
      view.held.has(s) &&
      replicas.some((r) => r.node === self && r.state === 'active');
    let node: string | undefined;
    if (here && view.ready.has(s)) node = self;
    else {
      const others = replicas.filter(
        (r) => r.state === 'active' && r.node !== self && up.has(r.node) && !exclude.has(r.node),
      );
      const current = others.filter((r) => !view.behind.has(r.node));
      const pool = current.length > 0 ? current : others;
      node = pool[(view.turn + s) % Math.max(1, pool.length)]?.node;
      if (here && (node === undefined || current.length === 0)) node = self;
    }
    if (node === undefined) {
      throw new QuiverError(
        'UNAVAILABLE',
        `Shard ${s} of "${def.name}" has no active replica on a node that is up (replicas: ${replicas.map((r) => `${r.node} ${r.state}`).join(', ') || 'none'}). Start a node that holds it, or see GET /collections/${def.name}/cluster.`,
        { collection: def.name },
      );
    }
    let list = plan.get(node);
    if (list === undefined) plan.set(node, (list = []));
    list.push(s);
  }
  return plan;
}
