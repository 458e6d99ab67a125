/**
 * `quiver repair DIR -o OUT`: salvages every readable point into a new database and
 * reports what was lost (ops/repair.ts). Never modifies DIR. Exit 1 when something was lost.
 */
import type { Command } from 'commander';
import { repairDatabase } from '../ops/repair.js';
import { EXIT, printJson } from './cli-support.js';
import { requireDatabase } from './database-path.js';

export function registerRepairCommand(program: Command): void {
  program
    .command('repair')
    .description(
      'Salvage every readable point of a damaged database into a new one; report what was lost.',
    )
    .argument('<dir>', 'damaged database directory (only read)')
    .requiredOption('-o, --output <out>', 'new database directory (must be empty)')
    .option('--force', 'replace the contents of a non-empty output directory')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nExample:\n  $ quiver repair ./data -o ./data-repaired')
    .action(async (dir: string, opts: { output: string; force?: boolean; json?: boolean }) => {
      await requireDatabase(dir);
      const r = await repairDatabase(dir, opts.output, { force: opts.force === true });
      if (opts.json === true) printJson(r);
      else {
        const out = process.stdout;
        out.write(
          `repaired into ${r.output}: ${r.segmentsSalvaged} segments salvaged, ${r.walRecordsReplayed} WAL records replayed\n`,
        );
        for (const c of r.collections) out.write(`  ${c.name}: ${c.points} points\n`);
        for (const n of r.notes) out.write(`note: ${n}\n`);
        if (r.lost.length === 0) out.write('nothing was lost\n');
        for (const l of r.lost) {
          const ids =
            l.ids === undefined
              ? ''
              : ` ids: ${l.ids
                  .slice(0, 20)
                  .map((x) => JSON.stringify(x))
                  .join(', ')}${l.ids.length > 20 ? ', …' : ''}`;
          out.write(
            `LOST ${l.file}${l.collection === undefined ? '' : ` (${l.collection})`}: ${l.what}${l.points === undefined ? '' : `; ${l.points} points`}${ids}\n`,
          );
        }
        out.write(`verify of the output: ${r.verify.status}\n`);
      }
      if (r.lost.length > 0 || r.verify.status !== 'ok') process.exitCode = EXIT.PROBLEMS;
    });
}
