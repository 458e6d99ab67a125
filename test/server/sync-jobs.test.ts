/**
 * Sync and doctor jobs over HTTP against a real `quiver serve`: a sync job started with
 * POST /collections/{c}/sync runs in the background, its status route reports the final
 * report, the official Qdrant client then finds the documents; sources outside syncRoots
 * are refused (403); a doctor job reports findings; /metrics counts chunks, tokens and
 * doctor findings; a refused empty source names the body field allow_empty_source; a server
 * without syncRoots answers 409 to both routes; --sync-price-per-1k (and its old spelling)
 * prices the tokens; a running job cancelled with DELETE stops at a batch, keeps what it
 * wrote, and the next job goes on from there.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { QdrantClient } from '@qdrant/js-client-rest';
import { localEmbedder } from '../../src/sync/embedder.js';
import { startEmbeddingServer } from '../sync/embedding-server.js';
import { tempDir } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';
import { removeDir, spawnServe } from './server-helpers.js';

const DIM = 64;

interface JobView {
  state: string;
  cancel_requested?: boolean;
  progress: { phase?: string; pointsRead?: number; points?: number } | null;
  report: {
    chunks?: { embedded: number };
    stopped?: { reason: string; message: string };
    cost?: number;
    tokens?: number;
    ok?: boolean;
    findings?: { kind: string; status: string }[];
  } | null;
  error: { code: string; message: string } | null;
}

test('sync and doctor jobs: started over HTTP, polled, searched with the official client', async (t) => {
  const dir = tempDir(undefined, 'quiver-sync-jobs-');
  const docs = join(dir, 'roots', 'docs');
  mkdirSync(docs, { recursive: true });
  for (let i = 0; i < 4; i++) {
    writeFileSync(
      join(docs, `d${i}.md`),
      `# Topic ${i}\n\nThis page explains subject number ${i} with words like alpha${i} beta${i}.\n`,
    );
  }
  const serve = await spawnServe(t, [
    '--data',
    join(dir, 'data'),
    '--sync-roots',
    join(dir, 'roots'),
    '--sync-dimension',
    String(DIM),
    '--sync-price-per-1k',
    '2',
  ]);
  t.after(() => removeDir(dir));
  const post = async (path: string, body: unknown): Promise<Response> =>
    fetch(`${serve.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const waitFor = async (statusUrl: string): Promise<JobView> => {
    let view: JobView | undefined;
    await until('the job to finish', async () => {
      view = ((await (await fetch(`${serve.url}${statusUrl}`)).json()) as { result: JobView })
        .result;
      return view.state !== 'running';
    });
    return view!;
  };

  const outside = await post('/collections/docs/sync', { source: dir });
  assert.equal(outside.status, 403, await outside.text());
  // A missing path outside the roots answers the same 403: the route tells nobody what exists.
  const missing = await post('/collections/docs/sync', { source: join(dir, 'no-such-folder') });
  assert.equal(missing.status, 403, await missing.text());
  const missingInside = await post('/collections/docs/sync', { source: join(docs, 'nope') });
  assert.equal(missingInside.status, 400, await missingInside.text());
  const bad = await post('/collections/..%2Fx/sync', { source: docs });
  assert.ok(bad.status === 400 || bad.status === 404, String(bad.status));

  const started = await post('/collections/docs/sync', { source: docs });
  assert.equal(started.status, 202, await started.clone().text());
  const { status_url } = ((await started.json()) as { result: { status_url: string } }).result;
  const done = await waitFor(status_url);
  assert.equal(done.state, 'done', JSON.stringify(done.error));
  assert.equal(done.report?.chunks?.embedded, 4);
  assert.ok((done.report?.tokens ?? 0) > 0);
  const priced = (done.report.tokens! / 1000) * 2;
  assert.ok(Math.abs(done.report.cost! - priced) < 1e-9, '--sync-price-per-1k 2');

  const client = new QdrantClient({ url: serve.url, checkCompatibility: false });
  const [q] = (await localEmbedder(DIM).embed(['subject number 2 alpha2 beta2'])).vectors;
  const hits = await client.search('docs', {
    vector: Array.from(q!),
    limit: 1,
    with_payload: true,
  });
  assert.equal(hits[0]?.payload?.['source'], 'd2.md');

  rmSync(join(docs, 'd3.md'));
  const doctor = await post('/collections/docs/doctor', {});
  assert.equal(doctor.status, 202);
  const checked = await waitFor(
    ((await doctor.json()) as { result: { status_url: string } }).result.status_url,
  );
  assert.equal(checked.report?.ok, false);
  assert.deepEqual(checked.progress, { phase: 'examining', pointsRead: 4, points: 4 });
  assert.ok(checked.report?.findings?.some((f) => f.kind === 'orphans' && f.status === 'FAIL'));

  const metrics = await (await fetch(`${serve.url}/metrics`)).text();
  assert.match(metrics, /quiver_sync_chunks_total\{outcome="embedded"\} 4/);
  assert.match(metrics, /quiver_embedding_tokens_total [1-9]/);
  assert.match(metrics, /quiver_doctor_findings\{collection="docs",kind="orphans"\} 1/);

  // Every file gone: refused, in the words of the HTTP body, not of the CLI.
  for (let i = 0; i < 3; i++) rmSync(join(docs, `d${i}.md`));
  const emptied = await post('/collections/docs/sync', { source: docs });
  assert.equal(emptied.status, 202);
  const refused = await waitFor(
    ((await emptied.json()) as { result: { status_url: string } }).result.status_url,
  );
  assert.equal(refused.state, 'failed');
  assert.equal(refused.error?.code, 'INVALID_ARGUMENT');
  assert.match(refused.error.message, /pass "allow_empty_source": true\./);
  assert.doesNotMatch(refused.error.message, /--allow-empty-source|--include/);
  // A refusal is not an embedding error: nothing was sent to the embedder.
  const after = await (await fetch(`${serve.url}/metrics`)).text();
  assert.match(after, /^quiver_embedding_errors_total 0$/m);
  assert.equal(await serve.stop(), 0);
});

test('without syncRoots the sync and doctor routes answer 409 naming the setting', async (t) => {
  const dir = tempDir(undefined, 'quiver-sync-jobs-off-');
  // The flag's former spelling is still accepted (hidden from --help).
  const serve = await spawnServe(t, ['--data', join(dir, 'data'), '--sync-price-per1k', '1']);
  t.after(() => removeDir(dir));
  const post = async (path: string, body: unknown): Promise<Response> =>
    fetch(`${serve.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const created = await fetch(`${serve.url}/collections/docs`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ vectors: { size: DIM, distance: 'Cosine' } }),
  });
  assert.equal(created.status, 200, await created.text());
  for (const [route, body] of [
    ['doctor', {}],
    ['sync', { source: dir }],
  ] as const) {
    const r = await post(`/collections/docs/${route}`, body);
    const text = await r.text();
    assert.equal(r.status, 409, text);
    assert.match(text, new RegExp(`${route} jobs are off on this server: the syncRoots setting`));
  }
  assert.equal(await serve.stop(), 0);
});

test('a running sync job cancelled with DELETE stops at a batch and keeps what it wrote', async (t) => {
  const dir = tempDir(undefined, 'quiver-sync-cancel-');
  const docs = join(dir, 'roots', 'docs');
  mkdirSync(docs, { recursive: true });
  const FILES = 400;
  for (let i = 0; i < FILES; i++) {
    writeFileSync(join(docs, `d${i}.md`), `# Page ${i}\n\nWords of page ${i}: gamma${i}.\n`);
  }
  // A slow embedding service: every request takes 250 ms, so the job is still running when
  // the DELETE arrives (128 chunks a batch: at least 4 batches).
  const embeddings = await startEmbeddingServer(DIM);
  embeddings.delayMs = 250;
  t.after(() => embeddings.close());
  const serve = await spawnServe(t, [
    '--data',
    join(dir, 'data'),
    '--sync-roots',
    join(dir, 'roots'),
    '--sync-embedder',
    'openai',
    '--sync-base-url',
    embeddings.url,
    '--sync-model',
    'test-model',
    '--sync-dimension',
    String(DIM),
  ]);
  t.after(() => removeDir(dir));
  const call = async (method: string, path: string, body?: unknown): Promise<Response> =>
    fetch(`${serve.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const view = async (url: string): Promise<JobView> =>
    ((await (await call('GET', url)).json()) as { result: JobView }).result;

  const started = await call('POST', '/collections/docs/sync', { source: docs });
  assert.equal(started.status, 202);
  const url = ((await started.json()) as { result: { status_url: string } }).result.status_url;
  const dropped = await call('DELETE', '/collections/docs');
  assert.equal(dropped.status, 409, 'a collection is not dropped under a running job');
  assert.match(await dropped.text(), /cancel it first \(DELETE \/collections\/docs\/jobs\//);
  const cancel = await call('DELETE', url);
  assert.equal(cancel.status, 202, await cancel.clone().text());
  assert.equal(((await cancel.json()) as { result: JobView }).result.cancel_requested, true);
  let stopped: JobView | undefined;
  await until('the cancelled job to stop', async () => {
    stopped = await view(url);
    return stopped.state !== 'running';
  });
  assert.equal(stopped!.state, 'cancelled', JSON.stringify(stopped!.error));
  assert.equal(stopped!.report?.stopped?.reason, 'cancelled');
  const first = stopped!.report?.chunks?.embedded ?? -1;
  assert.ok(first >= 0 && first < FILES, `embedded ${first} of ${FILES} before stopping`);
  const again = await call('DELETE', url);
  assert.equal(again.status, 409, 'a finished job cannot be cancelled');

  // The next job embeds only what the cancelled one left.
  const rest = await call('POST', '/collections/docs/sync', { source: docs });
  const restUrl = ((await rest.json()) as { result: { status_url: string } }).result.status_url;
  let done: JobView | undefined;
  await until(
    'the second job to finish',
    async () => {
      done = await view(restUrl);
      return done.state !== 'running';
    },
    60_000,
  );
  assert.equal(done!.state, 'done', JSON.stringify(done!.error));
  assert.equal(first + (done!.report?.chunks?.embedded ?? 0), FILES);
  assert.equal(await serve.stop(), 0);
});
