/**
 * A new user's first commands (issue 10 item 18): `npm run example` beside `npm start` —
 * with a server holding ./data, the quickstart example run from the same directory works in
 * its own ./example-data instead of failing on the server's lock — and the README saying
 * that the tests need promtool.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { spawnServe } from '../server/server-helpers.js';
import { tempDir } from '../helpers/temp-dir.js';

const ROOT = resolve(import.meta.dirname, '../..');

test('the quickstart example runs while a server holds ./data', async (t) => {
  const cwd = tempDir(t, 'quiver-example-');
  const server = await spawnServe(t, ['--data', join(cwd, 'data')]);
  const tsx = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
  const r = spawnSync(process.execPath, ['--import', tsx, join(ROOT, 'examples/quickstart.ts')], {
    cwd,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `example failed beside the server: ${r.stderr}`);
  assert.match(r.stdout, /closed cleanly/);
  assert.ok(existsSync(join(cwd, 'example-data')), 'the example has its own directory');
  assert.equal(await server.stop(), 0);
});

test('README names promtool, which the tests need and .ci/run installs', () => {
  const ci = readFileSync(join(ROOT, '.ci/run'), 'utf8');
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  assert.match(ci, /apt-get install .*prometheus/);
  const setUp = readme.slice(readme.indexOf('## Set up'), readme.indexOf('## Embedded use'));
  assert.match(setUp, /promtool[\s\S]*apt-get install prometheus/, 'near the test command');
});
