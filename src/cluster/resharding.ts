/**
 * Resharding a cluster collection from N to M shards while it takes writes (`quiver
 * cluster reshard`). The new shards get new streams under a new uid, recorded in the
 * definition as `resharding`; every node then builds a copy of them beside the copy it
 * serves (staged-copy.ts). This operator's side:
 *
 * 1. copies each old stream's operations into the new streams, each split by the new hash,
 *    in passes until little is left (an id's operations all live in one old stream and
 *    all go to one new stream, so each id keeps its order);
 * 2. seals the old streams: JetStream refuses writes to them from then on, and the nodes
 *    hold such writes until step 4;
 * 3. copies the tail, which can no longer grow;
 * 4. switches the definition to the new uid and shard count; each node swaps its new copy
 *    in, and writes go to the new streams;
 * 5. deletes the old streams once every node follows the new definition.
 *
 * Progress (the last copied sequence of each old stream) is saved in the metadata bucket
 * after every window of operations, so a run that was stopped resumes when started again.
 * A window that failed is sent again whole, from its first operation: the new stream may
 * then hold some of its operations twice, but replaying operations again in order after
 * them ends in the same state (upserts and deletes are absolute, payload merges and key
 * deletes repeat to the same result). Before the seal a resharding can be aborted; after
 * it, only finished.
 */
import { randomUUID } from 'node:crypto';
import type { JetStreamClient, JetStreamManager } from 'nats';
import { QuiverError } from '../common/quiver-error.js';
import { checkCount } from './cluster-collections.js';
import type { ClusterCollectionDef, ClusterMeta, Resharding } from './cluster-meta.js';
import { notInCluster } from './cluster-meta.js';
import {
  decodeOpMessage,
  deleteShardStream,
  encodeOpMessage,
  ensureShardStream,
  publishOnce,
  sealShardStream,
  shardStreamState,
  unavailable,
} from './shard-log.js';
import { initialPlacement } from './shard-placement.js';
import type { ShardRef } from './shard-routing.js';
import { splitOp, streamName } from './shard-routing.js';
import { readShardStream } from './shard-stream-reader.js';
import { nextDefinition } from './staged-copy.js';

export interface ReshardOptions {
  /** Told what is happening, for progress lines. */
  readonly onProgress?: (message: string) => void;
  /** Operations left to copy below which the old streams are sealed (default 1000). */
  readonly sealBelow?: number;
  /** How long to wait for every node to switch before deleting the old streams (default 10 min). */
  readonly timeoutMs?: number;
  /** Called after each copied window with the operations copied so far in this run. */
  readonly onWindow?: (copied: number) => void;
  /** Called once the resharding has begun (or was found in progress to resume). */
  readonly onStarted?: () => void;
}

export interface ReshardResult {
  readonly collection: string;
  readonly from: number;
  readonly to: number;
  /** Operations copied by this run (a resumed run counts only its own). */
  readonly copied: number;
  readonly seconds: number;
}

/** Operations in flight per old stream, sent again whole when one fails. */
const WINDOW = 64;
/** Copy passes before the seal, however much is left (writes may outpace the copy). */
const MAX_PASSES = 5;
const SAVE_EVERY_MS = 1_000;
/**
 * A run that saved no progress for this long has stopped: another may take over. A run
 * renews well within it and stops sending once it cannot, so two runs never copy at once
 * (two would interleave their windows and store an id's operations out of order).
 */
const LEASE_MS = 30_000;
const WINDOW_ATTEMPTS = 8;
const POLL_MS = 250;

/** Reshards `name` to `shards` shards, or finishes the resharding to that count in progress. */
export async function reshard(
  meta: ClusterMeta,
  jsm: JetStreamManager,
  js: JetStreamClient,
  name: string,
  shards: number,
  options: ReshardOptions = {},
): Promise<ReshardResult> {
  const started = Date.now();
  const say = options.onProgress ?? (() => undefined);
  checkCount('shard_number', shards, name);
  let def = await defOf(meta, name);
  if (def.custom !== undefined) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `"${name}" uses custom sharding: its shards belong to shard keys and cannot be resharded. Create a key with the shards_number it needs instead.`,
      { collection: name },
    );
  }
  if (def.resharding === undefined && def.previous !== undefined) {
    // A run stopped after its switch: finish it first (delete the old streams).
    const { previous } = def;
    if (def.shards === shards) options.onStarted?.();
    await forgetPrevious(meta, jsm, def, options);
    if (def.shards === shards) {
      return { collection: name, from: previous.shards, to: shards, copied: 0, seconds: 0 };
    }
    def = await defOf(meta, name);
  }
  def = await begin(meta, jsm, def, shards, say);
  const r = def.resharding!;
  const copy = new StreamCopy(meta, jsm, js, def, r, options);
  await copy.load(); // refuses while another run holds the lease
  options.onStarted?.();
  try {
    def = await copyAndSeal(meta, jsm, def, copy, options);
  } catch (e) {
    await copy.release().catch(() => undefined); // a run started right after need not wait
    throw e;
  }
  const switched = await meta.updateCollection(name, (d) => {
    if (d.resharding?.uid !== r.uid) throw changedMeanwhile(name);
    return {
      ...nextDefinition({ ...d, resharding: r }),
      previous: { uid: d.uid, shards: d.shards },
    };
  });
  await meta.forgetReshardProgress(name);
  say(`switched to ${shards} shard(s); waiting for every node to swap its copy in`);
  await forgetPrevious(meta, jsm, switched, options);
  return {
    collection: name,
    from: def.shards,
    to: shards,
    copied: copy.copied,
    seconds: (Date.now() - started) / 1000,
  };
}

/** Copies in passes, seals the old streams and copies their tail: the sealed definition. */
async function copyAndSeal(
  meta: ClusterMeta,
  jsm: JetStreamManager,
  def: ClusterCollectionDef,
  copy: StreamCopy,
  options: ReshardOptions,
): Promise<ClusterCollectionDef> {
  const say = options.onProgress ?? (() => undefined);
  const name = def.name;
  const r = def.resharding!;
  if (!r.sealed) {
    for (let pass = 1; ; pass++) {
      const left = await copy.remaining();
      say(`pass ${pass}: ${left} operation(s) to copy into the ${r.shards} new shard(s)`);
      if (left <= (options.sealBelow ?? 1000) || pass > MAX_PASSES) break;
      await copy.pass();
    }
    // Recorded before any stream is sealed: from here on an abort is refused, so a run
    // stopped halfway through the sealing cannot leave sealed streams with no resharding.
    def = await meta.updateCollection(name, (d) => {
      if (d.resharding?.uid !== r.uid) throw changedMeanwhile(name);
      return { ...d, resharding: { ...r, sealed: true } };
    });
  }
  for (let s = 0; s < def.shards; s++) await sealShardStream(jsm, refOf(def, s));
  say(`old streams sealed: writes wait for the switch; copying the tail`);
  // Sealed streams cannot grow: copy until nothing is left (a second look checks it).
  do await copy.pass();
  while ((await copy.remaining()) > 0);
  return def;
}

/**
 * Stops a resharding not yet sealed: its streams are deleted, then the definition forgets
 * it and the nodes drop their new copies. INVALID_ARGUMENT once sealed (run the resharding
 * again to finish it), while a run holds the lease, or when none is in progress.
 */
export async function abortReshard(
  meta: ClusterMeta,
  jsm: JetStreamManager,
  name: string,
): Promise<Resharding> {
  const def = await defOf(meta, name);
  const r = def.resharding;
  if (r === undefined) {
    throw new QuiverError('INVALID_ARGUMENT', `"${name}" is not being resharded.`, {
      collection: name,
    });
  }
  if (r.sealed) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `The resharding of "${name}" to ${r.shards} shards has sealed the old streams, so it can only be finished: run quiver cluster reshard --collection ${name} --shards ${r.shards} again.`,
      { collection: name },
    );
  }
  const { progress } = await meta.reshardProgress(name);
  if (progress?.uid === r.uid && Date.now() - Date.parse(progress.renewedAt) < LEASE_MS) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `A resharding run of "${name}" is copying right now (last heard ${progress.renewedAt}); stop it first (Ctrl-C), then abort.`,
      { collection: name },
    );
  }
  // Its streams go first, then the definition forgets it (nodes drop their copies): a crash
  // in between leaves the resharding recorded, and a second abort finishes the job.
  for (let s = 0; s < r.shards; s++) {
    await deleteShardStream(jsm, { collection: name, uid: r.uid, shard: s });
  }
  await meta.updateCollection(name, (d) => {
    if (d.resharding?.uid !== r.uid) throw changedMeanwhile(name);
    return withoutResharding(d);
  });
  await meta.forgetReshardProgress(name);
  return r;
}

/** Starts the resharding (new streams, then the definition), or checks the one in progress. */
async function begin(
  meta: ClusterMeta,
  jsm: JetStreamManager,
  def: ClusterCollectionDef,
  shards: number,
  say: (m: string) => void,
): Promise<ClusterCollectionDef> {
  const name = def.name;
  if (def.restoring !== undefined) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `"${name}" is being restored from backup ${def.restoring.backup}; finish the restore before resharding it.`,
      { collection: name },
    );
  }
  if (def.resharding !== undefined) {
    if (def.resharding.shards !== shards) {
      throw new QuiverError(
        'INVALID_ARGUMENT',
        `"${name}" is being resharded to ${def.resharding.shards} shards (since ${def.resharding.startedAt}). Finish that with --shards ${def.resharding.shards}${def.resharding.sealed ? '' : ', or stop it with --abort'} before asking for ${shards}.`,
        { collection: name },
      );
    }
    say(`resuming the resharding of "${name}" from ${def.shards} to ${shards} shard(s)`);
    await ensureReshardStreams(jsm, def); // a run stopped before making them all
    return def;
  }
  if (def.shards === shards) {
    throw new QuiverError('INVALID_ARGUMENT', `"${name}" already has ${shards} shard(s).`, {
      collection: name,
    });
  }
  const uid = randomUUID().replaceAll('-', '').slice(0, 12);
  const resharding: Resharding = {
    uid,
    shards,
    sealed: false,
    startedAt: new Date().toISOString(),
    ...(def.placement === undefined ? {} : { placement: await newPlacement(meta, def, shards) }),
  };
  // Recorded before the streams are made, so an abort or drop after a crash in between
  // knows which streams to delete (nodes retry reading them until they exist).
  const recorded = await meta.updateCollection(name, (d) => {
    if (d.uid !== def.uid || d.resharding !== undefined) throw changedMeanwhile(name);
    return { ...d, resharding };
  });
  await ensureReshardStreams(jsm, recorded);
  say(`resharding "${name}" from ${def.shards} to ${shards} shard(s): new streams made`);
  return recorded;
}

/** Makes the new streams of the resharding of `def` (those that exist are kept). */
async function ensureReshardStreams(
  jsm: JetStreamManager,
  def: ClusterCollectionDef,
): Promise<void> {
  const r = def.resharding!;
  for (let s = 0; s < r.shards; s++) {
    await ensureShardStream(jsm, { collection: def.name, uid: r.uid, shard: s }, def.replicas);
  }
}

/**
 * Where the new shards go when the collection has placement: as many replicas per shard as
 * its most replicated shard has now, spread over every node up (a node added before the
 * resharding takes its part of the new shards).
 */
async function newPlacement(
  meta: ClusterMeta,
  def: ClusterCollectionDef,
  shards: number,
): Promise<NonNullable<Resharding['placement']>> {
  const up = (await meta.nodes()).map((n) => n.id);
  const factor = Math.max(1, ...Object.values(def.placement ?? {}).map((l) => l.length));
  return initialPlacement(shards, up, factor);
}

/** Operations read from one old stream: each split into its parts for the new shards. */
type Window = {
  readonly seq: number;
  /** When the operation was first stored: carried into the new streams for backups' --to-time. */
  readonly timeMs: number;
  readonly parts: readonly { readonly shard: number; readonly data: Uint8Array }[];
}[];

/** Copies old streams into new ones, window by window, saving how far it got. */
class StreamCopy {
  copied = 0;
  private done: Record<string, number> = {};
  private savedAt = 0;
  private revision = 0;
  private readonly owner = randomUUID();
  /** Saves run one at a time: the old shards are copied side by side. */
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private readonly meta: ClusterMeta,
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    private readonly def: ClusterCollectionDef,
    private readonly r: Resharding,
    private readonly o: ReshardOptions,
  ) {}

  /**
   * Takes the lease and reads the progress a stopped run saved (for this resharding only).
   * UNAVAILABLE while another run holds the lease.
   */
  async load(): Promise<void> {
    const { progress: p, revision } = await this.meta.reshardProgress(this.def.name);
    const mine = p?.uid === this.r.uid;
    if (mine && Date.now() - Date.parse(p.renewedAt) < LEASE_MS) throw this.busy(p.renewedAt);
    this.done = mine ? { ...p.copied } : {};
    this.revision = revision;
    await this.save();
  }

  /** Saves progress, renewing the lease; UNAVAILABLE if another run took it over. */
  save(): Promise<void> {
    this.saving = this.saving.then(() => this.saveNow());
    return this.saving;
  }

  private async saveNow(): Promise<void> {
    const next = await this.write(new Date());
    if (next === undefined) throw this.busy('just now');
    this.revision = next;
    this.savedAt = Date.now();
  }

  /** Stores the progress with the lease renewed at `renewedAt`, by compare-and-set. */
  private write(renewedAt: Date): Promise<number | undefined> {
    const progress = {
      uid: this.r.uid,
      copied: this.done,
      owner: this.owner,
      renewedAt: renewedAt.toISOString(),
    };
    return this.meta.saveReshardProgress(this.def.name, progress, this.revision);
  }

  /** Gives the lease up (a run that failed): the next run may start at once. */
  async release(): Promise<void> {
    await this.saving.catch(() => undefined);
    const next = await this.write(new Date(0));
    if (next !== undefined) this.revision = next;
  }

  private busy(when: string): QuiverError {
    return new QuiverError(
      'UNAVAILABLE',
      `Another run is resharding "${this.def.name}" (last heard ${when}). Let it finish; if it was stopped, run again after ${LEASE_MS / 1000} s.`,
      { collection: this.def.name },
    );
  }

  /** Operations in the old streams not copied yet. */
  async remaining(): Promise<number> {
    let n = 0;
    for (let s = 0; s < this.def.shards; s++) {
      n += (await shardStreamState(this.jsm, refOf(this.def, s))).last - this.at(s);
    }
    return n;
  }

  /** Copies every old stream up to where it ends now (the shards side by side). */
  async pass(): Promise<void> {
    const shards = Array.from({ length: this.def.shards }, (_, s) => s);
    await Promise.all(shards.map((s) => this.copyShard(s)));
    await this.save();
  }

  private at(shard: number): number {
    return this.done[String(shard)] ?? 0;
  }

  private async copyShard(shard: number): Promise<void> {
    const from = refOf(this.def, shard);
    const end = (await shardStreamState(this.jsm, from)).last;
    const stream = streamName(from);
    let window: Window = [];
    for await (const m of readShardStream(this.js, this.jsm, from, this.at(shard) + 1, end)) {
      const op = decodeOpMessage(m.data, stream, m.seq);
      const parts = [...splitOp(op, this.r.shards)].map(([s, part]) => ({
        shard: s,
        data: encodeOpMessage(part),
      }));
      window.push({ seq: m.seq, timeMs: m.timeMs, parts });
      if (window.length >= WINDOW) {
        await this.send(shard, window);
        window = [];
      }
    }
    if (window.length > 0) await this.send(shard, window);
  }

  /**
   * Publishes a window of operations, all at once (the leader stores one connection's
   * publishes in the order sent), and again whole after any failure.
   */
  private async send(shard: number, window: Window): Promise<void> {
    // Never send on an old lease: renew it first (which fails if another run took over).
    if (Date.now() - this.savedAt > LEASE_MS / 3) await this.save();
    for (let attempt = 1; ; attempt++) {
      const sent = window.flatMap((m) =>
        m.parts.map((p) =>
          // A fresh message id each time: deduplication would drop a resent operation
          // and leave a later one stored before it.
          publishOnce(this.js, this.newRef(p.shard), p.data, randomUUID(), undefined, m.timeMs),
        ),
      );
      const results = await Promise.allSettled(sent);
      const failed = results.find((x) => x.status === 'rejected');
      if (failed === undefined) break;
      if (attempt >= WINDOW_ATTEMPTS) {
        throw unavailable(
          `copying stream ${streamName(refOf(this.def, shard))} from sequence ${window[0]!.seq} (resharding "${this.def.name}"; run it again to resume)`,
          failed.reason,
        );
      }
      await new Promise((r) => setTimeout(r, 250 * attempt));
    }
    this.done[String(shard)] = window[window.length - 1]!.seq;
    this.copied += window.length;
    this.o.onWindow?.(this.copied);
    if (Date.now() - this.savedAt >= SAVE_EVERY_MS) await this.save();
  }

  private newRef(shard: number): ShardRef {
    return { collection: this.def.name, uid: this.r.uid, shard };
  }
}

/**
 * Waits until every node up follows the switched definition (or the timeout passes), then
 * deletes the old streams and clears `previous`.
 */
async function forgetPrevious(
  meta: ClusterMeta,
  jsm: JetStreamManager,
  def: ClusterCollectionDef,
  options: ReshardOptions,
): Promise<void> {
  const previous = def.previous;
  if (previous === undefined) return;
  const say = options.onProgress ?? (() => undefined);
  const end = Date.now() + (options.timeoutMs ?? 600_000);
  for (;;) {
    // Nodes that do not host the collection at all (one that refused it) are not waited for.
    const waiting = (await meta.nodes())
      .filter((n) => n.hosting?.[def.name] !== undefined && n.hosting[def.name] !== def.uid)
      .map((n) => n.id);
    if (waiting.length === 0) break;
    if (Date.now() > end) {
      say(`nodes ${waiting.join(', ')} have not switched yet; they rebuild from the new streams`);
      break;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  for (let s = 0; s < previous.shards; s++) {
    await deleteShardStream(jsm, { collection: def.name, uid: previous.uid, shard: s });
  }
  await meta.updateCollection(def.name, (d) =>
    d.uid === def.uid && d.previous !== undefined ? withoutPrevious(d) : d,
  );
  say(`old streams deleted`);
}

function refOf(def: ClusterCollectionDef, shard: number): ShardRef {
  return { collection: def.name, uid: def.uid, shard };
}

async function defOf(meta: ClusterMeta, name: string): Promise<ClusterCollectionDef> {
  const def = await meta.collection(name);
  if (def === undefined) throw notInCluster(name);
  return def;
}

function changedMeanwhile(name: string): QuiverError {
  return new QuiverError(
    'UNAVAILABLE',
    `The definition of "${name}" changed while it was being resharded (dropped, made again, or resharded by another run). Look at quiver cluster status and run again.`,
    { collection: name },
  );
}

function withoutResharding(def: ClusterCollectionDef): ClusterCollectionDef {
  const { resharding, ...rest } = def;
  return rest;
}

function withoutPrevious(def: ClusterCollectionDef): ClusterCollectionDef {
  const { previous, ...rest } = def;
  return rest;
}
