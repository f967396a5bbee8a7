/**
 * Page bundle of the quota tests (quota.test.ts): a StorageSystem on the file tier (IndexedDB)
 * driven from Node, values of random bytes (Chromium compresses stored values, so repeated bytes
 * would hardly count against a quota), and content digests so that Node can compare what the
 * store holds before and after a refused write without moving megabytes through `evaluate`.
 * `raw` writes the same way without tierstore, to see what Chromium itself reports.
 */
import { StorageError, StorageQuotaError, StorageSystem, type Transaction } from '../../src/index.browser';

/** A failure as JSON-safe data: the SDK error and the browser error it wraps (`cause`). */
export interface QuotaFailure {
  failed: true;
  name: string;
  code?: string;
  message: string;
  isStorageQuotaError: boolean;
  isStorageError: boolean;
  transient?: boolean;
  cause?: { name: string; message: string; isDOMException: boolean };
}

/** How a raw IndexedDB write ended (see `raw`). */
export interface RawOutcome {
  outcome: 'complete' | 'abort';
  /** The put request: its success or error event, or a synchronous throw. */
  request: 'pending' | 'success' | 'error' | 'thrown';
  requestError?: RawError | null;
  /** `transaction.error` when `abort` fired. */
  txError?: RawError | null;
}
interface RawError { name: string; message: string; legacyCode: number; isDOMException: boolean; constructor: string }

/** What a key holds, as seen through the API: a digest of the value, and its version. */
export interface Held { bytes: number; sha256: string; version: number }

declare global {
  interface Window {
    __quota: typeof api;
  }
}

let storage: StorageSystem | undefined;
let uncached: StorageSystem | undefined;
const s = () => {
  if (!storage) throw new Error('quota page: open() first');
  return storage;
};

/** `bytes` random bytes (getRandomValues fills at most 65,536 bytes per call). */
function randomBytes(bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(bytes, i + 65536)));
  return out;
}

async function sha256(data: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

function describeFailure(err: unknown): QuotaFailure {
  const e = err as { name?: string; code?: string; message?: string; transient?: boolean; cause?: unknown };
  const c = e?.cause as { name?: string; message?: string } | undefined;
  return {
    failed: true,
    name: e?.name ?? typeof err,
    ...(e?.code !== undefined && { code: e.code }),
    message: e?.message ?? String(err),
    isStorageQuotaError: err instanceof StorageQuotaError,
    isStorageError: err instanceof StorageError,
    ...(e?.transient !== undefined && { transient: e.transient }),
    ...(c !== undefined && c !== null && { cause: { name: String(c.name), message: String(c.message), isDOMException: c instanceof DOMException } }),
  };
}

/** Runs `fn`; resolves `{ ok: true }` or the failure (never rejects for SDK errors). */
async function attempt(fn: () => Promise<unknown>): Promise<{ ok: true } | QuotaFailure> {
  try {
    await fn();
    return { ok: true };
  } catch (err) {
    return describeFailure(err);
  }
}

const api = {
  /**
   * A fresh system whose default backend is IndexedDB at `basePath`, with a record cache in front
   * (so a refused write that wrongly updated the cache would show in reads), and a second,
   * uncached system on the same database that reads what IndexedDB itself holds.
   */
  async open(basePath: string): Promise<void> {
    storage = new StorageSystem({ defaultBackend: 'file' });
    storage.createBackend('file', { basePath, sweepInterval: 0, enableCaching: true, cacheSize: 100 });
    uncached = new StorageSystem({ defaultBackend: 'file' });
    uncached.createBackend('file', { basePath, sweepInterval: 0 });
    await storage.getBackend('file')!.open();
  },
  async close(): Promise<void> {
    await storage?.close();
    await uncached?.close();
    storage = uncached = undefined;
  },
  /** set(key, `bytes` random bytes). */
  set: (key: string, bytes: number) => attempt(() => s().set(key, randomBytes(bytes))),
  /** batchSet of keys `${prefix}${i}`, the i-th holding `sizes[i]` random bytes. */
  batchSet: (prefix: string, sizes: number[]) =>
    attempt(() => s().batchSet(sizes.map((bytes, i) => ({ key: `${prefix}${i}`, value: randomBytes(bytes) })))),
  /**
   * A transaction that reads `read` (so it has something to validate), writes `count` keys
   * `${prefix}${i}` of `bytes` random bytes and deletes `del`, then commits.
   */
  async txCommit(read: string, del: string | undefined, prefix: string, count: number, bytes: number): Promise<{ ok: true } | QuotaFailure> {
    let tx: Transaction | undefined;
    const r = await attempt(async () => {
      tx = await s().beginTransaction();
      await tx.get(read);
      for (let i = 0; i < count; i++) await tx.set(`${prefix}${i}`, randomBytes(bytes));
      if (del !== undefined) await tx.delete(del);
      await tx.commit();
    });
    return r;
  },
  delete: (key: string) => s().delete(key),
  clear: (pattern: string) => s().clear(pattern),
  /**
   * Every key the API lists, with a digest of its value and its version, read through the cached
   * system (get and getEntry) and again through the uncached one; throws if the two disagree.
   */
  async contents(): Promise<Record<string, Held>> {
    const read = async (sys: StorageSystem) => {
      const out: Record<string, Held> = {};
      for (const key of await sys.keys('**')) {
        const entry = await sys.getEntry<Uint8Array>(key);
        const value = await sys.get<Uint8Array>(key);
        if (!entry || !value) throw new Error(`listed key ${key} has no entry`);
        const digest = await sha256(entry.value);
        if ((await sha256(value)) !== digest) throw new Error(`get and getEntry of ${key} disagree`);
        out[key] = { bytes: entry.value.byteLength, sha256: digest, version: entry.metadata.version };
      }
      return out;
    };
    const cached = await read(s());
    const stored = await read(uncached!);
    if (JSON.stringify(cached) !== JSON.stringify(stored)) throw new Error(`the cached system reads ${JSON.stringify(cached)}, IndexedDB holds ${JSON.stringify(stored)}`);
    return cached;
  },
  estimate: () => s().estimate(),
  /** navigator.storage.estimate() itself, for comparison. */
  nativeEstimate: async () => {
    const { usage, quota } = await navigator.storage.estimate();
    return { usage, quota };
  },

  /**
   * A put of `bytes` random bytes in a raw IndexedDB transaction on database `name` (created with
   * one store `s`): reports how Chromium ends it — the request's error (name, message), the
   * transaction's `error` at abort, and whether `complete` or `abort` fired.
   */
  raw(name: string, bytes: number): Promise<RawOutcome> {
    return new Promise((resolve, reject) => {
      const open = indexedDB.open(name, 1);
      open.onupgradeneeded = () => open.result.createObjectStore('s');
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const db = open.result;
        const tx = db.transaction('s', 'readwrite');
        const out: RawOutcome = { outcome: 'abort', request: 'pending' };
        const fmt = (e: DOMException | null) => (e ? { name: e.name, message: e.message, legacyCode: e.code, isDOMException: e instanceof DOMException, constructor: e.constructor.name } : null);
        tx.oncomplete = () => { db.close(); resolve({ ...out, outcome: 'complete' }); };
        tx.onabort = () => { db.close(); resolve({ ...out, outcome: 'abort', txError: fmt(tx.error) }); };
        try {
          const req = tx.objectStore('s').put(randomBytes(bytes), `k${performance.now()}`);
          req.onsuccess = () => { out.request = 'success'; };
          req.onerror = () => { out.request = 'error'; out.requestError = fmt(req.error); };
        } catch (err) {
          db.close();
          resolve({ ...out, request: 'thrown', requestError: fmt(err as DOMException) });
        }
      };
    });
  },
};
window.__quota = api;
document.body.dataset.ready = 'true';
