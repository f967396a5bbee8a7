/**
 * The record cache and other contexts' change notices, modelled in Node: two StorageSystems share
 * one engine that declares `multiContext` (as IndexedDB does), so each hears the other's writes on
 * a BroadcastChannel (Node has one), and the test decides when each step happens. Real-browser
 * coverage is in test/browser/multi-tab.test.ts; this file pins an ordering those tests cannot
 * force: the notice of a later write arriving before our own write has finished.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { StorageSystem } from '../../src/index.node.ts';
import type { BatchOp, BatchOptions, Engine } from '../../src/core/engine.ts';
import { createMemoryEngine } from '../../src/core/memory-engine.ts';

/** One memory store behind async methods, declared multi-context; `onBatch` runs after each batch is applied, before it resolves. */
function sharedEngine() {
  const mem = createMemoryEngine();
  const hooks: { onBatch?: () => Promise<void> } = {};
  const engine: Engine = {
    capabilities: Object.freeze({ ...mem.capabilities, engine: 'shared-memory', synchronous: false, multiContext: true }),
    async open() {},
    async close() {},
    async get(space, key) { return mem.get(space, key); },
    async getMany(space, keys) { return mem.getMany(space, keys); },
    async batch(ops: readonly BatchOp[], options?: BatchOptions) {
      await mem.batch(ops, options);
      const hook = hooks.onBatch;
      hooks.onBatch = undefined;
      await hook?.();
    },
    async range(space, q) { return mem.range(space, q); },
    async keys(space, q) { return mem.keys(space, q); },
    async wipe() { await mem.wipe(); },
  };
  return { engine, hooks };
}

test('a change notice that arrives while our own write of the key is in flight wins over our record in the cache', async () => {
  const { engine, hooks } = sharedEngine();
  class Shared extends StorageSystem {
    protected static override platform = { runtime: 'test', file: () => engine, defaultBasePath: `shared-${process.pid}-${Date.now()}` };
  }
  const a = new Shared({ defaultBackend: 'file' });
  a.createBackend('file', { enableCaching: true, cacheSize: 10, sweepInterval: 0 });
  const b = new Shared({ defaultBackend: 'file' });
  b.createBackend('file', { sweepInterval: 0 });
  try {
    await a.getBackend('file')!.open();
    await b.getBackend('file')!.open();
    await a.set('k', 'a1');
    assert.equal(await a.get('k'), 'a1');
    const remote = new Promise<void>((resolve) => a.on('set', (e) => { if (e.remote) resolve(); }));
    // A's write of k is stored; before A hears back, B writes k (after A, so B's value is the
    // current one) and B's notice reaches A. Browsers order an IndexedDB `complete` event and a
    // BroadcastChannel message from different task sources as they please.
    hooks.onBatch = async () => {
      await b.set('k', 'b');
      await remote;
    };
    await a.set('k', 'a2');
    assert.equal(await b.get('k'), 'b', 'the store holds B\'s later write');
    assert.equal(await a.get('k'), 'b', 'A does not cache its own older record over the notice of B\'s write');
  } finally {
    await a.close();
    await b.close();
  }
});

test('a notice for another key during our write leaves our record cached', async () => {
  const { engine, hooks } = sharedEngine();
  class Shared extends StorageSystem {
    protected static override platform = { runtime: 'test', file: () => engine, defaultBasePath: `shared-${process.pid}-${Date.now()}-2` };
  }
  const a = new Shared({ defaultBackend: 'file' });
  a.createBackend('file', { enableCaching: true, cacheSize: 10, sweepInterval: 0 });
  const b = new Shared({ defaultBackend: 'file' });
  b.createBackend('file', { sweepInterval: 0 });
  try {
    await a.getBackend('file')!.open();
    await b.getBackend('file')!.open();
    const remote = new Promise<void>((resolve) => a.on('set', (e) => { if (e.remote) resolve(); }));
    hooks.onBatch = async () => {
      await b.set('other', 'b');
      await remote;
    };
    await a.set('k', 'a');
    const hits = () => a.getMetrics().backends.file!.cache!.hits;
    const before = hits();
    assert.equal(await a.get('k'), 'a');
    assert.equal(hits(), before + 1, 'k is answered from the cache');
    assert.equal(await a.get('other'), 'b');
  } finally {
    await a.close();
    await b.close();
  }
});
