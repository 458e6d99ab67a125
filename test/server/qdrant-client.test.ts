/**
 * The official @qdrant/js-client-rest against a real `quiver serve` on 127.0.0.1, through
 * a RAG application's whole life. Every answer is compared with the embedded API's answer
 * on a mirror database fed the same writes; at the end SIGTERM must exit 0 and the data
 * directory must reopen with what the server acknowledged.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { QdrantClient } from '@qdrant/js-client-rest';
import type { Payload, PointId } from '../../src/common/types.js';
import { compareIds } from '../../src/common/types.js';
import type { Collection } from '../../src/engine/collection.js';
import { Quiver } from '../../src/engine/quiver.js';
import { parseQdrantFilter } from '../../src/filter/qdrant-filter-parser.js';
import { randomVector, rng } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';
import { removeDir, spawnServe } from './server-helpers.js';

const DIM = 8;
const CITIES = ['London', 'Paris', 'Berlin', 'Madrid'];

interface Doc {
  id: PointId;
  vector: number[];
  payload: Payload;
}

function uuidOf(i: number): string {
  const hex = createHash('sha256').update(String(i)).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function makeDocs(n: number): Doc[] {
  const rand = rng(42);
  const docs: Doc[] = [];
  for (let i = 0; i < n; i++) {
    const payload: Payload = {
      city: CITIES[i % CITIES.length]!,
      price: Math.round(rand() * 1000) / 10,
      tags: i % 3 === 0 ? ['a', 'b'] : ['c'],
      meta: { lang: i % 2 === 0 ? 'en' : 'de', rank: i },
    };
    if (i % 5 === 0) payload['note'] = null;
    if (i % 7 === 0) payload['extra'] = 'x';
    docs.push({ id: i % 4 === 3 ? uuidOf(i) : i, vector: randomVector(rand, DIM), payload });
  }
  return docs;
}

type Hit = { readonly id: PointId; readonly score: number };

function assertSameHits(actual: readonly Hit[], expected: readonly Hit[], what: string): void {
  assert.deepEqual(
    actual.map((h) => h.id),
    expected.map((h) => h.id),
    `${what}: ids`,
  );
  actual.forEach((h, i) => {
    assert.ok(Math.abs(h.score - expected[i]!.score) < 1e-5, `${what}: score of ${String(h.id)}`);
  });
}

async function sortedScan(c: Collection, filter?: unknown): Promise<PointId[]> {
  const ids: PointId[] = [];
  const node = filter === undefined ? undefined : parseQdrantFilter(filter);
  for await (const p of c.scan(node === undefined ? {} : { filter: node })) ids.push(p.id);
  return ids.sort(compareIds);
}

const FILTERS: readonly { name: string; filter: Record<string, unknown> }[] = [
  { name: 'match value', filter: { must: [{ key: 'city', match: { value: 'London' } }] } },
  { name: 'match any', filter: { must: [{ key: 'city', match: { any: ['Paris', 'Berlin'] } }] } },
  { name: 'match except', filter: { must: [{ key: 'city', match: { except: ['Paris'] } }] } },
  { name: 'range', filter: { must: [{ key: 'price', range: { gte: 20, lt: 70 } }] } },
  {
    name: 'should',
    filter: {
      should: [
        { key: 'city', match: { value: 'Madrid' } },
        { key: 'tags', match: { value: 'a' } },
      ],
    },
  },
  { name: 'must_not', filter: { must_not: [{ key: 'meta.lang', match: { value: 'en' } }] } },
  { name: 'is_empty', filter: { must: [{ is_empty: { key: 'note' } }] } },
  { name: 'has_id', filter: { must: [{ has_id: [0, 1, 2, 4, uuidOf(3), uuidOf(7)] }] } },
  {
    name: 'nested keys',
    filter: {
      must: [
        { key: 'meta.lang', match: { value: 'de' } },
        { key: 'meta.rank', range: { gt: 50 } },
      ],
      must_not: [{ key: 'tags[]', match: { value: 'a' } }],
    },
  },
];

test('the official Qdrant JS client drives quiver serve like Qdrant', async (t) => {
  const dir = tempDir(undefined, 'quiver-qdrant-client-');
  const data = join(dir, 'data');
  const serve = await spawnServe(t, ['--data', data]);
  const client = new QdrantClient({ url: serve.url, checkCompatibility: false });
  const mirrorDb = await Quiver.open(join(dir, 'mirror'), { fsync: 'none' });
  t.after(() => mirrorDb.close());
  t.after(() => removeDir(dir));

  // --- version check and collections
  const info = await client.versionInfo();
  assert.equal(typeof info.version, 'string');
  assert.equal(
    await client.createCollection('docs', {
      vectors: { size: DIM, distance: 'Cosine' },
      hnsw_config: { m: 16, ef_construct: 100 },
      optimizers_config: { default_segment_number: 2 },
    }),
    true,
  );
  const mirror = await mirrorDb.createCollection('docs', {
    dimension: DIM,
    metric: 'cosine',
    hnsw: { m: 16, efConstruction: 100 },
  });
  assert.deepEqual((await client.getCollections()).collections, [{ name: 'docs' }]);
  assert.deepEqual(await client.collectionExists('docs'), { exists: true });
  assert.deepEqual(await client.collectionExists('nope'), { exists: false });

  // --- upsert: list form and batch form
  const docs = makeDocs(240);
  const first = docs.slice(0, 160);
  const rest = docs.slice(160);
  const r1 = await client.upsert('docs', { wait: true, points: first });
  assert.equal(r1.status, 'completed');
  await client.upsert('docs', {
    wait: true,
    batch: {
      ids: rest.map((d) => d.id),
      vectors: rest.map((d) => d.vector),
      payloads: rest.map((d) => d.payload),
    },
  });
  await mirror.upsert(docs);

  const col = await client.getCollection('docs');
  assert.equal(col.points_count, 240);
  assert.equal(col.status, 'green');
  const vectors = col.config.params.vectors as { size: number; distance: string };
  assert.equal(vectors.size, DIM);
  assert.equal(vectors.distance, 'Cosine');
  assert.equal(col.config.hnsw_config.m, 16);

  // --- payload index: accepted, recorded, reported
  const idx = await client.createPayloadIndex('docs', {
    field_name: 'city',
    field_schema: 'keyword',
    wait: true,
  });
  assert.equal(idx.status, 'completed');
  const withIndex = await client.getCollection('docs');
  assert.equal(withIndex.payload_schema['city']?.data_type, 'keyword');
  assert.equal(withIndex.payload_schema['city']?.points, 240);

  // --- retrieve (integer and UUID ids; cosine vectors come back normalised)
  const ids = [0, uuidOf(3), 5, 999_999];
  const got = await client.retrieve('docs', { ids, with_payload: true, with_vector: true });
  const expected = await mirror.getMany(ids, { withVector: true });
  assert.deepEqual(
    got.map((p) => p.id),
    expected.map((p) => p.id),
  );
  got.forEach((p, i) => {
    assert.deepEqual(p.payload, expected[i]!.payload);
    const v = p.vector as number[];
    expected[i]!.vector.forEach((x, j) => assert.ok(Math.abs(x - v[j]!) < 1e-6));
  });

  // --- search and query, with every filter form, against the embedded answers
  const query = randomVector(rng(7), DIM);
  for (const { name, filter } of FILTERS) {
    const want = await mirror.search(query, {
      k: 10,
      exact: true,
      filter: parseQdrantFilter(filter),
    });
    const viaSearch = await client.search('docs', {
      vector: query,
      filter,
      limit: 10,
      with_payload: true,
      params: { exact: true },
    });
    assertSameHits(viaSearch, want, `search ${name}`);
    viaSearch.forEach((h, i) => assert.deepEqual(h.payload, want[i]!.payload));
    const viaQuery = await client.query('docs', {
      query,
      filter,
      limit: 10,
      params: { exact: true },
    });
    assertSameHits(viaQuery.points, want, `query ${name}`);
    // count and scroll with the same filter
    const n = await client.count('docs', { filter, exact: true });
    assert.equal(n.count, await mirror.count(parseQdrantFilter(filter)), `count ${name}`);
    const paged: PointId[] = [];
    let offset: PointId | null | undefined = undefined;
    do {
      const page: Awaited<ReturnType<QdrantClient['scroll']>> = await client.scroll('docs', {
        filter,
        limit: 7,
        ...(offset === undefined || offset === null ? {} : { offset }),
      });
      paged.push(...page.points.map((p) => p.id));
      offset = page.next_page_offset as PointId | null | undefined;
    } while (offset !== null && offset !== undefined);
    assert.deepEqual(paged, await sortedScan(mirror, filter), `scroll ${name}`);
  }
  // HNSW (not exact) on this small set finds the same top results as the embedded index.
  const approx = await client.search('docs', { vector: query, limit: 5 });
  assertSameHits(approx, await mirror.search(query, { k: 5 }), 'hnsw search');
  // Query by point id: nearest to that point's vector, the point itself left out.
  const byId = await client.query('docs', { query: 5, limit: 3, params: { exact: true } });
  const self = (await mirror.get(5))!;
  const near = (await mirror.search(self.vector, { k: 4, exact: true }))
    .filter((h) => h.id !== 5)
    .slice(0, 3);
  assertSameHits(byId.points, near, 'query by id');
  // Batch forms.
  const batch = await client.searchBatch('docs', {
    searches: [
      { vector: query, limit: 3, params: { exact: true } },
      { vector: query, limit: 2, filter: FILTERS[0]!.filter, params: { exact: true } },
    ],
  });
  assert.equal(batch.length, 2);
  assertSameHits(batch[0]!, await mirror.search(query, { k: 3, exact: true }), 'search batch');

  // --- payload updates (by ids and by filter), mirrored
  await client.setPayload('docs', {
    payload: { reviewed: true },
    points: [0, 1, uuidOf(3)],
    wait: true,
  });
  await mirror.setPayload([0, 1, uuidOf(3)], { reviewed: true });
  const londonFilter = FILTERS[0]!.filter;
  await client.overwritePayload('docs', {
    payload: { city: 'London', replaced: 1 },
    filter: londonFilter,
    wait: true,
  });
  const londonIds = await sortedScan(mirror, londonFilter);
  await mirror.overwritePayload(londonIds, { city: 'London', replaced: 1 });
  await client.deletePayload('docs', { keys: ['tags'], points: [1, 2], wait: true });
  await mirror.deletePayloadKeys([1, 2], ['tags']);
  await client.clearPayload('docs', { points: [5], wait: true });
  await mirror.clearPayload([5]);
  const allIds = docs.map((d) => d.id);
  const afterPayload = await client.retrieve('docs', { ids: allIds, with_payload: true });
  const mirrored = await mirror.getMany(allIds, { withVector: false });
  assert.deepEqual(
    afterPayload.map((p) => [p.id, p.payload]),
    mirrored.map((p) => [p.id, p.payload]),
  );

  // --- deletes by ids and by filter
  await client.delete('docs', { points: [0, uuidOf(7)], wait: true });
  await mirror.delete([0, uuidOf(7)]);
  const berlin = { must: [{ key: 'city', match: { value: 'Berlin' } }] };
  await client.delete('docs', { filter: berlin, wait: true });
  await mirror.deleteWhere(parseQdrantFilter(berlin));
  assert.equal((await client.count('docs')).count, await mirror.count());

  // --- snapshots: create, list, download, recover into another collection
  const snap = await client.createSnapshot('docs');
  assert.ok(snap !== null && snap.name.endsWith('.snapshot'));
  const listed = await client.listSnapshots('docs');
  assert.deepEqual(
    listed.map((s) => s.name),
    [snap.name],
  );
  const download = await fetch(`${serve.url}/collections/docs/snapshots/${snap.name}`);
  assert.equal(download.status, 200);
  const bytes = new Uint8Array(await download.arrayBuffer());
  assert.equal(bytes.length, snap.size);
  assert.equal(createHash('sha256').update(bytes).digest('hex'), snap.checksum);
  assert.equal(
    await client.recoverSnapshot('copy', {
      location: `${serve.url}/collections/docs/snapshots/${snap.name}`,
      ...(typeof snap.checksum === 'string' ? { checksum: snap.checksum } : {}),
    }),
    true,
  );
  assert.equal((await client.count('copy')).count, await mirror.count());
  const copyHits = await client.search('copy', {
    vector: query,
    limit: 10,
    params: { exact: true },
  });
  assertSameHits(copyHits, await mirror.search(query, { k: 10, exact: true }), 'recovered search');
  assert.equal(await client.deleteSnapshot('docs', snap.name), true);

  // --- errors: shapes and codes the client turns into ApiError
  const status = async (p: Promise<unknown>): Promise<{ status: number; error: string }> => {
    try {
      await p;
    } catch (e) {
      const err = e as { status?: number; data?: { status?: { error?: string } } };
      return { status: err.status ?? 0, error: err.data?.status?.error ?? '' };
    }
    return { status: 200, error: '' };
  };
  const missing = await status(client.getCollection('missing'));
  assert.equal(missing.status, 404);
  assert.match(missing.error, /missing/);
  const wrongDim = await status(client.upsert('docs', { points: [{ id: 1, vector: [1, 2] }] }));
  assert.equal(wrongDim.status, 400);
  assert.match(wrongDim.error, /dimension/);
  const exists = await status(
    client.createCollection('docs', { vectors: { size: 4, distance: 'Dot' } }),
  );
  assert.equal(exists.status, 409);
  const badId = await status(client.retrieve('docs', { ids: ['not-a-uuid'] }));
  assert.equal(badId.status, 400);
  const notYet = await status(client.recommend('docs', { positive: [1], limit: 3 }));
  assert.equal(notYet.status, 501);
  // Custom sharding needs cluster mode: a standalone server says how to get it.
  const standalone = [
    () => client.count('docs', { shard_key: 'a' }),
    () => client.upsert('docs', { points: [{ id: 1, vector: [1, 2, 3, 4] }], shard_key: 'a' }),
    () => client.createShardKey('docs', { shard_key: 'a' }),
    () =>
      client.createCollection('custom', {
        vectors: { size: 4, distance: 'Dot' },
        sharding_method: 'custom',
      }),
  ];
  for (const call of standalone) {
    const refused = await status(call());
    assert.equal(refused.status, 501);
    assert.match(refused.error, /quiver serve --cluster/);
  }

  // --- delete a collection
  assert.equal(await client.deleteCollection('copy'), true);
  assert.deepEqual(await client.collectionExists('copy'), { exists: false });

  // --- SIGTERM drains, flushes and exits 0; the directory reopens with every write
  assert.equal(await serve.stop(), 0);
  const reopened = await Quiver.open(data, { fsync: 'none' });
  try {
    const c = reopened.collection('docs');
    assert.equal(await c.count(), await mirror.count());
    const all = await sortedScan(c);
    assert.deepEqual(all, await sortedScan(mirror));
    const back = await c.getMany(all, { withVector: false });
    const want = await mirror.getMany(all, { withVector: false });
    assert.deepEqual(back, want);
    assert.equal(reopened.hasCollection('copy'), false);
  } finally {
    await reopened.close();
  }
});
