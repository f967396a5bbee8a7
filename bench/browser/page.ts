/**
 * The Chromium half of the bench, bundled by bench/browser.ts with esbuild and run in a page
 * served from 127.0.0.1. It exposes `globalThis.__bench`; the Node harness calls one measured
 * function per `page.evaluate`, and decides the order (SDK and baselines interleaved).
 *
 * Every database is created fresh for the run that uses it and deleted afterwards. Write
 * transactions use the durability hint the SDK uses for its writes: the Backend asks its engine
 * for `relaxed` unless a write asks for `strict` (src/core/backend.ts, `engine.batch(…,
 * { durability })`), so the raw baseline passes `{ durability: 'relaxed' }` and Dexie gets
 * `chromeTransactionDurability: 'relaxed'`. Change WRITE_DURABILITY if the SDK's hint changes.
 *
 * Rows 8–10 (writeCases, setCases, fillAccounts, transferCases) run the SDK only, with the
 * durability each case names; bench/browser.ts runs them in a page with an on-disk profile.
 *
 * Issue #4 (rows 11 and 14; the `issue4*` functions, driven by bench/issue4-browser.ts): the
 * indexed equality query on IndexedDB vs Dexie, and search on IndexedDB vs the memory tier, on
 * stores of their own (bench/lib/corpus.ts data).
 *
 * Issue #5 (row 17 on IndexedDB; the `issue5*` functions, driven by bench/issue5-browser.ts):
 * set() and get() of ~200 B records, one awaited call at a time, on an encrypted SDK store
 * (`{ enableEncryption: true, encryptionKey }`) and on an unencrypted one.
 */
import Dexie, { type Table } from 'dexie';
import type { Durability, StorageSystem } from '../../src/index.browser.ts';
import { chunks, makeDataset, shuffledIndexes, type BenchRecord } from '../lib/records.ts';
import { makeCorpus, makeQueryRecord, queryKey, type QueryRecord } from '../lib/corpus.ts';
import { accountEntries, alternating, setCase, transferCase, writeCase, type Case } from '../lib/transactions.ts';

export type Kind = 'sdk' | 'raw' | 'dexie';
type SystemClass = typeof StorageSystem;

const CHUNK = 1000;
const STORE = 'kv';
const WRITE_DURABILITY: IDBTransactionDurability = 'relaxed';

interface Data {
  keys: string[];
  values: BenchRecord[];
  /** [start, end) of the write chunks, in key order. */
  spans: [number, number][];
  /** Keys in a fixed shuffled order, and the same cut in chunks of 1,000 for batch reads. */
  shuffled: string[];
  readChunks: string[][];
  /** Write chunks prepared before timing: SDK entries, Dexie keys and values. */
  entryChunks: { key: string; value: BenchRecord }[][];
  keyChunks: string[][];
  valueChunks: BenchRecord[][];
}

type Handle =
  | { kind: 'sdk'; name: string; db: StorageSystem }
  | { kind: 'raw'; name: string; db: IDBDatabase }
  | { kind: 'dexie'; name: string; db: Dexie; table: Table<BenchRecord, string> };

type Issue4Handle =
  | { kind: 'sdk'; name: string; db: StorageSystem; memory?: boolean }
  | { kind: 'dexie'; name: string; db: Dexie; table: Table<QueryRecord, string> };

let data: Data | undefined;
const issue4 = new Map<string, Issue4Handle>();
const issue5 = new Map<string, StorageSystem>();
let issue5Data: { keys: string[]; values: BenchRecord[]; order: number[] } | undefined;
const issue5Of = (name: string): StorageSystem => {
  const db = issue5.get(name);
  if (!db) throw new Error(`bench page: no issue #5 store "${name}"`);
  return db;
};
let System: SystemClass | null = null;
const handles = new Map<string, Handle>();
let sink = 0;

const need = (): Data => {
  if (!data) throw new Error('bench page: prepare() first');
  return data;
};
const sdkOf = (name: string): StorageSystem => {
  const h = handles.get(name);
  if (h?.kind !== 'sdk') throw new Error(`bench page: no SDK database "${name}" is open`);
  return h.db;
};
const mapCases = <A>(cases: Record<string, A>, make: (a: A) => Case): Record<string, Case> =>
  Object.fromEntries(Object.entries(cases).map(([name, a]) => [name, make(a)]));
const pageGc = (): void => (globalThis as { gc?: () => void }).gc?.();
const use = (v: unknown): void => {
  if (v === undefined) throw new Error('bench page: a read returned undefined for a key that was written');
  sink++;
};

/** Operations per second of `body`, after a forced GC when the page has one (--js-flags=--expose-gc). */
async function opsPerSecond(ops: number, body: () => Promise<unknown>): Promise<number> {
  (globalThis as { gc?: () => void }).gc?.();
  const t0 = performance.now();
  await body();
  return (ops * 1000) / (performance.now() - t0);
}

// ---------------------------------------------------------------------- raw IndexedDB helpers

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function committed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new Error('transaction aborted'));
  });
}

function rawOpen(name: string): Promise<IDBDatabase> {
  const r = indexedDB.open(name, 1);
  r.onupgradeneeded = () => r.result.createObjectStore(STORE); // out-of-line string keys, like the SDK
  return request(r);
}

/** One readwrite transaction putting keys[start..end). */
function rawPutChunk(db: IDBDatabase, d: Data, start: number, end: number): Promise<void> {
  const tx = db.transaction(STORE, 'readwrite', { durability: WRITE_DURABILITY });
  const done = committed(tx);
  const st = tx.objectStore(STORE);
  for (let i = start; i < end; i++) st.put(d.values[i], d.keys[i]);
  return done;
}

/** One readonly transaction per key. */
function rawGetOne(db: IDBDatabase, key: string): Promise<unknown> {
  return request(db.transaction(STORE, 'readonly').objectStore(STORE).get(key));
}

/** All keys in one readonly transaction; resolves when the last request succeeds (requests complete in order). */
function rawGetMany(db: IDBDatabase, keys: readonly string[]): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const st = db.transaction(STORE, 'readonly').objectStore(STORE);
    const out = new Array<unknown>(keys.length);
    let left = keys.length;
    keys.forEach((k, i) => {
      const r = st.get(k);
      r.onsuccess = () => {
        out[i] = r.result;
        if (--left === 0) resolve(out);
      };
      r.onerror = () => reject(r.error);
    });
  });
}

// ---------------------------------------------------------------------- the page API

const api = {
  /** Whether the SDK's browser entry was bundled (false: only baselines can run). */
  hasSdk(): boolean {
    return System !== null;
  },

  /** Builds the dataset of `n` records in the page. */
  prepare(n: number): void {
    const { keys, values } = makeDataset(n);
    const shuffled = shuffledIndexes(n).map((i) => keys[i]!);
    const spans = chunks(n, CHUNK);
    data = {
      keys, values, spans, shuffled,
      readChunks: spans.map(([s, e]) => shuffled.slice(s, e)),
      entryChunks: spans.map(([s, e]) => keys.slice(s, e).map((key, j) => ({ key, value: values[s + j]! }))),
      keyChunks: spans.map(([s, e]) => keys.slice(s, e)),
      valueChunks: spans.map(([s, e]) => values.slice(s, e)),
    };
  },

  /** Opens a fresh database `name` for `kind` (not timed). */
  async open(kind: Kind, name: string): Promise<void> {
    await request(indexedDB.deleteDatabase(name));
    if (kind === 'sdk') {
      if (!System) throw new Error('bench page: the SDK browser entry is not bundled');
      const db = new System({ defaultBackend: 'file' });
      await db.createBackend('file', { basePath: name }).open();
      handles.set(name, { kind, name, db });
    } else if (kind === 'raw') {
      handles.set(name, { kind, name, db: await rawOpen(name) });
    } else {
      const db = new Dexie(name, { chromeTransactionDurability: WRITE_DURABILITY });
      db.version(1).stores({ [STORE]: '' }); // outbound keys, like the SDK and the raw store
      await db.open();
      handles.set(name, { kind, name, db, table: db.table(STORE) });
    }
  },

  /** Row 4: every record written in chunks of 1,000 (SDK batchSet, raw one transaction per chunk, Dexie bulkPut). */
  async batchSet(name: string): Promise<number> {
    const d = need();
    const h = handles.get(name)!;
    return opsPerSecond(d.keys.length, async () => {
      if (h.kind === 'sdk') {
        for (const entries of d.entryChunks) await h.db.batchSet(entries);
      } else if (h.kind === 'raw') {
        for (const [s, e] of d.spans) await rawPutChunk(h.db, d, s, e);
      } else {
        for (let c = 0; c < d.spans.length; c++) await h.table.bulkPut(d.valueChunks[c]!, d.keyChunks[c]!);
      }
    });
  },

  /** Row 5: every key read one by one, awaited (raw: one transaction per get). */
  async get(name: string): Promise<number> {
    const d = need();
    const h = handles.get(name)!;
    return opsPerSecond(d.keys.length, async () => {
      if (h.kind === 'sdk') for (const k of d.shuffled) use(await h.db.get(k));
      else if (h.kind === 'raw') for (const k of d.shuffled) use(await rawGetOne(h.db, k));
      else throw new Error('bench page: get is not measured on Dexie');
    });
  },

  /** Row 5: every key read in chunks of 1,000 (raw: 1,000 gets in one transaction). */
  async batchGet(name: string): Promise<number> {
    const d = need();
    const h = handles.get(name)!;
    return opsPerSecond(d.keys.length, async () => {
      if (h.kind === 'sdk') for (const c of d.readChunks) use((await h.db.batchGet(c))[c.length - 1]);
      else if (h.kind === 'raw') for (const c of d.readChunks) use((await rawGetMany(h.db, c))[c.length - 1]);
      else throw new Error('bench page: batchGet is not measured on Dexie');
    });
  },

  /** Row 6: bursts of 1,000 `set()` calls issued together (raw: one transaction with the same 1,000 puts). */
  async burst(name: string): Promise<number> {
    const d = need();
    const h = handles.get(name)!;
    return opsPerSecond(d.keys.length, async () => {
      if (h.kind === 'sdk') {
        for (const [s, e] of d.spans) {
          const pending: Promise<void>[] = [];
          for (let i = s; i < e; i++) pending.push(h.db.set(d.keys[i]!, d.values[i]));
          await Promise.all(pending);
        }
      } else if (h.kind === 'raw') {
        for (const [s, e] of d.spans) await rawPutChunk(h.db, d, s, e);
      } else {
        throw new Error('bench page: burst is not measured on Dexie');
      }
    });
  },

  // Rows 8–10 (bench/lib/transactions.ts): each case on an SDK database opened with open('sdk', name);
  // the cases of a line are timed in alternating blocks; each returns ops/s by case name.

  /** Row 8: case → [database, 'transaction' | 'batchSet', durability]; the first `n` records (a multiple of 100). */
  async writeCases(run: number, cases: Record<string, [string, 'transaction' | 'batchSet', Durability]>, n: number): Promise<Record<string, number>> {
    const d = need();
    return alternating(run, mapCases(cases, ([db, how, durability]) => writeCase(sdkOf(db), how, durability, d.keys, d.values, n)), pageGc);
  },

  /** Row 9: case → [database, durability]; the first `n` records by awaited `set()`. */
  async setCases(run: number, cases: Record<string, [string, Durability]>, n: number): Promise<Record<string, number>> {
    const d = need();
    return alternating(run, mapCases(cases, ([db, durability]) => setCase(sdkOf(db), durability, d.keys, d.values, n)), pageGc);
  },

  /** Row 10: writes the records of the 8 key sets into `name` (not timed). */
  async fillAccounts(name: string): Promise<void> {
    await sdkOf(name).batchSet(accountEntries());
  },

  /** Row 10: case → [database, concurrency]; `total` transfer transactions each (transactions/s). */
  async transferCases(run: number, cases: Record<string, [string, 1 | 8]>, total: number): Promise<Record<string, number>> {
    return alternating(run, mapCases(cases, ([db, concurrency]) => transferCase(sdkOf(db), concurrency, total)), pageGc);
  },

  /** Closes every open database and deletes it. */
  async closeAll(): Promise<void> {
    for (const h of handles.values()) {
      if (h.kind === 'sdk') await h.db.close();
      else h.db.close();
      await request(indexedDB.deleteDatabase(h.name));
    }
    handles.clear();
  },

  // Issue #4 (rows 11 and 14, bench/issue4-browser.ts): stores of their own, closed and deleted by issue4CloseAll.

  /**
   * Row 11: `n` query records (bench/lib/corpus.ts) into a fresh database `name`, in chunks of
   * 1,000: the SDK on IndexedDB with `createIndex('users', 'group')` (after the records, or before
   * them with `indexFirst`), or Dexie with an index on `group` (outbound keys, the same keys and
   * values). Untimed; returns how long each part took.
   */
  async issue4LoadUsers(kind: 'sdk' | 'dexie', name: string, n: number, indexFirst = false): Promise<{ loadMs: number; indexMs: number }> {
    await request(indexedDB.deleteDatabase(name));
    const t0 = performance.now();
    const chunksOf = (fn: (keys: string[], values: QueryRecord[]) => Promise<unknown>) => async () => {
      for (let s = 0; s < n; s += CHUNK) {
        const keys: string[] = [];
        const values: QueryRecord[] = [];
        for (let i = s; i < Math.min(n, s + CHUNK); i++) {
          keys.push(queryKey(i));
          values.push(makeQueryRecord(i));
        }
        await fn(keys, values);
      }
    };
    if (kind === 'sdk') {
      if (!System) throw new Error('bench page: the SDK browser entry is not bundled');
      const db = new System({ defaultBackend: 'file' });
      await db.createBackend('file', { basePath: name }).open();
      issue4.set(name, { kind: 'sdk', name, db });
      if (indexFirst) {
        await db.createIndex('users', 'group');
        const t1 = performance.now();
        await chunksOf((keys, values) => db.batchSet(keys.map((key, i) => ({ key, value: values[i] }))))();
        return { loadMs: performance.now() - t1, indexMs: t1 - t0 };
      }
      await chunksOf((keys, values) => db.batchSet(keys.map((key, i) => ({ key, value: values[i] }))))();
      const t1 = performance.now();
      await db.createIndex('users', 'group');
      return { loadMs: t1 - t0, indexMs: performance.now() - t1 };
    }
    const db = new Dexie(name, { chromeTransactionDurability: WRITE_DURABILITY });
    db.version(1).stores({ users: ',group' }); // outbound keys, an index on group
    await db.open();
    const table = db.table<QueryRecord, string>('users');
    issue4.set(name, { kind: 'dexie', name, db, table });
    await chunksOf((keys, values) => table.bulkPut(values, keys))();
    return { loadMs: performance.now() - t0, indexMs: 0 };
  },

  /** Row 11: the plan of the SDK's equality query (explain), for the harness to check. */
  async issue4Explain(name: string, group: number): Promise<{ strategy: string; index?: string; recordsRead: number; returned: number }> {
    const h = issue4.get(name);
    if (h?.kind !== 'sdk') throw new Error(`bench page: no SDK store "${name}"`);
    const p = await h.db.explain('users.*', { filter: { group } });
    return { strategy: p.strategy, index: p.index, recordsRead: p.recordsRead, returned: p.returned };
  },

  /** Row 11: one equality query per value (SDK `query`, Dexie `where('group').equals(v).toArray()`); queries/s. */
  async issue4Equality(name: string, groups: number[], expect: number): Promise<number> {
    const h = issue4.get(name);
    if (!h) throw new Error(`bench page: no store "${name}"`);
    const check = (n: number) => {
      if (n !== expect) throw new Error(`bench page: an equality query returned ${n} records, expected ${expect}`);
      sink += n;
    };
    return opsPerSecond(groups.length, async () => {
      if (h.kind === 'dexie') for (const g of groups) check((await h.table.where('group').equals(g).toArray()).length);
      else for (const g of groups) check((await h.db.query('users.*', { filter: { group: g } })).length);
    });
  },

  /**
   * Row 14: the first `n` documents of the corpus into a fresh store with a search index on title
   * and content: the SDK on IndexedDB (`idb`) or on the memory tier (`memory`). `how`: `batchSet`
   * (chunks of 1,000 into a store that already has the index; timed) or `create` (batchSet untimed,
   * then createSearchIndex timed). Returns documents per second of the timed part.
   */
  async issue4LoadDocs(kind: 'idb' | 'memory', name: string, n: number, how: 'batchSet' | 'create' = 'batchSet'): Promise<number> {
    if (!System) throw new Error('bench page: the SDK browser entry is not bundled');
    let db: StorageSystem;
    if (kind === 'idb') {
      await request(indexedDB.deleteDatabase(name));
      db = new System({ defaultBackend: 'file' });
      await db.createBackend('file', { basePath: name }).open();
    } else {
      db = new System();
    }
    issue4.set(name, { kind: 'sdk', name, db, memory: kind === 'memory' });
    const { keys, docs } = makeCorpus(n);
    const fill = async () => {
      for (const [s, e] of chunks(n, CHUNK)) await db.batchSet(keys.slice(s, e).map((key, j) => ({ key, value: docs[s + j] })));
    };
    const index = () => db.createSearchIndex('docs', { fields: ['title', 'content'] });
    if (how === 'create') {
      await fill();
      return opsPerSecond(n, index);
    }
    await index();
    return opsPerSecond(n, fill);
  },

  /** Row 14: every query of `queries` (default limit 20); queries/s. */
  async issue4Search(name: string, queries: string[]): Promise<number> {
    const h = issue4.get(name);
    if (h?.kind !== 'sdk') throw new Error(`bench page: no SDK store "${name}"`);
    return opsPerSecond(queries.length, async () => {
      for (const query of queries) sink += (await h.db.search('docs.*', { query })).length;
    });
  },

  /** Row 14: the keys of one search's hits (to check that both stores agree). */
  async issue4SearchKeys(name: string, query: string): Promise<string[]> {
    const h = issue4.get(name);
    if (h?.kind !== 'sdk') throw new Error(`bench page: no SDK store "${name}"`);
    return (await h.db.search('docs.*', { query })).map((x) => x.key);
  },

  /** Closes every issue #4 store and deletes its database. */
  async issue4CloseAll(): Promise<void> {
    for (const h of issue4.values()) {
      if (h.kind === 'sdk') await h.db.close();
      else h.db.close();
      if (!(h.kind === 'sdk' && h.memory)) await request(indexedDB.deleteDatabase(h.name));
    }
    issue4.clear();
  },

  /** Row 17: a fresh SDK store on IndexedDB, encrypted with `key` (32 bytes) or not (`key` null). */
  async issue5Open(name: string, key: number[] | null, n: number): Promise<void> {
    if (!System) throw new Error('bench page: the SDK browser entry is not bundled');
    if (!issue5Data || issue5Data.keys.length !== n) issue5Data = { ...makeDataset(n), order: shuffledIndexes(n, 5) };
    await request(indexedDB.deleteDatabase(name));
    const db = new System({ defaultBackend: 'file' });
    await db.createBackend('file', key ? { basePath: name, enableEncryption: true, encryptionKey: new Uint8Array(key) } : { basePath: name }).open();
    issue5.set(name, db);
  },

  /** Row 17: set() of the first `n` records, one awaited call at a time; ops/s. */
  async issue5Set(name: string, n: number): Promise<number> {
    const db = issue5Of(name);
    const { keys, values } = issue5Data!;
    return opsPerSecond(n, async () => {
      for (let i = 0; i < n; i++) await db.set(keys[i]!, values[i]);
    });
  },

  /** Row 17: get() of the first `n` records in a shuffled order, one awaited call at a time; ops/s. */
  async issue5Get(name: string, n: number): Promise<number> {
    const db = issue5Of(name);
    const { keys, order } = issue5Data!;
    return opsPerSecond(n, async () => {
      for (const i of order) if (i < n) use(await db.get(keys[i]!));
    });
  },

  /** Row 17: whether the last record written reads back equal (JSON) to the value written. */
  async issue5Check(name: string, n: number): Promise<boolean> {
    const { keys, values } = issue5Data!;
    return JSON.stringify(await issue5Of(name).get(keys[n - 1]!)) === JSON.stringify(values[n - 1]);
  },

  /** Closes every issue #5 store and deletes its database. */
  async issue5CloseAll(): Promise<void> {
    for (const [name, db] of issue5) {
      await db.close();
      await request(indexedDB.deleteDatabase(name));
    }
    issue5.clear();
  },

  sink(): number {
    return sink;
  },
};

export type BenchApi = typeof api;

/** Called by the generated bundle entry with the SDK's StorageSystem, or null when it is not available. */
export function installBench(system: SystemClass | null): void {
  System = system;
  (globalThis as { __bench?: BenchApi }).__bench = api;
}
