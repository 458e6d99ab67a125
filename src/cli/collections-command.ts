/**
 * `quiver collections DIR [--json]`: lists the collections of a database directory.
 */
import type { Command } from 'commander';
import { Quiver } from '../engine/quiver.js';
import { printJson, printTable } from './cli-support.js';
import { requireDatabase } from './database-path.js';

export function registerCollectionsCommand(program: Command): void {
  program
    .command('collections')
    .description('List the collections of a database with their dimension, metric and size.')
    .argument('<dir>', 'database directory')
    .option('--json', 'print JSON instead of a table')
    .addHelpText('after', '\nExample:\n  $ quiver collections ./data --json')
    .action(async (dir: string, opts: { json?: boolean }) => {
      await requireDatabase(dir);
      const db = await Quiver.open(dir);
      try {
        const list = await db.listCollections();
        if (opts.json === true) printJson(list);
        else
          printTable(
            ['NAME', 'DIMENSION', 'METRIC', 'POINTS', 'CREATED'],
            list.map((c) => [
              c.name,
              String(c.dimension),
              c.metric,
              String(c.points),
              c.createdAt ?? 'unknown',
            ]),
          );
      } finally {
        await db.close();
      }
    });
}
