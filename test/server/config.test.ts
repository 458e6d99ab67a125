/**
 * Server settings: defaults < config file (YAML or JSON) < QUIVER_* environment < flags,
 * and clear errors for unknown keys or bad values.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isQuiverError } from '../../src/common/quiver-error.js';
import { OPTION_KEYS } from '../../src/engine/quiver.js';
import {
  configFromEnv,
  defaultSearchThreads,
  engineOptionsOf,
  readConfigFile,
  resolveServerConfig,
  SETTING_KEYS,
} from '../../src/server/config.js';
import { API_DOC, documentedTable, settingsTableMarkdown } from '../../scripts/gen-config-docs.js';
import { tempDir } from '../helpers/temp-dir.js';
import { spawnServe } from './server-helpers.js';

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

test('every Quiver.open option is a server setting: file, environment and flag reach the engine', async (t) => {
  // Quiver.open's own list of options, but the ones only code can pass, and searchThreads,
  // which the server turns into its own pool (passed as searchPool, checked by the
  // search-workers tests): a new option without a server setting fails here.
  const codeOnly = new Set(['logger', 'fileSystem', 'searchPool', 'searchThreads']);
  assert.ok(SETTING_KEYS.includes('searchThreads'), 'searchThreads is a server setting');
  const engineKeys = [...OPTION_KEYS].filter((k) => !codeOnly.has(k));
  assert.ok(engineKeys.length >= 14, 'the engine lists its options');
  for (const key of engineKeys) assert.ok(SETTING_KEYS.includes(key as never), key);
  const dir = tempDir(t);
  const yaml = join(dir, 'quiver.yaml');
  writeFileSync(
    yaml,
    'walArchiveDir: /srv/archive\nmemoryBudgetBytes: 2097152\nsealBytes: 1048576\nbreakerCooldownMs: 500\nautoCompact: false\ncompactDeletedShare: 0.5\n',
  );
  const c = resolveServerConfig(
    await readConfigFile(yaml),
    configFromEnv({ QUIVER_SEAL_POINTS: '40', QUIVER_AUTO_COMPACT: 'true' }),
    { maxSegments: '3' },
  );
  assert.deepEqual(Object.keys(engineOptionsOf(c)).sort(), [...engineKeys].sort());
  assert.equal(c.walArchiveDir, '/srv/archive');
  assert.equal(c.memoryBudgetBytes, 2097152);
  assert.equal(c.sealPoints, 40);
  assert.equal(c.autoCompact, true);
  assert.equal(c.maxSegments, 3);
  assert.equal(c.compactDeletedShare, 0.5);
  assert.equal(resolveServerConfig().walArchiveDir, undefined);
  for (const bad of [{ autoCompact: 'yes' }, { compactDeletedShare: 2 }, { sealPoints: 0 }]) {
    assert.throws(
      () => resolveServerConfig(bad),
      (e: unknown) => isQuiverError(e, 'INVALID_ARGUMENT'),
    );
  }

  // A real server with a WAL archive (point-in-time recovery) and a memory budget.
  const archive = join(dir, 'archive');
  const serve = await spawnServe(
    t,
    [
      '--data',
      join(dir, 'data'),
      '--wal-archive-dir',
      archive,
      '--wal-file-bytes',
      '4096',
      '--memory-budget-bytes',
      '2097152',
    ],
    { QUIVER_SEAL_POINTS: '40' },
  );
  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(`${serve.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    assert.equal(res.status, 200, `${method} ${path}: ${await res.clone().text()}`);
    return res.json();
  };
  await call('PUT', '/collections/c', { vectors: { size: 4, distance: 'Dot' } });
  for (let b = 0; b < 10; b++) {
    const points = Array.from({ length: 20 }, (_, i) => ({
      id: b * 20 + i,
      vector: [b, i, 1, 2],
    }));
    await call('PUT', '/collections/c/points?wait=true', { points });
  }
  const stats = (await call('GET', '/stats')) as { memoryBudgetBytes: number };
  assert.equal(stats.memoryBudgetBytes, 2097152);
  assert.equal(await serve.stop(), 0);
  assert.ok(
    readdirSync(archive).some((f) => f.endsWith('.wal')),
    'released WAL files were archived',
  );
});

test('semanticCache: a map in a file, name=similarity pairs in the environment; bad ones refused', () => {
  assert.deepEqual(resolveServerConfig().semanticCache, {});
  const env = configFromEnv({ QUIVER_SEMANTIC_CACHE: 'faq=0.97, docs=0.9' });
  assert.deepEqual(resolveServerConfig(env).semanticCache, { faq: 0.97, docs: 0.9 });
  assert.deepEqual(resolveServerConfig({ semanticCache: { faq: 0.5 } }).semanticCache, {
    faq: 0.5,
  });
  for (const bad of ['faq', 'faq=2', '=0.9', 'faq=x']) {
    assert.throws(
      () => resolveServerConfig(configFromEnv({ QUIVER_SEMANTIC_CACHE: bad })),
      (e: unknown) => isQuiverError(e, 'INVALID_ARGUMENT'),
      bad,
    );
  }
  assert.throws(() => resolveServerConfig({ semanticCache: [0.9] }), /semanticCache/);
});

test('the settings table in docs/API.md is the one generated from SETTINGS', () => {
  const documented = documentedTable(readFileSync(API_DOC, 'utf8'));
  assert.equal(
    documented,
    settingsTableMarkdown(),
    'docs/API.md is stale: run npx tsx scripts/gen-config-docs.ts',
  );
});
