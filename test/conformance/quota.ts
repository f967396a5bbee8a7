/**
 * Storage quotas and auto-cleanup on every engine: `maxSize` is exact to the byte (a write that
 * would pass it fails with StorageQuotaError and writes nothing); `enableAutoCleanup` keeps the
 * store under its limit through random writes by evicting expired entries first, then by strategy,
 * never an entry in an open transaction's write set, with `evict` events.
 */
import type { StorageSystem } from '../../src/core/system';
import { deepEqual, equal, ok, rejects } from '../support/assert';
import type { Declare, Fixture, Target } from './types';
import { rejectsUnchanged, sleep, storeRunner } from './util';

/** Stored bytes of a string value under a key (README: key + JSON body + 39-byte header). */
const sizeOf = (key: string, value: string) => new TextEncoder().encode(key).length + 39 + new TextEncoder().encode(JSON.stringify(value)).length;

/** Sum of every live entry's stored size, recounted from the store itself. */
async function recount(storage: StorageSystem): Promise<number> {
  let total = 0;
  for (const key of await storage.keys('**')) {
    const e = await storage.getEntry<string>(key);
    if (e) total += sizeOf(key, e.value);
  }
  return total;
}

const backendOf = (storage: StorageSystem) => storage.getBackend(storage.defaultBackend) as unknown as { usedBytes?: number; rawKeys(space: 'x', q: object): Promise<string[]> };

export function quotaTests(test: Declare, target: Target): void {
  const withStore = storeRunner(target);

  test('quota: maxSize is exact to the byte; a write past it fails and writes nothing', withStore(async ({ storage }) => {
    const limit = sizeOf('k', 'x'.repeat(100));
    equal(limit, 142);
    await storage.set('k', 'x'.repeat(100)); // exactly the limit
    await rejectsUnchanged(storage, () => storage.set('k2', ''), 'STORAGE_QUOTA', 'one more entry');
    await rejectsUnchanged(storage, () => storage.set('k', 'x'.repeat(101)), 'STORAGE_QUOTA', 'growing an entry by one byte');
    await rejectsUnchanged(storage, () => storage.batchSet([{ key: 'k', value: '' }, { key: 'a', value: 'x'.repeat(100) }]), 'STORAGE_QUOTA', 'a batch past the limit');
    await storage.set('k', 'x'.repeat(99)); // shrinking is fine
    equal(await storage.delete('k'), true);
    await storage.set('k2', 'x'.repeat(142 - sizeOf('k2', ''))); // the freed bytes are usable again
    equal(await recount(storage), 142);
  }, { maxSize: 142 }));

  test('auto-cleanup: evicts the least recently used entries, expired ones first, with evict events', withStore(async ({ storage }) => {
    const unit = sizeOf('e.a', 'x'.repeat(100));
    await storage.enableAutoCleanup({ maxSize: unit * 3, cleanupStrategy: 'lru' });
    const evicted: { key: string; reason: string }[] = [];
    storage.on('evict', (e) => evicted.push({ key: e.key, reason: e.reason }));
    await storage.set('e.a', 'x'.repeat(100));
    await storage.set('e.b', 'x'.repeat(100));
    await storage.set('e.c', 'x'.repeat(100));
    await storage.get('e.a'); // a is now more recent than b
    await storage.set('e.d', 'x'.repeat(100));
    deepEqual(await storage.keys('e.*'), ['e.a', 'e.c', 'e.d']);
    deepEqual(evicted, [{ key: 'e.b', reason: 'lru' }]);
    await storage.set('e.t', 'x'.repeat(100).slice(1) + 'y', { ttl: 0.05 }); // evicts c (lru)
    await sleep(80);
    evicted.length = 0;
    await storage.set('e.f', 'x'.repeat(100)); // the expired entry goes before any live one
    deepEqual(evicted.map((e) => e.reason), ['expired']);
    deepEqual(await storage.keys('e.*'), ['e.a', 'e.d', 'e.f']);
    // A write larger than the whole limit evicts nothing and fails.
    await rejectsUnchanged(storage, () => storage.set('e.big', 'x'.repeat(unit * 3)), 'STORAGE_QUOTA', 'a value larger than the limit');
  }, { sweepInterval: 0 }));

  test('auto-cleanup: lfu keeps often-read entries; an open transaction\'s write set is never evicted', withStore(async ({ storage }) => {
    const unit = sizeOf('f.a', 'x'.repeat(100));
    await storage.enableAutoCleanup({ maxSize: unit * 3, cleanupStrategy: 'lfu' });
    await storage.set('f.a', 'x'.repeat(100));
    await storage.set('f.b', 'x'.repeat(100));
    await storage.set('f.c', 'x'.repeat(100));
    for (let i = 0; i < 5; i++) await storage.get('f.a');
    await storage.get('f.c');
    await storage.set('f.d', 'x'.repeat(100));
    deepEqual(await storage.keys('f.*'), ['f.a', 'f.c', 'f.d'], 'b was used least often');
    const tx = await storage.beginTransaction();
    await tx.set('f.d', 'y'.repeat(100)); // pins d, the least used now
    for (let i = 0; i < 4; i++) await storage.set(`f.n${i}`, 'x'.repeat(99));
    ok(await storage.has('f.d'), 'the key in the transaction\'s write set survived');
    await tx.commit();
    equal(await storage.get('f.d'), 'y'.repeat(100));
    ok(await recount(storage) <= unit * 3);
  }, { sweepInterval: 0 }));

  test('auto-cleanup: random writes never take the store past its limit, and the byte count stays exact', withStore(async ({ storage }) => {
    const n = target.name === 'memory' ? 100_000 : target.name === 'leveldb' ? 20_000 : 3_000;
    const limit = 20_000;
    await storage.enableAutoCleanup({ maxSize: limit });
    const backend = backendOf(storage);
    let seed = 7;
    const rand = (m: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % m; };
    let max = 0;
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      const r = rand(10);
      const key = `r.${rand(400)}`;
      if (r < 7) pending.push(storage.set(key, 'v'.repeat(rand(300)), rand(10) === 0 ? { ttl: 0.02 } : undefined));
      else if (r < 9) pending.push(storage.get(key));
      else pending.push(storage.delete(key));
      if (pending.length >= 50) {
        await Promise.all(pending.splice(0));
        max = Math.max(max, backend.usedBytes ?? 0);
      }
    }
    await Promise.all(pending);
    ok(max <= limit, `peak ${max} bytes over the ${limit}-byte limit`);
    // Expired entries count until they are removed: let the last ones expire and sweep them.
    await sleep(30);
    const sweeper = storage.getBackend(storage.defaultBackend) as unknown as { sweep(limit: number): Promise<string[]> };
    while ((await sweeper.sweep(10_000)).length > 0) { /* until no expired entry is left */ }
    const counted = await recount(storage);
    ok(counted <= limit, `${counted} bytes stored`);
    ok(counted > limit / 4, `the store is used (${counted} bytes), not emptied`);
    equal(backend.usedBytes, counted, 'the running byte count equals a recount of the store');
  }, { sweepInterval: 0 }));

  test('auto-cleanup: writes one at a time at the limit keep the newest entries, evict each other entry once (oldest first), and count bytes exactly', withStore(async ({ storage }) => {
    // Every other entry has a TTL (far off): evicting it must also remove its expiry-index entry.
    const key = (i: number) => `s.${String(i).padStart(5, '0')}`;
    const value = (i: number) => String(i).padStart(100, 'v');
    const unit = sizeOf(key(0), value(0)); // every entry has this size
    const room = 20;
    await storage.enableAutoCleanup({ maxSize: unit * room }); // evicting ahead (1/64 of the limit) is less than one entry here
    const backend = backendOf(storage);
    const evicted: string[] = [];
    storage.on('evict', (e) => evicted.push(e.key));
    const n = target.name === 'indexeddb' ? 120 : 2_000;
    let max = 0;
    for (let i = 0; i < n; i++) {
      // Halfway, a pause: the writes before it queue one after another (the first one opened the
      // store); after it, a synchronous engine takes each write at once.
      if (i === n / 2) await sleep(5);
      await storage.set(key(i), value(i), i % 2 ? { ttl: 3600 } : undefined);
      max = Math.max(max, backend.usedBytes ?? 0);
    }
    ok(max <= unit * room, `peak ${max} bytes over the ${unit * room}-byte limit`);
    deepEqual(await storage.keys('s.*'), Array.from({ length: room }, (_, j) => key(n - room + j)), 'the newest entries are kept');
    deepEqual(evicted, Array.from({ length: n - room }, (_, j) => key(j)), 'every other entry was evicted once, oldest first');
    equal(backend.usedBytes, await recount(storage), 'the running byte count equals a recount of the store');
    equal(backend.usedBytes, unit * room);
    const indexed = (await backend.rawKeys('x', {})).map((k) => k.slice(12)); // after the 12-digit deadline
    deepEqual(indexed.sort(), Array.from({ length: room }, (_, j) => n - room + j).filter((i) => i % 2).map(key), 'the expiry index holds only kept entries');
  }, { sweepInterval: 0 }));

  test('auto-cleanup: bad options are StorageValidationError', withStore(async ({ storage }) => {
    await rejects(() => storage.enableAutoCleanup({ maxSize: 'lots' }), 'STORAGE_VALIDATION');
    await rejects(() => storage.enableAutoCleanup({ maxSize: 100, cleanupStrategy: 'fifo' as never }), 'STORAGE_VALIDATION');
    await rejects(() => storage.enableAutoCleanup({ maxSize: 100, strategy: 'lru' } as never), 'STORAGE_VALIDATION');
    await rejects(() => storage.enableAutoCleanup(null as never), 'STORAGE_VALIDATION');
  }));
}
