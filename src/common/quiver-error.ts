/**
 * QuiverError and the catalogue of its stable codes (SPEC section 3).
 * Every error the library raises on purpose is a QuiverError; `code` is the contract,
 * the message is for people and may change.
 */

/** The stable error codes. Each entry says when it happens and whose fault it is. */
export const ERROR_CODES = Object.freeze({
  /** Input: a value is malformed (name, id, payload, filter, option, NaN in a vector). */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** Input: a vector's length differs from the collection's dimension. */
  DIMENSION_MISMATCH: 'DIMENSION_MISMATCH',
  /** Input: the named collection does not exist. */
  COLLECTION_NOT_FOUND: 'COLLECTION_NOT_FOUND',
  /** Input: a collection of that name already exists. */
  COLLECTION_EXISTS: 'COLLECTION_EXISTS',
  /** Service: a file failed its magic, version or checksum; details name file and offset. */
  CORRUPT: 'CORRUPT',
  /** Service: a memory budget is exhausted; retry after flushing catches up (HTTP 429). */
  BACKPRESSURE: 'BACKPRESSURE',
  /** Operator: the database is in read-only mode; writes are refused until it is lifted. */
  READ_ONLY: 'READ_ONLY',
  /** Service: the WAL circuit breaker is open or storage is unusable; retry later. */
  UNAVAILABLE: 'UNAVAILABLE',
  /**
   * Quiver's own bug: an invariant the code relies on was broken. Retrying does not help;
   * report it with the logged stack (HTTP 500).
   */
  INTERNAL: 'INTERNAL',
  /** Service: the disk is full; nothing acknowledged is lost, writes resume when space returns. */
  NO_SPACE: 'NO_SPACE',
  /** Input: no valid API key was presented. */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** Input: the key's role or scope does not allow this call. */
  FORBIDDEN: 'FORBIDDEN',
  /** Input: a configured quota would be exceeded. */
  QUOTA_EXCEEDED: 'QUOTA_EXCEEDED',
  /** Input: the database or collection was closed (or dropped) before this call. */
  CLOSED: 'CLOSED',
  /** Environment: another live process holds the database directory's lock. */
  LOCKED: 'LOCKED',
} as const);

export type ErrorCode = keyof typeof ERROR_CODES;

/** Structured context attached to an error: where it happened and what was expected. */
export interface ErrorDetails {
  readonly collection?: string;
  readonly file?: string;
  readonly offset?: number;
  readonly field?: string;
  readonly expected?: unknown;
  readonly received?: unknown;
  readonly [key: string]: unknown;
}

/** The one error class of Quiver. Check codes with {@link isQuiverError}. */
export class QuiverError extends Error {
  override readonly name = 'QuiverError';
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.details = Object.freeze({ ...details });
  }
}

/** True when `e` is a QuiverError, and when `code` is given, one with that code. */
export function isQuiverError(e: unknown, code?: ErrorCode): e is QuiverError {
  return e instanceof QuiverError && (code === undefined || e.code === code);
}

/** Shorthand for the most common error: a malformed argument. */
export function invalidArgument(message: string, details: ErrorDetails = {}): QuiverError {
  return new QuiverError('INVALID_ARGUMENT', message, details);
}

/** A CORRUPT error that always names the file and the offset of the damage. */
export function corrupt(file: string, offset: number, what: string, cause?: unknown): QuiverError {
  return new QuiverError(
    'CORRUPT',
    `${what} in ${file} at offset ${offset}. The file is damaged: run "quiver verify" and restore from backup or "quiver repair".`,
    { file, offset },
    cause,
  );
}
