/**
 * `quiver drop-collection DIR --name N --yes`: drops a collection and its points. Like the
 * other commands that destroy data (restore and repair over a non-empty directory need
 * --force), it refuses without an explicit flag and never asks: scripts must not hang.
 */
import type { Command } from 'commander';
import { invalidArgument } from '../common/quiver-error.js';
import { Quiver } from '../engine/quiver.js';
import { checkCollectionName } from '../engine/validation.js';
import { printJson } from './cli-support.js';
import { requireDatabase } from './database-path.js';

export function registerDropCollectionCommand(program: Command): void {
  program
    .command('drop-collection')
    .description(
      'Drop a collection and all its points (needs --yes). Takes the lock; against a running server use DELETE /collections/NAME.',
    )
    .argument('<dir>', 'database directory')
    .requiredOption('--name <name>', 'collection to drop')
    .option('--yes', 'really drop it (nothing is asked interactively)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  $ quiver drop-collection ./data --name docs --yes')
    .action(async (dir: string, opts: { name: string; yes?: boolean; json?: boolean }) => {
      checkCollectionName(opts.name);
      await requireDatabase(dir);
      if (opts.yes !== true) {
        throw invalidArgument(
          `drop-collection deletes collection "${opts.name}" and all its points: re-run with --yes to confirm (take a backup first: quiver backup create ${dir} -o DIR).`,
        );
      }
      const db = await Quiver.open(dir);
      try {
        const points = await db.collection(opts.name).count();
        await db.dropCollection(opts.name);
        if (opts.json === true) printJson({ dropped: opts.name, points });
        else process.stdout.write(`dropped collection ${opts.name} (${points} points)\n`);
      } finally {
        await db.close();
      }
    });
}
