/**
 * `quiver sync SOURCE --data DIR --collection C [...]`: keeps a collection in step with a
 * folder of documents (src/sync/sync.ts): embeds new and changed chunks, deletes the ones
 * gone, with a progress bar on a terminal (plain lines otherwise), a cost limit and a
 * dry run that lists the files it would embed and delete. `--json` prints the report as
 * one line (a cron appends it to a JSON-lines log). Ctrl-C (or SIGTERM) stops it after the
 * batch in flight, with its report and checkpoint (a second one quits at once). Exit 0
 * when the folder is in step, 1 when the run stopped at the cost limit or on a signal.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { EmbedderFlags } from './embedder-flags.js';
import { addEmbedderFlags, embedderOf, envCost, parseAmount } from './embedder-flags.js';
import type { SyncReport } from '../sync/sync.js';
import { syncDocuments } from '../sync/sync.js';
import { collect, EXIT, parseInteger, progressView } from './cli-support.js';
import { openForJob } from './sync-lock.js';

interface SyncOpts extends EmbedderFlags {
  data: string;
  collection: string;
  include?: string[];
  exclude?: string[];
  batchSize?: number;
  concurrency?: number;
  rpm?: number;
  chunkTokens?: number;
  chunkOverlap?: number;
  maxFileBytes?: number;
  pricePer1k?: number;
  maxCost?: number;
  dryRun?: boolean;
  allowEmptySource?: boolean;
  json?: boolean;
}

function printReport(r: SyncReport): void {
  const w = (s: string): boolean => process.stdout.write(`${s}\n`);
  const verb = r.dryRun ? 'would embed' : 'embedded';
  w(
    `${r.dryRun ? 'dry run: ' : ''}${r.source} → ${r.collection} (${r.embedder.provider} ${r.embedder.model})`,
  );
  w(
    `files     ${r.files.seen} seen, ${r.files.changed} new or changed, ${r.files.unchanged} unchanged, ${r.files.removed} removed, ${r.files.skipped} skipped`,
  );
  const embedded = r.dryRun ? r.chunks.toEmbed : r.chunks.embedded;
  const deleted = r.dryRun ? r.chunks.toDelete : r.chunks.deleted;
  w(
    `chunks    ${r.chunks.total} in the source: ${verb} ${embedded}, ${r.dryRun ? 'would delete' : 'deleted'} ${deleted}, ${r.chunks.unchanged} unchanged`,
  );
  if (r.dryRun) w(`estimate  ${r.estimatedTokens} tokens, cost ${r.estimatedCost.toFixed(4)}`);
  else
    w(
      `used      ${r.tokens} tokens in ${r.requests} request${r.requests === 1 ? '' : 's'} (${r.retries} retried), cost ${r.cost.toFixed(4)}`,
    );
  if (r.previousRun === 'interrupted')
    w('resumed   the previous run had stopped; this one went on from what was written');
  if (r.previousRun === 'damaged')
    w(
      'checkpoint the previous checkpoint was damaged and was ignored (the collection is the truth)',
    );
  for (const s of r.skipped) w(`skipped   ${s.path}: ${s.reason}`);
  if (r.plan !== undefined) printPlan(r.plan);
  if (r.stopped !== undefined) w(`STOPPED   ${r.stopped.message}`);
}

/** A dry run's plan, one line a file (as many as the report lists). */
function printPlan(plan: NonNullable<SyncReport['plan']>): void {
  const w = (s: string): boolean => process.stdout.write(`${s}\n`);
  const n = (count: number, unit: string): string => `${count} ${unit}${count === 1 ? '' : 's'}`;
  for (const f of plan.embed) {
    const what = f.change === 'new' ? n(f.chunks, 'chunk') : `${f.chunks} of ${n(f.of, 'chunk')}`;
    w(`embed     ${f.path} (${what}, ${f.change}, ~${f.estimatedTokens} tokens)`);
  }
  if (plan.embedFiles > plan.embed.length)
    w(`embed     … and ${plan.embedFiles - plan.embed.length} more files`);
  for (const f of plan.delete) {
    const why = f.why === 'gone' ? 'file gone or skipped' : 'chunks the file no longer has';
    w(`delete    ${f.path} (${n(f.points, 'point')}, ${why})`);
  }
  if (plan.deleteFiles > plan.delete.length)
    w(`delete    … and ${plan.deleteFiles - plan.delete.length} more files`);
}

export function registerSyncCommand(program: Command): void {
  const command = program
    .command('sync')
    .description(
      'Keep a collection in step with a folder of documents: embed new and changed chunks, delete the ones gone.',
    )
    .argument('<source>', 'folder of documents (Markdown, text, HTML)')
    .requiredOption('--data <dir>', 'database directory (created when missing)')
    .requiredOption('--collection <name>', 'collection to keep in step (created when missing)')
    .option(
      '--include <glob>',
      'files to take, repeatable (default **/*.{md,markdown,mdx,txt,text,html,htm})',
      collect,
    )
    .option(
      '--exclude <glob>',
      'files to leave out, repeatable (default **/node_modules/**, **/.git/**)',
      collect,
    );
  addEmbedderFlags(command)
    .option(
      '--batch-size <n>',
      'texts per embedding request (default 64)',
      parseInteger('--batch-size', 1),
    )
    .option(
      '--concurrency <n>',
      'requests in flight at once (default 2)',
      parseInteger('--concurrency', 1),
    )
    .option('--rpm <n>', 'at most this many requests started per minute', parseInteger('--rpm', 1))
    .option(
      '--chunk-tokens <n>',
      'largest chunk in estimated tokens, 16..8192 (default 400)',
      parseInteger('--chunk-tokens', 1),
    )
    .option(
      '--chunk-overlap <n>',
      'tokens a long section’s next chunk repeats (default 40)',
      parseInteger('--chunk-overlap', 0),
    )
    .option(
      '--max-file-bytes <n>',
      'skip (and report) larger files (default 4 MiB)',
      parseInteger('--max-file-bytes', 1),
    )
    .option(
      '--price-per-1k <amount>',
      'price of 1000 tokens, for the cost figures (default 0)',
      parseAmount,
    )
    .option(
      '--max-cost <amount>',
      'stop before the run would cost more (env QUIVER_MAX_EMBEDDING_COST)',
      parseAmount,
    )
    .option(
      '--allow-empty-source',
      'let a folder without any matching file delete every synced point (refused otherwise)',
    )
    .option(
      '--dry-run',
      'list what would be embedded and deleted, and the estimated cost; write nothing',
    )
    .option('--json', 'print the final report as JSON, on one line (for a JSON-lines log)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ quiver sync ./docs --data ./data --collection docs\n  $ OPENAI_API_KEY=... quiver sync ./docs --data ./data --collection docs --embedder openai --model text-embedding-3-small --price-per-1k 0.00002 --max-cost 1\n  $ quiver sync ./docs --data ./data --collection docs --embedder openai --base-url http://127.0.0.1:11434/v1 --model nomic-embed-text --dry-run',
    )
    .action(async (source: string, opts: SyncOpts) => {
      const embedder = embedderOf(opts);
      const maxCost = opts.maxCost ?? envCost();
      const db = await openForJob(opts.data, {
        command: 'sync',
        collection: opts.collection,
        body: {
          source: resolve(source),
          ...(opts.include === undefined ? {} : { include: opts.include }),
          ...(opts.exclude === undefined ? {} : { exclude: opts.exclude }),
          ...(opts.dryRun === true ? { dry_run: true } : {}),
        },
      });
      const view = progressView(false);
      const interrupted = new AbortController();
      const onSignal = (): void => {
        // The second signal quits without waiting (the checkpoint of every batch written
        // is on disk; the next run resumes from it).
        if (interrupted.signal.aborted) process.exit(130);
        interrupted.abort();
        process.stderr.write(
          '\nstopping after the batch in flight; what is written stays, and the next run goes on from there (press Ctrl-C again to quit now)\n',
        );
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      let report: SyncReport;
      try {
        report = await syncDocuments(db, {
          source,
          collection: opts.collection,
          embedder,
          ...(opts.include === undefined ? {} : { include: opts.include }),
          ...(opts.exclude === undefined ? {} : { exclude: opts.exclude }),
          chunk: {
            ...(opts.chunkTokens === undefined ? {} : { maxTokens: opts.chunkTokens }),
            ...(opts.chunkOverlap === undefined ? {} : { overlapTokens: opts.chunkOverlap }),
          },
          ...(opts.maxFileBytes === undefined ? {} : { maxFileBytes: opts.maxFileBytes }),
          ...(opts.batchSize === undefined ? {} : { batchSize: opts.batchSize }),
          ...(opts.concurrency === undefined ? {} : { concurrency: opts.concurrency }),
          ...(opts.rpm === undefined ? {} : { requestsPerMinute: opts.rpm }),
          ...(opts.pricePer1k === undefined ? {} : { pricePer1kTokens: opts.pricePer1k }),
          ...(maxCost === undefined ? {} : { maxCost }),
          dryRun: opts.dryRun === true,
          allowEmptySource: opts.allowEmptySource === true,
          optionNames: { allowEmptySource: '--allow-empty-source', include: '--include' },
          signal: interrupted.signal,
          onProgress: (p) =>
            view.fn({
              phase: 'embedding',
              done: p.chunksEmbedded,
              total: p.chunksToEmbed,
              unit: 'chunks',
              detail: `${p.filesDone}/${p.filesToEmbed} files, ${p.tokens} tokens, cost ${p.cost.toFixed(4)}`,
            }),
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        view.stop();
        await db.close();
      }
      if (opts.json === true) process.stdout.write(`${JSON.stringify(report)}\n`);
      else printReport(report);
      if (report.stopped !== undefined) process.exitCode = EXIT.PROBLEMS;
    });
}
