/**
 * `quiver wal status DIR` and `quiver wal recover DIR [--skip-corrupted]` (ops/wal-tools.ts).
 * status exits 1 when the WAL is damaged or misses log data the manifest or the clean mark
 * needs (deleted files); recover exits 1 when it refuses.
 */
import type { Command } from 'commander';
import { walRecover, walStatus } from '../ops/wal-tools.js';
import { EXIT, formatBytes, printJson, printTable } from './cli-support.js';
import { requireDatabase } from './database-path.js';

export function registerWalCommand(program: Command): void {
  const wal = program
    .command('wal')
    .description('Inspect or cut the write-ahead log.')
    .addHelpText('after', '\nExample:\n  $ quiver wal status ./data');
  wal
    .command('status')
    .description(
      'WAL files, LSN ranges, replay start, and damage or missing log data if any (exit 1 then).',
    )
    .argument('<dir>', 'database directory')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  $ quiver wal status ./data --json')
    .action(async (dir: string, opts: { json?: boolean }) => {
      await requireDatabase(dir);
      const s = await walStatus(dir);
      if (opts.json === true) printJson(s);
      else {
        printTable(
          ['FILE', 'BYTES', 'RECORDS', 'FIRST LSN', 'LAST LSN'],
          s.files.map((f) => [
            f.file,
            String(f.bytes),
            String(f.records),
            String(f.firstLsn ?? ''),
            String(f.lastLsn ?? ''),
          ]),
        );
        // "closed cleanly" only when the log also ends where the clean mark says.
        const state =
          s.missing.length > 0
            ? 'log data is MISSING'
            : s.cleanlyClosed
              ? 'closed cleanly'
              : 'not closed cleanly (or open)';
        process.stdout.write(
          `${s.files.length} files, ${formatBytes(s.totalBytes)}; last LSN ${s.lastLsn}; replay from ${s.walStartLsn} (${s.pendingRecords} records); checkpoint ${s.checkpointLsn}; ${state}\n`,
        );
        for (const m of s.missing) process.stdout.write(`MISSING ${m.what}\n`);
        if (s.damage !== undefined)
          process.stdout.write(
            `DAMAGE (${s.damage.kind}) ${s.damage.file} @${s.damage.offset}: ${s.damage.reason}, ${s.damage.droppedBytes} bytes after it\n`,
          );
      }
      if (s.damage !== undefined || s.missing.length > 0) process.exitCode = EXIT.PROBLEMS;
    });
  wal
    .command('recover')
    .description(
      'Cut the WAL at its first bad record (a torn tail always; corruption only with --skip-corrupted).',
    )
    .argument('<dir>', 'database directory (must not be open)')
    .option('--skip-corrupted', 'cut at corruption too, dropping the intact records after it')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  $ quiver wal recover ./data --skip-corrupted')
    .action(async (dir: string, opts: { skipCorrupted?: boolean; json?: boolean }) => {
      await requireDatabase(dir);
      const r = await walRecover(dir, { skipCorrupted: opts.skipCorrupted === true });
      if (opts.json === true) printJson(r);
      else process.stdout.write(`${r.action}: ${r.message}\n`);
      if (r.action === 'refused') process.exitCode = EXIT.PROBLEMS;
    });
}
