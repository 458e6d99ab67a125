/**
 * SnapshotStore: collection snapshots as self-contained files, written and read through
 * the embedded API (no engine internals), in `<snapshotsDir>/<collection>/`.
 *
 * Format (JSON lines, UTF-8): a header `{"format":"quiver-snapshot","version":1,
 * "createdAt","collection":{name,dimension,metric,hnsw},"points":N}`, one line per point
 * `{"id","vector","payload"}`, and a trailer `{"end":true,"points":N,"sha256"}` whose digest
 * covers every byte before it. A sidecar `<name>.json` keeps the SHA-256 of the whole file
 * (Qdrant's `checksum`) and the creation time.
 */
import { createHash } from 'node:crypto';
import { pathEscape } from '../common/contained-path.js';
import { invalidArgument, isQuiverError, QuiverError } from '../common/quiver-error.js';
import type { Payload, PointId } from '../common/types.js';
import { checkPointId, isJsonObject } from '../common/types.js';
import type { Collection } from '../engine/collection.js';
import type { Quiver } from '../engine/quiver.js';
import type { JsonValue, MetricName } from '../common/types.js';
import type { CollectionConfig } from '../engine/validation.js';
import {
  buildCollectionConfig,
  configJson,
  checkCollectionName,
  preparePayload,
  prepareVector,
} from '../engine/validation.js';
import { replaceAtomically } from '../storage/io/atomic-replace.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { readText, writeFileAtomic } from '../ops/ops-files.js';
import { notFound } from './http-errors.js';

/** The current snapshot format version; readers refuse newer major versions. */
export const SNAPSHOT_FORMAT_VERSION = 1;
const NAME_RE = /^[A-Za-z0-9_.-]{1,200}\.snapshot$/;
const UPSERT_BATCH = 1000;
const FLUSH_BYTES = 1 << 20;

/** A snapshot as Qdrant describes it. */
export interface SnapshotDescription {
  readonly name: string;
  readonly creation_time: string;
  readonly size: number;
  readonly checksum: string;
}

interface SnapshotHeader {
  readonly format: 'quiver-snapshot';
  readonly version: number;
  readonly createdAt: string;
  readonly collection: {
    readonly name: string;
    readonly dimension: number;
    readonly metric: MetricName;
    readonly hnsw: { m: number; efConstruction: number; efSearch: number };
    /** 'none' or { kind: 'scalar', quantile } (absent in snapshots of older versions). */
    readonly quantization?: JsonValue;
    /** True when the collection keeps its sealed vectors on disk (absent: false). */
    readonly onDisk?: boolean;
  };
  readonly points: number;
}

/** Checks a snapshot file name (no paths, no traversal). */
export function checkSnapshotName(name: string | undefined): string {
  if (name === undefined || !NAME_RE.test(name) || name.includes('..')) {
    throw notFound(`snapshot ${JSON.stringify(name)} does not exist (names end in .snapshot).`);
  }
  return name;
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[:.]/g, '-').replace('T', '-').replace('Z', '');
}

function damaged(what: string): QuiverError {
  return invalidArgument(`Snapshot is not a valid Quiver snapshot: ${what}.`);
}

function parseLine(line: string, what: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    throw damaged(`${what} is not JSON`);
  }
}

export class SnapshotStore {
  private readonly fs: FileSystem;
  private readonly dir: string;

  constructor(fs: FileSystem, dir: string) {
    this.fs = fs;
    this.dir = dir;
  }

  /** The snapshots directory this store reads and writes under. */
  get root(): string {
    return this.dir;
  }

  /**
   * `<dir>/<collection>`, after checking the name against the collection name rule and
   * that the path stays inside the snapshots directory (a name from a URL is hostile).
   */
  private collectionDir(collection: string): string {
    checkCollectionName(collection);
    const why = pathEscape(this.dir, collection);
    if (why !== undefined) {
      throw invalidArgument(`Collection name ${JSON.stringify(collection)} is refused: ${why}.`);
    }
    return `${this.dir}/${collection}`;
  }

  /** The file of snapshot `name` of `collection`, both names checked. */
  private snapshotPath(collection: string, name: string | undefined): string {
    const dir = this.collectionDir(collection);
    const checked = checkSnapshotName(name);
    if (pathEscape(dir, checked) !== undefined) {
      throw notFound(`snapshot ${JSON.stringify(name)} does not exist.`);
    }
    return `${dir}/${checked}`;
  }

  /** Writes a snapshot of `c` as it is now (a consistent scan) and describes it. */
  async create(c: Collection): Promise<SnapshotDescription> {
    const created = new Date();
    const dir = this.collectionDir(c.name);
    await this.fs.mkdirp(dir);
    const name = `${c.name}-${stamp(created)}-${Math.random().toString(36).slice(2, 8)}.snapshot`;
    const whole = createHash('sha256');
    const body = createHash('sha256');
    const encoder = new TextEncoder();
    let position = 0;
    // The directory is fsynced once, after the description is renamed in beside it.
    await replaceAtomically(
      this.fs,
      `${dir}/${name}`,
      async (fh) => {
        let pending: string[] = [];
        let pendingBytes = 0;
        const flush = async (): Promise<void> => {
          if (pending.length === 0) return;
          const bytes = encoder.encode(pending.join(''));
          pending = [];
          pendingBytes = 0;
          body.update(bytes);
          whole.update(bytes);
          await fh.write(bytes, position);
          position += bytes.length;
        };
        const add = async (line: string): Promise<void> => {
          pending.push(line);
          pendingBytes += line.length;
          if (pendingBytes >= FLUSH_BYTES) await flush();
        };
        const points = await c.count();
        const cfg = c.config;
        const header: SnapshotHeader = {
          format: 'quiver-snapshot',
          version: SNAPSHOT_FORMAT_VERSION,
          createdAt: created.toISOString(),
          collection: {
            name: cfg.name,
            dimension: cfg.dimension,
            metric: cfg.metric,
            hnsw: { ...cfg.hnsw },
            quantization: configJson(cfg)['quantization'] ?? 'none',
            ...(cfg.onDisk ? { onDisk: true } : {}),
          },
          points,
        };
        await add(`${JSON.stringify(header)}\n`);
        let written = 0;
        for await (const p of c.scan({ withVector: true })) {
          await add(`${JSON.stringify({ id: p.id, vector: p.vector, payload: p.payload })}\n`);
          written++;
        }
        await flush();
        const trailer = encoder.encode(
          `${JSON.stringify({ end: true, points: written, sha256: body.digest('hex') })}\n`,
        );
        whole.update(trailer);
        await fh.write(trailer, position);
        position += trailer.length;
      },
      { syncDir: false },
    );
    const description: SnapshotDescription = {
      name,
      creation_time: created.toISOString().replace('Z', ''),
      size: position,
      checksum: whole.digest('hex'),
    };
    await writeFileAtomic(this.fs, `${dir}/${name}.json`, JSON.stringify(description));
    await this.fs.syncDir(dir);
    return description;
  }

  /** The snapshots of a collection, oldest first. */
  async list(collection: string): Promise<SnapshotDescription[]> {
    const dir = this.collectionDir(collection);
    const out: SnapshotDescription[] = [];
    for (const entry of await this.fs.list(dir)) {
      if (!NAME_RE.test(entry)) continue;
      out.push(await this.describe(collection, entry));
    }
    return out.sort((a, b) => (a.creation_time < b.creation_time ? -1 : 1));
  }

  private async describe(collection: string, name: string): Promise<SnapshotDescription> {
    const dir = this.collectionDir(collection);
    try {
      const meta: unknown = JSON.parse(await readText(this.fs, `${dir}/${name}.json`));
      if (isJsonObject(meta) && typeof meta['checksum'] === 'string') {
        return meta as unknown as SnapshotDescription;
      }
    } catch {
      // no sidecar: compute below
    }
    const bytes = await this.fs.readFile(`${dir}/${name}`);
    return {
      name,
      creation_time: '',
      size: bytes.length,
      checksum: createHash('sha256').update(bytes).digest('hex'),
    };
  }

  /** The bytes of a snapshot; 404 when missing. */
  async read(collection: string, name: string | undefined): Promise<Uint8Array> {
    const path = this.snapshotPath(collection, name);
    const checked = checkSnapshotName(name);
    if (!(await this.fs.exists(path))) {
      throw notFound(`snapshot ${checked} of collection "${collection}" does not exist.`);
    }
    return this.fs.readFile(path);
  }

  /** Deletes a snapshot; 404 when missing. */
  async delete(collection: string, name: string | undefined): Promise<void> {
    const path = this.snapshotPath(collection, name);
    const checked = checkSnapshotName(name);
    if (!(await this.fs.exists(path))) {
      throw notFound(`snapshot ${checked} of collection "${collection}" does not exist.`);
    }
    await this.fs.unlink(path);
    await this.fs.unlink(`${path}.json`).catch(() => undefined);
  }

  /** True when the file exists in this store (recover from one of our own URLs). */
  async has(collection: string, name: string): Promise<boolean> {
    try {
      return await this.fs.exists(this.snapshotPath(collection, name));
    } catch {
      return false;
    }
  }
}

/**
 * Checks a snapshot's bytes whole (format, version, every line, the trailer's digest and
 * point count, and `checksum` when given) and returns its header and points.
 */
export function parseSnapshot(
  bytes: Uint8Array,
  checksum?: string,
): { header: SnapshotHeader; points: { id: PointId; vector: number[]; payload: Payload }[] } {
  if (checksum !== undefined) {
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== checksum.toLowerCase()) {
      throw invalidArgument(
        `Snapshot checksum mismatch: expected ${checksum}, the file has ${actual}.`,
      );
    }
  }
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  if (!text.endsWith('\n')) throw damaged('it does not end with a complete trailer line');
  const lastBreak = text.lastIndexOf('\n', text.length - 2);
  if (lastBreak < 0) throw damaged('it has no header');
  const bodyText = text.slice(0, lastBreak + 1);
  let trailer: unknown;
  try {
    trailer = JSON.parse(text.slice(lastBreak + 1));
  } catch {
    throw damaged('the trailer is not JSON (the file may be cut short)');
  }
  if (!isJsonObject(trailer) || trailer['end'] !== true || typeof trailer['sha256'] !== 'string') {
    throw damaged('the trailer is missing (the file may be cut short)');
  }
  const digest = createHash('sha256').update(new TextEncoder().encode(bodyText)).digest('hex');
  if (digest !== trailer['sha256']) throw damaged('its content does not match its SHA-256 digest');
  const lines = bodyText.split('\n');
  lines.pop();
  const header = parseLine(lines[0] ?? 'null', 'the header');
  if (!isJsonObject(header) || header['format'] !== 'quiver-snapshot') {
    throw damaged('the header does not say "quiver-snapshot"');
  }
  if (typeof header['version'] !== 'number' || header['version'] > SNAPSHOT_FORMAT_VERSION) {
    throw damaged(
      `format version ${JSON.stringify(header['version'])} is newer than this Quiver reads (${SNAPSHOT_FORMAT_VERSION})`,
    );
  }
  const points = lines.slice(1).map((line, i) => {
    const p = parseLine(line, `point line ${i + 1}`);
    if (!isJsonObject(p) || !Array.isArray(p['vector']))
      throw damaged(`point line ${i + 1} is malformed`);
    const payload = p['payload'] ?? {};
    if (!isJsonObject(payload))
      throw damaged(`point line ${i + 1} has a payload that is not an object`);
    return {
      id: checkPointId(p['id'], `point line ${i + 1}`),
      vector: p['vector'] as number[],
      payload,
    };
  });
  if (points.length !== trailer['points']) {
    throw damaged(
      `the trailer counts ${JSON.stringify(trailer['points'])} points, the file has ${points.length}`,
    );
  }
  return { header: header as unknown as SnapshotHeader, points };
}

/** A snapshot checked whole against the engine's own rules, ready to load under `config.name`. */
export interface CheckedSnapshot {
  /** The collection the snapshot was taken of (its header), for the caller's scope check. */
  readonly source: string;
  readonly config: CollectionConfig;
  readonly points: readonly { id: PointId; vector: number[]; payload: Payload }[];
}

/** Runs an engine check; its INVALID_ARGUMENT becomes "not a valid snapshot" naming `where`. */
function asDamage<T>(where: string, check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (isQuiverError(e)) throw damaged(`${where}: ${e.message}`);
    throw e;
  }
}

/**
 * Checks a snapshot's bytes whole and every value in it with the same rules the engine
 * applies to a write (collection config, ids, vectors, payloads and their size limit), so
 * that a restore refused for its content is refused before anything is dropped.
 */
export function checkSnapshot(
  bytes: Uint8Array,
  target: string,
  maxPayloadBytes: number,
  checksum?: string,
): CheckedSnapshot {
  checkCollectionName(target);
  const { header, points } = parseSnapshot(bytes, checksum);
  const cfg: unknown = header.collection;
  if (!isJsonObject(cfg) || typeof cfg['name'] !== 'string') {
    throw damaged('the header does not name its collection');
  }
  const source = asDamage('the header', () => checkCollectionName(cfg['name']));
  const config = asDamage('the header', () =>
    buildCollectionConfig(target, {
      dimension: cfg['dimension'],
      metric: cfg['metric'],
      ...(cfg['hnsw'] === undefined ? {} : { hnsw: cfg['hnsw'] }),
      ...(cfg['quantization'] === undefined ? {} : { quantization: cfg['quantization'] }),
      ...(cfg['onDisk'] === true ? { onDisk: true } : {}),
    }),
  );
  for (const [i, p] of points.entries()) {
    const where = `point line ${i + 1}`;
    asDamage(where, () => prepareVector(p.vector, config, where));
    asDamage(where, () => preparePayload(p.payload, target, where, maxPayloadBytes));
  }
  return { source, config, points };
}

/**
 * Upserts one batch, waiting for sealing when the memory budget pushes back: a restore is
 * a bulk load that must not fail half-way because it outran the flusher.
 */
async function upsertPatiently(
  db: Quiver,
  c: Collection,
  batch: CheckedSnapshot['points'],
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await c.upsert(batch);
      return;
    } catch (e) {
      if (!isQuiverError(e, 'BACKPRESSURE') || attempt >= 1000) throw e;
      await db.idle();
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/**
 * Replaces collection `checked.config.name` with a checked snapshot's content, atomically:
 * loads every point into a hidden staging collection, then swaps it in with one logged step
 * (Quiver.swapCollection) that drops the old collection and renames the staging one, and
 * calls `onDropped` (e.g. to forget the old collection's payload indexes). Any failure
 * before the swap (I/O, disk full, read-only mode) removes the staging collection and
 * leaves the old collection untouched; a crash before it leaves a staging collection the
 * next open removes.
 */
export async function restoreSnapshot(
  db: Quiver,
  checked: CheckedSnapshot,
  onDropped: () => Promise<void> = () => Promise.resolve(),
): Promise<number> {
  const { config, points } = checked;
  if (db.isReadOnly) {
    throw new QuiverError(
      'READ_ONLY',
      `Database ${db.path} is in read-only mode; collection "${config.name}" was left as it was.`,
      { collection: config.name },
    );
  }
  const replacing = db.hasCollection(config.name);
  const staging = await db.createStagingCollection(config.name, {
    dimension: config.dimension,
    metric: config.metric,
    hnsw: config.hnsw,
    quantization: config.quantization,
    onDisk: config.onDisk,
  });
  try {
    for (let i = 0; i < points.length; i += UPSERT_BATCH) {
      await upsertPatiently(db, staging, points.slice(i, i + UPSERT_BATCH));
    }
    await db.swapCollection(staging);
  } catch (e) {
    // The old collection was never touched; a staging collection left by a failed drop
    // here is removed at the next open.
    await db.dropStagingCollection(staging).catch(() => undefined);
    throw e;
  }
  if (replacing) await onDropped();
  return points.length;
}
