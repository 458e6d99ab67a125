/**
 * Shard archive codec properties: what is written reads back the same; any flipped byte is
 * CORRUPT naming the file; a cut file reads back as CORRUPT or as a prefix of the records
 * (a cut at a record boundary is found by the manifest's range, cluster-backup.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { isQuiverError } from '../common/quiver-error.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import type { ArchivedMessage } from './shard-archive.js';
import { readShardArchive, ShardArchiveWriter } from './shard-archive.js';

const fs = new NodeFileSystem();

const messages = fc
  .tuple(
    fc.integer({ min: 1, max: 2 ** 40 }),
    fc.array(
      fc.record({
        timeMs: fc.integer({ min: 0, max: 2 ** 45 }),
        data: fc.uint8Array({ maxLength: 300 }),
      }),
      { maxLength: 20 },
    ),
  )
  .map(([first, list]) => list.map((m, i) => ({ seq: first + i, ...m })));

async function write(path: string, shard: number, list: readonly ArchivedMessage[]) {
  const h = await fs.open(path, 'create-new');
  const w = await ShardArchiveWriter.start(h, shard);
  for (const m of list) await w.append(m);
  const size = await w.finish();
  await h.close();
  return size;
}

async function readAll(path: string, shard: number): Promise<ArchivedMessage[]> {
  const out: ArchivedMessage[] = [];
  for await (const m of readShardArchive(fs, path, shard)) out.push(m);
  return out;
}

function plain(list: readonly ArchivedMessage[]) {
  return list.map((m) => ({ seq: m.seq, timeMs: m.timeMs, data: Array.from(m.data) }));
}

test('shard archive: round trip, flipped bytes, cut files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'quiver-shard-archive-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  await fc.assert(
    fc.asyncProperty(
      messages,
      fc.integer({ min: 0, max: 63 }),
      fc.nat(),
      fc.nat(),
      async (list, shard, flipAt, cutAt) => {
        const path = join(dir, `a-${n++}.qshard`);
        const size = await write(path, shard, list);
        assert.equal(size, readFileSync(path).length);
        assert.deepEqual(plain(await readAll(path, shard)), plain(list));
        // Another shard's archive is refused.
        await assert.rejects(readAll(path, shard + 1), (e: unknown) => isQuiverError(e, 'CORRUPT'));

        const bytes = readFileSync(path);
        const flipped = Buffer.from(bytes);
        flipped[flipAt % bytes.length]! ^= 1 << (flipAt % 8);
        writeFileSync(path, flipped);
        await assert.rejects(
          readAll(path, shard),
          (e: unknown) => isQuiverError(e, 'CORRUPT') && e.message.includes(path),
        );

        writeFileSync(path, bytes.subarray(0, cutAt % (bytes.length + 1)));
        try {
          const got = await readAll(path, shard);
          assert.deepEqual(plain(got), plain(list.slice(0, got.length)));
        } catch (e) {
          assert.ok(isQuiverError(e, 'CORRUPT'), String(e));
        }
      },
    ),
    { numRuns: 150 },
  );
});
