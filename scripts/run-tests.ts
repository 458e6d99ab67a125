/**
 * Runs the test suite: every *.test.ts under src/ (unit tests beside their modules) and
 * test/ (integration, crash, storage, corruption, server, ops, cli), through node:test with
 * tsx, verifying every database a test closes. Node 20's runner has no globs, so this
 * finds the files. Arguments filter by substring: `npm test -- wal crash`.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');

function find(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.ts')) out.push(relative(ROOT, p));
  }
  return out;
}

const filters = process.argv.slice(2);
const files = [...find(join(ROOT, 'src')), ...find(join(ROOT, 'test'))]
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.log(`no test files match ${filters.join(' ')}`);
  process.exit(2);
}
// Every database a test closes is verified (aesthetics convention 11; QUIVER_VERIFY=0 skips).
const verifyOnClose = './test/helpers/verify-on-close.ts';
// Two files at a time: node:test's default (cores − 1) is one on a 2-core CI machine, and the
// slowest files (cluster, failover, CLI) mostly wait on processes and timers, not the CPU.
const concurrency = process.env['QUIVER_TEST_CONCURRENCY'] ?? '2';
const r = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--import',
    verifyOnClose,
    `--test-concurrency=${concurrency}`,
    '--test',
    ...files,
  ],
  {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, QUIVER_TEST: '1' },
  },
);
process.exit(r.status ?? 1);
