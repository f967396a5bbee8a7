/**
 * Typed errors. Every error thrown by tierstore is a {@link StorageError} with a stable string
 * `code`; subclasses exist for `instanceof` users. Codes survive duplicate installs and realms,
 * so prefer `err.code` in code that must be robust.
 *
 * @packageDocumentation
 */

/** Every stable error code tierstore uses. */
export type StorageErrorCode =
  | 'STORAGE_ERROR'
  | 'STORAGE_CONNECTION'
  | 'STORAGE_LOCKED'
  | 'STORAGE_CLOSED'
  | 'STORAGE_TIMEOUT'
  | 'STORAGE_QUOTA'
  | 'STORAGE_CORRUPTION'
  | 'STORAGE_VALIDATION'
  | 'STORAGE_CONFLICT'
  | 'STORAGE_TX_CLOSED'
  | 'STORAGE_INDETERMINATE'
  /** Encrypted backend opened with a wrong key, a key of the wrong kind, or no key (StorageConnectionError). */
  | 'STORAGE_BAD_KEY';

/** Options accepted by every {@link StorageError} constructor. */
export interface StorageErrorOptions {
  /** The underlying error, kept for diagnosis. */
  cause?: unknown;
  /** Overrides the class's default code (e.g. `STORAGE_LOCKED` for a connection error). */
  code?: StorageErrorCode;
  /** True when retrying the same call may succeed. */
  transient?: boolean;
}

/**
 * Base class of every error tierstore throws.
 *
 * @example
 * ```ts
 * try { await storage.set('', 1); }
 * catch (err) { if (err instanceof StorageError) console.log(err.code); }
 * ```
 */
export class StorageError extends Error {
  /** Stable, machine-readable code. */
  readonly code: StorageErrorCode;
  /** True when retrying the same call may succeed. */
  readonly transient: boolean;

  constructor(message: string, options: StorageErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    const kind = new.target as unknown as { defaultCode: StorageErrorCode; errorName: string };
    // Names are spelled out, not taken from the constructor: minifiers rename classes.
    this.name = kind.errorName;
    this.code = options.code ?? kind.defaultCode;
    this.transient = options.transient ?? false;
  }

  /** Code used when none is given. */
  static defaultCode: StorageErrorCode = 'STORAGE_ERROR';
  /** Value of `name` for instances of this class. */
  static errorName = 'StorageError';
}

/** A backend could not be opened or reached: a locked LevelDB directory, IndexedDB unavailable or blocked, a closed store. */
export class StorageConnectionError extends StorageError {
  static override errorName = 'StorageConnectionError';
  static override defaultCode: StorageErrorCode = 'STORAGE_CONNECTION';
}

/** An operation took longer than its deadline. */
export class StorageTimeoutError extends StorageError {
  static override errorName = 'StorageTimeoutError';
  static override defaultCode: StorageErrorCode = 'STORAGE_TIMEOUT';
}

/** A write would exceed a size limit (`maxSize`), or the browser refused it for quota. Nothing was written. */
export class StorageQuotaError extends StorageError {
  static override errorName = 'StorageQuotaError';
  static override defaultCode: StorageErrorCode = 'STORAGE_QUOTA';
}

/** A stored record failed to decode: the bytes on disk are not what tierstore wrote. */
export class StorageCorruptionError extends StorageError {
  static override errorName = 'StorageCorruptionError';
  static override defaultCode: StorageErrorCode = 'STORAGE_CORRUPTION';
}

/** An argument was invalid (key, value, option, pattern). Nothing was changed. */
export class StorageValidationError extends StorageError {
  static override errorName = 'StorageValidationError';
  static override defaultCode: StorageErrorCode = 'STORAGE_VALIDATION';
}

/** A concurrent change conflicted with this one (optimistic concurrency). Nothing was written. */
export class StorageConflictError extends StorageError {
  static override errorName = 'StorageConflictError';
  static override defaultCode: StorageErrorCode = 'STORAGE_CONFLICT';
}

/** Shorthand used by validators: throws a {@link StorageValidationError}. */
export function invalid(message: string, cause?: unknown): never {
  throw new StorageValidationError(message, cause === undefined ? {} : { cause });
}
