/**
 * Server settings: defaults < config file (YAML or JSON) < QUIVER_* environment < flags,
 * and clear errors for unknown keys or bad values.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isQuiverError } from '../../src/common/quiver-error.js';
import {
  configFromEnv,
  defaultSearchThreads,
  readConfigFile,
  resolveServerConfig,
} from '../../src/server/config.js';
import { tempDir } from '../helpers/temp-dir.js';

test('settings merge in order: defaults, file, environment, flags', async (t) => {
  const defaults = resolveServerConfig();
  assert.equal(defaults.host, '127.0.0.1');
  assert.equal(defaults.port, 6333);
  assert.equal(defaults.data, './data');
  assert.equal(defaults.auditLog, './data/audit.log');
  assert.equal(defaults.searchThreads, defaultSearchThreads());
  assert.ok(defaults.searchThreads >= 1 && defaults.searchThreads <= 8);
  assert.equal(resolveServerConfig(configFromEnv({ QUIVER_SEARCH_THREADS: '0' })).searchThreads, 0);
  const dir = tempDir(t);
  const yaml = join(dir, 'quiver.yaml');
  writeFileSync(
    yaml,
    'data: /srv/q\nport: 7000\nlogLevel: warn\nslowQueryMs: 50\nipBlock: [10.0.0.1]\n',
  );
  const json = join(dir, 'quiver.json');
  writeFileSync(json, JSON.stringify({ port: 7001 }));
  const fromFile = await readConfigFile(yaml);
  const env = configFromEnv({ QUIVER_PORT: '7100', QUIVER_LOG_LEVEL: 'debug', QUIVER_TEST: '1' });
  const c = resolveServerConfig(fromFile, env, { port: '7200', host: undefined });
  assert.equal(c.port, 7200);
  assert.equal(c.logLevel, 'debug');
  assert.equal(c.data, '/srv/q');
  assert.equal(c.slowQueryMs, 50);
  assert.deepEqual(c.ipBlock, ['10.0.0.1']);
  assert.equal(c.snapshotsDir, '/srv/q/snapshots');
  assert.equal(resolveServerConfig(await readConfigFile(json)).port, 7001);

  writeFileSync(join(dir, 'bad.yaml'), 'prot: 1\n');
  await assert.rejects(readConfigFile(join(dir, 'bad.yaml')), /Unknown setting "prot"/);
  for (const bad of [
    { port: 70000 },
    { logLevel: 'loud' },
    { fsync: 'sometimes' },
    { bodyLimitBytes: 'x' },
    { searchThreads: -1 },
    { searchThreads: 2.5 },
  ]) {
    assert.throws(
      () => resolveServerConfig(bad),
      (e: unknown) => isQuiverError(e, 'INVALID_ARGUMENT'),
    );
  }
});
