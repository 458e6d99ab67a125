/**
 * Document sync and the doctor against a cluster collection, on a real 3-server NATS
 * JetStream cluster with two Quiver nodes in this process: a sync run through one node
 * creates a 2-shard collection whose points (on both nodes) are exactly the folder's
 * chunks; a run through the other node over the unchanged folder embeds and writes
 * nothing; edits, a rename and a deletion are followed; the doctor finds a planted orphan,
 * drift and gap and its fix leaves a clean second run; batches of wide vectors are cut to
 * fit stream messages; a collection dropped during a run stops it with CLOSED; a
 * custom-sharded collection is refused by name.
 */
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { SILENT_LOGGER } from '../../src/common/logger.js';
import { isQuiverError } from '../../src/common/quiver-error.js';
import { Quiver } from '../../src/index.js';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import { ClusterSyncStore } from '../../src/cluster/cluster-sync-store.js';
import { doctorCollection } from '../../src/sync/doctor.js';
import type { Embedder } from '../../src/sync/embedder.js';
import { localEmbedder } from '../../src/sync/embedder.js';
import { syncDocuments } from '../../src/sync/sync.js';
import type { SyncOptions } from '../../src/sync/sync.js';
import { NodeFileSystem } from '../../src/storage/io/node-file-system.js';
import { needsNatsServer, startNatsCluster } from '../helpers/nats-cluster.js';
import { tempDir } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';
import { expectedChunkIds } from '../sync/chunk-oracle.js';

const skip = needsNatsServer();
const DIM = 16;
const CHUNK = { maxTokens: 40, overlapTokens: 4 };

function writeDoc(dir: string, path: string, seed: number): void {
  const words = (s: number): string =>
    Array.from({ length: 60 }, (_, i) => `w${(s * 7919 + i * 104729) % 9973}`).join(' ');
  writeFileSync(
    join(dir, path),
    `# Doc ${seed}\n\n## A\n\n${words(seed)}\n\n## B\n\n${words(seed + 1)}\n`,
  );
}

/** The chunk ids `files` of the folder should give (the oracle). */
function expectedIds(dir: string, files: readonly string[]): string[] {
  return expectedChunkIds(dir, CHUNK, files);
}

/** An embedder that counts the texts it embedded. */
function counting(inner: Embedder): Embedder & { texts: number } {
  const e = {
    ...inner,
    texts: 0,
    embed: async (texts: readonly string[]) => {
      e.texts += texts.length;
      return inner.embed(texts);
    },
  };
  return e;
}

describe('document sync into a cluster collection', { skip, timeout: 180_000 }, () => {
  test('runs through either node agree; the doctor finds and fixes planted faults', async (t) => {
    const opened: { db: Quiver; cluster: ClusterNode; dir: string }[] = [];
    t.after(async () => {
      for (const n of opened) {
        await n.cluster.close().catch(() => undefined);
        await n.db.close().catch(() => undefined);
        rmSync(n.dir, { recursive: true, force: true });
      }
    });
    const nats = await startNatsCluster(t);
    const start = async (nodeId: string) => {
      const dir = tempDir(undefined);
      const db = await Quiver.open(dir);
      const cluster = await ClusterNode.start(db, {
        servers: nats.servers,
        nodeId,
        logger: SILENT_LOGGER,
        fileSystem: new NodeFileSystem(),
      });
      opened.push({ db, cluster, dir });
      return { db, cluster, store: new ClusterSyncStore(cluster, db) };
    };
    const a = await start('node-a');
    const b = await start('node-b');
    const source = tempDir(t, 'quiver-cluster-sync-');
    mkdirSync(source, { recursive: true });
    let files = ['one.md', 'two.md', 'three.md', 'four.md'];
    files.forEach((f, i) => writeDoc(source, f, i * 10));
    const embedder = counting(localEmbedder(DIM));
    const options: SyncOptions = {
      source,
      collection: 'docs',
      embedder,
      chunk: CHUNK,
      batchSize: 3,
      concurrency: 1,
    };
    // Sharded by the id hash over two shards, each on both nodes.
    await a.cluster.createCollection('docs', { dimension: DIM, metric: 'cosine' }, 2);
    const idsOn = async (node: ClusterNode) =>
      (await node.reads('docs', { latest: true }).ids()).map(String).sort();

    const first = await syncDocuments(a.store, options);
    assert.equal(first.stopped, undefined);
    assert.equal(first.chunks.embedded, expectedIds(source, files).length);
    assert.deepEqual(await idsOn(a.cluster), expectedIds(source, files));
    assert.deepEqual(await idsOn(b.cluster), expectedIds(source, files));

    // Through the other node: the collection already says everything is embedded.
    const texts = embedder.texts;
    const again = await syncDocuments(b.store, options);
    assert.equal(again.chunks.embedded, 0);
    assert.equal(again.chunks.deleted, 0);
    assert.equal(embedder.texts, texts, 'nothing embedded again');

    // Edit, rename, delete: followed through node b.
    writeDoc(source, 'one.md', 99);
    renameSync(join(source, 'two.md'), join(source, 'deux.md'));
    rmSync(join(source, 'three.md'));
    files = ['one.md', 'deux.md', 'four.md'];
    const third = await syncDocuments(b.store, options);
    assert.ok(third.chunks.deleted > 0 && third.chunks.embedded > 0);
    assert.deepEqual(await idsOn(a.cluster), expectedIds(source, files));

    // Faults planted through the cluster: an orphan (its file never existed), a point of a
    // file that no longer has its chunk (drift), and a chunk's point deleted (a gap).
    const local = a.db.collection('docs');
    const victimId = expectedIds(source, files)[0]!;
    const [victim] = await a.cluster.reads('docs', { latest: true }).getMany([victimId]);
    const planted = (id: string, path: string) => ({
      id,
      vector: Array.from({ length: DIM }, (_, d) => d + 1),
      payload: { ...victim!.payload, source: path },
    });
    await a.cluster.write(
      'docs',
      local.prepareUpsert([
        planted('00000000-0000-4000-8000-000000000001', 'gone.md'),
        planted('00000000-0000-4000-8000-000000000002', 'one.md'),
      ]),
    );
    await a.cluster.write('docs', local.prepareDelete([victimId]));
    const found = await doctorCollection(b.store, { collection: 'docs', source, embedder });
    const fail = (kind: string) => found.findings.find((f) => f.kind === kind);
    for (const kind of ['orphans', 'drift', 'missing']) {
      assert.equal(fail(kind)?.status, 'FAIL', kind);
      assert.equal(fail(kind)?.count, 1, kind);
    }
    await doctorCollection(a.store, { collection: 'docs', source, embedder, fix: true });
    const clean = await doctorCollection(b.store, { collection: 'docs', source, embedder });
    assert.deepEqual(
      clean.findings.filter((f) => f.status === 'FAIL'),
      [],
      JSON.stringify(clean.findings),
    );
    assert.deepEqual(await idsOn(b.cluster), expectedIds(source, files));

    // Wide vectors in one shard: a batch of 128 chunks of 3 072 values (1.5 MB) is more
    // than one stream message takes, so it goes in several writes.
    const wide = tempDir(t, 'quiver-cluster-sync-wide-');
    for (let i = 0; i < 40; i++) writeDoc(wide, `w${i}.md`, 1000 + i * 3);
    const wideRun = await syncDocuments(a.store, {
      source: wide,
      collection: 'wide',
      embedder: localEmbedder(3072),
      chunk: CHUNK,
    });
    assert.ok(wideRun.chunks.embedded > 128, `${wideRun.chunks.embedded} chunks`);
    assert.equal(await b.cluster.reads('wide', { latest: true }).count(), wideRun.chunks.embedded);

    // Dropped from the cluster (through the other node) while a run writes into it.
    let dropping: Promise<void> | undefined;
    await assert.rejects(
      syncDocuments(a.store, {
        ...options,
        collection: 'dropped',
        onProgress: (p) => {
          if (p.chunksEmbedded > 0) dropping ??= b.cluster.dropCollection('dropped');
        },
      }),
      (e) =>
        isQuiverError(e, 'CLOSED') &&
        /Collection "dropped" was dropped while .* was synced into it/.test(e.message),
    );
    await dropping;

    // One job a collection in the whole cluster: a lease in the metadata bucket.
    const never = (): void => assert.fail('a held lease was lost');
    const held = await a.store.holdJob('docs', 'sync', 'job-a', never);
    assert.ok('hold' in held);
    const refused = await b.store.holdJob('docs', 'doctor', 'job-b', never);
    assert.ok(
      'holder' in refused && refused.holder.node === 'node-a' && refused.holder.kind === 'sync',
    );
    await held.hold.release();
    const next = await b.store.holdJob('docs', 'doctor', 'job-b', never);
    assert.ok('hold' in next, 'free once released');
    await next.hold.release();
    // A lease whose node died (not renewed past its time) is taken over.
    await a.cluster.metadata.takeJobLease('docs', {
      node: 'gone',
      job: 'j',
      kind: 'sync',
      until: Date.now() - 1,
    });
    const over = await b.store.holdJob('docs', 'sync', 'job-c', never);
    assert.ok('hold' in over, 'a lapsed lease is taken over');
    await over.hold.release();
    // A hold whose key another job took (as after a lapse) is lost at its next renewal,
    // and its job is told to stop.
    let lost = false;
    const mine = await a.store.holdJob('docs', 'sync', 'job-d', () => (lost = true));
    assert.ok('hold' in mine);
    const meta = a.cluster.metadata;
    const ours = await meta.takeJobLease('docs', {
      node: 'a',
      job: 'job-d',
      kind: 'sync',
      until: 0,
    });
    assert.ok('revision' in ours, 'the same job finds its own lease');
    const intruder = { node: 'x', job: 'intruder', kind: 'sync', until: Date.now() + 60_000 };
    assert.notEqual(await meta.renewJobLease('docs', intruder, ours.revision), undefined);
    await until('the lost hold to be noticed', () => lost, 8_000);
    await mine.hold.release(); // lets go of nothing: the key is the intruder's
    const still = await b.store.holdJob('docs', 'sync', 'job-e', never);
    assert.ok('holder' in still && still.holder.job === 'intruder');

    // A custom-sharded collection takes no write without a shard key: refused by name.
    await a.cluster.createCollection('tenants', { dimension: DIM }, 1, undefined, true);
    await assert.rejects(
      syncDocuments(a.store, { ...options, collection: 'tenants' }),
      (e) => isQuiverError(e, 'INVALID_ARGUMENT') && /custom sharding/.test(e.message),
    );
  });
});
