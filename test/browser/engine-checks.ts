/**
 * Checks of the IndexedDB engine itself, beyond the conformance suite: range semantics against
 * the memory engine, atomicity, one transaction per call, durability hints, and the connection
 * rules (another tab upgrading or deleting, a blocked open, a dropped connection, no IndexedDB).
 * Runs in a Chromium page; "another tab" is a second raw connection in the same page, which
 * IndexedDB treats the same way.
 */
import fc from 'fast-check';
import { createIdbEngine } from '../../src/adapters/browser/idb-engine';
import { SPACES, type BatchOp, type RangeQuery } from '../../src/core/engine';
import { createMemoryEngine } from '../../src/core/memory-engine';
import { StorageSystem } from '../../src/index.browser';
import type { Declare } from '../conformance/types';
import { deepEqual, equal, ok, rejects } from '../support/assert';
import { deleteDatabase } from './runner';

let serial = 0;
const freshName = () => `tierstore-engine-${Date.now().toString(36)}-${serial++}`;
const engineAt = (location: string, openTimeout = 5000) => createIdbEngine({ name: 'file', location, openTimeout });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Opens a raw connection (plays "another tab"); fails after 3 s rather than hang when blocked. */
function rawOpen(name: string, version?: number, upgrade?: (db: IDBDatabase) => void): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`indexedDB.open("${name}", ${version}) blocked for 3 s`)), 3000);
    const req = version === undefined ? indexedDB.open(name) : indexedDB.open(name, version);
    req.onupgradeneeded = () => upgrade?.(req.result);
    req.onsuccess = () => { clearTimeout(timer); resolve(req.result); };
    req.onerror = () => { clearTimeout(timer); reject(req.error); };
  });
}

/** Records every `IDBDatabase.transaction` call (stores, mode, durability) until `restore()`. */
function spyTransactions() {
  const original = IDBDatabase.prototype.transaction;
  const calls: { stores: string[]; mode: string; durability?: string }[] = [];
  IDBDatabase.prototype.transaction = function (this: IDBDatabase, stores: string | string[], mode?: IDBTransactionMode, o?: IDBTransactionOptions) {
    calls.push({ stores: [stores].flat(), mode: mode ?? 'readonly', durability: o?.durability });
    return original.call(this, stores, mode, o);
  } as typeof original;
  return { calls, restore: () => { IDBDatabase.prototype.transaction = original; } };
}

/** Records the raw open requests the engine makes, so a test can close a connection under it. */
function spyOpens() {
  const original = IDBFactory.prototype.open;
  const requests: IDBOpenDBRequest[] = [];
  IDBFactory.prototype.open = function (this: IDBFactory, name: string, version?: number) {
    const req = original.call(this, name, version);
    requests.push(req);
    return req;
  };
  return { requests, restore: () => { IDBFactory.prototype.open = original; } };
}

export function engineChecks(test: Declare): void {
  test('range and keys agree with the memory engine (random bounds, limit, reverse)', async () => {
    const name = freshName();
    const idb = engineAt(name);
    const mem = createMemoryEngine();
    await idb.open();
    try {
      const unit = fc.constantFrom('a', 'b', '.', 'é', '😀', '\uffff', '\u0000');
      const keyArb = fc.array(unit, { maxLength: 4 }).map((a) => a.join(''));
      const keys = fc.sample(fc.uniqueArray(keyArb, { minLength: 120, maxLength: 120 }), { numRuns: 1, seed: 3 })[0]!;
      const puts: BatchOp[] = keys.map((key) => ({ type: 'put', space: 'r', key, value: { key } }));
      // Entries in the other spaces must never show up in `r` reads.
      puts.push({ type: 'put', space: 'x', key: 'b', value: 0 }, { type: 'put', space: 'm', key: 'a', value: 1 });
      const dels: BatchOp[] = keys.filter((_, i) => i % 3 === 0).map((key) => ({ type: 'del', space: 'r', key }));
      const bound = fc.option(fc.record({ key: keyArb, inclusive: fc.boolean() }), { nil: undefined });
      const queryArb = fc.record({ lo: bound, hi: bound, limit: fc.option(fc.nat(40), { nil: undefined }), reverse: fc.boolean() })
        .map(({ lo, hi, limit, reverse }): RangeQuery => ({
          ...(lo && (lo.inclusive ? { gte: lo.key } : { gt: lo.key })),
          ...(hi && (hi.inclusive ? { lte: hi.key } : { lt: hi.key })),
          ...(limit !== undefined && { limit }),
          ...(reverse && { reverse }),
        }));
      for (const ops of [puts, dels]) {
        await idb.batch(ops);
        mem.batch(ops);
        await fc.assert(fc.asyncProperty(queryArb, async (q) => {
          const before = idb.stats.reads;
          const expected = mem.range('r', q) as [string, unknown][];
          deepEqual(await idb.range('r', q), expected, `range ${JSON.stringify(q)}`);
          equal(idb.stats.reads - before, expected.length, 'stats.reads counts entries returned');
          deepEqual(await idb.keys('r', q), mem.keys('r', q), `keys ${JSON.stringify(q)}`);
        }), { numRuns: 150, seed: 11 });
      }
    } finally {
      await idb.close();
      await deleteDatabase(name);
    }
  });

  test('batch is atomic: an operation IndexedDB refuses rolls back the earlier ones', async () => {
    const name = freshName();
    const idb = engineAt(name);
    await idb.open();
    try {
      await idb.batch([{ type: 'put', space: 'r', key: 'keep', value: 1 }]);
      const err = await rejects(Promise.resolve(idb.batch([
        { type: 'put', space: 'r', key: 'a', value: 1 },
        { type: 'del', space: 'r', key: 'keep' },
        { type: 'put', space: 'x', key: 'b', value: () => 1 }, // DataCloneError
      ])), 'STORAGE_ERROR');
      equal((err.cause as DOMException).name, 'DataCloneError');
      await rejects(Promise.resolve(idb.batch([
        { type: 'put', space: 'r', key: 'a', value: 1 },
        { type: 'put', space: 'r', key: undefined as unknown as string, value: 1 }, // DataError
      ])), 'STORAGE_ERROR');
      deepEqual(await idb.getMany('r', ['a', 'keep']), [undefined, 1]);
      deepEqual(await idb.keys('x', {}), []);
      await idb.wipe();
      deepEqual(await idb.range('r', {}), []);
    } finally {
      await idb.close();
      await deleteDatabase(name);
    }
  });

  test('one transaction per call; 1,000 concurrent set() calls share one readwrite transaction; durability hints', async () => {
    const name = freshName();
    const storage = new StorageSystem({ defaultBackend: 'file', sweepInterval: 0 });
    storage.createBackend('file', { basePath: name });
    await storage.set('warm', 1); // opens outside the spy
    const spy = spyTransactions();
    try {
      await Promise.all(Array.from({ length: 1000 }, (_, i) => storage.set(`k.${i}`, i)));
      const writes = spy.calls.filter((c) => c.mode === 'readwrite');
      ok(writes.length === 1, `expected 1 readwrite transaction, got ${writes.length}`);
      deepEqual([...writes[0]!.stores].sort(), [...SPACES].sort(), 'reads and writes of a flush share one transaction over every keyspace');
      equal(writes[0]!.durability, 'relaxed', 'the backend default (relaxed) is passed as an explicit hint');
      spy.calls.length = 0;
      equal((await storage.batchGet(Array.from({ length: 300 }, (_, i) => `k.${i}`))).length, 300);
      equal(spy.calls.length, 1, 'batchGet of 300 keys is one readonly transaction');
      spy.calls.length = 0;
      await storage.set('s', 1, { durability: 'strict', ttl: 60 });
      const strict = spy.calls.find((c) => c.mode === 'readwrite')!;
      equal(strict.durability, 'strict');
      deepEqual([...strict.stores].sort(), [...SPACES].sort(), 'a record and its expiry entry commit together');
    } finally {
      spy.restore();
      await storage.close();
      await deleteDatabase(name);
    }
    const idb = engineAt(name);
    await idb.open();
    const spy2 = spyTransactions();
    try {
      await idb.batch([{ type: 'put', space: 'm', key: 'a', value: 1 }], { durability: 'relaxed' });
      equal(spy2.calls[0]!.durability, 'relaxed');
    } finally {
      spy2.restore();
      await idb.close();
      await deleteDatabase(name);
    }
  });

  test('another tab deleting the database: the engine lets it, then reopens on its next call', async () => {
    const name = freshName();
    const idb = engineAt(name);
    await idb.open();
    await idb.batch([{ type: 'put', space: 'r', key: 'k', value: 1 }]);
    const { blocked } = await deleteDatabase(name, 3000);
    equal(blocked, false, 'the delete was not blocked by our connection');
    equal(await idb.get('r', 'k'), undefined, 'reopened on a fresh database');
    await idb.batch([{ type: 'put', space: 'r', key: 'k', value: 2 }]);
    equal(await idb.get('r', 'k'), 2);
    await idb.close();
    await deleteDatabase(name);
  });

  test('another tab upgrading the database: the engine releases it, then reports a newer version', async () => {
    const name = freshName();
    const idb = engineAt(name);
    await idb.open();
    const started = performance.now();
    const newer = await rawOpen(name, 3); // one above the engine's schema version
    ok(performance.now() - started < 2000, 'the upgrade was not held up');
    newer.close();
    const err = await rejects(Promise.resolve(idb.get('r', 'k')), 'STORAGE_CONNECTION');
    ok(/newer version/.test(err.message), err.message);
    await idb.close();
    await deleteDatabase(name);
  });

  test('an open stuck behind another tab fails after openTimeout, and releases the late connection', async () => {
    const name = freshName();
    const holder = await rawOpen(name, 1); // ignores versionchange, like an old tab would
    const deleting = deleteDatabase(name, 20_000); // now blocked by `holder`
    deleting.catch(() => {}); // awaited below; must not be an unhandled rejection if we fail first
    const idb = engineAt(name, 300);
    const started = performance.now();
    const err = await rejects(idb.open(), 'STORAGE_CONNECTION');
    const took = performance.now() - started;
    ok(took >= 250 && took < 3000, `gave up after ${Math.round(took)} ms`);
    equal((err as { transient?: boolean }).transient, true);
    holder.close();
    await deleting;
    await sleep(100); // the engine's queued open now completes and must be closed by it
    const { blocked } = await deleteDatabase(name, 3000);
    equal(blocked, false, 'the late connection was released');
    await idb.open(); // a failed open is not memoised
    await idb.batch([{ type: 'put', space: 'r', key: 'k', value: 1 }]);
    await idb.close();
    await deleteDatabase(name);
  });

  test('a connection the browser drops is reopened on the next call', async () => {
    const name = freshName();
    const opens = spyOpens();
    const idb = engineAt(name);
    try {
      await idb.open();
      await idb.batch([{ type: 'put', space: 'r', key: 'k', value: 1 }]);
      // Closed without any event (what Safari sometimes does): transaction() throws InvalidStateError.
      opens.requests.at(-1)!.result.close();
      equal(await idb.get('r', 'k'), 1);
      equal(opens.requests.length, 2, 'reopened once');
      // Closed abnormally, with the `close` event browsers fire then.
      const db = opens.requests.at(-1)!.result;
      db.close();
      db.dispatchEvent(new Event('close'));
      deepEqual(await idb.keys('r', {}), ['k']);
      equal(opens.requests.length, 3, 'reopened after the close event');
    } finally {
      opens.restore();
      await idb.close();
      await deleteDatabase(name);
    }
  });

  test('close is idempotent, releases the connection, and calls after it are STORAGE_CLOSED', async () => {
    const name = freshName();
    const idb = engineAt(name);
    await rejects(Promise.resolve(idb.get('r', 'k')), 'STORAGE_CLOSED', 'before open');
    await idb.open();
    await idb.open(); // memoised
    await idb.close();
    await idb.close();
    await rejects(Promise.resolve(idb.get('r', 'k')), 'STORAGE_CLOSED');
    await rejects(Promise.resolve(idb.batch([{ type: 'put', space: 'r', key: 'k', value: 1 }])), 'STORAGE_CLOSED');
    const { blocked } = await deleteDatabase(name, 3000);
    equal(blocked, false, 'no connection left open');
  });

  test('a version-1 database (stores r, x, m) upgrades to version 2 and keeps its data', async () => {
    const name = freshName();
    const v1 = await rawOpen(name, 1, (db) => { for (const s of ['r', 'x', 'm']) db.createObjectStore(s); });
    await new Promise<void>((resolve, reject) => {
      const tx = v1.transaction('r', 'readwrite');
      tx.objectStore('r').put('kept', 'old');
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    });
    v1.close();
    const idb = engineAt(name);
    await idb.open();
    equal(await idb.get('r', 'old'), 'kept', 'data of version 1 survives the upgrade');
    await idb.batch([{ type: 'put', space: 'r', key: 'k', value: 1 }, { type: 'put', space: 'i', key: 'e', value: 2 }, { type: 'put', space: 't', key: 'p', value: 3 }]);
    equal(await idb.get('i', 'e'), 2);
    equal(await idb.get('t', 'p'), 3);
    await idb.close();
    const raw = await rawOpen(name);
    equal(raw.version, 2);
    deepEqual([...raw.objectStoreNames].sort(), [...SPACES].sort());
    raw.close();
    await deleteDatabase(name);
  });

  test('estimate() and persist() wrap navigator.storage', async () => {
    const storage = new StorageSystem();
    const e = await storage.estimate();
    ok(e !== undefined && typeof e.quota === 'number' && e.quota > 0 && typeof e.usage === 'number', JSON.stringify(e));
    equal(typeof (await storage.persist()), 'boolean');
    await storage.close();
  });

  test('a database tierstore did not create is refused clearly', async () => {
    const name = freshName();
    (await rawOpen(name, 1, (db) => db.createObjectStore('other'))).close();
    const idb = engineAt(name);
    const err = await rejects(idb.open(), 'STORAGE_CONNECTION');
    ok(/not created by tierstore/.test(err.message), err.message);
    await rejects(idb.open(), 'STORAGE_CONNECTION', 'a refused open is not memoised, it is refused again');
    const { blocked } = await deleteDatabase(name, 3000);
    equal(blocked, false, 'the refused connection was closed');
  });

  test('two tabs creating one encrypted store at once end up with one data key', async () => {
    // Each StorageSystem is its own IndexedDB connection: to IndexedDB, another tab. Both find no
    // key info and make a data key; only one may be stored, and both must seal with it.
    const key = crypto.getRandomValues(new Uint8Array(32));
    for (let round = 0; round < 8; round++) {
      const location = freshName();
      const tabs = [new StorageSystem({ defaultBackend: 'file' }), new StorageSystem({ defaultBackend: 'file' })];
      const backends = tabs.map((s) => s.createBackend('file', { basePath: location, enableEncryption: true, encryptionKey: key }));
      try {
        await Promise.all(backends.map((b) => b.open()));
        await Promise.all(backends.map((b, i) => b.set(`from.${i}`, { tab: i, round })));
        for (const b of backends) {
          for (let i = 0; i < 2; i++) deepEqual(await b.get(`from.${i}`), { tab: i, round }, `round ${round}: a record written by tab ${i} reads in every tab`);
        }
      } finally {
        await Promise.all(tabs.map((s) => s.close()));
      }
      const again = new StorageSystem({ defaultBackend: 'file' });
      const b = again.createBackend('file', { basePath: location, enableEncryption: true, encryptionKey: key });
      try {
        for (let i = 0; i < 2; i++) deepEqual(await b.get(`from.${i}`), { tab: i, round }, `round ${round}: reopened`);
      } finally {
        await again.close();
        await deleteDatabase(location, 3000);
      }
    }
  });

  test('after another tab rotates the encryption key, a tab still holding the old key cannot write (STORAGE_BAD_KEY), and writes nothing', async () => {
    const location = freshName();
    const k1 = crypto.getRandomValues(new Uint8Array(32));
    const k2 = crypto.getRandomValues(new Uint8Array(32));
    const tabs = [new StorageSystem({ defaultBackend: 'file' }), new StorageSystem({ defaultBackend: 'file' })];
    const [a, b] = tabs.map((s) => s.createBackend('file', { basePath: location, enableEncryption: true, encryptionKey: k1 }));
    try {
      await a!.batchSet(Array.from({ length: 50 }, (_, i) => ({ key: `r.${i}`, value: i })));
      await b!.set('from.b', 'before');
      await a!.rotateEncryptionKey(k2);
      await rejects(b!.set('from.b', 'after'), 'STORAGE_BAD_KEY');
      await rejects(b!.batchSet([{ key: 'r.1', value: 'stale' }, { key: 'new.1', value: 1 }]), 'STORAGE_BAD_KEY');
      equal(await a!.get('from.b'), 'before', 'the refused write changed nothing');
      equal(await a!.get('r.1'), 1);
      equal(await a!.get('new.1'), undefined);
      await a!.set('from.a', 'after');
      equal(await a!.get('from.a'), 'after', 'the rotating tab writes on');
    } finally {
      await Promise.all(tabs.map((s) => s.close()));
    }
    const again = new StorageSystem({ defaultBackend: 'file' });
    const c = again.createBackend('file', { basePath: location, enableEncryption: true, encryptionKey: k2 });
    try {
      for (let i = 0; i < 50; i++) equal(await c.get(`r.${i}`), i === 1 ? 1 : i, 'every record reads with the new key');
      equal(await c.get('from.b'), 'before');
    } finally {
      await again.close();
      await deleteDatabase(location, 3000);
    }
  });

  test('two tabs rotating the encryption key at once: one wins, the other is refused (STORAGE_BAD_KEY) and changes nothing', async () => {
    const location = freshName();
    const k1 = crypto.getRandomValues(new Uint8Array(32));
    const next = [crypto.getRandomValues(new Uint8Array(32)), crypto.getRandomValues(new Uint8Array(32))];
    const tabs = [new StorageSystem({ defaultBackend: 'file' }), new StorageSystem({ defaultBackend: 'file' })];
    const backends = tabs.map((s) => s.createBackend('file', { basePath: location, enableEncryption: true, encryptionKey: k1 }));
    let winner = -1;
    try {
      await backends[0]!.batchSet(Array.from({ length: 300 }, (_, i) => ({ key: `r.${i}`, value: { i } })));
      await backends[1]!.get('r.0');
      const outcomes = await Promise.allSettled(backends.map((b, i) => b.rotateEncryptionKey(next[i]!)));
      const won = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
      equal(won.length, 1, `exactly one rotation wins: ${JSON.stringify(outcomes.map((o) => o.status === 'rejected' ? (o.reason as { code?: string }).code : 'ok'))}`);
      winner = won[0]!;
      const lost = outcomes[1 - winner] as PromiseRejectedResult;
      equal((lost.reason as { code?: string }).code, 'STORAGE_BAD_KEY', String(lost.reason));
      await rejects(backends[1 - winner]!.set('r.0', 'stale'), 'STORAGE_BAD_KEY');
    } finally {
      await Promise.all(tabs.map((s) => s.close()));
    }
    const again = new StorageSystem({ defaultBackend: 'file' });
    const c = again.createBackend('file', { basePath: location, enableEncryption: true, encryptionKey: next[winner]! });
    try {
      for (let i = 0; i < 300; i++) deepEqual(await c.get(`r.${i}`), { i }, `r.${i} reads with the winning key`);
    } finally {
      await again.close();
      await deleteDatabase(location, 3000);
    }
  });

  test('a record cache is dropped when another tab deletes the database ("Clear site data")', async () => {
    const location = freshName();
    const storage = new StorageSystem({ defaultBackend: 'file' });
    const b = storage.createBackend('file', { basePath: location, enableCaching: true, cacheSize: 100 });
    try {
      await b.set('k', 'old');
      equal(await b.get('k'), 'old');
      equal(await b.get('k'), 'old', 'served from the cache');
      const { blocked } = await deleteDatabase(location, 3000);
      equal(blocked, false, 'the backend let the delete through');
      equal(await b.get('k'), undefined, 'the deleted record is not served from the cache');
      deepEqual(await b.keys('**'), []);
      await b.set('k', 'new');
      equal(await b.get('k'), 'new');
    } finally {
      await storage.close();
      await deleteDatabase(location, 3000);
    }
  });

  test('no IndexedDB (private mode, sandboxed frame): StorageConnectionError with a clear message', async () => {
    const own = Object.getOwnPropertyDescriptor(window, 'indexedDB');
    Object.defineProperty(window, 'indexedDB', { value: undefined, configurable: true, writable: true });
    try {
      const err = await rejects(engineAt('unused').open(), 'STORAGE_CONNECTION');
      ok(/not available/.test(err.message), err.message);
      const storage = new StorageSystem({ defaultBackend: 'file' });
      await rejects(storage.set('k', 1), 'STORAGE_CONNECTION');
      await storage.close();
    } finally {
      if (own) Object.defineProperty(window, 'indexedDB', own);
      else delete (window as { indexedDB?: unknown }).indexedDB;
    }
    equal(typeof indexedDB.open, 'function', 'restored');
    // Opaque origins (sandboxed frames, data: URLs): indexedDB.open throws SecurityError.
    const original = IDBFactory.prototype.open;
    IDBFactory.prototype.open = () => { throw new DOMException('The operation is insecure.', 'SecurityError'); };
    try {
      const err = await rejects(engineAt('unused').open(), 'STORAGE_CONNECTION');
      ok(/insecure/.test(err.message), err.message);
      equal((err.cause as DOMException).name, 'SecurityError');
    } finally {
      IDBFactory.prototype.open = original;
    }
  });
}
