/**
 * Resharding against a real 3-server NATS JetStream cluster with three Quiver nodes in this
 * process. A collection resharded from 2 to 3 shards while a node keeps writing loses no
 * acknowledged write, refuses none (writes that meet the sealed streams wait and go to the
 * new ones), and ends on every node equal to a single-node oracle given the same writes;
 * the old streams are gone. A resharding stopped midway resumes to the same state, one to
 * another count is refused meanwhile, and one not yet sealed can be aborted (new streams
 * deleted, nodes' copies dropped). A collection with placement gets its new shards spread
 * over its nodes, each holding only its own shards' points.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, test } from 'node:test';
import { SILENT_LOGGER } from '../../src/common/logger.js';
import type { PointId, PointInput } from '../../src/index.js';
import { Quiver } from '../../src/index.js';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import { withCluster } from '../../src/cluster/cluster-connection.js';
import { abortReshard, reshard } from '../../src/cluster/resharding.js';
import { shardOf, streamName } from '../../src/cluster/shard-routing.js';
import { readShardStream } from '../../src/cluster/shard-stream-reader.js';
import { NodeFileSystem } from '../../src/storage/io/node-file-system.js';
import { needsNatsServer, startNatsCluster } from '../helpers/nats-cluster.js';
import { quiverAsync } from '../helpers/cli-run.js';
import { tempDir } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';

const skip = needsNatsServer();
const DIM = 8;

function vec(id: number): number[] {
  return Array.from({ length: DIM }, (_, d) => Math.sin(id * 1.3 + d * 0.7) + Math.cos(id * d));
}

interface Node {
  readonly db: Quiver;
  readonly cluster: ClusterNode;
  readonly dir: string;
}

/** Errors the nodes logged: printed with the test's results (a failure's first clue). */
const errors: string[] = [];

function reasonOf(o: object): string {
  const err = (o as { err?: unknown }).err;
  return err instanceof Error ? err.message : JSON.stringify(o);
}

async function startNode(servers: string, nodeId: string, dir = tempDir(undefined)): Promise<Node> {
  const db = await Quiver.open(dir);
  const cluster = await ClusterNode.start(db, {
    servers,
    nodeId,
    logger: { ...SILENT_LOGGER, error: (o, m) => errors.push(`${nodeId}: ${m} ${reasonOf(o)}`) },
    fileSystem: new NodeFileSystem(),
  });
  return { db, cluster, dir };
}

function points(from: number, n: number): PointInput[] {
  return Array.from({ length: n }, (_, j) => ({
    id: from + j,
    vector: vec(from + j),
    payload: { i: from + j, tag: (from + j) % 3 },
  }));
}

/** Every point of a collection, sorted by id: id, payload and vector. */
async function content(c: {
  ids(): Promise<PointId[]>;
  getMany(ids: PointId[], o: { withVector: boolean }): Promise<unknown[]>;
}): Promise<string> {
  const ids = (await c.ids()).sort((x, y) => Number(x) - Number(y));
  return JSON.stringify(await c.getMany(ids, { withVector: true }));
}

describe('resharding a cluster collection', { skip, timeout: 240_000 }, () => {
  test('2 → 3 shards under writes, stop and resume, abort, placement', async (t) => {
    const nodes: Node[] = [];
    const refDir = tempDir(undefined);
    const ref = await Quiver.open(refDir);
    t.after(async () => {
      for (const e of errors) t.diagnostic(`logged: ${e}`);
      for (const n of nodes) {
        await n.cluster.close().catch(() => undefined);
        await n.db.close().catch(() => undefined);
        rmSync(n.dir, { recursive: true, force: true });
      }
      await ref.close();
      rmSync(refDir, { recursive: true, force: true });
    });
    // After the nodes' teardown, so they close while the servers still answer (hooks run
    // in the order they were added).
    const nats = await startNatsCluster(t);
    for (const id of ['node-a', 'node-b', 'node-c']) nodes.push(await startNode(nats.servers, id));
    const [a, b] = nodes as [Node, Node, Node];
    let c = nodes[2]!;
    await until('every node to see three', () =>
      nodes.every((n) => n.cluster.stats().nodes.up + n.cluster.stats().nodes.catchingUp === 3),
    );
    const urls = [...nats.urls];

    // --- 2 → 3 shards while B writes (upserts, payload merges, deletes) -------------------
    await a.cluster.createCollection('docs', { dimension: DIM, metric: 'cosine' }, 2);
    await until('docs everywhere', () => nodes.every((n) => n.cluster.hosts('docs')));
    const oracle = await ref.createCollection('docs', { dimension: DIM, metric: 'cosine' });
    const write = async (op: 'upsert' | 'payload' | 'delete', arg: number) => {
      const local = b.db.collection('docs');
      if (op === 'upsert') {
        const ps = points(arg, 50);
        await b.cluster.write('docs', local.prepareUpsert(ps));
        await oracle.upsert(ps);
      } else if (op === 'payload') {
        const ids = [arg, arg + 7, arg + 13];
        await b.cluster.write('docs', local.preparePayloadUpdate(ids, 'merge', { seen: arg }, []));
        await oracle.setPayload(ids, { seen: arg });
      } else {
        const ids = [arg + 1, arg + 2];
        await b.cluster.write('docs', local.prepareDelete(ids));
        await oracle.delete(ids);
      }
    };
    for (let i = 0; i < 40; i++) await write('upsert', i * 50);
    let writing = true;
    let written = 0;
    const writer = (async () => {
      for (let i = 40; writing || i < 60; i++) {
        await write('upsert', i * 50);
        await write('payload', (i - 20) * 50);
        await write('delete', (i - 30) * 50);
        written++;
      }
    })();
    const before = a.cluster.definition('docs');
    const reshardStartedMs = Date.now();
    const windows: number[] = [];
    const result = await withCluster(urls, (meta, jsm, js) =>
      reshard(meta, jsm, js, 'docs', 3, { sealBelow: 100, onWindow: (n) => windows.push(n) }),
    );
    writing = false;
    await writer;
    t.diagnostic(
      `2 → 3: ${result.copied} operations copied in ${result.seconds} s while ${written} write rounds ran`,
    );
    assert.ok(written >= 20, `the writer kept going through the resharding (${written} rounds)`);
    assert.equal(result.from, 2);
    assert.equal(result.to, 3);
    assert.ok(result.copied >= 80, `copied ${result.copied} operations`);
    for (const n of nodes) {
      await until(`${n.cluster.id} to switch`, () => n.cluster.definition('docs').shards === 3);
    }
    const after = a.cluster.definition('docs');
    assert.notEqual(after.uid, before.uid);
    assert.equal(after.resharding, undefined);
    const want = await content(oracle);
    for (const n of nodes) {
      await n.cluster.waitLatest('docs', 20_000);
      assert.equal(await content(n.db.collection('docs')), want, `${n.cluster.id}'s copy`);
      assert.equal(await n.cluster.reads('docs').count(), await oracle.count());
      assert.deepEqual(
        n.cluster.shardStatus('docs').map((s) => s.shard),
        [0, 1, 2],
      );
    }
    // The old streams are deleted (once every node switched), and `previous` with them.
    await until('the old streams to go', async () =>
      withCluster(urls, async (meta, jsm) => {
        const names = new Set<string>();
        for await (const s of jsm.streams.list()) names.add(s.config.name);
        const def = await meta.collection('docs');
        return (
          def?.previous === undefined &&
          [0, 1].every(
            (s) => !names.has(streamName({ collection: 'docs', uid: before.uid, shard: s })),
          )
        );
      }),
    );
    // Copied operations keep the time they were first stored (a backup's --to-time reads it).
    await withCluster(urls, async (_meta, jsm, js) => {
      const first = readShardStream(
        js,
        jsm,
        { collection: 'docs', uid: after.uid, shard: 0 },
        1,
        1,
      );
      const m = (await first.next()).value as { timeMs: number } | undefined;
      await first.return(undefined); // deletes its consumer
      assert.ok(m !== undefined && m.timeMs < reshardStartedMs, `stored at ${m?.timeMs}`);
    });
    // Writes go on to the new shards.
    await write('upsert', 100_000);
    const token = await b.cluster.write('docs', b.db.collection('docs').prepareDelete([100_001]));
    await oracle.delete([100_001]);
    assert.ok(Object.keys(token).every((s) => Number(s) < 3));
    assert.equal(await c.cluster.reads('docs', { token }).count(), await oracle.count());

    // --- 1 → 4: stopped midway, another count refused, aborted, then stopped and resumed -
    await a.cluster.createCollection('two', { dimension: DIM, metric: 'euclid' }, 1);
    await until('two everywhere', () => nodes.every((n) => n.cluster.hosts('two')));
    const oracle2 = await ref.createCollection('two', { dimension: DIM, metric: 'euclid' });
    for (let i = 0; i < 200; i++) {
      const ps = points(i * 10, 10);
      await a.cluster.write('two', a.db.collection('two').prepareUpsert(ps));
      await oracle2.upsert(ps);
    }
    const stopAfter = (windowsToRun: number) => (n: number) => {
      if (n >= windowsToRun * 64) throw new Error('stopped by the test');
    };
    await assert.rejects(
      withCluster(urls, (meta, jsm, js) =>
        reshard(meta, jsm, js, 'two', 4, { sealBelow: 0, onWindow: stopAfter(1) }),
      ),
      /stopped by the test/,
    );
    const half = await withCluster(urls, (meta) => meta.collection('two'));
    await until('every node to build a copy of the new shards', () =>
      nodes.every((n) => n.cluster.reshardingCopy('two')?.uid === half?.resharding?.uid),
    );
    assert.equal(half?.resharding?.shards, 4);
    assert.equal(half?.resharding?.sealed, false);
    await assert.rejects(
      withCluster(urls, (meta, jsm, js) => reshard(meta, jsm, js, 'two', 5)),
      (e: Error & { code?: string }) =>
        e.code === 'INVALID_ARGUMENT' && /being resharded to 4/.test(e.message),
    );
    // One run at a time: while another run's lease is fresh, a second run and an abort
    // are refused; once it is stale (that run died), they go ahead.
    const lease = async (renewedAt: Date) =>
      withCluster(urls, async (meta) => {
        const { revision } = await meta.reshardProgress('two');
        const copied = { '0': 0 };
        const p = {
          uid: half.resharding!.uid,
          copied,
          owner: 'other-run',
          renewedAt: renewedAt.toISOString(),
        };
        assert.notEqual(await meta.saveReshardProgress('two', p, revision), undefined);
      });
    await lease(new Date());
    await assert.rejects(
      withCluster(urls, (meta, jsm, js) => reshard(meta, jsm, js, 'two', 4)),
      (e: Error & { code?: string }) => e.code === 'UNAVAILABLE' && /Another run/.test(e.message),
    );
    await assert.rejects(
      withCluster(urls, (meta, jsm) => abortReshard(meta, jsm, 'two')),
      /copying right now/,
    );
    await lease(new Date(Date.now() - 60_000));
    // Abort: the definition forgets it and the new streams are deleted.
    const aborted = await withCluster(urls, (meta, jsm) => abortReshard(meta, jsm, 'two'));
    await withCluster(urls, async (meta, jsm) => {
      assert.equal((await meta.collection('two'))?.resharding, undefined);
      const names = new Set<string>();
      for await (const s of jsm.streams.list()) names.add(s.config.name);
      for (let s = 0; s < 4; s++) {
        assert.ok(!names.has(streamName({ collection: 'two', uid: aborted.uid, shard: s })));
      }
    });
    await until('every node to drop its copy of the aborted resharding', () =>
      nodes.every((n) => n.cluster.reshardingCopy('two') === undefined),
    );
    // Stopped again (this time after the seal: its tail copy fails), then resumed.
    let sealedStop = true;
    await assert.rejects(
      withCluster(urls, (meta, jsm, js) =>
        reshard(meta, jsm, js, 'two', 4, {
          sealBelow: 0,
          onProgress: (m) => {
            if (sealedStop && /sealed/.test(m)) throw new Error('stopped after the seal');
          },
        }),
      ),
      /stopped after the seal/,
    );
    sealedStop = false;
    await assert.rejects(
      withCluster(urls, (meta, jsm) => abortReshard(meta, jsm, 'two')),
      (e: Error & { code?: string }) => e.code === 'INVALID_ARGUMENT' && /sealed/.test(e.message),
    );
    // Node C restarts meanwhile: the engine drops its staging copy at open, and the node
    // builds it again from the new streams' start.
    const cStaging = c.cluster.reshardingCopy('two');
    assert.notEqual(cStaging, undefined);
    await c.cluster.close();
    await c.db.close();
    c = await startNode(nats.servers, 'node-c', c.dir);
    nodes[2] = c;
    assert.equal(c.cluster.definition('two').resharding?.sealed, true);
    await until('C to build its copy again', () => c.cluster.reshardingCopy('two') !== undefined);
    // A write now waits for the switch, which the resumed run makes.
    const late = points(90_000, 10);
    const lateWrite = a.cluster.write('two', a.db.collection('two').prepareUpsert(late));
    await oracle2.upsert(late);
    const resumed = await withCluster(urls, (meta, jsm, js) => reshard(meta, jsm, js, 'two', 4));
    assert.equal(resumed.to, 4);
    await lateWrite;
    const want2 = await content(oracle2);
    for (const n of nodes) {
      await until(`${n.cluster.id} to switch two`, () => n.cluster.definition('two').shards === 4);
      await n.cluster.waitLatest('two', 20_000);
      assert.equal(await content(n.db.collection('two')), want2, `${n.cluster.id}'s copy of two`);
    }

    // --- a collection with placement: 2 → 3 shards spread over the nodes -----------------
    await a.cluster.createCollection('placed', { dimension: DIM, metric: 'dot' }, 2, 1);
    await until('placed everywhere', () => nodes.every((n) => n.cluster.hosts('placed')));
    const oracle3 = await ref.createCollection('placed', { dimension: DIM, metric: 'dot' });
    for (let i = 0; i < 10; i++) {
      const ps = points(i * 50, 50);
      await c.cluster.write('placed', c.db.collection('placed').prepareUpsert(ps));
      await oracle3.upsert(ps);
    }
    // Through the CLI, as an operator runs it.
    const cli = await quiverAsync([
      'cluster',
      'reshard',
      '--nats',
      nats.servers,
      '--collection',
      'placed',
      '--shards',
      '3',
    ]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stderr, /"placed" now has 3 shards \(was 2\)/);
    const status = await quiverAsync(['cluster', 'status', '--nats', nats.servers, '--json']);
    const placedDef = (
      JSON.parse(status.stdout) as { collections: { name: string; shards: number }[] }
    ).collections.find((x) => x.name === 'placed');
    assert.equal(placedDef?.shards, 3);
    for (const n of nodes) {
      await until(
        `${n.cluster.id} to switch placed`,
        () => n.cluster.definition('placed').shards === 3,
      );
    }
    const held = nodes.map((n) => n.cluster.shardStatus('placed').map((s) => s.shard));
    assert.deepEqual(held, [[0], [1], [2]], 'one new shard per node');
    for (const [i, n] of nodes.entries()) {
      await n.cluster.waitLatest('placed', 20_000);
      const ids = await n.db.collection('placed').ids();
      assert.ok(
        ids.length > 0 && ids.every((id) => shardOf(id, 3) === i),
        `${n.cluster.id} holds shard ${i} only`,
      );
      assert.equal(await n.cluster.reads('placed').count(), 500);
      const q = vec(12345);
      assert.deepEqual(
        (await n.cluster.reads('placed').search(q, { k: 10, exact: true, explain: true })).hits.map(
          (h) => h.id,
        ),
        (await oracle3.search(q, { k: 10, exact: true })).map((h) => h.id),
      );
    }
  });
});
