/**
 * `quiver create-collection DIR --name N --dim D [--metric M] [--m --ef-construct --ef]
 * [--quantization scalar [--quantile Q] | binary [--encoding E] [--query-encoding Q]] [--on-disk]`:
 * creates a collection, and the database when DIR does not exist yet. Every option is
 * checked before anything is created, so a bad name leaves no empty database behind.
 */
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import type { BinaryEncoding, BinaryQueryEncoding } from '../ann/binary-quantizer.js';
import { BINARY_ENCODINGS, BINARY_QUERY_ENCODINGS } from '../ann/binary-quantizer.js';
import { invalidArgument } from '../common/quiver-error.js';
import type { MetricName } from '../common/types.js';
import { Quiver } from '../engine/quiver.js';
import type { CreateCollectionOptions } from '../engine/validation.js';
import { buildCollectionConfig, quantizationLabel } from '../engine/validation.js';
import { parseInteger, printJson } from './cli-support.js';

function parseDimension(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65536) {
    throw new InvalidArgumentError('the dimension is an integer from 1 to 65536.');
  }
  return n;
}

interface CreateOpts {
  name: string;
  dim: number;
  metric: MetricName;
  m?: number;
  efConstruct?: number;
  ef?: number;
  quantization: 'none' | 'scalar' | 'binary';
  quantile?: number;
  encoding?: BinaryEncoding;
  queryEncoding?: BinaryQueryEncoding;
  onDisk?: boolean;
  json?: boolean;
}

function parseQuantile(value: string): number {
  const n = Number(value);
  if (!(n >= 0.5 && n <= 1))
    throw new InvalidArgumentError('the quantile is a number from 0.5 to 1.');
  return n;
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
    quantization: quantizationOf(opts),
    ...(opts.onDisk === true ? { onDisk: true } : {}),
  };
}

/** The quantization option of the flags; a flag of another kind than --quantization is refused. */
function quantizationOf(opts: CreateOpts): NonNullable<CreateCollectionOptions['quantization']> {
  if (opts.quantile !== undefined && opts.quantization !== 'scalar') {
    throw invalidArgument('--quantile needs --quantization scalar.', { field: 'quantile' });
  }
  const binaryFlag = opts.encoding !== undefined ? 'encoding' : 'query-encoding';
  if (
    (opts.encoding !== undefined || opts.queryEncoding !== undefined) &&
    opts.quantization !== 'binary'
  ) {
    throw invalidArgument(`--${binaryFlag} needs --quantization binary.`, { field: binaryFlag });
  }
  if (opts.quantization === 'none') return 'none';
  if (opts.quantization === 'scalar') {
    return { kind: 'scalar', ...(opts.quantile === undefined ? {} : { quantile: opts.quantile }) };
  }
  return {
    kind: 'binary',
    ...(opts.encoding === undefined ? {} : { encoding: opts.encoding }),
    ...(opts.queryEncoding === undefined ? {} : { queryEncoding: opts.queryEncoding }),
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
    .addOption(
      new Option(
        '--quantization <kind>',
        'scalar: sealed segments keep int8 codes (a quarter of the float vectors, on top of them) and searches walk them, rescoring with the floats; binary: 1 or 2 bits per value (a 32nd or 16th of the floats)',
      )
        .choices(['none', 'scalar', 'binary'])
        .default('none'),
    )
    .addOption(
      new Option(
        '--encoding <bits>',
        'bits per value with --quantization binary (default one_bit)',
      ).choices([...BINARY_ENCODINGS]),
    )
    .addOption(
      new Option(
        '--query-encoding <kind>',
        'how a query meets binary codes: default/binary (as bits, fastest) or scalar8bits/scalar4bits (asymmetric: more exact, slower)',
      ).choices([...BINARY_QUERY_ENCODINGS]),
    )
    .option(
      '--quantile <q>',
      'share of values the int8 range covers, 0.5..1 (default 0.99; with --quantization scalar)',
      parseQuantile,
    )
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
