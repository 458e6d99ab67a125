/**
 * The package as a user gets it: the built entry exports exactly the public names, and
 * the README's embedded example runs as written against `import ... from 'quiverdb'`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import semver from 'semver';
import { tempDir } from '../helpers/temp-dir.js';

const ROOT = resolve(import.meta.dirname, '../..');
const PUBLIC_VALUES = [
  'Collection',
  'ERROR_CODES',
  'Quiver',
  'QuiverError',
  'doctorCollection',
  'isQuiverError',
  'localEmbedder',
  'openAiEmbedder',
  'syncDocuments',
];

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

/** End of life of the Node.js release lines (nodejs.org release schedule). */
const NODE_EOL: Readonly<Record<number, string>> = {
  18: '2025-04-30',
  20: '2026-04-30',
  22: '2027-04-30',
  24: '2028-04-30',
};

test('engines names only Node lines that are still maintained and that every dependency supports', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    engines: { node: string };
  };
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { engines?: { node?: string } | string[] }>;
  };
  const ours = pkg.engines.node;
  const lowest = semver.minVersion(ours);
  assert.ok(lowest !== null, `engines.node ${ours} admits no version`);
  const eol = NODE_EOL[lowest.major];
  assert.ok(eol !== undefined, `no end-of-life date known for Node ${lowest.major}`);
  assert.ok(
    new Date(eol) > new Date(),
    `engines.node admits Node ${lowest.major}, past its end of life (${eol})`,
  );
  for (const major of [22, 24]) {
    assert.ok(
      semver.satisfies(`${major}.${major === 22 ? 13 : 0}.0`, ours),
      `engines.node must admit Node ${major}`,
    );
  }
  const unmet: string[] = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    const need = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
    if (path === '' || need === undefined) continue;
    if (!semver.subset(ours, need, { includePrerelease: false }))
      unmet.push(`${path} needs node ${need}`);
  }
  assert.deepEqual(unmet, [], 'dependencies that do not support every Node version engines admits');
});
