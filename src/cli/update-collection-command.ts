/**
 * `quiver update-collection DIR --name N [--quantization …] [--on-disk | --in-memory]`:
 * changes a collection's quantization or where its sealed vectors live (Quiver.
 * updateCollection), and returns once its segments follow. Takes the lock; against a
 * running server use PATCH /collections/NAME.
 */
import type { Command } from 'commander';
import { invalidArgument } from '../common/quiver-error.js';
import { Quiver } from '../engine/quiver.js';
import type { CollectionChanges } from '../engine/validation.js';
import { checkCollectionName, quantizationLabel } from '../engine/validation.js';
import { formatBytes, printJson } from './cli-support.js';
import { requireDatabase } from './database-path.js';
import type { QuantizationFlags } from './quantization-flags.js';
import {
  compressionOption,
  encodingOption,
  parseQuantile,
  QUANTILE_HELP,
  quantizationOf,
  quantizationOption,
  queryEncodingOption,
} from './quantization-flags.js';

interface UpdateOpts extends QuantizationFlags {
  name: string;
  onDisk?: boolean;
  inMemory?: boolean;
  json?: boolean;
}

/** The changes the flags ask for; refused when they ask for none, or for both places. */
function changesOf(opts: UpdateOpts): CollectionChanges {
  if (opts.onDisk === true && opts.inMemory === true) {
    throw invalidArgument('Give --on-disk or --in-memory, not both.', { field: 'on-disk' });
  }
  const quantization = quantizationOf(opts);
  const changes = {
    ...(quantization === undefined ? {} : { quantization }),
    ...(opts.onDisk === true ? { onDisk: true } : {}),
    ...(opts.inMemory === true ? { onDisk: false } : {}),
  };
  if (Object.keys(changes).length === 0) {
    throw invalidArgument('Nothing to change: give --quantization, --on-disk or --in-memory.');
  }
  return changes;
}

export function registerUpdateCollectionCommand(program: Command): void {
  program
    .command('update-collection')
    .description(
      'Change a collection’s quantization, or move its sealed vectors to disk or back into memory. Takes the lock; against a running server use PATCH /collections/NAME.',
    )
    .argument('<dir>', 'database directory')
    .requiredOption('--name <name>', 'collection to change')
    .addOption(quantizationOption())
    .addOption(encodingOption())
    .addOption(compressionOption())
    .addOption(queryEncodingOption())
    .option('--quantile <q>', QUANTILE_HELP, parseQuantile)
    .option('--on-disk', 'keep sealed float vectors in their files, read only to rescore')
    .option('--in-memory', 'bring sealed float vectors back into memory (needs their RAM)')
    .option('--json', 'print the new config and memory as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ quiver update-collection ./data --name docs --quantization scalar --on-disk\n  $ quiver update-collection ./data --name docs --quantization none --in-memory',
    )
    .action(async (dir: string, opts: UpdateOpts) => {
      checkCollectionName(opts.name);
      const changes = changesOf(opts);
      await requireDatabase(dir);
      const db = await Quiver.open(dir);
      try {
        const config = await db.updateCollection(opts.name, changes);
        const memory = db.collection(opts.name).stats().memory;
        if (opts.json === true) printJson({ config, memory });
        else
          process.stdout.write(
            `updated collection ${opts.name}: quantization ${quantizationLabel(config.quantization)}, vectors ${config.onDisk ? 'on disk' : 'in memory'}; memory: vectors ${formatBytes(memory.vectors)}, codes ${formatBytes(memory.codes)}, graph ${formatBytes(memory.graph)}\n`,
          );
      } finally {
        await db.close();
      }
    });
}
