/**
 * `quiver doctor --data DIR --collection C [--source DIR] [--fix] [--deep-scan] …`: checks
 * a synced collection against its source folder and itself (src/sync/doctor.ts), prints
 * every finding as PASS / INFO / FAIL, and with --fix first prints the plan, then applies
 * it and checks again. Exit 0 when no finding is FAIL (after the fix), 1 otherwise.
 */
import type { Command } from 'commander';
import { Quiver } from '../engine/quiver.js';
import { replaceAtomically } from '../storage/io/atomic-replace.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import type { DoctorOptions, DoctorReport } from '../sync/doctor.js';
import { doctorCollection } from '../sync/doctor.js';
import { loadCheckpoint } from '../sync/sync-checkpoint.js';
import { collect, EXIT, printJson } from './cli-support.js';
import { requireDatabase } from './database-path.js';
import type { EmbedderFlags } from './embedder-flags.js';
import { addEmbedderFlags, embedderOf, envCost, parseAmount } from './embedder-flags.js';

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
    .option('--output <file>', 'also write the report as JSON to this file');
  addEmbedderFlags(command)
    .option('--price-per-1k <amount>', 'price of 1000 tokens, for --fix (default 0)', parseAmount)
    .option(
      '--max-cost <amount>',
      'cost limit of --fix (env QUIVER_MAX_EMBEDDING_COST)',
      parseAmount,
    )
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ quiver doctor --data ./data --collection docs\n  $ quiver doctor --data ./data --collection docs --fix --output doctor.json\n  $ quiver doctor --data ./data --collection docs --deep-scan --embedder openai --model text-embedding-3-small',
    )
    .action(async (opts: DoctorOpts) => {
      await requireDatabase(opts.data);
      // The local embedder's dimension defaults to the one the last sync used.
      const saved = await loadCheckpoint(new NodeFileSystem(), opts.data, opts.collection);
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
      const db = await Quiver.open(opts.data);
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
      if (opts.output !== undefined) {
        const bytes = new TextEncoder().encode(`${JSON.stringify(report, null, 2)}\n`);
        await replaceAtomically(new NodeFileSystem(), opts.output, bytes);
      }
      if (opts.json === true) printJson(report);
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
