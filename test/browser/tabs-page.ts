/**
 * Page bundle of the multi-tab tests: one agent (see tabs-agent.ts) per page, a dedicated module
 * worker running another agent on demand, and raw IndexedDB calls that play "another version of
 * the app" (an upgrade, a connection that never closes, a delete).
 */
import { createAgent, dispatch, failure, now, type Failure } from './tabs-agent';

declare global {
  interface Window {
    /** Calls the page's agent: `{ value }` or a Failure. */
    __tabs(method: string, args: unknown[]): Promise<unknown>;
    /** Starts the page's worker agent (once). */
    __tabsWorkerStart(): Promise<void>;
    /** Calls the worker's agent: `{ value }` or a Failure. */
    __tabsWorker(method: string, args: unknown[]): Promise<unknown>;
    __raw: typeof raw;
  }
}

const agent = createAgent();
window.__tabs = (method, args) => dispatch(agent, method, args);

let worker: Worker | undefined;
let calls = 0;
const pending = new Map<number, (r: unknown) => void>();

window.__tabsWorkerStart = async () => {
  if (worker) return;
  worker = new Worker(new URL('./tabs-worker.js', location.href), { type: 'module' });
  worker.onmessage = (e: MessageEvent<{ id: number; result: unknown }>) => {
    pending.get(e.data.id)?.(e.data.result);
    pending.delete(e.data.id);
  };
  worker.onerror = (e) => {
    for (const done of pending.values()) done(failure(new Error(`worker error: ${e.message}`)));
    pending.clear();
  };
  const pong = await window.__tabsWorker('events', []);
  if ((pong as Failure).failed) throw new Error(`worker did not start: ${(pong as Failure).message}`);
};

window.__tabsWorker = (method, args) => new Promise((resolve) => {
  if (!worker) { resolve(failure(new Error('worker not started'))); return; }
  const id = ++calls;
  pending.set(id, resolve);
  worker.postMessage({ id, method, args });
});

/** Raw IndexedDB connections held by this page, by database name. */
const held = new Map<string, IDBDatabase>();
/** Upgrades started and not yet awaited, by database name. */
const upgrades = new Map<string, { blocked: boolean; done: boolean; error?: string; ms?: number; promise: Promise<void> }>();

const raw = {
  /** Opens `name` at its current version and keeps the connection, ignoring `versionchange` (an old tab that never closes). */
  hold(name: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open(name);
      req.onsuccess = () => { held.set(name, req.result); resolve(req.result.version); };
      req.onerror = () => reject(req.error);
    });
  },
  release(name: string): void {
    held.get(name)?.close();
    held.delete(name);
  },
  /**
   * Starts `indexedDB.open(name, version)` (an upgrade), adding a store `v${version}`, and closes
   * the connection as soon as it opens. `upgradeStatus` tells how it went.
   */
  upgradeStart(name: string, version: number): void {
    const start = now();
    const state: { blocked: boolean; done: boolean; error?: string; ms?: number; promise: Promise<void> } = { blocked: false, done: false, promise: Promise.resolve() };
    state.promise = new Promise<void>((resolve) => {
      const req = indexedDB.open(name, version);
      req.onupgradeneeded = () => req.result.createObjectStore(`v${version}`);
      req.onblocked = () => { state.blocked = true; };
      req.onsuccess = () => { req.result.close(); state.done = true; state.ms = now() - start; resolve(); };
      req.onerror = () => { state.error = `${req.error?.name}: ${req.error?.message}`; state.ms = now() - start; resolve(); };
    });
    upgrades.set(name, state);
  },
  upgradeStatus(name: string): { blocked: boolean; done: boolean; error?: string; ms?: number } {
    const { promise: _, ...status } = upgrades.get(name)!;
    return status;
  },
  /** Waits up to `timeout` ms for the upgrade started on `name` to finish; resolves its status. */
  async upgradeWait(name: string, timeout: number): Promise<{ blocked: boolean; done: boolean; error?: string; ms?: number }> {
    const state = upgrades.get(name)!;
    await Promise.race([state.promise, new Promise((r) => setTimeout(r, timeout))]);
    return raw.upgradeStatus(name);
  },
  /** Version and store names of `name` as a fresh connection sees them (then closed). */
  inspect(name: string): Promise<{ version: number; stores: string[] }> {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open(name);
      req.onsuccess = () => {
        const db = req.result;
        resolve({ version: db.version, stores: [...db.objectStoreNames] });
        db.close();
      };
      req.onerror = () => reject(req.error);
    });
  },
  /** Deletes `name`; resolves whether it was ever blocked and how long it took (gives up after `timeout`). */
  delete(name: string, timeout: number): Promise<{ blocked: boolean; done: boolean; ms: number }> {
    const start = now();
    return new Promise((resolve) => {
      let blocked = false;
      const timer = setTimeout(() => resolve({ blocked, done: false, ms: now() - start }), timeout);
      const req = indexedDB.deleteDatabase(name);
      req.onblocked = () => { blocked = true; };
      req.onsuccess = () => { clearTimeout(timer); resolve({ blocked, done: true, ms: now() - start }); };
      req.onerror = () => { clearTimeout(timer); resolve({ blocked, done: false, ms: now() - start }); };
    });
  },
};
window.__raw = raw;
