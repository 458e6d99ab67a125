/**
 * The package as a user gets it: the built entry exports exactly the public names, and
 * the README's embedded example runs as written against `import ... from 'quiverdb'`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers/temp-dir.js';

const ROOT = resolve(import.meta.dirname, '../..');
const PUBLIC_VALUES = ['Collection', 'ERROR_CODES', 'Quiver', 'QuiverError', 'isQuiverError'];

function requireBuild(): void {
  assert.ok(
    existsSync(join(ROOT, 'dist/index.js')),
    'dist/ is missing: run `npm run build` before `npm test`',
  );
}

test('the built package exports exactly the public names', async () => {
  requireBuild();
  // A computed name: the package resolves to dist/ only after the build, which runs after lint.
  const pkg = 'quiverdb';
  const mod = (await import(pkg)) as Record<string, unknown>;
  assert.deepEqual(Object.keys(mod).sort(), PUBLIC_VALUES);
});

test("the README's embedded example runs as written", (t) => {
  requireBuild();
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const m = /```ts\n([\s\S]*?)```/.exec(readme);
  assert.ok(m?.[1] !== undefined, 'README has a ts example');
  const genDir = join(ROOT, 'test/.generated');
  mkdirSync(genDir, { recursive: true });
  const file = join(genDir, `readme-example-${process.pid}.ts`);
  writeFileSync(file, m[1]);
  t.after(() => rmSync(file, { force: true }));
  const cwd = tempDir(t);
  const tsx = import.meta.resolve('tsx');
  const r = spawnSync(process.execPath, ['--import', tsx, file], { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, `example failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /id: 1/);
  assert.match(r.stdout, /DIMENSION_MISMATCH|dimension 3/);
  assert.ok(existsSync(join(cwd, 'data/wal')), 'the example wrote its database to ./data');
});
