/**
 * The CLI's progress on a terminal: the real binary runs under a pseudo-terminal (util-linux
 * `script`), so stderr is a TTY and progress is drawn as a cli-progress bar. The frames are
 * read back from what the terminal received. Plain (non-TTY) lines are tested in
 * cli-edges.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { tempDir } from '../helpers/temp-dir.js';

const ROOT = new URL('../../', import.meta.url).pathname;
/** The CLI under test; QUIVER_CLI=dist/cli/main.js runs the built one instead of the source. */
const CLI = process.env['QUIVER_CLI'] ?? 'src/cli/main.ts';
const NODE = [process.execPath, ...(CLI.endsWith('.ts') ? ['--import', 'tsx'] : [])];

const quote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

/** Runs a shell command line under a pseudo-terminal; returns what the terminal received. */
function onTerminal(commandLine: string): { code: number | null; screen: string } {
  const r = spawnSync('script', ['-qec', commandLine, '/dev/null'], {
    cwd: ROOT,
    encoding: 'utf8',
    input: '',
    timeout: 60_000,
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  return { code: r.status, screen: r.stdout };
}

/** The lines and redrawn frames on the screen, without escape sequences. */
function frames(screen: string): string[] {
  // Strip CSI sequences and the cursor save/restore (ESC 7 / ESC 8); a frame starts at column 1.
  const ESC = String.fromCharCode(27);
  const marked = screen.replaceAll(`${ESC}[1G`, '\n');
  const plain = marked.replaceAll(new RegExp(`${ESC}\\[[0-9;?]*[A-Za-z]|${ESC}[78]`, 'g'), '');
  return plain
    .split(/[\r\n]+/)
    .map((l) => l.trimEnd())
    .filter((l) => l.length > 0);
}

function jsonLines(n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const vector = Array.from({ length: 4 }, (_, j) => ((i * 7 + j * 13) % 97) / 97 + 0.01);
    out.push(JSON.stringify({ id: i, vector, payload: { i } }));
  }
  return `${out.join('\n')}\n`;
}

const cli = (args: string[]): string => [...NODE, CLI, ...args].map(quote).join(' ');

describe('quiver CLI: progress bar on a terminal (cli-progress)', () => {
  test('import from a file draws a bar that ends at 100 %, from a pipe a count without a percentage', (t) => {
    const root = tempDir(t, 'quiver-cli-tty-');
    const db = `${root}/db`;
    const file = `${root}/in.jsonl`;
    writeFileSync(file, jsonLines(4000));
    const made = onTerminal(cli(['create-collection', db, '--name', 'docs', '--dim', '4']));
    assert.equal(made.code, 0, made.screen);

    const r = onTerminal(cli(['import', db, '--collection', 'docs', '-i', file]));
    assert.equal(r.code, 0, r.screen);
    const bar = frames(r.screen).filter((l) => l.startsWith('import ['));
    const pct = bar.map((l) => /^import \[.{20}\] (\d+) % \| [\d.]+\/[\d.]+ MiB/u.exec(l)?.[1]);
    assert.ok(bar.length >= 2 && pct.every((p) => p !== undefined), r.screen);
    assert.ok(Number(pct[0]) < 100, `the first frame is not 100 %: ${bar[0]}`);
    assert.equal(pct[pct.length - 1], '100', r.screen);
    assert.match(bar[bar.length - 1]!, /MiB\/s, 4000 points$/);
    // stop() ends the bar's line: the summary starts a line of its own.
    assert.match(r.screen, /\r?\nimported: 4000 points into docs/);

    const piped = onTerminal(
      `head -n 600 ${quote(file)} | ${cli(['import', db, '--collection', 'piped'])}`,
    );
    assert.equal(piped.code, 0, piped.screen);
    const counts = frames(piped.screen).filter((l) => l.startsWith('import:'));
    assert.match(
      counts[counts.length - 1] ?? '',
      /^import: [\d.]+ MiB, .*600 points$/,
      piped.screen,
    );
    assert.doesNotMatch(piped.screen, /%/, 'an unknown total shows no percentage');
  });

  test('a bar never stopped (an operation that threw) does not keep the process alive', () => {
    const script = [
      "import { progressView } from './src/cli/cli-support.ts';",
      'const view = progressView(false);',
      "view.fn({ phase: 'import', done: 1, total: 4, unit: 'bytes' });",
      "process.stderr.write('\\nleft without stop\\n');",
    ].join(' ');
    const r = onTerminal(
      [process.execPath, '--import', 'tsx', '--input-type=module', '-e', script]
        .map(quote)
        .join(' '),
    );
    assert.equal(r.code, 0, `the process exited by itself: ${r.screen}`);
    assert.match(frames(r.screen).join('\n'), /^import \[.{20}\] 25 % \| 0\.0\/0\.0 MiB/m);
  });
});
