/**
 * Cluster mode against a real 3-server NATS JetStream cluster, two Quiver databases in
 * this process as two nodes: a write through one node is applied by both (every shard),
 * a read waits for its token, a filter delete is resolved once and replayed as ids, a
 * restarted node reads only the stream's tail, and writes survive the stream leader's
 * SIGKILL with nothing acknowledged lost.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, test } from 'node:test';
import { SILENT_LOGGER } from '../../src/common/logger.js';
import { Quiver } from '../../src/index.js';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import { NodeFileSystem } from '../../src/storage/io/node-file-system.js';
import { needsNatsServer, startNatsCluster } from '../helpers/nats-cluster.js';
import { tempDir } from '../helpers/temp-dir.js';

const skip = needsNatsServer();
const say =
  (level: string) =>
  (o: object, m?: string): void =>
    console.log(
      level,
      m,
      JSON.stringify(o, (_k, v: unknown) => (v instanceof Error ? v.message : v)),
    );
/** QUIVER_TEST_LOG=1 prints the nodes' warnings (what the appliers and heartbeats saw). */
const consoleLogger = {
  debug: () => undefined,
  info: say('info'),
  warn: say('warn'),
  error: say('error'),
};
const DIM = 8;

function vec(id: number): number[] {
  return Array.from({ length: DIM }, (_, d) => Math.sin(id * 0.7 + d * 1.3) + 1.1);
}

async function node(dir: string, servers: string): Promise<{ db: Quiver; cluster: ClusterNode }> {
  const db = await Quiver.open(dir);
  const cluster = await ClusterNode.start(db, {
    servers,
    logger: process.env['QUIVER_TEST_LOG'] === '1' ? consoleLogger : SILENT_LOGGER,
    fileSystem: new NodeFileSystem(),
  });
  return { db, cluster };
}

async function upsert(n: { db: Quiver; cluster: ClusterNode }, ids: number[]) {
  const op = n.db
    .collection('docs')
    .prepareUpsert(ids.map((id) => ({ id, vector: vec(id), payload: { id, even: id % 2 === 0 } })));
  return n.cluster.write('docs', op);
}

describe('cluster node on NATS JetStream', { skip, timeout: 120_000 }, () => {
  test('replication, read-your-writes, restart from the tail, leader failover', async (t) => {
    const nats = await startNatsCluster(t);
    // Removed by this test's own after-hook, once the databases are closed (tempDir(t)'s
    // hook would run first and pull the directories from under them).
    const dirA = tempDir(undefined);
    const dirB = tempDir(undefined);
    const a = await node(dirA, nats.servers);
    let b = await node(dirB, nats.servers);
    t.after(async () => {
      await a.cluster.close();
      await b.cluster.close();
      await a.db.close();
      await b.db.close();
      rmSync(dirA, { recursive: true, force: true });
      rmSync(dirB, { recursive: true, force: true });
    });

    await a.cluster.createCollection('docs', { dimension: DIM, metric: 'cosine' }, 3);
    await assert.rejects(
      a.cluster.createCollection('docs', { dimension: DIM }, 3),
      (e: Error & { code?: string }) => e.code === 'COLLECTION_EXISTS',
    );
    const first = Array.from({ length: 300 }, (_, i) => i);
    const token = await upsert(a, first);
    assert.equal(Object.keys(token).length, 3, 'the ids spread over all three shards');
    await b.cluster.waitFor('docs', token, 10_000);
    await a.cluster.waitFor('docs', token, 10_000);
    assert.equal(await b.db.collection('docs').count(), 300);
    const q = vec(7);
    const hitsA = await a.db.collection('docs').search(q, { k: 5, exact: true });
    const hitsB = await b.db.collection('docs').search(q, { k: 5, exact: true });
    assert.deepEqual(
      hitsB.map((h) => h.id),
      hitsA.map((h) => h.id),
    );

    // A filter is resolved where the request arrives and replicated as ids.
    const del = await a.cluster.write(
      'docs',
      a.db.collection('docs').prepareDeleteWhere({ even: true }),
    );
    const pay = await a.cluster.write(
      'docs',
      a.db.collection('docs').preparePayloadUpdate([1, 3], 'merge', { tag: 'x' }, []),
    );
    await b.cluster.waitFor('docs', del, 10_000);
    await b.cluster.waitFor('docs', pay, 10_000);
    assert.equal(await b.db.collection('docs').count(), 150);
    assert.deepEqual((await b.db.collection('docs').get(3))?.payload, {
      id: 3,
      even: false,
      tag: 'x',
    });

    // B refuses writes for a while (read-only): its appliers fail, keep their position,
    // and once writes are allowed again apply everything, in order, nothing skipped.
    b.db.setReadOnly(true);
    const refused = await upsert(a, [500, 501, 502, 503, 504, 505]);
    await new Promise((r) => setTimeout(r, 1_500));
    const stuck = b.cluster.shardStatus('docs');
    assert.ok(
      stuck.some((s) => s.error !== undefined && /read-only/.test(s.error)),
      `the failure is visible: ${JSON.stringify(stuck)}`,
    );
    assert.equal((await b.db.collection('docs').getMany([500, 501, 502])).length, 0);
    b.db.setReadOnly(false);
    await b.cluster.waitFor('docs', refused, 15_000);
    assert.equal((await b.db.collection('docs').getMany([500, 501, 502, 503, 504, 505])).length, 6);
    await a.cluster.write(
      'docs',
      a.db.collection('docs').prepareDelete([500, 501, 502, 503, 504, 505]),
    );
    await b.cluster.waitLatest('docs', 15_000);
    assert.equal(await b.db.collection('docs').count(), 150);

    // Restart B while A keeps writing: B resumes from where it stopped, not from 1.
    const before = b.cluster.shardStatus('docs').map((s) => s.applied);
    await b.cluster.close();
    await b.db.close();
    const whileDown = await upsert(a, [1000, 1001, 1002]);
    b = await node(dirB, nats.servers);
    const resumed = b.cluster.shardStatus('docs');
    assert.deepEqual(
      resumed.map((s) => s.from),
      before,
      'each shard resumed at the position it had applied before the restart',
    );
    assert.ok(before.every((seq) => seq > 0));
    await b.cluster.waitFor('docs', whileDown, 10_000);
    assert.equal(await b.db.collection('docs').count(), 153);

    // Kill the leader of shard 0's stream; writes retry through the election.
    const leader = await nats.waitStreamLeader(a.cluster.shardStatus('docs')[0]!.stream);
    await nats.kill(leader, 'SIGKILL');
    const acked: number[] = [];
    for (let i = 0; i < 5; i++) {
      const ids = Array.from({ length: 20 }, (_, j) => 2000 + i * 20 + j);
      const tok = await upsert(a, ids);
      acked.push(...ids);
      await b.cluster.waitFor('docs', tok, 30_000);
    }
    const got = await b.db.collection('docs').getMany(acked);
    assert.equal(got.length, acked.length, 'every acknowledged point is on the other node');
    await nats.restart(leader);
    assert.equal(b.cluster.lag, 0);

    // Dropped and made again (another dimension) while B is away: B rebuilds its copy from
    // the new definition's streams instead of keeping the old points or positions.
    await b.cluster.close();
    await b.db.close();
    await a.cluster.dropCollection('docs');
    await a.cluster.createCollection('docs', { dimension: DIM + 1, metric: 'dot' }, 2);
    const fresh = await a.cluster.write(
      'docs',
      a.db
        .collection('docs')
        .prepareUpsert([{ id: 1, vector: [...vec(1), 0.5], payload: { gen: 2 } }]),
    );
    b = await node(dirB, nats.servers);
    await b.cluster.waitFor('docs', fresh, 10_000);
    assert.equal(b.db.collection('docs').config.dimension, DIM + 1);
    assert.equal(await b.db.collection('docs').count(), 1);
    assert.deepEqual(
      b.cluster.shardStatus('docs').map((s) => s.from),
      [0, 0],
    );

    // A collection dropped while B is away is gone from B when it comes back.
    await a.cluster.createCollection('scratch', { dimension: 2 }, 1);
    await b.cluster.waitLatest('scratch', 10_000).catch(() => undefined);
    for (let i = 0; i < 100 && !b.cluster.hosts('scratch'); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(b.db.hasCollection('scratch'), true);
    await b.cluster.close();
    await b.db.close();
    await a.cluster.dropCollection('scratch');
    b = await node(dirB, nats.servers);
    assert.equal(b.db.hasCollection('scratch'), false);
    assert.equal(b.db.hasCollection('docs'), true);

    // A node whose metadata watch stopped delivering still follows the bucket: its
    // heartbeat compares the definitions and hosts what it missed.
    (a.cluster as unknown as { stopWatch: () => void }).stopWatch();
    await b.cluster.createCollection('late', { dimension: 2 }, 1);
    for (let i = 0; i < 200 && !a.cluster.hosts('late'); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(a.cluster.hosts('late'), true, 'A found "late" without its watch');

    // A node that failed to make its copy (here: read-only, so the local create is
    // refused) tries again at a heartbeat once it can, though the definition is unchanged.
    a.db.setReadOnly(true);
    await b.cluster.createCollection('retried', { dimension: 2 }, 1);
    for (let i = 0; i < 100 && !a.cluster.defines('retried'); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(a.cluster.hosts('retried'), false, 'a read-only node cannot make the copy');
    a.db.setReadOnly(false);
    for (let i = 0; i < 200 && !a.cluster.hosts('retried'); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(a.cluster.hosts('retried'), true, 'A made the copy at a later heartbeat');

    // A node whose directory already holds a local "docs" of its own (made before it
    // joined) neither overwrites nor serves it as the cluster's.
    const dirC = tempDir(undefined);
    const localDb = await Quiver.open(dirC);
    await (
      await localDb.createCollection('docs', { dimension: 2 })
    ).upsert([{ id: 9, vector: [1, 0] }]);
    const c = await ClusterNode.start(localDb, {
      servers: nats.servers,
      logger: SILENT_LOGGER,
      fileSystem: new NodeFileSystem(),
    });
    assert.equal(c.defines('docs'), true);
    assert.equal(c.hosts('docs'), false);
    assert.equal(await localDb.collection('docs').count(), 1);
    assert.equal(localDb.collection('docs').config.dimension, 2);
    await c.close();
    await localDb.close();
    rmSync(dirC, { recursive: true, force: true });
  });
});
