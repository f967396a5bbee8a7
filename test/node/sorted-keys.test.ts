/** The memory engine's ordered key set agrees with a sorted array on random inserts, deletes and ranges. */
import fc from 'fast-check';
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { SortedKeys } from '../../src/core/sorted-keys.ts';

test('SortedKeys.range agrees with filtering a sorted array', () => {
  const key = fc.string({ maxLength: 3, unit: fc.constantFrom('a', 'b', 'c', '.', 'é', '\uffff') });
  fc.assert(
    fc.property(
      fc.array(key, { maxLength: 6000 }), fc.array(key, { maxLength: 800 }),
      fc.option(key), fc.boolean(), fc.option(key), fc.boolean(), fc.integer({ min: 0, max: 7000 }),
      (adds, dels, lo, loIncl, hi, hiIncl, limit) => {
        const sk = new SortedKeys();
        const model = new Set<string>();
        for (const k of adds) { sk.add(k); model.add(k); }
        for (const k of dels) { sk.delete(k); model.delete(k); }
        const expected = [...model].sort()
          .filter((k) => (lo === null || (loIncl ? k >= lo : k > lo)) && (hi === null || (hiIncl ? k <= hi : k < hi)))
          .slice(0, limit);
        assert.deepEqual(sk.range(lo ?? undefined, loIncl, hi ?? undefined, hiIncl, limit), expected);
        assert.equal(sk.size, model.size);
      },
    ),
    { numRuns: 200, seed: 3 },
  );
});

test('SortedKeys splits and merges chunks across 20,000 keys', () => {
  const sk = new SortedKeys();
  const keys = Array.from({ length: 20000 }, (_, i) => `k.${String((i * 7919) % 20000).padStart(5, '0')}`);
  for (const k of keys) sk.add(k);
  assert.deepEqual(sk.range(undefined, true, undefined, true, Infinity), [...keys].sort());
  for (const k of keys.filter((_, i) => i % 3 === 0)) sk.delete(k);
  assert.deepEqual(sk.range('k.05000', true, 'k.06000', false, Infinity), [...keys].sort().filter((k, _) => k >= 'k.05000' && k < 'k.06000' && !keys.filter((_, i) => i % 3 === 0).includes(k)));
});
