/**
 * Standard output as a pipe the reader may close early (`quiver export … | head`): that is
 * normal, not an error. One listener notes the EPIPE; later output is dropped, and a
 * command whose writes fail because of it ends quietly (main.ts) after its cleanup ran,
 * so pinned snapshots are released and locks freed. Also the sink export writes through.
 */
import type { TextSink } from '../ops/line-io.js';

let closed = false;
let watching = false;

function isPipeClosed(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED';
}

/** Installs the one stdout error listener (idempotent). Other errors are re-raised. */
export function watchStdout(): void {
  if (watching) return;
  watching = true;
  process.stdout.on('error', (e) => {
    if (isPipeClosed(e)) {
      closed = true;
      return;
    }
    throw e;
  });
}

/** True once the reader of stdout has gone away. */
export function stdoutClosed(): boolean {
  return closed;
}

/** True when `e` is the failure of a write to a stdout whose reader has gone away. */
export function isStdoutClosedError(e: unknown): boolean {
  return closed || isPipeClosed(e);
}

/**
 * A sink over stdout that waits for 'drain' when the pipe is full (constant memory for any
 * size), with one pair of listeners per wait, both removed when either fires (a listener
 * left per write would pile up: MaxListenersExceededWarning). Rejects once the reader is
 * gone, which ends the export.
 */
export function stdoutSink(): TextSink {
  const out = process.stdout;
  const gone = (): Error =>
    Object.assign(new Error('stdout was closed by its reader'), { code: 'EPIPE' });
  return {
    write: (text) =>
      new Promise<void>((resolve, reject) => {
        if (closed) {
          reject(gone());
          return;
        }
        if (out.write(text)) {
          resolve();
          return;
        }
        const onDrain = (): void => {
          out.off('error', onError);
          out.off('close', onClose);
          resolve();
        };
        const onError = (e: unknown): void => {
          out.off('drain', onDrain);
          out.off('close', onClose);
          reject(e instanceof Error ? e : gone());
        };
        const onClose = (): void => {
          out.off('drain', onDrain);
          out.off('error', onError);
          reject(gone());
        };
        out.once('drain', onDrain);
        out.once('error', onError);
        out.once('close', onClose);
      }),
    close: () => Promise.resolve(),
  };
}
