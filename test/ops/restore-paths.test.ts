/**
 * A backup.json whose entries name paths outside their place (`segments/../../../x`, an
 * absolute path, a stored file outside the backup) is refused as CORRUPT by `quiver backup
 * restore` and `backup verify` (real CLI processes), and nothing is written outside `-o`.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Quiver } from '../../src/engine/quiver.js';
import { quiver } from '../helpers/cli-run.js';
import { tempDir } from '../helpers/temp-dir.js';

interface Entry {
  path: string;
  stored: { file: string } | null;
}

/** Every file name under `dir`, recursively. */
function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' });
}

test('backup restore and verify refuse entries that leave their directory', async (t) => {
  const tmp = tempDir(t, 'quiver-restore-paths-');
  const data = join(tmp, 'db');
  const db = await Quiver.open(data, { fsync: 'none' });
  const c = await db.createCollection('docs', { dimension: 2 });
  await c.upsert([
    { id: 1, vector: [1, 0] },
    { id: 2, vector: [0, 1] },
  ]);
  await db.checkpoint();
  await c.upsert([{ id: 3, vector: [1, 1] }]);
  await db.close();
  const backup = join(tmp, 'backup');
  const created = quiver(['backup', 'create', data, '-o', backup]);
  assert.equal(created.code, 0, created.stderr);
  const manifestPath = join(backup, 'backup.json');
  const original = readFileSync(manifestPath, 'utf8');
  const files = (JSON.parse(original) as { files: Entry[] }).files;
  const segment = files.findIndex((f) => f.path.startsWith('segments/'));
  const wal = files.findIndex((f) => f.path.startsWith('wal/'));
  assert.ok(segment >= 0 && wal >= 0, 'the backup holds a segment and a WAL file');

  const tampered: [string, (fs: Entry[]) => void][] = [
    [
      'segments/../../../escaped.qseg',
      (fs) => (fs[segment]!.path = 'segments/../../../escaped.qseg'),
    ],
    ['wal/../../escaped.wal', (fs) => (fs[wal]!.path = 'wal/../../escaped.wal')],
    ['an absolute path', (fs) => (fs[segment]!.path = join(tmp, 'escaped.qseg'))],
    ['a path outside segments/ and wal/', (fs) => (fs[segment]!.path = 'escaped.qseg')],
    ['a NUL byte', (fs) => (fs[segment]!.path = 'segments/a\0b')],
    ['a stored file outside the backup', (fs) => (fs[segment]!.stored!.file = '../db/MANIFEST')],
  ];
  let n = 0;
  for (const [what, tamper] of tampered) {
    const doc = JSON.parse(original) as { files: Entry[] };
    tamper(doc.files);
    writeFileSync(manifestPath, JSON.stringify(doc));
    // Deep enough that "../../../" from the staging directory stays inside tmp.
    const out = join(tmp, `r${++n}`, 'a', 'b', 'out');
    mkdirSync(join(tmp, `r${n}`, 'a', 'b'), { recursive: true });
    const before = allFiles(tmp).filter((f) => !f.startsWith(`r${n}/a/b/out`));
    const restored = quiver(['backup', 'restore', backup, '-o', out]);
    assert.notEqual(restored.code, 0, `${what}: restore exited 0\n${restored.stdout}`);
    assert.match(restored.stderr, /backup\.json/, `${what}: ${restored.stderr}`);
    const after = allFiles(tmp).filter((f) => !f.startsWith(`r${n}/a/b/out`));
    assert.deepEqual(after, before, `${what}: restore wrote outside -o`);
    assert.ok(!existsSync(join(out, 'MANIFEST')), `${what}: restore went ahead`);
    const verified = quiver(['backup', 'verify', backup]);
    assert.notEqual(verified.code, 0, `${what}: verify exited 0`);
    assert.match(`${verified.stdout}${verified.stderr}`, /backup\.json/, what);
  }
  // The untampered backup still restores.
  writeFileSync(manifestPath, original);
  const ok = quiver(['backup', 'restore', backup, '-o', join(tmp, 'good')]);
  assert.equal(ok.code, 0, ok.stderr);
});
