/**
 * Page bundle of the browser tests other than conformance: the IndexedDB engine checks, and
 * helpers the Node side calls around reloads, browser restarts, a Web Worker and a quota limit.
 * Everything crosses `page.evaluate` as JSON-safe data (see `portable`).
 */
import { StorageSystem } from '../../src/index.browser';
import { engineChecks } from './engine-checks';
import { createSuite, type CaseResult } from './runner';
import { snapshot, type Snapshot, type WorkerReport } from './shared';

declare global {
  interface Window {
    __engineCheckNames(): string[];
    __runEngineChecks(names?: string[]): Promise<CaseResult[]>;
    /** Writes the persistence fixture with the SDK (file tier) and returns what it holds. */
    __persistWrite(basePath?: string): Promise<Snapshot>;
    /** Reads the same store back. */
    __persistRead(basePath?: string): Promise<Snapshot>;
    /** Runs the SDK in a dedicated module Worker, then reads what it wrote from the page. */
    __workerCheck(basePath: string): Promise<{ worker: WorkerReport; page: Snapshot }>;
    /** Writes `bytes` of data into a fresh store; returns the error code (or 'none') and what is left. */
    __quotaCheck(basePath: string, bytes: number): Promise<{ code: string; message: string; left: Snapshot }>;
  }
}

/** A system whose default backend is the file tier (IndexedDB), at `basePath` or the default location. */
const fileStorage = (basePath?: string, sweepInterval = 1000) => {
  const storage = new StorageSystem({ defaultBackend: 'file' });
  storage.createBackend('file', { sweepInterval, ...(basePath !== undefined && { basePath }) });
  return storage;
};

const suite = createSuite();
engineChecks(suite.declare);
window.__engineCheckNames = () => suite.names();
window.__runEngineChecks = (names) => suite.run(names);

window.__persistWrite = async (basePath) => {
  const storage = fileStorage(basePath);
  await storage.set('note.1', { text: 'hello', at: new Date(1700000000000), seen: new Set(['a']) }, { tags: ['pinned'] });
  await storage.set('note.ttl', 'temporary', { ttl: 3600 });
  await storage.batchSet([{ key: 'note.2', value: new Map([[1, new Uint8Array([1, 2])]]) }, { key: 'note.3', value: null, tags: ['x'] }]);
  await storage.set('note.strict', [1, 2, 3], { durability: 'strict' });
  await storage.set('note.2', 'overwritten'); // version 2, createdAt kept
  const snap = await snapshot(storage);
  await storage.close();
  return snap;
};

window.__persistRead = async (basePath) => {
  const storage = fileStorage(basePath);
  const snap = await snapshot(storage);
  await storage.close();
  return snap;
};

window.__workerCheck = async (basePath) => {
  const worker = new Worker(new URL('./worker.js', location.href), { type: 'module' });
  const report = await new Promise<WorkerReport>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the worker did not answer within 20 s')), 20_000);
    worker.onmessage = (e) => { clearTimeout(timer); resolve(e.data as WorkerReport); };
    worker.onerror = (e) => { clearTimeout(timer); reject(new Error(`worker error: ${e.message}`)); };
    worker.postMessage({ basePath });
  });
  worker.terminate();
  const storage = fileStorage(basePath);
  const page = await snapshot(storage);
  await storage.close();
  return { worker: report, page };
};

window.__quotaCheck = async (basePath, bytes) => {
  const storage = fileStorage(basePath);
  await storage.set('small', 'fits');
  let code = 'none';
  let message = '';
  try {
    // Random bytes: Chromium compresses large values, so a repeated string would fit.
    const big = new Uint8Array(bytes);
    for (let i = 0; i < bytes; i += 65536) crypto.getRandomValues(big.subarray(i, i + 65536));
    await storage.batchSet([{ key: 'big', value: big }, { key: 'also', value: 1 }]);
  } catch (err) {
    code = (err as { code?: string }).code ?? String(err);
    message = (err as Error).message;
  }
  const left = await snapshot(storage);
  await storage.close();
  return { code, message, left };
};
