/**
 * A Backend is one named store: it owns everything that must behave the same on every engine
 * (validation, the record envelope, the value codec, TTL, quotas, events) and talks to its engine
 * only through the small Engine interface.
 *
 * Writes go through one queue per backend. Writes issued together (in the same tick, or while a
 * flush is running) are applied as ONE engine batch: one IndexedDB transaction or LevelDB write
 * for 1,000 concurrent `set()` calls. The queue also orders writes, which makes the
 * read-before-write it needs (createdAt, version, quota) consistent: only one flush runs at a time.
 */
import type { BatchOp, Engine, ExtraRead, ExtraValue, MaybePromise, RangeQuery, Space, StoredValue } from './engine';
import { prefixUpperBound } from './engine';
import { StorageConflictError, StorageConnectionError, StorageError, StorageQuotaError, StorageValidationError, invalid } from './errors';
import type { Emitter } from './events';
import { checkCollection, checkKey, compilePattern, describe, type Pattern } from './keys';
import { checkBatchEntry, checkBatchOptions, checkSetOptions, parseSize, type WriteOptions } from './options';
import { CodecFlag, checkEnvelope, recordSize, type RecordEnvelope } from './record';
import { decodeValue, encodeValue } from './codec/value';
import type { AbortSignalLike, BackendOptions, EncryptionKeyInput, BackendType, BatchEntry, Durability, Entry, IndexOptions, Metadata, SearchHit, SearchIndexOptions, SearchOptions, StorageEvents } from './types';
import { CATALOG_PREFIX, CATALOG_VERSION_KEY, Catalog, infoOf, makeDef, type IndexDef, type IndexInfo } from './catalog';
import type { IndexedRecord, RecordChange } from './indexes';
import type { QueryOptions, QueryPlan } from './query/execute';
import { Collection } from './collection';
import { TimeSeries } from './timeseries-handle';
import { NEGATIVE, RecordCache, type CacheMetrics } from './cache';
import type { TimeSeries as TimeSeriesImpl } from './timeseries';
import type { AccessOrder, CleanupStrategy } from './cleanup';

export type { CleanupStrategy } from './cleanup';

/** A write prepared at call time: validated and encoded, waiting for its flush. */
export interface PreparedPut { key: string; body: string | Uint8Array; flags: number; ttl: number; tags: readonly string[] | undefined; decoded?: { value: unknown }; sealed?: boolean }

/** The value of a prepared put, decoded once (index entries are computed from it). */
function decodedValue(p: PreparedPut): unknown {
  return (p.decoded ??= { value: decodeValue(p.body) }).value;
}

/** A stored record as the index code sees it. */
function indexed(rec: RecordEnvelope | undefined, decoded: unknown, protect: ProtectModule | undefined): IndexedRecord | undefined {
  if (!rec) return undefined;
  let value = decoded;
  if (value === undefined) {
    // Decrypting is asynchronous: an encrypted old record's entries come from the blind index's
    // reverse entry instead (every index of an encrypted backend is blind).
    if (rec.f & CodecFlag.Encrypted) return { value: undefined, meta: metadataOf(rec), expiresAt: rec.e, sealed: true };
    const b = rec.f & SEALED ? protect!.unsealSync(rec.b, rec.f, undefined).b : rec.b;
    value = decodeValue(b);
  }
  return { value, meta: metadataOf(rec), expiresAt: rec.e };
}

/** One change of a write op: a prepared put, or the deletion of a key. */
export type Mutation = PreparedPut | { key: string; del: true };

/** What a transaction read, for optimistic validation at commit (see Transaction). */
export interface TxCheck {
  /** Backend write sequence when the transaction began (guards its blind writes). */
  startSeq: number;
  /** Keys read, with the write sequence before each read was issued. */
  reads: ReadonlyMap<string, number>;
  /**
   * Keys read, with the identity of the stored record each read saw (see `recordStamp`). Compared
   * with the records read in the commit's own engine transaction: on IndexedDB this catches writes
   * from other tabs whose change notice has not arrived yet.
   */
  stamps: ReadonlyMap<string, string>;
  /** Patterns read by keys(), with the write sequence before each read. */
  ranges: readonly { pattern: Pattern; seq: number }[];
}

type WriteOp =
  | { kind: 'write'; muts: Mutation[]; durability: Durability | undefined; check?: TxCheck & { writes: readonly string[] }; marker?: string; done?: Settle }
  /** Deletes `keys`; with `pattern` (clear), the matching keys are found when the op is applied, not when it is queued. */
  | { kind: 'del'; keys: string[]; pattern?: Pattern; durability: Durability | undefined; done?: Settle; evict?: CleanupStrategy }
  | { kind: 'expire'; candidates: { key: string; expiresAt: number; indexKey: string }[]; done?: Settle }
  /** A write of derived data (time series): reads in the same engine transaction, then `fn` plans the ops. */
  | { kind: 'raw'; reads: readonly ExtraRead[]; fn: RawPlan<unknown>; durability: Durability | undefined; done?: Settle }
  /** Index entries for existing records (index build); a record whose stamp changed since it was read is skipped (the write that changed it indexed it). */
  | { kind: 'build'; def: IndexDef; items: { key: string; stamp: string; value: unknown }[]; done?: Settle }
  /** New bodies for records re-encrypted by a key rotation; a record rewritten since it was read is skipped (its write used the new key). */
  | { kind: 'reseal'; items: { key: string; stamp: string; b: Uint8Array; f: number }[]; done?: Settle }
  /** A change of the index catalog: applied alone, then the in-memory catalog follows. */
  | { kind: 'catalog'; fn: (catalog: Catalog) => { ops: BatchOp[]; put?: IndexInfo; remove?: string }; done?: Settle };

/** @internal Plans a raw write from the values it read: the ops to apply atomically and the caller's result. */
export type RawPlan<T> = (values: (StoredValue | undefined)[], now: number) => { ops: BatchOp[]; result: T };

type IndexesModule = typeof import('./indexes');
type ProtectModule = typeof import('./protect/index');
type CleanupModule = typeof import('./cleanup');
/** A real CryptoKey is checked by openEncryption (the public type is structural: no DOM lib needed). */
type EncryptionKey = import('./protect/index').EncryptionKey;
/** Codec flags of a compressed or encrypted body. */
const SEALED = CodecFlag.Compressed | CodecFlag.Encrypted;
/** Metadata-space key of the encryption key info (salt, KDF parameters, wrapped data keys, check). */
const ENCRYPTION_KEY = 'encryption';
/** The query and search code, loaded on first use: key-value apps never load it. */
const queryModule = () => import('./query/execute');
const searchModule = () => import('./search/search');

/**
 * Thrown by a plan that auto-cleanup must make room for: evict, then plan again. Not an Error: it
 * never leaves the backend, and capturing a stack trace on each eviction cost more than the eviction.
 */
class NeedRoom {
  constructor(readonly bytes: number, readonly keep: ReadonlySet<string>) {}
}

/** Thrown inside planning when another tab changed the index catalog: reload it and plan again. */
class CatalogChanged extends Error {}

interface Settle { resolve(v: unknown): void; reject(e: unknown): void }

/** The outcome of planning a group of writes: one engine batch and what to tell each caller. */
interface Plan {
  batch: BatchOp[];
  results: { op: WriteOp; value?: unknown; error?: unknown; events: PendingEvent[] | undefined }[];
  used: number | undefined;
  /** Keys whose stored state the batch changes. */
  written: Iterable<string>;
  /** Indexes that hold an array value for the first time. */
  flipped?: Iterable<IndexDef>;
  /** With auto-cleanup: bytes that must be freed before an op refused for quota can be stored. */
  needRoom?: number;
  /** The one record a single-put plan writes, and its stored size when counted (for auto-cleanup's access order). */
  stored?: { key: string; size: number; rec: RecordEnvelope } | undefined;
  /** Keys of `written` that auto-cleanup evicted (a planEviction plan). */
  evicted?: readonly string[];
  /** The final record of every key (with a cache or auto-cleanup: `written` keys are updated from it). */
  final?: ReadonlyMap<string, RecordEnvelope | undefined>;
  /** Keys a key rotation re-sealed: not writes (no conflict, no recency), but a cached copy holds the old body. */
  resealed?: string[] | undefined;
}

/** An event to emit once its write is stored. */
type PendingEvent = { [E in 'set' | 'delete' | 'expire' | 'evict']: [E, StorageEvents[E]] }['set' | 'delete' | 'expire' | 'evict'];

/**
 * Identity of a stored record for conflict checks: version, createdAt and updatedAt change on every
 * write, delete or re-create (expiry by time alone does not change it). '-' for no record.
 */
export function recordStamp(rec: RecordEnvelope | undefined): string {
  return rec === undefined ? '-' : `${rec.n}:${rec.c}:${rec.u}`;
}

/** The first key a transaction read whose stored record is no longer the one it saw. */
function staleRead(check: TxCheck, current: ReadonlyMap<string, RecordEnvelope | undefined>): string | undefined {
  for (const [key, stamp] of check.stamps) {
    if (recordStamp(current.get(key)) !== stamp) return `key "${key}" changed after this transaction read it (found when committing)`;
  }
  return undefined;
}

/** Every key a group of writes touches, once each. */
function writeKeys(ops: readonly WriteOp[]): string[] {
  // One op: its keys as they are (a duplicate is read twice, harmlessly), no Set on the hot path.
  if (ops.length === 1 && ops[0]!.kind === 'write' && !ops[0]!.check) return ops[0]!.muts.map((m) => m.key);
  const keys = new Set<string>();
  for (const op of ops) {
    if (op.kind === 'write') {
      for (const m of op.muts) keys.add(m.key);
      if (op.check) for (const k of op.check.stamps.keys()) keys.add(k);
    }
    else if (op.kind === 'del') for (const k of op.keys) keys.add(k);
    else if (op.kind === 'expire') for (const c of op.candidates) keys.add(c.key);
    else if (op.kind === 'build' || op.kind === 'reseal') for (const it of op.items) keys.add(it.key);
  }
  return [...keys];
}

type Status = 'new' | 'opening' | 'open' | 'closing' | 'closed';

const EXPIRY_DIGITS = 12;
/** One settled promise shared by every synchronous write: awaiting it costs no allocation. */
const RESOLVED: Promise<unknown> = Promise.resolve(undefined);
/**
 * Metadata-space key of the stored byte count that tabs share (multi-context engines): every write
 * reads and updates it in its own transaction, so `maxSize` bounds the store whichever tab writes.
 */
const USED_KEY = 'used';
/** Metadata-space prefix of transaction commit markers. */
const TX_MARKER = 'tx:'; // hex ms since epoch: fixed width keeps numeric order = string order

/** The options of a backend after validation, with system defaults applied. */
export interface ResolvedBackendOptions extends BackendOptions {
  name: string;
  /** Entries of the record cache in front of the engine (StorageConfig enableCaching/cacheSize); none for the memory tier. */
  cacheEntries?: number;
  sweepInterval: number;
  openTimeout: number;
}

/**
 * A named store. Obtained from `storage.createBackend(type, options)`; it has the same data
 * methods as the StorageSystem, without the `backend` routing option.
 */
export class Backend {
  /** The backend's name (`options.name ?? type`). */
  readonly name: string;
  /** The tier: `memory`, `file` or `database`. */
  readonly type: BackendType;
  /** @internal */
  readonly engine: Engine;
  private readonly events: Emitter;
  /** @internal */
  options: ResolvedBackendOptions;
  private maxBytes: number | undefined;
  private usedBytes: number | undefined;
  /** Auto-cleanup strategy, when enabled (see enableAutoCleanup). */
  private cleanup: CleanupStrategy | undefined;
  /** Keys in access order, with their use counts; only with auto-cleanup (created by measure()). */
  private recency: AccessOrder | undefined;
  /** The auto-cleanup code, once loaded (by measure(), which every write waits for). */
  private cleanupCode: CleanupModule | undefined;
  /** Keys in an open transaction's write set (never evicted), with how many transactions hold each. */
  private readonly pinned = new Map<string, number>();
  /** A measure() in progress (writes wait for it: the limit must be known before they are checked). */
  private measuring: Promise<void> | undefined;
  private status: Status = 'new';
  private opening: Promise<void> | undefined;
  private queue: WriteOp[] = [];
  private flushing = false;
  private flushDone: Promise<void> = Promise.resolve();
  private flushScheduled = false;
  private sweepTimer: ReturnType<typeof setTimeout> | undefined;
  /** Write sequence: +1 per applied batch. Transactions compare it to detect conflicts. */
  private seq = 0;
  /** Commit markers of transactions that committed; deleted with the next write batch. */
  private readonly staleMarkers: string[] = [];
  /** Open transactions; while there are any, applied writes are logged in `lastWritten`. */
  private openTransactions = 0;
  /** Start sequence of each open transaction (a count per sequence), to prune `lastWritten`. */
  private readonly openStarts = new Map<number, number>();
  /** Key -> sequence of its last applied change, kept only while transactions are open. */
  private readonly lastWritten = new Map<string, number>();
  /**
   * No expiry-index entry is due before this time (a lower bound; Infinity when the index is
   * empty). Lets keys() skip reading the index. Only for single-context engines: another tab can
   * add an index entry we would not hear of in time.
   */
  private nextDeadline = 0;
  /** Earliest deadline added while `findNextDeadline` reads. */
  private deadlineFloor = Infinity;
  /** Change notices to and from other tabs/workers on the same store (engines with `multiContext`). */
  private channel: BroadcastChannel | undefined;
  /** The engine answers synchronously (memory): writes skip the queue when it is empty. */
  private readonly synchronous: boolean;
  /** @internal Secondary and search indexes of this backend. */
  readonly catalog = new Catalog();
  private series: TimeSeries | undefined;
  private seriesImpl: Promise<TimeSeriesImpl> | undefined;
  /** The index entry code, once loaded (see loadDerived). */
  private indexes: IndexesModule | undefined;
  /** The LRU record cache in front of a file engine (enableCaching). */
  private readonly cache: RecordCache | undefined;
  /** Compression and encryption code, once loaded (see loadProtect). */
  private protect: ProtectModule | undefined;
  /** Compression settings, when enabled. */
  private compression: { level: number; threshold: number } | undefined;
  /** Between storing a rotation's key info and sealing with its key (see plan). */
  private rotating = false;
  /** The encryption context, when the backend encrypts (opened with its key). */
  private encryption: import('./protect/index').EncryptionContext | undefined;
  /** Settles when the key rotation in progress (a call or the resume at open) ends: rotations run one at a time. */
  private rotation: Promise<unknown> = Promise.resolve();
  /** Tasks run after each sweep (time-series retention). */
  private readonly maintenance: ((now: number) => Promise<void>)[] = [];

  /** @internal Use `StorageSystem.createBackend`. */
  constructor(type: BackendType, engine: Engine, options: ResolvedBackendOptions, events: Emitter) {
    this.type = type;
    this.name = options.name;
    this.engine = engine;
    this.events = events;
    this.options = options;
    this.maxBytes = options.maxSize === undefined ? undefined : parseSize(options.maxSize);
    this.synchronous = engine.capabilities.synchronous === true;
    if (options.cacheEntries && !this.synchronous) this.cache = new RecordCache({ maxEntries: options.cacheEntries });
    // Another tab deleted or upgraded the database: nothing cached from it can be trusted.
    engine.onExternalReset?.(() => this.cache?.invalidateWhere());
  }

  /** @internal Cache counters (hits, misses, evictions, entries, bytes), when this backend has a cache. */
  cacheMetrics(): CacheMetrics | undefined {
    return this.cache?.metrics();
  }

  /** Reads one stored record through the cache (when there is one). */
  private async stored(key: string, missed = false): Promise<StoredValue | undefined> {
    const cache = this.cache;
    if (!cache) return this.engine.get('r', key);
    if (!missed) {
      const hit = cache.get(key, Date.now());
      if (hit === NEGATIVE) return undefined;
      if (hit !== undefined) return hit;
    }
    const g = cache.generation();
    const raw = await this.engine.get('r', key);
    cache.fill(key, raw === undefined ? undefined : checkEnvelope(raw, key), g);
    return raw;
  }

  /** @internal Applies new options to an existing backend (createBackend with an existing name). */
  reconfigure(options: ResolvedBackendOptions): void {
    this.options = options;
    if (!this.cleanup) this.setLimit(options.maxSize === undefined ? undefined : parseSize(options.maxSize));
    if (this.status === 'open') this.scheduleSweep(0);
  }

  /**
   * Keeps the backend under `maxSize` stored bytes by evicting entries instead of refusing writes:
   * expired entries first, then by `cleanupStrategy` — `lru` (least recently read or written,
   * default), `lfu` (least often), `ttl` (soonest to expire, then lru). Entries in an open
   * transaction's write set are never evicted. Emits `evict` events. Resolves once it is active.
   */
  enableAutoCleanup(options: { maxSize: string | number; cleanupStrategy?: CleanupStrategy }): Promise<void> {
    try {
      if (options === null || typeof options !== 'object' || Array.isArray(options)) invalid(`options must be { maxSize, cleanupStrategy? }, got ${describe(options)}`);
      for (const k of Object.keys(options)) if (k !== 'maxSize' && k !== 'cleanupStrategy') invalid(`unknown option "${k}" of enableAutoCleanup (known: maxSize, cleanupStrategy)`);
      const max = parseSize(options.maxSize);
      const strategy = options.cleanupStrategy ?? 'lru';
      if (strategy !== 'lru' && strategy !== 'lfu' && strategy !== 'ttl') invalid(`cleanupStrategy must be 'lru', 'lfu' or 'ttl', got ${describe(strategy)}`);
      this.cleanup = strategy;
      return this.setLimit(max, true); // measure() loads the cleanup code and starts the access order
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Stops auto-cleanup; the backend's `maxSize` (if any) refuses writes again. */
  disableAutoCleanup(): void {
    this.cleanup = undefined;
    this.recency = undefined;
    void this.setLimit(this.options.maxSize === undefined ? undefined : parseSize(this.options.maxSize));
  }

  /** Sets the byte limit; measures the store when the limit is new (writes wait for it). */
  private setLimit(max: number | undefined, remeasure = false): Promise<void> {
    this.maxBytes = max;
    if (max === undefined) {
      this.usedBytes = undefined;
      return Promise.resolve();
    }
    if (this.status !== 'open' || (this.usedBytes !== undefined && !remeasure)) return this.measuring ?? Promise.resolve();
    const m = (this.measuring = this.measure().finally(() => { if (this.measuring === m) this.measuring = undefined; }));
    return m;
  }

  /** @internal A transaction will write `key`: auto-cleanup must not evict it until `unpin`. */
  pin(key: string): void {
    this.pinned.set(key, (this.pinned.get(key) ?? 0) + 1);
  }

  /** @internal The transaction that pinned `keys` finished. */
  unpin(keys: Iterable<string>): void {
    for (const key of keys) {
      const n = this.pinned.get(key) ?? 1;
      if (n > 1) this.pinned.set(key, n - 1);
      else this.pinned.delete(key);
    }
  }

  // ---------------------------------------------------------------- reads

  /** The value stored under `key`, or `undefined` when it is missing or expired. */
  get<T = unknown>(key: string): Promise<T | undefined> {
    let missed = false;
    try {
      checkKey(key);
      if (this.cache && this.status === 'open') {
        // A cache hit answers without a round trip to the engine (and decodes afresh: callers never share a value).
        const now = Date.now();
        const hit = this.cache.get(key, now);
        if (hit === NEGATIVE) return Promise.resolve(undefined);
        if (hit !== undefined) {
          const rec = this.live(hit, key, now);
          return Promise.resolve(rec && (this.decodeRecord(rec, key) as T));
        }
        missed = true; // counted once: getLater does not look again
      }
      if (this.status === 'open' && this.synchronous) {
        // Maps answer at once: no await, one promise.
        const rec = this.live(this.engine.get('r', key), key, Date.now());
        return Promise.resolve(rec && (this.decodeRecord(rec, key) as T));
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return this.getLater<T>(key, missed);
  }

  private async getLater<T>(key: string, missed: boolean): Promise<T | undefined> {
    if (this.status !== 'open') await this.ready();
    const rec = this.live(await this.stored(key, missed), key, Date.now());
    return rec && ((await this.decodeRecord(rec, key)) as T);
  }

  /** The value with its metadata, or `undefined`. */
  async getEntry<T = unknown>(key: string): Promise<Entry<T> | undefined> {
    checkKey(key);
    if (this.status !== 'open') await this.ready();
    const rec = this.live(await this.stored(key), key, Date.now());
    return rec && { key, value: (await this.decodeRecord(rec, key)) as T, metadata: metadataOf(rec) };
  }

  /** Does a live (unexpired) entry exist under `key`? */
  async has(key: string): Promise<boolean> {
    checkKey(key);
    if (this.status !== 'open') await this.ready();
    return this.live(await this.stored(key), key, Date.now()) !== undefined;
  }

  /** Values of `keys`, aligned with them (`undefined` where missing or expired). */
  async batchGet<T = unknown>(keys: readonly string[]): Promise<(T | undefined)[]> {
    if (!Array.isArray(keys)) invalid(`keys must be an array of keys, got ${describe(keys)}`);
    for (let i = 0; i < keys.length; i++) checkKey(keys[i], `keys[${i}]`);
    if (this.status !== 'open') await this.ready();
    const raw = await this.engine.getMany('r', keys);
    const now = Date.now();
    const values = raw.map((v, i) => {
      const rec = this.live(v, keys[i]!, now);
      return rec && (this.decodeRecord(rec, keys[i]!) as T | Promise<T>);
    });
    return values.some((v) => v instanceof Promise) ? Promise.all(values) : (values as (T | undefined)[]);
  }

  /** Live keys matching a dotted glob (`users.*`, `users.**`), in code-unit order. Reads only the pattern's prefix range. */
  async keys(pattern = '**'): Promise<string[]> {
    const p = compilePattern(pattern);
    if (this.status !== 'open') await this.ready();
    let keys: string[];
    if (p.exact) {
      keys = (await this.engine.get('r', p.prefix)) === undefined ? [] : [p.prefix];
    } else {
      keys = await this.engine.keys('r', this.prefixRange(p.prefix));
      if (this.engine.capabilities.keyOrder !== 'utf16') keys.sort();
      keys = keys.filter((k) => k.startsWith(p.prefix) && p.matches(k));
    }
    return this.dropExpired(keys);
  }

  // ---------------------------------------------------------------- queries and indexes

  /**
   * Live entries matching `pattern` and `options.filter`, sorted and paged (see README "Queries").
   * Uses a secondary index when one fits; results are the same either way.
   */
  async query<T = unknown>(pattern: string, options?: QueryOptions): Promise<Entry<T>[]> {
    const q = await queryModule();
    const c = q.compileQuery(pattern, options);
    this.checkRoute((options as { backend?: string } | undefined)?.backend);
    await this.syncCatalog();
    return q.entriesOf<T>((await q.runQuery(this, c)).rows);
  }

  /** How many live entries match `pattern` and `options.filter`. */
  async count(pattern: string, options?: Pick<QueryOptions, 'filter' | 'index'>): Promise<number> {
    const q = await queryModule();
    const c = q.compileQuery(pattern, options, false);
    this.checkRoute((options as { backend?: string } | undefined)?.backend);
    await this.syncCatalog();
    return (await q.runQuery(this, c)).plan.matched;
  }

  /** Runs the query and reports its plan: index used, key ranges, entries and records read, results. */
  async explain(pattern: string, options?: QueryOptions): Promise<QueryPlan> {
    const q = await queryModule();
    const c = q.compileQuery(pattern, options);
    this.checkRoute((options as { backend?: string } | undefined)?.backend);
    await this.syncCatalog();
    return (await q.runQuery(this, c)).plan;
  }

  /**
   * Creates a secondary index on the entries `<collection>.<id>` over one path or several
   * (compound), builds it over the entries already stored, and resolves once it is ready.
   * `unique` refuses duplicates with StorageConflictError. Creating an existing index again is a
   * no-op. Emits `index` events with the build's progress; `signal` aborts it.
   */
  async createIndex(collection: string, fields: string | string[], options?: IndexOptions): Promise<IndexInfo> {
    const { checkIndexSpec } = await this.loadDerived();
    const info = checkIndexSpec(collection, fields, options);
    if (this.status !== 'open') await this.ready();
    if (this.encryption) info.blind = true;
    return (await import('./index-build')).createIndex(this, info, options?.signal);
  }

  /**
   * Creates a full-text search index on the entries `<collection>.<id>` over `fields` (text
   * fields; `boost` weighs them), builds it, and keeps it up to date with every write.
   */
  async createSearchIndex(collection: string, options: SearchIndexOptions): Promise<IndexInfo> {
    checkCollection(collection);
    const { signal, ...rest } = (options ?? {}) as SearchIndexOptions;
    const o = (await searchModule()).checkSearchIndexOptions(collection, rest);
    await this.refuseSearchIndexWhenEncrypted();
    await this.loadDerived();
    return (await import('./index-build')).createIndex(this, { type: 'search', collection, name: 'search', fields: o.fields, unique: false, state: 'building', multikey: false, ...(o.boosts ? { boosts: o.boosts } : {}) }, signal);
  }

  /** Drops an index (`name` as listed by listIndexes; `'search'` for the search index). Resolves false when there was none. */
  async dropIndex(collection: string, name: string): Promise<boolean> {
    checkCollection(collection);
    if (typeof name !== 'string' || name === '') invalid(`index name must be a non-empty string, got ${describe(name)}`);
    await this.syncCatalog();
    return (await import('./index-build')).dropIndex(this, collection, name);
  }

  /** The indexes of one collection, or of every collection. */
  async listIndexes(collection?: string): Promise<IndexInfo[]> {
    if (collection !== undefined) checkCollection(collection);
    if (this.status !== 'open') await this.ready();
    await this.syncCatalog();
    const defs = collection === undefined ? this.catalog.all() : [...this.catalog.forCollection(collection)];
    return defs.map(infoOf).sort((a, b) => (a.collection + '\u0000' + a.name < b.collection + '\u0000' + b.name ? -1 : 1));
  }

  /**
   * Full-text search over the entries matching `pattern`, ranked by BM25. Uses the collection's
   * search index when the pattern is `<collection>.*` and one exists, else scans the pattern's range.
   */
  async search<T = unknown>(pattern: string, options: SearchOptions): Promise<SearchHit<T>[]> {
    const p = compilePattern(pattern);
    const { backend, ...rest } = (options ?? {}) as { backend?: string };
    this.checkRoute(backend);
    const s = await searchModule();
    const q = s.checkSearchOptions(rest);
    if (this.status !== 'open') await this.ready();
    await this.syncCatalog();
    const inPattern = (k: string) => k.startsWith(p.prefix) && p.matches(k);
    // The index's statistics (document count, lengths, document frequencies) are those of the whole
    // collection over its fields: it serves exactly `<collection>.*` over those fields, so that a
    // search scores the same with and without it.
    const collection = (await queryModule()).collectionOf(p);
    const def = collection === undefined || p.source !== `${collection}.*` ? undefined : this.catalog.forCollection(collection).find((d) => d.type === 'search' && d.state === 'ready' && (q.rawFields === undefined || (q.rawFields.length === d.fields.length && q.rawFields.every((f) => d.fields.includes(f)))));
    const now = Date.now();
    const want = q.offset + q.limit;
    if (def) {
      const order = this.engine.capabilities.keyOrder;
      const rel = (entries: [string, StoredValue][]) => entries.map(([k, v]) => [k.slice(def.prefix.length), v] as [string, StoredValue]);
      const io = {
        range: async (gte: string, lt: string) => rel(await this.engine.range('i', { gte: def.prefix + gte, lt: def.prefix + lt })),
        keys: async (gte: string, lt: string) => (await this.engine.keys('i', { gte: def.prefix + gte, lt: def.prefix + lt })).map((k) => k.slice(def.prefix.length)),
        get: (k: string) => this.engine.get('i', def.prefix + k),
      };
      void order;
      // Expired entries not swept yet still have postings: ask for a few more, then drop them.
      const ranked = await s.searchIndexed(io, def.search!, { ...q, offset: 0, limit: want + 16 }, inPattern);
      const hits: SearchHit<T>[] = [];
      const raws = ranked.length === 0 ? [] : await this.engine.getMany('r', ranked.map((r) => r.key));
      ranked.forEach((r, i) => {
        const rec = this.live(raws[i], r.key, now);
        if (rec) hits.push({ key: r.key, value: rec as unknown as T, score: r.score });
      });
      const page = hits.slice(q.offset, want);
      for (const h of page) h.value = (await this.decodeRecord(h.value as unknown as RecordEnvelope, h.key)) as T;
      return page;
    }
    if (q.rawFields === undefined) invalid('options.fields is required: there is no search index on the keys of this pattern');
    const lt = p.prefix === '' ? undefined : prefixUpperBound(p.prefix, this.engine.capabilities.keyOrder);
    const rows: { key: string; value: unknown }[] = [];
    for (const [key, raw] of await this.engine.range('r', p.prefix === '' ? {} : lt === undefined ? { gte: p.prefix } : { gte: p.prefix, lt })) {
      if (!p.matches(key)) continue;
      const rec = this.live(raw, key, now);
      if (rec) rows.push({ key, value: await this.decodeRecord(rec, key) });
    }
    const values = new Map(rows.map((r) => [r.key, r.value]));
    return s.searchScan(rows, q.rawFields, q).map((r) => ({ key: r.key, value: values.get(r.key) as T, score: r.score }));
  }

  /** The documents stored under `<name>.<id>` (see Collection). */
  collection<T extends Record<string, unknown> = Record<string, unknown>>(name: string): Collection<T> {
    return new Collection<T>(this, name);
  }

  /** This backend's time series (points stored in their own keyspace; see README "Time series"). */
  get timeSeries(): TimeSeries {
    return (this.series ??= new TimeSeries(this));
  }

  /** @internal The time-series implementation, loaded on first use (it registers its retention task). */
  loadTimeSeries(): Promise<TimeSeriesImpl> {
    return (this.seriesImpl ??= this.ready().then(() => this.timeSeriesImpl()).catch((err: unknown) => { this.seriesImpl = undefined; throw err; }));
  }

  /** Creates the time-series implementation (the backend is open or opening). */
  private async timeSeriesImpl(): Promise<TimeSeriesImpl> {
    if (this.encryption) invalid(`backend "${this.name}" is encrypted: time-series points are stored in plaintext, so they are refused on it; use an unencrypted backend for metrics`);
    return new (await import('./timeseries')).TimeSeries(this);
  }

  /** Search postings hold the words of the text in plaintext: an encrypted backend has none. */
  private async refuseSearchIndexWhenEncrypted(): Promise<void> {
    if (this.status !== 'open') await this.ready();
    if (this.encryption) invalid(`backend "${this.name}" is encrypted: search index postings would store the words of the text in plaintext, so search indexes are refused on it (search still works, by scanning; secondary indexes are blind and allowed)`);
  }

  /** Other tabs may change the catalog (IndexedDB): reads check its version first. */
  private async syncCatalog(): Promise<void> {
    if (!this.engine.capabilities.multiContext) return;
    if (this.status !== 'open') await this.ready();
    const version = ((await this.engine.get('m', CATALOG_VERSION_KEY)) as number | undefined) ?? 0;
    if (version !== this.catalog.version) await this.loadCatalog();
  }

  /** @internal Applies a catalog change alone in the write queue. */
  changeCatalog(fn: (catalog: Catalog) => { ops: BatchOp[]; put?: IndexInfo; remove?: string }): Promise<unknown> {
    return this.enqueue({ kind: 'catalog', fn });
  }

  /** @internal Writes index entries for existing records (index build). */
  buildEntries(def: IndexDef, items: { key: string; stamp: string; value: unknown }[]): Promise<number> {
    return this.enqueue<number>({ kind: 'build', def, items });
  }

  /** @internal Emits an `index` event. */
  emitIndex(def: IndexDef, phase: 'building' | 'ready' | 'failed' | 'dropped', done: number, total: number): void {
    if (!this.events.has('index')) return;
    const e: StorageEvents['index'] = { backend: this.name, collection: def.collection, index: def.name, phase };
    if (done >= 0) Object.assign(e, { done, total });
    this.events.emit('index', e);
  }

  // ---------------------------------------------------------------- writes

  /** Stores `value` under `key`. Options: `ttl` (seconds), `tags`, `durability`. */
  set(key: string, value: unknown, options?: WriteOptions): Promise<void> {
    try {
      checkKey(key);
      const o = checkSetOptions(options);
      this.checkRoute(o.backend);
      const put = prepare(key, value, o.ttl, o.tags);
      return this.enqueue<void>({ kind: 'write', muts: [put], durability: o.durability });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Stores every entry atomically: all of them or, on any error, none. */
  batchSet(entries: readonly BatchEntry[], options?: { durability?: Durability; backend?: string }): Promise<void> {
    try {
      if (!Array.isArray(entries)) invalid(`entries must be an array of { key, value }, got ${describe(entries)}`);
      const o = checkBatchOptions(options);
      this.checkRoute(o.backend);
      const puts = entries.map((e, i) => {
        const entry = checkBatchEntry(e, `entries[${i}]`);
        checkKey(entry.key, `entries[${i}].key`);
        return prepare(entry.key, entry.value, entry.ttl, entry.tags, `entries[${i}].value`);
      });
      if (puts.length === 0) return Promise.resolve();
      return this.enqueue<void>({ kind: 'write', muts: puts, durability: o.durability });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Deletes `key`; resolves `true` when a live entry was deleted. */
  async delete(key: string, options?: { backend?: string; durability?: Durability }): Promise<boolean> {
    checkKey(key);
    const o = checkBatchOptions(options);
    this.checkRoute(o.backend);
    return (await this.enqueue<number>({ kind: 'del', keys: [key], durability: o.durability })) > 0;
  }

  /** Deletes every key matching `pattern` (default: all); resolves the number of live entries deleted. */
  clear(pattern = '**'): Promise<number> {
    try {
      const p = compilePattern(pattern);
      // Queued now, resolved when applied: a clear takes its place among writes issued around it.
      return this.enqueue<number>(p.exact ? { kind: 'del', keys: [p.prefix], durability: undefined } : { kind: 'del', keys: [], pattern: p, durability: undefined });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Stored keys matching a pattern (expired ones included: a clear removes them too). */
  private matching(p: Pattern): MaybePromise<string[]> {
    const filter = (keys: string[]) => keys.filter((k) => k.startsWith(p.prefix) && p.matches(k));
    const keys = this.engine.keys('r', this.prefixRange(p.prefix));
    return Array.isArray(keys) ? filter(keys) : keys.then(filter);
  }

  // ---------------------------------------------------------------- lifecycle

  /** Opens the engine now instead of on first use. */
  async open(): Promise<void> {
    await this.ready();
  }

  /** Finishes queued writes, stops the sweep and releases the engine (LevelDB lock, IndexedDB connection). */
  async close(): Promise<void> {
    if (this.status === 'closed' || this.status === 'new') {
      this.status = 'closed';
      return;
    }
    if (this.opening) await this.opening.catch(() => {});
    this.status = 'closing';
    clearTimeout(this.sweepTimer);
    while (this.flushing || this.queue.length > 0) await this.flush();
    this.channel?.close();
    this.channel = undefined;
    await this.engine.close();
    this.status = 'closed';
  }

  /** Is the backend open? */
  get isOpen(): boolean {
    return this.status === 'open';
  }

  /** @internal Resolves once the engine is open (deferred open: calls made while opening wait). */
  ready(): Promise<void> {
    if (this.status === 'open') return Promise.resolve();
    if (this.status === 'closing' || this.status === 'closed') {
      return Promise.reject(new StorageConnectionError(`backend "${this.name}" is closed`, { code: 'STORAGE_CLOSED' }));
    }
    if (!this.opening) {
      this.status = 'opening';
      this.opening = this.engine.open().then(
        () => this.afterOpen().catch(async (err: unknown) => {
          await this.engine.close().catch(() => {}); // release the LevelDB lock / IndexedDB connection
          throw err;
        }),
      ).catch(
        (err: unknown) => {
          this.status = 'new';
          this.opening = undefined;
          throw err instanceof StorageError ? err : new StorageConnectionError(`cannot open backend "${this.name}": ${(err as Error)?.message}`, { cause: err });
        },
      );
    }
    return this.opening;
  }

  /** Everything after the engine opened: leftovers, limits, protection, indexes, time series. */
  private async afterOpen(): Promise<void> {
    const leftovers = await this.engine.keys('m', { gte: TX_MARKER, lt: TX_MARKER.slice(0, -1) + ';' });
    if (leftovers.length > 0) await this.engine.batch(leftovers.map((key) => ({ type: 'del', space: 'm', key })));
    if (this.maxBytes !== undefined) await this.measure();
    await this.openProtection();
    await this.loadCatalog();
    // Time-series retention set in an earlier run is enforced by the sweep from the start.
    if ((await this.engine.keys('t', { gte: 'k', lt: 'l', limit: 1 })).length > 0) {
      const impl = this.timeSeriesImpl();
      impl.catch(() => {}); // its error, if any, reaches whoever uses timeSeries
      this.seriesImpl ??= impl;
    }
    await this.findNextDeadline();
    this.status = 'open';
    this.opening = undefined;
    this.listenToOtherContexts();
    this.scheduleSweep(0);
    // A key rotation was interrupted: finish re-encrypting in the background.
    if (this.encryption && this.encryption.keyIds.length > 1) {
      void this.oneRotation(() => this.resealAll()).catch((error: unknown) => {
        if (this.status === 'open') this.events.emit('error', { error: error as Error, backend: this.name, operation: 'rotate' });
      });
    }
  }

  // ---------------------------------------------------------------- internals

  private checkRoute(backend: string | undefined): void {
    if (backend !== undefined && backend !== this.name) {
      invalid(`option backend "${backend}" does not name this backend ("${this.name}"); route through StorageSystem instead`);
    }
  }

  /** The record if it exists and has not expired. */
  private live(raw: StoredValue | undefined, key: string, now: number): RecordEnvelope | undefined {
    if (raw === undefined) return undefined;
    const rec = checkEnvelope(raw, key);
    if (rec.e !== 0 && rec.e <= now) return undefined;
    this.recency?.touch(key);
    return rec;
  }

  private prefixRange(prefix: string): RangeQuery {
    if (prefix === '') return {};
    const lt = prefixUpperBound(prefix, this.engine.capabilities.keyOrder);
    return lt === undefined ? { gte: prefix } : { gte: prefix, lt };
  }

  /**
   * Removes expired keys from a key list. Expired keys are exactly those with an expiry-index
   * entry at or before now (index entries are never missing, only sometimes stale), so only those
   * candidates are re-read; the index range is small because the sweep keeps it so.
   */
  private async dropExpired(keys: string[]): Promise<string[]> {
    if (keys.length === 0) return keys;
    const now = Date.now();
    if (now < this.nextDeadline) return keys;
    const due = await this.engine.keys('x', { lt: expiryKey(now + 1, '') });
    if (due.length === 0) return keys;
    const candidates = new Set(due.map((k) => k.slice(EXPIRY_DIGITS)));
    const suspects = keys.filter((k) => candidates.has(k));
    if (suspects.length === 0) return keys;
    const recs = await this.engine.getMany('r', suspects);
    const dead = new Set(suspects.filter((k, i) => this.live(recs[i], k, now) === undefined));
    return keys.filter((k) => !dead.has(k));
  }

  private enqueue<T>(op: WriteOp): Promise<T> {
    if (this.status === 'closing' || this.status === 'closed') {
      return Promise.reject(new StorageConnectionError(`backend "${this.name}" is closed`, { code: 'STORAGE_CLOSED' }));
    }
    if (this.synchronous && this.status === 'open' && !this.flushing && this.queue.length === 0 && !this.measuring && !this.sealing) {
      // A synchronous engine (Maps) with nothing queued: apply now. Same order, no queue overhead.
      const only = op.kind === 'write' && op.muts.length === 1 && !op.check && this.usedBytes === undefined && !this.catalog.forKey(op.muts[0]!.key) ? op.muts[0]! : undefined;
      if (only && !('del' in only)) {
        // The hottest path, one plain set: no plan, no arrays of results, a shared resolved promise.
        try {
          const { batch, rec } = this.onePut(only, this.engine.get('r', only.key));
          this.staleMarkers.splice(0, this.withStaleMarkers(batch));
          this.engine.batch(batch);
          if (this.openTransactions > 0) this.recordWrites([only.key]);
          if (this.events.has('set')) this.events.emit('set', { key: only.key, backend: this.name, metadata: metadataOf(rec) });
        } catch (err) {
          return Promise.reject(err);
        }
        return RESOLVED as Promise<T>;
      }
      let result: Plan['results'][number];
      let plan: Plan;
      try {
        if (op.kind === 'del' && op.pattern) op.keys = this.matching(op.pattern) as string[];
        let ops = [op];
        plan = this.planNow(ops, true);
        if (plan.needRoom) {
          // Auto-cleanup: the victims are chosen now (nothing runs in between) and deleted in this
          // write's batch. With none, the write fails with StorageQuotaError.
          const keys = this.victims(plan.needRoom, new Set(writeKeys(ops)), true, true) as string[];
          if (keys.length > 0) ops = [this.evictOp(keys), op];
          plan = this.planNow(ops, false);
          if (plan.needRoom && keys.length > 0) return this.queued<T>(op); // not expected: the queued path evicts again
        }
        this.staleMarkers.splice(0, this.withStaleMarkers(plan.batch));
        if (plan.batch.length > 0) this.engine.batch(plan.batch);
        this.usedBytes = plan.used;
        this.recordWrites(plan.written);
        this.afterApply(plan);
        result = plan.results[ops.length - 1]!;
      } catch (err) {
        return Promise.reject(err);
      }
      if (plan.results.length > 1) this.emitAll(plan.results[0]!.events ?? []); // evictions, as settle() does
      if (result.error !== undefined) return Promise.reject(result.error);
      if (op.kind === 'write' && op.marker && op.muts.length > 0) this.staleMarkers.push(op.marker);
      if (result.events) this.emitAll(result.events);
      return Promise.resolve(result.value as T);
    }
    return this.queued<T>(op);
  }

  /** Queues a write for the next flush. */
  private queued<T>(op: WriteOp): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      op.done = { resolve: resolve as (v: unknown) => void, reject };
      this.queue.push(op);
      if (!this.flushScheduled && !this.flushing) {
        this.flushScheduled = true;
        queueMicrotask(() => void this.flush());
      }
    });
  }

  private emitAll(events: PendingEvent[]): void {
    for (const [name, payload] of events) if (this.events.has(name)) this.events.emit(name, payload as never);
  }

  /** Are events of this kind needed: by a local listener, or by other contexts? */
  private wants(name: keyof StorageEvents): boolean {
    return this.channel !== undefined || this.events.has(name);
  }

  /**
   * Other tabs and workers with the same IndexedDB database see our writes as events, and we see
   * theirs: each committed batch posts its changes on a BroadcastChannel named after the store.
   * A change from elsewhere also counts as a write for our open transactions' conflict checks.
   */
  private listenToOtherContexts(): void {
    if (!this.engine.capabilities.multiContext || typeof BroadcastChannel !== 'function') return;
    this.channel = new BroadcastChannel(`tierstore:${this.engine.capabilities.engine}:${this.options.basePath ?? this.name}`);
    this.channel.onmessage = (message: MessageEvent<PendingEvent[]>) => {
      const changes = message.data;
      if (!Array.isArray(changes)) return;
      if (this.cache) for (const [, payload] of changes) this.cache.invalidate(payload.key);
      this.recordWrites(changes.map(([, payload]) => payload.key));
      for (const [name, payload] of changes) {
        if (this.events.has(name)) this.events.emit(name, { ...payload, backend: this.name, remote: true } as never);
      }
    };
  }

  private broadcast(changes: PendingEvent[]): void {
    if (changes.length === 0) return;
    try {
      this.channel!.postMessage(changes);
    } catch (error) {
      this.events.emit('error', { error: error as Error, backend: this.name, operation: 'broadcast' });
    }
  }

  /** Applies every queued write as one engine batch; loops while more arrive. Resolves when the queue is drained. */
  private flush(): Promise<void> {
    this.flushScheduled = false;
    if (this.flushing) return this.flushDone;
    this.flushing = true;
    this.flushDone = (async () => {
      try {
        while (this.queue.length > 0) {
          const ops = this.queue;
          this.queue = [];
          try {
            if (this.status === 'new' || this.status === 'opening') await this.ready();
            await this.apply(ops);
          } catch (err) {
            // The outcome may be unknown (an I/O error after the write reached the log): forget cached records.
            this.cache?.invalidateWhere();
            for (const op of ops) op.done!.reject(err);
          }
        }
      } finally {
        this.flushing = false;
      }
    })();
    return this.flushDone;
  }

  private async apply(ops: WriteOp[]): Promise<void> {
    // A catalog change is applied alone: the writes after it are planned with the new catalog.
    const at = ops.findIndex((op) => op.kind === 'catalog');
    if (at >= 0 && ops.length > 1) {
      if (at > 0) await this.apply(ops.slice(0, at));
      await this.apply([ops[at]!]);
      if (at < ops.length - 1) await this.apply(ops.slice(at + 1));
      return;
    }
    // One engine write per group: strict when any op of it asked for strict.
    const strict = ops.some((op) => op.kind === 'catalog' || ((op.kind === 'write' || op.kind === 'del' || op.kind === 'raw') && (op.durability ?? this.options.durability) === 'strict'));
    const durability = strict ? 'strict' : 'relaxed';
    for (const op of ops) if (op.kind === 'del' && op.pattern) op.keys = await this.matching(op.pattern);
    if (this.measuring) await this.measuring;
    if (this.sealing) await this.sealOps(ops);
    let evictions = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.applyOnce(ops, durability, evictions < 8);
      } catch (err) {
        if (err instanceof NeedRoom) {
          // Auto-cleanup: evict in the same engine batch as the writes that need the room.
          evictions++;
          // Recorded sizes are trusted on the first try only: a choice that did not free enough reads every candidate.
          const keys = await this.victims(err.bytes, err.keep, evictions === 1);
          if (keys.length === 0) evictions = 8; // nothing evictable: the writes fail with StorageQuotaError
          else {
            const first = ops[0]!;
            ops = first.kind === 'del' && first.evict ? [this.evictOp([...first.keys, ...keys]), ...ops.slice(1)] : [this.evictOp(keys), ...ops];
          }
          continue;
        }
        // Another tab changed the index catalog: plan again with the new one.
        if (!(err instanceof CatalogChanged) || attempt >= 5) throw err;
        await this.loadCatalog();
      }
    }
  }

  private async applyOnce(ops: WriteOp[], durability: Durability, mayEvict: boolean): Promise<void> {
    const keys = writeKeys(ops);
    const extra = this.extraReads(ops, keys);
    let plan: Plan;
    let stale = 0;
    const since = this.cache?.generation();
    if (this.engine.update) {
      // Read and write in one engine transaction (IndexedDB): no other tab can slip in between.
      let planned: Plan | undefined;
      await this.engine.update(keys, (olds, extraValues) => {
        planned = this.plan(ops, keys, olds, extra, extraValues, mayEvict);
        if (mayEvict && planned.needRoom) throw new NeedRoom(planned.needRoom, new Set(keys));
        stale = this.withStaleMarkers(planned.batch);
        return planned.batch;
      }, { durability }, extra);
      plan = planned!;
    } else {
      const olds = await this.engine.getMany('r', keys, true);
      plan = this.plan(ops, keys, olds, extra, await Promise.all(this.readExtra(extra)), mayEvict);
      if (mayEvict && plan.needRoom) throw new NeedRoom(plan.needRoom, new Set(keys));
      stale = this.withStaleMarkers(plan.batch);
      if (plan.batch.length > 0) await this.engine.batch(plan.batch, { durability });
    }
    this.staleMarkers.splice(0, stale);
    this.afterApply(plan, since);
    this.settle(plan);
  }

  /** Reads that planning a group needs besides its records: catalog version, index entries, raw reads. */
  private extraReads(ops: readonly WriteOp[], keys: readonly string[]): ExtraRead[] {
    const reads: ExtraRead[] = [];
    // Another tab may have changed the catalog: its version is read in the write's own transaction.
    if (this.engine.capabilities.multiContext) {
      reads.push({ space: 'm', key: CATALOG_VERSION_KEY }, { space: 'm', key: USED_KEY });
      // Another tab may have rotated the key: read in the write's own transaction (see plan).
      if (this.encryption) reads.push({ space: 'm', key: ENCRYPTION_KEY });
    }
    for (const op of ops) if (op.kind === 'raw') reads.push(...op.reads);
    if (!this.catalog.empty) {
      const puts: { key: string; value: unknown }[] = [];
      for (const op of ops) {
        if (op.kind === 'write') {
          for (const m of op.muts) if (!('del' in m) && this.catalog.forKey(m.key)) puts.push({ key: m.key, value: decodedValue(m) });
        } else if (op.kind === 'build') puts.push(...op.items);
      }
      reads.push(...this.derivedModule().DerivedPlan.reads(this.catalog, puts, keys));
    }
    return reads;
  }

  /** Performs extra reads outside an engine transaction (engines without `update`). */
  private readExtra(extra: readonly ExtraRead[]): MaybePromise<ExtraValue>[] {
    return extra.map((x) => {
      if (!x.prefix) return this.engine.get(x.space, x.key);
      const lt = prefixUpperBound(x.key, this.engine.capabilities.keyOrder);
      return this.engine.range(x.space, lt === undefined ? { gte: x.key } : { gte: x.key, lt });
    });
  }

  /**
   * In-memory follow-up of an applied batch: cache, access order and catalog changes. `since` is
   * the cache generation before the batch's engine write began.
   */
  private afterApply(plan: Plan, since?: number): void {
    const cache = this.cache;
    if (cache && plan.final) {
      // A change notice that came in while the write was in flight may be of a later write by
      // another tab: a browser may run it before our write's `complete` event (other task
      // source). Which record is newer is unknown, so those keys are forgotten, not cached.
      const noticed = since === undefined || cache.generation() === since ? [] : [...plan.written].filter((key) => cache.changedSince(key, since));
      for (const key of plan.written) cache.update(key, plan.final.get(key));
      for (const key of noticed) cache.invalidate(key);
    }
    // A cached body sealed with a key about to be retired would become unreadable: drop it.
    if (cache && plan.resealed) for (const key of plan.resealed) cache.invalidate(key);
    const { final, stored, evicted } = plan;
    if (this.recency) {
      if (evicted) for (const key of evicted) this.recency.forget(key);
      // The record itself only where the engine keeps that very object (memory): sizes are then known by identity.
      if (stored) this.recency.touch(stored.key, stored.size, this.synchronous ? stored.rec : undefined);
      else if (final) for (const key of plan.written) if (final.get(key) === undefined) this.recency.forget(key); else this.recency.touch(key, -1);
    }
    for (const def of plan.flipped ?? []) {
      const cur = this.catalog.get(def.id);
      if (cur) cur.multikey = true;
    }
    for (const r of plan.results) {
      if (r.error !== undefined || r.op.kind !== 'catalog') continue;
      const change = r.value as { put?: IndexInfo; remove?: string };
      if (change.remove) this.catalog.remove(change.remove);
      if (change.put) this.catalog.put(makeDef(change.put));
      this.catalog.version++;
      r.value = undefined;
    }
  }

  /**
   * @internal Loads the index entry code (indexes.ts and what it uses): a backend needs it only
   * once it has an index, so key-value apps never load it.
   */
  async loadDerived(): Promise<IndexesModule> {
    await this.loadProtect(); // index upkeep decodes old records, which may be compressed
    return (this.indexes ??= await import('./indexes'));
  }

  /** Loads the compression/encryption code (and the deflate codec, so that inflating can be synchronous). */
  private async loadProtect(): Promise<ProtectModule> {
    if (!this.protect) {
      const m = await import('./protect/index');
      await m.loadCompression();
      this.protect = m;
    }
    return this.protect;
  }

  /** Writes need sealing (compression or encryption on): they skip the synchronous paths. */
  private get sealing(): boolean {
    return this.compression !== undefined || this.encryption !== undefined;
  }

  /**
   * Compression and encryption, from the options and the key info stored with the data. An
   * encrypted store opened without its key, or with another one, fails here (STORAGE_BAD_KEY).
   */
  private async openProtection(): Promise<void> {
    const o = this.options;
    if (o.enableCompression) {
      await this.loadProtect();
      this.compression = { level: o.compressionLevel ?? 6, threshold: o.compressionThreshold ?? 1024 };
    }
    const stored = await this.engine.get('m', ENCRYPTION_KEY);
    if (o.enableEncryption) {
      // Indexes made before encryption was turned on hold field values in plaintext (checked
      // before anything is written: a refused open leaves the store as it was).
      const catalog = await this.engine.range('m', { gte: CATALOG_PREFIX, lt: prefixUpperBound(CATALOG_PREFIX, 'utf16') });
      const open = catalog.map(([, v]) => v as IndexInfo).find((i) => !i.blind);
      if (open) {
        throw new StorageValidationError(`backend "${this.name}" is opened with encryption, and its ${open.type} index "${open.name}" of "${open.collection}" holds field values in plaintext (it was made before encryption was turned on): open it without encryption, drop its indexes (dropIndex), then turn encryption on and create them again (they become blind)`);
      }
      const p = await this.loadProtect();
      const key = o.encryptionKey as EncryptionKey;
      let { ctx, toStore } = await p.openEncryption(key, stored as never);
      // A new store (or one gaining its blind-index key). Another tab may be doing the same at this
      // very moment: store the key info only if the stored one is still what was read, in one
      // engine transaction, and otherwise open with what the other tab stored.
      let seen = stored;
      for (let tries = 0; toStore !== undefined; tries++) {
        if (tries === 3) throw new StorageConnectionError(`backend "${this.name}": the encryption key info kept changing while opening (other tabs opening it?)`);
        const put: BatchOp = { type: 'put', space: 'm', key: ENCRYPTION_KEY, value: toStore };
        let now: StoredValue | undefined = seen;
        if (this.engine.update) {
          const expected = JSON.stringify(seen ?? null);
          await this.engine.update([], (_, [cur]) => (JSON.stringify((now = cur as StoredValue | undefined) ?? null) === expected ? [put] : []), { durability: 'strict' }, [{ space: 'm', key: ENCRYPTION_KEY }]);
        } else {
          await this.engine.batch([put], { durability: 'strict' }); // one process owns a LevelDB / memory store
        }
        if (JSON.stringify(now ?? null) === JSON.stringify(seen ?? null)) break;
        seen = now;
        ({ ctx, toStore } = await p.openEncryption(key, now as never));
      }
      this.encryption = ctx;
      this.catalog.blinder = p.blindIndexer(ctx);
    } else if (stored !== undefined) {
      throw new StorageConnectionError(`backend "${this.name}" holds encrypted data: open it with enableEncryption and its encryptionKey`, { code: 'STORAGE_BAD_KEY' });
    }
  }

  /** Compresses / encrypts the bodies of queued puts (replacing the prepared puts, once). */
  private async sealOps(ops: WriteOp[]): Promise<void> {
    const p = this.protect!;
    const options = { compression: this.compression, encryption: this.encryption };
    for (const op of ops) {
      if (op.kind !== 'write') continue;
      for (let i = 0; i < op.muts.length; i++) {
        const m = op.muts[i]!;
        if ('del' in m || m.sealed) continue;
        if (this.catalog.forKey(m.key)) decodedValue(m); // index upkeep needs the plain value
        const s = await p.seal(m.body, m.flags, m.key, options);
        op.muts[i] = { ...m, body: s.b, flags: s.f, sealed: true };
      }
    }
  }

  /**
   * Re-keys an encrypted backend: a new data key wrapped by `newKey` is stored first (from then on
   * only `newKey` opens the backend, and it reads every record), then every record sealed with an
   * older key is re-encrypted in place, in chunks, with `rotate` progress events; reads and writes
   * go on meanwhile. Resumable: a backend opened after an interruption finishes the re-encryption
   * in the background. A rotation called while another one (or that resumption) runs starts when
   * it ends. Resolves the number of records re-encrypted.
   */
  async rotateEncryptionKey(newKey: EncryptionKeyInput, options?: { signal?: AbortSignalLike }): Promise<number> {
    if (this.status !== 'open') await this.ready();
    if (!this.encryption) invalid(`backend "${this.name}" is not encrypted: open it with enableEncryption and encryptionKey first`);
    return this.oneRotation(async () => {
      const p = await this.loadProtect();
      const { ctx, toStore } = await p.rotateContext(this.encryption!, newKey as EncryptionKey);
      this.rotating = true; // own writes sealed with the old key id may land after the new info
      try {
        await this.storeKeyInfo(this.encryption!.currentKeyId, toStore);
        this.encryption = ctx;
      } finally {
        this.rotating = false;
      }
      this.options = { ...this.options, encryptionKey: newKey };
      return this.resealAll(options?.signal);
    });
  }

  /**
   * Replaces the stored key info, in one engine transaction with a check that its current key id
   * is still `expected`: another tab that rotated meanwhile made key infos this one cannot know.
   */
  private storeKeyInfo(expected: number, info: unknown): Promise<void> {
    return this.rawWrite([{ space: 'm', key: ENCRYPTION_KEY }], ([cur]) => {
      const now = (cur as { current?: number } | undefined)?.current;
      if (now !== expected) {
        throw new StorageConnectionError(`backend "${this.name}": another tab or worker rotated the encryption key meanwhile (key id ${now}, this one expected ${expected}); nothing was changed: reopen with the new encryptionKey`, { code: 'STORAGE_BAD_KEY' });
      }
      return { ops: [{ type: 'put', space: 'm', key: ENCRYPTION_KEY, value: info as StoredValue }], result: undefined };
    }, 'strict');
  }

  /**
   * Runs `fn` once the rotation in progress ends. Two at once lose records: both would make key id
   * current + 1 (different keys under one id), and the first to finish retires keys that the
   * other still reads with.
   */
  private oneRotation<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.rotation.then(fn);
    this.rotation = run.catch(() => {});
    return run;
  }

  /** Re-encrypts every record not sealed with the current key, then retires the old keys. */
  private async resealAll(signal?: AbortSignalLike): Promise<number> {
    const p = await this.loadProtect();
    // Writes already being sealed with the old key land before the scan passes them.
    while (this.flushing) await this.flushDone;
    const current = this.encryption!.currentKeyId;
    const total = (await this.engine.keys('r', {})).length;
    let done = 0;
    let resealed = 0;
    let gt: string | undefined;
    this.emitRotate('resealing', 0, total);
    for (;;) {
      if (signal?.aborted) throw signal.reason ?? new Error('key rotation aborted');
      const rows = await this.engine.range('r', gt === undefined ? { limit: 256 } : { gt, limit: 256 });
      if (rows.length === 0) break;
      gt = rows[rows.length - 1]![0];
      const items: { key: string; stamp: string; b: Uint8Array; f: number }[] = [];
      for (const [key, raw] of rows) {
        const rec = checkEnvelope(raw, key);
        if (!(rec.f & CodecFlag.Encrypted) || p.sealedKeyId(rec.b) === current) continue;
        const plain = await p.unseal(rec.b, rec.f, key, this.encryption);
        // Re-encrypt only (a compressed body stays compressed: seal() leaves the codec's output alone).
        const s = await p.seal(plain.b, plain.f, key, { compression: rec.f & CodecFlag.Compressed ? { level: this.options.compressionLevel ?? 6, threshold: 0 } : undefined, encryption: this.encryption });
        items.push({ key, stamp: recordStamp(rec), b: s.b as Uint8Array, f: s.f });
      }
      if (items.length > 0) resealed += await this.enqueue<number>({ kind: 'reseal', items });
      done += rows.length;
      this.emitRotate('resealing', Math.min(done, total), total);
      if (rows.length < 256) break;
    }
    const retired = p.retireKeys(this.encryption!);
    await this.storeKeyInfo(this.encryption!.currentKeyId, retired.toStore);
    this.encryption = retired.ctx;
    this.emitRotate('done', total, total);
    return resealed;
  }

  private emitRotate(phase: 'resealing' | 'done', done: number, total: number): void {
    if (this.events.has('rotate')) this.events.emit('rotate', { backend: this.name, phase, done, total });
  }

  /** @internal The value of a stored record: decoded, after decompressing / decrypting its body when its flags say so. */
  decodeRecord(rec: RecordEnvelope, key: string): unknown {
    if ((rec.f & SEALED) === 0) return decodeValue(rec.b);
    // Compressed bodies inflate at once; encrypted ones too where node:crypto is available.
    const now = this.protect?.unsealNow(rec.b, rec.f, key, this.encryption);
    if (now !== undefined) return decodeValue(now.b);
    return this.loadProtect().then((p) => p.unseal(rec.b, rec.f, key, this.encryption)).then((s) => decodeValue(s.b));
  }

  /** The index entry code, loaded before any index can exist (see loadDerived). */
  private derivedModule(): IndexesModule {
    if (!this.indexes) throw new StorageError('internal: index code used before it was loaded');
    return this.indexes;
  }

  /** Loads the index catalog from the metadata space. */
  private async loadCatalog(): Promise<void> {
    const [rows, version] = await Promise.all([
      this.engine.range('m', { gte: CATALOG_PREFIX, lt: prefixUpperBound(CATALOG_PREFIX, 'utf16') }),
      this.engine.get('m', CATALOG_VERSION_KEY),
    ]);
    if (rows.length > 0) await this.loadDerived();
    this.catalog.load(rows.map(([, v]) => v as IndexInfo), (version as number | undefined) ?? 0);
  }

  /** Adds deletes of the markers of transactions known to have committed; returns how many. */
  private withStaleMarkers(batch: BatchOp[]): number {
    const n = this.staleMarkers.length;
    if (n > 0 && batch.length > 0) for (const id of this.staleMarkers) batch.push({ type: 'del', space: 'm', key: TX_MARKER + id });
    return batch.length > 0 ? n : 0;
  }

  /** Resolves or rejects each op of an applied plan, then emits its events. */
  private settle(plan: Plan): void {
    this.usedBytes = plan.used;
    for (const r of plan.results) if (r.error === undefined && r.op.kind === 'write' && r.op.marker && r.op.muts.length > 0) this.staleMarkers.push(r.op.marker);
    this.recordWrites(plan.written);
    if (this.channel) this.broadcast(plan.results.flatMap((r) => (r.error === undefined && r.events) || []));
    for (const r of plan.results) {
      if (r.error !== undefined) r.op.done!.reject(r.error);
      else {
        r.op.done!.resolve(r.value);
        if (r.events) this.emitAll(r.events);
      }
    }
  }

  /**
   * Turns queued writes into one engine batch, given the current records of every key they touch.
   * Pure except for reading counters: nothing is applied until the batch is. With `mayEvict`, a
   * plan that needs room may be cut short (only its `needRoom` counts: the caller evicts and plans
   * again, never applies it).
   */
  private plan(ops: WriteOp[], keyList: string[], olds: readonly (StoredValue | undefined)[], extra: readonly ExtraRead[], extraValues: readonly ExtraValue[], mayEvict = false): Plan {
    let counted = this.usedBytes;
    /** The stored byte counter shared by every tab (multi-context engines): read in this transaction. */
    let shared = false;
    if (this.engine.capabilities.multiContext) {
      if (((extraValues[0] as number | undefined) ?? 0) !== this.catalog.version) throw new CatalogChanged();
      if (typeof extraValues[1] === 'number') {
        counted = extraValues[1];
        shared = true;
      } else shared = counted !== undefined; // a limit set: this write starts the shared counter
      // A tab still sealing with the key id of before another tab's rotation must not write: the
      // other tab's re-encryption may have passed those keys already, and once it retires the
      // old data key such records could never be read again.
      const info = this.encryption && !this.rotating ? (extraValues[2] as { current?: number } | undefined) : undefined;
      if (info && info.current !== this.encryption!.currentKeyId) {
        throw new StorageConnectionError(`backend "${this.name}": another tab or worker rotated the encryption key (now key id ${info.current}, this one seals with ${this.encryption!.currentKeyId}); close this backend and open it with the new encryptionKey. Nothing was written`, { code: 'STORAGE_BAD_KEY' });
      }
    }
    const only = ops.length === 1 ? ops[0]! : undefined;
    if (only?.kind === 'write' && only.muts.length === 1 && !only.check && !('del' in only.muts[0]!) && !shared && !this.cache && !this.catalog.forKey(only.muts[0]!.key)) {
      // The hot path (one set): the general loop below, without its maps and arrays.
      const p = only.muts[0] as PreparedPut;
      const put = this.putWithin(p, olds[0], counted);
      if (put.fits) return { batch: put.batch, results: [{ op: only, events: put.events }], used: put.used, written: [p.key], stored: put.stored };
      // Does not fit: the loop refuses it, unless auto-cleanup makes room first.
      if (mayEvict && this.cleanup) return { batch: [], results: [], used: counted, written: [], needRoom: put.used! - this.maxBytes! };
    }
    const evicting = counted !== undefined && ops.length === 2 && !shared ? this.planEviction(ops, keyList, olds, counted) : undefined;
    if (evicting) return evicting;
    const current = new Map<string, RecordEnvelope | undefined>();
    for (let i = 0; i < keyList.length; i++) {
      const raw = olds[i];
      current.set(keyList[i]!, raw === undefined ? undefined : checkEnvelope(raw, keyList[i]!));
    }
    const now = Date.now();
    const batch: BatchOp[] = [];
    const results: Plan['results'] = [];
    let used = counted;
    let needRoom = 0;
    /** Keys changed by earlier ops of this group: transactions validated later in it must see them. */
    const groupWritten = new Set<string>();
    let resealed: string[] | undefined;
    // Index entries change in the same batch as their records.
    const derived = this.catalog.empty ? undefined : new (this.derivedModule().DerivedPlan)(this.catalog, extra, extraValues);
    const changeOf = (key: string, old: RecordEnvelope | undefined, next: RecordEnvelope | undefined, decoded?: unknown): RecordChange => ({ key, old: indexed(old, undefined, this.protect), next: indexed(next, decoded, this.protect) });
    // Point values of raw writes, with the effect of earlier ops of the group.
    let points: Map<string, StoredValue | undefined> | undefined;

    for (const op of ops) {
      let events: PendingEvent[] | undefined;
      if (op.kind === 'write') {
        const conflict = op.check && (this.conflictOf(op.check, groupWritten) ?? staleRead(op.check, current));
        // (A conflicting transaction writes nothing: its whole op is skipped.)
        if (conflict) {
          results.push({ op, error: new StorageConflictError(conflict), events });
          continue;
        }
        // Final state of every key the op touches; versions count once per write of a key.
        const staged = new Map<string, RecordEnvelope | undefined>();
        let delta = 0;
        for (const m of op.muts) {
          const before = staged.has(m.key) ? staged.get(m.key) : current.get(m.key);
          const after = 'del' in m ? undefined : buildRecord(m, before, now);
          if (used !== undefined) delta += (after ? recordSize(m.key, after) : 0) - (before ? this.storedSize(m.key, before) : 0);
          staged.set(m.key, after);
        }
        if (used !== undefined && delta > 0 && used + delta > this.maxBytes!) {
          if (this.cleanup) needRoom = Math.max(needRoom, used + delta - this.maxBytes!);
          results.push({ op, error: new StorageQuotaError(`write of ${delta} bytes would exceed maxSize ${this.maxBytes} of backend "${this.name}" (${used} bytes used); nothing was written`), events });
          continue;
        }
        let entries: { ops: BatchOp[]; commit(): void } | undefined;
        if (derived) {
          const changes: RecordChange[] = [];
          for (const [key, rec] of staged) {
            if (!this.catalog.forKey(key)) continue;
            const old = current.get(key);
            if (old === undefined && rec === undefined) continue;
            const put = rec && (op.muts.findLast((m) => m.key === key) as PreparedPut);
            changes.push(changeOf(key, old, rec, put && decodedValue(put)));
          }
          try {
            if (changes.length > 0) entries = derived.change(changes, now);
          } catch (error) {
            results.push({ op, error, events });
            continue;
          }
        }
        if (used !== undefined) used += delta;
        if (entries) {
          for (const e of entries.ops) batch.push(e);
          entries.commit();
        }
        for (const [key, rec] of staged) {
          const old = current.get(key);
          if (rec) {
            batch.push({ type: 'put', space: 'r', key, value: rec });
            if (rec.e !== 0) this.addExpiry(batch, rec.e, key);
            if (this.wants('set')) (events ??= []).push(['set', { key, backend: this.name, metadata: metadataOf(rec) }]);
          } else if (old) {
            batch.push({ type: 'del', space: 'r', key });
            if (old.e !== 0) batch.push({ type: 'del', space: 'x', key: expiryKey(old.e, key) });
            if (this.wants('delete') && (old.e === 0 || old.e > now)) (events ??= []).push(['delete', { key, backend: this.name }]);
          } else continue;
          current.set(key, rec);
          groupWritten.add(key);
        }
        // A committed transaction leaves a marker in the same batch, so that after an indeterminate
        // failure transaction(fn) can tell whether the commit landed before running fn again.
        if (op.marker && op.muts.length > 0) batch.push({ type: 'put', space: 'm', key: TX_MARKER + op.marker, value: now });
        results.push({ op, events });
      } else if (op.kind === 'del') {
        let count = 0;
        const { pattern } = op;
        // A clear also removes matching keys that earlier writes of this same group create.
        const targets = pattern ? new Set([...op.keys, ...[...current.keys()].filter((k) => k.startsWith(pattern.prefix) && pattern.matches(k))]) : op.keys;
        for (const key of targets) {
          const old = current.get(key);
          if (old === undefined) continue;
          batch.push({ type: 'del', space: 'r', key });
          if (old.e !== 0) batch.push({ type: 'del', space: 'x', key: expiryKey(old.e, key) });
          if (derived && this.catalog.forKey(key)) this.derive(derived, batch, changeOf(key, old, undefined), now);
          if (used !== undefined) used -= this.storedSize(key, old);
          current.set(key, undefined);
          groupWritten.add(key);
          if (op.evict) {
            if (this.wants('evict')) (events ??= []).push(['evict', { key, backend: this.name, reason: old.e !== 0 && old.e <= now ? 'expired' : op.evict }]);
          } else if (old.e === 0 || old.e > now) {
            count++;
            if (this.wants('delete')) (events ??= []).push(['delete', { key, backend: this.name }]);
          }
        }
        results.push({ op, value: count, events });
      } else if (op.kind === 'expire') {
        const expired: string[] = [];
        for (const c of op.candidates) {
          batch.push({ type: 'del', space: 'x', key: c.indexKey });
          const old = current.get(c.key);
          if (old === undefined || old.e !== c.expiresAt || old.e > now) continue; // stale index entry
          batch.push({ type: 'del', space: 'r', key: c.key });
          if (derived && this.catalog.forKey(c.key)) this.derive(derived, batch, changeOf(c.key, old, undefined), now);
          if (used !== undefined) used -= this.storedSize(c.key, old);
          current.set(c.key, undefined);
          groupWritten.add(c.key);
          expired.push(c.key);
          if (this.wants('expire')) (events ??= []).push(['expire', { key: c.key, backend: this.name, expiresAt: c.expiresAt }]);
        }
        results.push({ op, value: expired, events });
      } else if (op.kind === 'raw') {
        if (!points) {
          // Only keys some raw op of the group reads need tracking (a time-series write emits
          // thousands of ops and reads a few dozen keys).
          points = new Map();
          extra.forEach((x, i) => { if (!x.prefix) points!.set(x.space + x.key, extraValues[i]); });
        }
        try {
          const { ops: rawOps, result } = op.fn(op.reads.map((x) => points!.get(x.space + x.key)), now);
          for (const o of rawOps) {
            batch.push(o);
            const sk = o.space + o.key;
            if (points.has(sk)) points.set(sk, o.type === 'put' ? o.value : undefined);
          }
          results.push({ op, value: result, events });
        } catch (error) {
          results.push({ op, error, events });
        }
      } else if (op.kind === 'reseal') {
        let n = 0;
        for (const it of op.items) {
          const rec = current.get(it.key);
          if (rec === undefined || recordStamp(rec) !== it.stamp) continue;
          const next: RecordEnvelope = { ...rec, b: it.b, f: it.f };
          batch.push({ type: 'put', space: 'r', key: it.key, value: next });
          current.set(it.key, next);
          if (used !== undefined) used += recordSize(it.key, next) - recordSize(it.key, rec);
          (resealed ??= []).push(it.key);
          n++;
        }
        results.push({ op, value: n, events });
      } else if (op.kind === 'build') {
        const changes: RecordChange[] = [];
        for (const it of op.items) {
          const rec = current.get(it.key);
          if (recordStamp(rec) !== it.stamp || rec === undefined) continue; // rewritten since: that write indexed it
          changes.push({ key: it.key, old: undefined, next: { value: it.value, meta: metadataOf(rec), expiresAt: rec.e } });
        }
        try {
          const entries = derived!.change(changes, now, this.catalog.get(op.def.id) ?? op.def);
          for (const e of entries.ops) batch.push(e);
          entries.commit();
          results.push({ op, value: changes.length, events });
        } catch (error) {
          results.push({ op, error, events });
        }
      } else {
        const { ops: catalogOps, put, remove } = op.fn(this.catalog);
        for (const o of catalogOps) batch.push(o);
        results.push({ op, value: { put, remove }, events });
      }
    }

    derived?.finish(batch);
    if (shared && used !== undefined && (used !== counted || typeof extraValues[1] !== 'number') && batch.length > 0) batch.push({ type: 'put', space: 'm', key: USED_KEY, value: used });
    return { batch, results, used, written: groupWritten, flipped: derived?.flipped.values(), needRoom, final: this.cache || this.recency ? current : undefined, resealed };
  }

  /**
   * Auto-cleanup's usual group, its evictions then one plain put: what the loop in plan() does for
   * it, without that loop's maps (at a size limit this runs for most writes). Undefined for any
   * other group, and when the put still does not fit (the loop then refuses it or asks for room).
   */
  private planEviction(ops: WriteOp[], keyList: string[], olds: readonly (StoredValue | undefined)[], counted: number): Plan | undefined {
    const [evict, w] = ops as [WriteOp, WriteOp];
    const code = this.cleanupCode;
    if (!code || evict.kind !== 'del' || !evict.evict || evict.pattern || w.kind !== 'write' || w.muts.length !== 1 || w.check || w.marker || this.cache || !this.catalog.empty) return undefined;
    const p = w.muts[0]!;
    const n = evict.keys.length;
    // keyList is the evicted keys, then the put's (victims never include it); anything else takes the loop.
    if ('del' in p || keyList.length !== n + 1 || keyList[n] !== p.key) return undefined;
    const e = code.evictions(evict.keys, olds, evict.evict, this.recency, this.wants('evict') ? this.name : undefined, expiryKey);
    const put = this.putWithin(p, olds[n], counted - e.freed);
    if (!put.fits) return undefined;
    for (const o of put.batch) e.batch.push(o);
    return { batch: e.batch, results: [{ op: evict, value: 0, events: e.events }, { op: w, events: put.events }], used: put.used, written: [...e.evicted, p.key], evicted: e.evicted, stored: put.stored };
  }

  /**
   * One put over its key's stored record, and under a size limit (`used` bytes so far) the
   * accounting of the loop in plan(): `fits` is false when it would pass `maxSize`.
   */
  private putWithin(p: PreparedPut, old: StoredValue | undefined, used: number | undefined) {
    const { batch, rec } = this.onePut(p, old);
    const size = used === undefined ? -1 : recordSize(p.key, rec);
    const after = used === undefined ? undefined : used + size - (old === undefined ? 0 : this.storedSize(p.key, checkEnvelope(old, p.key)));
    const events: PendingEvent[] | undefined = this.wants('set') ? [['set', { key: p.key, backend: this.name, metadata: metadataOf(rec) }]] : undefined;
    return { fits: after === undefined || after <= used! || after <= this.maxBytes!, batch, events, used: after, stored: this.recency && { key: p.key, size, rec } };
  }

  /** `recordSize` of a record as read from the engine: auto-cleanup remembers the sizes of records written on a memory engine (by identity, so exact). */
  private storedSize(key: string, rec: RecordEnvelope): number {
    return this.recency?.sizeOf(key, rec) ?? recordSize(key, rec);
  }

  /** Adds the index changes of a record deletion (which cannot conflict) to a batch. */
  private derive(derived: InstanceType<IndexesModule['DerivedPlan']>, batch: BatchOp[], change: RecordChange, now: number): void {
    const entries = derived.change([change], now);
    for (const e of entries.ops) batch.push(e);
    entries.commit();
  }

  /** The batch that stores one prepared put over the key's current stored value. */
  private onePut(p: PreparedPut, raw: StoredValue | undefined): { batch: BatchOp[]; rec: RecordEnvelope } {
    const rec = buildRecord(p, raw === undefined ? undefined : checkEnvelope(raw, p.key), Date.now());
    const batch: BatchOp[] = [{ type: 'put', space: 'r', key: p.key, value: rec }];
    if (rec.e !== 0) this.addExpiry(batch, rec.e, p.key);
    return { batch, rec };
  }

  /** Adds an expiry-index entry to a batch (lowering `nextDeadline` first: never too late). */
  private addExpiry(batch: BatchOp[], expiresAt: number, key: string): void {
    if (expiresAt < this.nextDeadline) this.nextDeadline = expiresAt;
    if (expiresAt < this.deadlineFloor) this.deadlineFloor = expiresAt;
    batch.push({ type: 'put', space: 'x', key: expiryKey(expiresAt, key), value: 0 });
  }

  /** Reads the earliest expiry-index entry to bound `nextDeadline`. */
  private async findNextDeadline(): Promise<void> {
    if (this.engine.capabilities.multiContext) return; // stays 0: always read the index
    this.deadlineFloor = Infinity; // entries planned while we read lower it
    const [first] = await this.engine.keys('x', { limit: 1 });
    const found = first === undefined ? Infinity : parseInt(first.slice(0, EXPIRY_DIGITS), 16);
    this.nextDeadline = Math.min(found, this.deadlineFloor);
  }

  private recordWrites(keys: Iterable<string>): void {
    if (this.openTransactions === 0) return;
    const seq = ++this.seq;
    for (const key of keys) this.lastWritten.set(key, seq);
  }

  /** Why a transaction must not commit, or undefined when nothing it read or wrote changed. */
  private conflictOf(check: TxCheck & { writes: readonly string[] }, groupWritten: ReadonlySet<string>): string | undefined {
    const changedAfter = (key: string, seq: number) => (this.lastWritten.get(key) ?? 0) > seq || groupWritten.has(key);
    for (const [key, seq] of check.reads) if (changedAfter(key, seq)) return `key "${key}" changed after this transaction read it`;
    for (const key of check.writes) if (changedAfter(key, check.startSeq)) return `key "${key}" was written by someone else during this transaction`;
    for (const { pattern, seq } of check.ranges) {
      for (const [key, at] of this.lastWritten) {
        if (at > seq && key.startsWith(pattern.prefix) && pattern.matches(key)) return `key "${key}" under the pattern "${pattern.source}" changed after this transaction read it`;
      }
      for (const key of groupWritten) {
        if (key.startsWith(pattern.prefix) && pattern.matches(key)) return `key "${key}" under the pattern "${pattern.source}" changed after this transaction read it`;
      }
    }
    return undefined;
  }

  // ---------------------------------------------------------------- transaction support (@internal)

  /** @internal The write sequence now: a read issued after this sees every change up to it. */
  get writeSeq(): number {
    return this.seq;
  }

  /** @internal A transaction opened: start logging writes. */
  transactionOpened(startSeq: number): void {
    this.openTransactions++;
    this.openStarts.set(startSeq, (this.openStarts.get(startSeq) ?? 0) + 1);
  }

  /** @internal A transaction finished: stop logging writes once none is open. */
  transactionClosed(startSeq: number): void {
    const n = this.openStarts.get(startSeq) ?? 1;
    if (n > 1) this.openStarts.set(startSeq, n - 1);
    else this.openStarts.delete(startSeq);
    if (--this.openTransactions === 0) this.lastWritten.clear();
    else if (this.lastWritten.size > 4096) {
      // Transactions keep overlapping: forget changes older than every open transaction's start
      // (each of their reads happened after it, so such changes can never conflict).
      const oldest = Math.min(...this.openStarts.keys());
      for (const [key, seq] of this.lastWritten) if (seq <= oldest) this.lastWritten.delete(key);
    }
  }

  /** @internal The live record of `key` (undefined when missing or expired), for transactions. */
  async readRecord(key: string): Promise<{ live: RecordEnvelope | undefined; stamp: string }> {
    if (this.status !== 'open') await this.ready();
    const raw = await this.engine.get('r', key);
    return { live: this.live(raw, key, Date.now()), stamp: recordStamp(raw === undefined ? undefined : checkEnvelope(raw, key)) };
  }


  // ---------------------------------------------------------------- derived data (@internal)

  /** @internal Engine key order (range reads come back in it). */
  get keyOrder(): 'utf16' | 'codepoint' {
    return this.engine.capabilities.keyOrder;
  }

  /**
   * @internal Runs `fn` in the write queue: `reads` (point reads) are read in the same engine
   * transaction as its ops are applied, with earlier writes of the same group visible. `fn` must be
   * synchronous; a throw rejects the call and writes nothing.
   */
  rawWrite<T>(reads: readonly ExtraRead[], fn: RawPlan<T>, durability?: Durability): Promise<T> {
    for (const r of reads) if (r.prefix || r.space === 'r') invalid('rawWrite reads are point reads outside the record space');
    return this.enqueue<T>({ kind: 'raw', reads, fn, durability });
  }

  /** @internal A range of any keyspace. */
  async rawRange(space: Space, q: RangeQuery): Promise<[string, StoredValue][]> {
    if (this.status !== 'open') await this.ready();
    return this.engine.range(space, q);
  }

  /** @internal Keys of a range of any keyspace. */
  async rawKeys(space: Space, q: RangeQuery): Promise<string[]> {
    if (this.status !== 'open') await this.ready();
    return this.engine.keys(space, q);
  }

  /** @internal One value of any keyspace. */
  async rawGet(space: Space, key: string): Promise<StoredValue | undefined> {
    if (this.status !== 'open') await this.ready();
    return this.engine.get(space, key);
  }

  /** @internal Registers a task run after each background sweep while the backend is open. */
  addMaintenance(task: (now: number) => Promise<void>): void {
    this.maintenance.push(task);
  }

  /** @internal Applies a transaction's writes if nothing it depends on changed (StorageConflictError otherwise). */
  commitWrites(muts: Mutation[], check: TxCheck & { writes: readonly string[] }, durability: Durability, id: string): Promise<void> {
    return this.enqueue<void>({ kind: 'write', muts, durability, check, marker: id });
  }

  /** @internal Did the commit of transaction `id` land? (Its marker is kept until the next write.) */
  async committed(id: string): Promise<boolean> {
    if (this.status !== 'open') await this.ready();
    return (await this.engine.get('m', TX_MARKER + id)) !== undefined;
  }

  /**
   * Sums the stored bytes of every record (once, when a size limit is first needed). With
   * auto-cleanup, also loads its code and ranks the entries no use was recorded for yet.
   */
  private async measure(): Promise<void> {
    if (this.cleanup) this.cleanupCode ??= await import('./cleanup');
    let total = 0;
    const rows = await this.engine.range('r', {});
    const cleanup = this.cleanup && this.cleanupCode;
    const byAge: [key: string, size: number, updatedAt: number][] | undefined = cleanup ? [] : undefined;
    for (const [key, raw] of rows) {
      const rec = checkEnvelope(raw, key);
      const size = recordSize(key, rec);
      total += size;
      byAge?.push([key, size, rec.u]);
    }
    this.usedBytes = total;
    if (byAge && cleanup) {
      // Entries not accessed in this process yet rank by their last write, oldest first.
      byAge.sort((a, b) => a[2] - b[2]);
      (this.recency ??= new cleanup.AccessOrder()).seed(byAge);
    }
  }

  /**
   * Entries to evict so that at least `bytes` are freed (see cleanup.ts): never a key of `keep`
   * (written by the writes that need the room) or of an open transaction. `sync`: chosen without
   * yielding (a synchronous engine; none before the cleanup code is loaded).
   */
  private victims(bytes: number, keep: ReadonlySet<string>, trustSizes: boolean, sync?: true): string[] | Promise<string[]> {
    const code = this.cleanupCode;
    if (!code) return sync ? [] : import('./cleanup').then((c) => (this.cleanupCode = c, this.victims(bytes, keep, trustSizes)));
    const now = Date.now();
    // Evict a little ahead (1/64 of the limit) so that a store at its limit does not evict on every write.
    const room = { bytes, ahead: Math.max(bytes, Math.floor(this.maxBytes! / 64)), keep, pinned: this.pinned, exclusive: trustSizes && !this.engine.capabilities.multiContext };
    // nextDeadline bounds the expiry index from below (single-context engines): often no read at all.
    const expiry = { space: 'x' as const, digits: EXPIRY_DIGITS, due: now < this.nextDeadline ? undefined : { lt: expiryKey(now + 1, '') } };
    return code.victims(this.engine, this.cleanup ?? 'lru', this.recency ?? new code.AccessOrder(), room, expiry, sync);
  }

  /** The op that deletes auto-cleanup's victims (planned first in the batch of the writes that need the room). */
  private evictOp(keys: string[]): WriteOp {
    return { kind: 'del', keys, durability: undefined, evict: this.cleanup ?? 'lru', done: { resolve() {}, reject() {} } };
  }

  /** Plans `ops` on a synchronous engine (its reads return values). */
  private planNow(ops: WriteOp[], mayEvict: boolean): Plan {
    const keys = writeKeys(ops);
    const olds = keys.length === 1 ? [this.engine.get('r', keys[0]!)] : this.engine.getMany('r', keys);
    const extra = this.extraReads(ops, keys);
    return this.plan(ops, keys, olds as (StoredValue | undefined)[], extra, this.readExtra(extra) as ExtraValue[], mayEvict);
  }

  private scheduleSweep(delay: number): void {
    clearTimeout(this.sweepTimer);
    if (this.options.sweepInterval === 0 || this.status !== 'open') return;
    this.sweepTimer = setTimeout(() => void this.sweep(), delay);
    (this.sweepTimer as { unref?: () => void }).unref?.(); // never keep a Node process alive
  }

  /** @internal One sweep: deletes entries whose deadline passed, using the expiry index (never a full scan). */
  async sweep(limit = 512): Promise<string[]> {
    let expired: string[] = [];
    try {
      if (this.status !== 'open') return [];
      const due = await this.engine.keys('x', { lt: expiryKey(Date.now() + 1, ''), limit });
      if (due.length > 0) {
        const candidates = due.map((indexKey) => ({
          indexKey, key: indexKey.slice(EXPIRY_DIGITS), expiresAt: parseInt(indexKey.slice(0, EXPIRY_DIGITS), 16),
        }));
        expired = await this.enqueue<string[]>({ kind: 'expire', candidates });
        if (due.length < limit) await this.findNextDeadline();
      }
      for (const task of this.maintenance) {
        if (this.status !== 'open') break;
        try {
          await task(Date.now());
        } catch (error) {
          if (this.status === 'open') this.events.emit('error', { error: error as Error, backend: this.name, operation: 'maintenance' });
        }
      }
      this.scheduleSweep(due.length === limit ? 0 : this.options.sweepInterval);
    } catch (error) {
      if (this.status === 'open') {
        this.events.emit('error', { error: error as Error, backend: this.name, operation: 'sweep' });
        this.scheduleSweep(this.options.sweepInterval);
      }
    }
    return expired;
  }
}

/** The envelope a put stores, given the key's current record: createdAt kept while alive, version +1. */
/** @internal */
export function buildRecord(p: PreparedPut, old: RecordEnvelope | undefined, now: number): RecordEnvelope {
  const alive = old !== undefined && (old.e === 0 || old.e > now);
  return {
    f: p.flags, c: alive ? old.c : now, u: now, e: p.ttl ? now + Math.round(p.ttl * 1000) : 0,
    l: p.ttl, t: p.tags, n: (old?.n ?? 0) + 1, b: p.body,
  };
}

/** Expiry-index key: fixed-width hex deadline, then the record key. */
function expiryKey(expiresAt: number, key: string): string {
  return expiresAt.toString(16).padStart(EXPIRY_DIGITS, '0') + key;
}

/** @internal Validates and encodes one put (keys checked by the caller). */
export function prepare(key: string, value: unknown, ttl: number | undefined, tags: readonly string[] | undefined, what = 'value'): PreparedPut {
  let body: string | Uint8Array;
  try {
    body = encodeValue(value);
  } catch (e) {
    if (e instanceof StorageError && what !== 'value') throw new (e.constructor as typeof StorageError)(`${what}: ${e.message}`, { cause: e });
    throw e;
  }
  return { key, body, flags: typeof body === 'string' ? 0 : CodecFlag.Binary, ttl: ttl ?? 0, tags: tags ? [...tags] : undefined };
}

/** @internal Public metadata of an envelope (a fresh object). */
export function metadataOf(rec: RecordEnvelope): Metadata {
  const m: Metadata = { createdAt: rec.c, updatedAt: rec.u, version: rec.n };
  if (rec.l !== 0) m.ttl = rec.l;
  if (rec.e !== 0) m.expiresAt = rec.e;
  if (rec.t) m.tags = [...rec.t];
  return m;
}
