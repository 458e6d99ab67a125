/**
 * Disk full for real: on a tiny filesystem (a size-limited tmpfs that .ci/run mounts and
 * names in QUIVER_TINY_FS), writes fail with NO_SPACE, reads go on, nothing acknowledged
 * is lost, and writes resume by themselves once space returns. Skipped, with the reason
 * printed, where no such filesystem could be mounted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { Quiver, isQuiverError } from '../../src/index.js';
import { needs } from '../helpers/facility.js';
import { randomVector, rng } from '../helpers/random.js';

const TINY = process.env['QUIVER_TINY_FS'];

test(
  'disk full on a real tiny filesystem',
  {
    skip: needs(
      'a tiny filesystem',
      TINY !== undefined,
      'QUIVER_TINY_FS is not set: no size-limited filesystem could be mounted here (needs root; .ci/run mounts one)',
    ),
  },
  async () => {
    const dir = mkdtempSync(`${TINY}/db-`);
    const ballast = `${TINY}/ballast-${process.pid}`;
    try {
      // Reserve some space to give back later: enough for the write after it and for the
      // checkpoint close may run (512 KiB was sometimes eaten by that seal, and close then
      // failed to write its clean mark on the again-full disk).
      writeFileSync(ballast, new Uint8Array(1024 * 1024));
      const db = await Quiver.open(dir, { fsync: 'always', sealPoints: 200, autoCompact: false });
      const c = await db.createCollection('c', { dimension: 32 });
      const rand = rng(3);
      const acked: number[] = [];
      let noSpace = 0;
      for (let i = 0; i < 100_000 && noSpace < 3; i++) {
        try {
          await c.upsert([
            { id: i, vector: randomVector(rand, 32), payload: { pad: 'x'.repeat(2000) } },
          ]);
          acked.push(i);
        } catch (e) {
          assert.ok(isQuiverError(e, 'NO_SPACE') || isQuiverError(e, 'UNAVAILABLE'), String(e));
          if (isQuiverError(e, 'NO_SPACE')) noSpace++;
        }
      }
      assert.ok(noSpace >= 3, 'the filesystem filled up');
      assert.equal(await c.count(), acked.length, 'reads go on');
      rmSync(ballast);
      assert.equal(db.circuitBreaker.state, 'closed', 'disk full does not open the breaker');
      // Space is back: writes resume.
      await c.upsert([{ id: 'after', vector: randomVector(rand, 32), payload: { ok: true } }]);
      await db.close();
      const db2 = await Quiver.open(dir);
      const c2 = db2.collection('c');
      assert.equal(await c2.count(), acked.length + 1);
      for (const id of acked.filter((_, k) => k % 17 === 0))
        assert.ok((await c2.get(id)) !== undefined);
      await db2.close();
      console.log(
        `[tiny-fs] ${acked.length} points acknowledged before the disk filled; all present after reopen`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(ballast, { force: true });
    }
  },
);
