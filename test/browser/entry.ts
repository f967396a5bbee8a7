/**
 * Page bundle of the conformance suite in Chromium: the unchanged suite of test/conformance,
 * against the memory engine and the IndexedDB engine, exposed as `window.__runConformance`.
 */
import type { Backend } from '../../src/core/backend';
import { StorageSystem } from '../../src/index.browser';
import { runConformance, type Fixture, type Target } from '../conformance/index';
import { createSuite, deleteDatabase, type CaseResult } from './runner';

declare global {
  interface Window {
    /** Runs the named conformance cases (default: all) and returns one result per case. */
    __runConformance(names?: string[]): Promise<CaseResult[]>;
    /** Names of every conformance case, in order. */
    __conformanceNames(): string[];
  }
}

const reads = (b: Backend) => () => (b.engine as unknown as { stats: { reads: number } }).stats.reads;

const memory: Target = {
  name: 'memory',
  async open(options = {}) {
    const storage = new StorageSystem();
    const backend = storage.createBackend('memory', options);
    return { storage, reads: reads(backend), cleanup: () => storage.close() };
  },
};

let serial = 0;
const indexeddb: Target = {
  name: 'indexeddb',
  async open(options = {}) {
    // A fresh database per store: cases never see each other's data, even after a failure.
    const dbName = `tierstore-conformance-${Date.now().toString(36)}-${serial++}`;
    const make = async (opts: Record<string, unknown> = options): Promise<Fixture> => {
      const storage = new StorageSystem({ defaultBackend: 'file' });
      const backend = storage.createBackend('file', { basePath: dbName, ...opts });
      await backend.open();
      return {
        storage,
        reads: reads(backend),
        reopen: async (next?: Record<string, unknown>) => { await storage.close(); return make(next ?? opts); },
        cleanup: async () => { await storage.close(); await deleteDatabase(dbName); },
      };
    };
    return make();
  },
};

const suite = createSuite();
for (const target of [memory, indexeddb]) runConformance(suite.declare, target);

window.__runConformance = (names) => suite.run(names);
window.__conformanceNames = () => suite.names();
