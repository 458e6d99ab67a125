/**
 * Shared pieces of the CLI: exit codes, the package version, output helpers, progress
 * rendering (a redrawn line on a terminal, plain lines otherwise) and option parsers.
 */
import { quiverVersion } from '../common/version.js';
import { InvalidArgumentError } from 'commander';
import type { ProgressEvent, ProgressFn } from '../ops/progress.js';

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

/** Renders ops progress: a redrawn line on a terminal, plain lines (at most every 2 s) otherwise. */
export interface ProgressView {
  readonly fn: ProgressFn;
  stop(): void;
}

const MIB = 1024 * 1024;

/**
 * One progress reading as text: bytes in MiB with the rate since the phase began, other
 * units as counts; a percentage only when the total is known.
 */
export function formatProgress(e: ProgressEvent, elapsedSeconds: number): string {
  const known = e.total > 0;
  const pct = known ? ` (${Math.min(100, Math.floor((e.done / e.total) * 100))} %)` : '';
  let text: string;
  if (e.unit === 'bytes') {
    const of = known ? `/${(e.total / MIB).toFixed(1)}` : '';
    const rate = elapsedSeconds > 0 ? `, ${(e.done / MIB / elapsedSeconds).toFixed(1)} MiB/s` : '';
    text = `${(e.done / MIB).toFixed(1)}${of} MiB${pct}${rate}`;
  } else {
    text = `${e.done}${known ? `/${e.total}` : ''} ${e.unit}${pct}`;
  }
  return `${e.phase}: ${text}${e.detail === undefined ? '' : `, ${e.detail}`}`;
}

/**
 * Progress goes to stderr so that stdout stays clean for `--json`. `quiet` shows nothing;
 * import passes false even with --json, so a long import is never silent.
 */
export function progressView(quiet: boolean): ProgressView {
  if (quiet) return { fn: () => undefined, stop: () => undefined };
  const tty = process.stderr.isTTY;
  const every = tty ? 100 : 2000;
  let last = 0;
  let phase = '';
  let phaseStart = Date.now();
  let drawn = false;
  // The newest reading not shown yet (throttled); stop() shows it, so the last line is final.
  let skipped: string | undefined;
  let shownAt = '';
  const show = (line: string): void => {
    // On a terminal the line is redrawn in place; elsewhere each reading is its own line.
    process.stderr.write(tty ? `\r${line}\u001b[K` : `${line}\n`);
    drawn = true;
    skipped = undefined;
  };
  return {
    fn: (e) => {
      const now = Date.now();
      // The same reading twice (a last batch, then the end) is shown once.
      const at = `${e.phase} ${e.done} ${e.total}`;
      if (at === shownAt) return;
      const end = e.total > 0 && e.done >= e.total;
      if (e.phase !== phase) {
        if (skipped !== undefined) show(skipped);
        if (drawn && tty) process.stderr.write('\n');
        phase = e.phase;
        phaseStart = now;
      } else if (now - last < every && !end) {
        skipped = formatProgress(e, (now - phaseStart) / 1000);
        return;
      }
      last = now;
      shownAt = at;
      show(formatProgress(e, (now - phaseStart) / 1000));
    },
    stop: () => {
      if (skipped !== undefined) show(skipped);
      if (drawn && tty) process.stderr.write('\n');
      drawn = false;
    },
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
