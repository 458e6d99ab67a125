/**
 * `quiver doctor --data DIR --collection C [--source DIR] [--fix] [--deep-scan] …`: checks
 * a synced collection against its source folder and itself (src/sync/doctor.ts), prints
 * every finding as PASS / INFO / FAIL, and with --fix first prints the plan, then applies
 * it and checks again. `--json` prints the report on one line; `--output FILE` also writes
 * it (pretty) to a file, refused before anything runs when FILE is a folder or its folder is
 * missing. Exit 0 when no finding is FAIL (after the fix), 1 otherwise.
 */
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { QuiverError } from '../common/quiver-error.js';
import { replaceAtomically } from '../storage/io/atomic-replace.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import type { DoctorOptions, DoctorReport } from '../sync/doctor.js';
import { doctorCollection } from '../sync/doctor.js';
import { loadCheckpoint } from '../sync/sync-checkpoint.js';
import { collect, EXIT } from './cli-support.js';
import { requireDatabase } from './database-path.js';
import type { EmbedderFlags } from './embedder-flags.js';
import { addEmbedderFlags, embedderOf, envCost, parseAmount } from './embedder-flags.js';
import { openForJob } from './sync-lock.js';

interface DoctorOpts extends EmbedderFlags {
  data: string;
  collection: string;
  source?: string;
  fix?: boolean;
  deepScan?: boolean;
  require?: string[];
  output?: string;
  json?: boolean;
  maxCost?: number;
  pricePer1k?: number;
}

function printFindings(r: DoctorReport): void {
  const w = (s: string): boolean => process.stdout.write(`${s}\n`);
  const coverage =
    r.coverage === undefined
      ? ''
      : `, coverage ${(r.coverage * 100).toFixed(1)} % of ${r.expectedChunks} chunks`;
  w(
    `${r.collection}: ${r.points} points${r.source === undefined ? '' : ` from ${r.source}`}${coverage}`,
  );
  for (const f of r.findings) {
    const examples = f.examples.length === 0 ? '' : ` (e.g. ${f.examples.join(', ')})`;
    w(
      `${f.status.padEnd(4)}  ${f.kind.padEnd(10)} ${f.message}${f.status === 'FAIL' ? examples : ''}`,
    );
  }
}

/**
 * Refuses an --output that cannot take the report, before the doctor runs (a --fix must
 * not be applied and its report then lost): a folder, or a path whose folder is missing.
 */
async function checkOutput(fs: NodeFileSystem, output: string): Promise<void> {
  const st = await fs.stat(output);
  if (st?.isDirectory === true) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `--output ${output} is a folder; name a file, e.g. --output ${output.replace(/\/+$/, '')}/doctor-report.json.`,
      { field: 'output' },
    );
  }
  const parent = dirname(output);
  if ((await fs.stat(parent))?.isDirectory !== true) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `--output ${output}: the folder ${parent} does not exist; create it first.`,
      { field: 'output' },
    );
  }
}

/**
 * Writes the report to `output` atomically; on a failure the temp file is removed and the
 * report printed to stdout before the error ends the command, so it is never lost.
 */
async function writeOutput(
  fs: NodeFileSystem,
  output: string,
  report: DoctorReport,
): Promise<void> {
  const temp = `${output}.tmp`;
  try {
    const bytes = new TextEncoder().encode(`${JSON.stringify(report, null, 2)}\n`);
    await replaceAtomically(fs, output, bytes, { temp });
  } catch (e) {
    await fs.unlink(temp).catch(() => undefined);
    process.stdout.write(`${JSON.stringify(report)}\n`);
    throw e;
  }
}

export function registerDoctorCommand(program: Command): void {
  const command = program
    .command('doctor')
    .description(
      'Check a synced collection: orphaned and missing embeddings, drift, damaged points, mixed embedders, metadata; --fix repairs.',
    )
    .requiredOption('--data <dir>', 'database directory')
    .requiredOption('--collection <name>', 'collection to check')
    .option('--source <dir>', 'the source folder (default: the one the last sync used)')
    .option(
      '--fix',
      'delete orphaned, drifted and damaged points, then embed what is missing (prints the plan first)',
    )
    .option('--deep-scan', 're-embed a sample and compare it with the stored vectors')
    .option(
      '--require <field>',
      'payload field every point must have, repeatable (dot paths; default source, content_hash, text, embedder)',
      collect,
    )
    .option('--output <file>', 'also write the report as JSON to this file (not a folder)');
  addEmbedderFlags(command)
    .option('--price-per-1k <amount>', 'price of 1000 tokens, for --fix (default 0)', parseAmount)
    .option(
      '--max-cost <amount>',
      'cost limit of --fix (env QUIVER_MAX_EMBEDDING_COST)',
      parseAmount,
    )
    .option('--json', 'print the report as JSON, on one line')
    .addHelpText(
      'after',
      '\nExamples:\n  $ quiver doctor --data ./data --collection docs\n  $ quiver doctor --data ./data --collection docs --fix --output doctor.json\n  $ quiver doctor --data ./data --collection docs --deep-scan --embedder openai --model text-embedding-3-small',
    )
    .action(async (opts: DoctorOpts) => {
      await requireDatabase(opts.data);
      const fs = new NodeFileSystem();
      if (opts.output !== undefined) await checkOutput(fs, opts.output);
      // The local embedder's dimension defaults to the one the last sync used.
      const saved = await loadCheckpoint(fs, opts.data, opts.collection);
      const savedDim = typeof saved === 'object' ? saved.embedder.dimension : undefined;
      const embedder = embedderOf({
        ...opts,
        ...(opts.dimension === undefined && savedDim !== undefined ? { dimension: savedDim } : {}),
      });
      const maxCost = opts.maxCost ?? envCost();
      const options: DoctorOptions = {
        collection: opts.collection,
        ...(opts.source === undefined ? {} : { source: opts.source }),
        ...(opts.require === undefined ? {} : { requiredFields: opts.require }),
        embedder,
        deepScan: opts.deepScan === true,
        ...(maxCost === undefined ? {} : { maxCost }),
        ...(opts.pricePer1k === undefined ? {} : { pricePer1kTokens: opts.pricePer1k }),
      };
      const db = await openForJob(opts.data, {
        command: 'doctor',
        collection: opts.collection,
        body: {
          ...(opts.source === undefined ? {} : { source: resolve(opts.source) }),
          ...(opts.fix === true ? { fix: true } : {}),
          ...(opts.deepScan === true ? { deep_scan: true } : {}),
        },
      });
      let report: DoctorReport;
      try {
        report = await doctorCollection(db, options);
        if (opts.fix === true && !report.ok) {
          if (opts.json !== true) {
            printFindings(report);
            const fixable = report.findings.filter(
              (f) =>
                f.status === 'FAIL' &&
                ['orphans', 'drift', 'content', 'vectors', 'missing'].includes(f.kind),
            );
            process.stdout.write(
              `fix plan: ${fixable.map((f) => `${f.kind} ${f.count}`).join(', ') || 'nothing --fix can repair'}; applying\n`,
            );
          }
          report = await doctorCollection(db, { ...options, fix: true });
        }
      } finally {
        await db.close();
      }
      if (opts.output !== undefined) await writeOutput(fs, opts.output, report);
      if (opts.json === true) process.stdout.write(`${JSON.stringify(report)}\n`);
      else {
        if (report.fix !== undefined) {
          process.stdout.write(
            `fixed: deleted ${report.fix.deleted} points, embedded ${report.fix.embedded} chunks${report.fix.stopped === undefined ? '' : `; STOPPED: ${report.fix.stopped}`}\n`,
          );
        }
        printFindings(report);
      }
      if (!report.ok) process.exitCode = EXIT.PROBLEMS;
    });
}
