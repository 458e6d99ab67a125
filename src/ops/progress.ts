/**
 * Progress reporting of long operations (backup, restore, verify, export, import, repair):
 * ops functions call a plain callback; the CLI renders it as a bar or as lines.
 */

/**
 * One step of a long operation: `done` of `total` units (bytes, points or files) in `phase`.
 * `total` 0 means unknown (input from a pipe): shown as a count without a percentage.
 */
export interface ProgressEvent {
  readonly phase: string;
  readonly done: number;
  readonly total: number;
  readonly unit: 'bytes' | 'points' | 'files' | 'records' | 'chunks';
  /** A second figure worth showing beside the first, e.g. "1024 points" while bytes are read. */
  readonly detail?: string;
}

/** Receives progress; must be cheap (it is called often). */
export type ProgressFn = (event: ProgressEvent) => void;

/** The default: ignore progress. */
export const NO_PROGRESS: ProgressFn = () => undefined;
