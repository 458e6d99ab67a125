/**
 * Runs the quiver CLI as a real subprocess for the ops tests (source through tsx, or the
 * built one with QUIVER_CLI=dist/cli/main.js), returning exit code and output.
 */
import { spawnSync } from 'node:child_process';

const ROOT = new URL('../../', import.meta.url).pathname;
const CLI = process.env['QUIVER_CLI'] ?? 'src/cli/main.ts';
const NODE_ARGS = CLI.endsWith('.ts') ? ['--import', 'tsx', CLI] : [CLI];

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `quiver ARGS…`, run to completion. */
export function quiver(args: readonly string[]): CliRun {
  const r = spawnSync(process.execPath, [...NODE_ARGS, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
