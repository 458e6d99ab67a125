/**
 * Verify's problems: one thing wrong with where it is and what to do about it, the
 * suggested actions (one wording each), and a problem made from a thrown error.
 */
import { isQuiverError } from '../common/quiver-error.js';

/** One thing wrong, with where it is and what to do about it. */
export interface VerifyProblem {
  readonly severity: 'error' | 'warning';
  /** The damaged file (path in the database directory). */
  readonly file: string;
  /** Byte offset of the damage in `file`, when known. */
  readonly offset: number | undefined;
  readonly what: string;
  /** The suggested action. */
  readonly action: string;
}

/** Suggested actions, one wording each. */
export const ACTIONS = Object.freeze({
  restore:
    'restore the database from a backup ("quiver backup restore"), or salvage the readable points with "quiver repair DIR -o NEW"',
  repairSegment:
    'run "quiver repair DIR -o NEW" to salvage every other point (this segment\'s readable points are kept where possible), or restore from a backup',
  walRecover:
    'run "quiver wal recover DIR --skip-corrupted" to cut the log at the damage (it lists what is dropped), or restore from a backup',
  compact:
    'run "quiver compact DIR" to rebuild the collection\'s graph (search cannot return these points until then)',
  none: 'none: the next open handles it',
});

/** A problem from a thrown error: its file and offset when it is a QuiverError that names them. */
export function fromError(e: unknown, fallbackFile: string, action: string): VerifyProblem {
  if (isQuiverError(e)) {
    const file = typeof e.details.file === 'string' ? e.details.file : fallbackFile;
    const offset = typeof e.details.offset === 'number' ? e.details.offset : undefined;
    return { severity: 'error', file, offset, what: e.message, action };
  }
  return {
    severity: 'error',
    file: fallbackFile,
    offset: undefined,
    what: e instanceof Error ? e.message : String(e),
    action,
  };
}

/** The first eight slots of a list, for a message. */
export function preview(slots: readonly number[]): string {
  return slots.length <= 8 ? slots.join(', ') : `${slots.slice(0, 8).join(', ')}, …`;
}
