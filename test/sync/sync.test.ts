/**
 * Document sync against the real engine: incremental runs over a folder that changes
 * between runs (edit, add, delete, rename) against an oracle of expected chunk ids; an
 * unchanged folder embeds and writes nothing; the OpenAI-compatible provider against a real
 * local HTTP server (429, 500 and timeouts retried; wrong dimension and NaN stop the run
 * with nothing of the batch written); the cost limit; a damaged checkpoint; SIGKILL of the
 * CLI mid-run, then a resume that re-embeds no finished batch.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { Quiver } from '../../src/index.js';
import { isQuiverError } from '../../src/common/quiver-error.js';
import { chunkText } from '../../src/sync/chunker.js';
import { documentText } from '../../src/sync/document-text.js';
import { localEmbedder } from '../../src/sync/embedder.js';
import { openAiEmbedder } from '../../src/sync/openai-embedder.js';
import { syncDocuments } from '../../src/sync/sync.js';
import { NodeFileSystem } from '../../src/storage/io/node-file-system.js';
import { decodeWalOp } from '../../src/storage/wal/wal-body-codec.js';
import type { WalOp } from '../../src/storage/wal/wal-body-codec.js';
import { scanWal } from '../../src/storage/wal/wal-reader.js';
import type { SyncOptions, SyncReport } from '../../src/sync/sync.js';
import { CLI_NODE_ARGS, quiverAsync } from '../helpers/cli-run.js';
import { tempDir } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';
import { expectedChunkIds, filesOf } from './chunk-oracle.js';
import { startEmbeddingServer } from './embedding-server.js';

const DIM = 32;
const CHUNK = { maxTokens: 40, overlapTokens: 4 };

/** A paragraph of `n` words seeded by `seed` (different seeds, different text). */
function words(seed: number, n: number): string {
  return Array.from({ length: n }, (_, i) => `w${(seed * 7919 + i * 104729) % 9973}`).join(' ');
}

function writeDoc(dir: string, path: string, seed: number, sections = 3): void {
  mkdirSync(join(dir, path, '..'), { recursive: true });
  const body = Array.from(
    { length: sections },
    (_, s) => `## Part ${s}\n\n${words(seed + s, 60)}\n`,
  ).join('\n');
  writeFileSync(join(dir, path), `# Doc ${seed}\n\n${body}`);
}

/** `quiver sync` of `source` into `docs` of `data`, embedding through the test server. */
function syncArgs(source: string, data: string, url: string): string[] {
  return [
    'sync',
    source,
    '--data',
    data,
    '--collection',
    'docs',
    '--embedder',
    'openai',
    '--base-url',
    url,
    '--model',
    'm',
    '--dimension',
    String(DIM),
    '--chunk-tokens',
    String(CHUNK.maxTokens),
    '--chunk-overlap',
    String(CHUNK.overlapTokens),
  ];
}

/** Every file under `dir`, relative. */
/** The chunk ids the folder should give: the oracle. */
function expectedIds(dir: string): string[] {
  return expectedChunkIds(dir, CHUNK);
}

async function idsIn(db: Quiver, collection: string): Promise<string[]> {
  return (await db.collection(collection).ids()).map(String).sort();
}

/** The operations in the WAL of the database in `dir` (which may be open). */
async function walOps(dir: string): Promise<WalOp[]> {
  const ops: WalOp[] = [];
  await scanWal(new NodeFileSystem(), join(dir, 'wal'), {
    cleanlyClosed: false,
    onRecord: (r, file, offset) => ops.push(decodeWalOp(r.type, r.body, file, offset)),
  });
  return ops;
}

function walBytes(dir: string): number {
  return readdirSync(join(dir, 'wal')).reduce((n, f) => n + statSync(join(dir, 'wal', f)).size, 0);
}

/**
 * Opens the database; when the test ends it is closed, then the test's temp folder (the
 * database's parent, made by setup) is removed. Every test opens it exactly once.
 */
async function open(t: TestContext, data: string): Promise<Quiver> {
  const db = await Quiver.open(data, { fsync: 'none' });
  t.after(async () => {
    await db.close();
    if (process.env['QUIVER_KEEP_TMP'] !== '1')
      rmSync(join(data, '..'), { recursive: true, force: true });
  });
  return db;
}

/** A source folder and a database path in a fresh temp folder (removed by open's hook). */
function setup(): { source: string; data: string } {
  const root = tempDir(undefined, 'quiver-sync-');
  const source = join(root, 'docs');
  mkdirSync(source);
  return { source, data: join(root, 'data') };
}

test('incremental sync follows edits, additions, deletions and renames; an unchanged folder writes nothing', async (t) => {
  const { source, data } = setup();
  for (let i = 0; i < 6; i++) writeDoc(source, `d${i}.md`, i * 10);
  writeDoc(source, 'sub/deep.md', 99);
  const db = await open(t, data);
  const options: SyncOptions = {
    source,
    collection: 'docs',
    embedder: localEmbedder(DIM),
    chunk: CHUNK,
    batchSize: 4,
  };
  let r = await syncDocuments(db, options);
  assert.deepEqual(await idsIn(db, 'docs'), expectedIds(source));
  assert.equal(r.chunks.embedded, expectedIds(source).length);
  assert.equal(r.files.changed, 7);

  const before = walBytes(data);
  r = await syncDocuments(db, options);
  assert.deepEqual([r.chunks.embedded, r.chunks.deleted, r.requests], [0, 0, 0]);
  assert.equal(walBytes(data), before, 'an unchanged folder writes nothing');
  assert.equal(r.previousRun, 'complete');

  // Edit one section of d0, add d6, delete d1, rename d2 (same text, new path).
  const d0 = readFileSync(join(source, 'd0.md'), 'utf8');
  writeFileSync(join(source, 'd0.md'), d0.replace('## Part 1', '## Part 1 edited'));
  writeDoc(source, 'd6.md', 60);
  rmSync(join(source, 'd1.md'));
  renameSync(join(source, 'd2.md'), join(source, 'renamed.md'));
  const wanted = expectedIds(source);
  const had = new Set(await idsIn(db, 'docs'));
  const goneOf = async (path: string): Promise<string[]> =>
    (await db.collection('docs').getMany([...had].filter((id) => !wanted.includes(id))))
      .filter((p) => p.payload?.['source'] === path)
      .map((p) => String(p.id))
      .sort();
  const editedGone = await goneOf('d0.md');
  assert.ok(editedGone.length > 0, 'the edit replaces a chunk of d0');
  r = await syncDocuments(db, options);
  assert.deepEqual(await idsIn(db, 'docs'), wanted);
  // d0's old chunks went in the same WAL record as its new ones (a crash keeps both or
  // neither); those of d1 and d2, files gone, in a delete at the end.
  const replaces = (await walOps(data)).filter((op) => op.kind === 'replace');
  const edit = replaces.find((op) => op.deletes.length > 0);
  assert.deepEqual(edit?.deletes.map(String).sort(), editedGone);
  assert.ok(edit.points.length > 0 && edit.points.every((p) => !had.has(String(p.id))));
  assert.equal(r.chunks.embedded, wanted.filter((id) => !had.has(id)).length, 'only new chunks');
  assert.ok(r.chunks.embedded < wanted.length / 2, 'unchanged chunks are not embedded again');
  assert.equal(r.files.removed, 2, 'd1 and d2 are gone');
  assert.equal(r.files.changed, 3, 'd0, d6, renamed');

  const [p] = await db.collection('docs').getMany([wanted[0]!]);
  assert.equal(typeof p?.payload?.['text'], 'string');
  assert.deepEqual(p?.payload?.['embedder'], {
    provider: 'local',
    model: 'feature-hashing-v1',
    dimension: DIM,
  });

  // The chunks of a whole file can be found by their text.
  const [q] = (await localEmbedder(DIM).embed([words(60, 60)])).vectors;
  const hits = await db.collection('docs').search(q!, { k: 1, withPayload: true });
  assert.equal(hits[0]?.payload?.['source'], 'd6.md');
});

test('dry run writes nothing; skipped files are reported; a damaged checkpoint is ignored', async (t) => {
  const { source, data } = setup();
  writeDoc(source, 'a.md', 1);
  writeFileSync(join(source, 'bin.md'), Buffer.from([0x61, 0, 0x62]));
  writeFileSync(join(source, 'latin1.txt'), Buffer.from([0x63, 0x61, 0x66, 0xe9]));
  writeFileSync(join(source, 'big.txt'), 'x '.repeat(5000));
  const db = await open(t, data);
  const options: SyncOptions = {
    source,
    collection: 'docs',
    embedder: localEmbedder(DIM),
    chunk: CHUNK,
    maxFileBytes: 4000,
  };
  const plan = await syncDocuments(db, { ...options, dryRun: true });
  assert.equal(db.hasCollection('docs'), false, 'a dry run creates nothing');
  assert.equal(plan.chunks.toEmbed, expectedIds(source).length - 0 - chunkCount(source, 'big.txt'));
  assert.ok(plan.estimatedTokens > 0);
  assert.deepEqual(plan.skipped.map((s) => `${s.path}:${s.reason}`).sort(), [
    'big.txt:too-large',
    'bin.md:binary',
    'latin1.txt:invalid-utf8',
  ]);
  mkdirSync(join(data, 'sync'), { recursive: true });
  writeFileSync(join(data, 'sync', 'docs.checkpoint.json'), '{"version": 1, "compl');
  const r = await syncDocuments(db, options);
  assert.equal(r.previousRun, 'damaged');
  assert.equal(r.chunks.embedded, plan.chunks.toEmbed);
  const saved = JSON.parse(readFileSync(join(data, 'sync', 'docs.checkpoint.json'), 'utf8')) as {
    complete: boolean;
  };
  assert.equal(saved.complete, true);
});

function chunkCount(dir: string, path: string): number {
  const doc = documentText(path, readFileSync(join(dir, path)));
  return doc.ok ? chunkText(doc.text, CHUNK).length : 0;
}

test('the OpenAI-compatible provider: faults retried, tokens counted, bad answers stop the batch', async (t) => {
  const { source, data } = setup();
  for (let i = 0; i < 4; i++) writeDoc(source, `d${i}.md`, i * 10);
  const server = await startEmbeddingServer(DIM);
  t.after(() => server.close());
  const db = await open(t, data);
  const embedder = (key: string) =>
    openAiEmbedder({
      baseUrl: server.url,
      model: 'test-model',
      dimension: DIM,
      apiKey: () => Promise.resolve(key),
      // Long enough that a loaded CI machine answers every request but the hung one in time
      // (300 ms saw two extra timeouts there, and the retry count below is exact).
      timeoutMs: 2000,
      backoffMs: 10,
    });
  const options = (key: string): SyncOptions => ({
    source,
    collection: 'docs',
    embedder: embedder(key),
    chunk: CHUNK,
    batchSize: 3,
    concurrency: 2,
    pricePer1kTokens: 0.5,
  });

  server.faults.push('wrong-dimension');
  await assert.rejects(syncDocuments(db, options('k1')), (e) =>
    isQuiverError(e, 'DIMENSION_MISMATCH'),
  );
  server.faults.push('nan');
  await assert.rejects(
    syncDocuments(db, options('k1')),
    (e) => isQuiverError(e, 'INVALID_ARGUMENT') && /NaN/.test(e.message),
  );
  const written = db.hasCollection('docs') ? (await db.collection('docs').ids()).length : 0;
  assert.ok(written < expectedIds(source).length, 'the failed batches were not written');

  server.faults.push('429', '500', 'hang');
  const r = await syncDocuments(db, options('k2'));
  assert.deepEqual(await idsIn(db, 'docs'), expectedIds(source));
  assert.equal(r.retries, 3, '429, 500 and a timeout were retried');
  assert.ok(
    r.tokens > 0 && Math.abs(r.cost - (r.tokens / 1000) * 0.5) < 1e-9,
    `${r.tokens} tokens, cost ${r.cost}`,
  );
  assert.ok(server.keys.includes('Bearer k2'), 'the key is sent as a bearer token');

  const gone = await startEmbeddingServer(DIM);
  await gone.close();
  await assert.rejects(
    syncDocuments(db, {
      ...options('k'),
      embedder: openAiEmbedder({
        baseUrl: gone.url,
        model: 'm',
        dimension: DIM,
        maxRetries: 1,
        backoffMs: 1,
      }),
      collection: 'other',
    }),
    (e) => isQuiverError(e, 'UNAVAILABLE') && /failed 2 times/.test(e.message),
  );
});

test('the cost limit stops before the batch that would pass it; a later run goes on', async (t) => {
  const { source, data } = setup();
  for (let i = 0; i < 8; i++) writeDoc(source, `d${i}.md`, i * 10, 1);
  const server = await startEmbeddingServer(DIM);
  t.after(() => server.close());
  const db = await open(t, data);
  const options = (maxCost: number): SyncOptions => ({
    source,
    collection: 'docs',
    embedder: openAiEmbedder({ baseUrl: server.url, model: 'm', dimension: DIM }),
    chunk: CHUNK,
    batchSize: 2,
    concurrency: 1,
    pricePer1kTokens: 1,
    maxCost,
  });
  const total = expectedIds(source).length;
  const first = await syncDocuments(db, options(0.12));
  assert.equal(first.stopped?.reason, 'max-cost');
  assert.ok(first.cost <= 0.12, `cost ${first.cost}`);
  assert.ok(first.chunks.embedded > 0 && first.chunks.embedded < total);
  assert.match(first.stopped.message, /of \d+ chunks are embedded/);
  const second = await syncDocuments(db, options(100));
  assert.equal(second.stopped, undefined);
  assert.equal(second.previousRun, 'interrupted');
  assert.deepEqual(await idsIn(db, 'docs'), expectedIds(source));
  assert.equal(server.texts, total, 'no chunk was embedded twice');
});

test('a sync killed with SIGKILL resumes without embedding finished batches again', async (t) => {
  const { source, data } = setup();
  for (let i = 0; i < 12; i++) writeDoc(source, `d${i}.md`, i * 10, 2);
  const server = await startEmbeddingServer(DIM);
  t.after(() => server.close());
  server.delayMs = 60;
  const args = [...syncArgs(source, data, server.url), '--batch-size', '2', '--concurrency', '1'];
  const child = spawn(process.execPath, [...CLI_NODE_ARGS, ...args], { stdio: 'ignore' });
  const exited = new Promise((r) => child.on('exit', r));
  // The kill lands after a random number of requests (2..12; the seed is printed).
  const seed = Number(process.env['QUIVER_FC_SEED'] ?? Date.now() % 1_000_000);
  const killAfter = 2 + (seed % 11);
  t.diagnostic(`SIGKILL after ${killAfter} requests (seed ${seed})`);
  await until('a few batches embedded', () => server.requests >= killAfter, 60_000);
  child.kill('SIGKILL');
  await exited;
  const beforeResume = server.texts;
  server.delayMs = 0;
  const r = await quiverAsync([...args, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { previousRun: string; chunks: { embedded: number } };
  assert.equal(report.previousRun, 'interrupted');
  const total = expectedIds(source).length;
  // Only the batch in flight at the kill is embedded twice: a batch holds whole files, so
  // at most the chunks of the largest file here.
  const largest = Math.max(...filesOf(source).map((f) => chunkCount(source, f)));
  const twice = server.embedded.length - new Set(server.embedded).size;
  assert.ok(twice <= largest, `${twice} texts embedded twice; a file has at most ${largest}`);
  assert.equal(server.texts, total + twice);
  // (An early kill may land before the first batch is written: the resume then embeds
  // every chunk, and the in-flight texts are the ones embedded twice.)
  assert.ok(beforeResume > 0, 'the kill came after some texts were embedded');
  const db = await open(t, data);
  assert.deepEqual(await idsIn(db, 'docs'), expectedIds(source));
});

test('Ctrl-C stops a sync after the batch in flight; the next run embeds only the rest', async (t) => {
  const { source, data } = setup();
  for (let i = 0; i < 12; i++) writeDoc(source, `d${i}.md`, i * 10, 2);
  const server = await startEmbeddingServer(DIM);
  t.after(() => server.close());
  server.delayMs = 80;
  const args = [...syncArgs(source, data, server.url), '--batch-size', '2', '--concurrency', '1'];
  const child = spawn(process.execPath, [...CLI_NODE_ARGS, ...args, '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on('close', r));
  await until('a few batches embedded', () => server.requests >= 3, 60_000);
  child.kill('SIGINT');
  assert.equal(await exited, 1, stderr);
  assert.match(stderr, /stopping after the batch in flight/);
  const first = JSON.parse(stdout) as SyncReport;
  assert.equal(first.stopped?.reason, 'cancelled');
  const total = expectedIds(source).length;
  assert.ok(first.chunks.embedded > 0 && first.chunks.embedded < total, stdout);

  server.delayMs = 0;
  const r = await quiverAsync([...args, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const second = JSON.parse(r.stdout) as SyncReport;
  assert.equal(first.chunks.embedded + second.chunks.embedded, total);
  assert.equal(server.texts, total, 'the batch in flight was written, not embedded again');
  const db = await open(t, data);
  assert.deepEqual(await idsIn(db, 'docs'), expectedIds(source));
});

test('sync touches only its own points, refuses to empty a collection, refreshes moved chunks, stays in its folder', async (t) => {
  const { source, data } = setup();
  for (let i = 0; i < 3; i++) writeDoc(source, `d${i}.md`, i * 10);
  const db = await open(t, data);
  const options: SyncOptions = {
    source,
    collection: 'docs',
    embedder: localEmbedder(DIM),
    chunk: CHUNK,
  };
  await syncDocuments(db, options);
  const c = db.collection('docs');
  await c.upsert([
    { id: 'mine', vector: new Array<number>(DIM).fill(0.5), payload: { note: 'not from sync' } },
  ]);

  // Text inserted above: the chunks below keep their ids, their payload follows them.
  const d0 = readFileSync(join(source, 'd0.md'), 'utf8');
  writeFileSync(join(source, 'd0.md'), d0.replace('## Part 2', 'A new paragraph.\n\n## Part 2'));
  const r = await syncDocuments(db, options);
  assert.ok(r.chunks.refreshed > 0, 'moved chunks get their new position');
  for (const p of await c.getMany((await c.ids()).filter((id) => id !== 'mine'))) {
    if (p.payload['source'] !== 'd0.md') continue;
    const text = readFileSync(join(source, 'd0.md'));
    const at = text.subarray(p.payload['byte_start'] as number, p.payload['byte_end'] as number);
    assert.equal(at.toString('utf8'), p.payload['text'], 'byte ranges point at the text');
  }
  assert.deepEqual(await idsIn(db, 'docs'), [...expectedIds(source), 'mine'].sort());

  // A link out of the folder is not followed; a link loop does not spin.
  const outside = join(data, '..', 'outside');
  mkdirSync(outside);
  writeDoc(outside, 'secret.md', 77);
  symlinkSync(outside, join(source, 'out'));
  symlinkSync('.', join(source, 'loop'));
  const linked = await syncDocuments(db, { ...options, dryRun: true });
  assert.equal(linked.chunks.toEmbed, 0, 'nothing outside the folder, nothing twice');
  assert.deepEqual(linked.skipped, [{ path: 'out', reason: 'link-outside-source' }]);

  // The folder empties (an unmounted disk): refused, nothing deleted.
  for (const f of ['d0.md', 'd1.md', 'd2.md']) rmSync(join(source, f));
  await assert.rejects(
    syncDocuments(db, options),
    (e) => isQuiverError(e, 'INVALID_ARGUMENT') && /pass allowEmptySource: true\./.test(e.message),
  );
  assert.ok((await c.ids()).length > 1);
  const emptied = await syncDocuments(db, { ...options, allowEmptySource: true });
  assert.ok(emptied.chunks.deleted > 0);
  assert.deepEqual(await idsIn(db, 'docs'), ['mine'], 'a point sync did not write stays');
  await assert.rejects(syncDocuments(db, { ...options, collection: '../escape' }), (e) =>
    isQuiverError(e, 'INVALID_ARGUMENT'),
  );
});

test('front matter edited alone updates the payload without embedding', async (t) => {
  const { source, data } = setup();
  writeFileSync(join(source, 'a.md'), `---\ndraft: true\n---\n# A\n\n${words(3, 30)}\n`);
  const db = await open(t, data);
  const options: SyncOptions = {
    source,
    collection: 'docs',
    embedder: localEmbedder(DIM),
    chunk: CHUNK,
  };
  await syncDocuments(db, options);
  writeFileSync(join(source, 'a.md'), `---\ndraft: fals\n---\n# A\n\n${words(3, 30)}\n`);
  const r = await syncDocuments(db, options);
  assert.equal(r.chunks.embedded, 0);
  assert.ok(r.chunks.refreshed > 0);
  const [p] = await db.collection('docs').getMany(await db.collection('docs').ids());
  assert.deepEqual(p?.payload['meta'], { draft: 'fals' });
});

test('an API key file replaced during a run is used from the next request on', async (t) => {
  const { source, data } = setup();
  for (let i = 0; i < 6; i++) writeDoc(source, `d${i}.md`, i * 10, 1);
  const server = await startEmbeddingServer(DIM);
  t.after(() => server.close());
  server.delayMs = 80;
  const keyFile = join(data, '..', 'key');
  writeFileSync(keyFile, 'old-key\n');
  const run = quiverAsync([
    ...syncArgs(source, data, server.url),
    '--batch-size',
    '1',
    '--concurrency',
    '1',
    '--api-key-file',
    keyFile,
  ]);
  await until('the first request', () => server.requests >= 1, 60_000);
  writeFileSync(keyFile, 'new-key\n');
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(server.keys[0], 'Bearer old-key');
  assert.equal(server.keys.at(-1), 'Bearer new-key', 'the rotated key, without a restart');
  assert.ok(!r.stdout.includes('key') && !r.stderr.includes('new-key'), 'the key is never printed');
  await (await open(t, data)).collection('docs').ids();
});

test('a collection dropped during its sync stops the run with an error naming it; the next run builds it anew', async (t) => {
  const { source, data } = setup();
  for (let i = 0; i < 8; i++) writeDoc(source, `d${i}.md`, i * 10, 1);
  const db = await open(t, data);
  let drop: Promise<void> | undefined;
  const options: SyncOptions = {
    source,
    collection: 'docs',
    embedder: localEmbedder(DIM),
    chunk: CHUNK,
    batchSize: 2,
    concurrency: 1,
    // Another caller of the database drops the collection once the first batch is written.
    onProgress: (p) => {
      if (p.chunksEmbedded > 0) drop ??= db.dropCollection('docs');
    },
  };
  await assert.rejects(
    syncDocuments(db, options),
    (e) =>
      isQuiverError(e, 'CLOSED') &&
      /Collection "docs" was dropped while .* was synced into it \(\d+ chunks embedded by then\)/.test(
        e.message,
      ),
  );
  await drop;
  assert.equal(db.hasCollection('docs'), false, 'nothing recreated it after the drop');
  const { onProgress: _dropper, ...rest } = options;
  const again = await syncDocuments(db, rest);
  assert.equal(again.stopped, undefined);
  assert.deepEqual(await idsIn(db, 'docs'), expectedIds(source));
});
