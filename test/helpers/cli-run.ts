/**
 * Runs the quiver CLI as a real subprocess (source through tsx, or the built one with
 * QUIVER_CLI=dist/cli/main.js), returning exit code and output: the one way CLI tests
 * start the binary.
 */
import { spawn, spawnSync } from 'node:child_process';

const ROOT = new URL('../../', import.meta.url).pathname;
const CLI = process.env['QUIVER_CLI'] ?? 'src/cli/main.ts';
/** Node arguments that run the CLI under test, for tests that spawn it themselves. */
export const CLI_NODE_ARGS: readonly string[] = CLI.endsWith('.ts')
  ? ['--import', 'tsx', CLI]
  : [CLI];

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `quiver ARGS…` run to completion from the repository root, `input` on its stdin. */
export function quiver(args: readonly string[], input = ''): CliRun {
  const r = spawnSync(process.execPath, [...CLI_NODE_ARGS, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    input,
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * `quiver ARGS…` run without blocking this process: for commands that wait on something
 * this test process runs meanwhile (cluster nodes started in it).
 */
export function quiverAsync(args: readonly string[]): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI_NODE_ARGS, ...args], {
      cwd: ROOT,
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
