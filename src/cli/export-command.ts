/**
 * `quiver export DIR --collection C [-o FILE]`: streams a collection as JSON Lines to FILE
 * or stdout, from a pinned view (safe while a server writes). ops/export.ts does the work.
 */
import type { Command } from 'commander';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import { exportCollection } from '../ops/export.js';
import { fileSink } from '../ops/line-io.js';
import { progressView } from './cli-support.js';
import { requireDatabase } from './database-path.js';
import { stdoutSink } from './stdout-pipe.js';

export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description('Export a collection as JSON Lines: {"id", "vector", "payload"} per line.')
    .argument('<dir>', 'database directory')
    .requiredOption('--collection <name>', 'collection to export')
    .option('-o, --output <file>', 'output file (default: stdout)')
    .addHelpText('after', '\nExample:\n  $ quiver export ./data --collection docs -o docs.jsonl')
    .action(async (dir: string, opts: { collection: string; output?: string }) => {
      await requireDatabase(dir);
      const sink =
        opts.output === undefined
          ? stdoutSink()
          : await fileSink(new NodeFileSystem(), opts.output);
      const view = progressView(opts.output === undefined);
      const r = await exportCollection(dir, opts.collection, sink, { progress: view.fn });
      view.stop();
      process.stderr.write(
        `exported ${r.points} points of ${r.collection} at LSN ${r.lsn} in ${r.duration_seconds.toFixed(2)} s\n`,
      );
    });
}
