/**
 * The cluster under failure, as users run it: three `quiver serve --cluster` processes on
 * a real 3-server NATS cluster. A client streams 10 000 upserts through two nodes and
 * records each acknowledged batch; meanwhile the NATS server leading a shard stream is
 * SIGKILLed, then a Quiver node, and both come back. Nothing acknowledged is lost, no point
 * appears that was never sent, writes resume within 10 s (the longest gap is printed), and
 * the restarted node converges to the same points and payloads as the others. Then 1 000
 * write-then-read pairs on different nodes each see their write through the session token.
 * Cut off from two of the three NATS servers (SIGSTOP), a node refuses writes with
 * UNAVAILABLE, still reads, and after healing takes writes again with nothing lost — when
 * the NATS servers' copies of the stream agree. nats-server 2.9 sometimes splits them
 * (docs/CLUSTER.md, guarantees): the test then finds the split as `quiver cluster shards`
 * does, writes the points it names again as the runbook says, and checks the same.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { describe, test } from 'node:test';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import { ServerCopies, splitPoints } from '../../src/cluster/replica-agreement.js';
import { SILENT_LOGGER } from '../../src/common/logger.js';
import { Quiver } from '../../src/index.js';
import { NodeFileSystem } from '../../src/storage/io/node-file-system.js';
import { needsNatsServer, startNatsCluster } from '../helpers/nats-cluster.js';
import { tempDir } from '../helpers/temp-dir.js';
import type { ServeChild } from '../server/server-helpers.js';
import { spawnServe } from '../server/server-helpers.js';

const skip = needsNatsServer();
const DIM = 4;
const TOTAL = 10_000;
const BATCH = 50;
const vec = (i: number): number[] => [Math.sin(i), Math.cos(i), Math.sin(i * 0.1), 1];

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

/** Every point of `live` on the node at `url`: id → hash of its payload. */
async function pointsOn(url: string): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  let offset: number | null = null;
  do {
    const res = await post(`${url}/collections/live/points/scroll?consistency=all`, {
      limit: 2_000,
      with_payload: true,
      ...(offset === null ? {} : { offset }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const page = (
      (await res.json()) as {
        result: { points: { id: number; payload: unknown }[]; next_page_offset: number | null };
      }
    ).result;
    for (const p of page.points) {
      out.set(p.id, createHash('sha256').update(JSON.stringify(p.payload)).digest('hex'));
    }
    offset = page.next_page_offset;
  } while (offset !== null);
  return out;
}

describe('cluster failover', { skip, timeout: 240_000 }, () => {
  test('10 000 acknowledged upserts through a stream leader kill and a node kill: nothing lost', async (t) => {
    const nats = await startNatsCluster(t);
    const dirs = [tempDir(t), tempDir(t), tempDir(t)];
    const start = (i: number): Promise<ServeChild> =>
      spawnServe(t, [
        '--data',
        dirs[i]!,
        '--cluster',
        nats.servers,
        '--cluster-node-id',
        `node-${i}`,
      ]);
    const nodes = [await start(0), await start(1), await start(2)];
    const create = await fetch(`${nodes[0]!.url}/collections/live`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ vectors: { size: DIM, distance: 'Cosine' }, shard_number: 2 }),
    });
    assert.equal(create.status, 200, await create.clone().text());
    for (const n of nodes) {
      let exists = false;
      for (let i = 0; i < 300 && !exists; i++) {
        const r = (await (await fetch(`${n.url}/collections/live/exists`)).json()) as {
          result?: { exists: boolean };
        };
        exists = r.result?.exists === true;
        if (!exists) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(exists, `${n.url} has the collection`);
    }
    const info = (await (await fetch(`${nodes[0]!.url}/cluster`)).json()) as {
      result: { quiver: { collections: { name: string; shard_status: { stream: string }[] }[] } };
    };
    const stream = info.result.quiver.collections.find((c) => c.name === 'live')!.shard_status[0]!
      .stream;

    // The writer: batches through node-0 and node-2 in turn (node-1 is the one killed).
    const acked = new Set<number>();
    const attempted = new Set<number>();
    let failures = 0;
    const failed: string[] = [];
    let lastAck = Date.now();
    let longestGap = 0;
    const events: Promise<void>[] = [];
    let leaderKilled = false;
    let nodeKilled = false;
    for (let b = 0; b < TOTAL / BATCH; b++) {
      const ids = Array.from({ length: BATCH }, (_, j) => b * BATCH + j);
      for (const id of ids) attempted.add(id);
      const via = nodes[b % 2 === 0 ? 0 : 2]!;
      const res = await fetch(`${via.url}/collections/live/points`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          points: ids.map((id) => ({ id, vector: vec(id), payload: { id, batch: b } })),
        }),
      }).catch((e: unknown) => e as Error);
      if (!(res instanceof Error) && res.status === 200) {
        for (const id of ids) acked.add(id);
        longestGap = Math.max(longestGap, Date.now() - lastAck);
        lastAck = Date.now();
      } else {
        failures++;
        const why = res instanceof Error ? res.message : `${res.status} ${await res.text()}`;
        if (failed.length < 5) failed.push(`batch ${b} via ${via.url}: ${why}`);
      }
      if (!leaderKilled && acked.size >= 2_000) {
        leaderKilled = true;
        const leader = await nats.waitStreamLeader(stream);
        await nats.kill(leader, 'SIGKILL');
        events.push(
          (async () => {
            await new Promise((r) => setTimeout(r, 3_000));
            await nats.restart(leader);
          })(),
        );
      }
      if (!nodeKilled && acked.size >= 5_000) {
        nodeKilled = true;
        nodes[1]!.child.kill('SIGKILL');
        await new Promise((r) => nodes[1]!.child.once('exit', r));
      }
    }
    await Promise.all(events);
    nodes[1] = await start(1);
    console.log(
      `[failover] acknowledged ${acked.size}/${TOTAL} points, ${failures} batches failed, longest gap between acknowledgements ${longestGap} ms`,
    );
    assert.ok(longestGap < 10_000, `writes resumed within 10 s (gap ${longestGap} ms)`);
    assert.ok(
      acked.size >= TOTAL * 0.9,
      `most batches acknowledged: ${acked.size}; failures: ${failed.join(' | ')}`,
    );

    const views = [];
    for (const n of nodes) views.push(await pointsOn(n.url));
    for (const id of acked) assert.ok(views[0]!.has(id), `acknowledged point ${id} is stored`);
    for (const id of views[0]!.keys()) assert.ok(attempted.has(id), `no phantom: ${id}`);
    for (const [i, view] of views.entries()) {
      assert.equal(view.size, views[0]!.size, `node-${i} holds as many points`);
      for (const [id, hash] of views[0]!) assert.equal(view.get(id), hash, `node-${i} point ${id}`);
    }

    // Read-your-writes across nodes: each read carries the write's session token.
    for (let i = 0; i < 1_000; i++) {
      const writer = nodes[i % 3]!;
      const reader = nodes[(i + 1) % 3]!;
      const id = 100_000 + i;
      const w = await fetch(`${writer.url}/collections/live/points`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ points: [{ id, vector: vec(id), payload: { pair: i } }] }),
      });
      assert.equal(w.status, 200);
      const token = w.headers.get('quiver-session-token')!;
      const r = await fetch(`${reader.url}/collections/live/points/${id}`, {
        headers: { 'quiver-session-token': token },
      });
      assert.equal(r.status, 200, `pair ${i}: ${await r.clone().text()}`);
      const got = ((await r.json()) as { result: { payload: { pair: number } } }).result;
      assert.equal(got.payload.pair, i);
    }
  });
});

describe('cluster partition', { skip, timeout: 120_000 }, () => {
  test('a node on the minority side refuses writes with UNAVAILABLE; nothing acknowledged is lost after healing', async (t) => {
    const nats = await startNatsCluster(t);
    const dir = tempDir(undefined);
    const db = await Quiver.open(dir);
    // Connected to server 0 only: the side left alone when 1 and 2 are cut off.
    const node = await ClusterNode.start(db, {
      servers: nats.urls[0]!,
      replicas: 3,
      logger: SILENT_LOGGER,
      fileSystem: new NodeFileSystem(),
      copiesLookEveryMs: 500,
    });
    t.after(async () => {
      nats.resume(1);
      nats.resume(2);
      await node.close();
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    });
    await node.createCollection('p', { dimension: DIM }, 1);
    // The stream's leader on the side cut off: the case where a write can wait on a leader
    // that has lost its quorum (and where nats-server has been seen to split its copies).
    await nats.moveStreamLeader(node.shardStatus('p')[0]!.stream, 0);
    const upsert = (ids: number[]) =>
      node.write('p', db.collection('p').prepareUpsert(ids.map((id) => ({ id, vector: vec(id) }))));
    const before = Array.from({ length: 100 }, (_, i) => i);
    await node.waitFor('p', await upsert(before), 10_000);

    await nats.pause(1);
    await nats.pause(2);
    const t0 = Date.now();
    await assert.rejects(
      upsert([1_000]),
      (e: Error & { code?: string }) => e.code === 'UNAVAILABLE',
    );
    console.log(`[partition] the minority side refused a write after ${Date.now() - t0} ms`);
    // Reads go on from what this node applied.
    assert.equal(await db.collection('p').count(), 100);

    nats.resume(1);
    nats.resume(2);
    let healed: Awaited<ReturnType<typeof upsert>> | undefined;
    const t1 = Date.now();
    while (healed === undefined) {
      healed = await upsert([2_000]).catch((e: unknown) => {
        if (Date.now() - t1 > 60_000) throw e;
        return undefined;
      });
    }
    console.log(`[partition] writes accepted again ${Date.now() - t1} ms after healing`);
    await node.waitFor('p', healed, 30_000);
    let ids = new Set(await db.collection('p').ids());
    const shard = node.shardStatus('p')[0]!;
    const copies = await ServerCopies.open(nats.urls);
    let agreement = await copies.compare(shard.stream, shard.streamLast);
    // A copy still catching up stops the comparison short of the end: ask again.
    for (
      let i = 0;
      i < 50 && agreement.diverged === undefined && agreement.to < shard.streamLast;
      i++
    ) {
      await new Promise((r) => setTimeout(r, 200));
      agreement = await copies.compare(shard.stream, shard.streamLast);
    }
    await copies.close();
    const state = (): string =>
      `${ids.size} ids, 1000 ${ids.has(1_000) ? 'applied' : 'not applied'}; the write's token ${JSON.stringify(healed)}; shard ${JSON.stringify(shard)}; copies ${JSON.stringify(agreement)}`;
    console.log(`[partition] ${state()}`);
    assert.equal(agreement.servers.length, 3, 'every server was asked');
    if (agreement.diverged !== undefined) {
      // nats-server's own split (docs/CLUSTER.md, guarantees): its copies differ at one
      // sequence, so what this node applied there depends on the copy its consumer read.
      // The runbook's answer: the client writes the points of the differing messages again.
      const points = splitPoints(agreement.diverged);
      console.log(`[partition] the NATS servers split; writing points ${points.join(', ')} again`);
      // The node's own watch finds it too (and names the same points).
      let seen = node.shardStatus('p')[0]!.copiesSplit;
      for (let i = 0; i < 150 && seen === undefined; i++) {
        await new Promise((r) => setTimeout(r, 100));
        seen = node.shardStatus('p')[0]!.copiesSplit;
      }
      assert.deepEqual(
        [...(seen?.points ?? [])].sort(),
        [...points].sort(),
        `the watch: ${JSON.stringify(seen)}`,
      );
      await node.waitFor('p', await upsert(points.map(Number)), 30_000);
      ids = new Set(await db.collection('p').ids());
    } else {
      await new Promise((r) => setTimeout(r, 2_000)); // a few looks of the node's watch
      assert.equal(node.shardStatus('p')[0]!.copiesSplits, 0, 'the watch found no split');
    }
    for (const id of [...before, 2_000])
      assert.ok(ids.has(id), `acknowledged ${id} is there: ${state()}`);
    assert.ok(ids.size === 101 || (ids.size === 102 && ids.has(1_000)), `ids: ${state()}`);
  });
});
