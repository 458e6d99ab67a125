/**
 * `quiver create-collection DIR --name N --dim D [--metric M]`: creates a collection.
 */
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import type { MetricName } from '../common/types.js';
import { Quiver } from '../engine/quiver.js';
import { printJson } from './cli-support.js';

function parseDimension(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65536) {
    throw new InvalidArgumentError('the dimension is an integer from 1 to 65536.');
  }
  return n;
}

export function registerCreateCollectionCommand(program: Command): void {
  program
    .command('create-collection')
    .description('Create a collection in a database directory (created if missing).')
    .argument('<dir>', 'database directory')
    .requiredOption('--name <name>', 'collection name: 1-64 of A-Z a-z 0-9 _ -')
    .requiredOption('--dim <dimension>', 'values per vector, 1..65536', parseDimension)
    .addOption(
      new Option('--metric <metric>', 'distance metric')
        .choices(['cosine', 'euclid', 'dot'])
        .default('cosine'),
    )
    .option('--json', 'print the created collection as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  $ quiver create-collection ./data --name docs --dim 384 --metric cosine',
    )
    .action(
      async (
        dir: string,
        opts: { name: string; dim: number; metric: MetricName; json?: boolean },
      ) => {
        const db = await Quiver.open(dir);
        try {
          const c = await db.createCollection(opts.name, {
            dimension: opts.dim,
            metric: opts.metric,
          });
          if (opts.json === true) printJson(c.config);
          else
            process.stdout.write(
              `created collection ${c.name} (dimension ${opts.dim}, ${opts.metric})\n`,
            );
        } finally {
          await db.close();
        }
      },
    );
}
