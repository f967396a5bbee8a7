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
 */
import Dexie, { type Table } from 'dexie';
import type { Durability, StorageSystem } from '../../src/index.browser.ts';
import { chunks, makeDataset, shuffledIndexes, type BenchRecord } from '../lib/records.ts';
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

let data: Data | undefined;
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
