/**
 * `quiver serve --cluster` as users run it: two server processes on a real 3-server NATS
 * JetStream cluster, driven through the official Qdrant JS client and plain HTTP. A
 * collection created on one node appears on the other; points upserted on one are found
 * on the other with the write's session token or `consistency=majority`; /cluster,
 * /collections/{c}/cluster, /ready and /metrics describe the replication.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { QdrantClient } from '@qdrant/js-client-rest';
import { needsNatsServer, startNatsCluster } from '../helpers/nats-cluster.js';
import { tempDir } from '../helpers/temp-dir.js';
import { spawnServe } from '../server/server-helpers.js';
import { quiver } from '../helpers/cli-run.js';

const skip = needsNatsServer();
const DIM = 4;
const vec = (i: number): number[] => [Math.sin(i), Math.cos(i), Math.sin(i * 0.3), 1];

async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

describe('quiver serve --cluster', { skip, timeout: 120_000 }, () => {
  test('two nodes replicate through NATS: client writes on one, reads on the other', async (t) => {
    const nats = await startNatsCluster(t);
    const a = await spawnServe(t, ['--data', tempDir(t), '--cluster', nats.servers]);
    const b = await spawnServe(t, ['--data', tempDir(t), '--cluster', nats.servers]);
    t.after(async () => {
      await a.stop();
      await b.stop();
    });
    const ca = new QdrantClient({ url: a.url, checkCompatibility: false });
    const cb = new QdrantClient({ url: b.url, checkCompatibility: false });

    await ca.createCollection('docs', {
      vectors: { size: DIM, distance: 'Cosine' },
      shard_number: 2,
    });
    // B creates its copy when it sees the definition in the metadata bucket.
    for (let i = 0; i < 100 && !(await cb.collectionExists('docs')).exists; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await cb.collectionExists('docs')).exists, true);

    const points = Array.from({ length: 50 }, (_, i) => ({
      id: i + 1,
      vector: vec(i + 1),
      payload: { n: i + 1 },
    }));
    const done = await ca.upsert('docs', { wait: true, points });
    assert.equal(done.status, 'completed');

    // A raw write returns its session token; a read on B with it sees the write.
    const res = await fetch(`${a.url}/collections/docs/points/payload`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ payload: { tag: 'new' }, points: [7] }),
    });
    assert.equal(res.status, 200);
    const token = res.headers.get('quiver-session-token');
    assert.match(token ?? '', /^\d+:\d+(,\d+:\d+)*$/);
    assert.equal(
      ((await json(res))['result'] as Record<string, unknown>)['status'],
      'acknowledged',
    );
    const got = await fetch(`${b.url}/collections/docs/points/7`, {
      headers: { 'quiver-session-token': token! },
    });
    assert.deepEqual(((await json(got))['result'] as { payload: unknown }).payload, {
      n: 7,
      tag: 'new',
    });

    const count = await fetch(`${b.url}/collections/docs/points/count?consistency=majority`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ exact: true }),
    });
    assert.equal(((await json(count))['result'] as { count: number }).count, 50);
    const hits = await cb.search('docs', { vector: vec(9), limit: 3, consistency: 'majority' });
    assert.equal(hits[0]?.id, 9);

    // Deletes by filter are resolved on A and replicated as ids.
    await ca.delete('docs', {
      wait: true,
      filter: { must: [{ key: 'n', range: { gt: 40 } }] },
    });
    const after = await fetch(`${b.url}/collections/docs/points/count?consistency=all`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(((await json(after))['result'] as { count: number }).count, 40);

    const cluster = (await json(await fetch(`${a.url}/cluster`)))['result'] as Record<
      string,
      unknown
    >;
    assert.equal(cluster['status'], 'enabled');
    assert.equal(Object.keys(cluster['peers'] as object).length, 2, JSON.stringify(cluster));
    const shards = (await json(await fetch(`${b.url}/collections/docs/cluster`)))['result'] as {
      shard_count: number;
      local_shards: { points_count: number }[];
    };
    assert.equal(shards.shard_count, 2);
    assert.equal(
      shards.local_shards.reduce((s, x) => s + x.points_count, 0),
      40,
    );
    assert.equal((await fetch(`${b.url}/ready`)).status, 200);
    const metrics = await (await fetch(`${b.url}/metrics`)).text();
    assert.match(
      metrics,
      /quiver_replication_lag_records\{collection="docs",shard="0",node="[^"]+"\} 0/,
    );
    // Up or catching up depends on the moment of the last heartbeat; both nodes count.
    const nodeCount = [...metrics.matchAll(/^quiver_cluster_nodes\{state="\w+"\} (\d+)$/gm)];
    assert.equal(
      nodeCount.reduce((sum, m) => sum + Number(m[1]), 0),
      2,
    );

    // The operator's view, read from the NATS servers alone.
    const status = quiver(['cluster', 'status', '--nats', nats.servers, '--json']);
    assert.equal(status.code, 0, status.stderr);
    const report = JSON.parse(status.stdout) as {
      nodes: { id: string }[];
      collections: {
        name: string;
        shardReports: { lastSeq: number; leader?: string; nodes: { lag: number }[] }[];
      }[];
    };
    assert.equal(report.nodes.length, 2);
    const docs = report.collections.find((c) => c.name === 'docs');
    assert.equal(docs?.shardReports.length, 2);
    for (const s of docs.shardReports) {
      assert.ok(s.lastSeq > 0 && s.leader !== undefined, JSON.stringify(s));
      assert.equal(s.nodes.length, 2);
    }
    const table = quiver(['cluster', 'shards', '--nats', nats.servers]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^docs\s+0\s+QUIVER_docs_\w+_0\s+\d+/m);
    const nowhere = quiver(['cluster', 'nodes', '--nats', 'nats://127.0.0.1:1']);
    assert.equal(nowhere.code, 3);
    assert.match(nowhere.stderr, /cluster log failed connecting to nats:\/\/127\.0\.0\.1:1/);

    // A dropped collection goes from every node.
    await ca.deleteCollection('docs');
    for (let i = 0; i < 100 && (await cb.collectionExists('docs')).exists; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await cb.collectionExists('docs')).exists, false);
  });
});
