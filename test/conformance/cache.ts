/**
 * The record cache (`enableCaching`) on every engine that gets one (file engines; the memory tier
 * is itself a Map): random operations agree with a model at every read, TTL applies to cached
 * entries, a value read through the cache cannot be changed through it, and metrics count.
 */
import fc from 'fast-check';
import { deepEqual, equal, ok } from '../support/assert';
import type { Declare, Target } from './types';
import { sleep } from './util';

export function cacheTests(test: Declare, target: Target): void {
  test('cache: random writes, deletes, clears and transactions agree with a model at every read', async () => {
    const f = await target.open({ enableCaching: true, cacheSize: 8 });
    try {
      const { storage } = f;
      const keys = Array.from({ length: 12 }, (_, i) => `c.${i}`);
      const model = new Map<string, unknown>();
      const op = fc.oneof(
        fc.record({ t: fc.constant('set' as const), k: fc.constantFrom(...keys), v: fc.integer() }),
        fc.record({ t: fc.constant('get' as const), k: fc.constantFrom(...keys) }),
        fc.record({ t: fc.constant('del' as const), k: fc.constantFrom(...keys) }),
        fc.record({ t: fc.constant('batch' as const), ks: fc.subarray(keys, { maxLength: 4 }), v: fc.integer() }),
        fc.record({ t: fc.constant('tx' as const), k: fc.constantFrom(...keys), v: fc.integer() }),
        fc.record({ t: fc.constant('clear' as const) }),
      );
      await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        for (const o of ops) {
          if (o.t === 'set') { await storage.set(o.k, { v: o.v }); model.set(o.k, { v: o.v }); }
          else if (o.t === 'del') { await storage.delete(o.k); model.delete(o.k); }
          else if (o.t === 'batch') { await storage.batchSet(o.ks.map((k) => ({ key: k, value: { v: o.v } }))); for (const k of o.ks) model.set(k, { v: o.v }); }
          else if (o.t === 'tx') { await storage.transaction(async (tx) => { await tx.set(o.k, { v: o.v, tx: true }); }); model.set(o.k, { v: o.v, tx: true }); }
          else if (o.t === 'clear') { await storage.clear('c.*'); model.clear(); }
          else {
            deepEqual(await storage.get(o.k), model.get(o.k), `get ${o.k}`);
            equal(await storage.has(o.k), model.has(o.k), `has ${o.k}`);
            deepEqual((await storage.getEntry(o.k))?.value, model.get(o.k), `getEntry ${o.k}`);
          }
        }
        for (const k of keys) deepEqual(await storage.get(k), model.get(k), `final get ${k}`);
      }), { numRuns: target.name === 'memory' ? 20 : 40 });
      const m = storage.getMetrics().backends[storage.defaultBackend]!.cache;
      if (target.name !== 'memory') ok(m !== undefined && m.hits > 0 && m.misses > 0 && m.entries <= 8, JSON.stringify(m));
    } finally {
      await f.cleanup();
    }
  });

  test('cache: metrics count one miss or one hit per read', async () => {
    const f = await target.open({ enableCaching: true, cacheSize: 100 });
    try {
      const { storage } = f;
      const metrics = () => storage.getMetrics().backends[storage.defaultBackend]!.cache;
      if (metrics() === undefined) return; // the memory tier has no cache in front of it
      await storage.set('m.1', 1);
      const base = { ...metrics()! };
      equal(await storage.get('m.missing'), undefined);
      equal(metrics()!.misses - base.misses, 1, 'a missing key: one miss');
      equal(await storage.get('m.missing'), undefined);
      equal(metrics()!.hits - base.hits, 1, 'then a hit (cached as missing)');
      equal(await storage.get('m.1'), 1);
      equal(metrics()!.hits - base.hits + metrics()!.misses - base.misses, 3, 'each read counts once');
    } finally {
      await f.cleanup();
    }
  });

  test('cache: TTL applies to cached entries; a cached value cannot be mutated through the cache', async () => {
    const f = await target.open({ enableCaching: true, cacheSize: 100, sweepInterval: 0 });
    try {
      const { storage } = f;
      await storage.set('t.1', { list: [1, 2] }, { ttl: 0.05 });
      const first = await storage.get<{ list: number[] }>('t.1');
      first!.list.push(3);
      deepEqual(await storage.get('t.1'), { list: [1, 2] }, 'a second (cached) read is unchanged');
      await sleep(80);
      equal(await storage.get('t.1'), undefined, 'expired, even though cached');
      equal(await storage.has('t.1'), false);
    } finally {
      await f.cleanup();
    }
  });
}
