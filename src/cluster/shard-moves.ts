/**
 * Moving shard replicas between nodes, as an operator asks it (Qdrant's `replicate_shard`,
 * `move_shard`, `drop_replica`; `quiver cluster move-shard|drain`). Each step is one
 * compare-and-set of the collection's placement; the nodes do the work: a node given a
 * replica reads the shard's stream from the start and marks itself active once caught up,
 * a node that lost one stops and removes its points. A move adds the new replica, waits
 * for it to be active, then drops the old: interrupted, it leaves one replica too many,
 * never one too few.
 */
import { QuiverError } from '../common/quiver-error.js';
import type { ClusterCollectionDef, ClusterMeta } from './cluster-meta.js';
import { notInCluster } from './cluster-meta.js';
import { allShards, replicasOf, shardsOn, withReplica, withoutReplica } from './shard-placement.js';

export interface MoveOptions {
  /** How long to wait for a new replica to catch up (default 10 minutes). */
  readonly timeoutMs?: number;
  /** Told what is happening, for progress lines. */
  readonly onProgress?: (message: string) => void;
}

const POLL_MS = 250;
/** Reads in a row without the replica before a wait concludes it was removed. */
const STALE_READS = 5;

/** Adds a replica of `shard` on `to` and (unless `wait` is false) waits until it is active. */
export async function replicateShard(
  meta: ClusterMeta,
  name: string,
  shard: number,
  to: string,
  options: MoveOptions & { readonly wait?: boolean } = {},
): Promise<void> {
  const nodes = await upNodes(meta);
  if (!nodes.includes(to)) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `Node ${to} is not up in the cluster (up: ${nodes.join(', ')}); a replica can only go to a running node.`,
      { collection: name },
    );
  }
  await meta.updateCollection(name, (d) => withReplica(d, shard, to, nodes));
  options.onProgress?.(`shard ${shard} of "${name}": replica added on ${to}, catching up`);
  if (options.wait !== false) await waitActive(meta, name, shard, to, options);
}

/** Moves `from`'s replica of `shard` to `to`: replicate, wait until active, drop the old. */
export async function moveShard(
  meta: ClusterMeta,
  name: string,
  shard: number,
  from: string,
  to: string,
  options: MoveOptions = {},
): Promise<void> {
  await (
    await startMove(meta, name, shard, from, to, options)
  ).done;
}

/**
 * The first step of a move (the new replica added, checks passed), resolved at once with
 * the rest running: `done` settles when the old replica is dropped (or the move failed).
 */
export async function startMove(
  meta: ClusterMeta,
  name: string,
  shard: number,
  from: string,
  to: string,
  options: MoveOptions = {},
): Promise<{ done: Promise<void> }> {
  const def = await defOf(meta, name);
  const nodes = await upNodes(meta);
  if (!replicasOf(def, shard, nodes).some((r) => r.node === from)) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `Node ${from} holds no replica of shard ${shard} of "${name}".`,
      { collection: name },
    );
  }
  await replicateShard(meta, name, shard, to, { ...options, wait: false });
  const done = (async () => {
    await waitActive(meta, name, shard, to, options);
    await dropReplica(meta, name, shard, from);
    options.onProgress?.(`shard ${shard} of "${name}": moved from ${from} to ${to}`);
  })();
  done.catch(() => undefined); // the caller may not wait; it still sees the failure if it does
  return { done };
}

/** Removes `node`'s replica of `shard` (refused for the last active one). */
export async function dropReplica(
  meta: ClusterMeta,
  name: string,
  shard: number,
  node: string,
): Promise<void> {
  const nodes = await upNodes(meta);
  await meta.updateCollection(name, (d) => withoutReplica(d, shard, node, nodes));
}

/**
 * Takes every replica off `node` so it can be removed: a shard that has another active
 * replica just loses this one; one that has not is first replicated to the up node that
 * holds the fewest replicas of the collection.
 */
export async function drainNode(
  meta: ClusterMeta,
  node: string,
  options: MoveOptions = {},
): Promise<number> {
  let moved = 0;
  for (const def of await meta.collections()) {
    for (const shard of shardsOn(def, node)) {
      const current = await defOf(meta, def.name);
      const nodes = await upNodes(meta);
      const others = replicasOf(current, shard, nodes).filter(
        (r) => r.node !== node && r.state === 'active' && nodes.includes(r.node),
      );
      if (others.length === 0) {
        const target = leastLoaded(current, nodes, shard, node);
        await replicateShard(meta, def.name, shard, target, options);
      }
      await dropReplica(meta, def.name, shard, node);
      options.onProgress?.(`shard ${shard} of "${def.name}": replica on ${node} dropped`);
      moved++;
    }
  }
  return moved;
}

/** Waits until `node`'s replica of `shard` is active (UNAVAILABLE after the timeout). */
export async function waitActive(
  meta: ClusterMeta,
  name: string,
  shard: number,
  node: string,
  options: MoveOptions,
): Promise<void> {
  const end = Date.now() + (options.timeoutMs ?? 600_000);
  let missing = 0;
  for (;;) {
    const def = await defOf(meta, name);
    const r = def.placement?.[String(shard)]?.find((x) => x.node === node);
    // A read just after the change may come from a bucket replica that has not seen it yet
    // (key-value gets are answered by any server): gone means gone for several reads.
    if (r === undefined && ++missing < STALE_READS) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      continue;
    }
    if (r === undefined) {
      throw new QuiverError(
        'UNAVAILABLE',
        `The new replica of shard ${shard} of "${name}" on ${node} was removed before it caught up.`,
        { collection: name },
      );
    }
    missing = 0;
    if (r.state === 'active') return;
    if (Date.now() > end) {
      throw new QuiverError(
        'UNAVAILABLE',
        `The replica of shard ${shard} of "${name}" on ${node} has not caught up within ${options.timeoutMs ?? 600_000} ms; it stays (partial) and keeps reading: check that node (GET /cluster), then run the move again or drop it.`,
        { collection: name },
      );
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** The up node, other than `not`, without `shard`, holding the fewest replicas of `def`. */
function leastLoaded(
  def: ClusterCollectionDef,
  nodes: readonly string[],
  shard: number,
  not: string,
): string {
  const candidates = nodes.filter(
    (n) => n !== not && !replicasOf(def, shard, nodes).some((r) => r.node === n),
  );
  const load = (n: string): number =>
    allShards(def).filter((s) => replicasOf(def, s, nodes).some((r) => r.node === n)).length;
  const best = candidates.sort((a, b) => load(a) - load(b) || a.localeCompare(b))[0];
  if (best === undefined) {
    throw new QuiverError(
      'UNAVAILABLE',
      `No other node is up to take shard ${shard} of "${def.name}" from ${not}: start one first.`,
      { collection: def.name },
    );
  }
  return best;
}

async function defOf(meta: ClusterMeta, name: string): Promise<ClusterCollectionDef> {
  const def = await meta.collection(name);
  if (def === undefined) {
    throw notInCluster(name);
  }
  return def;
}

async function upNodes(meta: ClusterMeta): Promise<string[]> {
  return (await meta.nodes()).map((n) => n.id);
}
