/**
 * Custom sharding (Qdrant's shard keys) as users run it: two `quiver serve --cluster`
 * processes on a real 3-server NATS JetStream cluster, driven through the official Qdrant
 * JS client. A custom collection with two keys spread over both nodes answers search,
 * query, count, scroll and retrieve with and without `shard_key` exactly as an oracle of
 * the points written under each key; writes without a key, unknown keys and keys on an
 * auto collection are refused with Qdrant's statuses; dropping a key drops its points.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { QdrantClient } from '@qdrant/js-client-rest';
import { needsNatsServer, startNatsCluster } from '../helpers/nats-cluster.js';
import { tempDir } from '../helpers/temp-dir.js';
import { spawnServe } from '../server/server-helpers.js';

const skip = needsNatsServer();
const DIM = 4;
const vec = (i: number): number[] => [Math.sin(i), Math.cos(i * 1.3), Math.sin(i * 0.7), 0.5];

type Key = string | number;
interface Stored {
  readonly id: number;
  readonly vector: number[];
  payload: Record<string, unknown>;
  readonly key: Key;
}

function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

/** The ids an exact search over `points` finds first. */
function topIds(points: readonly Stored[], q: readonly number[], k: number): number[] {
  return [...points]
    .sort((x, y) => cosine(y.vector, q) - cosine(x.vector, q) || x.id - y.id)
    .slice(0, k)
    .map((p) => p.id);
}

/** The status of the ApiError a client call fails with. */
async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
  } catch (e) {
    return (e as { status: number }).status;
  }
  return 200;
}

describe('custom sharding (shard keys) in a cluster', { skip, timeout: 120_000 }, () => {
  test('keys route writes and narrow reads; errors as Qdrant answers them', async (t) => {
    const started = Date.now();
    const nats = await startNatsCluster(t);
    const a = await spawnServe(t, ['--data', tempDir(t), '--cluster', nats.servers]);
    const b = await spawnServe(t, ['--data', tempDir(t), '--cluster', nats.servers]);
    t.after(async () => {
      await a.stop();
      await b.stop();
    });
    const ca = new QdrantClient({ url: a.url, checkCompatibility: false });
    const cb = new QdrantClient({ url: b.url, checkCompatibility: false });
    // Both nodes in the registry, so one replica per shard spreads each key over both.
    for (let i = 0; i < 100; i++) {
      const status = (await (await fetch(`${a.url}/cluster`)).json()) as {
        result: { peers?: object };
      };
      if (Object.keys(status.result.peers ?? {}).length === 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }

    await ca.createCollection('tenants', {
      vectors: { size: DIM, distance: 'Cosine' },
      shard_number: 2,
      sharding_method: 'custom',
      replication_factor: 1,
    });
    const info = await ca.getCollection('tenants');
    assert.equal(info.config.params.sharding_method, 'custom');
    assert.equal(info.config.params.shard_number, 2);

    assert.equal(await ca.createShardKey('tenants', { shard_key: 'alpha' }), true);
    for (let i = 0; i < 100 && !(await cb.collectionExists('tenants')).exists; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await cb.createShardKey('tenants', { shard_key: 7, shards_number: 3 }), true);
    // At once through the other node, which may not follow the new key yet: it waits for it.
    assert.equal((await ca.count('tenants', { shard_key: 7, exact: true })).count, 0);
    // A key that exists: Qdrant's 400 ("Shard key ... already exists").
    assert.equal(await statusOf(ca.createShardKey('tenants', { shard_key: 'alpha' })), 400);

    // Each node holds shards of both keys in one local copy (replication 1 over 2 nodes).
    const layout = (await (await fetch(`${a.url}/collections/tenants/cluster`)).json()) as {
      result: Record<string, unknown>;
    };
    const shards = [
      ...(layout.result['local_shards'] as { shard_key?: Key }[]),
      ...(layout.result['remote_shards'] as { shard_key?: Key }[]),
    ];
    assert.equal(shards.filter((s) => s.shard_key === 'alpha').length, 2);
    assert.equal(shards.filter((s) => s.shard_key === 7).length, 3);
    assert.ok((layout.result['local_shards'] as unknown[]).length > 0);
    assert.ok((layout.result['remote_shards'] as unknown[]).length > 0);

    const oracle = new Map<number, Stored>();
    const write = (key: Key, ids: number[]): Stored[] =>
      ids.map((id) => {
        const p = { id, vector: vec(id), payload: { n: id, even: id % 2 === 0 }, key };
        oracle.set(id, p);
        return p;
      });
    const alpha = write(
      'alpha',
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    const seven = write(
      7,
      Array.from({ length: 30 }, (_, i) => i + 101),
    );
    const strip = (p: Stored) => ({ id: p.id, vector: p.vector, payload: p.payload });
    assert.equal(
      (await ca.upsert('tenants', { wait: true, points: alpha.map(strip), shard_key: 'alpha' }))
        .status,
      'completed',
    );
    assert.equal(
      (await cb.upsert('tenants', { wait: true, points: seven.map(strip), shard_key: 7 })).status,
      'completed',
    );
    const under = (keys?: Key[]) =>
      [...oracle.values()].filter((p) => keys === undefined || keys.includes(p.key));

    // Counts, searches, queries, scrolls and retrieves on both nodes, with and without keys.
    const selections: (Key[] | undefined)[] = [undefined, ['alpha'], [7], ['alpha', 7]];
    for (const client of [ca, cb]) {
      for (const keys of selections) {
        const sel = keys === undefined ? {} : { shard_key: keys.length === 1 ? keys[0]! : keys };
        const want = under(keys);
        const { count } = await client.count('tenants', { exact: true, ...sel });
        assert.equal(count, want.length, `count ${JSON.stringify(keys)}`);
        const evens = await client.count('tenants', {
          exact: true,
          filter: { must: [{ key: 'even', match: { value: true } }] },
          ...sel,
        });
        assert.equal(evens.count, want.filter((p) => p.id % 2 === 0).length);
        for (const q of [vec(3.5), vec(117.2)]) {
          const hits = await client.search('tenants', {
            vector: q,
            limit: 8,
            params: { exact: true },
            ...sel,
          });
          assert.deepEqual(
            hits.map((h) => h.id),
            topIds(want, q, 8),
            `search ${JSON.stringify(keys)}`,
          );
          for (const h of hits) assert.deepEqual(h.payload, oracle.get(h.id as number)!.payload);
          const queried = await client.query('tenants', {
            query: q,
            limit: 5,
            with_payload: true,
            params: { exact: true },
            ...sel,
          });
          assert.deepEqual(
            queried.points.map((h) => h.id),
            topIds(want, q, 5),
          );
        }
        // Pages of 7 across shards and keys: every point once, in id order.
        const seen: number[] = [];
        let offset: number | undefined;
        do {
          const page = await client.scroll('tenants', {
            limit: 7,
            with_payload: true,
            ...(offset === undefined ? {} : { offset }),
            ...sel,
          });
          for (const p of page.points) {
            assert.deepEqual(p.payload, oracle.get(p.id as number)!.payload);
            seen.push(p.id as number);
          }
          offset = (page.next_page_offset ?? undefined) as number | undefined;
        } while (offset !== undefined);
        assert.deepEqual(
          seen,
          want.map((p) => p.id).sort((x, y) => x - y),
        );
        const got = await client.retrieve('tenants', { ids: [1, 2, 101, 999], ...sel });
        assert.deepEqual(
          got.map((p) => p.id).sort((x, y) => (x as number) - (y as number)),
          [1, 2, 101].filter((id) => want.some((p) => p.id === id)),
        );
      }
    }

    // Writes: a key is required, must exist, and names where the ids are.
    assert.equal(
      await statusOf(ca.upsert('tenants', { wait: true, points: [strip(alpha[0]!)] })),
      400,
    );
    assert.equal(
      await statusOf(ca.upsert('tenants', { points: [strip(alpha[0]!)], shard_key: 'nope' })),
      404,
    );
    assert.equal(await statusOf(ca.count('tenants', { shard_key: 'nope' })), 404);
    // Quiver keeps an id under one key: id 1 is under "alpha".
    assert.equal(
      await statusOf(ca.upsert('tenants', { points: [strip(alpha[0]!)], shard_key: 7 })),
      400,
    );
    assert.equal(await statusOf(ca.delete('tenants', { points: [1] })), 400);
    // A delete under the wrong key touches nothing; under the right one, the points.
    await cb.delete('tenants', { wait: true, points: [1, 2], shard_key: 7 });
    assert.equal((await cb.count('tenants', { shard_key: 'alpha' })).count, 40);
    await cb.delete('tenants', { wait: true, points: [1, 2], shard_key: 'alpha' });
    oracle.delete(1);
    oracle.delete(2);
    await ca.setPayload('tenants', {
      wait: true,
      payload: { tag: 'x' },
      filter: { must: [{ key: 'n', range: { gte: 120 } }] },
      shard_key: 7,
    });
    for (const p of under([7])) if (p.id >= 120) p.payload = { ...p.payload, tag: 'x' };
    await ca.clearPayload('tenants', { wait: true, points: [103], shard_key: 7 });
    oracle.get(103)!.payload = {};
    const all = await cb.scroll('tenants', { limit: 100, with_payload: true });
    assert.deepEqual(
      all.points.map((p) => [p.id, p.payload]),
      [...oracle.values()].sort((x, y) => x.id - y.id).map((p) => [p.id, p.payload]),
    );
    assert.equal((await cb.count('tenants', { shard_key: 7 })).count, 30);

    // A shard key on an auto collection is 400.
    await ca.createCollection('plain', { vectors: { size: DIM, distance: 'Cosine' } });
    assert.equal(await statusOf(ca.count('plain', { shard_key: 'alpha' })), 400);
    assert.equal(
      await statusOf(ca.upsert('plain', { points: [strip(alpha[5]!)], shard_key: 'alpha' })),
      400,
    );
    assert.equal(await statusOf(ca.createShardKey('plain', { shard_key: 'alpha' })), 400);

    // Dropping a key drops its points everywhere.
    assert.equal(await cb.deleteShardKey('tenants', { shard_key: 'alpha' }), true);
    for (const client of [ca, cb]) {
      assert.equal((await client.count('tenants', { exact: true })).count, 30);
      assert.equal(await statusOf(client.count('tenants', { shard_key: 'alpha' })), 404);
      const page = await client.scroll('tenants', { limit: 100 });
      assert.deepEqual(
        page.points.map((p) => p.id),
        under([7]).map((p) => p.id),
      );
    }
    // The key can be made again, empty.
    await ca.createShardKey('tenants', { shard_key: 'alpha' });
    assert.equal((await cb.count('tenants', { shard_key: 'alpha' })).count, 0);
    t.diagnostic(`took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
});
