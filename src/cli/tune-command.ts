/**
 * `quiver tune --vectors N --dim D [--profile P] [--memory-budget BYTES]`: recommended
 * index settings and the RAM/disk estimate (ops/tune.ts, formula in docs/TUNING.md).
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import type { TuneProfile } from '../ops/tune.js';
import { tune } from '../ops/tune.js';
import { formatBytes, parseInteger, printJson } from './cli-support.js';

export function registerTuneCommand(program: Command): void {
  program
    .command('tune')
    .description(
      'Recommend m, efConstruction, efSearch and quantization, with RAM and disk estimates.',
    )
    .requiredOption('--vectors <n>', 'number of vectors', parseInteger('--vectors', 1))
    .requiredOption('--dim <d>', 'dimension', parseInteger('--dim', 1))
    .addOption(
      new Option('--profile <profile>', 'what to favour')
        .choices(['balanced', 'high-recall', 'low-latency'])
        .default('balanced'),
    )
    .option(
      '--memory-budget <bytes>',
      'RAM available for the index',
      parseInteger('--memory-budget', 1),
    )
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExample:\n  $ quiver tune --vectors 1000000 --dim 768 --profile high-recall --memory-budget 4294967296',
    )
    .action(
      (opts: {
        vectors: number;
        dim: number;
        profile: TuneProfile;
        memoryBudget?: number;
        json?: boolean;
      }) => {
        const r = tune({
          vectors: opts.vectors,
          dimension: opts.dim,
          profile: opts.profile,
          ...(opts.memoryBudget === undefined ? {} : { memoryBudgetBytes: opts.memoryBudget }),
        });
        if (opts.json === true) {
          printJson(r);
          return;
        }
        const w = (k: string, v: string): boolean => process.stdout.write(`${k.padEnd(16)} ${v}\n`);
        w('profile', r.profile);
        w('m', String(r.m));
        w('efConstruction', String(r.efConstruction));
        w('efSearch', String(r.efSearch));
        w('quantization', `${r.quantization}${r.onDisk ? ', vectors on disk' : ''}`);
        w('RAM', `${formatBytes(r.estimate.ramBytes)} (${r.estimate.bytesPerPoint} bytes/point)`);
        for (const c of r.choices) {
          const label = `  ${c.quantization}${c.onDisk ? ' on disk' : ''}`;
          w(label, `${formatBytes(c.ramBytes)} (${c.bytesPerPoint} bytes/point)`);
        }
        w('disk', formatBytes(r.estimate.diskBytes));
        if (r.fitsBudget !== undefined) w('fits budget', r.fitsBudget ? 'yes' : 'NO');
        for (const n of r.notes) w('note', n);
      },
    );
}
