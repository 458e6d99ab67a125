/**
 * The doctor against the real engine: planted orphans (a deleted file), gaps (points
 * deleted behind sync's back), drift (an edited file), damaged text, a zero vector, a
 * second embedder and a missing field are each found with counts and example ids; a deep
 * scan tells a changed embedding function from vectors of another size; skipped files and
 * foreign points have kinds of their own; --fix through the CLI prints its plan, repairs
 * what it can, and a second run is clean (exit 0).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { doctorCollection, Quiver } from '../../src/index.js';
import { isQuiverError } from '../../src/common/quiver-error.js';
import type { DoctorReport, FindingKind } from '../../src/sync/doctor.js';
import { localEmbedder } from '../../src/sync/embedder.js';
import { openAiEmbedder } from '../../src/sync/openai-embedder.js';
import { syncDocuments } from '../../src/sync/sync.js';
import { quiver } from '../helpers/cli-run.js';
import { tempDir } from '../helpers/temp-dir.js';
import { startEmbeddingServer } from './embedding-server.js';

const DIM = 32;
const CHUNK = { maxTokens: 40, overlapTokens: 4 };

function writeDoc(dir: string, path: string, seed: number): void {
  const words = (s: number): string =>
    Array.from({ length: 50 }, (_, i) => `w${(s * 7919 + i * 104729) % 9973}`).join(' ');
  writeFileSync(
    join(dir, path),
    `# Doc ${seed}\n\n## A\n\n${words(seed)}\n\n## B\n\n${words(seed + 1)}\n`,
  );
}

async function synced(t: TestContext, metric: 'cosine' | 'euclid' = 'cosine') {
  const root = tempDir(undefined, 'quiver-doctor-');
  const source = join(root, 'docs');
  const data = join(root, 'data');
  mkdirSync(source);
  for (let i = 0; i < 5; i++) writeDoc(source, `d${i}.md`, i * 10);
  const db = await Quiver.open(data, { fsync: 'none' });
  t.after(async () => {
    if (!closed) await db.close();
    rmSync(root, { recursive: true, force: true });
  });
  let closed = false;
  if (metric === 'euclid') await db.createCollection('docs', { dimension: DIM, metric });
  await syncDocuments(db, {
    source,
    collection: 'docs',
    embedder: localEmbedder(DIM),
    chunk: CHUNK,
  });
  return {
    db,
    source,
    data,
    close: async () => {
      closed = true;
      await db.close();
    },
  };
}

function status(r: DoctorReport, kind: FindingKind): [string, number] | undefined {
  const f = r.findings.find((x) => x.kind === kind);
  return f === undefined ? undefined : [f.status, f.count];
}

test('a clean collection passes; orphans, gaps and drift are found and fixed', async (t) => {
  const { db, source } = await synced(t);
  const clean = await doctorCollection(db, { collection: 'docs' });
  assert.equal(clean.ok, true, JSON.stringify(clean.findings));
  assert.equal(clean.coverage, 1);
  assert.equal(clean.source, source, 'the source comes from the last sync');

  const c = db.collection('docs');
  const ids = (await c.ids()).map(String);
  const fromD1 = (await c.getMany(ids)).filter((p) => p.payload['source'] === 'd1.md');
  rmSync(join(source, 'd1.md')); // orphans: d1's points
  const gap = ids.find((id) => !fromD1.some((p) => p.id === id))!;
  await c.delete([gap]); // a gap: a chunk of a file that is still there
  const d2 = readFileSync(join(source, 'd2.md'), 'utf8');
  writeFileSync(join(source, 'd2.md'), d2.replace('## B', '## B changed')); // drift
  const sick = await doctorCollection(db, { collection: 'docs' });
  assert.equal(sick.ok, false);
  assert.deepEqual(status(sick, 'orphans'), ['FAIL', fromD1.length]);
  assert.equal(status(sick, 'drift')?.[0], 'FAIL');
  assert.equal(status(sick, 'missing')?.[0], 'FAIL');
  assert.ok(sick.coverage! < 1);
  const orphanFinding = sick.findings.find((f) => f.kind === 'orphans')!;
  assert.ok(orphanFinding.examples.every((id) => fromD1.some((p) => p.id === id)));

  const fixed = await doctorCollection(db, {
    collection: 'docs',
    fix: true,
    embedder: localEmbedder(DIM),
  });
  assert.equal(fixed.ok, true, JSON.stringify(fixed.findings));
  assert.ok(fixed.fix!.deleted >= fromD1.length && fixed.fix!.embedded >= 1);
  assert.equal(fixed.coverage, 1);
  assert.equal((await doctorCollection(db, { collection: 'docs' })).ok, true);
});

test('damaged text, zero vectors, a second embedder, missing fields and a changed embedding function', async (t) => {
  const { db } = await synced(t, 'euclid');
  const c = db.collection('docs');
  const [a, b] = (await c.ids()).map(String);
  await c.setPayload([a!], { text: 'not what the hash says' });
  const template = (await c.getMany([b!]))[0]!;
  await c.upsert([
    {
      id: 'zero',
      vector: new Array<number>(DIM).fill(0),
      payload: { ...template.payload, chunk_index: 99 },
    },
    {
      id: 'other-model',
      vector: template.vector,
      payload: {
        ...template.payload,
        embedder: { provider: 'openai', model: 'm', dimension: DIM },
      },
    },
    {
      id: 'no-text',
      vector: template.vector,
      payload: { source: 'd0.md', embedder: template.payload['embedder'] ?? null },
    },
  ]);
  const r = await doctorCollection(db, {
    collection: 'docs',
    deepScan: true,
    embedder: localEmbedder(DIM),
  });
  assert.deepEqual(status(r, 'content'), ['FAIL', 1]);
  assert.deepEqual(status(r, 'vectors'), ['FAIL', 1]);
  assert.equal(status(r, 'embedders')?.[0], 'FAIL');
  assert.match(r.findings.find((f) => f.kind === 'embedders')!.message, /2 embedders/);
  assert.equal(status(r, 'metadata')?.[0], 'FAIL');
  assert.match(r.findings.find((f) => f.kind === 'metadata')!.message, /text \(1 points\)/);
  assert.equal(status(r, 'deep-scan')?.[0], 'PASS', 'the same embedder: the stored vectors match');
  // The same model and size, another function: the stored vectors no longer match.
  const local = localEmbedder(DIM);
  const changed = await doctorCollection(db, {
    collection: 'docs',
    deepScan: true,
    embedder: {
      ...local,
      embed: (texts) => local.embed(texts.map((x) => [...x].reverse().join(''))),
    },
  });
  assert.equal(status(changed, 'deep-scan')?.[0], 'FAIL');
  assert.match(
    changed.findings.find((f) => f.kind === 'deep-scan')!.message,
    /embedding function changed/,
  );
  assert.equal(status(changed, 'dimension'), undefined);
});

test('a deep scan with vectors of another size is a dimension finding, not a changed model', async (t) => {
  const { db } = await synced(t);
  // Flags naming another size: known before anything is embedded.
  const flags = await doctorCollection(db, {
    collection: 'docs',
    deepScan: true,
    embedder: localEmbedder(DIM * 2),
  });
  assert.deepEqual(status(flags, 'dimension'), ['FAIL', 1]);
  assert.equal(status(flags, 'deep-scan'), undefined, 'no model change is claimed');
  const message = flags.findings.find((f) => f.kind === 'dimension')!.message;
  assert.match(
    message,
    new RegExp(`gives ${DIM * 2}-value vectors but the collection holds ${DIM}-value`),
  );
  assert.match(message, new RegExp(`--dimension ${DIM}`));
  assert.doesNotMatch(message, /embedding function changed/);

  // The same model name answering another size (no dimension given up front), over HTTP.
  const server = await startEmbeddingServer(DIM * 2);
  t.after(() => server.close());
  const remote = openAiEmbedder({ baseUrl: server.url, model: 'feature-hashing-v1' });
  const answered = await doctorCollection(db, {
    collection: 'docs',
    deepScan: true,
    embedder: { ...remote, provider: 'local', embed: (x) => remote.embed(x) },
  });
  assert.deepEqual(status(answered, 'dimension'), ['FAIL', 1]);
  assert.equal(status(answered, 'deep-scan'), undefined);
  assert.ok(server.requests > 0, 'the sample was embedded');

  // An embedder that checks its answers' size (--dimension given) refuses them: the same.
  const checking = openAiEmbedder({ baseUrl: server.url, model: 'm', dimension: DIM });
  const refused = await doctorCollection(db, {
    collection: 'docs',
    deepScan: true,
    embedder: {
      provider: 'local',
      model: 'feature-hashing-v1',
      dimension: undefined,
      embed: (x) => checking.embed(x),
    },
  });
  assert.deepEqual(status(refused, 'dimension'), ['FAIL', 1]);
  assert.match(
    refused.findings.find((f) => f.kind === 'dimension')!.message,
    new RegExp(`gives ${DIM * 2}-value vectors`),
  );
});

test('skipped files and points sync did not write are findings of their own kinds', async (t) => {
  const { db, source } = await synced(t);
  writeFileSync(join(source, 'bin.md'), Buffer.from([0x61, 0, 0x62]));
  const c = db.collection('docs');
  const [any] = await c.getMany([(await c.ids())[0]!], { withVector: true });
  await c.upsert([{ id: 'mine', vector: any!.vector, payload: { note: 'not from sync' } }]);
  const r = await doctorCollection(db, { collection: 'docs' });
  assert.deepEqual(status(r, 'skipped'), ['INFO', 1]);
  assert.match(r.findings.find((f) => f.kind === 'skipped')!.message, /bin\.md: binary/);
  assert.deepEqual(status(r, 'foreign'), ['INFO', 1]);
  assert.deepEqual(r.findings.find((f) => f.kind === 'foreign')!.examples, ['mine']);
  assert.equal(status(r, 'source'), undefined, 'the source is known');
  const kinds = r.findings.map((f) => f.kind);
  assert.equal(new Set(kinds).size, kinds.length, `one finding a kind: ${kinds.join(', ')}`);
});

test('quiver doctor: FAIL exits 1; --fix prints its plan and repairs; a second run exits 0', async (t) => {
  const { source, data, close } = await synced(t);
  await close();
  rmSync(join(source, 'd3.md'));
  writeDoc(source, 'd9.md', 90);
  const base = ['doctor', '--data', data, '--collection', 'docs', '--dimension', String(DIM)];
  const sick = quiver([...base, '--json']);
  assert.equal(sick.code, 1, sick.stderr);
  const report = JSON.parse(sick.stdout) as DoctorReport;
  assert.equal(status(report, 'orphans')?.[0], 'FAIL');
  assert.equal(status(report, 'missing')?.[0], 'FAIL');
  const out = join(data, '..', 'report.json');
  const fix = quiver([...base, '--fix', '--output', out]);
  assert.equal(fix.code, 0, fix.stdout + fix.stderr);
  assert.match(fix.stdout, /fix plan: orphans \d+, missing \d+; applying/);
  assert.match(fix.stdout, /fixed: deleted \d+ points, embedded \d+ chunks/);
  assert.equal((JSON.parse(readFileSync(out, 'utf8')) as DoctorReport).ok, true);
  const again = quiver(base);
  assert.equal(again.code, 0, again.stdout);
  assert.match(again.stdout, /PASS {2}orphans/);
});

test('a fix with another embedder than the sync used is refused before anything is deleted', async (t) => {
  const { db, source } = await synced(t);
  rmSync(join(source, 'd0.md'));
  const before = (await db.collection('docs').ids()).length;
  await assert.rejects(
    doctorCollection(db, { collection: 'docs', fix: true, embedder: localEmbedder(DIM * 2) }),
    (e) => isQuiverError(e, 'INVALID_ARGUMENT') && /nothing was deleted/.test(e.message),
  );
  assert.equal((await db.collection('docs').ids()).length, before);
});
