/**
 * The StorageSystem facade: named backends, routing by name, the default backend, events and the
 * process/page-wide singleton. The runtime (Node, browser) only decides which engine serves the
 * `file` tier; see the entry files.
 */
import { Backend, type CleanupStrategy, type ResolvedBackendOptions } from './backend';
import type { EngineFactory } from './engine';
import { StorageConnectionError, invalid } from './errors';
import { Emitter } from './events';
import { describe } from './keys';
import { createMemoryEngine } from './memory-engine';
import { checkBackendOptions, checkConfig, checkTransactionOptions } from './options';
import { DEFAULT_TRANSACTION_TIMEOUT, Transaction, runTransaction, type RunTransactionOptions, type TransactionOptions } from './transaction';
import type { Collection } from './collection';
import type { CacheMetrics } from './cache';
import type { IndexInfo } from './catalog';
import type { QueryOptions, QueryPlan } from './query/execute';
import type { TimeSeries } from './timeseries-handle';
import type {
  AbortSignalLike, BackendOptions, BackendType, EncryptionKeyInput, BatchEntry, BatchOptions, Entry, IndexOptions, RouteOptions, SearchHit, SearchIndexOptions, SearchOptions, SetOptions, StorageConfig,
  StorageEventName, StorageListener,
} from './types';

/** What a runtime provides: the engine of the file tier and its default location. */
export interface Platform {
  readonly runtime: string;
  /** Engine of the `file` tier, when this runtime has one. */
  readonly file?: EngineFactory;
  /** Location used when `basePath` is not given. */
  readonly defaultBasePath: string;
}

const TYPES: readonly BackendType[] = ['memory', 'file', 'database'];
const instances = new Map<unknown, StorageSystem>();

/**
 * One storage API over named backends (memory, file, …), the same in Node, browsers and workers.
 *
 * @example
 * ```ts
 * const storage = StorageSystem.getInstance();
 * await storage.set('user.profile', { name: 'Ada' }, { ttl: 3600 });
 * const profile = await storage.get('user.profile');
 * ```
 */
export class StorageSystem {
  /** @internal The runtime's engines; entry files override it. */
  protected static platform: Platform = { runtime: 'core', defaultBasePath: 'tierstore-data' };

  /** The configuration this system was created with (validated). */
  readonly config: Readonly<StorageConfig>;
  private readonly backends = new Map<string, Backend>();
  private readonly events = new Emitter();
  private defaultName: string;
  private closed = false;

  /**
   * The page- or process-wide instance, created on first call. Passing a config to a later call
   * is allowed only when it equals the first one (otherwise StorageValidationError).
   */
  static getInstance(config?: StorageConfig): StorageSystem {
    const existing = instances.get(this);
    if (existing) {
      if (config !== undefined && JSON.stringify(checkConfig(config)) !== JSON.stringify(existing.config)) {
        invalid('StorageSystem.getInstance(config): the instance already exists with a different config; pass no config, or create an independent one with new StorageSystem(config)');
      }
      return existing;
    }
    const created = new this(config);
    instances.set(this, created);
    return created;
  }

  /** An independent system (not the singleton). */
  constructor(config?: StorageConfig) {
    this.config = Object.freeze({ ...checkConfig(config) });
    if (this.config.enableEncryption && this.config.encryptionKey === undefined) {
      invalid('StorageConfig: enableEncryption needs an encryptionKey (a passphrase, 32 key bytes or a CryptoKey)');
    }
    this.defaultName = this.config.defaultBackend ?? 'memory';
  }

  /**
   * Creates the backend `options.name ?? type`, or returns the existing one with that name after
   * applying the new options (same type and location required; data kept).
   *
   * @example
   * ```ts
   * const files = storage.createBackend('file', { basePath: './data' });
   * const cache = storage.createBackend('memory', { name: 'cache', maxSize: '100MB' });
   * ```
   */
  createBackend(type: BackendType, options?: BackendOptions): Backend {
    this.checkOpen();
    if (!TYPES.includes(type)) invalid(`unknown backend type ${describe(type)}; types are ${TYPES.join(', ')}`);
    const o = checkBackendOptions(options);
    const name = o.name ?? type;
    const existing = this.backends.get(name);
    const platform = (this.constructor as typeof StorageSystem).platform;
    const resolved: ResolvedBackendOptions = {
      ...pick(this.config, ['enableCompression', 'compressionLevel', 'enableEncryption', 'encryptionKey']),
      ...o,
      name,
      basePath: type === 'file' ? o.basePath ?? platform.defaultBasePath : o.basePath,
      sweepInterval: o.sweepInterval ?? this.config.sweepInterval ?? 1000,
      openTimeout: this.config.openTimeout ?? 5000,
      cacheEntries: (o.enableCaching ?? this.config.enableCaching) ? o.cacheSize ?? this.config.cacheSize ?? 1000 : undefined,
    } as ResolvedBackendOptions;
    if (existing) {
      if (existing.type !== type) invalid(`backend "${name}" already exists with type ${existing.type}, not ${type}`);
      const before = existing.options;
      if (o.basePath !== undefined && o.basePath !== before.basePath) {
        invalid(`backend "${name}" already exists at basePath "${before.basePath}", not "${o.basePath}"; give the new one another name`);
      }
      existing.reconfigure({ ...before, ...o, name, basePath: before.basePath, sweepInterval: o.sweepInterval ?? before.sweepInterval } as ResolvedBackendOptions);
      return existing;
    }
    if (resolved.enableEncryption && resolved.encryptionKey === undefined) {
      invalid(`backend "${name}": enableEncryption needs an encryptionKey (a passphrase, 32 key bytes or a CryptoKey)`);
    }
    if (type === 'database') {
      invalid('the database tier (remote sync, PostgreSQL) is not available in this release; use "memory" or "file"');
    }
    let engine;
    if (type === 'memory') engine = createMemoryEngine();
    else if (platform.file) engine = platform.file({ name, location: resolved.basePath!, openTimeout: resolved.openTimeout });
    else throw new StorageConnectionError(`the file tier is not available in this runtime (${platform.runtime}); import tierstore from its Node or browser entry`);
    const backend = new Backend(type, engine, resolved, this.events);
    this.backends.set(name, backend);
    return backend;
  }

  /** The backend with this name, or undefined. */
  getBackend(name: string): Backend | undefined {
    return this.backends.get(name);
  }

  /** Names of the backends created so far. */
  listBackends(): string[] {
    return [...this.backends.keys()];
  }

  /** The name calls use when they give no `backend` option. */
  get defaultBackend(): string {
    return this.defaultName;
  }

  /** Makes `name` the default backend. It must exist, or be `'memory'`/`'file'` (created on first use). */
  setDefaultBackend(name: string): void {
    this.checkOpen();
    if (typeof name !== 'string' || name.length === 0) invalid(`backend name must be a non-empty string, got ${describe(name)}`);
    if (!this.backends.has(name) && name !== 'memory' && name !== 'file') invalid(`no backend named "${name}"; create it with createBackend first`);
    this.defaultName = name;
  }

  // ----------------------------------------------------------------- data methods (routed)

  /** Stores `value` under `key`. `ttl` is in seconds. */
  set(key: string, value: unknown, options?: SetOptions): Promise<void> {
    // Not `async`: the hot path returns the backend's promise itself (one promise, no extra tick).
    try {
      return this.route(options).set(key, value, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The value under `key`, or `undefined` when missing or expired. */
  get<T = unknown>(key: string, options?: RouteOptions): Promise<T | undefined> {
    try {
      return this.routeRead(options).get<T>(key);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The value and its metadata `{ createdAt, updatedAt, ttl, expiresAt, tags, version }`. */
  async getEntry<T = unknown>(key: string, options?: RouteOptions): Promise<Entry<T> | undefined> {
    return this.routeRead(options).getEntry<T>(key);
  }

  /** Does a live entry exist under `key`? */
  async has(key: string, options?: RouteOptions): Promise<boolean> {
    return this.routeRead(options).has(key);
  }

  /** Deletes `key`; `true` when a live entry was deleted. */
  async delete(key: string, options?: BatchOptions): Promise<boolean> {
    return this.route(options).delete(key, options);
  }

  /** Writes every entry atomically (all or none). */
  async batchSet(entries: readonly BatchEntry[], options?: BatchOptions): Promise<void> {
    return this.route(options).batchSet(entries, options);
  }

  /** Values of `keys`, aligned with them. */
  async batchGet<T = unknown>(keys: readonly string[], options?: RouteOptions): Promise<(T | undefined)[]> {
    return this.routeRead(options).batchGet<T>(keys);
  }

  /** Live keys matching the dotted glob `pattern` (default `**`, every key). */
  async keys(pattern?: string, options?: RouteOptions): Promise<string[]> {
    return this.routeRead(options).keys(pattern);
  }

  /** Deletes the keys matching `pattern` (default every key); resolves how many were deleted. */
  async clear(pattern?: string, options?: RouteOptions): Promise<number> {
    return this.routeRead(options).clear(pattern);
  }

  // ----------------------------------------------------------------- queries, indexes, documents, search, time series

  /**
   * Entries matching `pattern` and `filter`, sorted and paged.
   *
   * @example
   * ```ts
   * await storage.set('users.1', { name: 'Ada', status: 'active', age: 36 });
   * const active = await storage.query('users.*', { filter: { status: 'active', age: { $gte: 18 } }, sort: { age: -1 }, limit: 10 });
   * ```
   */
  async query<T = unknown>(pattern: string, options?: QueryOptions & RouteOptions): Promise<Entry<T>[]> {
    return this.route(options).query<T>(pattern, options);
  }

  /** The number of entries matching `pattern` and `filter`. */
  async count(pattern: string, options?: Pick<QueryOptions, 'filter' | 'index'> & RouteOptions): Promise<number> {
    return this.route(options).count(pattern, options);
  }

  /** Runs a query and returns its plan (index used, ranges, entries read, results). */
  async explain(pattern: string, options?: QueryOptions & RouteOptions): Promise<QueryPlan> {
    return this.route(options).explain(pattern, options);
  }

  /**
   * Creates (and builds) a secondary index on the entries `<collection>.<id>`.
   *
   * @example
   * ```ts
   * await storage.createIndex('users', 'email', { unique: true });
   * await storage.createIndex('users', ['status', 'age']);
   * ```
   */
  async createIndex(collection: string, fields: string | string[], options?: IndexOptions & RouteOptions): Promise<IndexInfo> {
    const backend = this.route(options);
    return backend.createIndex(collection, fields, withoutBackend(options));
  }

  /** Creates (and builds) the full-text search index of a collection. */
  async createSearchIndex(collection: string, options: SearchIndexOptions & RouteOptions): Promise<IndexInfo> {
    const backend = this.route(options);
    return backend.createSearchIndex(collection, withoutBackend(options)!);
  }

  /** Drops an index; false when there was none. */
  async dropIndex(collection: string, name: string, options?: RouteOptions): Promise<boolean> {
    return this.routeRead(options).dropIndex(collection, name);
  }

  /** The indexes of a collection (or of all). */
  async listIndexes(collection?: string, options?: RouteOptions): Promise<IndexInfo[]> {
    return this.routeRead(options).listIndexes(collection);
  }

  /**
   * Full-text search ranked by BM25.
   *
   * @example
   * ```ts
   * await storage.set('docs.1', { title: 'Machine learning', content: 'Models learn from data' });
   * const hits = await storage.search('docs.*', { query: 'learn', fields: ['title', 'content'] });
   * ```
   */
  async search<T = unknown>(pattern: string, options: SearchOptions): Promise<SearchHit<T>[]> {
    return this.route(options).search<T>(pattern, options);
  }

  /**
   * The documents stored under `<name>.<id>` in the default backend (or `options.backend`).
   *
   * @example
   * ```ts
   * const users = storage.collection('users');
   * const doc = await users.insert({ name: 'Ada' });
   * ```
   */
  collection<T extends Record<string, unknown> = Record<string, unknown>>(name: string, options?: RouteOptions): Collection<T> {
    return this.routeRead(options).collection<T>(name);
  }

  /** The default backend's time series (`getBackend(name).timeSeries` for another backend). */
  get timeSeries(): TimeSeries {
    return this.route(undefined).timeSeries;
  }

  /**
   * Keeps a backend (default: the default backend) under `maxSize` by evicting entries instead of
   * refusing writes: expired first, then least recently used (`'lru'`, default), least often used
   * (`'lfu'`) or soonest to expire (`'ttl'`). Resolves once active.
   *
   * @example
   * ```ts
   * await storage.enableAutoCleanup({ maxSize: '500MB', cleanupStrategy: 'lru' });
   * ```
   */
  enableAutoCleanup(options: { maxSize: string | number; cleanupStrategy?: CleanupStrategy } & RouteOptions): Promise<void> {
    try {
      const backend = this.route(options);
      return backend.enableAutoCleanup(withoutBackend(options)!);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * What the browser reports about this origin's storage (`navigator.storage.estimate()`), or
   * undefined where there is no such API (Node). `usage` is the origin's bytes as the browser
   * counts them (loosely for large values, which it stores as files). `quota` is not always the
   * enforced limit: Chromium ≥ 138 reports usage + 10 GiB (an anti-fingerprinting measure) whatever
   * the real quota, so a write can still fail with StorageQuotaError well below it.
   *
   * @example
   * ```ts
   * const { usage, quota } = (await storage.estimate()) ?? {};
   * ```
   */
  async estimate(): Promise<{ usage?: number; quota?: number } | undefined> {
    const s = (globalThis as { navigator?: { storage?: { estimate?: () => Promise<{ usage?: number; quota?: number }> } } }).navigator?.storage;
    if (typeof s?.estimate !== 'function') return undefined;
    const { usage, quota } = await s.estimate();
    return { usage, quota };
  }

  /**
   * Asks the browser not to evict this origin's data under storage pressure
   * (`navigator.storage.persist()`); resolves whether it is persistent. False where there is no
   * such API (Node: the file tier is persistent anyway).
   */
  async persist(): Promise<boolean> {
    const s = (globalThis as { navigator?: { storage?: { persist?: () => Promise<boolean> } } }).navigator?.storage;
    if (typeof s?.persist !== 'function') return false;
    return s.persist();
  }

  /**
   * Counters of every backend: its record cache (when `enableCaching` put one in front of it) with
   * `hits`, `misses`, `evictions`, `entries`, `bytes` and the hit rate.
   *
   * @example
   * ```ts
   * const { backends } = storage.getMetrics();
   * ```
   */
  getMetrics(): { backends: Record<string, { type: BackendType; cache?: CacheMetrics & { hitRate: number } }> } {
    const backends: Record<string, { type: BackendType; cache?: CacheMetrics & { hitRate: number } }> = {};
    for (const [name, b] of this.backends) {
      const c = b.cacheMetrics();
      Object.defineProperty(backends, name, {
        value: { type: b.type, ...(c && { cache: { ...c, hitRate: c.hits + c.misses === 0 ? 0 : c.hits / (c.hits + c.misses) } }) },
        enumerable: true, configurable: true, writable: true,
      });
    }
    return { backends };
  }

  /**
   * Re-keys an encrypted backend (default: the default backend): see Backend.rotateEncryptionKey.
   *
   * @example
   * ```ts
   * await storage.rotateEncryptionKey(newKey, { backend: 'vault' });
   * ```
   */
  async rotateEncryptionKey(newKey: EncryptionKeyInput, options?: { signal?: AbortSignalLike } & RouteOptions): Promise<number> {
    return this.route(options).rotateEncryptionKey(newKey, withoutBackend(options));
  }

  // ----------------------------------------------------------------- transactions

  /**
   * Starts an optimistic transaction on one backend (`options.backend`, default the default
   * backend). Its reads see its own writes; `commit()` applies every write atomically, or rejects
   * with StorageConflictError when something it read or writes changed meanwhile.
   *
   * @example
   * ```ts
   * const tx = await storage.beginTransaction();
   * await tx.set('user.balance', 100);
   * await tx.set('transaction.log', { userId: 'user-123', amount: 100 });
   * await tx.commit();
   * ```
   */
  async beginTransaction(options?: TransactionOptions): Promise<Transaction> {
    const o = checkTransactionOptions(options);
    if ((o as RunTransactionOptions).retries !== undefined) invalid('retries is an option of transaction(fn), not of beginTransaction');
    const backend = this.route(o);
    await backend.ready();
    return new Transaction(backend, o.durability ?? 'strict', o.timeout ?? DEFAULT_TRANSACTION_TIMEOUT);
  }

  /**
   * Runs `fn(tx)` in a transaction and commits it; on StorageConflictError runs `fn` again, up to
   * `retries` times (default 5). Resolves what `fn` returned. An error thrown by `fn` rolls back.
   *
   * @example
   * ```ts
   * await storage.transaction(async (tx) => {
   *   const a = (await tx.get<number>('acct.a')) ?? 0;
   *   await tx.set('acct.a', a - 10);
   *   await tx.set('acct.b', ((await tx.get<number>('acct.b')) ?? 0) + 10);
   * }, { retries: 5 });
   * ```
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options?: RunTransactionOptions): Promise<T> {
    const { retries = 5, ...rest } = checkTransactionOptions(options);
    return runTransaction(() => this.beginTransaction(rest), fn, retries);
  }

  // ----------------------------------------------------------------- events and lifecycle

  /** Subscribes to `set`, `delete`, `expire` or `error`; returns an unsubscribe function. */
  on<E extends StorageEventName>(event: E, listener: StorageListener<E>): () => void {
    return this.events.on(event, listener);
  }

  /** Removes a listener added with `on`. */
  off<E extends StorageEventName>(event: E, listener: StorageListener<E>): void {
    this.events.off(event, listener);
  }

  /** Like `on`, for one event only. */
  once<E extends StorageEventName>(event: E, listener: StorageListener<E>): () => void {
    return this.events.once(event, listener);
  }

  /**
   * Finishes queued writes and closes every backend (releases LevelDB locks and IndexedDB
   * connections). The system cannot be used afterwards; `getInstance()` then makes a new one.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [key, value] of instances) if (value === this) instances.delete(key);
    const results = await Promise.allSettled([...this.backends.values()].map((b) => b.close()));
    this.events.removeAll();
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private checkOpen(): void {
    if (this.closed) throw new StorageConnectionError('this StorageSystem is closed', { code: 'STORAGE_CLOSED' });
  }

  private routeRead(options: unknown): Backend {
    const backend = this.route(options);
    if (options !== undefined && Object.keys(options as object).some((k) => k !== 'backend')) {
      invalid(`unknown option in ${JSON.stringify(Object.keys(options as object))}; reads accept only { backend }`);
    }
    return backend;
  }

  private route(options: unknown): Backend {
    this.checkOpen();
    if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
      invalid(`options must be an object, got ${describe(options)}`);
    }
    const name = (options as { backend?: unknown } | undefined)?.backend ?? this.defaultName;
    if (typeof name !== 'string' || name.length === 0) invalid(`options.backend must be a backend name, got ${describe(name)}`);
    const backend = this.backends.get(name);
    if (backend) return backend;
    if (name === 'memory' || name === 'file') return this.createBackend(name);
    return invalid(`no backend named "${name}"; create it with createBackend first (existing: ${this.listBackends().join(', ') || 'none'})`);
  }
}

/** Options without the routing option, for the backend's own methods. */
function withoutBackend<T extends object>(options: T | undefined): Omit<T, 'backend'> | undefined {
  if (options === undefined || options === null || typeof options !== 'object') return options;
  const { backend: _, ...rest } = options as T & { backend?: string };
  return rest;
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Partial<T> {
  const out: Partial<T> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
