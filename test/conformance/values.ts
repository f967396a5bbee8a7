/** Values round-trip like structuredClone on every engine; bad input is refused and changes nothing. */
import fc from 'fast-check';
import type { Declare, Target } from './types';
import { deepEqual, equal, ok } from '../support/assert';
import { rejectsUnchanged } from './util';

function sampleValues(): [string, unknown][] {
  const shared = { s: 1 };
  const cyclic: Record<string, unknown> = { name: 'loop' };
  cyclic.self = cyclic;
  const sparse: unknown[] = [1, , 3]; // eslint-disable-line no-sparse-arrays
  let deep: unknown = 'bottom';
  for (let i = 0; i < 1500; i++) deep = { d: deep };
  class Point { constructor(public x: number, public y: number) {} norm() { return Math.hypot(this.x, this.y); } }
  const buffer = new ArrayBuffer(8);
  new Uint8Array(buffer).set([1, 2, 3, 4, 5, 6, 7, 8]);
  return [
    ['plain object', { id: 'user-123', name: 'John Doe', preferences: { theme: 'dark' }, n: 1.5, ok: true, nil: null }],
    ['array', [1, 'two', [3], { four: 4 }]],
    ['string of all planes', 'a é 中 😀 \u0000 \uffff'],
    ['lone surrogates', 'x\ud800y\udfffz\udbff'],
    ['empty string', ''],
    ['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity], ['-0', -0], ['max safe', Number.MAX_SAFE_INTEGER], ['tiny', 5e-324],
    ['true', true], ['false', false], ['null', null],
    ['undefined inside', { a: undefined, b: [undefined, 1] }],
    ['sparse array', sparse],
    ['Date', new Date(1700000000123)], ['invalid Date', new Date(NaN)],
    ['RegExp', /a+b/gi],
    ['Map', new Map<unknown, unknown>([['a', 1], [2, { b: 2 }], [null, [1]]])],
    ['Set', new Set([1, 'a', { x: 1 }])],
    ['BigInt', 12345678901234567890123456789n], ['negative BigInt', -5n], ['BigInt in object', { big: 2n ** 70n }],
    ['ArrayBuffer', buffer],
    ['Uint8Array', new Uint8Array([0, 255, 7])], ['Int8Array', new Int8Array([-128, 127])],
    ['Uint8ClampedArray', new Uint8ClampedArray([0, 255])], ['Int16Array', new Int16Array([-1, 2])],
    ['Uint16Array', new Uint16Array([65535])], ['Int32Array', new Int32Array([-2147483648])],
    ['Uint32Array', new Uint32Array([4294967295])], ['Float32Array', new Float32Array([1.5, NaN])],
    ['Float64Array', new Float64Array([Math.PI, -0])], ['BigInt64Array', new BigInt64Array([-1n])],
    ['BigUint64Array', new BigUint64Array([2n ** 64n - 1n])],
    ['DataView', new DataView(buffer, 2, 4)],
    ['deep nesting (1500)', deep],
    ['shared references', { a: shared, b: shared }],
    ['cycle', cyclic],
    ['class instance (stored as data)', new Point(3, 4)],
    ['Error', new TypeError('bad thing')],
    ['number', 42], ['string', 'hello'],
  ];
}

export function valueTests(test: Declare, target: Target): void {
  test('every structured-clone type round-trips identically', async () => {
    const f = await target.open();
    try {
      for (const [label, value] of sampleValues()) {
        await f.storage.set(`v.${label}`, value);
        const got = await f.storage.get(`v.${label}`);
        deepEqual(got, structuredClone(value), label);
        const [batched] = await f.storage.batchGet([`v.${label}`]);
        deepEqual(batched, structuredClone(value), `${label} (batchGet)`);
      }
      const shared = (await f.storage.get('v.shared references')) as { a: object; b: object };
      ok(shared.a === shared.b, 'shared references stay shared');
      const cyclic = (await f.storage.get('v.cycle')) as { self: unknown };
      ok(cyclic.self === cyclic, 'cycles stay cycles');
      equal(Object.is(await f.storage.get('v.-0'), -0), true, '-0 stays -0');
      ok(Object.getPrototypeOf(await f.storage.get('v.class instance (stored as data)')) === Object.prototype, 'class instances come back as plain objects');
    } finally {
      await f.cleanup();
    }
  });

  test('random values round-trip (fast-check)', async () => {
    const f = await target.open();
    try {
      const arb = fc.anything({
        withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true,
        withSparseArray: true, withNullPrototype: true, withUnicodeString: true, maxDepth: 4,
      });
      let i = 0;
      await fc.assert(
        fc.asyncProperty(arb.filter((v) => v !== undefined), async (value) => {
          const key = `rnd.${i++}`;
          await f.storage.set(key, value);
          deepEqual(await f.storage.get(key), structuredClone(value));
        }),
        { numRuns: 300, seed: 1234 },
      );
      await fc.assert(
        fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 40 }), async (s) => {
          await f.storage.set('str', s);
          equal(await f.storage.get('str'), s);
        }),
        { numRuns: 300, seed: 99 },
      );
    } finally {
      await f.cleanup();
    }
  });

  test('values structuredClone refuses are StorageValidationError and write nothing', async () => {
    const f = await target.open();
    try {
      const { storage } = f;
      await storage.set('keep', { a: 1 });
      const bad: [string, unknown][] = [
        ['function', () => 1],
        ['function property', { ok: 1, fn() { return 2; } }],
        ['function in array', [1, () => 1]],
        ['function in Map', new Map([['f', () => 1]])],
        ['symbol', Symbol('s')],
        ['symbol property value', { s: Symbol('s') }],
        ['WeakMap', new WeakMap()],
        ['WeakSet', new WeakSet()],
        ['Promise', Promise.resolve(1)],
        ['top-level undefined', undefined],
      ];
      for (const [label, value] of bad) {
        await rejectsUnchanged(storage, () => storage.set('keep', value), 'STORAGE_VALIDATION', `set ${label}`);
        await rejectsUnchanged(storage, () => storage.set('new', value), 'STORAGE_VALIDATION', `set new ${label}`);
      }
      let tooDeep: unknown = 1;
      for (let i = 0; i < 5000; i++) tooDeep = [tooDeep];
      await rejectsUnchanged(storage, () => storage.set('deep', tooDeep), 'STORAGE_VALIDATION', 'nesting beyond MAX_DEPTH');
    } finally {
      await f.cleanup();
    }
  });

  test('invalid keys, options and patterns are StorageValidationError and change nothing', async () => {
    const f = await target.open();
    try {
      const { storage } = f;
      await storage.set('keep', 1, { ttl: 3600, tags: ['t'] });
      const badKeys: unknown[] = ['', 1, null, undefined, {}, ['a'], 'a\ud800', '\udc00', 'x'.repeat(1025), 'é'.repeat(513)];
      for (const key of badKeys) {
        const label = `key ${typeof key === 'string' ? JSON.stringify(key.slice(0, 10)) + `(${key.length})` : String(key)}`;
        await rejectsUnchanged(storage, () => storage.set(key as string, 1), 'STORAGE_VALIDATION', `set ${label}`);
        await rejectsUnchanged(storage, () => storage.get(key as string), 'STORAGE_VALIDATION', `get ${label}`);
        await rejectsUnchanged(storage, () => storage.getEntry(key as string), 'STORAGE_VALIDATION', `getEntry ${label}`);
        await rejectsUnchanged(storage, () => storage.has(key as string), 'STORAGE_VALIDATION', `has ${label}`);
        await rejectsUnchanged(storage, () => storage.delete(key as string), 'STORAGE_VALIDATION', `delete ${label}`);
        await rejectsUnchanged(storage, () => storage.batchGet(['keep', key as string]), 'STORAGE_VALIDATION', `batchGet ${label}`);
      }
      await storage.set('x'.repeat(1024), 1); // the limit itself is fine
      await storage.delete('x'.repeat(1024));
      const badOptions: unknown[] = [
        { ttl: 0 }, { ttl: -1 }, { ttl: NaN }, { ttl: Infinity }, { ttl: '10' }, { ttl: 1e12 },
        { tags: 'a' }, { tags: [1] }, { tags: [''] }, { tll: 10 }, { durability: 'maybe' }, { backend: 42 }, { backend: 'nope' },
        'fast', [], null,
      ];
      for (const o of badOptions) {
        await rejectsUnchanged(storage, () => storage.set('keep', 2, o as never), 'STORAGE_VALIDATION', `set options ${JSON.stringify(o)}`);
      }
      for (const p of ['', '***', 'a\\', 7, null, 'a\ud800*']) {
        await rejectsUnchanged(storage, () => storage.keys(p as string), 'STORAGE_VALIDATION', `keys pattern ${String(p)}`);
        await rejectsUnchanged(storage, () => storage.clear(p as string), 'STORAGE_VALIDATION', `clear pattern ${String(p)}`);
      }
      for (const entries of [null, 'a', [null], [{ key: 'a' }], [{ key: 'a', value: 1, extra: 1 }], [{ value: 1 }]]) {
        await rejectsUnchanged(storage, () => storage.batchSet(entries as never), 'STORAGE_VALIDATION', `batchSet ${JSON.stringify(entries)}`);
      }
      await rejectsUnchanged(storage, () => storage.batchGet('keep' as never), 'STORAGE_VALIDATION', 'batchGet of a string');
      await rejectsUnchanged(storage, () => storage.get('keep', { ttl: 1 } as never), 'STORAGE_VALIDATION', 'get with a write option');
      equal(await storage.get('keep'), 1);
    } finally {
      await f.cleanup();
    }
  });
}
