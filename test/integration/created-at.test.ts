/**
 * A collection's creation time (issue 10 item 17): recorded when it is created, kept across
 * a WAL replay and a checkpoint, shown by listCollections(), db.stats(), GET /stats on a real
 * server, `quiver collections` and `quiver info`; a format 1.0 directory (no createdAt in
 * its manifest) still opens and reports it as unknown (null).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { crc32c } from '../../src/common/crc32c.js';
import { Quiver } from '../../src/engine/quiver.js';
import { resolveServerConfig } from '../../src/server/config.js';
import { createServer } from '../../src/server/create-server.js';
import { decodeManifest, encodeManifest } from '../../src/storage/manifest/manifest.js';
import { quiver } from '../helpers/cli-run.js';
import { tempDir } from '../helpers/temp-dir.js';

function quiverOk(args: string[]): string {
  const r = quiver(args);
  assert.equal(r.code, 0, `quiver ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function createdAtOf(dir: string): Promise<string | null | undefined> {
  const db = await Quiver.open(dir, { fsync: 'none' });
  try {
    return (await db.listCollections()).find((c) => c.name === 'docs')?.createdAt;
  } finally {
    await db.close();
  }
}

test('created_at is recorded, persisted and shown everywhere', async (t) => {
  const dir = join(tempDir(t, 'quiver-created-at-'), 'data');
  const before = Date.now();
  const db = await Quiver.open(dir, { fsync: 'none', autoCompact: false });
  await db.createCollection('docs', { dimension: 2, metric: 'dot' });
  const after = Date.now();
  const listed = (await db.listCollections())[0]!;
  assert.ok(listed.createdAt !== null, 'a new collection has a creation time');
  const at = Date.parse(listed.createdAt);
  assert.ok(at >= before && at <= after, `${listed.createdAt} is the creation time`);
  assert.equal(listed.createdAt, new Date(at).toISOString(), 'ISO 8601 in UTC');
  assert.equal(db.stats().perCollection[0]!.createdAt, listed.createdAt);

  const server = await createServer({
    config: resolveServerConfig({
      data: dir,
      logLevel: 'silent',
      auditLog: join(dir, '..', 'audit.log'),
      snapshotsDir: join(dir, '..', 'snapshots'),
    }),
    db,
    logger: pino({ level: 'silent' }),
  });
  const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  const stats = (await (await fetch(`${url}/stats`)).json()) as {
    perCollection: { name: string; createdAt: string | null }[];
  };
  await server.close();
  assert.equal(stats.perCollection[0]!.createdAt, listed.createdAt, 'GET /stats');
  await db.close();

  // Only in the WAL (no checkpoint yet): replay restores it.
  assert.equal(await createdAtOf(dir), listed.createdAt, 'after a WAL replay');
  const again = await Quiver.open(dir, { fsync: 'none' });
  await again.checkpoint();
  await again.close();
  assert.equal(await createdAtOf(dir), listed.createdAt, 'from the manifest');

  const cli = JSON.parse(quiverOk(['collections', dir, '--json'])) as { createdAt: string }[];
  assert.equal(cli[0]!.createdAt, listed.createdAt, 'quiver collections --json');
  assert.match(quiverOk(['collections', dir]), new RegExp(`CREATED[\\s\\S]*${listed.createdAt}`));
  const info = JSON.parse(quiverOk(['info', dir, '--json'])) as {
    formatVersion: string;
    collections: { createdAt: string }[];
  };
  assert.equal(info.collections[0]!.createdAt, listed.createdAt, 'quiver info --json');
  assert.equal(info.formatVersion, '1.8');
  assert.match(quiverOk(['info', dir]), new RegExp(`created ${listed.createdAt}`));
});

test('a format 1.0 directory opens and reports created_at as unknown', async (t) => {
  const dir = join(tempDir(t, 'quiver-created-at-'), 'data');
  const db = await Quiver.open(dir, { fsync: 'none' });
  const c = await db.createCollection('docs', { dimension: 2, metric: 'dot' });
  await c.upsert([{ id: 1, vector: [1, 0] }]);
  await db.checkpoint();
  await db.close();
  // Rewrite the manifest as format 1.0 wrote it: no createdAt, minor version 0. The WAL from
  // the manifest's start holds no CREATE_COLLECTION record to take it from.
  const path = join(dir, 'MANIFEST');
  const m = decodeManifest(readFileSync(path), path);
  const old = JSON.parse(JSON.stringify(m), (key, value: unknown) =>
    key === 'createdAt' ? undefined : value,
  ) as typeof m;
  assert.doesNotMatch(JSON.stringify(old), /createdAt/);
  const bytes = encodeManifest(old);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setUint16(6, 0, true);
  view.setUint32(12, crc32c(bytes.subarray(16), crc32c(bytes.subarray(0, 12))), true);
  writeFileSync(path, bytes);

  assert.equal(await createdAtOf(dir), null);
  const reopened = await Quiver.open(dir, { fsync: 'none' });
  assert.equal((await reopened.collection('docs').get(1))?.id, 1, 'the data is all there');
  assert.equal(reopened.stats().perCollection[0]!.createdAt, null);
  await reopened.close();
  const info = JSON.parse(quiverOk(['info', dir, '--json'])) as {
    collections: { createdAt: string | null }[];
  };
  assert.equal(info.collections[0]!.createdAt, null);
  assert.match(quiverOk(['collections', dir]), /docs .*unknown/);
});
