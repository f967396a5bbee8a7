/**
 * The cache tier: an LRU memory cache of stored records in front of a file or database backend.
 *
 * Invariants:
 * - It holds record envelopes exactly as stored (immutable, see record.ts), never decoded values:
 *   every cached read decodes the body again, so no caller can mutate what the cache holds.
 * - An entry is the key's stored record, or {@link NEGATIVE} ("nothing is stored under this key").
 *   An expired record is still a stored record (the sweep has not removed it yet): it is cached as
 *   itself, and `get` drops it and reports it unknown, so the caller reads the engine.
 * - A fill (the result of an engine read) never overwrites a newer change: see {@link
 *   RecordCache.generation}. Nor does a write's own record: the backend forgets a key instead when
 *   a change notice for it arrived while the write was in flight ({@link RecordCache.changedSince}).
 * - Bounded by entry count and optionally by bytes (`recordSize`, the measure `maxSize` uses; a
 *   negative entry counts its key's UTF-8 length plus {@link NEGATIVE_OVERHEAD}). A record larger
 *   than the byte bound is not cached at all.
 * - Every operation except `invalidateWhere` and `resize` is O(1) in the number of entries (a
 *   fill or update also measures its record, linear in the record's size like writing it is).
 *
 * Policy choices:
 * - Negative entries are cached (a `has()` or `get()` of a missing key is common and would cost an
 *   engine read each time); they are ordinary LRU entries and count against both bounds.
 * - Puts allocate (a value just written is likely read soon). Deletes do not: a deleted key that is
 *   cached becomes NEGATIVE in place, an uncached one stays uncached, so a `clear()` or a sweep of
 *   many keys does not flush the cache with negative entries.
 * - `evictions` counts entries dropped to respect a bound (including by `resize`), not expired
 *   records dropped by `get` (those count as misses) nor invalidations.
 */
import { invalid } from './errors';
import { utf8Length } from './keys';
import { recordSize, type RecordEnvelope } from './record';

/** What {@link RecordCache.get} returns for a key known to have no stored record. */
export const NEGATIVE: unique symbol = Symbol('tierstore.cache.negative');

/** Bytes a negative entry counts besides its key. */
export const NEGATIVE_OVERHEAD = 8;

/** Default of `changeWindow`: recent changes remembered exactly to judge fills. */
export const DEFAULT_CHANGE_WINDOW = 1024;

/** Counters and sizes of a {@link RecordCache}. */
export interface CacheMetrics {
  /** `get` calls answered from the cache (a negative entry counts: it saved an engine read). */
  hits: number;
  /** `get` calls not answered (unknown key, or an expired record dropped). */
  misses: number;
  /** Entries dropped to stay within `maxEntries` / `maxBytes`. */
  evictions: number;
  /** Fills ignored because the key changed while the engine read was in flight (or might have). */
  staleFills: number;
  /** Entries held now (negative ones included). */
  entries: number;
  /** Bytes held now (see the module comment). */
  bytes: number;
  /** `maxEntries`. */
  capacity: number;
  /** `maxBytes`, or undefined when only the entry count is bounded. */
  maxBytes: number | undefined;
}

/** Options of a {@link RecordCache}. */
export interface RecordCacheOptions {
  /** Most entries held (the spec's `cacheSize`); 0 caches nothing. */
  maxEntries: number;
  /** Most bytes held, as `recordSize` counts them. */
  maxBytes?: number | undefined;
  /**
   * How many of the latest changes are remembered by key to judge fills (default 1024). A fill
   * whose read started more changes ago than that is ignored even when its key did not change:
   * safe, at worst one more engine read later.
   */
  changeWindow?: number;
}

/** An entry, linked in recency order (a doubly linked ring through a sentinel). */
class Slot {
  prev: Slot = this;
  next: Slot = this;
  constructor(readonly key: string, public rec: RecordEnvelope | typeof NEGATIVE, public size: number) {}
}

/**
 * An LRU cache of stored records keyed by record key.
 *
 * The backend uses it like this (the stale-fill guard is the `generation` taken before the read):
 * ```ts
 * const hit = cache.get(key, Date.now());
 * if (hit === NEGATIVE) return undefined;
 * if (hit !== undefined) return decodeValue(hit.b);
 * const g = cache.generation();
 * const raw = await engine.get('r', key);
 * const rec = raw === undefined ? undefined : checkEnvelope(raw, key);
 * cache.fill(key, rec, g);          // ignored if an update/invalidate of key happened since g
 * // ...and after every applied write: cache.update(key, newRecordOrUndefined), or
 * // cache.invalidate(key) if cache.changedSince(key, generationBeforeTheWrite)
 * ```
 */
export class RecordCache {
  private readonly slots = new Map<string, Slot>();
  /**
   * Sentinel of the recency ring: `lru.next` is the least recently used entry, `lru.prev` the most
   * recent. (A linked list, not Map delete+set: a hit then costs pointer moves, 2-3x cheaper.)
   */
  private readonly lru = new Slot('', NEGATIVE, 0);
  private maxEntries = 0;
  private maxBytes: number | undefined;
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private staleFills = 0;
  /** +1 per change (update, invalidate, invalidateWhere). */
  private clock = 0;
  /** Key -> clock of its last change, for the keys changed in the last `window` changes. */
  private readonly recent = new Map<string, number>();
  /** The last `window` changes (key and clock), at index clock % window. */
  private readonly ringKeys: (string | undefined)[];
  private readonly ringAt: Float64Array;
  /** Every change not in `recent` happened at or before this clock. */
  private floor = 0;
  private readonly window: number;

  constructor(options: RecordCacheOptions) {
    const window = options.changeWindow ?? DEFAULT_CHANGE_WINDOW;
    if (!Number.isSafeInteger(window) || window < 1) invalid(`changeWindow must be a positive integer, got ${String(window)}`);
    this.window = window;
    this.ringKeys = new Array<string | undefined>(window).fill(undefined);
    this.ringAt = new Float64Array(window);
    this.resize(options.maxEntries, options.maxBytes);
  }

  /**
   * The current change generation. Take it before issuing an engine read and pass it to
   * {@link fill}: the fill is ignored when `key` was updated or invalidated since (the read may
   * have seen the record from before that change), so a slow read can never put back an older
   * record over a newer one. The generation is global (one counter, no per-key state kept for
   * uncached keys); the last `changeWindow` changed keys are tracked exactly, older changes only
   * by a floor, so a read that outlives more changes than that is conservatively ignored.
   */
  generation(): number {
    return this.clock;
  }

  /**
   * The cached record of `key`, {@link NEGATIVE} when it is known that nothing is stored under it,
   * or undefined when unknown (read the engine, then {@link fill}). Counts a hit or a miss and
   * makes the entry the most recently used. An expired record (`e !== 0 && e <= now`) is dropped
   * and reported unknown: the caller's engine read sees whether the sweep removed it.
   */
  get(key: string, now: number): RecordEnvelope | typeof NEGATIVE | undefined {
    const slot = this.slots.get(key);
    if (slot === undefined) {
      this.misses++;
      return undefined;
    }
    const rec = slot.rec;
    if (rec !== NEGATIVE && rec.e !== 0 && rec.e <= now) {
      this.drop(key, slot);
      this.misses++;
      return undefined;
    }
    this.hits++;
    if (slot.next !== this.lru) {
      unlink(slot);
      this.append(slot);
    }
    return rec;
  }

  /**
   * Caches the result of an engine read of `key` (the stored record as read, expired or not;
   * undefined when nothing is stored), unless `key` changed since `generation` was taken.
   * Returns whether it was cached.
   */
  fill(key: string, rec: RecordEnvelope | undefined, generation: number): boolean {
    if (this.changedSince(key, generation)) {
      this.staleFills++;
      return false;
    }
    this.put(key, rec ?? NEGATIVE);
    return true;
  }

  /**
   * After a write of `key` was applied: `rec` is its new stored record (a put), or undefined (a
   * delete, an expiry). A put is cached as most recently used; a delete makes a cached entry
   * negative in place and leaves an uncached key uncached. In-flight fills of `key` are voided.
   */
  update(key: string, rec: RecordEnvelope | undefined): void {
    this.changed(key);
    if (rec !== undefined) {
      this.put(key, rec);
      return;
    }
    const slot = this.slots.get(key);
    if (slot === undefined || slot.rec === NEGATIVE) return;
    const size = negativeSize(key);
    this.bytes += size - slot.size;
    slot.rec = NEGATIVE;
    slot.size = size;
  }

  /** Was `key` updated or invalidated since `generation` was taken (or, that long ago, might it have been)? */
  changedSince(key: string, generation: number): boolean {
    return (this.recent.get(key) ?? this.floor) > generation;
  }

  /** Forgets `key` and voids its in-flight fills (a change notice whose new record we do not have). */
  invalidate(key: string): void {
    this.changed(key);
    const slot = this.slots.get(key);
    if (slot !== undefined) this.drop(key, slot);
  }

  /**
   * Forgets every key matching `pred`, or everything without one, and voids every in-flight fill
   * (the keys of in-flight reads are not tracked, so all are treated as possibly matching).
   */
  invalidateWhere(pred?: (key: string) => boolean): void {
    this.floor = ++this.clock;
    this.recent.clear(); // (ring entries left behind no longer match `recent`: they are inert)
    if (pred === undefined) {
      this.slots.clear();
      this.lru.next = this.lru.prev = this.lru;
      this.bytes = 0;
      return;
    }
    for (const [key, slot] of this.slots) if (pred(key)) this.drop(key, slot);
  }

  /** Counters since construction, and the current size. */
  metrics(): CacheMetrics {
    return {
      hits: this.hits, misses: this.misses, evictions: this.evictions, staleFills: this.staleFills,
      entries: this.slots.size, bytes: this.bytes, capacity: this.maxEntries, maxBytes: this.maxBytes,
    };
  }

  /** Changes the bounds, evicting least recently used entries to meet them (counted as evictions). */
  resize(maxEntries: number, maxBytes?: number): void {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 0) invalid(`cacheSize must be a non-negative integer, got ${String(maxEntries)}`);
    if (maxBytes !== undefined && (!Number.isSafeInteger(maxBytes) || maxBytes < 0)) invalid(`cache maxBytes must be a non-negative integer, got ${String(maxBytes)}`);
    this.maxEntries = maxEntries;
    this.maxBytes = maxBytes;
    this.evict();
  }

  /** Records a change of `key` for the fill check; O(1). */
  private changed(key: string): void {
    const at = ++this.clock;
    this.recent.set(key, at);
    // The ring slot being reused holds the change made `window` changes ago. If that is still its
    // key's last change, the key leaves `recent` and the floor covers it. (A ring, not Map
    // iteration: Map keeps deleted entries as holes that a front-to-back iterator has to skip.)
    const i = at % this.window;
    const old = this.ringKeys[i];
    if (old !== undefined && this.recent.get(old) === this.ringAt[i]) {
      this.recent.delete(old);
      if (this.ringAt[i]! > this.floor) this.floor = this.ringAt[i]!;
    }
    this.ringKeys[i] = key;
    this.ringAt[i] = at;
  }

  /** Stores an entry as the most recently used, then evicts to the bounds. */
  private put(key: string, rec: RecordEnvelope | typeof NEGATIVE): void {
    const size = rec === NEGATIVE ? negativeSize(key) : sizeOf(key, rec);
    let slot = this.slots.get(key);
    if (this.maxEntries === 0 || (this.maxBytes !== undefined && size > this.maxBytes)) {
      if (slot !== undefined) this.drop(key, slot);
      return;
    }
    if (slot === undefined) {
      slot = new Slot(key, rec, size);
      this.slots.set(key, slot);
    } else {
      // Reused in place: no Map work for a key that stays cached.
      unlink(slot);
      this.bytes -= slot.size;
      slot.rec = rec;
      slot.size = size;
    }
    this.append(slot);
    this.bytes += size;
    this.evict();
  }

  /** Links `slot` as the most recently used. */
  private append(slot: Slot): void {
    const last = this.lru.prev;
    slot.prev = last;
    slot.next = this.lru;
    last.next = slot;
    this.lru.prev = slot;
  }

  private drop(key: string, slot: Slot): void {
    this.slots.delete(key);
    unlink(slot);
    this.bytes -= slot.size;
  }

  /** Evicts from the least recently used end until both bounds hold. */
  private evict(): void {
    const maxBytes = this.maxBytes ?? Infinity;
    while (this.slots.size > this.maxEntries || this.bytes > maxBytes) {
      const slot = this.lru.next;
      this.drop(slot.key, slot);
      this.evictions++;
    }
  }
}

function unlink(slot: Slot): void {
  slot.prev.next = slot.next;
  slot.next.prev = slot.prev;
}

const NON_ASCII = /[^\x00-\x7f]/;
/** `recordSize` of a record with an empty key and body: the fixed header. */
const HEADER_SIZE = recordSize('', { f: 0, c: 0, u: 0, e: 0, l: 0, t: undefined, n: 0, b: '' });

/**
 * Exactly `recordSize(key, rec)`, 4x faster for the common case (ASCII key and JSON body, no
 * tags): a native regex scan instead of a per-character UTF-8 length loop.
 */
function sizeOf(key: string, rec: RecordEnvelope): number {
  const b = rec.b;
  if (typeof b === 'string' && rec.t === undefined && !NON_ASCII.test(b) && !NON_ASCII.test(key)) return key.length + HEADER_SIZE + b.length;
  return recordSize(key, rec);
}

function negativeSize(key: string): number {
  return utf8Length(key) + NEGATIVE_OVERHEAD;
}
