/**
 * Validation of option objects. Unknown option names are rejected (a typo such as `tll` must not
 * silently mean "no expiry"), and every value is checked before anything is written.
 */
import { invalid } from './errors';
import { describe } from './keys';
import type { BackendOptions, Durability, StorageConfig } from './types';
import { MAX_TTL_SECONDS } from './types';

type Checker = (value: unknown, name: string) => void;

/** Shared result for absent options: no allocation on the hot path. */
const NO_OPTIONS: Record<string, unknown> = Object.freeze({});

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks `opts` against `spec`; `undefined` values are allowed for every option. */
function checkObject(opts: unknown, what: string, spec: Record<string, Checker>): Record<string, unknown> {
  if (opts === undefined) return NO_OPTIONS;
  if (!isPlainObject(opts)) invalid(`${what} must be an object, got ${describe(opts)}`);
  for (const name of Object.keys(opts)) {
    const checker = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!checker) invalid(`unknown option "${name}" in ${what}; accepted: ${Object.keys(spec).join(', ')}`);
    const v = opts[name];
    if (v !== undefined) checker(v, `${what}.${name}`);
  }
  return opts;
}

const bool: Checker = (v, n) => { if (typeof v !== 'boolean') invalid(`${n} must be a boolean, got ${describe(v)}`); };
const str: Checker = (v, n) => { if (typeof v !== 'string' || v.length === 0) invalid(`${n} must be a non-empty string, got ${describe(v)}`); };
const intIn = (lo: number, hi: number): Checker => (v, n) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) invalid(`${n} must be an integer from ${lo} to ${hi}, got ${describe(v)}`);
};
const durability: Checker = (v, n) => { if (v !== 'strict' && v !== 'relaxed') invalid(`${n} must be "strict" or "relaxed", got ${describe(v)}`); };
const name: Checker = (v, n) => {
  str(v, n);
  if ((v as string).length > 200) invalid(`${n} must be at most 200 characters`);
};
const ttl: Checker = (v, n) => {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > MAX_TTL_SECONDS) {
    invalid(`${n} must be a number of seconds > 0 and <= ${MAX_TTL_SECONDS}, got ${describe(v)}`);
  }
};
const tags: Checker = (v, n) => {
  if (!Array.isArray(v)) invalid(`${n} must be an array of strings, got ${describe(v)}`);
  if (v.length > 64) invalid(`${n} has ${v.length} tags; at most 64 are allowed`);
  for (let i = 0; i < v.length; i++) {
    const t: unknown = v[i];
    if (typeof t !== 'string' || t.length === 0 || t.length > 256 || !t.isWellFormed()) {
      invalid(`${n}[${i}] must be a non-empty well-formed string of at most 256 characters, got ${describe(t)}`);
    }
  }
};
const size: Checker = (v, n) => { parseSize(v, n); };

/** Parses `'100MB'`, `'500KB'`, `'1.5GB'`, `'2048'` or a number of bytes (1 KB = 1024 B). */
export function parseSize(v: unknown, what = 'maxSize'): number {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v <= 0) invalid(`${what} must be a positive integer number of bytes, got ${describe(v)}`);
    return v;
  }
  const m = typeof v === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)?\s*$/i.exec(v) : null;
  if (!m) invalid(`${what} must be bytes or a size such as "100MB" or "500KB", got ${describe(v)}`);
  const unit = (m[2] ?? 'B').toUpperCase();
  const mult = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }[unit]!;
  const bytes = Math.floor(Number(m[1]) * mult);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) invalid(`${what} must be more than 0 bytes, got ${describe(v)}`);
  return bytes;
}

/** A passphrase, 32 raw key bytes or an HKDF CryptoKey (checked in depth when the backend opens). */
const encryptionKey: Checker = (v, n) => {
  if (typeof v === 'string') { if (v.length === 0) invalid(`${n} must not be empty`); return; }
  if (v instanceof Uint8Array) { if (v.byteLength !== 32) invalid(`${n} must be 32 bytes when given as bytes, got ${v.byteLength}`); return; }
  if (typeof CryptoKey === 'function' && v instanceof CryptoKey) return;
  invalid(`${n} must be a passphrase, 32 key bytes or a CryptoKey, got ${describe(v)}`);
};

/** Validated options of one `set`. */
export interface WriteOptions { ttl?: number; tags?: string[]; backend?: string; durability?: Durability }

const SET_SPEC: Record<string, Checker> = { ttl, tags, backend: name, durability };
const ROUTE_SPEC: Record<string, Checker> = { backend: name };
const BATCH_SPEC: Record<string, Checker> = { backend: name, durability };
const ENTRY_SPEC: Record<string, Checker> = { key: () => {}, value: () => {}, ttl, tags };

export const checkSetOptions = (o: unknown, what = 'options'): WriteOptions => checkObject(o, what, SET_SPEC) as WriteOptions;
export const checkRouteOptions = (o: unknown, what = 'options'): { backend?: string } => checkObject(o, what, ROUTE_SPEC);
export const checkBatchOptions = (o: unknown, what = 'options'): { backend?: string; durability?: Durability } => checkObject(o, what, BATCH_SPEC);
export const checkBatchEntry = (o: unknown, what: string): { key: unknown; value: unknown; ttl?: number; tags?: string[] } => {
  if (!isPlainObject(o)) invalid(`${what} must be an object { key, value, ttl?, tags? }, got ${describe(o)}`);
  checkObject(o, what, ENTRY_SPEC);
  if (!('value' in o)) invalid(`${what} has no value`);
  return o as { key: unknown; value: unknown };
};

const BACKEND_SPEC: Record<string, Checker> = {
  name, maxSize: size, basePath: str, durability, sweepInterval: intIn(0, 2 ** 31 - 1),
  enableCompression: bool, compressionLevel: intIn(0, 9), compressionThreshold: intIn(0, 2 ** 31 - 1), enableEncryption: bool, encryptionKey,
  enableCaching: bool, cacheSize: intIn(1, 2 ** 31 - 1),
  connectionString: str, poolSize: intIn(1, 1000), enableMigrations: bool,
};

const CONFIG_SPEC: Record<string, Checker> = {
  defaultBackend: name, enableCaching: bool, cacheSize: intIn(0, 2 ** 31 - 1), enableCompression: bool,
  compressionLevel: intIn(0, 9), enableEncryption: bool, encryptionKey,
  sweepInterval: intIn(0, 2 ** 31 - 1), openTimeout: intIn(1, 2 ** 31 - 1),
};

export const checkBackendOptions = (o: unknown): BackendOptions => checkObject(o, 'backend options', BACKEND_SPEC) as BackendOptions;
export const checkConfig = (o: unknown): StorageConfig => checkObject(o, 'StorageConfig', CONFIG_SPEC) as StorageConfig;

const TX_SPEC: Record<string, Checker> = { backend: name, durability, timeout: intIn(1, 2 ** 31 - 1), retries: intIn(0, 1000) };
/** Validated options of beginTransaction / transaction. */
export const checkTransactionOptions = (o: unknown): { backend?: string; durability?: Durability; timeout?: number; retries?: number } =>
  checkObject(o, 'transaction options', TX_SPEC);
