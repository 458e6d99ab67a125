/**
 * `quiver repair` of a database whose MANIFEST is damaged (bytes flipped): collections come
 * from segment headers, every point is salvaged from the segments and the WAL, and the
 * result is exactly the acknowledged state — deleted points do not come back, updated
 * payloads are the last ones. The report names the manifest as what was lost.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { isQuiverError, Quiver } from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';
import { quiver } from '../helpers/cli-run.js';
import type { Op } from './ops-data.js';
import { applyOps, COLLECTION, DIM, opAt, writeOp } from './ops-data.js';
import { assertSameState, readPoints } from './ops-helpers.js';

test('repair without a readable manifest salvages exactly the acknowledged state', async (t) => {
  const root = tempDir(t, 'quiver-repair-manifest-');
  const dir = `${root}/db`;
  const db = await Quiver.open(dir, { sealPoints: 40, autoCompact: false, walFileBytes: 4096 });
  const c = await db.createCollection(COLLECTION, { dimension: DIM, metric: 'euclid' });
  const done: { lsn: number; op: Op }[] = [];
  for (let n = 1; n <= 240; n++) {
    done.push({ lsn: (await writeOp(c, opAt(n))).lsn, op: opAt(n) });
    if (n % 60 === 0) {
      await db.idle();
      await db.checkpoint();
    }
    if (n === 120) await db.compact(); // superseded segments go; later deletes are tombstones
  }
  await db.idle();
  await db.close();
  const files = readdirSync(`${dir}/segments`);
  assert.ok(files.filter((f) => f.endsWith('.qseg')).length >= 2, `segments: ${files.join(' ')}`);
  assert.ok(
    files.some((f) => f.endsWith('.tomb')),
    'deletes in sealed segments (tombstones)',
  );
  const expected = applyOps(done);
  const deletedIds = new Set(
    done.flatMap((d) => (d.op.kind === 'delete' ? d.op.ids.map((x) => JSON.stringify(x)) : [])),
  );
  assert.ok(
    [...deletedIds].some((id) => !expected.has(id)),
    'some points are deleted',
  );
  assertSameState(await readPoints(dir), expected, 'before the damage');

  const manifest = readFileSync(`${dir}/MANIFEST`);
  const at = Math.floor(manifest.length / 2);
  manifest[at] = manifest[at]! ^ 0xff;
  writeFileSync(`${dir}/MANIFEST`, manifest);
  await assert.rejects(Quiver.open(dir), (e) => isQuiverError(e, 'CORRUPT'));

  const r = quiver(['repair', dir, '-o', `${root}/out`, '--json']);
  assert.equal(r.code, 1, `the manifest is reported lost: ${r.stderr}`);
  const report = JSON.parse(r.stdout) as {
    manifestReadable: boolean;
    lost: { file: string; what: string; points?: number }[];
    verify: { status: string };
  };
  assert.equal(report.manifestReadable, false);
  assert.deepEqual(
    report.lost.map((l) => l.file),
    [`${dir}/MANIFEST`],
    'only the manifest is lost',
  );
  assert.equal(report.verify.status, 'ok');
  assertSameState(await readPoints(`${root}/out`), expected, 'repaired (exact set)');
});

test('a salvaged collection keeps its quantization and onDisk', async (t) => {
  const root = tempDir(t, 'quiver-repair-config-');
  const dir = `${root}/db`;
  const db = await Quiver.open(dir, { sealPoints: 40, autoCompact: false });
  const options = {
    dimension: DIM,
    metric: 'euclid' as const,
    quantization: { kind: 'scalar' as const, quantile: 0.98 },
    onDisk: true,
  };
  const c = await db.createCollection(COLLECTION, options);
  const done: { lsn: number; op: Op }[] = [];
  for (let n = 1; n <= 100; n++) done.push({ lsn: (await writeOp(c, opAt(n))).lsn, op: opAt(n) });
  await db.idle();
  await db.checkpoint();
  await db.close();
  // A damaged segment: the manifest still tells how the collection was configured.
  const segment = readdirSync(`${dir}/segments`).find((f) => f.endsWith('.qseg'))!;
  const bytes = readFileSync(`${dir}/segments/${segment}`);
  bytes[bytes.length - 9] = bytes[bytes.length - 9]! ^ 0xff;
  writeFileSync(`${dir}/segments/${segment}`, bytes);

  const r = quiver(['repair', dir, '-o', `${root}/out`, '--json']);
  assert.equal(r.code, 1, `the segment is reported damaged: ${r.stderr}`);
  const salvaged = await readPoints(`${root}/out`);
  const expected = applyOps(done);
  assert.ok(salvaged.size > 0 && salvaged.size <= expected.size, `${salvaged.size}`);
  const kept = new Map([...expected].filter(([id]) => salvaged.has(id)));
  assertSameState(salvaged, kept, 'what was readable is salvaged as written');
  const out = await Quiver.open(`${root}/out`);
  try {
    const config = out.collection(COLLECTION).config;
    assert.deepEqual(config.quantization, options.quantization);
    assert.equal(config.onDisk, true);
  } finally {
    await out.close();
  }
});
