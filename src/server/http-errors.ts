/**
 * The HTTP face of errors: QuiverError codes to status codes, Qdrant's error envelope
 * `{ status: { error }, time }`, and HttpError for conditions only the server knows
 * (a missing point or snapshot, a route not implemented yet). Every message gets one
 * Qdrant-style category prefix ("Not found: …"), and engine errors whose advice names the
 * embedded API (db.createCollection, setReadOnly) get the REST route to call instead.
 */
import type { ErrorCode, QuiverError } from '../common/quiver-error.js';
import { isQuiverError } from '../common/quiver-error.js';

/**
 * HTTP status per error code. READ_ONLY is 403, as Qdrant answers writes to a locked
 * (read-only) instance; CORRUPT is 500 with the file and offset in the message; INTERNAL
 * (a broken invariant, Quiver's bug) is 500 like any unexpected error, logged with its stack.
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
  INTERNAL: 500,
  NO_SPACE: 507,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  QUOTA_EXCEEDED: 429,
  CLOSED: 503,
  LOCKED: 503,
});

/**
 * The one prefix style of REST error messages: `<Category>: <what was wrong…>`, the
 * category named after the error code as Qdrant names its own (`Wrong input: Vector
 * dimension error…`, `Not found: Collection…`).
 */
const PREFIX_OF_CODE: Readonly<Record<ErrorCode, string>> = Object.freeze({
  INVALID_ARGUMENT: 'Wrong input',
  DIMENSION_MISMATCH: 'Wrong input',
  COLLECTION_NOT_FOUND: 'Not found',
  COLLECTION_EXISTS: 'Wrong input',
  CORRUPT: 'Storage damaged',
  BACKPRESSURE: 'Too many requests',
  READ_ONLY: 'Forbidden',
  UNAVAILABLE: 'Service unavailable',
  INTERNAL: 'Service internal error',
  NO_SPACE: 'Insufficient storage',
  UNAUTHORIZED: 'Unauthorized',
  FORBIDDEN: 'Forbidden',
  QUOTA_EXCEEDED: 'Too many requests',
  CLOSED: 'Service unavailable',
  LOCKED: 'Service unavailable',
});

/** `message` with `prefix: ` in front, unless it already starts with it. */
function prefixed(prefix: string, message: string): string {
  return message.startsWith(`${prefix}: `) ? message : `${prefix}: ${message}`;
}

/**
 * The REST wording of an engine error whose message gives embedded-API advice, keyed on
 * its code and details (the engine keeps its own wording for library users); undefined
 * keeps the engine's message.
 */
function restWording(e: QuiverError): string | undefined {
  const collection = typeof e.details.collection === 'string' ? e.details.collection : undefined;
  const path = collection === undefined ? '' : `/collections/${encodeURIComponent(collection)}`;
  switch (e.code) {
    case 'COLLECTION_NOT_FOUND':
      return collection === undefined
        ? undefined
        : `Collection "${collection}" does not exist. Create it with PUT ${path}, or list the collections with GET /collections.`;
    case 'COLLECTION_EXISTS':
      return collection === undefined
        ? undefined
        : `Collection "${collection}" already exists. Use it, or delete it first with DELETE ${path}.`;
    case 'READ_ONLY':
      return 'The database is in read-only mode: writes are refused until an admin key calls POST /admin/readwrite.';
    case 'CLOSED':
      return collection === undefined
        ? undefined
        : `Collection "${collection}" was deleted while this request ran. Create it again with PUT ${path} if it should exist.`;
    case 'UNAVAILABLE':
      return e.details.breaker === undefined
        ? undefined
        : `${e.message} An admin key resets the breaker with POST /admin/circuit-breaker/reset.`;
    default:
      return undefined;
  }
}

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

/**
 * 422 for a body value of the right JSON type that fails validation (out of range, empty),
 * worded as Qdrant's validator words it; 400 stays for bodies it cannot use at all.
 */
export function validationError(field: string, problem: string): HttpError {
  return new HttpError(422, `Validation error in JSON body: [${field}: ${problem}]`);
}

/** 501 for a route whose engine part has not landed yet: never a fake success. */
export function notImplemented(what: string): HttpError {
  return new HttpError(
    501,
    `Not implemented: ${what} is not supported by this version of Quiver yet.`,
  );
}

/** 501 for custom sharding or a shard key on a server that is not in a cluster. */
export function needsCluster(what: string): HttpError {
  return new HttpError(
    501,
    `Not implemented: ${what} needs cluster mode (start the server with quiver serve --cluster nats://...); a standalone server keeps every point in one shard.`,
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
    const message = prefixed(PREFIX_OF_CODE[e.code], restWording(e) ?? e.message);
    return { status: HTTP_STATUS_OF_CODE[e.code], message, code: e.code };
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
      if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
        // Qdrant answers a body that is not JSON with 400 "Content type error", not 415.
        return {
          status: 400,
          message: `Bad request: Content type error: ${msg}; send the body as JSON with the header content-type: application/json.`,
          code,
        };
      }
      if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        return { status: 413, message: `Payload too large: ${msg}`, code };
      }
      return { status, message: `Bad request: ${msg}`, code };
    }
    return { status: 500, message: `Service internal error: ${msg}`, code: 'INTERNAL' };
  }
  return { status: 500, message: `Service internal error: ${String(e)}`, code: 'INTERNAL' };
}
