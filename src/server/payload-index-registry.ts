/**
 * PayloadIndexRegistry: the payload indexes clients declared (PUT /collections/{c}/index),
 * by collection and field, kept in `<data>/payload-indexes.json` so that a restarted
 * server reports the same `payload_schema`. The engine filters without them (a full scan
 * per segment), so the file is metadata: a damaged one is logged and replaced, never fatal.
 */
import type { Logger } from '../common/logger.js';
import { isJsonObject } from '../common/types.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { readText, writeFileAtomic } from '../ops/ops-files.js';

/** A payload index as declared: Qdrant's field type and its full schema when one was given. */
export interface PayloadIndexRecord {
  readonly dataType: string;
  readonly schema: unknown;
}

/** Name of the registry file inside the data directory. */
export const PAYLOAD_INDEX_FILE = 'payload-indexes.json';

const FORMAT_VERSION = 1;

export class PayloadIndexRegistry {
  private readonly byCollection = new Map<string, Map<string, PayloadIndexRecord>>();
  private readonly fs: FileSystem;
  private readonly path: string;
  /** Saves run one after another, each writing the state as of its start. */
  private saving: Promise<void> = Promise.resolve();

  private constructor(fs: FileSystem, path: string) {
    this.fs = fs;
    this.path = path;
  }

  /** Reads `<dataDir>/payload-indexes.json` (empty when missing or damaged). */
  static async load(
    fs: FileSystem,
    dataDir: string,
    logger: Logger,
  ): Promise<PayloadIndexRegistry> {
    const registry = new PayloadIndexRegistry(fs, `${dataDir}/${PAYLOAD_INDEX_FILE}`);
    if (!(await fs.exists(registry.path))) return registry;
    try {
      const doc = JSON.parse(await readText(fs, registry.path)) as unknown;
      if (
        !isJsonObject(doc) ||
        doc['version'] !== FORMAT_VERSION ||
        !isJsonObject(doc['collections'])
      ) {
        throw new Error(`expected { "version": ${FORMAT_VERSION}, "collections": { … } }`);
      }
      for (const [collection, fields] of Object.entries(doc['collections'])) {
        if (!isJsonObject(fields)) continue;
        const map = new Map<string, PayloadIndexRecord>();
        for (const [field, record] of Object.entries(fields)) {
          if (!isJsonObject(record) || typeof record['dataType'] !== 'string') continue;
          map.set(field, { dataType: record['dataType'], schema: record['schema'] });
        }
        if (map.size > 0) registry.byCollection.set(collection, map);
      }
    } catch (e) {
      logger.warn(
        { file: registry.path, err: e instanceof Error ? e.message : String(e) },
        'payload index registry unreadable: starting empty (it is rewritten on the next index change)',
      );
    }
    return registry;
  }

  /** The declared indexes of `collection`, by field. */
  get(collection: string): ReadonlyMap<string, PayloadIndexRecord> | undefined {
    return this.byCollection.get(collection);
  }

  /** Declares (or redeclares) the index of `field`. */
  set(collection: string, field: string, record: PayloadIndexRecord): Promise<void> {
    let map = this.byCollection.get(collection);
    if (map === undefined) {
      map = new Map();
      this.byCollection.set(collection, map);
    }
    map.set(field, record);
    return this.save();
  }

  /** Removes the index of `field`; false when there was none. */
  async delete(collection: string, field: string): Promise<boolean> {
    const map = this.byCollection.get(collection);
    if (map?.delete(field) !== true) return false;
    if (map.size === 0) this.byCollection.delete(collection);
    await this.save();
    return true;
  }

  /** Forgets every index of `collection` (dropped, recreated or restored from a snapshot). */
  async dropCollection(collection: string): Promise<void> {
    if (this.byCollection.delete(collection)) await this.save();
  }

  private save(): Promise<void> {
    const collections: Record<string, Record<string, PayloadIndexRecord>> = {};
    for (const [name, fields] of this.byCollection) collections[name] = Object.fromEntries(fields);
    const text = `${JSON.stringify({ version: FORMAT_VERSION, collections }, null, 2)}\n`;
    const run = this.saving.then(() => writeFileAtomic(this.fs, this.path, text));
    this.saving = run.catch(() => undefined);
    return run;
  }
}
