/**
 * Value codec tests. Run: `npx tsx --test test/node/codec.test.ts`
 *
 * The reference for every round trip is `structuredClone`. Besides `assert.deepStrictEqual`,
 * {@link assertSameGraph} compares exactly (Object.is on primitives, entry order of Map/Set,
 * prototypes, holes) and checks that object identity has the same shape: shared references and
 * cycles must come back shared, and nothing may be shared that was not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import vm from 'node:vm';
import fc from 'fast-check';
import { decodeValue, encodeValue, MAX_DEPTH } from '../../src/core/codec/value';
import type { EncodedValue } from '../../src/core/codec/value';
import { StorageCorruptionError, StorageValidationError } from '../../src/core/errors';

const roundTrip = (v: unknown): unknown => decodeValue(encodeValue(v));
const tagOf = (v: object): string => Object.prototype.toString.call(v);

/** Exact structural comparison that also requires the same identity topology. */
function assertSameGraph(actual: unknown, expected: unknown, path = 'value', fwd = new Map<object, object>(), back = new Map<object, object>()): void {
  if (typeof expected !== 'object' || expected === null) {
    assert.ok(Object.is(actual, expected), `${path}: ${String(actual)} is not ${String(expected)}`);
    return;
  }
  assert.ok(typeof actual === 'object' && actual !== null, `${path}: not an object`);
  const seen = fwd.get(expected);
  if (seen !== undefined) { assert.equal(actual, seen, `${path}: shared reference not preserved`); return; }
  assert.ok(!back.has(actual), `${path}: one object stands for two`);
  fwd.set(expected, actual); back.set(actual, expected);
  assert.equal(Object.getPrototypeOf(actual), Object.getPrototypeOf(expected), `${path}: prototype`);
  const tag = tagOf(expected);
  assert.equal(tagOf(actual), tag, `${path}: kind`);
  const a = actual as Record<string, unknown>, e = expected as Record<string, unknown>;
  if (expected instanceof Date) assert.ok(Object.is((actual as Date).getTime(), expected.getTime()), `${path}: time`);
  else if (expected instanceof RegExp) {
    const r = actual as RegExp;
    assert.deepEqual([r.source, r.flags, r.lastIndex], [expected.source, expected.flags, expected.lastIndex], path);
  } else if (expected instanceof Map) {
    const ae = [...(actual as Map<unknown, unknown>)], ee = [...expected];
    assert.equal(ae.length, ee.length, `${path}: size`);
    ee.forEach(([k, v], i) => {
      assertSameGraph(ae[i]![0], k, `${path}<key ${i}>`, fwd, back);
      assertSameGraph(ae[i]![1], v, `${path}<value ${i}>`, fwd, back);
    });
  } else if (expected instanceof Set) {
    const av = [...(actual as Set<unknown>)], ev = [...expected];
    assert.equal(av.length, ev.length, `${path}: size`);
    ev.forEach((v, i) => assertSameGraph(av[i], v, `${path}<${i}>`, fwd, back));
  } else if (expected instanceof ArrayBuffer) {
    assert.deepEqual(new Uint8Array(actual as ArrayBuffer), new Uint8Array(expected), path);
  } else if (ArrayBuffer.isView(expected)) {
    const av = actual as ArrayBufferView; // only the viewed bytes are compared (documented)
    assert.deepEqual(new Uint8Array(av.buffer, av.byteOffset, av.byteLength),
      new Uint8Array(expected.buffer, expected.byteOffset, expected.byteLength), path);
    return;
  } else if (expected instanceof Error) {
    assert.deepEqual([(actual as Error).name, (actual as Error).message], [expected.name, expected.message], path);
  } else if (/Number|String|Boolean|BigInt/.test(tag)) {
    assert.ok(Object.is((actual as object).valueOf(), (expected as object).valueOf()), `${path}: boxed value`);
  }
  assert.deepEqual(Object.keys(a), Object.keys(e), `${path}: own keys (holes included)`);
  for (const k of Object.keys(e)) assertSameGraph(a[k], e[k], `${path}.${k}`, fwd, back);
}

/** Round trip must equal structuredClone, both by deepStrictEqual and exactly. */
function assertLikeClone(v: unknown): EncodedValue {
  const encoded = encodeValue(v);
  const decoded = decodeValue(encoded);
  const clone: unknown = structuredClone(v);
  assertSameGraph(decoded, clone);
  assertSameGraph(decodeValue(encoded), clone); // fresh objects, still the same value
  assert.notEqual(decodeValue(encoded), decoded === null || typeof decoded !== 'object' ? {} : decoded);
  return encoded;
}

/** `levels` arrays nested around `leaf`. */
function nest(levels: number, leaf: unknown): unknown {
  let v = leaf;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

function throwsValidation(v: unknown, message: RegExp): void {
  assert.throws(() => encodeValue(v), (err: unknown) => {
    assert.ok(err instanceof StorageValidationError, `expected StorageValidationError, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

test('JSON-exact values take the JSON fast path', () => {
  const values = [{ a: 1, b: [true, null, 'x', 2.5], c: { d: '' } }, [], {}, 'str', 0, 42, -7.25, true, null,
    Object.assign(Object.create(null) as object, { a: 1 }), '\ud800 lone \udfff', { '\udc00': 'key' }];
  for (const v of values) {
    const encoded = assertLikeClone(v);
    assert.equal(typeof encoded, 'string', JSON.stringify(v));
    assert.equal(encoded, JSON.stringify(v));
  }
  assert.equal(decodeValue('{"a":[1,2]}') !== decodeValue('{"a":[1,2]}'), true);
});

test('values JSON would change take the binary path, with a version byte first', () => {
  const shared = { s: 1 };
  const values = [-0, NaN, Infinity, -Infinity, { a: undefined }, [undefined], [1, , 3], { x: shared, y: shared },
    new Date(0), 1n, { nested: { deep: [new Map()] } }, new (class Point { x = 1; y = 2; })()];
  for (const v of values) {
    const encoded = assertLikeClone(v);
    assert.ok(encoded instanceof Uint8Array, String(v));
    assert.equal(encoded[0], 1);
  }
});

test('numbers, strings and bigints round-trip exactly', () => {
  const numbers = [0, -0, NaN, Infinity, -Infinity, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 53, -(2 ** 53),
    Number.MAX_VALUE, Number.MIN_VALUE, Number.EPSILON, 0.1 + 0.2, 1e-300];
  for (const n of numbers) {
    assert.ok(Object.is(roundTrip(n), n), String(n));
    assert.ok(Object.is((roundTrip([n, undefined]) as number[])[0], n), String(n));
  }
  for (const b of [0n, 1n, -1n, 255n, -256n, 2n ** 64n, -(2n ** 64n) + 1n, 3n ** 1000n, -(7n ** 500n)]) {
    assert.equal(roundTrip(b), b);
    assert.equal((roundTrip(Object(b)) as bigint).valueOf(), b);
  }
  const strings = ['', 'ascii', '\ufeff', '\ufeffBOM first, and long enough for TextDecoder', 'é', '€'.repeat(100), '😀', '\ud83d', '\ude00', 'a\ud800b', '\udc00\ud800', 'x'.repeat(70000)];
  for (const s of strings) {
    assert.equal(roundTrip(s), s);
    assertLikeClone(new Map([[s, s]])); // binary path: UTF-8 or UTF-16 storage
    assertLikeClone({ [s]: undefined });
  }
});

test('every supported built-in round-trips like structuredClone', () => {
  const re = /a(b)?c/giu;
  re.lastIndex = 3;
  const f16 = (globalThis as { Float16Array?: new (a: number[]) => object }).Float16Array;
  const values: unknown[] = [
    new Date(1700000000123), new Date(NaN), new Date(-8.64e15), re, /x/, new RegExp('[/]\\n', 'dgimsuy'.replace('u', '')),
    new Map<unknown, unknown>([[1, 'a'], ['1', { b: 2 }], [{ k: 1 }, [1]], [NaN, -0], [undefined, null]]),
    new Set<unknown>([1, '1', {}, [], NaN, -0, 2n, undefined]),
    new ArrayBuffer(0), new Uint8Array([1, 2, 255]).buffer,
    new Int8Array([-128, 127]), new Uint8Array([0, 255]), new Uint8ClampedArray([300, -5]), new Int16Array([-32768, 1]),
    new Uint16Array([65535]), new Int32Array([-(2 ** 31)]), new Uint32Array([2 ** 32 - 1]), new Float32Array([1.5, NaN, -0]),
    new Float64Array([Math.PI, -Infinity]), new BigInt64Array([-(2n ** 63n)]), new BigUint64Array([2n ** 64n - 1n]),
    ...(f16 ? [new f16([1.5, -2])] : []),
    new DataView(new Uint8Array([9, 8, 7]).buffer), new Uint8Array(0),
    new Error('plain'), new TypeError('typed'), new RangeError('r', { cause: { why: [1] } }), new Error(),
    new Number(-0), new Number(NaN), new String('boxed \ud800'), new Boolean(false), new Boolean(true), Object(-5n),
    Object.assign(Object.create(null) as object, { n: new Date(0) }),
  ];
  for (const v of values) assertLikeClone(v);
  assertLikeClone(values); // all together, in one graph
  const e = roundTrip(new RangeError('r', { cause: 'c' })) as RangeError;
  assert.ok(e instanceof RangeError);
  assert.equal(e.cause, 'c');
  assert.equal(Object.keys(e).length, 0, 'message/stack/cause stay non-enumerable');
  class MyError extends Error { override name = 'MyError'; extra = 1; }
  assertLikeClone(new MyError('custom')); // becomes a plain Error, like structuredClone
  assert.equal((roundTrip(re) as RegExp).lastIndex, 0);
});

test('arrays: holes and huge sparse arrays; named props are dropped on both paths', () => {
  const sparse: unknown[] = [];
  sparse[1e9] = 'far';
  const holes = [, 1, , undefined, ,];
  for (const v of [holes, new Array(5), [, , ,], [, 1, new Date(0)], sparse, [[, 'x'], { a: [, , 1] }]]) assertLikeClone(v);
  assert.ok(encodeValue(sparse).length < 32, 'sparse arrays store only their elements');
  const out = roundTrip(holes) as unknown[];
  assert.equal(out.length, 5);
  assert.ok(!(0 in out) && 3 in out && !(4 in out));
  // Documented divergence from structuredClone: like JSON, named props on arrays are not kept.
  const named = Object.assign([1, 2], { label: 'x' });
  assert.deepStrictEqual(roundTrip(named), [1, 2]);
  assert.deepStrictEqual(roundTrip([named, new Date(0)]), [[1, 2], new Date(0)]);
  assert.deepStrictEqual(roundTrip(Object.assign([, 2], { label: 'x' })), [, 2]);
  const match = 'abc'.match(/b/)!;
  assert.deepStrictEqual(roundTrip(match), ['b']);
  // An Array subclass could define toJSON: it must not reach JSON.stringify.
  class Tagged extends Array { toJSON(): string { return 'not an array'; } }
  const tagged = Tagged.from([1, 2]);
  assert.ok(encodeValue({ tagged }) instanceof Uint8Array);
  assert.deepStrictEqual(roundTrip({ tagged }), { tagged: [1, 2] });
});

test('typed-array views keep their values but not the rest of the buffer', () => {
  const buf = new ArrayBuffer(16);
  new Uint8Array(buf).set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
  const view = new Uint16Array(buf, 4, 3);
  const decoded = roundTrip(view) as Uint16Array;
  assert.deepEqual([...decoded], [...view]);
  assert.equal(decoded.byteOffset, 0);
  assert.equal(decoded.buffer.byteLength, 6);
  const dv = roundTrip(new DataView(buf, 2, 2)) as DataView;
  assert.deepEqual([dv.getUint8(0), dv.getUint8(1), dv.byteLength], [3, 4, 2]);
  const pooled = Buffer.from('secret-free'); // a view on Node's shared 8 KiB pool
  const out = roundTrip(pooled) as Uint8Array;
  assert.equal(Object.getPrototypeOf(out), Uint8Array.prototype);
  assert.equal(out.buffer.byteLength, pooled.length);
  assert.equal(new TextDecoder().decode(out), 'secret-free');
});

test('shared references and cycles keep their identity', () => {
  const shared = { s: [1] };
  const d = new Date(5);
  const v = { a: shared, b: [shared, shared.s], c: new Map([[shared, d]]), d, e: new Set([d]) };
  const out = roundTrip(v) as typeof v;
  assert.equal(out.a, out.b[0]);
  assert.equal(out.a.s, out.b[1]);
  assert.equal(out.c.get(out.a), out.d);
  assert.ok(out.e.has(out.d));
  assertLikeClone(v);

  const cyc: Record<string, unknown> = { name: 'root' };
  cyc.self = cyc;
  cyc.list = [cyc, { back: cyc }];
  const m = new Map<unknown, unknown>();
  m.set(m, m);
  cyc.map = m;
  const arr: unknown[] = [];
  arr.push(arr);
  cyc.arr = arr;
  const err = new Error('loop', { cause: cyc });
  cyc.err = err;
  const c = roundTrip(cyc) as Record<string, any>;
  assert.equal(c.self, c);
  assert.equal(c.list[0], c);
  assert.equal(c.list[1].back, c);
  assert.equal(c.map.get(c.map), c.map);
  assert.equal(c.arr[0], c.arr);
  assert.equal(c.err.cause, c);
  assertLikeClone(cyc);
  assertLikeClone(arr);
});

test('class instances become plain objects; cross-realm built-ins are recognised', () => {
  class User { name = 'ann'; get upper(): string { return this.name.toUpperCase(); } greet(): string { return 'hi'; } }
  const u = roundTrip(new User()) as object;
  assert.equal(Object.getPrototypeOf(u), Object.prototype);
  assert.deepEqual(u, { name: 'ann' });
  const foreign = vm.runInNewContext('({ d: new Date(7), m: new Map([[1, [2]]]), s: new Set([1]), o: { x: 1 }, r: /q/g, e: new TypeError("t") })') as Record<string, unknown>;
  const out = roundTrip(foreign) as Record<string, any>;
  assert.ok(out.d instanceof Date && out.d.getTime() === 7);
  assert.ok(out.m instanceof Map && out.m.get(1)[0] === 2);
  assert.ok(out.s instanceof Set && out.r instanceof RegExp && out.e instanceof TypeError);
  assert.deepEqual(out.o, { x: 1 });
});

test('unstorable values are rejected with their path, before anything is returned', () => {
  throwsValidation(undefined, /^value is undefined: use delete\(\)/);
  throwsValidation(() => 1, /^value is a function/);
  throwsValidation(Symbol('s'), /^value is a symbol/);
  throwsValidation({ a: { b: [0, 1, () => 1] } }, /^value\.a\.b\[2\] is a function/);
  throwsValidation({ a: { 'odd key': Symbol() } }, /^value\.a\["odd key"\] is a symbol/);
  throwsValidation({ m: new Map([['k', () => 1]]) }, /^value\.m\.get\("k"\) is a function/);
  throwsValidation({ m: new Map([[() => 1, 1]]) }, /^value\.m<Map key #0> is a function/);
  throwsValidation(new Set([1, Symbol()]), /^value<Set value #1> is a symbol/);
  throwsValidation({ w: new WeakMap() }, /^value\.w is a WeakMap/);
  throwsValidation([new WeakSet()], /^value\[0\] is a WeakSet/);
  throwsValidation({ r: new WeakRef({}) }, /^value\.r is a WeakRef/);
  throwsValidation({ p: Promise.resolve(1) }, /^value\.p is a Promise/);
  throwsValidation({ s: new SharedArrayBuffer(4) }, /^value\.s is a SharedArrayBuffer/);
  throwsValidation({ g: (function* gen() { /* empty */ })() }, /^value\.g is a Generator/);
  throwsValidation({ x: Object(Symbol()) }, /^value\.x is a Symbol/);
  throwsValidation({ e: new Error('x', { cause: () => 1 }) }, /^value\.e\.cause is a function/);
  throwsValidation(new Map([[{ k: [() => 1] }, 1]]), /^value<Map key #0>\.k\[0\] is a function/);
  throwsValidation(new Map<unknown, unknown>([[1, 1], [{}, { v: Symbol() }]]), /^value\.get\(<object>\)\.v is a symbol/);
  const detached = new ArrayBuffer(8);
  const onDetached = [new Uint8Array(detached, 2), new DataView(detached)];
  structuredClone(detached, { transfer: [detached] });
  throwsValidation({ b: detached }, /^value\.b uses a detached ArrayBuffer/);
  throwsValidation([0, onDetached[0]], /^value\[1\] uses a detached ArrayBuffer/);
  throwsValidation({ v: onDetached[1] }, /^value\.v uses a detached ArrayBuffer/);
  throwsValidation({ d: new Date(0), f: [1, { g: () => 1 }] }, /^value\.f\[1\]\.g is a function/); // binary path too
  // Symbol-keyed properties are ignored, like structuredClone.
  assert.deepEqual(roundTrip({ a: 1, [Symbol('k')]: 2 }), { a: 1 });
  // Validation is pure: a rejected value is left untouched.
  const v = { ok: 1, bad: (): number => 1 };
  assert.throws(() => encodeValue(v), StorageValidationError);
  assert.deepEqual(Object.keys(v), ['ok', 'bad']);
});

test(`MAX_DEPTH (${MAX_DEPTH}) is the deepest nesting accepted, on both paths`, () => {
  assert.equal(MAX_DEPTH, 2000);
  for (const leaf of [1, undefined]) { // JSON path, binary path
    assertLikeClone(nest(MAX_DEPTH, leaf));
    throwsValidation(nest(MAX_DEPTH + 1, leaf), /nests deeper than MAX_DEPTH/);
  }
  let deepObj: unknown = new Date(0);
  for (let i = 1; i < MAX_DEPTH; i++) deepObj = i % 3 ? { a: deepObj } : new Map([[i, deepObj]]);
  assertLikeClone(deepObj);
  // The path names both ends of the chain and elides the middle.
  throwsValidation({ x: deepObj }, /^value\.x\.a\.get\(1998\)\.a\.a\.get\(1995\).*\.\.\.\(1985 more\)\.\.\..*\.get\(3\)\.a\.a nests deeper than MAX_DEPTH \(2000\)/);
  // A decoder facing a crafted nesting beyond the limit refuses it.
  const bytes = new Uint8Array(MAX_DEPTH + 3).fill(11); // ARRAY tag
  bytes[0] = 1;
  for (let i = 2; i < bytes.length; i += 2) bytes[i] = 1; // length 1 each
  assert.throws(() => decodeValue(bytes), StorageCorruptionError);
});

test('__proto__ keys are own properties and never pollute', () => {
  const text = '{"__proto__":{"x":1},"a":{"__proto__":[1]}}';
  const fromJson = decodeValue(text) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(fromJson), Object.prototype);
  assert.deepEqual(Object.keys(fromJson), ['__proto__', 'a']);
  assert.equal(encodeValue(fromJson), text);
  const withDate = JSON.parse(text) as Record<string, unknown>;
  withDate.d = new Date(0);
  const encoded = encodeValue(withDate);
  assert.ok(encoded instanceof Uint8Array);
  const fromBinary = decodeValue(encoded) as Record<string, any>;
  assert.equal(Object.getPrototypeOf(fromBinary), Object.prototype);
  assert.deepEqual(Object.getOwnPropertyDescriptor(fromBinary, '__proto__')?.value, { x: 1 });
  assert.deepEqual(Object.keys(fromBinary.a), ['__proto__']);
  assertLikeClone(withDate);
  assert.equal(({} as Record<string, unknown>).x, undefined);
  assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), Object.getOwnPropertyNames(vm.runInNewContext('Object.prototype')).sort());
});

test('re-entrant encodes from getters are safe', () => {
  const inner = { get g(): unknown { return encodeValue({ nested: [1, 2] }); } };
  assert.deepEqual(roundTrip({ a: inner, b: { c: 1 } }), { a: { g: '{"nested":[1,2]}' }, b: { c: 1 } });
});

test('property: anything structuredClone accepts round-trips like it', () => {
  const anything = (stringUnit: 'grapheme' | 'binary') => fc.anything({
    withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true,
    withNullPrototype: true, withBoxedValues: true, withObjectString: false, stringUnit,
  });
  fc.assert(fc.property(anything('grapheme'), (v) => {
    fc.pre(v !== undefined);
    assertLikeClone(v);
    // Node 20's deepStrictEqual calls two invalid Dates unequal; assertSameGraph covers those.
    if (!containsInvalidDate(v)) assert.deepStrictEqual(roundTrip(v), structuredClone(v));
  }), { numRuns: 2000 });
  fc.assert(fc.property(anything('binary'), (v) => { // lone surrogates anywhere
    fc.pre(v !== undefined);
    assertLikeClone(v);
  }), { numRuns: 500 });
  fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => {
    assert.equal(roundTrip(s), s);
    assert.deepEqual(roundTrip({ [s]: [s, new Date(0)] }), { [s]: [s, new Date(0)] });
  }), { numRuns: 1000 });
});

/** True when `v` holds an invalid Date somewhere. */
function containsInvalidDate(v: unknown, seen = new Set<unknown>()): boolean {
  if (typeof v !== 'object' || v === null || seen.has(v)) return false;
  seen.add(v);
  if (v instanceof Date) return Number.isNaN(v.getTime());
  const children = v instanceof Map ? [...v].flat() : v instanceof Set ? [...v] : ArrayBuffer.isView(v) ? [] : Object.values(v);
  return children.some((c) => containsInvalidDate(c, seen));
}

test('fuzz: corrupted encodings decode or throw StorageCorruptionError, never hang', { timeout: 120_000 }, () => {
  const expectCorruptionOrValue = (encoded: EncodedValue): void => {
    try {
      decodeValue(encoded);
    } catch (err) {
      if (!(err instanceof StorageCorruptionError)) throw new Error(`unexpected ${String(err)}`, { cause: err });
    }
  };
  const binaryOf = fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true,
    withSparseArray: true, withBoxedValues: true, stringUnit: 'binary' }).map((v) => encodeValue([v, undefined]) as Uint8Array);
  fc.assert(fc.property(binaryOf, fc.nat(), fc.nat(), fc.integer({ min: 0, max: 7 }), (bytes, cut, at, bit) => {
    expectCorruptionOrValue(bytes.subarray(0, cut % bytes.length)); // truncated
    const flipped = bytes.slice();
    flipped[at % bytes.length]! ^= 1 << bit;
    expectCorruptionOrValue(flipped);
    const replaced = bytes.slice();
    replaced[at % bytes.length] = cut & 0xff;
    expectCorruptionOrValue(replaced);
    expectCorruptionOrValue(new Uint8Array([...bytes, cut & 0xff])); // trailing garbage
  }), { numRuns: 2000 });
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (tail) => {
    expectCorruptionOrValue(new Uint8Array([1, ...tail]));
    expectCorruptionOrValue(tail);
  }), { numRuns: 3000 });
  fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => expectCorruptionOrValue(s)), { numRuns: 500 });
  for (const bad of [new Uint8Array(0), new Uint8Array([2, 1]), new Uint8Array([1]), new Uint8Array([1, 200]),
    new Uint8Array([1, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), new Uint8Array([1, 26, 0]),
    new Uint8Array([1, 6, 2, 0xc3, 0x28]), new Uint8Array([1, 16, 6, 1, 40, 6, 0]), new Uint8Array([1, 18, 8, 3, 1, 2, 3])]) {
    assert.throws(() => decodeValue(bad), StorageCorruptionError, String(bad));
  }
  assert.throws(() => decodeValue('{"a":'), StorageCorruptionError);
  assert.throws(() => decodeValue(42 as unknown as EncodedValue), StorageCorruptionError);
});
