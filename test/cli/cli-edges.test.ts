/**
 * The CLI's sharp edges (issue 10), through the real binary as a subprocess: a mistyped
 * path is refused by every command (exit 2, "did you mean"), deleted WAL files are named
 * by every WAL tool, a reader closing stdout early is not an error, import and backup
 * progress, the runbook's flags (HNSW parameters, drop-collection, stats --filter, backup
 * create --verify, backup restore latest, verify --collection), update-collection.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { CLI_NODE_ARGS, quiver } from '../helpers/cli-run.js';
import { tempDir } from '../helpers/temp-dir.js';

const ROOT = new URL('../../', import.meta.url).pathname;

/** Runs the CLI with a stdout pipe whose reader is gone before the first write. */
function quiverClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI_NODE_ARGS, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

function jsonLines(n: number, dim = 4): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const vector = Array.from({ length: dim }, (_, j) => ((i * 7 + j * 13) % 97) / 97 + 0.01);
    out.push(JSON.stringify({ id: i, vector, payload: { lang: i % 4 === 0 ? 'de' : 'en', i } }));
  }
  return `${out.join('\n')}\n`;
}

/** A database with `n` points of `dim` values in collection "docs" (and an empty "other"). */
function makeDatabase(root: string, n = 50, dim = 4): string {
  const db = `${root}/db`;
  const file = `${root}/in.jsonl`;
  writeFileSync(file, jsonLines(n, dim));
  assert.equal(quiver(['create-collection', db, '--name', 'docs', '--dim', String(dim)]).code, 0);
  const imp = quiver(['import', db, '--collection', 'docs', '-i', file]);
  assert.equal(imp.code, 0, imp.stderr);
  assert.equal(quiver(['create-collection', db, '--name', 'other', '--dim', '4']).code, 0);
  return db;
}

describe('quiver CLI: a path that is not a database (item 8)', () => {
  test('every command refuses it with exit 2 and names the database nearby', (t) => {
    const root = tempDir(t, 'quiver-cli-path-');
    makeDatabase(root, 10);
    const typo = `${root}/dv`;
    const commands: [string[], string?][] = [
      [['verify', typo]],
      [['info', typo]],
      [['stats', typo]],
      [['collections', typo]],
      [['compact', typo]],
      [['import', typo, '--collection', 'docs'], jsonLines(2)],
      [['export', typo, '--collection', 'docs']],
      [['repair', typo, '-o', `${root}/repaired`]],
      [['wal', 'status', typo]],
      [['wal', 'recover', typo]],
      [['backup', 'create', typo, '-o', `${root}/b1`]],
      [['drop-collection', typo, '--name', 'docs', '--yes']],
      [['update-collection', typo, '--name', 'docs', '--on-disk']],
    ];
    for (const [args, input] of commands) {
      const r = quiver(args, input);
      const what = args.slice(0, 2).join(' ');
      assert.equal(r.code, 2, `${what}: ${r.stdout}${r.stderr}`);
      assert.match(
        r.stderr,
        new RegExp(`not a Quiver database: ${typo} \\(did you mean ${root}/db\\?\\)`),
        what,
      );
      assert.equal(existsSync(typo), false, `${what} created nothing at ${typo}`);
    }
    assert.equal(existsSync(`${root}/b1`), false);
    assert.equal(existsSync(`${root}/repaired`), false);
  });

  test('an empty directory or a file is not a database either', (t) => {
    const root = tempDir(t, 'quiver-cli-path-empty-');
    mkdirSync(`${root}/empty`);
    writeFileSync(`${root}/file`, 'x');
    for (const dir of [`${root}/empty`, `${root}/file`, '/nonexistent-quiver-db']) {
      const r = quiver(['verify', dir]);
      assert.equal(r.code, 2, dir);
      assert.match(r.stderr, /not a Quiver database/);
    }
  });

  test('create-collection checks the name before it creates a database', (t) => {
    const root = tempDir(t, 'quiver-cli-create-');
    const r = quiver(['create-collection', `${root}/new`, '--name', 'bad name', '--dim', '3']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Collection name "bad name" is invalid/);
    assert.equal(existsSync(`${root}/new`), false);
    const hnsw = quiver([
      'create-collection',
      `${root}/new`,
      '--name',
      'x',
      '--dim',
      '3',
      '--m',
      '1',
    ]);
    assert.equal(hnsw.code, 2, 'an out-of-range --m is a usage error');
    assert.equal(existsSync(`${root}/new`), false);
  });
});

describe('quiver CLI: deleted WAL files (item 9)', () => {
  test('wal status, wal recover and repair say which LSNs are missing', (t) => {
    const root = tempDir(t, 'quiver-cli-walgone-');
    const db = makeDatabase(root, 20);
    for (const f of readdirSync(`${db}/wal`)) rmSync(`${db}/wal/${f}`);

    const status = quiver(['wal', 'status', db]);
    assert.equal(status.code, 1, status.stdout);
    assert.doesNotMatch(status.stdout, /; closed cleanly/);
    assert.match(status.stdout, /MISSING LSN 1\.\.\d+ missing from the WAL \(every WAL file/);
    const json = quiver(['wal', 'status', db, '--json']);
    const s = JSON.parse(json.stdout) as { missing: { lsnRange: [number, number] }[] };
    assert.equal(s.missing[0]?.lsnRange[0], 1);

    const recover = quiver(['wal', 'recover', db]);
    assert.equal(recover.code, 1);
    assert.doesNotMatch(recover.stdout, /intact\./);
    assert.match(recover.stdout, /^refused: The WAL is not intact: LSN 1\.\.\d+/);

    const repair = quiver(['repair', db, '-o', `${root}/out`]);
    assert.equal(repair.code, 1);
    assert.doesNotMatch(repair.stdout, /nothing was lost/);
    assert.match(repair.stdout, /LOST .*WAL records LSN 1\.\.\d+ missing/);
  });
});

describe('quiver CLI: a reader that closes stdout early (item 12)', () => {
  test('export, verify and info exit 0 without a stack trace or a warning', async (t) => {
    const root = tempDir(t, 'quiver-cli-epipe-');
    const db = makeDatabase(root, 3000);
    for (const args of [
      ['export', db, '--collection', 'docs'],
      ['verify', db, '--json'],
      ['info', db],
    ]) {
      const r = await quiverClosedStdout(args);
      assert.equal(r.code, 0, `${args[0]}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /EPIPE|Error|at .*\.js:\d+|Warning/, args[0]);
    }
    assert.deepEqual(readdirSync(`${db}/.pins`), [], 'the pinned view was released');
  });

  test('export through a shell pipe into head and into a slow reader', (t) => {
    const root = tempDir(t, 'quiver-cli-pipes-');
    // Lines of 32 values: each batch export writes passes stdout's 16 KiB high-water mark,
    // so every write waits for 'drain' (the old code left an 'error' listener per wait).
    const db = makeDatabase(root, 3000, 32);
    const cli = [process.execPath, ...CLI_NODE_ARGS].map((a) => `'${a}'`).join(' ');
    const head = spawnSync(
      'bash',
      ['-c', `${cli} export '${db}' --collection docs | head -1; exit \${PIPESTATUS[0]}`],
      { cwd: ROOT, encoding: 'utf8' },
    );
    assert.equal(head.status, 0, head.stderr);
    assert.equal(head.stdout.split('\n').length, 2);
    assert.doesNotMatch(head.stderr, /EPIPE|Error/);
    // A reader slower than the writer: export waits for 'drain' many times.
    const slow = spawnSync(
      'bash',
      ['-c', `${cli} export '${db}' --collection docs | (sleep 1; wc -l); exit \${PIPESTATUS[0]}`],
      { cwd: ROOT, encoding: 'utf8' },
    );
    assert.equal(slow.status, 0, slow.stderr);
    assert.equal(slow.stdout.trim(), '3000');
    assert.doesNotMatch(slow.stderr, /MaxListenersExceededWarning/);
  });
});

describe('quiver CLI: progress (item 13)', () => {
  test('import measures progress against the input size and shows it with --json', (t) => {
    const root = tempDir(t, 'quiver-cli-progress-');
    const db = makeDatabase(root, 5);
    const file = `${root}/big.jsonl`;
    writeFileSync(file, jsonLines(4000));
    const r = quiver(['import', db, '--collection', 'docs', '-i', file, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { imported: number }).imported, 4000);
    const lines = r.stderr.trim().split('\n');
    const pct = lines.map((l) => /^import: [\d.]+\/[\d.]+ MiB \((\d+) %\)/.exec(l)?.[1]);
    assert.ok(
      pct.every((p) => p !== undefined),
      r.stderr,
    );
    assert.ok(Number(pct[0]) < 100, `the first reading is not 100 %: ${lines[0]}`);
    assert.equal(pct[pct.length - 1], '100');
    assert.match(lines[lines.length - 1]!, /4000 points$/);

    const piped = quiver(['import', db, '--collection', 'docs', '--json'], jsonLines(600));
    assert.equal(piped.code, 0, piped.stderr);
    assert.match(piped.stderr, /^import: [\d.]+ MiB, .*600 points$/m, 'stdin: no percentage');
    assert.doesNotMatch(piped.stderr, /%/);
  });

  test('backup progress is in MiB', (t) => {
    const root = tempDir(t, 'quiver-cli-bprogress-');
    const db = makeDatabase(root, 50);
    const r = quiver(['backup', 'create', db, '-o', `${root}/b`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^backup: [\d.]+\/[\d.]+ MiB \(100 %\)/m);
  });
});

describe('quiver CLI: runbook flags (item 17) and backup advice (item 18)', () => {
  test('create-collection with HNSW parameters, stats --filter, drop-collection', (t) => {
    const root = tempDir(t, 'quiver-cli-flags-');
    const db = makeDatabase(root, 40);
    const c = quiver([
      'create-collection',
      db,
      '--name',
      'tuned',
      '--dim',
      '8',
      '--m',
      '24',
      '--ef-construct',
      '300',
      '--ef',
      '96',
      '--json',
    ]);
    assert.equal(c.code, 0, c.stderr);
    assert.deepEqual((JSON.parse(c.stdout) as { hnsw: unknown }).hnsw, {
      m: 24,
      efConstruction: 300,
      efSearch: 96,
    });
    const stats = quiver(['stats', db, '--collection', 'tuned', '--json']);
    assert.deepEqual(
      (JSON.parse(stats.stdout) as { collections: { hnsw: unknown }[] }).collections[0]?.hnsw,
      { m: 24, efConstruction: 300, efSearch: 96 },
    );

    const q = quiver(
      ['create-collection', db, '--name', 'int8', '--dim', '8'].concat([
        '--quantization',
        'scalar',
        '--quantile',
        '0.98',
      ]),
    );
    assert.equal(q.code, 0, q.stderr);
    assert.match(q.stdout, /quantization scalar int8, quantile 0\.98/);
    const odd = quiver(['create-collection', db, '--name', 'x', '--dim', '8', '--quantile', '0.9']);
    assert.equal(odd.code, 2, 'a quantile without scalar quantization is a usage error');
    assert.match(odd.stderr, /--quantile needs --quantization scalar/);
    assert.equal(
      quiver(['create-collection', db, '--name', 'x', '--dim', '8', '--quantization', 'pq']).code,
      2,
    );
    const pq = quiver(
      ['create-collection', db, '--name', 'pq', '--dim', '8'].concat([
        '--quantization',
        'product',
        '--compression',
        'x8',
      ]),
    );
    assert.equal(pq.code, 0, pq.stderr);
    assert.match(pq.stdout, /quantization product x8/);
    const loose = quiver([
      'create-collection',
      db,
      '--name',
      'x',
      '--dim',
      '8',
      '--compression',
      'x8',
    ]);
    assert.equal(loose.code, 2, 'a compression without product quantization is a usage error');
    assert.match(loose.stderr, /--compression needs --quantization product/);

    const f = quiver(['stats', db, '--collection', 'docs', '--filter', '{"lang":"de"}', '--json']);
    assert.equal(f.code, 0, f.stderr);
    const fc = (JSON.parse(f.stdout) as { collections: { filter: unknown }[] }).collections[0];
    assert.deepEqual(fc?.filter, { matching: 10, selectivity: 0.25 });
    const plain = quiver(['stats', db, '--collection', 'docs', '--filter', '{"lang":"de"}']);
    assert.match(plain.stdout, /filter on docs: 10 of 40 points match \(selectivity 25\.00 %\)/);
    assert.equal(quiver(['stats', db, '--filter', '{"lang":{"$bad":1}}']).code, 2);
    assert.equal(quiver(['stats', db, '--filter', 'not json']).code, 2);

    const refused = quiver(['drop-collection', db, '--name', 'tuned']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--yes/);
    const dropped = quiver(['drop-collection', db, '--name', 'tuned', '--yes']);
    assert.equal(dropped.code, 0, dropped.stderr);
    const list = JSON.parse(quiver(['collections', db, '--json']).stdout) as { name: string }[];
    assert.deepEqual(list.map((x) => x.name).sort(), ['docs', 'int8', 'other', 'pq']);
    assert.equal(quiver(['drop-collection', db, '--name', 'tuned', '--yes']).code, 3);
  });

  test('backup create --verify, restore latest, and no --force advice', (t) => {
    const root = tempDir(t, 'quiver-cli-backup-');
    const db = makeDatabase(root, 30);
    const first = quiver(['backup', 'create', db, '-o', `${root}/b/1`, '--verify', '--json']);
    assert.equal(first.code, 0, first.stderr);
    assert.equal((JSON.parse(first.stdout) as { verify: { status: string } }).verify.status, 'ok');
    const more = quiver(['import', db, '--collection', 'docs'], jsonLines(45));
    assert.equal(more.code, 0);
    const second = quiver(['backup', 'create', db, '-o', `${root}/b/2`, '--verify']);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /^verify: OK: /m);

    const again = quiver(['backup', 'create', db, '-o', `${root}/b/2`]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /not empty/);
    assert.doesNotMatch(again.stderr, /--force/);

    mkdirSync(`${root}/b/3`); // an interrupted create: not complete
    const restored = quiver([
      'backup',
      'restore',
      'latest',
      '--from',
      `${root}/b`,
      '-o',
      `${root}/r`,
    ]);
    assert.equal(restored.code, 0, restored.stderr);
    assert.match(restored.stderr, new RegExp(`newest complete backup in ${root}/b is ${root}/b/2`));
    const stats = JSON.parse(quiver(['stats', `${root}/r`, '--json']).stdout) as { points: number };
    assert.equal(stats.points, 45);
    assert.equal(quiver(['backup', 'restore', 'latest', '-o', `${root}/r2`]).code, 2);
  });

  test('verify --collection checks only the named collections', (t) => {
    const root = tempDir(t, 'quiver-cli-verify-only-');
    const db = makeDatabase(root, 10);
    const one = quiver(['verify', db, '--collection', 'other', '--json']);
    assert.equal(one.code, 0, one.stdout);
    assert.equal((JSON.parse(one.stdout) as { checked_vectors: number }).checked_vectors, 0);
    const missing = quiver(['verify', db, '--collection', 'nope']);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /Collection "nope" does not exist/);
  });
});

describe('quiver CLI: update-collection', () => {
  test('moves sealed vectors to disk with int8 codes and back, and refuses empty or mixed flags', (t) => {
    const db = `${tempDir(t, 'quiver-cli-update-')}/db`;
    assert.equal(quiver(['create-collection', db, '--name', 'docs', '--dim', '16']).code, 0);
    const imported = quiver(['import', db, '--collection', 'docs'], jsonLines(3000, 16));
    assert.equal(imported.code, 0, imported.stderr);
    assert.equal(quiver(['compact', db, '--collection', 'docs']).code, 0);
    const toDisk = quiver([
      'update-collection',
      db,
      '--name',
      'docs',
      '--quantization',
      'scalar',
      '--on-disk',
      '--json',
    ]);
    assert.equal(toDisk.code, 0, toDisk.stderr);
    const disk = JSON.parse(toDisk.stdout) as {
      config: { onDisk: boolean; quantization: unknown };
      memory: { vectors: number; codes: number };
    };
    assert.equal(disk.config.onDisk, true);
    assert.deepEqual(disk.config.quantization, { kind: 'scalar', quantile: 0.99 });
    assert.equal(disk.memory.vectors, 0);
    assert.ok(disk.memory.codes >= 3000 * 16);
    const back = quiver([
      'update-collection',
      db,
      '--name',
      'docs',
      '--quantization',
      'none',
      '--in-memory',
    ]);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, /quantization none, vectors in memory; memory: vectors [1-9]/);
    for (const args of [[], ['--on-disk', '--in-memory'], ['--quantile', '0.9']]) {
      const r = quiver(['update-collection', db, '--name', 'docs', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
    const missing = quiver(['update-collection', db, '--name', 'nope', '--on-disk']);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /Collection "nope" does not exist/);
  });
});
