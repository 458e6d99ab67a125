/**
 * The CLI as a subprocess (no TTY): exit codes (0 ok, 1 problems, 2 usage, 3 runtime),
 * `--json` shapes, plain output without escape codes, `--help` with an example on every
 * command, and a full backup → corrupt → verify → restore round through the binary.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Quiver } from '../../src/index.js';
import { tune as recommend } from '../../src/ops/tune.js';
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

  test('a database round: create, import, stats, verify, backup, corrupt, restore', async (t) => {
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
    const imported = JSON.parse(imp.stdout) as Record<string, unknown>;
    assert.equal(imported['status'], 'ok');
    assert.equal(imported['imported'], 50);
    assert.equal(imported['lines'], 50);
    assert.equal(imported['badLineCount'], 0);
    assert.deepEqual(imported['badLines'], []);
    assert.equal(imported['created'], false, 'the collection existed');

    const bad = quiver(
      ['import', db, '--collection', 'docs'],
      `${lines[0]}\n{"id":2,"vector":[1]}\n`,
    );
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /line 2: /);

    // Seal the imported points into a segment, so verify has vectors to check.
    const sealed = quiver(['compact', db, '--json']);
    assert.equal(sealed.code, 0, sealed.stderr);
    const sealedReport = JSON.parse(sealed.stdout) as {
      after: { segments: number; diskBytes: number; deletedShare: number };
    };
    assert.equal(sealedReport.after.segments, 1);
    assert.equal(sealedReport.after.deletedShare, 0);
    assert.ok(sealedReport.after.diskBytes > 0);
    // Five more points stay in the log only (unsealed), as a backup's tail to replay.
    const tail = Array.from({ length: 5 }, (_, k) =>
      JSON.stringify({ id: 50 + k, vector: [50 + k, 1, 2], payload: { i: 50 + k } }),
    );
    assert.equal(quiver(['import', db, '--collection', 'docs'], `${tail.join('\n')}\n`).code, 0);

    const stats = quiver(['stats', db, '--json']);
    assert.equal(stats.code, 0);
    const s = JSON.parse(stats.stdout) as StatsJson;
    assert.equal(s.points, 55, 'the bad import added nothing (its good line replaced id 0)');
    assert.equal(s.formatVersion, '1.8');
    assert.equal(s.cleanlyClosed, true);
    assert.equal(s.segmentFiles, 1);
    assert.ok(s.segmentBytes > 0 && s.walBytes > 0);
    const manifestBytes = statSync(`${db}/MANIFEST`).size;
    assert.equal(s.diskBytes, s.segmentBytes + s.walBytes + manifestBytes, 'disk = files');
    assert.equal(s.collections.length, 1);
    const col = s.collections[0]!;
    assert.deepEqual(
      [col.name, col.dimension, col.metric, col.points, col.segments, col.unsealedPoints],
      ['docs', 3, 'euclid', 55, 1, 5],
    );
    assert.equal(col.deletedRatio, 0);
    assert.equal(col.segmentBytes, s.segmentBytes);
    // The same numbers as the engine gives for the same directory.
    const engine = await Quiver.open(db, { autoCompact: false });
    const es = engine.stats();
    const ec = engine.collection('docs').stats();
    await engine.close();
    assert.equal(es.points, s.points);
    assert.equal(ec.sealedSegments, col.segments, 'stats --json counts sealed segments');
    assert.equal(es.storage.segmentBytes, s.segmentBytes);
    assert.equal(es.deletedShare, col.deletedRatio);
    assert.equal(ec.growingPoints, col.unsealedPoints);
    assert.equal(es.wal.lastLsn, s.lsn, 'stats --json lsn is the last written LSN');

    const v = quiver(['verify', db, '--json']);
    assert.equal(v.code, 0, v.stdout);
    const report = JSON.parse(v.stdout) as Record<string, unknown>;
    assert.equal(report['status'], 'ok');
    assert.equal(report['checked_vectors'], 50, 'every sealed point was checked');
    assert.equal(report['checked_segments'], 1);
    assert.equal(report['errors'], 0);
    assert.equal(report['warnings'], 0);
    assert.deepEqual(report['problems'], []);
    assert.equal(report['online'], false, 'no writer holds the directory');
    assert.equal(report['lsn'], s.lsn);
    assert.equal(typeof report['duration_seconds'], 'number');
    const plain = quiver(['verify', db]);
    assert.ok(!(plain.stdout + plain.stderr).includes('\u001b['), 'no escape codes without a TTY');

    const exp = quiver(['export', db, '--collection', 'docs']);
    assert.equal(exp.code, 0);
    const exported = exp.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: number; vector: number[]; payload: unknown })
      .sort((a, b) => a.id - b.id);
    assert.deepEqual(
      exported,
      Array.from({ length: 55 }, (_, i) => ({ id: i, vector: [i, 1, 2], payload: { i } })),
      'export gives back exactly the points imported',
    );

    const created = quiver(['backup', 'create', db, '-o', `${root}/b/full`, '--json']);
    assert.equal(created.code, 0, created.stderr);
    const backup = JSON.parse(created.stdout) as BackupJson;
    assert.equal(backup.kind, 'full');
    assert.equal(backup.base, null);
    assert.equal(backup.lsn.max, s.lsn, 'the backup holds every write');
    assert.ok(backup.files >= 2 && backup.storedBytes > 0, 'segment and log stored');
    assert.equal(quiver(['backup', 'verify', `${root}/b/full`]).code, 0);
    const list = quiver(['backup', 'list', `${root}/b`, '--json']);
    const listed = JSON.parse(list.stdout) as BackupJson[];
    assert.equal(listed.length, 1);
    assert.deepEqual(
      [listed[0]!.id, listed[0]!.kind, listed[0]!.lsn.max, listed[0]!.storedBytes],
      [backup.id, 'full', s.lsn, backup.storedBytes],
    );
    const dry = quiver(['backup', 'restore', `${root}/b/full`, '-o', `${root}/r`, '--dry-run']);
    assert.equal(dry.code, 0);
    assert.match(dry.stdout, /DRY RUN/);
    const restored = quiver(['backup', 'restore', `${root}/b/full`, '-o', `${root}/r`, '--json']);
    assert.equal(restored.code, 0, restored.stderr);
    const restoredVerify = (
      JSON.parse(restored.stdout) as { verify: { status: string; checked_vectors: number } }
    ).verify;
    assert.equal(restoredVerify.status, 'ok');
    assert.equal(restoredVerify.checked_vectors, 50);
    const rs = JSON.parse(quiver(['stats', `${root}/r`, '--json']).stdout) as StatsJson;
    assert.deepEqual([rs.points, rs.lsn], [55, s.lsn], 'the restored copy has every write');
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
    const walStatus = JSON.parse(ws.stdout) as {
      damage?: unknown;
      lastLsn: number;
      totalBytes: number;
      missing: unknown[];
      cleanlyClosed: boolean;
    };
    assert.equal(walStatus.damage, undefined);
    assert.equal(walStatus.lastLsn, s.lsn);
    assert.equal(walStatus.totalBytes, s.walBytes);
    assert.deepEqual(walStatus.missing, []);
    assert.equal(walStatus.cleanlyClosed, true);
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
    assert.deepEqual(
      JSON.parse(tune.stdout),
      JSON.parse(JSON.stringify(recommend({ vectors: 100_000, dimension: 128 }))),
      'tune --json prints the recommendation of ops/tune.ts for the same input',
    );
  });
});

/** The parts of `quiver stats --json` the round checks. */
interface StatsJson {
  formatVersion: string;
  lsn: number;
  walBytes: number;
  segmentFiles: number;
  segmentBytes: number;
  diskBytes: number;
  points: number;
  cleanlyClosed: boolean;
  collections: {
    name: string;
    dimension: number;
    metric: string;
    points: number;
    segments: number;
    segmentBytes: number;
    deletedRatio: number;
    unsealedPoints: number;
  }[];
}

/** The parts of `quiver backup create --json` and `backup list --json` the round checks. */
interface BackupJson {
  id: string;
  kind: string;
  base: string | null;
  lsn: { min: number; max: number };
  files: number;
  storedBytes: number;
}
