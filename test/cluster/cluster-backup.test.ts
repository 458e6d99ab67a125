/**
 * Cluster backups against real NATS JetStream clusters (issue 13 item 8): a backup taken
 * while writes go on holds what was acknowledged before it started and nothing sent after
 * its cut (the oracle is a standalone database given the same operations); restores into a
 * new cluster and into a standalone directory give that same content; `toTime` stops at a
 * moment between two write phases; a restore cut short resumes when run again (and no other
 * restore can take the collection over); a flipped byte or a manifest missing a shard is
 * named by verify and stops a restore before it writes; a restore never merges into an
 * existing collection (its streams stay as they were). The CLI runs as a real process.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createClusterBackup, verifyClusterBackup } from '../../src/cluster/cluster-backup.js';
import {
  restoreClusterBackup,
  restoreClusterBackupLocally,
} from '../../src/cluster/cluster-restore.js';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import { SILENT_LOGGER } from '../../src/common/logger.js';
import type { Collection, PointOp } from '../../src/engine/collection.js';
import { isQuiverError, Quiver } from '../../src/index.js';
import { NodeFileSystem } from '../../src/storage/io/node-file-system.js';
import { quiver } from '../helpers/cli-run.js';
import { needsNatsServer, startNatsCluster } from '../helpers/nats-cluster.js';
import { tempDir } from '../helpers/temp-dir.js';

const skip = needsNatsServer();
const DIM = 6;
const fs = new NodeFileSystem();

function vec(id: number): number[] {
  return Array.from({ length: DIM }, (_, d) => Math.sin(id * 1.3 + d) + d * 0.01);
}

/** Every point of `c`, sorted by id, with payload and vector: what two copies must share. */
async function dump(c: Collection): Promise<string> {
  const ids = await c.ids();
  const points = await c.getMany(ids, { withVector: true });
  return JSON.stringify(
    points
      .map((p) => ({ id: p.id, payload: p.payload, vector: Array.from(p.vector ?? []) }))
      .sort((x, y) => String(x.id).localeCompare(String(y.id))),
  );
}

/** Phase `n`'s operations on `c` (upserts, a delete, a payload merge), as a cluster writes them. */
function phase(c: Collection, n: number): PointOp[] {
  const ids = Array.from({ length: 60 }, (_, i) => n * 40 + i); // overlaps the phase before
  const ops = [
    c.prepareUpsert(ids.map((id) => ({ id, vector: vec(id), payload: { phase: n, id } }))),
    c.prepareDelete(ids.filter((id) => id % 7 === 0)),
    c.preparePayloadUpdate(
      ids.filter((id) => id % 5 === 0),
      'merge',
      { touched: n },
      [],
    ),
  ];
  return ops.filter((op): op is PointOp => op !== undefined);
}

async function startNode(servers: string, nodeId: string) {
  const dir = tempDir(undefined);
  const db = await Quiver.open(dir);
  const node = await ClusterNode.start(db, {
    servers,
    nodeId,
    logger: SILENT_LOGGER,
    fileSystem: fs,
  });
  return { dir, db, node };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('cluster backup and restore', { skip, timeout: 240_000 }, () => {
  test('a cut of what was acknowledged, restored into a new cluster and a directory', async (t) => {
    const nats = await startNatsCluster(t);
    const a = await startNode(nats.servers, 'node-a');
    const oracleDir = tempDir(t);
    const oracleDb = await Quiver.open(oracleDir);
    const dirs: string[] = [a.dir];
    t.after(async () => {
      await a.node.close().catch(() => undefined);
      await a.db.close().catch(() => undefined);
      await oracleDb.close().catch(() => undefined);
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });
    const config = { dimension: DIM, metric: 'cosine' as const };
    await a.node.createCollection('docs', config, 3);
    await a.node.createCollection('small', config, 1);
    const oracle = await oracleDb.createCollection('docs', config);
    const local = a.db.collection('docs');
    const apply = async (ops: PointOp[]) => {
      for (const op of ops) {
        await a.node.write('docs', op);
        await oracle.applyOp(op);
      }
    };
    await apply(phase(local, 1));
    await a.node.write(
      'small',
      a.db.collection('small').prepareUpsert([{ id: 'x', vector: vec(1) }]),
    );
    await sleep(100);
    const between = new Date();
    const afterPhase1 = await dump(oracle);
    await sleep(100);
    await apply(phase(local, 2));
    const acknowledged = await dump(oracle);

    // Writes keep going while the backup runs: those after its start are not in it.
    const out = join(tempDir(t), 'cluster-1');
    let writing = true;
    let issued = 0;
    let acked = 0;
    const writer = (async () => {
      while (writing) {
        const id = 10_000 + issued++;
        await a.node.write('docs', local.prepareUpsert([{ id, vector: vec(id) }]));
        acked++;
      }
    })();
    while (acked < 5) await sleep(5);
    const ackedBeforeStart = acked;
    let issuedAtCopy: number | undefined;
    const report = await createClusterBackup(nats.servers.split(','), out, {
      fileSystem: fs,
      progress: () => (issuedAtCopy ??= issued),
    });
    writing = false;
    await writer;
    assert.ok(issuedAtCopy !== undefined, 'the copy reported progress');
    // Usually some; a machine slow enough to let the copy end first still checks the rest.
    console.log(`[cluster-backup] ${issued - issuedAtCopy} writes sent during the copy`);
    assert.equal(report.collections, 2);
    assert.equal(report.shards, 4);
    const verified = await verifyClusterBackup(fs, out);
    assert.equal(verified.status, 'ok', JSON.stringify(verified.problems));
    assert.equal(verified.records, report.records);

    // Into a standalone directory: exactly the acknowledged set, with no writes after the cut
    // except those already stored when the cut was read.
    const restoredDir = tempDir(t);
    const r1 = await restoreClusterBackupLocally(out, restoredDir, {
      fileSystem: fs,
      collections: ['docs'],
    });
    assert.equal(r1.collections[0]!.skipped, 0);
    const restored = await Quiver.open(restoredDir);
    const got = await dump(restored.collection('docs'));
    await restored.close();
    // Of the writes racing the backup: those acknowledged before it started are in, those
    // sent after the cut was read (copying had begun) are not; nothing else differs.
    const gotIds = (JSON.parse(got) as { id: number }[]).map((p) => p.id);
    const later = gotIds.filter((id) => id >= 10_000);
    for (let i = 0; i < ackedBeforeStart; i++) assert.ok(later.includes(10_000 + i), `${i}`);
    assert.ok(Math.max(...later) < 10_000 + issuedAtCopy, 'a write sent after the cut is in it');
    const withoutLater = JSON.stringify(
      (JSON.parse(got) as { id: number }[]).filter((p) => p.id < 10_000),
    );
    assert.equal(withoutLater, acknowledged);

    // --to-time between the phases: phase 1 only.
    const pitDir = tempDir(t);
    const r2 = await restoreClusterBackupLocally(out, pitDir, {
      fileSystem: fs,
      collections: ['docs'],
      toTime: between,
    });
    assert.ok(r2.collections[0]!.skipped > 0);
    const pit = await Quiver.open(pitDir);
    assert.equal(await dump(pit.collection('docs')), afterPhase1);
    await pit.close();

    // Into a new cluster: its node applies the published operations.
    const nats2 = await startNatsCluster(t);
    const b = await startNode(nats2.servers, 'node-b');
    dirs.push(b.dir);
    t.after(async () => {
      await b.node.close().catch(() => undefined);
      await b.db.close().catch(() => undefined);
    });
    const r3 = await restoreClusterBackup(out, nats2.servers.split(','), { fileSystem: fs });
    assert.deepEqual(
      r3.collections.map((c) => c.name),
      ['docs', 'small'],
    );
    for (let i = 0; i < 200 && !(b.node.hosts('docs') && b.node.hosts('small')); i++) {
      await sleep(50);
    }
    await b.node.waitLatest('docs', 30_000);
    await b.node.waitLatest('small', 30_000);
    assert.equal(await dump(b.db.collection('docs')), got);
    assert.equal(await b.db.collection('small').count(), 1);

    assert.equal(r3.collections[0]!.resumed, false);
    // The definition marked done reaches B through its metadata watch, maybe after the data.
    for (let i = 0; i < 200 && b.node.definition('docs').restoring !== undefined; i++) {
      await sleep(50);
    }
    assert.equal(b.node.definition('docs').restoring, undefined, 'marked done');

    // A second restore would merge into what is there: refused before anything is written.
    const streamEnds = () =>
      b.node
        .stats()
        .shards.map((s) => `${s.collection}/${s.shard}:${s.streamLast}`)
        .join(' ');
    const uid = b.node.definition('docs').uid;
    const ends = streamEnds();
    await assert.rejects(
      restoreClusterBackup(out, nats2.servers.split(','), { fileSystem: fs }),
      (e: unknown) =>
        isQuiverError(e, 'COLLECTION_EXISTS') && /a restore makes new collections/.test(e.message),
    );
    await sleep(2_500); // a stream's end is looked at every second
    assert.equal(b.node.definition('docs').uid, uid);
    assert.equal(streamEnds(), ends);

    // A restore to a time, cut short after 5 operations, then run again: it resumes where
    // the streams end and gives the state at that time; another time cannot take it over.
    await b.node.dropCollection('docs');
    const servers2 = nats2.servers.split(',');
    let steps = 0;
    await assert.rejects(
      restoreClusterBackup(out, servers2, {
        fileSystem: fs,
        collections: ['docs'],
        toTime: between,
        progress: () => {
          if (++steps > 5) throw new Error('cut short');
        },
      }),
      /cut short/,
    );
    await assert.rejects(
      restoreClusterBackup(out, servers2, { fileSystem: fs, collections: ['docs'] }),
      (e: unknown) => isQuiverError(e, 'COLLECTION_EXISTS') && /being restored/.test(e.message),
    );
    const r4 = await restoreClusterBackup(out, servers2, {
      fileSystem: fs,
      collections: ['docs'],
      toTime: between,
    });
    assert.equal(r4.collections[0]!.resumed, true);
    for (let i = 0; i < 200 && !b.node.hosts('docs'); i++) await sleep(50);
    await b.node.waitLatest('docs', 30_000);
    assert.equal(await dump(b.db.collection('docs')), afterPhase1);
    assert.equal(b.node.definition('docs').restoring, undefined);

    // A manifest that lists too few shards is refused (half a collection is not restored).
    const partial = join(tempDir(t), 'partial');
    cpSync(out, partial, { recursive: true });
    const manifestPath = join(partial, 'cluster-backup.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
      collections: { shardArchives: unknown[] }[];
    };
    manifest.collections[0]!.shardArchives.pop();
    writeFileSync(manifestPath, JSON.stringify(manifest));
    const partialCheck = await verifyClusterBackup(fs, partial);
    assert.match(partialCheck.problems[0]?.what ?? '', /must list 3 shard archives/);
    await assert.rejects(
      restoreClusterBackupLocally(partial, tempDir(t), { fileSystem: fs }),
      (e: unknown) => isQuiverError(e, 'CORRUPT'),
    );

    // A flipped byte in one archive: verify names it, a restore refuses before writing.
    const damaged = join(tempDir(t), 'damaged');
    cpSync(out, damaged, { recursive: true });
    const shardFile = join(
      damaged,
      'collections',
      'docs',
      readdirSync(join(damaged, 'collections', 'docs')).sort()[0]!,
    );
    const bytes = readFileSync(shardFile);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x40;
    writeFileSync(shardFile, bytes);
    const bad = await verifyClusterBackup(fs, damaged);
    assert.equal(bad.status, 'problems');
    assert.match(bad.problems[0]!.file, /collections\/docs\/shard-0\.qshard/);
    assert.match(bad.problems[0]!.what, /checksum|sequence|runs past/);
    const refusedDir = tempDir(t);
    await assert.rejects(
      restoreClusterBackupLocally(damaged, refusedDir, { fileSystem: fs }),
      (e: unknown) => isQuiverError(e, 'CORRUPT') && /nothing was restored/.test(e.message),
    );
    assert.deepEqual(readdirSync(refusedDir), []);

    // The CLI: create, verify and restore to a directory, as an operator runs them.
    const cliOut = join(tempDir(t), 'cli-backup');
    const created = quiver([
      'backup',
      'create',
      '--cluster',
      nats.servers,
      '-o',
      cliOut,
      '--collection',
      'small',
      '--verify',
      '--json',
    ]);
    assert.equal(created.code, 0, created.stderr);
    const createdReport = JSON.parse(created.stdout) as {
      collections: number;
      verify: { status: string };
    };
    assert.equal(createdReport.collections, 1);
    assert.equal(createdReport.verify.status, 'ok');
    const cliVerify = quiver(['backup', 'verify', cliOut]);
    assert.equal(cliVerify.code, 0, cliVerify.stderr);
    assert.match(cliVerify.stdout, /^OK: 1 shard archives, 1 operations/);
    const cliRestoreDir = tempDir(t);
    const cliRestore = quiver(['backup', 'restore', cliOut, '-o', cliRestoreDir]);
    assert.equal(cliRestore.code, 0, cliRestore.stderr);
    assert.match(cliRestore.stdout, /small: 1 shard\(s\), 1 operations replayed/);
    assert.match(cliRestore.stdout, /verify: ok/);
    await b.node.dropCollection('small');
    const cliCluster = quiver(['backup', 'restore', cliOut, '--cluster', nats2.servers]);
    assert.equal(cliCluster.code, 0, cliCluster.stderr);
    assert.match(cliCluster.stdout, /into nats:\/\/127\.0\.0\.1:\d+.*\n {2}- small: 1 shard/);
    for (let i = 0; i < 200 && !b.node.hosts('small'); i++) await sleep(50);
    await b.node.waitLatest('small', 30_000);
    assert.equal(await b.db.collection('small').count(), 1);
    const mixed = quiver(['backup', 'restore', cliOut, '-o', cliRestoreDir, '--to-lsn', '5']);
    assert.notEqual(mixed.code, 0);
    assert.match(mixed.stderr, /cluster backup: it takes --to-time, not --to-lsn/);
  });
});
