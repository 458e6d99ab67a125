/**
 * Shared pieces of the CLI: exit codes, the package version, and output helpers.
 */
import { createRequire } from 'node:module';

/** Exit codes of every command (SPEC section 5). */
export const EXIT = Object.freeze({ OK: 0, PROBLEMS: 1, USAGE: 2, RUNTIME: 3 });

export function packageVersion(): string {
  const require = createRequire(import.meta.url);
  for (const candidate of ['../../package.json', '../package.json']) {
    try {
      const pkg = require(candidate) as { name?: string; version?: string };
      if (pkg.name === 'quiverdb' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next location (src/ through tsx, or dist/)
    }
  }
  return 'unknown';
}

/** Prints rows as an aligned text table. */
export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${line(headers)}\n`);
  for (const r of rows) process.stdout.write(`${line(r)}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
