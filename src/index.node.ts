/**
 * tierstore for Node: the file tier is LevelDB (classic-level), loaded on first use.
 * @packageDocumentation
 */
import { createLevelEngine } from './adapters/node/level-engine';
import { StorageSystem as CoreStorageSystem, type Platform } from './core/system';

/**
 * One storage API over named backends; in Node the `file` tier is a LevelDB directory.
 *
 * @example
 * ```ts
 * import { StorageSystem } from 'tierstore';
 * const storage = StorageSystem.getInstance();
 * await storage.set('user.profile', { name: 'Ada' });
 * ```
 */
export class StorageSystem extends CoreStorageSystem {
  protected static override platform: Platform = { runtime: 'node', file: createLevelEngine, defaultBasePath: 'tierstore-data' };
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
