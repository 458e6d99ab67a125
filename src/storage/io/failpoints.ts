/**
 * Failpoints: named hooks in the I/O layer that tests arm to crash or fail at one place.
 * Inert in production (an empty map lookup). A child process can arm them through the
 * QUIVER_FAILPOINTS env var: "name=kill" or "name=error", optionally "@N" to fire on the
 * Nth hit only (e.g. "beforeManifestRename=kill@2"), comma separated.
 */
import type { FailpointName } from './file-system.js';

/** What an armed failpoint does: run a function (which may throw) or kill the process. */
export type FailpointAction = () => void | Promise<void>;

const armed = new Map<FailpointName, FailpointAction>();

/** Arms `name`; returns a function that disarms it. */
export function armFailpoint(name: FailpointName, action: FailpointAction): () => void {
  armed.set(name, action);
  return () => {
    if (armed.get(name) === action) armed.delete(name);
  };
}

export function disarmAllFailpoints(): void {
  armed.clear();
}

/** Runs the failpoint's action when armed. */
export async function hitFailpoint(name: FailpointName): Promise<void> {
  const action = armed.get(name);
  if (action !== undefined) await action();
}

function armFromEnv(spec: string | undefined): void {
  if (spec === undefined || spec === '') return;
  for (const part of spec.split(',')) {
    const [name, action] = part.split('=');
    if (name === undefined || name === '') continue;
    const [what, nth] = (action ?? 'error').split('@');
    const fireAt = nth === undefined ? 1 : Number(nth);
    let hits = 0;
    armed.set(name as FailpointName, () => {
      if (++hits !== fireAt) return;
      if (what === 'kill') process.kill(process.pid, 'SIGKILL');
      throw new Error(`failpoint ${name} fired`);
    });
  }
}

armFromEnv(process.env['QUIVER_FAILPOINTS']);
