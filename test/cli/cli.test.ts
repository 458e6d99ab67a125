/**
 * The CLI as a subprocess (no TTY): exit codes (0 ok, 1 problems, 2 usage, 3 runtime),
 * `--json` shapes, plain output without escape codes, `--help` with an example on every
 * command, and a full backup → corrupt → verify → restore round through the binary.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { quiver } from '../helpers/cli-run.js';
import { tempDir } from '../helpers/temp-dir.js';

const COMMANDS = [
  ['collections'],
  ['create-collection'],
  ['drop-collection'],
  ['info'],
  ['stats'],
  ['verify'],
  ['repair'],
  ['compact'],
  ['backup', 'create'],
  ['backup', 'verify'],
  ['backup', 'list'],
  ['backup', 'prune'],
  ['backup', 'restore'],
  ['export'],
  ['import'],
  ['wal', 'status'],
  ['wal', 'recover'],
  ['tune'],
];

describe('quiver CLI', () => {
  test('every command has --help with an example', () => {
    for (const c of COMMANDS) {
      const r = quiver([...c, '--help']);
      assert.equal(r.code, 0, `${c.join(' ')} --help`);
      assert.match(r.stdout, /Example/, `${c.join(' ')} --help shows an example`);
    }
  });

  test('a database round: create, import, stats, verify, backup, corrupt, restore', (t) => {
    const root = tempDir(t, 'quiver-cli-');
    const db = `${root}/db`;
    assert.equal(
      quiver(['create-collection', db, '--name', 'docs', '--dim', '3', '--metric', 'euclid']).code,
      0,
    );
    const lines = Array.from({ length: 50 }, (_, i) =>
      JSON.stringify({ id: i, vector: [i, 1, 2], payload: { i } }),
    );
    const imp = quiver(['import', db, '--collection', 'docs', '--json'], `${lines.join('\n')}\n`);
    assert.equal(imp.code, 0, imp.stderr);
    assert.equal((JSON.parse(imp.stdout) as { imported: number }).imported, 50);

    const bad = quiver(
      ['import', db, '--collection', 'docs'],
      `${lines[0]}\n{"id":2,"vector":[1]}\n`,
    );
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /line 2: /);

    const stats = quiver(['stats', db, '--json']);
    assert.equal(stats.code, 0);
    const s = JSON.parse(stats.stdout) as {
      points: number;
      collections: { name: string; points: number }[];
    };
    assert.equal(s.points, 50);
    assert.equal(s.collections[0]?.name, 'docs');

    const v = quiver(['verify', db, '--json']);
    assert.equal(v.code, 0, v.stdout);
    const report = JSON.parse(v.stdout) as Record<string, unknown>;
    for (const k of [
      'status',
      'checked_vectors',
      'errors',
      'warnings',
      'duration_seconds',
      'problems',
    ]) {
      assert.ok(k in report, `verify --json has ${k}`);
    }
    assert.equal(report['status'], 'ok');
    const plain = quiver(['verify', db]);
    assert.ok(!(plain.stdout + plain.stderr).includes('\u001b['), 'no escape codes without a TTY');

    const exp = quiver(['export', db, '--collection', 'docs']);
    assert.equal(exp.code, 0);
    assert.equal(exp.stdout.trim().split('\n').length, 50);

    assert.equal(quiver(['backup', 'create', db, '-o', `${root}/b/full`]).code, 0);
    assert.equal(quiver(['backup', 'verify', `${root}/b/full`]).code, 0);
    const list = quiver(['backup', 'list', `${root}/b`, '--json']);
    assert.equal((JSON.parse(list.stdout) as unknown[]).length, 1);
    const dry = quiver(['backup', 'restore', `${root}/b/full`, '-o', `${root}/r`, '--dry-run']);
    assert.equal(dry.code, 0);
    assert.match(dry.stdout, /DRY RUN/);
    const restored = quiver(['backup', 'restore', `${root}/b/full`, '-o', `${root}/r`, '--json']);
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal(
      (JSON.parse(restored.stdout) as { verify: { status: string } }).verify.status,
      'ok',
    );
    const again = quiver(['backup', 'restore', `${root}/b/full`, '-o', `${root}/r`]);
    assert.equal(again.code, 2, 'a non-empty target is refused');
    assert.match(again.stderr, /--force/);

    const wal = readdirSync(`${root}/b/full/data/wal`)[0]!;
    const path = `${root}/b/full/data/wal/${wal}`;
    const bytes = readFileSync(path);
    bytes[40] = bytes[40]! ^ 1;
    writeFileSync(path, bytes);
    const bv = quiver(['backup', 'verify', `${root}/b/full`, '--json']);
    assert.equal(bv.code, 1);
    assert.ok(
      (JSON.parse(bv.stdout) as { problems: { file: string }[] }).problems.some(
        (p) => p.file === path,
      ),
    );
    const refused = quiver(['backup', 'restore', `${root}/b/full`, '-o', `${root}/r2`]);
    assert.equal(refused.code, 3);
    assert.match(refused.stderr, new RegExp(wal));

    const ws = quiver(['wal', 'status', db, '--json']);
    assert.equal(ws.code, 0);
    assert.equal((JSON.parse(ws.stdout) as { damage?: unknown }).damage, undefined);
    const seg = quiver(['compact', db]);
    assert.equal(seg.code, 0, seg.stderr);

    const dbWal = readdirSync(`${db}/wal`)[0]!;
    const walPath = `${db}/wal/${dbWal}`;
    const w = readFileSync(walPath);
    w[30] = w[30]! ^ 1;
    writeFileSync(walPath, w);
    const broken = quiver(['verify', db]);
    assert.equal(broken.code, 1);
    assert.match(broken.stdout, new RegExp(`${dbWal} @\\d+`));
  });

  test('usage errors exit 2, runtime errors exit 3', (t) => {
    const root = tempDir(t, 'quiver-cli-exit-');
    assert.equal(quiver(['verify']).code, 2);
    assert.equal(quiver(['no-such-command']).code, 2);
    assert.equal(quiver(['tune', '--vectors', 'x', '--dim', '3']).code, 2);
    assert.equal(quiver(['backup', 'prune', root]).code, 2);
    assert.equal(quiver(['create-collection', `${root}/db`, '--name', 'a', '--dim', '3']).code, 0);
    const missing = quiver(['export', `${root}/db`, '--collection', 'nope']);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /nope/);
    const tune = quiver(['tune', '--vectors', '100000', '--dim', '128', '--json']);
    assert.equal(tune.code, 0);
    const r = JSON.parse(tune.stdout) as Record<string, unknown>;
    for (const k of ['m', 'efConstruction', 'efSearch', 'quantization', 'estimate'])
      assert.ok(k in r);
  });
});
