/** The conformance suite on the Node engines: memory and LevelDB (classic-level, real directories). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { StorageSystem } from '../../src/index.node.ts';
import type { Backend } from '../../src/core/backend';
import { runConformance, type Fixture, type Target } from '../conformance/index';

const reads = (b: Backend) => () => (b.engine as unknown as { stats: { reads: number } }).stats.reads;

const memory: Target = {
  name: 'memory',
  async open(options = {}) {
    const storage = new StorageSystem();
    const backend = storage.createBackend('memory', options);
    return { storage, reads: reads(backend), cleanup: () => storage.close() };
  },
};

const leveldb: Target = {
  name: 'leveldb',
  async open(options = {}) {
    const dir = await mkdtemp(join(tmpdir(), 'tierstore-conf-'));
    const make = async (opts: Record<string, unknown> = options): Promise<Fixture> => {
      const storage = new StorageSystem({ defaultBackend: 'file' });
      const backend = storage.createBackend('file', { basePath: dir, ...opts });
      await backend.open();
      return {
        storage,
        reads: reads(backend),
        reopen: async (next?: Record<string, unknown>) => { await storage.close(); return make(next ?? opts); },
        cleanup: async () => { await storage.close(); await rm(dir, { recursive: true, force: true }); },
      };
    };
    return make();
  },
};

for (const target of [memory, leveldb]) runConformance((name, fn) => { test(name, fn); }, target);
