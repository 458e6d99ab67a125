/**
 * `quiver wal recover` on a WAL with a damaged record in the middle (real bytes flipped in
 * files the engine wrote): without --skip-corrupted it refuses and names file and offset;
 * with it the damaged record and every record after it are dropped as reported (count and
 * LSN range), later WAL files go, and the database opens holding exactly the writes
 * before the damage.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { isQuiverError, Quiver } from '../../src/index.js';
import { WAL_HEADER_SIZE } from '../../src/storage/format.js';
import { decodeWalRecord } from '../../src/storage/wal/wal-record.js';
import { tempDir } from '../helpers/temp-dir.js';
import { quiver } from '../helpers/cli-run.js';

type WalOp = { kind: 'upsert'; ids: number[] } | { kind: 'delete'; ids: number[] };

/** Op n: mostly an upsert of two points; every 5th deletes two earlier points. */
function opAt(n: number): WalOp {
  return n % 5 === 0
    ? { kind: 'delete', ids: [n - 3, 2 * (n - 4)] }
    : { kind: 'upsert', ids: [n, 2 * n] };
}

interface Record {
  file: string;
  offset: number;
  next: number;
  lsn: number;
}

/** Every record of the WAL files of `dir`, in file order. */
function walRecords(dir: string): Record[] {
  const out: Record[] = [];
  for (const name of readdirSync(`${dir}/wal`)
    .filter((f) => f.endsWith('.wal'))
    .sort()) {
    const file = `${dir}/wal/${name}`;
    const bytes = new Uint8Array(readFileSync(file));
    for (let p = WAL_HEADER_SIZE; p < bytes.length;) {
      const r = decodeWalRecord(bytes, p);
      assert.equal(r.kind, 'record', `${file} @${p} is a whole record`);
      if (r.kind !== 'record') break;
      out.push({ file, offset: p, next: r.next, lsn: r.record.lsn });
      p = r.next;
    }
  }
  return out;
}

test('wal recover refuses mid-log damage, and --skip-corrupted cuts exactly there', async (t) => {
  const dir = `${tempDir(t, 'quiver-wal-recover-')}/db`;
  const db = await Quiver.open(dir, { fsync: 'always', walFileBytes: 1024 });
  const c = await db.createCollection('c', { dimension: 2, metric: 'euclid' });
  const lsnOf = new Map<number, number>();
  for (let n = 1; n <= 60; n++) {
    const op = opAt(n);
    const r =
      op.kind === 'upsert'
        ? await c.upsert(op.ids.map((id) => ({ id, vector: [id, -id], payload: { n } })))
        : await c.delete(op.ids);
    lsnOf.set(n, r.lsn);
  }
  await db.close();

  const records = walRecords(dir);
  const files = [...new Set(records.map((r) => r.file))];
  assert.ok(files.length >= 4, `several WAL files (${files.length})`);
  // Damage op 31's record in the body (not the length), in a file with later files after it.
  const bad = records.find((r) => r.lsn === lsnOf.get(31))!;
  assert.ok(files.indexOf(bad.file) < files.length - 1, 'the damaged file is not the last');
  const bytes = readFileSync(bad.file);
  const at = bad.offset + 20;
  bytes[at] = bytes[at]! ^ 0x5a;
  writeFileSync(bad.file, bytes);
  const after = records.filter((r) => r.lsn > bad.lsn);
  const laterFiles = files.slice(files.indexOf(bad.file) + 1);
  const lastLsn = records[records.length - 1]!.lsn;
  const laterBytes = laterFiles.reduce((n, f) => n + statSync(f).size, 0);

  await assert.rejects(Quiver.open(dir), (e) => isQuiverError(e, 'CORRUPT'));
  const status = quiver(['wal', 'status', dir]);
  assert.equal(status.code, 1, status.stdout);
  assert.match(status.stdout, new RegExp(`DAMAGE \\(corruption\\) ${bad.file} @${bad.offset}:`));

  const refused = quiver(['wal', 'recover', dir]);
  assert.equal(refused.code, 1, refused.stderr);
  assert.equal(
    refused.stdout,
    `refused: The WAL is corrupt at ${bad.file} offset ${bad.offset} (record checksum mismatch), not a torn tail; cutting there drops ${after.length} intact records after it. Re-run with --skip-corrupted to cut anyway, or restore from a backup.\n`,
  );
  assert.deepEqual(readFileSync(bad.file), bytes, 'refusing changed nothing');
  assert.ok(laterFiles.every((f) => existsSync(f)));

  const cut = quiver(['wal', 'recover', dir, '--skip-corrupted', '--json']);
  assert.equal(cut.code, 0, cut.stderr);
  const report = JSON.parse(cut.stdout) as {
    action: string;
    dropped: { records: number; lsnRange: [number, number]; files: string[]; bytes: number };
  };
  assert.equal(report.action, 'cut-corruption');
  assert.equal(report.dropped.records, after.length, 'intact records after the damage');
  assert.deepEqual(report.dropped.lsnRange, [bad.lsn + 1, lastLsn]);
  assert.deepEqual(report.dropped.files, laterFiles);
  assert.equal(readFileSync(bad.file).length, bad.offset, 'the file ends where the damage was');
  assert.equal(report.dropped.bytes, bytes.length - bad.offset + laterBytes);
  assert.ok(
    laterFiles.every((f) => !existsSync(f)),
    'the later files are gone',
  );

  // The database opens with exactly the writes before op 31.
  const expected = new Map<string, number>();
  for (let n = 1; n < 31; n++) {
    const op = opAt(n);
    for (const id of op.ids) {
      if (op.kind === 'upsert') expected.set(JSON.stringify(id), n);
      else expected.delete(JSON.stringify(id));
    }
  }
  const reopened = await Quiver.open(dir);
  try {
    const got = new Map<string, number>();
    for await (const p of reopened.collection('c').scan({ withVector: true })) {
      const id = p.id;
      got.set(JSON.stringify(id), Number(p.payload['n']));
      assert.deepEqual(p.vector, [Number(id), -Number(id)], `vector of ${String(id)}`);
    }
    assert.deepEqual(
      [...got].sort((a, b) => a[0].localeCompare(b[0])),
      [...expected].sort((a, b) => a[0].localeCompare(b[0])),
    );
    assert.equal(reopened.stats().wal.lastLsn, bad.lsn - 1, 'the log ends before the damage');
  } finally {
    await reopened.close();
  }
  const again = quiver(['wal', 'recover', dir]);
  assert.equal(again.stdout, 'nothing-to-do: The WAL is intact.\n');
});
