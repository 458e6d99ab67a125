/**
 * What an open logs (issue 10 item 18): a freshly created directory is logged as a new
 * database ("database created", newDatabase: true), not as `cleanShutdown: false` — which an
 * operator reads as a crash; a reopened one says whether its last session closed cleanly.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Logger } from '../../src/common/logger.js';
import { Quiver } from '../../src/engine/quiver.js';
import { tempDir } from '../helpers/temp-dir.js';

/** A logger that keeps the info records. */
function recorder(): { logger: Logger; infos: { msg: string; obj: Record<string, unknown> }[] } {
  const infos: { msg: string; obj: Record<string, unknown> }[] = [];
  const noop = (): void => undefined;
  return {
    infos,
    logger: {
      debug: noop,
      warn: noop,
      error: noop,
      info: (obj, msg) => infos.push({ msg: msg ?? '', obj: obj as Record<string, unknown> }),
    },
  };
}

function openRecord(infos: { msg: string; obj: Record<string, unknown> }[]): {
  msg: string;
  obj: Record<string, unknown>;
} {
  const r = infos.find((i) => i.msg === 'database created' || i.msg === 'database opened');
  assert.ok(r !== undefined, `no open record in ${JSON.stringify(infos)}`);
  return r;
}

test('a new directory is logged as a new database, a reopen as clean or not', async (t) => {
  const dir = join(tempDir(t, 'quiver-open-log-'), 'data');
  const first = recorder();
  const db = await Quiver.open(dir, { fsync: 'none', logger: first.logger });
  const created = openRecord(first.infos);
  assert.equal(created.msg, 'database created');
  assert.equal(created.obj['newDatabase'], true);
  assert.equal('cleanShutdown' in created.obj, false, 'no cleanShutdown:false for a new one');
  const c = await db.createCollection('c', { dimension: 2, metric: 'dot' });
  await c.upsert([{ id: 1, vector: [1, 0] }]);
  await db.close();

  const second = recorder();
  const again = await Quiver.open(dir, { fsync: 'none', logger: second.logger });
  const opened = openRecord(second.infos);
  assert.deepEqual(
    [opened.msg, opened.obj['newDatabase'], opened.obj['cleanShutdown']],
    ['database opened', false, true],
  );
  await again.close();
  rmSync(join(dir, 'CLEAN'), { force: true }); // as after a crash
  const third = recorder();
  const crashed = await Quiver.open(dir, { fsync: 'none', logger: third.logger });
  assert.equal(openRecord(third.infos).obj['cleanShutdown'], false);
  await crashed.close();
});
