/**
 * How the CLI words an error on stderr: `quiver: <message>`, one prefix for every error.
 * Engine errors whose advice names the embedded API (db.createCollection, setReadOnly)
 * get the command to run instead, keyed on the error code and details; the engine keeps
 * its wording for library users, and the server gives REST advice (server/http-errors).
 */
import type { QuiverError } from '../common/quiver-error.js';
import { isQuiverError } from '../common/quiver-error.js';

/** The CLI wording of `e`, or undefined to keep its message. */
function cliWording(e: QuiverError): string | undefined {
  const name = typeof e.details.collection === 'string' ? e.details.collection : undefined;
  if (name === undefined && e.code !== 'READ_ONLY') return undefined;
  switch (e.code) {
    case 'COLLECTION_NOT_FOUND':
      return `Collection "${name}" does not exist. See the collections with "quiver collections DIR"; create it with "quiver create-collection DIR --name ${name} --dim N".`;
    case 'COLLECTION_EXISTS':
      return `Collection "${name}" already exists. Use it, or drop it first with "quiver drop-collection DIR --name ${name} --yes".`;
    case 'CLOSED':
      return `Collection "${name}" was dropped while the command ran; run the command again.`;
    case 'READ_ONLY':
      return 'The database went into read-only mode after a storage failure (see the messages above), so the command wrote nothing. Fix the cause and run it again; "quiver verify DIR" checks the files.';
    default:
      return undefined;
  }
}

/** The line the CLI prints for an error that ends a command (without the newline). */
export function cliErrorLine(e: unknown): string {
  const message = isQuiverError(e)
    ? (cliWording(e) ?? e.message)
    : e instanceof Error
      ? e.message
      : String(e);
  return `quiver: ${message}`;
}
