/**
 * `quiver create-collection DIR --name N --dim D [--metric M] [--m --ef-construct --ef]
 * [--quantization scalar [--quantile Q] | binary [--encoding E] [--query-encoding Q]] [--on-disk]`:
 * creates a collection, and the database when DIR does not exist yet. Every option is
 * checked before anything is created, so a bad name leaves no empty database behind.
 */
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import type { MetricName } from '../common/types.js';
import { Quiver } from '../engine/quiver.js';
import type { CreateCollectionOptions } from '../engine/validation.js';
import { buildCollectionConfig, quantizationLabel } from '../engine/validation.js';
import { parseInteger, printJson } from './cli-support.js';
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

function parseDimension(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65536) {
    throw new InvalidArgumentError('the dimension is an integer from 1 to 65536.');
  }
  return n;
}

interface CreateOpts extends QuantizationFlags {
  name: string;
  dim: number;
  metric: MetricName;
  m?: number;
  efConstruct?: number;
  ef?: number;
  onDisk?: boolean;
  json?: boolean;
}

/** The createCollection options of the flags; HNSW values left out keep their defaults. */
function collectionOptions(opts: CreateOpts): CreateCollectionOptions {
  const hnsw = {
    ...(opts.m === undefined ? {} : { m: opts.m }),
    ...(opts.efConstruct === undefined ? {} : { efConstruction: opts.efConstruct }),
    ...(opts.ef === undefined ? {} : { efSearch: opts.ef }),
  };
  return {
    dimension: opts.dim,
    metric: opts.metric,
    hnsw,
    quantization: quantizationOf(opts) ?? 'none',
    ...(opts.onDisk === true ? { onDisk: true } : {}),
  };
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
    .option('--m <n>', 'HNSW links per node, 2..128 (default 16)', parseInteger('--m', 2))
    .option(
      '--ef-construct <n>',
      'HNSW beam width while building, 1..4096 (default 200)',
      parseInteger('--ef-construct', 1),
    )
    .option(
      '--ef <n>',
      'default HNSW beam width of searches, 1..4096 (default 64)',
      parseInteger('--ef', 1),
    )
    .addOption(quantizationOption('none'))
    .addOption(encodingOption())
    .addOption(compressionOption())
    .addOption(queryEncodingOption())
    .option('--quantile <q>', QUANTILE_HELP, parseQuantile)
    .option(
      '--on-disk',
      'sealed segments keep their float vectors in their files, read only to rescore (memory holds the graph and codes; without --quantization the codes are int8)',
    )
    .option('--json', 'print the created collection as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ quiver create-collection ./data --name docs --dim 384 --metric cosine\n  $ quiver create-collection ./data --name docs --dim 384 --m 32 --ef-construct 400 --ef 128\n  $ quiver create-collection ./data --name docs --dim 1024 --quantization scalar\n  $ quiver create-collection ./data --name docs --dim 1024 --quantization binary --query-encoding scalar8bits\n  $ quiver create-collection ./data --name docs --dim 1024 --quantization scalar --on-disk',
    )
    .action(async (dir: string, opts: CreateOpts) => {
      const options = collectionOptions(opts);
      // Validate before Quiver.open creates the directory.
      const config = buildCollectionConfig(opts.name, options);
      const db = await Quiver.open(dir);
      try {
        const c = await db.createCollection(opts.name, options);
        if (opts.json === true) printJson(c.config);
        else
          process.stdout.write(
            `created collection ${c.name} (dimension ${config.dimension}, ${config.metric}, m ${config.hnsw.m}, ef_construct ${config.hnsw.efConstruction}, ef ${config.hnsw.efSearch}, quantization ${quantizationLabel(config.quantization)}${config.onDisk ? ', vectors on disk' : ''})\n`,
          );
      } finally {
        await db.close();
      }
    });
}
