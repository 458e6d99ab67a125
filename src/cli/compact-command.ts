/**
 * `quiver compact DIR [--collection C]`: compaction now (ops/compact.ts). Takes the lock;
 * against a running server use POST /admin/compact.
 */
import type { Command } from 'commander';
import { compactDatabase } from '../ops/compact.js';
import { formatBytes, printJson } from './cli-support.js';
import { requireDatabase } from './database-path.js';

export function registerCompactCommand(program: Command): void {
  program
    .command('compact')
    .description(
      'Merge segments and drop deleted points now (the database must not be open elsewhere).',
    )
    .argument('<dir>', 'database directory')
    .option('--collection <name>', 'only this collection')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  $ quiver compact ./data --collection docs')
    .action(async (dir: string, opts: { collection?: string; json?: boolean }) => {
      await requireDatabase(dir);
      const r = await compactDatabase(dir, opts.collection);
      if (opts.json === true) printJson(r);
      else
        process.stdout.write(
          `compacted ${r.collection ?? 'all collections'}: ${r.before.segments} → ${r.after.segments} segments, ${formatBytes(r.before.diskBytes)} → ${formatBytes(r.after.diskBytes)}, deleted ${(r.before.deletedShare * 100).toFixed(1)}% → ${(r.after.deletedShare * 100).toFixed(1)}% in ${r.duration_seconds.toFixed(2)} s\n`,
        );
    });
}
