/**
 * Sharded placement against a real 3-server NATS JetStream cluster, three Quiver nodes in
 * this process: a collection with one replica per shard spreads its shards over the nodes,
 * and every read from any node fans out and equals a single-node collection holding the
 * same points (exact search, counts, filtered ids, pages, getMany). A shard moved under a
 * write load loses nothing; the last replica of a shard cannot be dropped; a drained node
 * holds nothing and the data stays whole; a read right after a replica's node left is
 * served by the other replica; with none left, reads that need the shard answer
 * UNAVAILABLE naming it while reads of other shards still answer.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, test } from 'node:test';
import { SILENT_LOGGER } from '../../src/common/logger.js';
import type { PointId } from '../../src/index.js';
import { Quiver } from '../../src/index.js';
import { Filter } from '../../src/filter/filter-ast.js';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import {
  dropReplica,
  drainNode,
  moveShard,
  replicateShard,
} from '../../src/cluster/shard-moves.js';
import { shardOf } from '../../src/cluster/shard-routing.js';
import { NodeFileSystem } from '../../src/storage/io/node-file-system.js';
import { needsNatsServer, startNatsCluster } from '../helpers/nats-cluster.js';
import { tempDir } from '../helpers/temp-dir.js';

const skip = needsNatsServer();
const DIM = 8;

function vec(id: number): number[] {
  return Array.from({ length: DIM }, (_, d) => Math.sin(id * 1.7 + d * 0.9) + Math.cos(id * d));
}

interface Node {
  readonly db: Quiver;
  readonly cluster: ClusterNode;
  readonly dir: string;
}

async function startNode(servers: string, nodeId: string): Promise<Node> {
  const dir = tempDir(undefined);
  const db = await Quiver.open(dir);
  const cluster = await ClusterNode.start(db, {
    servers,
    nodeId,
    logger: SILENT_LOGGER,
    fileSystem: new NodeFileSystem(),
  });
  return { db, cluster, dir };
}

async function until(what: string, done: () => boolean | Promise<boolean>, ms = 20_000) {
  const end = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('sharded cluster collections', { skip, timeout: 180_000 }, () => {
  test('placement, fan-out reads, moving and draining shards', async (t) => {
    const nats = await startNatsCluster(t);
    const nodes: Node[] = [];
    t.after(async () => {
      for (const n of nodes) {
        await n.cluster.close().catch(() => undefined);
        await n.db.close().catch(() => undefined);
        rmSync(n.dir, { recursive: true, force: true });
      }
    });
    for (const id of ['node-a', 'node-b', 'node-c']) nodes.push(await startNode(nats.servers, id));
    const [a, b, c] = nodes as [Node, Node, Node];
    // Each node's view of who is up is refreshed by its heartbeat.
    await until('every node to see three', () =>
      nodes.every((n) => n.cluster.stats().nodes.up + n.cluster.stats().nodes.catchingUp === 3),
    );

    await a.cluster.createCollection('docs', { dimension: DIM, metric: 'cosine' }, 3, 1);
    await until('the others to host docs', () => nodes.every((n) => n.cluster.hosts('docs')));
    const held = nodes.map((n) => n.cluster.shardStatus('docs').map((s) => s.shard));
    assert.deepEqual(held, [[0], [1], [2]], 'one shard per node, spread in name order');

    // The same points in the cluster and in a single local collection (the oracle).
    const refDir = tempDir(undefined);
    const ref = await Quiver.open(refDir);
    t.after(async () => {
      await ref.close();
      rmSync(refDir, { recursive: true, force: true });
    });
    const single = await ref.createCollection('ref', { dimension: DIM, metric: 'cosine' });
    const points = Array.from({ length: 600 }, (_, i) => ({
      id: i % 5 === 0 ? `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` : i,
      vector: vec(i),
      payload: { i, even: i % 2 === 0, tag: ['x', 'y', 'z'][i % 3]! },
    }));
    await single.upsert(points);
    const token = await a.cluster.write('docs', a.db.collection('docs').prepareUpsert(points));
    for (const n of nodes) {
      assert.equal(await n.cluster.reads('docs', { token }).count(), 600);
    }
    const localCounts = nodes.map((n) => n.db.collection('docs').stats().points);
    assert.equal(
      localCounts.reduce((x, y) => x + y, 0),
      600,
      'each point held once',
    );
    assert.ok(
      localCounts.every((n) => n > 100 && n < 300),
      `spread: ${localCounts.join(',')}`,
    );

    // A node answers at most 64 parts of others' reads at once: parts that wait (here for a
    // write that never comes) hold their places, and the ones beyond are refused at once.
    const waiting = Array.from({ length: 70 }, async () => {
      const t0 = Date.now();
      await assert.rejects(
        a.cluster.reads('docs', { token: { 1: 1e9 } }).count(Filter.idBucket(3, [1])),
        (e: Error & { code?: string }) => e.code === 'UNAVAILABLE',
      );
      return Date.now() - t0;
    });
    await until('B to refuse the parts beyond 64', () => b.cluster.stats().readParts.refused >= 6);
    assert.equal(b.cluster.stats().readParts.serving, 64);
    const took = await Promise.all(waiting);
    assert.equal(took.filter((ms) => ms < 5_000).length, 6, took.join(','));
    assert.equal(b.cluster.stats().readParts.serving, 0);

    // Every read, from every node, equals the single collection's answer.
    const even = Filter.eq('even', true);
    const oracleIds = await single.ids();
    for (const n of nodes) {
      const reads = n.cluster.reads('docs');
      for (let q = 0; q < 10; q++) {
        const query = vec(1000 + q);
        const opts = { k: 10, exact: true, explain: true as const };
        const got = await reads.search(query, opts);
        const want = await single.search(query, opts);
        assert.deepEqual(
          got.hits.map((h) => h.id),
          want.hits.map((h) => h.id),
        );
        const gotF = await reads.search(query, { ...opts, filter: even });
        const wantF = await single.search(query, { ...opts, filter: even });
        assert.deepEqual(
          gotF.hits.map((h) => [h.id, h.payload]),
          wantF.hits.map((h) => [h.id, h.payload]),
        );
      }
      assert.deepEqual(await reads.ids(), oracleIds);
      assert.deepEqual(await reads.ids(even), await single.ids(even));
      assert.equal(await reads.count(even), await single.count(even));
      // Pages across shards against the sorted oracle.
      const paged: PointId[] = [];
      let page = await reads.idsPage({ limit: 37 });
      paged.push(...page.ids);
      while (page.next !== undefined) {
        page = await reads.idsPage({ from: page.next, limit: 37 });
        paged.push(...page.ids);
      }
      assert.deepEqual(paged, oracleIds);
      const asked = [5, 599, 12345, 3, points[10]!.id, 7];
      assert.deepEqual(
        (await reads.getMany(asked)).map((p) => p.id),
        (await single.getMany(asked)).map((p) => p.id),
      );
      assert.deepEqual((await reads.get(3))?.payload, (await single.get(3))?.payload);
    }
    // Approximate search over the shards finds what one index does (recall within 0.01).
    let hitsSharded = 0;
    let hitsSingle = 0;
    for (let q = 0; q < 30; q++) {
      const query = vec(5000 + q);
      const truth = new Set((await single.search(query, { k: 10, exact: true })).map((h) => h.id));
      const sharded = await b.cluster.reads('docs').search(query, { k: 10, explain: true });
      const one = await single.search(query, { k: 10 });
      hitsSharded += sharded.hits.filter((h) => truth.has(h.id)).length;
      hitsSingle += one.filter((h) => truth.has(h.id)).length;
    }
    assert.ok(hitsSharded / 300 >= hitsSingle / 300 - 0.01, `${hitsSharded} vs ${hitsSingle}`);

    // The last replica of a shard cannot be dropped.
    await assert.rejects(
      dropReplica(a.cluster.metadata, 'docs', 0, 'node-a'),
      (e: Error & { code?: string }) =>
        e.code === 'INVALID_ARGUMENT' && /without an active/.test(e.message),
    );

    // Move shard 0 from A to B while C writes: nothing acknowledged is lost.
    const acked: PointId[] = points.map((p) => p.id);
    let writing = true;
    let lastToken = token;
    const writer = (async () => {
      for (let batch = 0; writing; batch++) {
        const ids = Array.from({ length: 20 }, (_, j) => 10_000 + batch * 20 + j);
        lastToken = await c.cluster.write(
          'docs',
          c.db
            .collection('docs')
            .prepareUpsert(ids.map((id) => ({ id, vector: vec(id), payload: { id } }))),
        );
        acked.push(...ids);
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    await moveShard(a.cluster.metadata, 'docs', 0, 'node-a', 'node-b', { timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 300));
    writing = false;
    await writer;
    // The applier stops first, its points are removed after: wait for both.
    await until(
      'A to let go of shard 0',
      () =>
        a.cluster.shardStatus('docs').length === 0 && a.db.collection('docs').stats().points === 0,
    );
    assert.equal(a.db.collection('docs').stats().points, 0, "A's copy of shard 0 is removed");
    assert.deepEqual(
      b.cluster.shardStatus('docs').map((s) => s.shard),
      [0, 1],
    );
    for (const n of nodes) {
      const reads = n.cluster.reads('docs', { token: lastToken });
      assert.equal(await reads.count(), acked.length, `count on ${n.cluster.id}`);
      assert.equal((await reads.getMany(acked)).length, acked.length);
    }
    const wantShard0 = acked.filter((id) => shardOf(id, 3) === 0).length;
    assert.equal(
      (await b.db.collection('docs').ids()).filter((id) => shardOf(id, 3) === 0).length,
      wantShard0,
      'B holds every point of shard 0',
    );

    // Drain B: its shards go elsewhere, nothing is lost.
    await drainNode(a.cluster.metadata, 'node-b', { timeoutMs: 60_000 });
    await until(
      'B to hold nothing',
      () =>
        b.cluster.shardStatus('docs').length === 0 && b.db.collection('docs').stats().points === 0,
    );
    assert.equal(b.db.collection('docs').stats().points, 0);
    for (const n of nodes) {
      assert.equal(await n.cluster.reads('docs', { latest: true }).count(), acked.length);
    }

    // Two replicas of shard 2; the node of one leaves: the next read goes to the other.
    await replicateShard(a.cluster.metadata, 'docs', 2, 'node-b', { timeoutMs: 60_000 });
    const shard2Holders = ['node-b', 'node-c'];
    assert.ok(
      shard2Holders.every((id) =>
        a.cluster
          .definition('docs')
          .placement?.['2']?.some((r) => r.node === id && r.state === 'active'),
      ),
    );
    await c.cluster.close();
    for (let i = 0; i < 5; i++) {
      assert.equal(await a.cluster.reads('docs').count(), acked.length);
    }
    // Shard 2's last replica goes too: reads that need it answer UNAVAILABLE naming it,
    // reads of other shards still answer.
    await b.cluster.close();
    await assert.rejects(
      a.cluster.reads('docs').count(),
      (e: Error & { code?: string }) => e.code === 'UNAVAILABLE',
    );
    // A write to shard 2 is still acknowledged (the stream is up), but waiting for it to be
    // applied fails: no replica of the shard can apply it, though node A holds no part of it.
    let inShard2 = 1_000_000;
    while (shardOf(inShard2, 3) !== 2) inShard2++;
    const stranded = await a.cluster.write(
      'docs',
      a.db.collection('docs').prepareUpsert([{ id: inShard2, vector: vec(inShard2) }]),
    );
    assert.ok(stranded[2] !== undefined && stranded[2] > 0);
    await assert.rejects(
      a.cluster.waitFor('docs', stranded, 1_500),
      (e: Error & { code?: string }) => e.code === 'UNAVAILABLE' && /not applied/.test(e.message),
    );
    const onA = acked.filter((id) => shardOf(id, 3) !== 2).slice(0, 50);
    assert.equal((await a.cluster.reads('docs').getMany(onA)).length, onA.length);
    await until(
      'A to see B gone',
      () => a.cluster.stats().nodes.up + a.cluster.stats().nodes.catchingUp === 1,
    );
    await assert.rejects(
      a.cluster.reads('docs').count(),
      (e: Error & { code?: string }) =>
        e.code === 'UNAVAILABLE' && /Shard 2 of "docs" has no active replica/.test(e.message),
    );
  });
});
