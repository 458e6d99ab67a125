/**
 * DirectoryLock: one writer per database directory. A LOCK file holds the owner's pid;
 * a second live owner gets LOCKED, a lock whose process is gone is taken over.
 * Read-only tools do not take it (SPEC section 3).
 */
import { resolve } from 'node:path';
import { utf8Decode, utf8Encode } from '../common/bytes.js';
import type { Logger } from '../common/logger.js';
import { QuiverError } from '../common/quiver-error.js';
import type { FileSystem } from './io/file-system.js';
import { isZombieProcess } from './io/process-state.js';
import { LOCK_FILE } from './format.js';

const heldInThisProcess = new Set<string>();

/** True when a process with this pid exists (ours to signal or not) and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
  return !isZombieProcess(pid); // a zombie holds no lock
}

interface LockOwner {
  readonly pid: number;
  readonly since: string;
}

function parseOwner(bytes: Uint8Array): LockOwner | undefined {
  try {
    const v: unknown = JSON.parse(utf8Decode(bytes));
    if (typeof v === 'object' && v !== null && typeof (v as LockOwner).pid === 'number') {
      return v as LockOwner;
    }
  } catch {
    // an unreadable lock file is treated as stale
  }
  return undefined;
}

/**
 * The pid of the live process holding `dir`'s LOCK, or undefined when there is no lock,
 * it is unreadable, or its process is gone (a stale lock).
 */
export async function liveLockOwner(fs: FileSystem, dir: string): Promise<number | undefined> {
  let owner: LockOwner | undefined;
  try {
    owner = parseOwner(await fs.readFile(`${dir}/${LOCK_FILE}`));
  } catch {
    return undefined;
  }
  return owner !== undefined && processAlive(owner.pid) ? owner.pid : undefined;
}

export class DirectoryLock {
  private released = false;

  private constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly key: string,
  ) {}

  /** Takes the lock of `dir` or throws LOCKED naming the owner's pid. */
  static async acquire(fs: FileSystem, dir: string, logger: Logger): Promise<DirectoryLock> {
    const key = resolve(dir);
    if (heldInThisProcess.has(key)) {
      throw new QuiverError(
        'LOCKED',
        `Database ${dir} is already open in this process. Use the open instance, or close it first.`,
        { file: `${dir}/${LOCK_FILE}`, pid: process.pid },
      );
    }
    const path = `${dir}/${LOCK_FILE}`;
    const me = utf8Encode(JSON.stringify({ pid: process.pid, since: new Date().toISOString() }));
    for (let attempt = 0; attempt < 2; attempt++) {
      if (await fs.createExclusive(path, me)) {
        heldInThisProcess.add(key);
        return new DirectoryLock(fs, dir, key);
      }
      let owner: LockOwner | undefined;
      try {
        owner = parseOwner(await fs.readFile(path));
      } catch {
        owner = undefined;
      }
      if (owner !== undefined && owner.pid !== process.pid && processAlive(owner.pid)) {
        throw new QuiverError(
          'LOCKED',
          `Database ${dir} is open in another process (pid ${owner.pid}, since ${owner.since}). Stop that process or use read-only tools (verify, backup, export).`,
          { file: path, pid: owner.pid },
        );
      }
      logger.warn(
        { file: path, stalePid: owner?.pid },
        'taking over a lock left by a process that is gone',
      );
      await fs.unlink(path);
    }
    throw new QuiverError(
      'LOCKED',
      `Database ${dir} is being opened by another process at the same moment. Try again.`,
      { file: path },
    );
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    heldInThisProcess.delete(this.key);
    await this.fs.unlink(`${this.dir}/${LOCK_FILE}`);
  }
}
