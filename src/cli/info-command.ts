/**
 * `quiver info DIR [--json]`: the layout of a database directory — format, LSNs, files
 * and sizes, the writer holding it — from a pinned view, without the lock.
 */
import type { Command } from 'commander';
import { databaseStats } from '../ops/stats.js';
import { formatBytes, printJson } from './cli-support.js';
import { requireDatabase } from './database-path.js';

export function registerInfoCommand(program: Command): void {
  program
    .command('info')
    .description(
      'Show the layout of a database: format, LSNs, WAL and segment files, the writer holding it.',
    )
    .argument('<dir>', 'database directory')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  $ quiver info ./data')
    .action(async (dir: string, opts: { json?: boolean }) => {
      await requireDatabase(dir);
      const s = await databaseStats(dir);
      const info = {
        path: s.path,
        formatVersion: s.formatVersion,
        lsn: s.lsn,
        manifestGeneration: s.manifestGeneration,
        walStartLsn: s.walStartLsn,
        checkpointLsn: s.checkpointLsn,
        walFiles: s.walFiles,
        walBytes: s.walBytes,
        segmentFiles: s.segmentFiles,
        segmentBytes: s.segmentBytes,
        diskBytes: s.diskBytes,
        writerPid: s.writerPid ?? null,
        cleanlyClosed: s.cleanlyClosed,
        collections: s.collections.map((c) => ({
          name: c.name,
          createdAt: c.createdAt,
          dimension: c.dimension,
          metric: c.metric,
          points: c.points,
          segments: c.segments,
        })),
      };
      if (opts.json === true) {
        printJson(info);
        return;
      }
      const w = (k: string, v: string): boolean => process.stdout.write(`${k.padEnd(20)} ${v}\n`);
      w('path', s.path);
      w('format', s.formatVersion);
      w(
        'writer',
        s.writerPid === undefined
          ? s.cleanlyClosed
            ? 'none (closed cleanly)'
            : 'none'
          : `pid ${s.writerPid}`,
      );
      w('last LSN', String(s.lsn));
      w(
        'manifest',
        `generation ${s.manifestGeneration}, checkpoint LSN ${s.checkpointLsn}, replay from LSN ${s.walStartLsn}`,
      );
      w('WAL', `${s.walFiles} files, ${formatBytes(s.walBytes)}`);
      w('segments', `${s.segmentFiles} files, ${formatBytes(s.segmentBytes)}`);
      w('disk', formatBytes(s.diskBytes));
      for (const c of s.collections)
        w(
          `collection ${c.name}`,
          `${c.points} points, dim ${c.dimension}, ${c.metric}, ${c.segments} segments, created ${c.createdAt ?? 'unknown'}`,
        );
    });
}
