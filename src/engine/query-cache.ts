/**
 * QueryCache: the database-wide cache of search answers, least recently used first out,
 * bounded in bytes. An entry belongs to one collection incarnation (its CollectionState)
 * and one generation of it; a write bumps the generation, so an answer computed before
 * the write is never returned after it, and the write also drops that collection's
 * entries at once so they stop holding memory. Capacity 0 turns it off.
 */

/** Counters and sizes of one cache (the server turns them into `quiver_cache_*`). */
export interface CacheStats {
  readonly hits: number;
  readonly misses: number;
  /** Entries pushed out to make room. */
  readonly evictions: number;
  /** Entries dropped because their collection changed. */
  readonly invalidations: number;
  readonly entries: number;
  /** Estimated bytes held by the entries (keys and answers). */
  readonly bytes: number;
  readonly capacityBytes: number;
}

interface Entry<V> {
  readonly owner: object;
  readonly generation: number;
  readonly value: V;
  readonly bytes: number;
}

/** Bytes of bookkeeping per entry beyond its key and value (Map slot, entry object). */
const ENTRY_OVERHEAD = 96;
/** Keys remembered per group for {@link QueryCache.recent} (the semantic cache's scan). */
const RECENT_PER_GROUP = 32;
const MAX_GROUPS = 1024;

export class QueryCache<V> {
  /** Map order is use order: the first entry is the least recently used. */
  private readonly entries = new Map<string, Entry<V>>();
  /** Keys by owner, so a write drops its collection's entries without a full scan. */
  private readonly byOwner = new Map<object, Set<string>>();
  /** Bytes held per owner (a collection's share of the cache, in its memory stats). */
  private readonly ownerBytes = new Map<object, number>();
  /** A number per owner, prefixed to its keys (held weakly: owners come and go). */
  private readonly serials = new WeakMap<object, number>();
  private lastSerial = 0;
  /** The latest keys stored per owner and group, newest last (see {@link recent}). */
  private readonly groups = new Map<object, Map<string, string[]>>();
  private held = 0;
  private capacity: number;
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private invalidations = 0;

  constructor(capacityBytes: number) {
    this.capacity = capacityBytes;
  }

  get enabled(): boolean {
    return this.capacity > 0;
  }

  /**
   * The answer stored for `search` (a key) at `generation` of `owner` that `accept` takes
   * (a key may stand for more than one request: the caller checks the stored one is its own),
   * counted as a hit or a miss.
   */
  get(owner: object, generation: number, search: string, accept: (v: V) => boolean): V | undefined {
    const key = this.scoped(owner, search);
    const e = this.entries.get(key);
    if (e === undefined || e.owner !== owner || e.generation !== generation || !accept(e.value)) {
      if (e !== undefined && (e.owner !== owner || e.generation !== generation)) {
        this.drop(key, e, 'invalidated');
      }
      this.misses++;
      return undefined;
    }
    this.entries.delete(key); // re-inserted last: most recently used
    this.entries.set(key, e);
    this.hits++;
    return e.value;
  }

  /**
   * Stores an answer computed at `generation`; the caller checks that the generation is
   * still current (a write during an asynchronous search makes the answer stale).
   * An answer larger than a quarter of the capacity is not stored: it would push out
   * many small ones for one request.
   */
  set(
    owner: object,
    generation: number,
    search: string,
    value: V,
    valueBytes: number,
    group?: string,
  ): void {
    const key = this.scoped(owner, search);
    const bytes = valueBytes + key.length * 2 + ENTRY_OVERHEAD;
    if (!this.enabled || bytes > this.capacity / 4) return;
    if (group !== undefined) this.remember(owner, group, key);
    const old = this.entries.get(key);
    if (old !== undefined) this.drop(key, old, 'replaced');
    this.entries.set(key, { owner, generation, value, bytes });
    let keys = this.byOwner.get(owner);
    if (keys === undefined) this.byOwner.set(owner, (keys = new Set()));
    keys.add(key);
    this.held += bytes;
    this.ownerBytes.set(owner, (this.ownerBytes.get(owner) ?? 0) + bytes);
    this.evictTo(this.capacity);
  }

  /**
   * Up to the last 32 answers stored in `group` for `owner` at `generation` that are still
   * held, newest first; not counted as hits or misses (the caller counts what it finds).
   */
  recent(owner: object, generation: number, group: string): V[] {
    const keys = this.groups.get(owner)?.get(group) ?? [];
    const out: V[] = [];
    for (let i = keys.length - 1; i >= 0; i--) {
      const e = this.entries.get(keys[i]!);
      if (e !== undefined && e.owner === owner && e.generation === generation) out.push(e.value);
    }
    return out;
  }

  /** `search` within `owner`: two collections asked the same never share an entry. */
  private scoped(owner: object, search: string): string {
    let serial = this.serials.get(owner);
    if (serial === undefined) this.serials.set(owner, (serial = ++this.lastSerial));
    return `${serial}#${search}`;
  }

  private remember(owner: object, group: string, key: string): void {
    let byGroup = this.groups.get(owner);
    if (byGroup === undefined) this.groups.set(owner, (byGroup = new Map<string, string[]>()));
    const keys = (byGroup.get(group) ?? []).filter((k) => k !== key);
    keys.push(key);
    if (keys.length > RECENT_PER_GROUP) keys.shift();
    byGroup.set(group, keys);
    // Groups are option and filter combinations: bound how many one collection keeps.
    if (byGroup.size > MAX_GROUPS) byGroup.delete(byGroup.keys().next().value!);
  }

  /** Drops every entry of `owner` (its collection changed or went away). */
  invalidate(owner: object): void {
    this.groups.delete(owner);
    const keys = this.byOwner.get(owner);
    if (keys === undefined) return;
    for (const key of [...keys]) {
      const e = this.entries.get(key);
      if (e !== undefined) this.drop(key, e, 'invalidated');
    }
    this.byOwner.delete(owner);
  }

  /** Drops every entry (POST /admin/cache/clear). Returns how many there were. */
  clear(): number {
    const n = this.entries.size;
    this.entries.clear();
    this.byOwner.clear();
    this.ownerBytes.clear();
    this.groups.clear();
    this.held = 0;
    return n;
  }

  /** Changes the capacity at run time; shrinking evicts at once, 0 empties it. */
  resize(capacityBytes: number): void {
    this.capacity = capacityBytes;
    this.evictTo(capacityBytes);
  }

  /** Bytes held by `owner`'s entries. */
  bytesOf(owner: object): number {
    return this.ownerBytes.get(owner) ?? 0;
  }

  stats(): CacheStats {
    return {
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
      invalidations: this.invalidations,
      entries: this.entries.size,
      bytes: this.held,
      capacityBytes: this.capacity,
    };
  }

  private evictTo(limit: number): void {
    for (const [key, e] of this.entries) {
      if (this.held <= limit) return;
      this.drop(key, e, 'evicted');
    }
  }

  private drop(key: string, e: Entry<V>, why: 'evicted' | 'invalidated' | 'replaced'): void {
    this.entries.delete(key);
    this.held -= e.bytes;
    const keys = this.byOwner.get(e.owner);
    keys?.delete(key);
    if (keys?.size === 0) {
      this.byOwner.delete(e.owner);
      this.ownerBytes.delete(e.owner);
      this.groups.delete(e.owner);
    } else this.ownerBytes.set(e.owner, (this.ownerBytes.get(e.owner) ?? 0) - e.bytes);
    if (why === 'evicted') this.evictions++;
    if (why === 'invalidated') this.invalidations++;
  }
}
