/**
 * Public types of the key-value API.
 * @packageDocumentation
 */

/** Metadata kept with every entry. */
export interface Metadata {
  /** When the key was first written (ms since epoch); kept across updates. */
  createdAt: number;
  /** When the key was last written (ms since epoch). */
  updatedAt: number;
  /** The `ttl` (seconds) given on the last write, if any. */
  ttl?: number;
  /** When the entry expires (ms since epoch), if it has a ttl. */
  expiresAt?: number;
  /** Tags given on the last write, if any. */
  tags?: string[];
  /** 1 when the key was created, +1 on every write. */
  version: number;
}

/** An entry as returned by `getEntry`. */
export interface Entry<T = unknown> {
  key: string;
  value: T;
  metadata: Metadata;
}

/** Durability of an acknowledged write. See README "Durability". */
export type Durability = 'strict' | 'relaxed';

/** Options of `set`. */
export interface SetOptions {
  /** Seconds until the entry expires (> 0, at most {@link MAX_TTL_SECONDS}). Omit for no expiry. */
  ttl?: number;
  /** Labels stored in the metadata (at most 64 non-empty strings of at most 256 characters). */
  tags?: string[];
  /** Route the call to the backend with this name (StorageSystem only). */
  backend?: string;
  /** Override the backend's durability for this write. */
  durability?: Durability;
}

/** Options of reads and deletes routed through a StorageSystem. */
export interface RouteOptions {
  /** Route the call to the backend with this name. */
  backend?: string;
}

/** Options of batchSet. */
export interface BatchOptions extends RouteOptions {
  /** Override the backend's durability for this batch. */
  durability?: Durability;
}

/** One entry of `batchSet`. */
export interface BatchEntry<T = unknown> {
  key: string;
  value: T;
  /** Seconds until this entry expires. */
  ttl?: number;
  tags?: string[];
}

/** Largest accepted `ttl`: 100 years, in seconds. */
export const MAX_TTL_SECONDS = 100 * 365 * 24 * 3600;

/** The backend types `createBackend` accepts. */
export type BackendType = 'memory' | 'file' | 'database';

/**
 * Options of `createBackend`. Only options that can take effect are accepted; see the README for
 * the options reserved for later releases.
 */
export interface BackendOptions {
  /** Backend name (default: the type). Calls route to backends by name. */
  name?: string;
  /** Size limit in stored bytes: a number, or a string such as `'100MB'`, `'500KB'` (1 KB = 1024 B). */
  maxSize?: string | number;
  /** file tier: LevelDB directory (Node) or IndexedDB database name (browsers). */
  basePath?: string;
  /** Default durability of writes to this backend (default `'relaxed'`). */
  durability?: Durability;
  /** Milliseconds between expiry sweeps (default 1000; 0 disables the background sweep). */
  sweepInterval?: number;
  /** Compress record bodies of at least `compressionThreshold` bytes (raw deflate; default off). See README "Compression and encryption". */
  enableCompression?: boolean;
  /** zlib level 0–9 (default 6). */
  compressionLevel?: number;
  /** Bodies smaller than this many bytes stay raw (default 1024). */
  compressionThreshold?: number;
  /** Put an LRU record cache in front of this (file) backend (default: StorageConfig.enableCaching). */
  enableCaching?: boolean;
  /** Entries the cache holds (default: StorageConfig.cacheSize, else 1000). */
  cacheSize?: number;
  /** Encrypt record bodies at rest with AES-GCM-256 (needs `encryptionKey`). */
  enableEncryption?: boolean;
  /** A passphrase (PBKDF2-SHA256, 600,000 iterations), 32 raw key bytes or an HKDF `CryptoKey`. */
  encryptionKey?: EncryptionKeyInput;
  /** database tier (not available in this release). */
  connectionString?: string;
  /** database tier (not available in this release). */
  poolSize?: number;
  /** database tier (not available in this release). */
  enableMigrations?: boolean;
}

/** Configuration of a StorageSystem (the spec's `StorageConfig`). */
export interface StorageConfig {
  /** Name of the backend that calls without `{ backend }` use (default `'memory'`). */
  defaultBackend?: string;
  /** Put an LRU record cache in front of every file backend this system creates (see README "Caching"). */
  enableCaching?: boolean;
  /** Entries each backend's cache holds (default 1000). */
  cacheSize?: number;
  /** Default of `enableCompression` for backends this system creates. */
  enableCompression?: boolean;
  /** Default of `compressionLevel`. */
  compressionLevel?: number;
  /** Default of `enableEncryption` for backends this system creates. */
  enableEncryption?: boolean;
  /** Default of `encryptionKey`. */
  encryptionKey?: EncryptionKeyInput;
  /** Default `sweepInterval` of backends (ms). */
  sweepInterval?: number;
  /** Deadline for opening a backend (ms, default 5000). */
  openTimeout?: number;
}

/**
 * What tierstore needs of an `AbortSignal` (declared here so that the types need no DOM or Node
 * lib): pass an `AbortController`'s `signal`.
 */
export interface AbortSignalLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
}

/**
 * What tierstore needs of a WebCrypto `CryptoKey` (declared here so that the types need no DOM
 * lib): pass a real `CryptoKey` (an HKDF key).
 */
export interface CryptoKeyLike {
  readonly type: string;
  readonly extractable: boolean;
  readonly algorithm: unknown;
  readonly usages: readonly string[];
}

/** An encryption key: a passphrase, 32 raw key bytes, or an HKDF `CryptoKey`. */
export type EncryptionKeyInput = string | Uint8Array | CryptoKeyLike;

/** Options of `createIndex` (besides the routing option). */
export interface IndexOptions {
  /** Refuse two records with equal values (StorageConflictError). */
  unique?: boolean;
  /** Index name (default: the fields joined by `,`). */
  name?: string;
  /** Aborts the build: the index is dropped and the call rejects with the signal's reason. */
  signal?: AbortSignalLike;
}

/** Options of `createSearchIndex` (besides the routing option). */
export interface SearchIndexOptions {
  /** Paths of the text fields to index. */
  fields: string[];
  /** Field weights, e.g. `{ title: 2 }`. */
  boost?: Record<string, number>;
  /** Aborts the build (see {@link IndexOptions.signal}). */
  signal?: AbortSignalLike;
}

/** Options of `search`. See README "Full-text search" for the ranking. */
export interface SearchOptions {
  /** The words to look for (at least one word; at most 1,000 characters). */
  query: string;
  /** Paths of the text fields to search (default: the search index's fields; required without one). */
  fields?: string[];
  /** At most this many hits (1 to 10,000; default 20). */
  limit?: number;
  /** Skip this many hits (default 0). */
  offset?: number;
  /** The last query word also matches longer words starting with it (default true). */
  prefix?: boolean;
  /** Query words of 4+ characters also match words one edit away (default false). */
  fuzzy?: boolean;
  /** `or` (default): any query word; `and`: every query word must match. */
  combine?: 'or' | 'and';
  /** Field weights, e.g. `{ title: 2 }` (default 1 each). */
  boost?: Record<string, number>;
  /** Route to this backend (StorageSystem only). */
  backend?: string;
}

/** One search result. */
export interface SearchHit<T = unknown> {
  key: string;
  value: T;
  /** BM25 score: higher is better. */
  score: number;
}

/** Events and their payloads. */
export interface StorageEvents {
  /** A key was written (once per key of a batch). `remote` when another tab or worker wrote it. */
  set: { key: string; backend: string; metadata: Metadata; remote?: true };
  /** A live key was deleted (by delete or clear). */
  delete: { key: string; backend: string; remote?: true };
  /** An expired key was removed by the background sweep. */
  expire: { key: string; backend: string; expiresAt: number; remote?: true };
  /** Auto-cleanup evicted an entry to stay under its size limit (`reason`: `expired` or the strategy). */
  evict: { key: string; backend: string; reason: 'expired' | 'lru' | 'lfu' | 'ttl'; remote?: true };
  /** Progress of `rotateEncryptionKey` (or of its resumption at open): records done of total, then `done`. */
  rotate: { backend: string; phase: 'resealing' | 'done'; done: number; total: number };
  /** Progress of an index: `building` (with done/total records), then `ready`; `failed` or `dropped`. */
  index: { backend: string; collection: string; index: string; phase: 'building' | 'ready' | 'failed' | 'dropped'; done?: number; total?: number };
  /** A background task failed (sweep, open). */
  error: { error: Error; backend: string; operation: string };
}

/** Names of the events. */
export type StorageEventName = keyof StorageEvents;

/** A listener of one event. */
export type StorageListener<E extends StorageEventName> = (event: StorageEvents[E]) => void;
