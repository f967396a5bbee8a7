/**
 * The file tier in browsers and workers: IndexedDB. One database per backend, named by its
 * `basePath`, with one object store per keyspace (`r`, `x`, `m`), so one readwrite transaction
 * covers a record and its expiry-index entry. Records are stored as objects (structured clone);
 * keys are the strings given, which IndexedDB orders by UTF-16 code units, like JS `<`.
 *
 * Connection rules, all learned from real browsers:
 * - another tab's upgrade or delete (`versionchange`): close at once so it can proceed, and reopen
 *   on our next operation; a tab that keeps its connection would block the other forever;
 * - our own open can wait forever behind another tab (`blocked`, or a pending delete): it gives up
 *   after `openTimeout` ms with a StorageConnectionError;
 * - the browser may drop a connection (Safari does; `close` event, or `transaction()` throwing
 *   InvalidStateError): the next operation reopens transparently.
 */
import { openDB, unwrap, type IDBPDatabase, type IDBPObjectStore, type IDBPTransaction } from 'idb';
import type { BatchOp, BatchOptions, Engine, EngineCapabilities, EngineOptions, RangeQuery, Space, StoredValue } from '../../core/engine';
import { SPACES, keySpan, prefixUpperBound, type ExtraRead, type ExtraValue } from '../../core/engine';
import { StorageConnectionError, StorageError, StorageQuotaError } from '../../core/errors';
import type { EngineReadStats } from '../../core/memory-engine';

const CAPABILITIES: EngineCapabilities = Object.freeze({
  engine: 'indexeddb',
  persistent: true,
  keyOrder: 'utf16',
  durableWrites: true,
  multiContext: true,
});

/** Schema version: 1 created the stores r, x, m; 2 adds i (derived entries) and t (time series). */
const VERSION = 2;
/** The stores version 1 created: a database at version 1 without them is not ours. */
const V1_SPACES: readonly Space[] = ['r', 'x', 'm'];

type DB = IDBPDatabase<unknown>;
type Tx = IDBPTransaction<unknown, Space[], IDBTransactionMode>;
type Store = IDBPObjectStore<unknown, Space[], Space, IDBTransactionMode>;

/** A range query as an IDBKeyRange; `null` for the whole store, `false` for a range that holds nothing. */
function keyRange(q: RangeQuery): IDBKeyRange | null | false {
  if (q.limit !== undefined && q.limit <= 0) return false; // getAll treats count 0 as "no limit"
  const lo = q.gte ?? q.gt;
  const hi = q.lte ?? q.lt;
  const loOpen = q.gte === undefined;
  const hiOpen = q.lte === undefined;
  if (lo !== undefined && hi !== undefined) {
    // IDBKeyRange.bound throws on empty ranges instead of matching nothing.
    if (lo > hi || (lo === hi && (loOpen || hiOpen))) return false;
    return IDBKeyRange.bound(lo, hi, loOpen, hiOpen);
  }
  if (lo !== undefined) return IDBKeyRange.lowerBound(lo, loOpen);
  if (hi !== undefined) return IDBKeyRange.upperBound(hi, hiOpen);
  return null;
}

const isQuota = (e: unknown): boolean => {
  const { name, message } = (e ?? {}) as { name?: string; message?: string };
  // Chromium sometimes reports a quota failure at commit as an AbortError mentioning quota.
  return name === 'QuotaExceededError' || (name === 'AbortError' && /quota/i.test(String(message)));
};

/** Resolves when a raw transaction commits; rejects with the first request error or the abort reason. */
function committed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    let first: DOMException | null = null;
    tx.oncomplete = () => resolve();
    // A failed request aborts the transaction, but tx.error is still null while its error event bubbles.
    tx.onerror = (e) => { first ??= (e.target as IDBRequest).error; };
    tx.onabort = () => reject(tx.error ?? first ?? new DOMException('transaction aborted', 'AbortError'));
  });
}

/**
 * Creates an IndexedDB engine for the database named `options.location` (default: the backend
 * name). Nothing touches IndexedDB until `open()`.
 */
export function createIdbEngine(options: EngineOptions): Engine & { readonly stats: EngineReadStats } {
  const name = options.location ?? options.name;
  const stats: EngineReadStats = { reads: 0 };
  /** True between open() and close(): lost connections are reopened only then. */
  let wanted = false;
  /** The memoised connection; cleared when it closes or fails so the next operation reopens. */
  let conn: Promise<DB> | undefined;
  /** Told when another context upgrades or deletes the database (see Engine.onExternalReset). */
  let resetListener: (() => void) | undefined;

  const forget = (p: Promise<DB> | undefined) => {
    if (p && conn === p) conn = undefined;
  };

  const fail = (err: unknown, what: string): StorageError => {
    if (err instanceof StorageError) return err;
    const e = err as Error | undefined;
    const msg = e?.message || e?.name || String(err); // Chromium's QuotaExceededError has no message
    if (isQuota(err)) {
      return new StorageQuotaError(`the browser refused to store more in IndexedDB "${name}" (quota): ${msg}; nothing was written`, { cause: err });
    }
    return new StorageError(`IndexedDB ${what} failed on "${name}": ${msg}`, { cause: err });
  };

  const connect = (): Promise<DB> => {
    if (!wanted) return Promise.reject(new StorageConnectionError(`IndexedDB "${name}" is not open`, { code: 'STORAGE_CLOSED' }));
    return (conn ??= openConnection());
  };

  function openConnection(): Promise<DB> {
    let self: Promise<DB> | undefined;
    let blocked = false;
    let foreign = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let opening: Promise<DB>;
    try {
      if (typeof indexedDB === 'undefined' || !indexedDB) {
        throw new StorageConnectionError('IndexedDB is not available in this context (private mode, a sandboxed frame, or not a browser); use a memory backend here');
      }
      opening = openDB(name, VERSION, {
        upgrade(db, oldVersion, _newVersion, transaction) {
          // A database at version 1 without our version-1 stores belongs to someone else: leave it alone.
          if (oldVersion >= 1 && !V1_SPACES.every((sp) => db.objectStoreNames.contains(sp))) {
            foreign = true;
            transaction.done.catch(() => {}); // the abort is how we refuse: not an unhandled rejection
            transaction.abort();
            return;
          }
          // Creates whatever stores the old version lacked; data in the others is kept.
          for (const s of SPACES) if (!db.objectStoreNames.contains(s)) db.createObjectStore(s);
        },
        blocked() { blocked = true; },
        // Another tab wants to upgrade or delete: let it, we reopen on our next operation.
        blocking(_old, _new, event) {
          forget(self);
          (event.target as IDBDatabase).close();
          resetListener?.();
        },
        terminated() {
          forget(self);
          resetListener?.();
        },
      });
    } catch (err) {
      opening = Promise.reject(err); // indexedDB.open throws SecurityError in opaque origins
    }
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(blocked
        ? new StorageConnectionError(`IndexedDB "${name}" is blocked: another tab holds an older version of it open; close other tabs of this site`, { code: 'STORAGE_LOCKED', transient: true })
        : new StorageConnectionError(`opening IndexedDB "${name}" took longer than ${options.openTimeout} ms (another tab may be upgrading or deleting it)`, { transient: true })),
      options.openTimeout);
    });
    self = Promise.race([opening, deadline]).then((db) => {
      clearTimeout(timer);
      if (SPACES.some((s) => !db.objectStoreNames.contains(s))) {
        throw new StorageConnectionError(`IndexedDB "${name}" exists but was not created by tierstore (missing object stores); choose another basePath`);
      }
      return db;
    }).catch((err: unknown) => {
      clearTimeout(timer);
      forget(self);
      // An open that completes after we gave up, or that we refuse, must not stay open and block others.
      opening.then((db) => db.close(), () => {});
      if (err instanceof StorageError) throw err;
      const e = err as DOMException;
      if (foreign) throw new StorageConnectionError(`IndexedDB "${name}" exists but was not created by tierstore (missing object stores); choose another basePath`, { cause: err });
      const why = e?.name === 'VersionError' ? 'it was created by a newer version of tierstore' : e?.message ?? String(err);
      throw new StorageConnectionError(`cannot open IndexedDB "${name}": ${why}`, { cause: err });
    });
    return self;
  }

  /**
   * Runs `body` in a new transaction. When the connection turns out to be closed under us
   * (InvalidStateError from `transaction()`), reopens once: nothing was done on it yet.
   */
  async function run<T>(spaces: Space[], mode: IDBTransactionMode, what: string, body: (tx: Tx) => Promise<T>, durability?: IDBTransactionDurability): Promise<T> {
    for (let retried = false; ; retried = true) {
      const p = connect();
      let tx: Tx;
      try {
        tx = (await p).transaction(spaces, mode, durability && { durability }) as Tx;
        // idb makes a `done` promise for every transaction; failures are reported through `body`,
        // so keep an abort from also surfacing as an unhandled rejection.
        tx.done.catch(() => {});
      } catch (err) {
        if (!retried && (err as DOMException)?.name === 'InvalidStateError') {
          forget(p);
          continue;
        }
        throw fail(err, what);
      }
      try {
        return await body(tx);
      } catch (err) {
        throw fail(err, what);
      }
    }
  }

  const store = (tx: Tx, s: Space) => tx.objectStore(s) as Store;

  /** Issues a batch's requests on a raw transaction; a synchronous throw aborts it (nothing commits). */
  function issue(tx: IDBTransaction, ops: readonly BatchOp[]): void {
    const stores = new Map<Space, IDBObjectStore>();
    try {
      for (const op of ops) {
        let st = stores.get(op.space);
        if (!st) stores.set(op.space, (st = tx.objectStore(op.space)));
        if (op.type === 'put') st.put(op.value, op.key);
        else st.delete(op.key);
      }
    } catch (err) {
      try { tx.abort(); } catch { /* already finished */ }
      throw err;
    }
  }

  /**
   * Reads `keys` of store `r` inside `tx`, then calls `done(values)`. For more than a few keys it
   * first lists which of them exist with one getAllKeys over their span (bounded), so writing
   * 1,000 new keys costs one read request, not 1,000.
   */
  function readForUpdate(tx: IDBTransaction, keys: readonly string[], extra: readonly ExtraRead[], done: (values: (StoredValue | undefined)[], extraValues: ExtraValue[]) => void): void {
    const st = tx.objectStore('r');
    const values: (StoredValue | undefined)[] = new Array(keys.length).fill(undefined);
    const extraValues: ExtraValue[] = new Array(extra.length).fill(undefined);
    // The extra reads are issued first; requests complete in order, so they are done when the last record read is.
    let extraLeft = extra.length;
    let recordsDone = false;
    const finish = () => { if (recordsDone && extraLeft === 0) done(values, extraValues); };
    extra.forEach((x, i) => {
      const xs = tx.objectStore(x.space);
      if (!x.prefix) {
        xs.get(x.key).onsuccess = (e) => { extraValues[i] = (e.target as IDBRequest).result; extraLeft--; finish(); };
        return;
      }
      const hi = prefixUpperBound(x.key, 'utf16');
      const range = hi === undefined ? IDBKeyRange.lowerBound(x.key) : IDBKeyRange.bound(x.key, hi, false, true);
      const ks = xs.getAllKeys(range);
      xs.getAll(range).onsuccess = (e) => {
        const vs = (e.target as IDBRequest<unknown[]>).result;
        extraValues[i] = (ks.result as string[]).map((k, j) => [k, vs[j]] as [string, StoredValue]);
        extraLeft--;
        finish();
      };
    });
    const fetch = (indexes: number[]) => {
      let left = indexes.length;
      if (left === 0) { recordsDone = true; return finish(); }
      for (const i of indexes) {
        st.get(keys[i]!).onsuccess = (e) => {
          values[i] = (e.target as IDBRequest).result;
          if (--left === 0) { recordsDone = true; finish(); }
        };
      }
    };
    const all = keys.map((_, i) => i);
    if (keys.length < 8) return fetch(all);
    const { lo, hi, limit } = keySpan(keys, 'utf16')!;
    st.getAllKeys(IDBKeyRange.bound(lo, hi), limit).onsuccess = (e) => {
      const found = (e.target as IDBRequest<IDBValidKey[]>).result;
      if (found.length >= limit) return fetch(all); // the span is crowded: read key by key
      const exists = new Set(found as string[]);
      fetch(all.filter((i) => exists.has(keys[i]!)));
    };
  }

  /** Entries (or keys) of a range: getAll/getAllKeys going forward, a cursor going backward. */
  async function read(space: Space, q: RangeQuery, withValues: boolean): Promise<[string, StoredValue][] | string[]> {
    const range = keyRange(q);
    if (range === false) return [];
    const out = await run([space], 'readonly', 'range read', async (tx) => {
      const st = store(tx, space);
      if (!q.reverse) {
        // `count` is an unsigned long: larger limits (Infinity) mean "all".
        const count = q.limit !== undefined && q.limit < 2 ** 32 ? q.limit : undefined;
        const keys = st.getAllKeys(range, count) as Promise<string[]>;
        if (!withValues) return keys;
        const [ks, vs] = await Promise.all([keys, st.getAll(range, count)]);
        return ks.map((k, i) => [k, vs[i]] as [string, StoredValue]);
      }
      const limit = q.limit ?? Infinity;
      const found: ([string, StoredValue] | string)[] = [];
      let cursor = await (withValues ? st.openCursor(range, 'prev') : st.openKeyCursor(range, 'prev'));
      while (cursor && found.length < limit) {
        found.push(withValues ? [cursor.key as string, (cursor as { value?: unknown }).value] : (cursor.key as string));
        cursor = await cursor.continue();
      }
      return found as [string, StoredValue][] | string[];
    });
    stats.reads += out.length;
    return out;
  }

  return {
    capabilities: CAPABILITIES,
    stats,
    async open() {
      wanted = true;
      await connect();
    },
    async close() {
      wanted = false;
      const p = conn;
      conn = undefined;
      // close() lets running transactions finish; the connection is released when they do.
      if (p) await p.then((db) => db.close(), () => {});
    },
    async get(space, key) {
      const v = await run([space], 'readonly', 'read', (tx) => store(tx, space).get(key));
      stats.reads++;
      return v;
    },
    async getMany(space, keys) {
      if (keys.length === 0) return [];
      // All requests are issued before the first await: one transaction, one round of callbacks.
      // Raw requests, one callback each: no promise per key (measured: the idb wrapper's promises
      // were ~14% of an indexed query fetching 100 records).
      const vs = await run([space], 'readonly', 'read', (wrapped) => new Promise<(StoredValue | undefined)[]>((resolve, reject) => {
        const st = (unwrap(wrapped) as IDBTransaction).objectStore(space);
        const out: (StoredValue | undefined)[] = new Array(keys.length);
        let left = keys.length;
        keys.forEach((k, i) => {
          const req = st.get(k);
          req.onsuccess = () => {
            out[i] = req.result;
            if (--left === 0) resolve(out);
          };
          req.onerror = () => reject(req.error);
        });
      }));
      stats.reads += keys.length;
      return vs;
    },
    async batch(ops: readonly BatchOp[], o?: BatchOptions) {
      if (ops.length === 0) return;
      const spaces = [...new Set(ops.map((op) => op.space))];
      await run(spaces, 'readwrite', 'write', (wrapped) => {
        // Raw requests: their errors abort the transaction, and `committed` reports them; no
        // per-request promise (and no unhandled rejection) for 1,000-operation batches.
        const tx = unwrap(wrapped) as IDBTransaction;
        const done = committed(tx);
        try {
          issue(tx, ops);
        } catch (err) {
          // A synchronous throw (DataCloneError, DataError) must not let earlier puts commit.
          done.catch(() => {});
          return Promise.reject(err);
        }
        return done;
      }, o?.durability ?? 'default');
    },
    async update(keys, plan, o, extra = []) {
      // An error thrown by `plan` is the caller's (a conflict, a validation error, "plan again"):
      // it aborts the transaction and is rethrown as it is, not wrapped like IndexedDB's own.
      let planFailure: { error: unknown } | undefined;
      try {
        await run([...SPACES], 'readwrite', 'write', (wrapped) => {
          const tx = unwrap(wrapped) as IDBTransaction;
          const done = committed(tx);
          let failure: unknown;
          readForUpdate(tx, keys, extra, (values, extraValues) => {
            let ops: readonly BatchOp[];
            try {
              ops = plan(values, extraValues);
            } catch (error) {
              planFailure = { error };
              try { tx.abort(); } catch { /* already finished */ }
              return;
            }
            try {
              issue(tx, ops);
            } catch (err) {
              failure = err; // issue() aborted the transaction
            }
          });
          stats.reads += keys.length;
          return done.then(
            () => { if (failure !== undefined) throw failure; },
            (err: unknown) => { throw failure ?? err; },
          );
        }, o?.durability ?? 'default');
      } catch (err) {
        if (planFailure) throw planFailure.error;
        throw err;
      }
    },
    range(space, q) {
      return read(space, q, true) as Promise<[string, StoredValue][]>;
    },
    keys(space, q) {
      return read(space, q, false) as Promise<string[]>;
    },
    onExternalReset(listener) {
      resetListener = listener;
    },
    async wipe() {
      await run([...SPACES], 'readwrite', 'wipe', (wrapped) => {
        const tx = unwrap(wrapped) as IDBTransaction;
        const done = committed(tx);
        for (const s of SPACES) tx.objectStore(s).clear();
        return done;
      });
    },
  };
}
