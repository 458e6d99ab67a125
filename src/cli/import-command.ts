/**
 * `quiver import DIR --collection C [-i FILE] [--skip-invalid]`: upserts JSON Lines from
 * FILE or stdin in batches (ops/import.ts). Bad lines are reported by number; import stops
 * at the first (exit 1) unless --skip-invalid (then exit 1 if any were skipped).
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import type { MetricName } from '../common/types.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import { importCollection } from '../ops/import.js';
import { readFileLines, splitLines } from '../ops/line-io.js';
import { EXIT, printJson, progressView } from './cli-support.js';
import { requireDatabase } from './database-path.js';

export function registerImportCommand(program: Command): void {
  program
    .command('import')
    .description('Import JSON Lines points into a collection (created if missing). Takes the lock.')
    .argument('<dir>', 'database directory')
    .requiredOption('--collection <name>', 'target collection')
    .option('-i, --input <file>', 'input file (default: stdin)')
    .option('--skip-invalid', 'skip bad lines (reported) instead of stopping at the first')
    .addOption(
      new Option('--metric <metric>', 'metric when the collection is created').choices([
        'cosine',
        'euclid',
        'dot',
      ]),
    )
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  $ quiver import ./data --collection docs -i docs.jsonl --skip-invalid',
    )
    .action(
      async (
        dir: string,
        opts: {
          collection: string;
          input?: string;
          skipInvalid?: boolean;
          metric?: MetricName;
          json?: boolean;
        },
      ) => {
        await requireDatabase(dir);
        const fs = new NodeFileSystem();
        const lines =
          opts.input === undefined
            ? splitLines(process.stdin as AsyncIterable<Uint8Array>)
            : readFileLines(fs, opts.input);
        // Progress goes to stderr, so it shows with --json too: a long import is never silent.
        const view = progressView(false);
        const r = await importCollection(dir, opts.collection, lines, {
          skipInvalid: opts.skipInvalid === true,
          ...(opts.input === undefined ? {} : { inputBytes: await fs.fileSize(opts.input) }),
          ...(opts.metric === undefined ? {} : { metric: opts.metric }),
          progress: view.fn,
        });
        view.stop();
        if (opts.json === true) printJson(r);
        else {
          process.stdout.write(
            `${r.status === 'stopped' ? 'STOPPED' : 'imported'}: ${r.imported} points into ${r.collection}${r.created ? ' (created)' : ''} from ${r.lines} lines\n`,
          );
          for (const b of r.badLines) process.stdout.write(`line ${b.line}: ${b.reason}\n`);
          if (r.badLineCount > r.badLines.length)
            process.stdout.write(`… ${r.badLineCount - r.badLines.length} more bad lines\n`);
        }
        if (r.badLineCount > 0) process.exitCode = EXIT.PROBLEMS;
      },
    );
}
