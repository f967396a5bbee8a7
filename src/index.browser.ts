/**
 * tierstore for browsers and web workers: the file tier is IndexedDB (one database per backend).
 * Nothing here imports Node built-ins, so bundlers need no polyfills or shims.
 * @packageDocumentation
 */
import { createIdbEngine } from './adapters/browser/idb-engine';
import { StorageSystem as CoreStorageSystem, type Platform } from './core/system';

/**
 * One storage API over named backends; in browsers and workers the `file` tier is an IndexedDB
 * database named by `basePath` (default `tierstore`).
 *
 * @example
 * ```ts
 * import { StorageSystem } from 'tierstore';
 * const storage = StorageSystem.getInstance({ defaultBackend: 'file' });
 * await storage.set('user.profile', { name: 'Ada' }, { ttl: 3600 });
 * ```
 */
export class StorageSystem extends CoreStorageSystem {
  protected static override platform: Platform = { runtime: 'browser', file: createIdbEngine, defaultBasePath: 'tierstore' };
}

export { Backend } from './core/backend';
export type { CleanupStrategy } from './core/backend';
export { Transaction, DEFAULT_TRANSACTION_TIMEOUT } from './core/transaction';
export type { TransactionOptions, RunTransactionOptions } from './core/transaction';
export {
  StorageError, StorageConnectionError, StorageTimeoutError, StorageQuotaError, StorageCorruptionError,
  StorageValidationError, StorageConflictError,
} from './core/errors';
export type { StorageErrorCode, StorageErrorOptions } from './core/errors';
export { MAX_KEY_BYTES } from './core/keys';
export { MAX_DEPTH } from './core/codec/value';
export { MAX_TTL_SECONDS } from './core/types';
export { Collection } from './core/collection';
export type { Document, DocumentWriteOptions, FindOptions } from './core/collection';
export type { QueryOptions, QueryPlan } from './core/query/execute';
export type { IndexInfo } from './core/catalog';
export { TimeSeries, MAX_TIMESTAMP, MAX_POINTS_PER_WRITE } from './core/timeseries-handle';
export type {
  TimeSeriesAggregate, TimeSeriesBucket, TimeSeriesBucketQuery, TimeSeriesDuration, TimeSeriesInfo, TimeSeriesPoint,
  TimeSeriesRange, TimeSeriesRawQuery, TimeSeriesRetention, TimeSeriesRetentionInfo, TimeSeriesSample, TimeSeriesWriteOptions,
} from './core/timeseries';
export type {
  AbortSignalLike, BackendOptions, CryptoKeyLike, EncryptionKeyInput, BackendType, BatchEntry, BatchOptions, Durability, Entry, IndexOptions, Metadata, RouteOptions, SearchHit, SearchIndexOptions, SearchOptions, SetOptions,
  StorageConfig, StorageEventName, StorageEvents, StorageListener,
} from './core/types';
