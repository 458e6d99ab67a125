/**
 * The CLI's error wording (issue 10 item 15): one `quiver: ` prefix, and command advice
 * where the engine's message gives embedded-API advice (db.collection, db.createCollection).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { quiver } from '../helpers/cli-run.js';
import { tempDir } from '../helpers/temp-dir.js';

test('CLI errors give CLI advice, never embedded-API advice', (t) => {
  const dir = join(tempDir(t, 'quiver-cli-errors-'), 'db');
  const create = ['create-collection', dir, '--name', 'docs', '--dim', '4'];
  assert.equal(quiver(create).code, 0);
  const again = quiver(create);
  assert.equal(again.code, 3);
  assert.match(
    again.stderr,
    /^quiver: Collection "docs" already exists\. Use it, or drop it first with "quiver drop-collection DIR --name docs --yes"\.\n$/,
  );
  assert.doesNotMatch(again.stderr, /db\.|createCollection/);

  const missing = quiver(['export', dir, '--collection', 'nope']);
  assert.equal(missing.code, 3);
  assert.match(missing.stderr, /^quiver: Collection "nope" does not exist\./);
  assert.match(missing.stderr, /"quiver create-collection DIR --name nope --dim N"/);
  assert.doesNotMatch(missing.stderr, /db\./);
});
