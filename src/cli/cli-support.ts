/**
 * Shared pieces of the CLI: exit codes, the package version, output helpers, progress
 * rendering (a cli-progress bar on a terminal, plain lines otherwise) and option parsers.
 */
import { quiverVersion } from '../common/version.js';
import { Presets, SingleBar } from 'cli-progress';
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

/** Renders ops progress: a cli-progress bar on a terminal, plain lines (at most every 2 s) otherwise. */
export interface ProgressView {
  readonly fn: ProgressFn;
  stop(): void;
}

const MIB = 1024 * 1024;

/** The pieces of one reading, shared by the plain line and the bar's payload tokens. */
interface ProgressFigures {
  /** "12.3/27.0 MiB" or "1024/5000 points" ("/total" only when known). */
  readonly amount: string;
  /** ", 5.1 MiB/s" for bytes once time has passed, else empty. */
  readonly rate: string;
  /** ", <detail>" or empty. */
  readonly detail: string;
}

function progressFigures(e: ProgressEvent, elapsedSeconds: number): ProgressFigures {
  const known = e.total > 0;
  const detail = e.detail === undefined ? '' : `, ${e.detail}`;
  if (e.unit !== 'bytes') {
    return { amount: `${e.done}${known ? `/${e.total}` : ''} ${e.unit}`, rate: '', detail };
  }
  const of = known ? `/${(e.total / MIB).toFixed(1)}` : '';
  const rate = elapsedSeconds > 0 ? `, ${(e.done / MIB / elapsedSeconds).toFixed(1)} MiB/s` : '';
  return { amount: `${(e.done / MIB).toFixed(1)}${of} MiB`, rate, detail };
}

/**
 * One progress reading as text: bytes in MiB with the rate since the phase began, other
 * units as counts; a percentage only when the total is known.
 */
function formatProgress(e: ProgressEvent, elapsedSeconds: number): string {
  const f = progressFigures(e, elapsedSeconds);
  const pct = e.total > 0 ? ` (${Math.min(100, Math.floor((e.done / e.total) * 100))} %)` : '';
  return `${e.phase}: ${f.amount}${pct}${f.rate}${f.detail}`;
}

/**
 * Progress goes to stderr so that stdout stays clean for `--json`. `quiet` shows nothing;
 * import passes false even with --json, so a long import is never silent.
 */
export function progressView(quiet: boolean): ProgressView {
  if (quiet) return { fn: () => undefined, stop: () => undefined };
  return process.stderr.isTTY ? barView() : lineView();
}

/** The bar's line with a known total, and without one (a pipe): no bar, no percentage. */
const BAR_FORMAT = '{phase} [{bar}] {percentage} % | {amount}{rate}{detail}';
const COUNT_FORMAT = '{phase}: {amount}{rate}{detail}';

function isTimeout(value: unknown): value is NodeJS.Timeout {
  return value instanceof Object && 'unref' in value && typeof value.unref === 'function';
}

/**
 * A bar whose redraw timer does not keep the process alive: the CLI ends by setting
 * `process.exitCode`, so an operation that throws before `stop()` must still let it exit.
 */
class ProgressBar extends SingleBar {
  override render(): void {
    super.render();
    // cli-progress keeps its next redraw in `timer` (not in its typings).
    const timer: unknown = Reflect.get(this, 'timer');
    if (isTimeout(timer)) timer.unref();
  }
}

/** On a terminal: one cli-progress bar per phase (and per known/unknown total), redrawn in place. */
function barView(): ProgressView {
  let bar: ProgressBar | undefined;
  let key = '';
  let phase = '';
  let phaseStart = Date.now();
  const stop = (): void => {
    bar?.stop();
    bar = undefined;
  };
  return {
    fn: (e) => {
      const now = Date.now();
      if (e.phase !== phase) {
        phase = e.phase;
        phaseStart = now;
      }
      const known = e.total > 0;
      const payload = { phase: e.phase, ...progressFigures(e, (now - phaseStart) / 1000) };
      if (bar === undefined || key !== `${e.phase}/${known}`) {
        stop();
        key = `${e.phase}/${known}`;
        // linewrap true trims to the terminal width; hideCursor stays off, so a run that
        // ends without stop() leaves the terminal as it found it.
        const format = known ? BAR_FORMAT : COUNT_FORMAT;
        bar = new ProgressBar(
          { stream: process.stderr, format, linewrap: true, barsize: 20 },
          Presets.shades_classic,
        );
        bar.start(Math.max(e.total, e.done), e.done, payload);
      }
      if (known) bar.setTotal(Math.max(e.total, e.done));
      bar.update(e.done, payload);
    },
    stop,
  };
}

/** Not a terminal: plain lines, at most one every 2 s per phase, the last reading always shown. */
function lineView(): ProgressView {
  const every = 2000;
  let last = 0;
  let phase = '';
  let phaseStart = Date.now();
  // The newest reading not shown yet (throttled); stop() shows it, so the last line is final.
  let skipped: string | undefined;
  let shownAt = '';
  const show = (line: string): void => {
    process.stderr.write(`${line}\n`);
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

/** commander's parser of a repeatable option: each use adds its value to the list. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
