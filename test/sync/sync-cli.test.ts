/**
 * `quiver sync` and `quiver doctor` as a user and a cron run them, real subprocesses over a
 * real database: --json is one line a run (two runs appended make a valid JSON-lines
 * file); --dry-run lists the files it would embed and delete, bounded in JSON; a FIFO in
 * the folder is skipped, never opened, and links out of it or to nothing are reported;
 * a database held by another process (a server) gets advice to use the server's job
 * route; `doctor --output` naming a folder is refused up front and leaves no temp file;
 * the empty-source refusal names the CLI's flag.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { Quiver } from '../../src/index.js';
import { localEmbedder } from '../../src/sync/embedder.js';
import type { SyncReport } from '../../src/sync/sync.js';
import { PLAN_LIST_LIMIT, syncDocuments } from '../../src/sync/sync.js';
import type { DoctorReport } from '../../src/sync/doctor.js';
import { CLI_NODE_ARGS, quiver } from '../helpers/cli-run.js';
import type { CliRun } from '../helpers/cli-run.js';
import { tempDir } from '../helpers/temp-dir.js';

const DIM = 32;
const ROOT = new URL('../../', import.meta.url).pathname;

function words(seed: number, n: number): string {
  return Array.from({ length: n }, (_, i) => `w${(seed * 7919 + i * 104729) % 9973}`).join(' ');
}

function writeDoc(dir: string, path: string, seed: number): void {
  mkdirSync(join(dir, path, '..'), { recursive: true });
  writeFileSync(
    join(dir, path),
    `# Doc ${seed}\n\n## A\n\n${words(seed, 60)}\n\n## B\n\n${words(seed + 1, 60)}\n`,
  );
}

/**
 * A source folder and a database path in a fresh temp folder, removed after the test once
 * the database `open` opened in this process is closed.
 */
function setup(t: TestContext): {
  root: string;
  source: string;
  data: string;
  open: () => Promise<Quiver>;
} {
  const root = tempDir(undefined, 'quiver-sync-cli-');
  const source = join(root, 'docs');
  const data = join(root, 'data');
  mkdirSync(source);
  let db: Quiver | undefined;
  t.after(async () => {
    await db?.close();
    if (process.env['QUIVER_KEEP_TMP'] !== '1') rmSync(root, { recursive: true, force: true });
  });
  const open = async (): Promise<Quiver> => (db = await Quiver.open(data, { fsync: 'none' }));
  return { root, source, data, open };
}

function syncArgs(source: string, data: string): string[] {
  return ['sync', source, '--data', data, '--collection', 'docs', '--dimension', String(DIM)];
}

/** `quiver ARGS…` killed after `timeoutMs` (a hang fails the test instead of stalling it). */
function quiverWithin(args: readonly string[], timeoutMs: number): CliRun & { timedOut: boolean } {
  const r = spawnSync(process.execPath, [...CLI_NODE_ARGS, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  return {
    code: r.status ?? -1,
    stdout: r.stdout,
    stderr: r.stderr,
    timedOut: r.error !== undefined || r.signal === 'SIGKILL',
  };
}

test('--json prints one line a run: a cron appending runs writes valid JSON lines', (t) => {
  const { root, source, data } = setup(t);
  for (let i = 0; i < 3; i++) writeDoc(source, `d${i}.md`, i * 10);
  const log = join(root, 'sync.jsonl');
  for (let run = 0; run < 2; run++) {
    const r = quiver([...syncArgs(source, data), '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split('\n').length, 2, `one line and its newline: ${r.stdout}`);
    appendFileSync(log, r.stdout);
  }
  const lines = readFileSync(log, 'utf8').trimEnd().split('\n');
  assert.equal(lines.length, 2);
  const [first, second] = lines.map((l) => JSON.parse(l) as SyncReport);
  assert.ok(first!.chunks.embedded > 0);
  assert.equal(second!.chunks.embedded, 0, 'the second run is in step');

  const doctor = quiver([
    'doctor',
    '--data',
    data,
    '--collection',
    'docs',
    '--dimension',
    String(DIM),
    '--json',
  ]);
  assert.equal(doctor.code, 0, doctor.stderr);
  assert.equal(doctor.stdout.split('\n').length, 2, `one line: ${doctor.stdout}`);
  assert.equal((JSON.parse(doctor.stdout) as DoctorReport).ok, true);
});

test('--dry-run lists the files it would embed and delete, with chunk counts and the cost', (t) => {
  const { source, data } = setup(t);
  for (let i = 0; i < 3; i++) writeDoc(source, `d${i}.md`, i * 10);
  const args = [...syncArgs(source, data), '--chunk-tokens', '40', '--chunk-overlap', '4'];
  assert.equal(quiver(args).code, 0);
  // d0 edited (one section), d1 deleted, new.md added; d2 unchanged.
  const d0 = readFileSync(join(source, 'd0.md'), 'utf8');
  writeFileSync(join(source, 'd0.md'), d0.replace('## B', '## B edited'));
  rmSync(join(source, 'd1.md'));
  writeDoc(source, 'new.md', 70);

  const text = quiver([...args, '--dry-run', '--price-per-1k', '2']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^embed {5}d0\.md \(\d+ of \d+ chunks, changed, ~\d+ tokens\)$/m);
  assert.match(text.stdout, /^embed {5}new\.md \(\d+ chunks, new, ~\d+ tokens\)$/m);
  assert.match(text.stdout, /^delete {4}d0\.md \(\d+ points?, chunks the file no longer has\)$/m);
  assert.match(text.stdout, /^delete {4}d1\.md \(\d+ points?, file gone or skipped\)$/m);
  assert.doesNotMatch(text.stdout, /d2\.md/, 'an unchanged file is not listed');
  assert.match(text.stdout, /^estimate {2}\d+ tokens, cost \d+\.\d{4}$/m);

  const json = quiver([...args, '--dry-run', '--price-per-1k', '2', '--json']);
  const r = JSON.parse(json.stdout) as SyncReport;
  assert.ok(r.plan !== undefined);
  assert.deepEqual(
    r.plan.embed.map((f) => `${f.path}:${f.change}`),
    ['d0.md:changed', 'new.md:new'],
  );
  assert.deepEqual(
    r.plan.delete.map((f) => `${f.path}:${f.why}`),
    ['d0.md:changed', 'd1.md:gone'],
  );
  assert.equal(
    r.plan.embed.reduce((n, f) => n + f.chunks, 0),
    r.chunks.toEmbed,
  );
  assert.equal(
    r.plan.delete.reduce((n, f) => n + f.points, 0),
    r.chunks.toDelete,
  );
  assert.deepEqual([r.plan.embedFiles, r.plan.deleteFiles, r.plan.truncated], [2, 2, false]);
  assert.ok(
    r.estimatedCost > 0 && Math.abs(r.estimatedCost - (r.estimatedTokens / 1000) * 2) < 1e-9,
  );
  const [e0] = r.plan.embed;
  assert.ok(e0!.chunks > 0 && e0!.chunks < e0!.of, 'only the edited part of d0');
});

test('a dry run lists at most PLAN_LIST_LIMIT files and says it is truncated', async (t) => {
  const { source, open } = setup(t);
  for (let i = 0; i <= PLAN_LIST_LIMIT; i++)
    writeFileSync(join(source, `f${i}.txt`), `file ${i}\n`);
  const db = await open();
  const r = await syncDocuments(db, {
    source,
    collection: 'docs',
    embedder: localEmbedder(DIM),
    dryRun: true,
  });
  assert.equal(r.plan?.embed.length, PLAN_LIST_LIMIT);
  assert.equal(r.plan.embedFiles, PLAN_LIST_LIMIT + 1);
  assert.equal(r.plan.truncated, true);
});

test('a FIFO is skipped without being opened; links out of the folder or to nothing are reported', (t) => {
  const { root, source, data } = setup(t);
  writeDoc(source, 'a.md', 1);
  execFileSync('mkfifo', [join(source, 'pipe.md')]);
  const outside = join(root, 'outside');
  mkdirSync(outside);
  writeDoc(outside, 'secret.md', 2);
  symlinkSync(outside, join(source, 'out'));
  symlinkSync(join(outside, 'secret.md'), join(source, 'secret-link.md'));
  symlinkSync(join(root, 'nowhere.md'), join(source, 'dangling.md'));
  writeFileSync(join(source, 'empty.md'), '');

  const r = quiverWithin([...syncArgs(source, data), '--json'], 30_000);
  assert.equal(r.timedOut, false, 'the sync hung on the FIFO');
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as SyncReport;
  assert.deepEqual(
    report.skipped.map((s) => `${s.path}:${s.reason}`),
    [
      'dangling.md:dangling-link',
      'out:link-outside-source',
      'pipe.md:not-a-file',
      'secret-link.md:link-outside-source',
    ],
  );
  assert.equal(report.files.skipped, 4, 'an empty regular file is read (no chunks), not skipped');
  assert.equal(report.files.changed, 1, 'a.md alone is embedded');

  const text = quiverWithin([...syncArgs(source, data), '--dry-run'], 30_000);
  assert.equal(text.timedOut, false);
  assert.match(text.stdout, /^skipped {3}pipe\.md: not-a-file$/m);
  assert.match(text.stdout, /^skipped {3}dangling\.md: dangling-link$/m);
});

test('sync and doctor on a database another process holds say to use the server route', async (t) => {
  const { source, data, open } = setup(t);
  writeDoc(source, 'a.md', 1);
  assert.equal(quiver(syncArgs(source, data)).code, 0);
  await open(); // holds the lock, like a server

  const sync = quiver(syncArgs(source, data));
  assert.equal(sync.code, 3, sync.stderr);
  assert.match(sync.stderr, /held by another process \(pid \d+\)/);
  assert.match(sync.stderr, /curl -X POST http:\/\/127\.0\.0\.1:6333\/collections\/docs\/sync /);
  assert.ok(sync.stderr.includes(`"source":"${source}"`), sync.stderr);

  const doctor = quiver(['doctor', '--data', data, '--collection', 'docs', '--fix']);
  assert.equal(doctor.code, 3, doctor.stderr);
  assert.match(
    doctor.stderr,
    /curl -X POST http:\/\/127\.0\.0\.1:6333\/collections\/docs\/doctor /,
  );
  assert.match(doctor.stderr, /-d '\{"fix":true\}'/);
});

test('doctor --output naming a folder is refused before the doctor runs, and leaves no temp file', (t) => {
  const { root, source, data } = setup(t);
  writeDoc(source, 'a.md', 1);
  writeDoc(source, 'b.md', 2);
  assert.equal(quiver(syncArgs(source, data)).code, 0);
  rmSync(join(source, 'b.md')); // orphans a --fix would delete
  const reports = join(root, 'reports');
  mkdirSync(reports);
  const base = ['doctor', '--data', data, '--collection', 'docs', '--dimension', String(DIM)];

  const r = quiver([...base, '--fix', '--output', reports]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(
    r.stderr,
    /--output .*reports is a folder; name a file, e\.g\. --output .*reports\/doctor-report\.json/,
  );
  assert.deepEqual(readdirSync(root).sort(), ['data', 'docs', 'reports']);
  assert.deepEqual(readdirSync(reports), []);
  const missing = quiver([...base, '--output', join(root, 'no-such', 'r.json')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /does not exist/);
  const sick = quiver([...base, '--json']);
  assert.equal(sick.code, 1, 'the refused --fix deleted nothing');

  const file = join(reports, 'doctor.json');
  const ok = quiver([...base, '--fix', '--output', file]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.equal((JSON.parse(readFileSync(file, 'utf8')) as DoctorReport).ok, true);
  assert.deepEqual(readdirSync(reports), ['doctor.json'], 'no temp file left');
});

test('the empty-source refusal of quiver sync names --allow-empty-source', (t) => {
  const { source, data } = setup(t);
  writeDoc(source, 'a.md', 1);
  assert.equal(quiver(syncArgs(source, data)).code, 0);
  rmSync(join(source, 'a.md'));
  const r = quiver(syncArgs(source, data));
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /Check the folder and --include; to empty the collection on purpose, pass --allow-empty-source\./,
  );
  const emptied = quiver([...syncArgs(source, data), '--allow-empty-source', '--json']);
  assert.equal(emptied.code, 0, emptied.stderr);
  assert.ok((JSON.parse(emptied.stdout) as SyncReport).chunks.deleted > 0);
});
