/**
 * Shared pieces of the CLI: exit codes, the package version, output helpers, progress
 * rendering (cli-progress on a terminal, plain lines otherwise) and option parsers.
 */
import { quiverVersion } from '../common/version.js';
import { Presets, SingleBar } from 'cli-progress';
import { InvalidArgumentError } from 'commander';
import type { ProgressFn } from '../ops/progress.js';

/** Exit codes of every command (SPEC section 5). */
export const EXIT = Object.freeze({ OK: 0, PROBLEMS: 1, USAGE: 2, RUNTIME: 3 });

/** The quiverdb version (for --version). */
export function packageVersion(): string {
  return quiverVersion();
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

/** Renders ops progress: a bar on a terminal, plain lines (at most every 2 s) otherwise. */
export interface ProgressView {
  readonly fn: ProgressFn;
  stop(): void;
}

/** Progress goes to stderr so that stdout stays clean for `--json`. */
export function progressView(quiet: boolean): ProgressView {
  if (quiet) return { fn: () => undefined, stop: () => undefined };
  if (process.stderr.isTTY) {
    let bar: SingleBar | undefined;
    let phase = '';
    return {
      fn: (e) => {
        if (bar === undefined || e.phase !== phase) {
          bar?.stop();
          phase = e.phase;
          bar = new SingleBar(
            {
              stream: process.stderr,
              format: `${e.phase.padEnd(9)} [{bar}] {percentage}% {value}/{total} ${e.unit}`,
              hideCursor: true,
            },
            Presets.shades_classic,
          );
          bar.start(Math.max(e.total, e.done), e.done);
        }
        if (e.total > 0) bar.setTotal(Math.max(e.total, e.done));
        bar.update(e.done);
      },
      stop: () => bar?.stop(),
    };
  }
  let last = 0;
  let lastPhase = '';
  return {
    fn: (e) => {
      const now = Date.now();
      const end = e.total > 0 && e.done >= e.total;
      if (e.phase === lastPhase && now - last < 2000 && !end) return;
      last = now;
      lastPhase = e.phase;
      const of = e.total > 0 ? `/${e.total}` : '';
      process.stderr.write(`${e.phase}: ${e.done}${of} ${e.unit}\n`);
    },
    stop: () => undefined,
  };
}

/** Human-readable bytes: 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** Parses an integer option (commander argParser). */
export function parseInteger(name: string, min = 0): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}.`);
    }
    return n;
  };
}

/** Parses an age like 7d, 12h, 30m, 45s into milliseconds. */
export function parseAge(value: string): number {
  const m = /^(\d+)\s*([smhdw])$/.exec(value.trim());
  if (m === null)
    throw new InvalidArgumentError('an age is a number and a unit: 30m, 12h, 7d, 2w.');
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 's'];
  return Number(m[1]) * unit;
}
