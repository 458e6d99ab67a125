/**
 * WAL continuity: whether a scanned log holds what the manifest and the clean-shutdown
 * mark say it must (docs/FORMAT.md §3, §7). One pure check shared by recovery (which fails
 * the open on the first problem), verify (which reports them all) and pinned snapshots.
 */
import type { CleanMark } from '../clean-mark.js';
import type { Manifest } from '../manifest/manifest.js';
import type { WalScanReport } from './wal-reader.js';

/** A gap between the log and what must be in it; `file` and `offset` locate it. */
export interface WalGap {
  readonly kind: 'missing-start' | 'missing-end' | 'clean-mark-mismatch';
  readonly file: string;
  readonly offset: number;
  readonly what: string;
}

/**
 * The gaps of `scan` against `manifest` (and `mark` when the database was closed
 * cleanly), in the order recovery checks them: the log must reach back to the manifest's
 * replay start, forward to its checkpoint, and, after a clean close, end exactly where
 * the mark says.
 */
export function walGaps(
  scan: WalScanReport,
  manifest: Pick<Manifest, 'walStartLsn' | 'checkpointLsn'>,
  mark: CleanMark | undefined,
  walDir: string,
): WalGap[] {
  const gaps: WalGap[] = [];
  const first = scan.files[0]?.path ?? walDir;
  const last = scan.files[scan.files.length - 1]?.path ?? walDir;
  if (
    scan.firstLsn !== undefined &&
    scan.firstLsn > manifest.walStartLsn &&
    scan.lastLsn >= manifest.walStartLsn
  ) {
    gaps.push({
      kind: 'missing-start',
      file: first,
      offset: 16,
      what: `WAL starts at LSN ${scan.firstLsn} but the manifest needs it from LSN ${manifest.walStartLsn}; log files are missing`,
    });
  }
  if (manifest.walStartLsn <= manifest.checkpointLsn && scan.lastLsn < manifest.checkpointLsn) {
    gaps.push({
      kind: 'missing-end',
      file: last,
      offset: scan.end?.offset ?? 0,
      what: `WAL ends at LSN ${scan.lastLsn} but the manifest was written at LSN ${manifest.checkpointLsn}; log data is missing`,
    });
  }
  if (mark !== undefined) {
    const end = scan.end;
    const at = Math.max(scan.lastLsn, manifest.checkpointLsn);
    const matches =
      mark.lastLsn === at &&
      (end === undefined || (end.seq === mark.walSeq && end.offset === mark.walOffset));
    if (!matches) {
      gaps.push({
        kind: 'clean-mark-mismatch',
        file: last,
        offset: end?.offset ?? 0,
        what: `WAL ends at LSN ${at} but the database was closed cleanly at LSN ${mark.lastLsn} (file ${mark.walSeq}, offset ${mark.walOffset}); log data is missing`,
      });
    }
  }
  return gaps;
}
