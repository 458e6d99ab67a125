/**
 * `quiver verify DIR [--json]`: the invariant checker (ops/verify.ts). Exit 0 when clean,
 * 1 when problems are found. Safe while a server writes to DIR (checks a pinned view).
 */
import type { Command } from 'commander';
import { verifyDatabase } from '../ops/verify.js';
import { EXIT, printJson, progressView } from './cli-support.js';
import { requireDatabase } from './database-path.js';

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify')
    .description(
      'Check every checksum, manifest reference, segment invariant and the WAL of a database. Exit 1 on problems.',
    )
    .argument('<dir>', 'database directory')
    .option(
      '--collection <name>',
      'check only this collection (repeatable); the shared WAL is always checked',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ quiver verify ./data --json\n  $ quiver verify ./data --collection docs --collection images',
    )
    .action(async (dir: string, opts: { json?: boolean; collection?: string[] }) => {
      await requireDatabase(dir);
      const view = progressView(opts.json === true);
      const report = await verifyDatabase(dir, {
        progress: view.fn,
        ...(opts.collection === undefined ? {} : { collections: opts.collection }),
      });
      view.stop();
      if (opts.json === true) printJson(report);
      else {
        const out = process.stdout;
        out.write(
          `${report.status === 'ok' ? 'OK' : 'PROBLEMS'}: ${report.checked_vectors} vectors in ${report.checked_segments} segments${opts.collection === undefined ? '' : ` of ${opts.collection.join(', ')}`}, ${report.checked_wal_records} WAL records checked (LSN ${report.lsn}${report.online ? ', pinned view of a running database' : ''}) in ${report.duration_seconds.toFixed(2)} s\n`,
        );
        out.write(`${report.errors} errors, ${report.warnings} warnings\n`);
        for (const p of report.problems) {
          out.write(
            `${p.severity.toUpperCase()} ${p.file}${p.offset === undefined ? '' : ` @${p.offset}`}: ${p.what}\n  action: ${p.action}\n`,
          );
        }
      }
      if (report.status !== 'ok') process.exitCode = EXIT.PROBLEMS;
    });
}
