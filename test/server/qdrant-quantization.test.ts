/**
 * Qdrant's `quantization_config` and `params.quantization` from the official JS client
 * against a real `quiver serve`: a scalar int8 collection is created, reported back in
 * Qdrant's shape, sealed, and searched with and without rescoring and with `ignore`;
 * binary ones (one bit, one and a half) and a product one (x16) are created and searched
 * the same way; one_and_half_bits with an asymmetric query answers 501; bad values
 * 400/422. /metrics reports the codes' memory.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { QdrantClient } from '@qdrant/js-client-rest';
import { clusteredVectors } from '../../src/ann/hnsw/hnsw.fixtures.js';
import { tempDir } from '../helpers/temp-dir.js';
import { removeDir, spawnServe } from './server-helpers.js';

const DIM = 24;
const N = 3000;

function statusOf(e: unknown): number | undefined {
  return (e as { status?: number }).status;
}

test('the official client creates and searches a scalar-quantized collection', async (t) => {
  const dir = tempDir(undefined, 'quiver-qdrant-quant-');
  const serve = await spawnServe(t, ['--data', join(dir, 'data')]);
  t.after(() => removeDir(dir));
  const client = new QdrantClient({ url: serve.url, checkCompatibility: false });

  assert.equal(
    await client.createCollection('q', {
      vectors: { size: DIM, distance: 'Cosine' },
      quantization_config: { scalar: { type: 'int8', quantile: 0.98, always_ram: true } },
    }),
    true,
  );
  const info = await client.getCollection('q');
  assert.deepEqual(info.config.quantization_config, {
    scalar: { type: 'int8', quantile: 0.98, always_ram: true },
  });

  const vectors = clusteredVectors(N, DIM, 'cosine', 61);
  for (let at = 0; at < N; at += 1000) {
    await client.upsert('q', {
      wait: true,
      points: vectors
        .slice(at, at + 1000)
        .map((v, i) => ({ id: at + i, vector: Array.from(v), payload: { n: at + i } })),
    });
  }
  const sealed = await fetch(`${serve.url}/admin/compact`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ collection: 'q' }),
  });
  assert.equal(sealed.status, 200);

  const queries = clusteredVectors(30, DIM, 'cosine', 62).map((q) => Array.from(q));
  let hits = 0;
  let unrescored = 0;
  for (const q of queries) {
    const exact = await client.search('q', { vector: q, limit: 10, params: { exact: true } });
    const truth = new Set(exact.map((h) => h.id));
    const found = await client.search('q', {
      vector: q,
      limit: 10,
      params: { quantization: { rescore: true, oversampling: 2 } },
    });
    for (const h of found) if (truth.has(h.id)) hits++;
    // Rescored scores are the float scores: the same as the exact search's for shared ids.
    const exactScore = new Map(exact.map((h) => [h.id, h.score]));
    for (const h of found) {
      const want = exactScore.get(h.id);
      if (want !== undefined) assert.ok(Math.abs(h.score - want) < 1e-5);
    }
    const raw = await client.search('q', {
      vector: q,
      limit: 10,
      params: { quantization: { rescore: false } },
    });
    for (const h of raw) if (truth.has(h.id)) unrescored++;
    const ignored = await client.search('q', {
      vector: q,
      limit: 10,
      params: { quantization: { ignore: true } },
    });
    assert.equal(ignored.length, 10);
  }
  const recall = hits / (queries.length * 10);
  assert.ok(recall >= 0.9, `recall after rescoring ${recall}`);
  assert.ok(unrescored / (queries.length * 10) >= 0.7);

  const metrics = await (await fetch(`${serve.url}/metrics`)).text();
  const codes = /quiver_memory_bytes\{collection="q",part="codes"\} (\d+)/.exec(metrics);
  assert.ok(codes !== null && Number(codes[1]) >= N * DIM, 'codes memory is reported');

  for (const [config, status] of [
    [{ product: { compression: 'x3' } }, 400],
    [{ product: {} }, 400],
    [{ binary: { encoding: 'one_and_half_bits', query_encoding: 'scalar4bits' } }, 501],
    [{ binary: { encoding: 'three_bits' } }, 400],
    [{ binary: { query_encoding: 'scalar2bits' } }, 400],
    [{ scalar: { type: 'int4' } }, 400],
    [{ scalar: { type: 'int8', quantile: 0.1 } }, 422],
  ] as const) {
    await assert.rejects(
      client.createCollection('bad', {
        vectors: { size: DIM, distance: 'Cosine' },
        quantization_config: config,
      }),
      (e) => statusOf(e) === status,
      JSON.stringify(config),
    );
  }
  await assert.rejects(
    client.search('q', {
      vector: queries[0]!,
      params: { quantization: { oversampling: 50 } },
    }),
    (e) => statusOf(e) === 422,
  );
  await binaryCollection(client, serve.url);
  assert.equal(await serve.stop(), 0);
});

/** A binary collection from the client: created, reported, sealed, searched with rescoring. */
async function binaryCollection(client: QdrantClient, url: string): Promise<void> {
  await client.createCollection('b', {
    vectors: { size: DIM, distance: 'Dot' },
    quantization_config: { binary: { always_ram: true, query_encoding: 'scalar8bits' } },
  });
  const info = await client.getCollection('b');
  assert.deepEqual(info.config.quantization_config, {
    binary: { always_ram: true, encoding: 'one_bit', query_encoding: 'scalar8bits' },
  });
  const vectors = clusteredVectors(N, DIM, 'dot', 63);
  await client.upsert('b', {
    wait: true,
    points: vectors.map((v, i) => ({ id: i, vector: Array.from(v) })),
  });
  const sealed = await fetch(`${url}/admin/compact`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ collection: 'b' }),
  });
  assert.equal(sealed.status, 200);
  let hits = 0;
  const queries = clusteredVectors(30, DIM, 'dot', 64).map((q) => Array.from(q));
  for (const q of queries) {
    const exact = await client.search('b', { vector: q, limit: 10, params: { exact: true } });
    const truth = new Set(exact.map((h) => h.id));
    const found = await client.search('b', {
      vector: q,
      limit: 10,
      params: { quantization: { rescore: true, oversampling: 4 } },
    });
    for (const h of found) if (truth.has(h.id)) hits++;
  }
  const recall = hits / (queries.length * 10);
  // One bit of 24 dimensions is coarse (0.83 measured); binary is for wide vectors.
  assert.ok(recall >= 0.75, `binary recall after rescoring ${recall}`);

  // One and a half bits: created and reported in Qdrant's shape, and searched.
  await client.createCollection('b15', {
    vectors: { size: DIM, distance: 'Dot' },
    quantization_config: { binary: { encoding: 'one_and_half_bits' } },
  });
  const b15 = await client.getCollection('b15');
  assert.deepEqual(b15.config.quantization_config, {
    binary: { always_ram: true, encoding: 'one_and_half_bits', query_encoding: 'default' },
  });
  await client.upsert('b15', {
    wait: true,
    points: vectors.map((v, i) => ({ id: i, vector: Array.from(v) })),
  });
  await fetch(`${url}/admin/compact`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ collection: 'b15' }),
  });
  const top = await client.search('b15', { vector: queries[0]!, limit: 10 });
  const exact = await client.search('b15', {
    vector: queries[0]!,
    limit: 10,
    params: { exact: true },
  });
  assert.equal(top.length, 10);
  assert.ok(top.filter((h) => exact.some((e) => e.id === h.id)).length >= 6);

  // Product x16: created with Qdrant's shape, reported back, sealed and searched.
  await client.createCollection('pq', {
    vectors: { size: DIM, distance: 'Dot' },
    quantization_config: { product: { compression: 'x16', always_ram: true } },
  });
  const pq = await client.getCollection('pq');
  assert.deepEqual(pq.config.quantization_config, {
    product: { compression: 'x16', always_ram: true },
  });
  await client.upsert('pq', {
    wait: true,
    points: vectors.map((v, i) => ({ id: i, vector: Array.from(v) })),
  });
  await fetch(`${url}/admin/compact`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ collection: 'pq' }),
  });
  let pqHits = 0;
  for (const q of queries) {
    const truth = await client.search('pq', { vector: q, limit: 10, params: { exact: true } });
    // 24 dimensions make 6 subspaces at x16: coarse, so 4 candidates a result are rescored.
    const found = await client.search('pq', {
      vector: q,
      limit: 10,
      params: { quantization: { oversampling: 4 } },
    });
    pqHits += found.filter((h) => truth.some((e) => e.id === h.id)).length;
  }
  const pqRecall = pqHits / (queries.length * 10);
  assert.ok(pqRecall >= 0.9, `product recall after rescoring ${pqRecall}`);
}

test('the official client creates an on_disk collection: vectors stay in the files, the block cache is reported', async (t) => {
  const dir = tempDir(undefined, 'quiver-qdrant-ondisk-');
  const serve = await spawnServe(t, ['--data', join(dir, 'data')]);
  t.after(() => removeDir(dir));
  const client = new QdrantClient({ url: serve.url, checkCompatibility: false });
  await client.createCollection('d', {
    vectors: { size: DIM, distance: 'Euclid', on_disk: true },
    quantization_config: { scalar: { type: 'int8', always_ram: true } },
  });
  const info = await client.getCollection('d');
  const params = info.config.params.vectors as { on_disk?: boolean };
  assert.equal(params.on_disk, true);
  const vectors = clusteredVectors(N, DIM, 'euclid', 64);
  await client.upsert('d', {
    wait: true,
    points: vectors.map((v, i) => ({ id: i, vector: Array.from(v) })),
  });
  const sealed = await fetch(`${serve.url}/admin/compact`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ collection: 'd' }),
  });
  assert.equal(sealed.status, 200);
  let hits = 0;
  const queries = clusteredVectors(20, DIM, 'euclid', 65).map((q) => Array.from(q));
  for (const q of queries) {
    const truth = new Set(
      (await client.search('d', { vector: q, limit: 10, params: { exact: true } })).map(
        (h) => h.id,
      ),
    );
    for (const h of await client.search('d', { vector: q, limit: 10 })) {
      if (truth.has(h.id)) hits++;
    }
  }
  assert.ok(hits / (queries.length * 10) >= 0.9, `recall ${hits / (queries.length * 10)}`);
  const [point] = await client.retrieve('d', { ids: [17], with_vector: true });
  assert.deepEqual(point?.vector, Array.from(vectors[17]!), 'read back from the file');

  const patched = await fetch(`${serve.url}/admin/config`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ vectorCacheBytes: 1 << 20 }),
  });
  assert.equal(patched.status, 200, await patched.clone().text());
  const metrics = await (await fetch(`${serve.url}/metrics`)).text();
  const value = (re: RegExp): number => Number(re.exec(metrics)?.[1] ?? NaN);
  assert.equal(value(/quiver_memory_bytes\{collection="d",part="vectors"\} (\d+)/), 0);
  assert.ok(value(/quiver_memory_bytes\{collection="d",part="codes"\} (\d+)/) >= N * DIM);
  assert.ok(value(/quiver_cache_misses_total\{cache="vectors"\} (\d+)/) > 0);
  assert.equal(value(/quiver_cache_capacity_bytes\{cache="vectors"\} (\d+)/), 1 << 20);
  // A snapshot keeps on_disk: the recovered collection reads its vectors from its files too.
  const snap = await client.createSnapshot('d');
  assert.ok(snap !== null);
  await client.recoverSnapshot('d2', {
    location: `${serve.url}/collections/d/snapshots/${snap.name}`,
  });
  const recovered = await client.getCollection('d2');
  assert.equal((recovered.config.params.vectors as { on_disk?: boolean }).on_disk, true);
  assert.equal((await client.count('d2')).count, N);
  await updatedByPatch(client, serve.url, vectors);
  const bad = await fetch(`${serve.url}/collections/bad`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ vectors: { size: 4, distance: 'Dot', on_disk: 'yes' } }),
  });
  assert.equal(bad.status, 400);
  assert.equal(await serve.stop(), 0);
});

/** PATCH /collections/{c} from the client: quantization on, vectors to disk, quantization off. */
async function updatedByPatch(
  client: QdrantClient,
  url: string,
  vectors: readonly Float32Array[],
): Promise<void> {
  await client.createCollection('u', { vectors: { size: DIM, distance: 'Euclid' } });
  await client.upsert('u', {
    wait: true,
    points: vectors.map((v, i) => ({ id: i, vector: Array.from(v) })),
  });
  await fetch(`${url}/admin/compact`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ collection: 'u' }),
  });
  const memory = async (part: string): Promise<number> => {
    const text = await (await fetch(`${url}/metrics`)).text();
    const re = new RegExp(`quiver_memory_bytes\\{collection="u",part="${part}"\\} (\\d+)`);
    return Number(re.exec(text)?.[1] ?? NaN);
  };
  assert.equal(await memory('codes'), 0);
  assert.equal(
    await client.updateCollection('u', { quantization_config: { scalar: { type: 'int8' } } }),
    true,
  );
  let info = await client.getCollection('u');
  assert.deepEqual(info.config.quantization_config, {
    scalar: { type: 'int8', quantile: 0.99, always_ram: true },
  });
  assert.ok((await memory('codes')) >= N * DIM);
  await client.updateCollection('u', { vectors: { '': { on_disk: true } } });
  info = await client.getCollection('u');
  assert.equal((info.config.params.vectors as { on_disk?: boolean }).on_disk, true);
  assert.equal(await memory('vectors'), 0);
  const q = Array.from(vectors[5]!);
  assert.equal((await client.search('u', { vector: q, limit: 1 }))[0]?.id, 5);
  await client.updateCollection('u', { quantization_config: 'Disabled' });
  info = await client.getCollection('u');
  assert.equal(info.config.quantization_config ?? null, null);
  await assert.rejects(
    client.updateCollection('u', { optimizers_config: { indexing_threshold: 100 } }),
    (e) => statusOf(e) === 501,
  );
  await assert.rejects(
    client.updateCollection('u', { vectors: { '': { on_disk: 'yes' as never } } }),
    (e) => statusOf(e) === 400,
  );
}
