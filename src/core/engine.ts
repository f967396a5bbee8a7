/**
 * The engine interface: the only thing a storage adapter implements. An engine is an ordered
 * key → value store split into a few named keyspaces, with an atomic write batch and range reads.
 * Everything else (validation, encoding, TTL, metadata, events) lives once, in the Backend.
 *
 * Invariants every engine keeps (checked by the conformance suite):
 * - `batch` applies all of its operations or none of them, and resolves only once they are
 *   durable to the level the engine's `durability` option promises.
 * - A read that starts after a `batch` resolved sees all of it.
 * - `range` yields keys in ascending order of the engine's {@link EngineCapabilities.keyOrder}.
 * - Values handed to `batch` are never mutated by the engine and values it returns are never
 *   reused by it (the Backend treats stored records as immutable).
 * - Values are record envelopes (space `r`), the number 0 (space `x`) and small JSON values
 *   (space `m`). Engines that store bytes serialize them with the core's `packRecord` /
 *   `unpackRecord` (src/core/record.ts), never with a format of their own.
 */

/**
 * Keyspaces of one engine. `r` user records, `x` expiry index, `m` backend metadata, `i` derived
 * entries (secondary indexes, search postings), `t` time-series points and rollups.
 */
export type Space = 'r' | 'x' | 'm' | 'i' | 't';

/** Every keyspace an engine must provide. */
export const SPACES: readonly Space[] = ['r', 'x', 'm', 'i', 't'];

/**
 * A read done together with a write (see `Engine.update`): one key, or with `prefix` every entry
 * whose key starts with `key` (in key order).
 */
export interface ExtraRead { readonly space: Space; readonly key: string; readonly prefix?: boolean }

/** Result of an ExtraRead: the value (point read) or the entries (prefix read). */
export type ExtraValue = StoredValue | undefined | [string, StoredValue][];

/** What an engine can do; the Backend and the tests read only this, never class names. */
export interface EngineCapabilities {
  /** Short engine name for messages and metrics: `memory`, `leveldb`, `indexeddb`. */
  readonly engine: string;
  /** Data survives close/reopen and process restarts. */
  readonly persistent: boolean;
  /** Order of `range` results: UTF-16 code units (JS `<`) or Unicode code points (UTF-8 bytes). */
  readonly keyOrder: 'utf16' | 'codepoint';
  /** The engine honours `{ durability: 'strict' }` by flushing to stable storage. */
  readonly durableWrites: boolean;
  /**
   * Every method answers synchronously (returns values, not promises). The Backend then applies a
   * write at once when nothing is queued, instead of going through its write queue.
   */
  readonly synchronous?: boolean;
  /**
   * Several contexts (tabs, workers) can open the same store at once (IndexedDB). The Backend then
   * tells the others about its writes over a BroadcastChannel.
   */
  readonly multiContext?: boolean;
}

/** A value handed to or returned by an engine: see the invariants above. */
export type StoredValue = unknown;

/** One operation of an atomic write batch. */
export type BatchOp =
  | { readonly type: 'put'; readonly space: Space; readonly key: string; readonly value: StoredValue }
  | { readonly type: 'del'; readonly space: Space; readonly key: string };

/** Bounds of a range read. Bounds are keys within the space; omit for open ends. */
export interface RangeQuery {
  readonly gte?: string;
  readonly gt?: string;
  readonly lte?: string;
  readonly lt?: string;
  /** At most this many entries (default: all). */
  readonly limit?: number;
  readonly reverse?: boolean;
}

/** Options of a write batch. */
export interface BatchOptions {
  /** `strict` waits for stable storage (LevelDB `sync`, IndexedDB `durability: 'strict'`). */
  readonly durability?: 'strict' | 'relaxed';
}

/** A value or a promise of it: engines on Maps answer synchronously. */
export type MaybePromise<T> = T | Promise<T>;

/** The interface every storage adapter implements. */
export interface Engine {
  readonly capabilities: EngineCapabilities;
  /** Opens the store; fails with a StorageConnectionError (code STORAGE_LOCKED when another process holds it). */
  open(): Promise<void>;
  /** Releases every resource (file lock, IndexedDB connection). Idempotent. */
  close(): Promise<void>;
  get(space: Space, key: string): MaybePromise<StoredValue | undefined>;
  /**
   * Values of `keys`, aligned with them. `probe` hints that most keys are probably absent (the
   * read before writing new keys): an engine may then first list which exist.
   */
  getMany(space: Space, keys: readonly string[], probe?: boolean): MaybePromise<(StoredValue | undefined)[]>;
  batch(ops: readonly BatchOp[], options?: BatchOptions): MaybePromise<void>;
  /**
   * Optional atomic read-modify-write: reads the current values of `keys` in space `r` (and the
   * `extra` reads, in any space), calls `plan` with them (synchronously; it returns the operations
   * to apply, or throws to abort) and applies its batch in the SAME engine transaction. IndexedDB needs it: another tab may write
   * between a separate read and write, and one transaction costs less than two. Engines without it
   * get getMany + batch from the Backend, whose write queue already orders every write of the one
   * process that owns the store.
   */
  update?(
    keys: readonly string[],
    plan: (values: (StoredValue | undefined)[], extra: ExtraValue[]) => readonly BatchOp[],
    options?: BatchOptions,
    extra?: readonly ExtraRead[],
  ): Promise<void>;
  /** Entries in key order within the bounds. */
  range(space: Space, query: RangeQuery): MaybePromise<[string, StoredValue][]>;
  /** Keys only, in key order within the bounds. */
  keys(space: Space, query: RangeQuery): MaybePromise<string[]>;
  /** Deletes every entry of every space. */
  wipe(): MaybePromise<void>;
  /**
   * Optional: registers `listener`, called when the store may have changed wholesale outside this
   * context — another tab upgraded or deleted the IndexedDB database ("Clear site data" does), or
   * the browser terminated the connection. Whatever the caller keeps from earlier reads (a record
   * cache) must be dropped.
   */
  onExternalReset?(listener: () => void): void;
}

/** Creates an engine for one backend. `location` is a directory (LevelDB) or database name (IndexedDB). */
export type EngineFactory = (options: EngineOptions) => Engine;

/** Options every engine factory receives from the Backend. */
export interface EngineOptions {
  /** Backend name; IndexedDB uses it in the database name. */
  readonly name: string;
  /** `basePath`: LevelDB directory, IndexedDB database name. */
  readonly location?: string;
  /** Deadline for opening (lock waits, blocked upgrades), in ms. */
  readonly openTimeout: number;
}

/**
 * The smallest string greater than every string that starts with `prefix`, in the given order,
 * or undefined when no such bound exists (prefix made only of maximal characters).
 */
export function prefixUpperBound(prefix: string, order: 'utf16' | 'codepoint'): string | undefined {
  if (order === 'utf16') {
    for (let i = prefix.length - 1; i >= 0; i--) {
      const unit = prefix.charCodeAt(i);
      if (unit < 0xffff) return prefix.slice(0, i) + String.fromCharCode(unit + 1);
    }
    return undefined;
  }
  const points = Array.from(prefix);
  for (let i = points.length - 1; i >= 0; i--) {
    const cp = points[i]!.codePointAt(0)!;
    if (cp < 0x10ffff) {
      const next = cp + 1 === 0xd800 ? 0xe000 : cp + 1; // skip surrogates: not encodable in UTF-8
      return points.slice(0, i).join('') + String.fromCodePoint(next);
    }
  }
  return undefined;
}

/**
 * The smallest and largest of `keys` in the engine's key order, and how many keys a probe of that
 * span may list before the engine concludes the span is crowded and reads key by key instead.
 * Undefined when the bounds cannot be found cheaply: JS `<` is UTF-16 order, which differs from
 * code-point order only for keys with characters beyond U+FFFF (surrogate pairs).
 */
export function keySpan(keys: readonly string[], order: 'utf16' | 'codepoint'): { lo: string; hi: string; limit: number } | undefined {
  let lo = keys[0]!;
  let hi = lo;
  for (const k of keys) {
    if (order === 'codepoint' && /[\ud800-\udfff]/.test(k)) return undefined;
    if (k < lo) lo = k;
    if (k > hi) hi = k;
  }
  return { lo, hi, limit: keys.length * 2 + 16 };
}
