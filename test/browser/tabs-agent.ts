/**
 * One "tab" of the multi-tab tests: a StorageSystem on the file tier (IndexedDB) driven by the
 * Node side through JSON-only calls, the same in a page (`tabs-page.ts`) and in a dedicated worker
 * (`tabs-worker.ts`). It records every `set` / `delete` / `expire` event it sees, with the time it
 * arrived, so Node can tell which writes of another context reached it, and how fast.
 *
 * Times are `performance.timeOrigin + performance.now()`: one clock for every page and worker of
 * the browser, finer than `Date.now()`.
 */
import { StorageSystem, type Transaction } from '../../src/index.browser';

/** Milliseconds since the epoch, sub-millisecond, comparable across pages and workers. */
export const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface SeenEvent {
  type: 'set' | 'delete' | 'expire';
  key: string;
  remote: boolean;
  /** When the listener ran (see `now`). */
  at: number;
  version?: number;
}

export interface OpenOptions {
  basePath: string;
  sweepInterval?: number;
  openTimeout?: number;
  maxSize?: number;
  /** Entries of a record cache in front of the store (enableCaching). */
  cacheSize?: number;
}

/** A failure, as data: the code and name survive the trip to Node. */
export interface Failure { failed: true; code?: string; name?: string; message: string; transient?: boolean; ms?: number }

export const failure = (err: unknown, ms?: number): Failure => {
  const e = err as { code?: string; name?: string; message?: string; transient?: boolean };
  return { failed: true, code: e?.code, name: e?.name, message: e?.message ?? String(err), transient: e?.transient, ...(ms !== undefined && { ms }) };
};

export function createAgent() {
  let storage: StorageSystem | undefined;
  const seen: SeenEvent[] = [];
  /** Uncaught errors and unhandled rejections of this context (a worker has no `pageerror`). */
  const uncaught: string[] = [];
  globalThis.addEventListener('error', (e) => uncaught.push(`error: ${(e as ErrorEvent).message}`));
  globalThis.addEventListener('unhandledrejection', (e) => uncaught.push(`unhandled rejection: ${String((e as PromiseRejectionEvent).reason)}`));
  const txs = new Map<number, Transaction>();
  let txSerial = 0;

  const s = () => {
    if (!storage) throw new Error('agent: open() first');
    return storage;
  };
  const record = (type: SeenEvent['type']) => (e: { key: string; remote?: boolean; metadata?: { version: number } }) => {
    seen.push({ type, key: e.key, remote: e.remote === true, at: now(), ...(e.metadata && { version: e.metadata.version }) });
  };
  const tx = (id: number) => {
    const t = txs.get(id);
    if (!t) throw new Error(`agent: no transaction ${id}`);
    return t;
  };

  const agent = {
    /** Creates the system (default backend: file at `basePath`) and opens it, so the change channel listens from now on. */
    async open(o: OpenOptions): Promise<void> {
      storage = new StorageSystem({ defaultBackend: 'file', ...(o.openTimeout !== undefined && { openTimeout: o.openTimeout }) });
      const backend = storage.createBackend('file', {
        basePath: o.basePath,
        ...(o.sweepInterval !== undefined && { sweepInterval: o.sweepInterval }),
        ...(o.maxSize !== undefined && { maxSize: o.maxSize }),
        ...(o.cacheSize !== undefined && { enableCaching: true, cacheSize: o.cacheSize }),
      });
      storage.on('set', record('set'));
      storage.on('delete', record('delete'));
      storage.on('expire', record('expire'));
      await backend.open();
    },
    async close(): Promise<void> {
      await storage?.close();
      storage = undefined;
    },
    set: (key: string, value: unknown, options?: { ttl?: number }) => s().set(key, value, options),
    batchSet: (entries: { key: string; value: unknown; ttl?: number }[]) => s().batchSet(entries),
    delete: (key: string) => s().delete(key),
    get: (key: string) => s().get(key),
    batchGet: (keys: string[]) => s().batchGet(keys),
    keys: (pattern?: string) => s().keys(pattern),
    clear: (pattern: string) => s().clear(pattern),
    /** One transaction that sets `sets` and deletes `deletes`, committed (retried on conflict). */
    txWrite: (sets: { key: string; value: unknown }[], deletes: string[]) => s().transaction(async (t) => {
      for (const { key, value } of sets) await t.set(key, value);
      for (const key of deletes) await t.delete(key);
    }),
    /** Hits of the file backend's record cache so far (see enableCaching). */
    cacheHits: () => s().getMetrics().backends.file?.cache?.hits ?? 0,
    /**
     * Reads every key with get() (through the record cache) until each returns `expected[key]`
     * (undefined where absent; compared as JSON), polling every 2 ms. Resolves how long that took;
     * throws, naming the keys still wrong, after `timeout` ms.
     */
    async waitValues(keys: string[], expected: Record<string, unknown>, timeout = 2000): Promise<{ ms: number; polls: number }> {
      const start = performance.now();
      for (let polls = 1; ; polls++) {
        const wrong: string[] = [];
        for (const k of keys) {
          const v = await s().get(k);
          if (JSON.stringify(v) !== JSON.stringify(expected[k])) wrong.push(`${k} reads ${JSON.stringify(v)}, expected ${JSON.stringify(expected[k])}`);
        }
        if (wrong.length === 0) return { ms: performance.now() - start, polls };
        if (performance.now() - start > timeout) throw new Error(`still wrong after ${timeout} ms (${polls} polls): ${wrong.join('; ')}`);
        await sleep(2);
      }
    },
    version: async (key: string) => (await s().getEntry(key))?.metadata.version,
    metrics: () => s().getMetrics(),
    createIndex: (collection: string, fields: string | string[], options?: { unique?: boolean }) => s().createIndex(collection, fields, options),
    dropIndex: (collection: string, name: string) => s().dropIndex(collection, name),
    queryKeys: async (pattern: string, filter: Record<string, unknown>) => (await s().query(pattern, { filter })).map((e) => e.key),
    explainIndex: async (pattern: string, filter: Record<string, unknown>) => (await s().explain(pattern, { filter })).index ?? null,

    /** Runs `fn`-like SDK call named `method` and reports how it ended and how long it took (never throws). */
    async timed(method: 'set' | 'get' | 'keys', args: unknown[]): Promise<{ ms: number; value?: unknown } | Failure> {
      const start = performance.now();
      try {
        const value = await (agent[method] as (...a: unknown[]) => Promise<unknown>)(...args);
        return { ms: performance.now() - start, value };
      } catch (err) {
        return failure(err, performance.now() - start);
      }
    },

    /** Uncaught errors and unhandled rejections seen in this context. */
    uncaught: () => uncaught,

    /** This context's clock (see `now`). */
    clock: () => now(),

    /** Every event seen so far (optionally only those of keys starting with `prefix`). */
    events: (prefix = ''): SeenEvent[] => seen.filter((e) => e.key.startsWith(prefix)),

    /**
     * Waits until an event of `type` arrived after `since` (see `clock`) for each of `keys`;
     * resolves those events (the first per key).
     */
    async waitEvents(type: SeenEvent['type'], keys: string[], timeout = 5000, since = 0): Promise<SeenEvent[]> {
      const deadline = performance.now() + timeout;
      for (;;) {
        const found = keys.map((k) => seen.find((e) => e.type === type && e.key === k && e.at > since));
        if (found.every(Boolean)) return found as SeenEvent[];
        if (performance.now() > deadline) {
          const missing = keys.filter((_, i) => !found[i]);
          throw new Error(`no ${type} event within ${timeout} ms for ${missing.length} key(s): ${missing.slice(0, 5).join(', ')}`);
        }
        await sleep(5);
      }
    },

    /**
     * Writes `n` keys `${prefix}${i}` one after the other (each awaited), recording when each was
     * issued and when it was acknowledged.
     */
    async timedSets(prefix: string, n: number): Promise<{ issued: number[]; acked: number[] }> {
      const issued: number[] = [];
      const acked: number[] = [];
      for (let i = 0; i < n; i++) {
        issued.push(now());
        await s().set(`${prefix}${i}`, { i, from: prefix });
        acked.push(now());
      }
      return { issued, acked };
    },

    /** Writes `${prefix}${i}` one after the other for `ms` milliseconds; resolves how many. */
    async writeFor(prefix: string, ms: number): Promise<number> {
      const end = performance.now() + ms;
      let i = 0;
      for (; performance.now() < end; i++) await s().set(`${prefix}${i}`, i);
      return i;
    },

    // ------------------------------------------------------------ transactions, step by step

    async txBegin(): Promise<number> {
      const id = ++txSerial;
      txs.set(id, await s().beginTransaction());
      return id;
    },
    txGet: (id: number, key: string) => tx(id).get(key),
    txKeys: (id: number, pattern: string) => tx(id).keys(pattern),
    txSet: (id: number, key: string, value: unknown) => tx(id).set(key, value),
    /** Commits; resolves `{ ok: true }` or the failure (code STORAGE_CONFLICT expected by callers). */
    async txCommit(id: number): Promise<{ ok: true } | Failure> {
      try {
        await tx(id).commit();
        return { ok: true };
      } catch (err) {
        return failure(err);
      } finally {
        txs.delete(id);
      }
    },

    /** One run of the backend's expiry sweep now (what its timer does every `sweepInterval` ms). */
    sweep: () => s().getBackend('file')!.sweep(),

    /**
     * Calls `method` at time `at` (see `clock`), so that two contexts act at the same instant;
     * resolves `{ value }` or a Failure.
     */
    async callAt(at: number, method: string, args: unknown[]): Promise<unknown> {
      while (now() < at - 4) await sleep(Math.max(0, at - now() - 4));
      while (now() < at) { /* the last milliseconds: spin, timers are too coarse */ }
      return dispatch(agent, method, args);
    },

    /**
     * `n` transfers between random accounts `${prefix}0..${accounts - 1}` with transaction(fn):
     * read both balances, move 1..10. Resolves how many committed and how many attempts conflicted.
     */
    async transfers(prefix: string, accounts: number, n: number): Promise<{ committed: number; conflicts: number; failed: Failure[] }> {
      let committed = 0;
      let conflicts = 0;
      const failed: Failure[] = [];
      for (let i = 0; i < n; i++) {
        const from = Math.floor(Math.random() * accounts);
        const to = (from + 1 + Math.floor(Math.random() * (accounts - 1))) % accounts;
        const amount = 1 + Math.floor(Math.random() * 10);
        let attempts = 0;
        try {
          await s().transaction(async (t) => {
            attempts++;
            const a = (await t.get<number>(`${prefix}${from}`))!;
            const b = (await t.get<number>(`${prefix}${to}`))!;
            await t.set(`${prefix}${from}`, a - amount);
            await t.set(`${prefix}${to}`, b + amount);
          }, { retries: 1000 });
          committed++;
        } catch (err) {
          failed.push(failure(err));
        }
        conflicts += attempts - 1;
      }
      return { committed, conflicts, failed };
    },
  };
  return agent;
}

export type Agent = ReturnType<typeof createAgent>;
export type AgentMethod = keyof Agent;

/** Calls `method` with `args`; a rejection becomes a Failure (so codes cross to Node). */
export async function dispatch(agent: Agent, method: string, args: unknown[]): Promise<unknown> {
  const fn = (agent as Record<string, unknown>)[method];
  if (typeof fn !== 'function') return failure(new Error(`agent has no method ${method}`));
  try {
    return { value: await (fn as (...a: unknown[]) => unknown)(...args) };
  } catch (err) {
    return failure(err);
  }
}
