/**
 * `quiver serve --cluster` as users run it: two server processes on a real 3-server NATS
 * JetStream cluster, driven through the official Qdrant JS client and plain HTTP. A
 * collection created on one node appears on the other; points upserted on one are found
 * on the other with the write's session token or `consistency=majority`; /cluster,
 * /collections/{c}/cluster, /ready and /metrics describe the replication; a sync job on
 * one node fills a cluster collection the other reads, and a doctor job there passes it.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { QdrantClient } from '@qdrant/js-client-rest';
import { connect } from 'nats';
import { ClusterMeta } from '../../src/cluster/cluster-meta.js';
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
    // A folder of documents both nodes may sync from (jobs near the end).
    const folder = tempDir(t, 'quiver-cluster-docs-');
    for (let i = 0; i < 5; i++) {
      writeFileSync(
        join(folder, `d${i}.md`),
        `# Doc ${i}\n\n## Part\n\nText ${i} about topic ${i * 7}.\n`,
      );
    }
    const serve = ['--cluster', nats.servers, '--sync-roots', folder];
    const a = await spawnServe(t, ['--data', tempDir(t), ...serve]);
    const b = await spawnServe(t, ['--data', tempDir(t), ...serve]);
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
    assert.match(metrics, /quiver_shard_replicas\{collection="docs",shard="1",state="active"\} 2/);
    assert.match(metrics, /quiver_shard_copies_splits_total\{collection="docs",shard="0"\} 0/);
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
        shardReports: {
          lastSeq: number;
          leader?: string;
          nodes: { lag: number }[];
          agreement?: { from: number; to: number; servers: string[]; diverged?: unknown };
        }[];
      }[];
    };
    assert.equal(report.nodes.length, 2);
    const docs = report.collections.find((c) => c.name === 'docs');
    assert.equal(docs?.shardReports.length, 2);
    for (const s of docs.shardReports) {
      assert.ok(s.lastSeq > 0 && s.leader !== undefined, JSON.stringify(s));
      assert.equal(s.nodes.length, 2);
      // Each of the three servers' copies read, through the one URL's advertised peers too.
      assert.equal(s.agreement?.servers.length, 3, JSON.stringify(s));
      assert.equal(s.agreement.to, s.lastSeq);
      assert.equal(s.agreement.diverged, undefined, JSON.stringify(s));
    }
    const table = quiver(['cluster', 'shards', '--nats', nats.urls[0]!]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^docs\s+0\s+QUIVER_docs_\w+_0\s+\d+.* agree \(3\) /m);
    const nowhere = quiver(['cluster', 'nodes', '--nats', 'nats://127.0.0.1:1']);
    assert.equal(nowhere.code, 3);
    assert.match(nowhere.stderr, /cluster log failed connecting to nats:\/\/127\.0\.0\.1:1/);

    // A collection with one replica per shard: each node holds one, every read fans out.
    await ca.createCollection('spread', {
      vectors: { size: DIM, distance: 'Cosine' },
      shard_number: 2,
      replication_factor: 1,
    });
    for (let i = 0; i < 100 && !(await cb.collectionExists('spread')).exists; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    await ca.upsert('spread', { wait: true, points });
    const countOn = async (url: string): Promise<number> => {
      const r = await fetch(`${url}/collections/spread/points/count?consistency=majority`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      return ((await json(r))['result'] as { count: number }).count;
    };
    assert.equal(await countOn(b.url), 50);
    const scrolled: unknown[] = [];
    let offset: string | number | null = null;
    do {
      const page = await cb.scroll('spread', { limit: 7, offset, consistency: 'majority' });
      scrolled.push(...page.points.map((p) => p.id));
      offset = (page.next_page_offset as number | null | undefined) ?? null;
    } while (offset !== null);
    assert.deepEqual(
      scrolled,
      points.map((p) => p.id),
    );
    assert.equal((await cb.search('spread', { vector: vec(33), limit: 1 }))[0]?.id, 33);
    type ShardView = {
      peer_id: number;
      local_shards: { shard_id: number }[];
      remote_shards: { shard_id: number; peer_id: number }[];
      shard_transfers: unknown[];
    };
    const viewOf = async (url: string): Promise<ShardView> =>
      (await json(await fetch(`${url}/collections/spread/cluster`)))['result'] as ShardView;
    const before = await viewOf(a.url);
    assert.equal(before.local_shards.length, 1, JSON.stringify(before));
    assert.equal(before.remote_shards.length, 1);
    // Qdrant's move_shard, by peer ids: B's shard goes to A.
    const moved = await fetch(`${a.url}/collections/spread/cluster`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        move_shard: {
          shard_id: before.remote_shards[0]!.shard_id,
          from_peer_id: before.remote_shards[0]!.peer_id,
          to_peer_id: before.peer_id,
        },
      }),
    });
    assert.equal(moved.status, 200, await moved.clone().text());
    assert.equal((await json(moved))['result'], true);
    let view = await viewOf(a.url);
    for (
      let i = 0;
      i < 200 && (view.local_shards.length < 2 || view.remote_shards.length > 0);
      i++
    ) {
      await new Promise((r) => setTimeout(r, 100));
      view = await viewOf(a.url);
    }
    assert.deepEqual(view.local_shards.map((s) => s.shard_id).sort(), [0, 1]);
    assert.deepEqual(view.shard_transfers, []);
    assert.equal(await countOn(b.url), 50, 'B holds nothing now and reads from A');
    // And back with the CLI, by node names.
    const bName = (
      (await json(await fetch(`${b.url}/cluster`)))['result'] as {
        quiver: { node: string };
      }
    ).quiver.node;
    const aName = (cluster['quiver'] as { node: string }).node;
    const back = quiver([
      'cluster',
      'move-shard',
      '--nats',
      nats.servers,
      '--collection',
      'spread',
      '--shard',
      String(before.remote_shards[0]!.shard_id),
      '--from',
      aName,
      '--to',
      bName,
    ]);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stderr, /moved from/);
    assert.equal((await viewOf(b.url)).local_shards.length, 1);
    assert.equal(await countOn(a.url), 50);
    const refused = await fetch(`${a.url}/collections/spread/cluster`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ drop_replica: { shard_id: 0, peer_id: aName } }),
    });
    assert.equal(refused.status, 400, await refused.clone().text());
    assert.match(await refused.text(), /without an active replica|holds no replica/);

    // Qdrant's start_resharding: one shard more, from node B, in the background.
    const operate = (url: string, body: unknown) =>
      fetch(`${url}/collections/spread/cluster`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const noneToAbort = await operate(a.url, { abort_resharding: {} });
    assert.equal(noneToAbort.status, 400, await noneToAbort.clone().text());
    assert.match(await noneToAbort.text(), /not being resharded/);
    const started = await operate(b.url, { start_resharding: { direction: 'up' } });
    assert.equal(started.status, 200, await started.clone().text());
    type ReshardView = ShardView & { shard_count: number; resharding_operations?: unknown[] };
    // While a node swaps its copy in, its view may answer an error (no result): ask again.
    let resharded = (await viewOf(a.url)) as ReshardView | undefined;
    for (let i = 0; i < 300 && resharded?.shard_count !== 3; i++) {
      await new Promise((r) => setTimeout(r, 100));
      resharded = (await viewOf(a.url)) as ReshardView | undefined;
    }
    assert.equal(resharded?.shard_count, 3, JSON.stringify(resharded));
    assert.equal(resharded.resharding_operations, undefined);
    // Reads of shards on a node that has not swapped its copy in yet answer 503 for that
    // moment (docs/CLUSTER.md): wait until B has switched too.
    // (B's view itself may answer an error while it swaps: keep asking.)
    for (
      let i = 0;
      i < 300 && ((await viewOf(b.url)) as ReshardView | undefined)?.shard_count !== 3;
      i++
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await countOn(a.url), 50);
    assert.equal(await countOn(b.url), 50);
    const again: unknown[] = [];
    offset = null;
    do {
      const page = await ca.scroll('spread', { limit: 9, offset, consistency: 'majority' });
      again.push(...page.points.map((p) => p.id));
      offset = (page.next_page_offset as number | null | undefined) ?? null;
    } while (offset !== null);
    assert.deepEqual(
      again,
      points.map((p) => p.id),
    );
    const badDirection = await operate(a.url, { start_resharding: { direction: 'sideways' } });
    assert.equal(badDirection.status, 400);

    // A sync job on A fills a cluster collection that B reads; a doctor job on B passes it.
    const job = async (url: string, path: string, body: unknown) => {
      const started = await fetch(`${url}/collections/kb/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(started.status, 202, await started.clone().text());
      const status = ((await json(started))['result'] as { status_url: string }).status_url;
      for (let i = 0; i < 300; i++) {
        const j = (await json(await fetch(`${url}${status}`)))['result'] as {
          state: string;
          report?: Record<string, unknown>;
          error?: unknown;
        };
        if (j.state !== 'running') {
          assert.equal(j.state, 'done', JSON.stringify(j));
          return j.report!;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.fail(`the ${path} job did not finish`);
    };
    // One job a collection in the whole cluster: while a job elsewhere holds the
    // collection's lease (taken here as a third party would), a job is refused with 409.
    const nc = await connect({ servers: nats.servers });
    t.after(() => nc.close());
    const meta = await ClusterMeta.bind(nc.jetstream());
    const ghost = { node: 'ghost', job: 'j', kind: 'sync', until: Date.now() + 60_000 };
    const lease = await meta.takeJobLease('kb', ghost);
    assert.ok('revision' in lease);
    const busy = await fetch(`${a.url}/collections/kb/sync`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ source: folder }),
    });
    assert.equal(busy.status, 409, await busy.clone().text());
    const busyError = ((await json(busy))['status'] as { error: string }).error;
    assert.match(busyError, /a sync job \(j\) on node ghost is running on "kb"/);
    await meta.releaseJobLease('kb', lease.revision);
    // A dry run makes no collection: its job's status is read all the same.
    const plan = (await job(a.url, 'sync', { source: folder, dry_run: true })) as {
      dryRun: boolean;
      chunks: { toEmbed: number };
    };
    assert.equal(plan.dryRun, true);
    assert.ok(plan.chunks.toEmbed >= 5, JSON.stringify(plan));
    assert.equal((await ca.collectionExists('kb')).exists, false);
    const synced = (await job(a.url, 'sync', { source: folder })) as {
      chunks: { embedded: number; total: number };
    };
    assert.ok(synced.chunks.total >= 5, JSON.stringify(synced));
    assert.equal(synced.chunks.embedded, synced.chunks.total);
    const kbCount = await fetch(`${b.url}/collections/kb/points/count?consistency=majority`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(((await json(kbCount))['result'] as { count: number }).count, synced.chunks.total);
    const doctor = (await job(b.url, 'doctor', { source: folder })) as {
      findings: { kind: string; status: string }[];
    };
    assert.deepEqual(
      doctor.findings.filter((f) => f.status === 'FAIL'),
      [],
      JSON.stringify(doctor),
    );

    // A dropped collection goes from every node.
    await ca.deleteCollection('docs');
    for (let i = 0; i < 100 && (await cb.collectionExists('docs')).exists; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await cb.collectionExists('docs')).exists, false);
  });
});
