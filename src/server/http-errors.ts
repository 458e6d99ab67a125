/**
 * The HTTP face of errors: QuiverError codes to status codes, Qdrant's error envelope
 * `{ status: { error }, time }`, and HttpError for conditions only the server knows
 * (a missing point or snapshot, a route not implemented yet).
 */
import type { ErrorCode } from '../common/quiver-error.js';
import { isQuiverError } from '../common/quiver-error.js';

/**
 * HTTP status per error code. READ_ONLY is 403, as Qdrant answers writes to a locked
 * (read-only) instance; CORRUPT is 500 with the file and offset in the message.
 */
export const HTTP_STATUS_OF_CODE: Readonly<Record<ErrorCode, number>> = Object.freeze({
  INVALID_ARGUMENT: 400,
  DIMENSION_MISMATCH: 400,
  COLLECTION_NOT_FOUND: 404,
  COLLECTION_EXISTS: 409,
  CORRUPT: 500,
  BACKPRESSURE: 429,
  READ_ONLY: 403,
  UNAVAILABLE: 503,
  NO_SPACE: 507,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  QUOTA_EXCEEDED: 429,
  CLOSED: 503,
  LOCKED: 503,
});

/** An error with an HTTP status, raised by the server itself. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly statusCode: number;
  constructor(statusCode: number, message: string) {
    super(message);
    this.statusCode = statusCode;
  }
}

/** 404 for a missing point, snapshot or other named thing. */
export function notFound(message: string): HttpError {
  return new HttpError(404, `Not found: ${message}`);
}

/** 400 for a request body or parameter the server cannot use. */
export function badRequest(message: string): HttpError {
  return new HttpError(400, `Bad request: ${message}`);
}

/** 501 for a route whose engine part has not landed yet: never a fake success. */
export function notImplemented(what: string): HttpError {
  return new HttpError(
    501,
    `Not implemented: ${what} is not supported by this version of Quiver yet.`,
  );
}

/** The Qdrant error envelope. `time` is seconds since the request started. */
export function errorEnvelope(
  message: string,
  seconds: number,
): {
  status: { error: string };
  time: number;
} {
  return { status: { error: message }, time: seconds };
}

interface ErrorLike {
  readonly statusCode?: unknown;
  readonly code?: unknown;
  readonly message?: unknown;
}

/** What an error becomes over HTTP: status, message, and the code for metrics. */
export function describeHttpError(e: unknown): { status: number; message: string; code: string } {
  if (isQuiverError(e)) {
    const status = HTTP_STATUS_OF_CODE[e.code];
    const message =
      e.code === 'CORRUPT'
        ? `Storage damaged: ${e.message}`
        : e.code === 'COLLECTION_NOT_FOUND'
          ? `Not found: ${e.message}`
          : status === 400
            ? `Wrong input: ${e.message}`
            : e.message;
    return { status, message, code: e.code };
  }
  if (e instanceof HttpError) {
    return { status: e.statusCode, message: e.message, code: `HTTP_${e.statusCode}` };
  }
  if (typeof e === 'object' && e !== null) {
    const err = e as ErrorLike;
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
    const msg = typeof err.message === 'string' ? err.message : 'unknown error';
    const code = typeof err.code === 'string' ? err.code : `HTTP_${status}`;
    if (status >= 400 && status < 500) {
      if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        return { status: 413, message: `Payload too large: ${msg}`, code };
      }
      return { status, message: `Bad request: ${msg}`, code };
    }
    return { status: 500, message: `Service internal error: ${msg}`, code: 'INTERNAL' };
  }
  return { status: 500, message: `Service internal error: ${String(e)}`, code: 'INTERNAL' };
}
