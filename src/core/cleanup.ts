/**
 * Auto-cleanup (`enableAutoCleanup`): the order in which entries are evicted and the choice of the
 * entries that free a given number of bytes. Loaded with import() when auto-cleanup is first
 * used. The Backend keeps the byte count, records uses here, and deletes the chosen entries in
 * the same engine batch as the write that needs the room.
 *
 * What `victims` guarantees:
 * - Expired entries come first, then the strategy's order; a key of `keep` (written by the writes
 *   that need the room) or pinned by an open transaction is never chosen.
 * - Only entries that exist are chosen, counted at their stored size (read from the engine, or as
 *   recorded here when every write goes through this backend: `Room.exclusive`); nothing is chosen
 *   unless the chosen entries free at least `bytes` (the write then fails with StorageQuotaError).
 *   The plan that evicts them counts every record again: a wrong guess costs a retry, never bytes.
 * - Its work grows with the entries it chooses (and the kept or pinned keys it skips), not with
 *   the size of the store: every order is walked lazily and stops once enough bytes are found.
 */
import type { BatchOp, Engine, MaybePromise, RangeQuery, Space, StoredValue } from './engine';
import { checkEnvelope, recordSize, type RecordEnvelope } from './record';
import type { StorageEvents } from './types';

/** How auto-cleanup picks entries to evict (expired entries always go first). */
export type CleanupStrategy = 'lru' | 'lfu' | 'ttl';

/** Most entries kept for reuse. */
const SPARE = 1024;

/** A key in the recency ring and, once lfu walks began, in the ring of its use count. */
class Use {
  prev: Use = this;
  next: Use = this;
  /** Neighbours in the ring of keys with the same use count. */
  peerPrev: Use = this;
  peerNext: Use = this;
  /** +1 each time the key leaves its place: a walk paused on it must not follow its links. */
  moves = 0;
  /** Stored size of the key's record as last written here; -1: not known. */
  size = -1;
  /** The record `size` is of, when the engine keeps the very object written (memory). */
  rec: RecordEnvelope | undefined = undefined;
  constructor(public key: string, public count: number) {}
}

function link(before: Use, u: Use): void {
  u.prev = before.prev;
  u.next = before;
  before.prev.next = u;
  before.prev = u;
}

function unlink(u: Use): void {
  u.prev.next = u.next;
  u.next.prev = u.prev;
  u.moves++;
}

/**
 * Keys in order of last use (least recent first) with their use counts, and by use count on demand
 * (lfu). Linked rings, not Map delete+set: a store at its limit forgets its oldest keys all the
 * time, and walking a Map from its start skips every entry deleted since its last rehash (at 4,000
 * keys, ~0.1 ms per eviction round, more than the walk itself).
 */
export class AccessOrder {
  private readonly uses = new Map<string, Use>();
  /** Sentinel of the recency ring: `ring.next` is the least recently used key. */
  private readonly ring = new Use('', 0);
  /**
   * Use count -> sentinel of the ring of keys with that count, least recent first (a key joins its
   * ring at its latest use). Built on the first lfu walk and kept from then on; lru never pays for it.
   */
  private byCount: Map<number, Use> | undefined;
  /** +1 each time the count rings are rebuilt: a paused lfu walk starts over. */
  private epoch = 0;

  /** Entries of forgotten keys, reused for new ones (a store at its limit forgets one per write). */
  private readonly spare: Use[] = [];

  /**
   * Records a use of `key`: a read (no `size`), or a write with the stored size of the record it
   * wrote (-1 when not known) and, where the engine keeps that very object, the record.
   */
  touch(key: string, size?: number, rec?: RecordEnvelope): void {
    let u = this.uses.get(key);
    if (u === undefined) {
      u = this.spare.pop() ?? new Use(key, 0);
      u.key = key;
      u.count = 1;
      this.uses.set(key, u);
    } else {
      unlink(u);
      if (this.byCount) this.leave(u);
      u.count++;
    }
    if (size !== undefined) {
      u.size = size;
      u.rec = size >= 0 ? rec : undefined;
    }
    link(this.ring, u);
    if (this.byCount) this.enter(u);
  }

  /** `key` is gone from the store. */
  forget(key: string): void {
    const u = this.uses.get(key);
    if (u === undefined) return;
    this.uses.delete(key);
    unlink(u);
    if (this.byCount) this.leave(u);
    u.size = -1;
    u.rec = undefined;
    if (this.spare.length < SPARE) this.spare.push(u);
  }

  /** The stored size of `rec`, the record of `key`, if it is the very record last written here; else undefined. */
  sizeOf(key: string, rec: RecordEnvelope): number | undefined {
    const u = this.uses.get(key);
    return u !== undefined && u.rec === rec && u.size >= 0 ? u.size : undefined;
  }

  /**
   * Puts the keys no use was recorded for (given oldest write first, with their stored sizes) ahead
   * of every known key, with no use; records the sizes of the known ones.
   */
  seed(entries: Iterable<readonly [key: string, size: number, ...unknown[]]>): void {
    const first = this.ring.next;
    for (const [k, size] of entries) {
      let u = this.uses.get(k);
      if (u === undefined) {
        u = new Use(k, 0);
        this.uses.set(k, u);
        link(first, u);
      }
      u.size = size;
      u.rec = undefined;
    }
    if (this.byCount) this.countUses();
  }

  /** The stored size of `key`'s record as last written or measured here; -1: not known. */
  knownSize(key: string): number {
    return this.uses.get(key)?.size ?? -1;
  }

  /** A walk of the keys, least recently used first (lru) or least often, ties least recently (lfu). */
  cursor(by: 'lru' | 'lfu'): Cursor {
    return by === 'lfu' ? new CountCursor(this) : new RingCursor(this.ring, 'next');
  }

  /** The count rings (built on first use), for CountCursor. */
  countRings(): Map<number, Use> {
    return this.byCount ?? this.countUses();
  }

  /** +1 each time the count rings are rebuilt, for CountCursor. */
  get rebuilds(): number {
    return this.epoch;
  }

  private countUses(): Map<number, Use> {
    this.epoch++;
    this.byCount = new Map();
    for (let u = this.ring.next; u !== this.ring; u = u.next) this.enter(u);
    return this.byCount;
  }

  private enter(u: Use): void {
    let ring = this.byCount!.get(u.count);
    if (!ring) this.byCount!.set(u.count, (ring = new Use('', u.count)));
    u.peerPrev = ring.peerPrev;
    u.peerNext = ring;
    ring.peerPrev.peerNext = u;
    ring.peerPrev = u;
  }

  private leave(u: Use): void {
    u.peerPrev.peerNext = u.peerNext;
    u.peerNext.peerPrev = u.peerPrev;
    const ring = this.byCount!.get(u.count)!;
    if (ring.peerNext === ring) this.byCount!.delete(u.count);
  }
}

/**
 * A walk of keys that may pause (an engine read) while keys are used or forgotten. A key that
 * stayed put still links to its right successor; when the key the walk paused on moved, the walk
 * starts over and says so (`restarts`). It never skips a key that stayed put, but may yield a key
 * again (after a restart, or a key used while it paused, which moved behind it): a caller that
 * pauses skips the keys it has seen.
 */
export interface Cursor {
  /** The next key, or undefined at the end. */
  next(): string | undefined;
  /** `AccessOrder.knownSize` of the key `next()` returned. */
  readonly size: number;
  /** How many times the walk started over. */
  readonly restarts: number;
}

class RingCursor implements Cursor {
  restarts = 0;
  get size(): number {
    return this.at.size;
  }
  /** The key the walk is on (the sentinel before the start and at the end), and its moves then. */
  private at: Use;
  private moves = 0;
  private ended = false;

  constructor(private readonly ring: Use, private readonly link: 'next' | 'peerNext') {
    this.at = ring;
  }

  next(): string | undefined {
    if (this.ended) return undefined;
    const ring = this.ring;
    let u: Use;
    if (this.at === ring || this.at.moves === this.moves) u = this.at[this.link];
    else {
      this.restarts++;
      u = ring[this.link];
    }
    if (u === ring) {
      this.ended = true;
      return undefined;
    }
    this.at = u;
    this.moves = u.moves;
    return u.key;
  }
}

/** Keys by use count, then recency: the count rings in ascending count order. */
class CountCursor implements Cursor {
  restarts = 0;
  get size(): number {
    return this.ring?.size ?? -1;
  }
  private buckets: Map<number, Use>;
  private epoch: number;
  private counts: number[];
  private index = 0;
  private ring: RingCursor | undefined;

  constructor(private readonly order: AccessOrder) {
    this.buckets = order.countRings();
    this.epoch = order.rebuilds;
    // Few distinct counts in practice: sorting them is cheap, sorting the keys is not.
    this.counts = [...this.buckets.keys()].sort((a, b) => a - b);
  }

  next(): string | undefined {
    if (this.order.rebuilds !== this.epoch) {
      // The count rings were rebuilt while the walk paused: start over on the new ones.
      this.restarts++;
      this.buckets = this.order.countRings();
      this.epoch = this.order.rebuilds;
      this.counts = [...this.buckets.keys()].sort((a, b) => a - b);
      this.index = 0;
      this.ring = undefined;
    }
    for (;;) {
      if (this.ring) {
        const k = this.ring.next();
        if (k !== undefined) return k;
        this.restarts += this.ring.restarts;
        this.ring = undefined;
      }
      if (this.index >= this.counts.length) return undefined;
      const ring = this.buckets.get(this.counts[this.index++]!);
      if (ring) this.ring = new RingCursor(ring, 'peerNext');
    }
  }
}

/** What must be freed, and what must not be touched. */
export interface Room {
  /** Bytes that must be freed for the writes to fit. */
  bytes: number;
  /** Bytes to aim for (≥ bytes): evicting a little ahead spares the next writes an eviction each. */
  ahead: number;
  /** Keys written by the writes that need the room. */
  keep: ReadonlySet<string>;
  /** Keys in an open transaction's write set. */
  pinned: ReadonlyMap<string, unknown>;
  /**
   * Every write of the store went through this backend (a single-context engine), so the sizes
   * the access order recorded are current: keys with one are chosen without reading them.
   */
  exclusive: boolean;
}

/** Where the expiry index is: its keyspace entries are a fixed-width deadline, then the record key. */
export interface ExpiryIndex {
  space: Space;
  digits: number;
  /** The range of the entries due now; undefined when none can be due. */
  due: RangeQuery | undefined;
}

/** Candidates whose records are read (and measured) per engine call. */
const CHUNK = 16;
/** Expiry-index entries read per engine call. */
const PAGE = 64;

/** An engine read the choice needs next: records to measure, or a page of the expiry index. */
type Read = { keys: string[]; q?: undefined } | { keys?: undefined; q: RangeQuery };

function read(engine: Engine, r: Read, expiry: ExpiryIndex): MaybePromise<unknown> {
  return r.keys ? engine.getMany('r', r.keys) : engine.keys(expiry.space, r.q);
}

/**
 * Entries to evict so that at least `room.bytes` (aiming for `room.ahead`) are freed: expired ones
 * first, then by `strategy` — lru, lfu, or ttl (soonest deadline first, then lru). Empty when not
 * even every evictable entry would free `room.bytes`. With `sync` (a synchronous engine: its
 * reads return values), chosen without yielding, so that a write can evict within its own call.
 */
export function victims(engine: Engine, strategy: CleanupStrategy, order: AccessOrder, room: Room, expiry: ExpiryIndex, sync: true): string[];
export function victims(engine: Engine, strategy: CleanupStrategy, order: AccessOrder, room: Room, expiry: ExpiryIndex, sync?: boolean): string[] | Promise<string[]>;
export function victims(engine: Engine, strategy: CleanupStrategy, order: AccessOrder, room: Room, expiry: ExpiryIndex, sync?: boolean): string[] | Promise<string[]> {
  if (!sync) return walk(engine, new Search(strategy, order, room, expiry, true), expiry);
  const search = new Search(strategy, order, room, expiry, false);
  for (let r = search.next(); r; r = search.next()) {
    const value = read(engine, r, expiry);
    if (typeof (value as Promise<unknown> | undefined)?.then === 'function') throw new Error('victims: the engine is not synchronous');
    search.take(value);
  }
  return search.chosen();
}

/** The asynchronous driver. Keys may be used while a read is pending and move behind the walk: it skips what it has seen. */
async function walk(engine: Engine, search: Search, expiry: ExpiryIndex): Promise<string[]> {
  for (let r = search.next(); r; r = search.next()) search.take(await read(engine, r, expiry));
  return search.chosen();
}

/**
 * The choice as a state machine: `next()` names the engine read it needs (undefined when done),
 * `take()` is given its result. Its drivers above await the reads or not. (Not a generator: at
 * ~60 entries per eviction, resuming generators cost as much as the rest of the walk.)
 */
class Search {
  private readonly picked: string[] = [];
  private freed = 0;
  /** Candidates not measured yet, and the ones being measured. */
  private pending: string[] = [];
  /** A key of known size waits behind `pending`: measure them now rather than fill a chunk. */
  private ready = false;
  private measuring: string[] | undefined;
  /**
   * Offered keys, kept only once a key can come twice: after the expiry index (its keys come again
   * in the order), when the walk restarted, or once it paused for a read (a key used meanwhile
   * moves behind it).
   */
  private seen: Set<string> | undefined;
  private readonly pauses: boolean;
  /** Expiry-index ranges still to walk (entries due now; for ttl, then all), and where the current one is. */
  private readonly ranges: RangeQuery[] = [];
  private after: string | undefined;
  private readonly cursor: Cursor;

  constructor(strategy: CleanupStrategy, private readonly order: AccessOrder, private readonly room: Room, private readonly expiry: ExpiryIndex, pauses: boolean) {
    if (expiry.due) this.ranges.push(expiry.due);
    if (strategy === 'ttl') this.ranges.push({});
    if (this.ranges.length > 0) this.seen = new Set();
    this.pauses = pauses;
    this.cursor = order.cursor(strategy === 'lfu' ? 'lfu' : 'lru');
  }

  next(): Read | undefined {
    for (;;) {
      if (this.freed >= this.room.ahead) return undefined;
      if (this.pending.length >= CHUNK || this.ready) return this.measure();
      const range = this.ranges[0];
      if (range) return { q: { ...range, ...(this.after === undefined ? {} : { gt: this.after }), limit: PAGE } };
      const restarts = this.cursor.restarts;
      const k = this.cursor.next();
      if (this.cursor.restarts !== restarts) this.seen ??= new Set(this.picked.concat(this.pending));
      if (k === undefined) return this.pending.length > 0 ? this.measure() : undefined;
      this.offer(k, this.cursor.size);
    }
  }

  take(result: unknown): void {
    const batch = this.measuring;
    if (batch === undefined) {
      // A page of the expiry index.
      const keys = result as string[];
      for (const indexKey of keys) {
        const k = indexKey.slice(this.expiry.digits);
        this.offer(k, this.order.knownSize(k));
      }
      if (keys.length < PAGE) {
        this.ranges.shift();
        this.after = undefined;
      } else this.after = keys[keys.length - 1];
      return;
    }
    this.measuring = undefined;
    const raws = result as (StoredValue | undefined)[];
    const ahead = this.room.ahead;
    for (let i = 0; i < batch.length && this.freed < ahead; i++) {
      const k = batch[i]!;
      const raw = raws[i];
      if (raw === undefined) {
        this.order.forget(k); // deleted where the backend did not see it (another tab)
        continue;
      }
      const rec = checkEnvelope(raw, k);
      this.picked.push(k);
      this.freed += this.order.sizeOf(k, rec) ?? recordSize(k, rec);
    }
  }

  chosen(): string[] {
    return this.freed >= this.room.bytes ? this.picked : [];
  }

  /** A candidate, with its size if known (-1: not known). */
  private offer(k: string, size: number): void {
    if (this.room.keep.has(k) || (this.room.pinned.size > 0 && this.room.pinned.has(k))) return;
    if (this.seen) {
      if (this.seen.has(k)) return;
      this.seen.add(k);
    }
    // A known size needs no read (while earlier candidates wait for theirs, it waits too: the order holds).
    if (size >= 0 && this.room.exclusive) {
      if (this.pending.length === 0) {
        this.picked.push(k);
        this.freed += size;
        return;
      }
      this.ready = true;
    }
    this.pending.push(k);
  }

  private measure(): Read {
    if (this.pauses) this.seen ??= new Set(this.picked.concat(this.pending));
    this.ready = false;
    this.measuring = this.pending;
    this.pending = [];
    return { keys: this.measuring };
  }
}

/** What deleting auto-cleanup's victims adds to a write's batch. */
export interface Evictions {
  batch: BatchOp[];
  /** Stored bytes of the records deleted. */
  freed: number;
  /** The keys deleted (victims no longer stored are skipped). */
  evicted: string[];
  events: ['evict', StorageEvents['evict']][] | undefined;
}

/**
 * The deletes of the victims `keys`, given their stored values `olds` (same order): what the loop in
 * Backend.plan() does for an evict op, for stores without indexes. Each record counts at its stored
 * size (`order.sizeOf` when it is the very record written, else measured). `backend`: the name for
 * `evict` events, undefined when nobody listens.
 */
export function evictions(keys: readonly string[], olds: readonly (StoredValue | undefined)[], strategy: CleanupStrategy, order: AccessOrder | undefined, backend: string | undefined, expiryKey: (expiresAt: number, key: string) => string): Evictions {
  const now = Date.now();
  const out: Evictions = { batch: [], freed: 0, evicted: [], events: undefined };
  for (let i = 0; i < keys.length; i++) {
    const raw = olds[i];
    if (raw === undefined) continue;
    const key = keys[i]!;
    const old = checkEnvelope(raw, key);
    out.batch.push({ type: 'del', space: 'r', key });
    if (old.e !== 0) out.batch.push({ type: 'del', space: 'x', key: expiryKey(old.e, key) });
    out.freed += order?.sizeOf(key, old) ?? recordSize(key, old);
    out.evicted.push(key);
    if (backend !== undefined) (out.events ??= []).push(['evict', { key, backend, reason: old.e !== 0 && old.e <= now ? 'expired' : strategy }]);
  }
  return out;
}
