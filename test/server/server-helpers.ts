/**
 * Test helpers for the server: an in-process server over a fresh database (requests go
 * through `app.inject`, no sockets), and a real `quiver serve` child process on 127.0.0.1.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import type { Logger as PinoLogger } from 'pino';
import { Quiver } from '../../src/engine/quiver.js';
import type { ServerConfigInput } from '../../src/server/config.js';
import { resolveServerConfig } from '../../src/server/config.js';
import type { QuiverServer } from '../../src/server/create-server.js';
import { createServer } from '../../src/server/create-server.js';
import { tempDir } from '../helpers/temp-dir.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** Removes a test directory (kept when QUIVER_KEEP_TMP=1); register it as the last hook. */
export function removeDir(dir: string): void {
  if (process.env['QUIVER_KEEP_TMP'] !== '1') rmSync(dir, { recursive: true, force: true });
}

/** Options of {@link makeServer}. */
export interface MakeServerOptions {
  /** Server settings over the test defaults. */
  readonly settings?: ServerConfigInput;
  /** Opens the database instead of the default (fsync none, fresh directory). */
  readonly open?: (data: string) => Promise<Quiver>;
  /** Hands the server a pending opening (for /ready tests) instead of an open database. */
  readonly pending?: boolean;
  /** Logger (default: silent). */
  readonly logger?: PinoLogger;
}

/** An in-process server over a fresh database, closed after the test. */
export async function makeServer(
  t: TestContext,
  options: MakeServerOptions = {},
): Promise<{
  server: QuiverServer;
  db: Quiver;
  dir: string;
  data: string;
  /** With `pending`: lets the database opening finish. */
  release: () => void;
}> {
  const dir = tempDir(undefined, 'quiver-server-');
  const data = join(dir, 'data');
  const db = await (options.open ?? ((d: string) => Quiver.open(d, { fsync: 'none' })))(data);
  let release: () => void = () => undefined;
  const given: Quiver | Promise<Quiver> =
    options.pending === true ? new Promise<Quiver>((r) => (release = () => r(db))) : db;
  const config = resolveServerConfig({
    data,
    logLevel: 'silent',
    auditLog: join(dir, 'audit.log'),
    snapshotsDir: join(dir, 'snapshots'),
    ...options.settings,
  });
  const server = await createServer({
    config,
    db: given,
    logger: options.logger ?? pino({ level: 'silent' }),
  });
  await server.app.ready();
  t.after(async () => {
    release();
    await server.close();
    await db.close().catch(() => undefined);
    removeDir(dir);
  });
  return { server, db, dir, data, release };
}

/** Sends a JSON request through inject and returns the response. */
export function call(
  server: QuiverServer,
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
  remoteAddress?: string,
): Promise<LightMyRequestResponse> {
  return server.app.inject({
    method,
    url,
    ...(remoteAddress === undefined ? {} : { remoteAddress }),
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
}

/** A `quiver serve` child process (through the serve command) and its URL. */
export interface ServeChild {
  readonly child: ChildProcess;
  readonly url: string;
  readonly port: number;
  /** Every stdout line (pino JSON) so far. */
  readonly lines: string[];
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Spawns `quiver serve --data DIR --port 0` and waits until it listens and is ready. */
export async function spawnServe(
  t: TestContext,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<ServeChild> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'test/server/serve-child.ts'),
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--log-level',
      'info',
      ...args,
    ],
    { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const url = await new Promise<string>((resolveUrl, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 30_000);
    child.stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      let i: number;
      while ((i = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        lines.push(line);
        try {
          const rec = JSON.parse(line) as { msg?: string; url?: string };
          if (rec.msg === 'quiver listening' && typeof rec.url === 'string') {
            clearTimeout(timer);
            resolveUrl(rec.url);
          }
        } catch {
          // not JSON
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${String(code)} before listening: ${stderr}`));
    });
  });
  for (let i = 0; i < 300; i++) {
    const res = await fetch(`${url}/ready`, {
      headers: env['QUIVER_API_KEY'] === undefined ? {} : { 'api-key': env['QUIVER_API_KEY'] },
    }).catch(() => undefined);
    if (res?.status === 200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  let stopped: Promise<number | null> | undefined;
  const stop = (): Promise<number | null> => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    })();
    return stopped;
  };
  t.after(async () => {
    await stop();
  });
  return { child, url, port: Number(new URL(url).port), lines, stop };
}
