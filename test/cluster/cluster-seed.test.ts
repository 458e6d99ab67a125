/**
 * Rebuilding a replica from a peer's copy plus the stream's tail, against a real 3-server
 * NATS JetStream cluster with Quiver nodes in this process. A node joining a collection
 * whose shards' streams are long copies the points from a peer (not the whole stream)
 * while writes go on, and ends equal to the peer; so does a node whose data directory was
 * lost and that restarts under its old name. The copy keeps cosine vectors bit for bit
 * and payloads that merges grew past the receiving node's size limit. Below the threshold
 * a replica replays the stream as before.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, test } from 'node:test';
import { SILENT_LOGGER } from '../../src/common/logger.js';
import type { PointId } from '../../src/index.js';
import { Quiver } from '../../src/index.js';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import { NodeFileSystem } from '../../src/storage/io/node-file-system.js';
import { needsNatsServer, startNatsCluster } from '../helpers/nats-cluster.js';
import { tempDir } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';

const skip = needsNatsServer();
const DIM = 8;

function vec(id: number, round: number): number[] {
  return Array.from({ length: DIM }, (_, d) => Math.sin(id * 1.1 + d * 0.3 + round));
}

interface Node {
  readonly db: Quiver;
  readonly cluster: ClusterNode;
  readonly dir: string;
}

async function startNode(
  servers: string,
  nodeId: string,
  dir = tempDir(undefined),
  maxPayloadBytes?: number,
) {
  const db = await Quiver.open(dir, maxPayloadBytes === undefined ? {} : { maxPayloadBytes });
  const cluster = await ClusterNode.start(db, {
    servers,
    nodeId,
    logger: SILENT_LOGGER,
    fileSystem: new NodeFileSystem(),
    seedAboveOps: 100,
  });
  return { db, cluster, dir };
}

async function content(db: Quiver, name: string): Promise<string> {
  const c = db.collection(name);
  const ids = (await c.ids()).sort((x: PointId, y: PointId) => Number(x) - Number(y));
  return JSON.stringify(await c.getMany(ids, { withVector: true }));
}

describe('seeding a replica from a peer', { skip, timeout: 180_000 }, () => {
  test('a joining node and a node that lost its data copy a peer, then the tail', async (t) => {
    const nodes: Node[] = [];
    t.after(async () => {
      for (const n of nodes) {
        await n.cluster.close().catch(() => undefined);
        await n.db.close().catch(() => undefined);
        rmSync(n.dir, { recursive: true, force: true });
      }
    });
    const nats = await startNatsCluster(t); // after the nodes' teardown: hooks run in order
    const a = await startNode(nats.servers, 'node-a');
    nodes.push(a);
    await a.cluster.createCollection('docs', { dimension: DIM, metric: 'cosine' }, 2);
    await a.cluster.createCollection('small', { dimension: DIM, metric: 'euclid' }, 1);
    // A long history over few points: 300 upserts rewriting 100 ids, payload merges, deletes.
    const local = a.db.collection('docs');
    let round = 0;
    const writeRound = async () => {
      round++;
      const ids = Array.from({ length: 20 }, (_, j) => (round * 7 + j) % 100);
      await a.cluster.write(
        'docs',
        local.prepareUpsert(ids.map((id) => ({ id, vector: vec(id, round), payload: { round } }))),
      );
      await a.cluster.write(
        'docs',
        local.preparePayloadUpdate([ids[0]!], 'merge', { hot: round }, []),
      );
      // Point 1000 grows by merges past the 512-byte limit B is opened with.
      await a.cluster.write(
        'docs',
        local.preparePayloadUpdate([1000], 'merge', { [`key${round}`]: round }, []),
      );
      await a.cluster.write('docs', local.prepareDelete([(round * 13) % 100]));
    };
    await a.cluster.write('docs', local.prepareUpsert([{ id: 1000, vector: vec(1000, 0) }]));
    for (let i = 0; i < 120; i++) await writeRound();
    await a.cluster.write(
      'small',
      a.db.collection('small').prepareUpsert([{ id: 1, vector: vec(1, 0) }]),
    );

    // B joins while A keeps writing: it copies A's points, then reads the tail.
    let writing = true;
    const writer = (async () => {
      while (writing) await writeRound();
    })();
    const b = await startNode(nats.servers, 'node-b', undefined, 512);
    nodes.push(b);
    await until('B to catch up', () =>
      b.cluster.shardStatus('docs').every((s) => s.seeded !== undefined && s.lag === 0),
    );
    writing = false;
    await writer;
    const seeded = b.cluster.shardStatus('docs');
    for (const s of seeded) {
      assert.ok(s.seeded! > 100, `shard ${s.shard} seeded to ${s.seeded}`);
      assert.equal(s.from, 0);
    }
    assert.equal(b.cluster.shardStatus('small')[0]?.seeded, undefined, 'a short stream replays');
    await a.cluster.waitLatest('docs', 20_000);
    await b.cluster.waitLatest('docs', 20_000);
    assert.equal(await content(b.db, 'docs'), await content(a.db, 'docs'));
    const grown = JSON.stringify((await b.db.collection('docs').get(1000))?.payload).length;
    assert.ok(grown > 512, `point 1000's payload is ${grown} bytes`);
    assert.equal(await content(b.db, 'small'), await content(a.db, 'small'));

    // B loses its data directory and restarts under its name: it copies A again.
    await b.cluster.close();
    await b.db.close();
    rmSync(b.dir, { recursive: true, force: true });
    for (let i = 0; i < 10; i++) await writeRound();
    const b2 = await startNode(nats.servers, 'node-b', b.dir, 512);
    nodes[1] = b2;
    await until('B to be seeded again', () =>
      b2.cluster.shardStatus('docs').every((s) => s.seeded !== undefined),
    );
    await b2.cluster.waitLatest('docs', 20_000);
    await a.cluster.waitLatest('docs', 20_000);
    assert.equal(await content(b2.db, 'docs'), await content(a.db, 'docs'));
  });
});
