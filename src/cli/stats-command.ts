/**
 * `quiver stats DIR [--collection C] [--filter JSON] [--json]`: counts, sizes, deleted
 * ratio and memory estimate per collection (ops/stats.ts), from a pinned view, without the
 * lock; with --filter also how many points a filter matches (its selectivity).
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { databaseStats } from '../ops/stats.js';
import { formatBytes, printJson, printTable } from './cli-support.js';
import { requireDatabase } from './database-path.js';

/** The --filter value: a JSON object in the embedded Mongo dialect, checked by ops/stats. */
function parseFilterJson(value: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch (e) {
    throw new InvalidArgumentError(
      `--filter is not JSON (${e instanceof Error ? e.message : String(e)}); e.g. --filter '{"lang":"en"}'.`,
    );
  }
}

export function registerStatsCommand(program: Command): void {
  program
    .command('stats')
    .description('Points, segments, sizes, deleted ratio and memory estimate per collection.')
    .argument('<dir>', 'database directory')
    .option('--collection <name>', 'only this collection')
    .option(
      '--filter <json>',
      'also count the points matching this filter (Mongo dialect) and its selectivity',
      parseFilterJson,
    )
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `\nExamples:\n  $ quiver stats ./data --collection docs --json\n  $ quiver stats ./data --collection docs --filter '{"lang":"en","price":{"$lt":100}}'`,
    )
    .action(
      async (dir: string, opts: { collection?: string; filter?: unknown; json?: boolean }) => {
        await requireDatabase(dir);
        const s = await databaseStats(dir, {
          ...(opts.collection === undefined ? {} : { collection: opts.collection }),
          ...(opts.filter === undefined ? {} : { filter: opts.filter }),
        });
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
        for (const c of s.collections) {
          if (c.filter === undefined) continue;
          process.stdout.write(
            `filter on ${c.name}: ${c.filter.matching} of ${c.points} points match (selectivity ${(c.filter.selectivity * 100).toFixed(2)} %)\n`,
          );
        }
        process.stdout.write(
          `total: ${s.points} points, disk ${formatBytes(s.diskBytes)} (WAL ${formatBytes(s.walBytes)}), memory estimate ${formatBytes(s.memoryEstimateBytes)}, LSN ${s.lsn}\n`,
        );
      },
    );
}
