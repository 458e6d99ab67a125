/**
 * Shard placement as pure functions: spreading replicas, the changes an operator makes
 * (and the one refused: dropping a shard's last active replica), and read plans that
 * prefer this node, skip partial replicas and nodes that are down, and say which shard
 * no node can serve.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterCollectionDef } from './cluster-meta.js';
import type { ReadView } from './shard-placement.js';
import {
  initialPlacement,
  planReads,
  promoted,
  shardsOn,
  withReplica,
  withoutReplica,
} from './shard-placement.js';

const base: ClusterCollectionDef = {
  name: 'docs',
  uid: 'u1',
  config: { dimension: 4 },
  shards: 4,
  replicas: 3,
  createdAt: '2026-11-30T00:00:00.000Z',
};
const NODES = ['node-c', 'node-a', 'node-b'];

describe('shard placement', () => {
  it('spreads replicas round-robin over the nodes in name order', () => {
    const p = initialPlacement(4, NODES, 2);
    assert.deepEqual(
      Object.values(p).map((list) => list.map((r) => r.node)),
      [
        ['node-a', 'node-b'],
        ['node-b', 'node-c'],
        ['node-c', 'node-a'],
        ['node-a', 'node-b'],
      ],
    );
    assert.ok(Object.values(p).every((list) => list.every((r) => r.state === 'active')));
    // More replicas than nodes: each node once.
    assert.equal(initialPlacement(1, NODES, 5)['0']!.length, 3);
    assert.throws(() => initialPlacement(1, [], 1), /No Quiver node/);
  });

  it('without placement, every node holds every shard', () => {
    assert.deepEqual(shardsOn(base, 'anyone'), [0, 1, 2, 3]);
    const def = { ...base, placement: initialPlacement(4, NODES, 1) };
    assert.deepEqual(shardsOn(def, 'node-a'), [0, 3]);
    assert.deepEqual(shardsOn(def, 'node-c'), [2]);
  });

  it('adds a partial replica, promotes it, and refuses to drop the last active one', () => {
    const def = { ...base, placement: initialPlacement(4, NODES, 1) };
    const added = withReplica(def, 2, 'node-a', NODES);
    assert.deepEqual(added.placement!['2'], [
      { node: 'node-c', state: 'active' },
      { node: 'node-a', state: 'partial' },
    ]);
    assert.throws(() => withReplica(added, 2, 'node-a', NODES), /already holds/);
    assert.throws(() => withReplica(def, 9, 'node-a', NODES), /no shard 9/);
    // The partial one alone would be left: refused.
    assert.throws(() => withoutReplica(added, 2, 'node-c', NODES), /without an active replica/);
    const active = promoted(added, 2, 'node-a');
    assert.equal(active.placement!['2']![1]!.state, 'active');
    const moved = withoutReplica(active, 2, 'node-c', NODES);
    assert.deepEqual(moved.placement!['2'], [{ node: 'node-a', state: 'active' }]);
    assert.throws(() => withoutReplica(moved, 2, 'node-b', NODES), /holds no replica/);
    // The first change to a collection without placement writes out the implicit one.
    const explicit = withoutReplica(base, 0, 'node-b', NODES);
    assert.deepEqual(
      explicit.placement!['0']!.map((r) => r.node),
      ['node-c', 'node-a'],
    );
    assert.equal(explicit.placement!['3']!.length, 3);
  });

  it('plans reads: this node first, then active replicas on nodes that are up', () => {
    const def = {
      ...base,
      placement: {
        '0': [
          { node: 'node-a', state: 'active' as const },
          { node: 'node-c', state: 'active' as const },
        ],
        '1': [
          { node: 'node-b', state: 'active' as const },
          { node: 'node-a', state: 'partial' as const },
        ],
        '2': [
          { node: 'node-b', state: 'active' as const },
          { node: 'node-c', state: 'active' as const },
        ],
        '3': [
          { node: 'node-c', state: 'active' as const },
          { node: 'node-b', state: 'active' as const },
        ],
      },
    };
    const view = (
      ready: number[],
      live: readonly string[],
      exclude: string[],
      turn: number,
      behind: string[] = [],
    ): ReadView => ({
      self: 'node-a',
      held: new Set([0, 1]),
      ready: new Set(ready),
      live,
      behind: new Set(behind),
      exclude: new Set(exclude),
      turn,
    });
    const plan = planReads(def, view([0, 1], NODES, [], 0));
    assert.deepEqual(plan.get('node-a'), [0], 'the partial local replica of 1 is not read');
    assert.deepEqual(plan.get('node-b'), [1, 2, 3]);
    // The next turn reads shards 2 and 3 from their other replica.
    const next = planReads(def, view([0], NODES, [], 1));
    assert.deepEqual(next.get('node-b'), [1]);
    assert.deepEqual(next.get('node-c'), [2, 3]);
    // A node excluded (it failed to answer) or down is avoided.
    const avoid = planReads(def, view([0], NODES, ['node-c'], 1));
    assert.deepEqual(avoid.get('node-b'), [1, 2, 3]);
    const down = planReads(def, view([0], ['node-a', 'node-b'], [], 1));
    assert.deepEqual(down.get('node-b'), [1, 2, 3]);
    // Shard 0 held here but far behind: its other replica serves, unless that one trails
    // too or is gone, then this node's own copy (stale beats unavailable).
    assert.deepEqual(planReads(def, view([], NODES, [], 0)).get('node-c'), [0]);
    assert.deepEqual(planReads(def, view([], NODES, [], 0, ['node-c'])).get('node-a'), [0]);
    assert.deepEqual(planReads(def, view([], NODES, ['node-c'], 0)).get('node-a'), [0]);
    // A remote replica that trails is passed over for one that does not.
    const fresh = planReads(def, view([0], NODES, [], 0, ['node-b']));
    assert.deepEqual(fresh.get('node-c'), [2, 3]);
    assert.deepEqual(fresh.get('node-b'), [1], 'shard 1 has no other active replica');
    // Shard 1's only active replica is on node-b.
    assert.throws(
      () => planReads(def, view([0, 1], NODES, ['node-b'], 0)),
      (e: Error & { code?: string }) =>
        e.code === 'UNAVAILABLE' && /Shard 1 of "docs" .*node-a partial/.test(e.message),
    );
  });
});
