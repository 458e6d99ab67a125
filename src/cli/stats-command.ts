/**
 * `quiver stats DIR [--collection C] [--json]`: counts, sizes, deleted ratio and memory
 * estimate per collection (ops/stats.ts), from a pinned view, without the lock.
 */
import type { Command } from 'commander';
import { databaseStats } from '../ops/stats.js';
import { formatBytes, printJson, printTable } from './cli-support.js';

export function registerStatsCommand(program: Command): void {
  program
    .command('stats')
    .description('Points, segments, sizes, deleted ratio and memory estimate per collection.')
    .argument('<dir>', 'database directory')
    .option('--collection <name>', 'only this collection')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  $ quiver stats ./data --collection docs --json')
    .action(async (dir: string, opts: { collection?: string; json?: boolean }) => {
      const s = await databaseStats(
        dir,
        opts.collection === undefined ? {} : { collection: opts.collection },
      );
      if (opts.json === true) {
        printJson(s);
        return;
      }
      printTable(
        [
          'COLLECTION',
          'POINTS',
          'DIM',
          'METRIC',
          'SEGMENTS',
          'DISK',
          'DELETED',
          'UNSEALED',
          'MEMORY (est.)',
        ],
        s.collections.map((c) => [
          c.name,
          String(c.points),
          String(c.dimension),
          c.metric,
          String(c.segments),
          formatBytes(c.segmentBytes),
          `${(c.deletedRatio * 100).toFixed(1)}%`,
          String(c.unsealedPoints),
          formatBytes(c.memoryEstimateBytes),
        ]),
      );
      process.stdout.write(
        `total: ${s.points} points, disk ${formatBytes(s.diskBytes)} (WAL ${formatBytes(s.walBytes)}), memory estimate ${formatBytes(s.memoryEstimateBytes)}, LSN ${s.lsn}\n`,
      );
    });
}
