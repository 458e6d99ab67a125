/**
 * RuntimeIpBlocks: the IP blocks and unblocks made through `POST /admin/ip-block`, kept in
 * `<data>/ip-block.json` (written atomically) so a restart does not quietly let a blocked
 * address back in. The list in force is (config ipBlock ∪ blocked) − unblocked: the file
 * records changes, so an address the config blocks stays unblocked if an admin said so.
 * A damaged file stops the start-up (CORRUPT): failing open would unblock attackers.
 */
import { isJsonObject } from '../common/types.js';
import { QuiverError } from '../common/quiver-error.js';
import { readText, writeFileAtomic } from '../ops/ops-files.js';
import type { FileSystem } from '../storage/io/file-system.js';

/** Name of the file inside the data directory. */
const IP_BLOCK_FILE = 'ip-block.json';
const FORMAT_VERSION = 1;

export class RuntimeIpBlocks {
  private readonly blocked = new Set<string>();
  private readonly unblocked = new Set<string>();
  /** Saves run one after the other, so the file always ends with the latest state. */
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    private readonly fs: FileSystem,
    readonly path: string,
  ) {}

  /** Reads `<dataDir>/ip-block.json` (empty when missing); CORRUPT when unreadable. */
  static async load(fs: FileSystem, dataDir: string): Promise<RuntimeIpBlocks> {
    const blocks = new RuntimeIpBlocks(fs, `${dataDir}/${IP_BLOCK_FILE}`);
    if (!(await fs.exists(blocks.path))) return blocks;
    let doc: unknown;
    try {
      doc = JSON.parse(await readText(fs, blocks.path));
    } catch (e) {
      throw blocks.damaged(e instanceof Error ? e.message : String(e));
    }
    const list = (key: string): string[] => {
      const v = isJsonObject(doc) ? doc[key] : undefined;
      if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) {
        throw blocks.damaged(`"${key}" is not a list of addresses`);
      }
      return v as string[];
    };
    if (!isJsonObject(doc) || doc['version'] !== FORMAT_VERSION) {
      throw blocks.damaged(`expected { "version": ${FORMAT_VERSION}, "blocked", "unblocked" }`);
    }
    for (const ip of list('blocked')) blocks.blocked.add(ip);
    for (const ip of list('unblocked')) blocks.unblocked.add(ip);
    return blocks;
  }

  /** Applies the recorded changes to the list in force (built from the config). */
  applyTo(inForce: Set<string>): void {
    for (const ip of this.blocked) inForce.add(ip);
    for (const ip of this.unblocked) inForce.delete(ip);
  }

  /** Records blocks and unblocks (unblock wins for an address in both) and saves the file. */
  change(block: readonly string[], unblock: readonly string[]): Promise<void> {
    for (const ip of block) {
      this.blocked.add(ip);
      this.unblocked.delete(ip);
    }
    for (const ip of unblock) {
      this.blocked.delete(ip);
      this.unblocked.add(ip);
    }
    return this.save();
  }

  private save(): Promise<void> {
    const doc = {
      version: FORMAT_VERSION,
      blocked: [...this.blocked].sort(),
      unblocked: [...this.unblocked].sort(),
    };
    const text = `${JSON.stringify(doc, null, 2)}\n`;
    const run = this.saving.then(() => writeFileAtomic(this.fs, this.path, text));
    this.saving = run.catch(() => undefined);
    return run;
  }

  private damaged(why: string): QuiverError {
    return new QuiverError(
      'CORRUPT',
      `The runtime IP block list ${this.path} is unreadable (${why}). Fix it or delete it (the config's ipBlock list then applies alone) and start again.`,
      { file: this.path },
    );
  }
}
