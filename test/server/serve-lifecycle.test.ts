/**
 * `quiver serve` as a process: a busy port exits 3 and releases the database (issue 10
 * item 7); SIGHUP reloads the config file instead of killing the server, keeps the running
 * config when the file is bad, and SIGTERM afterwards still exits 0 with the clean mark
 * (item 11). Real child processes, real sockets on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { Quiver } from '../../src/engine/quiver.js';
import { hashApiKey } from '../../src/server/auth/key-store.js';
import { resolveServerConfig } from '../../src/server/config.js';
import { startServer } from '../../src/server/start-server.js';
import { HandleCountingFileSystem } from '../helpers/handle-counting-file-system.js';
import { CLI_NODE_ARGS } from '../helpers/cli-run.js';
import { tempDir } from '../helpers/temp-dir.js';
import { spawnServe } from './server-helpers.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** Resolves with the first stdout line (pino JSON) whose msg passes `match`. */
async function waitForLog(
  lines: readonly string[],
  match: (msg: string) => boolean,
  from: number,
): Promise<Record<string, unknown>> {
  for (let i = 0; i < 400; i++) {
    for (const line of lines.slice(from)) {
      try {
        const rec = JSON.parse(line) as Record<string, unknown>;
        if (typeof rec['msg'] === 'string' && match(rec['msg'])) return rec;
      } catch {
        // not JSON
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no log line matched; got:\n${lines.slice(from).join('\n')}`);
}

test('serve on a busy port exits 3 with a clear message and releases the database', async (t) => {
  const dir = tempDir(t);
  const data = join(dir, 'data');
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => blocker.close(() => r())));
  const port = (blocker.address() as AddressInfo).port;

  const child = spawn(
    process.execPath,
    [...CLI_NODE_ARGS, 'serve', '--data', data, '--host', '127.0.0.1'],
    {
      cwd: ROOT,
      // Search workers are what kept the process alive: start some.
      env: { ...process.env, QUIVER_PORT: String(port), QUIVER_SEARCH_THREADS: '2' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.resume();
  const code = await new Promise<number | null>((r) => {
    // Generous for a loaded machine; before the fix the process never exits.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      r(null);
    }, 30_000);
    child.once('exit', (c) => {
      clearTimeout(timer);
      r(c);
    });
  });
  assert.equal(code, 3, `exit code (null: still running after 30 s); stderr: ${stderr}`);
  assert.match(
    stderr,
    new RegExp(`quiver: Cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use`),
  );
  assert.match(stderr, /--port/);
  // The lock is released and the database closed cleanly.
  const db = await Quiver.open(data, { fsync: 'none' });
  try {
    assert.equal(db.recovery.cleanShutdown, true);
  } finally {
    await db.close();
  }
});

test('SIGHUP reloads the config file; a bad file keeps the running config; SIGTERM still exits 0 cleanly', async (t) => {
  const dir = tempDir(t);
  const data = join(dir, 'data');
  const keysFile = join(dir, 'keys.yaml');
  const configFile = join(dir, 'quiver.yaml');
  const oldKey = 'old-secret-key-0123456789';
  const newKey = 'new-secret-key-0123456789';
  const keyEntry = (id: string, secret: string): string =>
    `  - { id: ${id}, hash: "${hashApiKey(secret)}", role: admin }\n`;
  writeFileSync(keysFile, `keys:\n${keyEntry('old', oldKey)}`);
  const config = (extra: string): string =>
    `keysFile: ${JSON.stringify(keysFile)}\nslowQueryMs: 200\nsealPoints: 20000\n${extra}`;
  writeFileSync(configFile, config(''));

  const serve = await spawnServe(t, ['--data', data, '--config', configFile], {
    QUIVER_API_KEY: oldKey,
  });
  const get = (path: string, key: string): Promise<Response> =>
    fetch(`${serve.url}${path}`, { headers: { 'api-key': key } });
  assert.equal((await get('/collections', oldKey)).status, 200);
  assert.equal((await get('/collections', newKey)).status, 401);

  // A new key, a new log level and slow-query threshold, a new IP block, and a storage
  // setting that needs a restart.
  writeFileSync(keysFile, `keys:\n${keyEntry('old', oldKey)}${keyEntry('new', newKey)}`);
  writeFileSync(
    configFile,
    config('logLevel: debug\ndefaultEf: 40\nipBlock: [192.0.2.7]\n').replace(
      'slowQueryMs: 200\nsealPoints: 20000',
      'slowQueryMs: 5\nsealPoints: 1000',
    ),
  );
  let from = serve.lines.length;
  serve.child.kill('SIGHUP');
  const reloaded = await waitForLog(serve.lines, (m) => m === 'config reloaded', from);
  const changed = reloaded['changed'] as Record<string, { from: unknown; to: unknown }>;
  // spawnServe passes --log-level info: a flag outranks the file, on reload too.
  assert.equal(changed['logLevel'], undefined);
  assert.deepEqual(changed['defaultEf'], { from: null, to: 40 });
  assert.deepEqual(changed['slowQueryMs'], { from: 200, to: 5 });
  assert.deepEqual(changed['ipBlock'], { from: [], to: ['192.0.2.7'] });
  assert.equal(reloaded['keysChanged'], true);
  const restart = await waitForLog(serve.lines, (m) => m.includes('needs a restart'), from);
  assert.deepEqual(restart['needsRestart'], ['sealPoints']);
  assert.equal(serve.child.exitCode, null, 'the server is still running');
  assert.equal((await get('/collections', newKey)).status, 200, 'the new key works');
  const stats = (await (await get('/stats', newKey)).json()) as {
    server: { settings: { slowQueryMs: number; defaultEf: number } };
  };
  assert.equal(stats.server.settings.slowQueryMs, 5);
  assert.equal(stats.server.settings.defaultEf, 40);
  const blocked = (await (await get('/admin/ip-block', newKey)).json()) as { blocked: string[] };
  assert.deepEqual(blocked.blocked, ['192.0.2.7']);

  // A file that does not validate: logged, and nothing changes.
  writeFileSync(configFile, 'prot: 1\n');
  from = serve.lines.length;
  serve.child.kill('SIGHUP');
  const failed = await waitForLog(serve.lines, (m) => m.startsWith('config reload failed'), from);
  assert.match(String(failed['msg']), /Unknown setting "prot"/);
  assert.equal(serve.child.exitCode, null);
  assert.equal((await get('/collections', newKey)).status, 200);

  assert.equal(await serve.stop(), 0);
  const db = await Quiver.open(data, { fsync: 'none' });
  try {
    assert.equal(db.recovery.cleanShutdown, true, 'SIGTERM after SIGHUP left the clean mark');
  } finally {
    await db.close();
  }
});

test('a server that fails to start (damaged ip-block.json) releases the database it opened', async (t) => {
  const dir = tempDir(t);
  const db = await Quiver.open(dir);
  await db.createCollection('docs', { dimension: 2, metric: 'euclid' });
  await db.close();
  writeFileSync(join(dir, 'ip-block.json'), '{ not json');
  const config = resolveServerConfig({ data: dir, port: 0, searchThreads: 0, logLevel: 'silent' });
  const fileSystem = new HandleCountingFileSystem();
  await assert.rejects(startServer({ config, fileSystem, handleSignals: false }), /ip-block\.json/);
  // By the time the start fails, the database it was opening has opened (its WAL file) and
  // been closed again. Before the fix the rejection came first and the database went on
  // opening behind it, its WAL handle and lock outliving the failed start.
  assert.ok(
    fileSystem.openedPaths.some((p) => p.startsWith(join(dir, 'wal'))),
    'the database finished opening before the start failed',
  );
  assert.deepEqual(fileSystem.openPaths(), [], 'no file handle left open');
  const again = await Quiver.open(dir);
  assert.ok(again.hasCollection('docs'));
  await again.close();
});
