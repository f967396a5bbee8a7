/**
 * Query core tests (order, paths, filters, sorts). Run: `node --import tsx --test test/node/query-core.test.ts`
 *
 * The order and its string encoding are checked by properties over values of every class (strings
 * with every kind of code unit, lone surrogates included); filters by hand-written examples of each
 * operator, by a property comparing the compiled (fast-path) filters with a direct reading of the
 * definitions over `candidates()`, and by the refused-input list of docs/queries.md.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { StorageValidationError } from '../../src/core/errors';
import { MISSING, classBounds, classOf, compareValues, encodeOrdered, equalValues } from '../../src/core/query/order';
import { candidates, checkPath, isMultikey, sortValue } from '../../src/core/query/path';
import { compileFilter, type Row } from '../../src/core/query/filter';
import { compileSort } from '../../src/core/query/sort';
import type { Metadata } from '../../src/core/types';

const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0);
const cmpUtf16 = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
/** Code-point order written the obvious way (lone surrogates are their own code points). */
function cmpCodePoints(a: string, b: string): number {
  const x = Array.from(a, (c) => c.codePointAt(0)!), y = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  return sign(x.length - y.length);
}

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

const tricky = ['\u0000', '\u0001', '\u0002', '\u0003', 'a', 'b', '~', '\u00ff', '\u0100', '\ud7fe', '\ud7ff', '\ud800', '\udbff',
  '\udc00', '\udfff', '\ue000', '\uffff', '\u{10000}', '\u{1f600}', '\u{10ffff}'];
const unit = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...tricky) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)) },
);
const str = fc.string({ unit, maxLength: 6 });
const num = fc.oneof(
  fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 1, -1, 0.5, Number.MIN_VALUE, -Number.MIN_VALUE, Number.MAX_VALUE, 2 ** 53),
  fc.double(),
  fc.integer({ min: -5, max: 5 }),
);
const big = fc.oneof(fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }), fc.constantFrom(0n, 1n, -1n, 15n, 16n, -16n, -17n, 255n, 256n));
const date = fc.oneof(fc.date({ noInvalidDate: false }), fc.integer({ min: -3, max: 3 }).map((t) => new Date(t)));
const bin = fc.uint8Array({ maxLength: 4 }).chain((u) => fc.constantFrom<unknown>(u, u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength),
  new DataView(u.buffer, u.byteOffset, u.byteLength), new Uint16Array(u.buffer.slice(0, u.byteLength - (u.byteLength % 2)))));
const other = fc.constantFrom<() => unknown>(() => new Map(), () => new Set([1]), () => /re/, () => new Error('x')).map((f) => f());
const scalar = fc.oneof(fc.constant(null), num, big, str, fc.boolean(), date, bin);
/** Scalars a filter accepts (no DataView). */
const filterScalar = scalar.filter((v) => !(v instanceof DataView));

const { value: anyValue } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, scalar, other, tie('object'), tie('array')),
  object: fc.array(fc.tuple(fc.constantFrom('a', 'b', '', '\u0000', '\ud800', '\ue000', '__proto__'), fc.option(tie('value'), { nil: undefined })), { maxLength: 3 })
    .map((entries) => {
      const o: Record<string, unknown> = {};
      for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
      return o;
    }),
  array: fc.array(fc.option(tie('value'), { nil: undefined, freq: 8 }), { maxLength: 3 }),
}));

/** Does `v` contain a value of class other (where equality is never true)? */
function hasOther(v: unknown): boolean {
  if (v === undefined) return false;
  const c = classOf(v);
  if (c === 10) return true;
  if (c === 5) return Object.values(v as object).some(hasOther);
  if (c === 6) return Array.from(v as unknown[]).some(hasOther);
  return false;
}

// ---------------------------------------------------------------------------------------------
// Order and encoding
// ---------------------------------------------------------------------------------------------

test('classOf ranks every class', () => {
  const cases: [unknown, number][] = [[null, 1], [0, 2], [NaN, 2], [1n, 3], ['', 4], [{}, 5], [Object.create(null), 5], [[], 6],
    [new Uint8Array(1), 7], [new ArrayBuffer(1), 7], [new DataView(new ArrayBuffer(1)), 7], [false, 8], [new Date(NaN), 9],
    [new Map(), 10], [new Set(), 10], [/x/, 10], [new Error('e'), 10], [new (class A {})(), 10], [Object(1), 10], [() => 1, 10]];
  for (const [v, c] of cases) assert.equal(classOf(v), c, inspect(v));
});

test('compareValues: documented order examples', () => {
  const ascending: unknown[] = [null, NaN, -Infinity, -1, 0, 0.5, Infinity, -(2n ** 64n), -1n, 0n, 1n, 2n ** 64n,
    '', 'a', 'ab', 'b', '\uffff', '\u{10000}', {}, { a: 1 }, { a: 1, b: 0 }, { a: 2 }, { b: 0 }, [], [1], [1, 2], [2], ['a'],
    new Uint8Array([]), new Uint8Array([0]), new Uint8Array([0, 0]), new Uint8Array([1]), false, true,
    new Date(NaN), new Date(-1), new Date(0), new Map()];
  for (let i = 0; i < ascending.length; i++) {
    for (let j = 0; j < ascending.length; j++) {
      assert.equal(sign(compareValues(ascending[i], ascending[j])), sign(i - j), `${i} vs ${j}`);
      assert.equal(sign(cmpUtf16(encodeOrdered(ascending[i]), encodeOrdered(ascending[j]))), sign(i - j), `enc ${i} vs ${j}`);
    }
  }
  assert.equal(compareValues(-0, 0), 0);
  assert.equal(compareValues(NaN, NaN), 0);
  assert.equal(compareValues(new Map(), new Set()), 0);
  assert.ok(compareValues(10, 10n) < 0, 'classes first');
  assert.ok(compareValues('\uffff', '\ud83d\ude00') < 0, 'code point, not UTF-16 unit');
  assert.ok(compareValues('\ud800', '\ue000') < 0, 'a lone surrogate is its own code point');
  assert.ok(compareValues({ b: 1, a: 1 }, { a: 1, b: 1 }) > 0, 'insertion order');
  assert.equal(compareValues({ a: 1, b: undefined }, { a: 1 }), 0, 'undefined properties are ignored');
  // eslint-disable-next-line no-sparse-arrays
  assert.equal(compareValues([1, , undefined], [1, null, null]), 0, 'holes and undefined elements count as null');
  assert.equal(compareValues(new Uint8Array([1, 2]), new Uint16Array([0x0201]).buffer), 0, 'binary by bytes');
});

test('equalValues: structural, NaN equal, class other never', () => {
  assert.ok(equalValues(NaN, NaN));
  assert.ok(equalValues(-0, 0));
  assert.ok(equalValues({ a: [1, { b: new Date(5) }] }, { a: [1, { b: new Date(5) }] }));
  assert.ok(!equalValues({ a: 1, b: 2 }, { b: 2, a: 1 }), 'same properties in another order');
  assert.ok(!equalValues(1, 1n));
  assert.ok(!equalValues(1, '1'));
  assert.ok(!equalValues(null, 0));
  assert.ok(equalValues(new Uint8Array([1]), new Uint8Array([1]).buffer));
  const m = new Map();
  assert.ok(!equalValues(m, m));
  assert.ok(!equalValues({ m }, { m }), 'nested class other is never equal either');
  assert.ok(equalValues(new Date(NaN), new Date(NaN)));
});

test('cyclic values compare and encode in finite time (the repeat counts as class other)', () => {
  const a: Record<string, unknown> = { x: 1 };
  a.self = a;
  const b: Record<string, unknown> = { x: 1 };
  b.self = b;
  assert.equal(compareValues(a, b), 0);
  assert.equal(encodeOrdered(a), encodeOrdered(b));
  assert.ok(!equalValues(a, b));
  // Each side has its own path: a repeats at depth 1, c only at depth 2 (other sorts after object).
  const c: Record<string, unknown> = { x: 1 };
  c.self = { x: 1, self: c };
  assert.equal(compareValues(a, c), 1);
  assert.ok(encodeOrdered(a) > encodeOrdered(c));
  const arr: unknown[] = [1];
  arr.push(arr);
  assert.equal(sign(compareValues(arr, [1, new Map()])), 0);
  assert.ok(compareValues(arr, [1, []]) > 0);
});

test('compareValues is a total order consistent with equalValues', () => {
  fc.assert(fc.property(anyValue, anyValue, anyValue, (a, b, c) => {
    const ab = sign(compareValues(a, b));
    assert.equal(sign(compareValues(b, a)), 0 - ab || 0, 'antisymmetric');
    assert.equal(compareValues(a, a), 0, 'reflexive');
    const bc = sign(compareValues(b, c)), ac = sign(compareValues(a, c));
    if (ab <= 0 && bc <= 0) assert.ok(ac <= 0, 'transitive');
    if (ab === 0 && bc === 0) assert.equal(ac, 0, 'transitive equality');
    if (equalValues(a, b)) assert.equal(ab, 0, 'equal implies compare 0');
    if (ab === 0 && !hasOther(a) && !hasOther(b)) assert.ok(equalValues(a, b), 'compare 0 implies equal (without class other)');
    assert.equal(equalValues(a, b), equalValues(b, a));
  }), { numRuns: 3000 });
});

test('string order is code-point order', () => {
  fc.assert(fc.property(str, str, (a, b) => {
    assert.equal(sign(compareValues(a, b)), cmpCodePoints(a, b));
  }), { numRuns: 5000 });
});

test('encodeOrdered agrees with compareValues in UTF-16 and code-point order, is prefix-free and safe', () => {
  fc.assert(fc.property(anyValue, anyValue, (a, b) => {
    const ea = encodeOrdered(a), eb = encodeOrdered(b);
    const s = sign(compareValues(a, b));
    assert.equal(cmpUtf16(ea, eb), s, 'UTF-16 order');
    assert.equal(cmpCodePoints(ea, eb), s, 'code-point order');
    if (s !== 0) assert.ok(!ea.startsWith(eb) && !eb.startsWith(ea), 'no encoding is a prefix of another');
    for (const e of [ea, eb]) {
      assert.ok(!e.includes('\u0000'), 'no U+0000');
      assert.ok(!/[\uD800-\uFFFF]/.test(e), 'only characters below U+D800');
    }
  }), { numRuns: 5000 });
});

test('encodeOrdered tuples with arbitrary suffixes compare like the tuples; MISSING sorts last', () => {
  const part = fc.oneof({ weight: 4, arbitrary: anyValue }, { weight: 1, arbitrary: fc.constant(undefined) }); // undefined: missing
  const enc = (v: unknown): string => (v === undefined ? MISSING : encodeOrdered(v));
  const cmpPart = (a: unknown, b: unknown): number => (a === undefined ? (b === undefined ? 0 : 1) : b === undefined ? -1 : sign(compareValues(a, b)));
  const suffix = fc.string({ unit, maxLength: 4 });
  fc.assert(fc.property(part, part, suffix, part, part, suffix, (a1, a2, s1, b1, b2, s2) => {
    const expected = cmpPart(a1, b1) || cmpPart(a2, b2);
    if (expected === 0) return;
    const x = enc(a1) + enc(a2) + s1, y = enc(b1) + enc(b2) + s2;
    assert.equal(cmpUtf16(x, y), expected);
    assert.equal(cmpCodePoints(x, y), expected);
  }), { numRuns: 5000 });
});

test('MISSING is above every encoding and classBounds contain their class', () => {
  fc.assert(fc.property(anyValue, (v) => {
    const e = encodeOrdered(v);
    assert.ok(e < MISSING && !MISSING.startsWith(e) && !e.startsWith(MISSING));
    const { lo, hi } = classBounds(classOf(v));
    assert.ok(lo <= e && e < hi && !e.startsWith(hi), `class ${classOf(v)}`);
  }), { numRuns: 3000 });
  for (let c = 1; c < 10; c++) assert.ok(classBounds(c).hi <= classBounds(c + 1).lo);
  assert.ok(classBounds(10).hi <= MISSING);
});

test('encodeOrdered: compact and fixed examples', () => {
  assert.equal(encodeOrdered(null), '1');
  assert.equal(encodeOrdered(true), '81');
  assert.equal(encodeOrdered(new Map()), encodeOrdered(/x/));
  assert.equal(encodeOrdered(0), encodeOrdered(-0));
  assert.equal(encodeOrdered(1).length, 17);
  assert.equal(encodeOrdered('abc'), '4abc\u0001');
  assert.equal(encodeOrdered(new Date(7)), '9' + encodeOrdered(7).slice(1));
  assert.ok(encodeOrdered(3n ** 200n) > encodeOrdered(2n ** 300n)); // 3^200 is about 2^317
  assert.ok(encodeOrdered(-(3n ** 200n)) < encodeOrdered(-(2n ** 300n)));
  assert.equal(encodeOrdered(new Uint8Array(10000)).length, 10002, 'binary: one character per byte');
});

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

test('candidates follow "Paths through arrays"', () => {
  assert.deepEqual(candidates({ tags: ['a', 'b'] }, ['tags']), [['a', 'b'], 'a', 'b']);
  assert.deepEqual(candidates({ items: [{ p: 1 }, { p: [2, 3] }] }, ['items', 'p']), [1, [2, 3], 2, 3]);
  assert.deepEqual(candidates({ items: [{ p: 1 }, { p: 2 }] }, ['items', '1', 'p']), [2]);
  assert.deepEqual(candidates({ items: [{ p: 1 }, { p: 2 }] }, ['items', '01', 'p']), [2], 'leading zeros name the same index');
  assert.deepEqual(candidates({ a: [[{ b: 1 }], { b: 2 }] }, ['a', 'b']), [2], 'no fan-out into nested arrays');
  assert.deepEqual(candidates({ a: { 0: 'x' } }, ['a', '0']), ['x'], 'digits on an object are a property');
  assert.deepEqual(candidates([{ a: 1 }, { a: 2 }], ['a']), [1, 2], 'the value itself may be an array');
  assert.deepEqual(candidates('str', ['length']), [], 'a non-object has no fields');
  assert.deepEqual(candidates({ a: new Date(1) }, ['a', 'getTime']), []);
  assert.deepEqual(candidates({ a: new Uint8Array([5]) }, ['a', '0']), [], 'binary has no fields');
  assert.deepEqual(candidates({}, ['toString']), [], 'own properties only');
  assert.deepEqual(candidates({ a: undefined }, ['a']), []);
  assert.deepEqual(candidates({ a: [undefined, 1] }, ['a']), [[undefined, 1], 1]);
  assert.deepEqual(candidates({ a: [] }, ['a']), [[]]);
  assert.deepEqual(candidates({ a: [{ b: [[1]] }] }, ['a', 'b']), [[[1]], [1]]);
  assert.equal(isMultikey({ a: [1] }, ['a']), true);
  assert.equal(isMultikey({ a: [{ b: 1 }] }, ['a', 'b']), true);
  assert.equal(isMultikey({ a: [{ b: 1 }] }, ['a', '0', 'b']), false);
  assert.equal(isMultikey({ a: { b: 1 } }, ['a', 'b']), false);
  assert.equal(sortValue({ a: [{ b: 1 }, { b: 2 }] }, ['a', '1', 'b']), 2);
  assert.equal(sortValue({ a: [{ b: 1 }] }, ['a', 'b']), undefined, 'no fan-out in sort');
  assert.deepEqual(sortValue({ a: [3, 1] }, ['a']), [3, 1]);
  const parsed = JSON.parse('{"__proto__": {"x": 1}}') as object;
  assert.deepEqual(candidates(parsed, ['__proto__', 'x']), [1], 'unchecked segments still read own data only');
});

test('checkPath validates', () => {
  assert.deepEqual(checkPath('a.b.0', 'p'), ['a', 'b', '0']);
  assert.deepEqual(checkPath('$meta.tags', 'p', true), ['$meta', 'tags']);
  assert.deepEqual(checkPath('$key', 'p', true), ['$key']);
  const bad: [unknown, RegExp, boolean?][] = [
    ['', /empty segment/], ['a..b', /empty segment/], ['a.', /empty segment/], ['.a', /empty segment/], [3, /must be a string/],
    ['__proto__', /"__proto__" is refused/], ['a.constructor', /"constructor" is refused/], ['prototype.x', /"prototype" is refused/],
    [Array(33).fill('a').join('.'), /33 segments/], ['a'.repeat(1025), /1025 characters/], ['$key', /not allowed here/],
    ['$meta.tags', /not allowed here/], ['$meta.foo', /only such paths/, true], ['$meta', /only such paths/, true],
    ['$meta.tags.0', /only such paths/, true], ['$other', /only such paths/, true], ['$key.a', /only such paths/, true],
  ];
  for (const [p, re, meta] of bad) {
    assert.throws(() => checkPath(p, 'sort', meta), (e: unknown) => e instanceof StorageValidationError && /^sort: /.test(e.message) && re.test(e.message), String(p));
  }
});

// ---------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------

const META: Metadata = { createdAt: 1000, updatedAt: 2000, version: 3, tags: ['red', 'blue'] };
const row = (value: unknown, key = 'k.1', meta: Metadata = META): Row => ({ key, value, meta });
const matches = (filter: unknown, value: unknown, key?: string, meta?: Metadata): boolean => compileFilter(filter).test(row(value, key, meta));
function check(filter: unknown, yes: unknown[], no: unknown[]): void {
  for (const v of yes) assert.equal(matches(filter, v), true, `${inspect(filter)} should match ${inspect(v)}`);
  for (const v of no) assert.equal(matches(filter, v), false, `${inspect(filter)} should not match ${inspect(v)}`);
}

test('$eq and bare values: structural equality, fan-out, null matches missing', () => {
  check({ a: 1 }, [{ a: 1 }, { a: -0 + 1 }, { a: [0, 1] }, [{ a: 1 }]], [{ a: '1' }, { a: 1n }, {}, 1, { a: [[1]] }, { b: 1 }]);
  check({ a: { $eq: 0 } }, [{ a: -0 }, { a: 0 }], [{ a: false }, { a: null }]);
  check({ a: NaN }, [{ a: NaN }, { a: [NaN] }], [{ a: 0 }]);
  check({ a: null }, [{ a: null }, {}, { b: 1 }, 5, { a: [null] }, { a: undefined }], [{ a: 0 }, { a: [] }, { a: [1] }]);
  check({ 'a.b': null }, [{ a: [{ c: 1 }] }, { a: 1 }], [{ a: [{ b: 1 }, { c: 1 }] }], /* only missing when no candidate at all */);
  check({ a: [1, 2] }, [{ a: [1, 2] }, { a: [[1, 2], 3] }], [{ a: [2, 1] }, { a: [1, 2, 3] }, { a: 1 }]);
  check({ a: { b: 1, c: 2 } }, [{ a: { b: 1, c: 2 } }, { a: [{ b: 1, c: 2 }] }], [{ a: { c: 2, b: 1 } }, { a: { b: 1 } }]);
  check({ a: {} }, [{ a: {} }], [{ a: { b: 1 } }, {}], /* {} is a value, not an empty operator object */);
  check({ d: new Date(5) }, [{ d: new Date(5) }], [{ d: 5 }, { d: new Date(6) }]);
  check({ b: 10n }, [{ b: 10n }], [{ b: 10 }]);
  check({ n: 10 }, [{ n: 10 }], [{ n: 10n }]);
  check({ u: new Uint8Array([1, 2]) }, [{ u: new Uint8Array([1, 2]) }, { u: new Uint8Array([1, 2]).buffer }], [{ u: new Uint8Array([1]) }]);
  check({ 'items.0.p': 1 }, [{ items: [{ p: 1 }, { p: 2 }] }], [{ items: [{ p: 2 }, { p: 1 }] }]);
  check({ m: { $eq: 1 } }, [], [{ m: new Map([[1, 1]]) }]);
  check({ '0': 'x' }, [['x'], { 0: 'x' }], [['y', 'x']]);
});

test('$ne, $in, $nin', () => {
  check({ a: { $ne: 1 } }, [{ a: 2 }, {}, { a: [2, 3] }, 'str'], [{ a: 1 }, { a: [1, 2] }]);
  check({ a: { $ne: null } }, [{ a: 0 }, { a: [] }], [{}, { a: null }, { a: [null, 1] }]);
  check({ a: { $in: [1, 'x', null] } }, [{ a: 1 }, { a: 'x' }, {}, { a: [5, 'x'] }], [{ a: 2 }, { a: 1n }, { a: [] }]);
  check({ a: { $in: [] } }, [], [{ a: 1 }, {}]);
  check({ a: { $in: [NaN, -0, 5n, { b: 1 }, [1]] } }, [{ a: NaN }, { a: 0 }, { a: 5n }, { a: { b: 1 } }, { a: [1] }, { a: [[1]] }], [{ a: 5 }, { a: { b: 2 } }]);
  check({ a: { $nin: [1, null] } }, [{ a: 2 }], [{ a: 1 }, {}, { a: [2, 1] }]);
  check({ a: { $nin: [] } }, [{ a: 1 }, {}], []);
});

test('range operators: type bracketing, NaN, -0, Dates, BigInt, strings by code point', () => {
  check({ n: { $gt: 5 } }, [{ n: 6 }, { n: Infinity }, { n: [1, 7] }], [{ n: 5 }, { n: 10n }, { n: '6' }, { n: NaN }, {}, { n: null }]);
  check({ n: { $gte: 5, $lt: 6 } }, [{ n: 5 }, { n: 5.5 }, { n: [4, 7] }, { n: [4, 6] } /* each operator on its own candidate */], [{ n: 6 }, { n: [6, 7] }, { n: [1, 2] }]);
  check({ n: { $lt: 0 } }, [{ n: -1 }, { n: NaN } /* NaN is below every number */, { n: -Infinity }], [{ n: -0 }, { n: 0 }, { n: -1n }]);
  check({ n: { $lte: -0 } }, [{ n: 0 }, { n: -1 }], [{ n: 1 }]);
  check({ n: { $gt: NaN } }, [{ n: -Infinity }, { n: 0 }], [{ n: NaN }, { n: 'a' }]);
  check({ n: { $gte: NaN } }, [{ n: NaN }, { n: 1 }], [{ n: 1n }]);
  check({ n: { $lt: NaN } }, [], [{ n: NaN }, { n: -Infinity }]);
  check({ n: { $lte: NaN } }, [{ n: NaN }], [{ n: -Infinity }]);
  check({ b: { $gt: 10n } }, [{ b: 11n }, { b: 2n ** 80n }], [{ b: 11 }, { b: 10n }, { b: -(2n ** 80n) }]);
  check({ s: { $gte: 'b' } }, [{ s: 'b' }, { s: 'ba' }, { s: '\u{1f600}' }], [{ s: 'a' }, { s: 'az' }, { s: 98 }]);
  check({ s: { $gt: '\uffff' } }, [{ s: '\u{10000}' }], [{ s: '\ue000' }, { s: '\uffff' }]);
  check({ s: { $lt: '\u{10000}' } }, [{ s: '\uffff' }, { s: '\ud800' }], [{ s: '\u{10001}' }]);
  check({ d: { $gte: new Date(100) } }, [{ d: new Date(100) }, { d: new Date(101) }], [{ d: new Date(99) }, { d: 100 }, { d: new Date(NaN) }]);
  check({ d: { $lt: new Date(0) } }, [{ d: new Date(NaN) }], [{ d: new Date(0) }]);
  check({ x: { $gte: null } }, [{ x: null }], [{}, { x: 0 }]);
  check({ x: { $gt: null } }, [], [{ x: null }, { x: 1 }]);
  check({ o: { $gt: { a: 1 } } }, [{ o: { a: 2 } }, { o: { a: 1, b: 0 } }, { o: { b: 0 } }], [{ o: { a: 1 } }, { o: [5] }, { o: 'a' }]);
  check({ a: { $gt: [1] } }, [{ a: [1, 0] }, { a: [2] }, { a: [[2]] } /* the element [2] is a candidate */], [{ a: [1] }, { a: [0, 9] }]);
  check({ t: { $gte: true } }, [{ t: true }], [{ t: false }, { t: 1 }]);
  check({ u: { $gt: new Uint8Array([1]) } }, [{ u: new Uint8Array([1, 0]) }, { u: new Uint8Array([2]) }], [{ u: new Uint8Array([0, 9]) }]);
});

test('$exists, $size, $all', () => {
  check({ a: { $exists: true } }, [{ a: null }, { a: [] }, { a: 0 }], [{}, { a: undefined }, 5]);
  check({ a: { $exists: false } }, [{}, { a: undefined }, 'x'], [{ a: null }]);
  check({ 'a.b': { $exists: true } }, [{ a: [{ c: 1 }, { b: 1 }] }], [{ a: [{ c: 1 }] }, { a: [[{ b: 1 }]] }]);
  check({ a: { $size: 2 } }, [{ a: [1, 2] }, { a: [[1, 2], 3, 4] }], [{ a: [1] }, { a: 'ab' }, {}, { a: { length: 2 } }]);
  check({ a: { $size: 0 } }, [{ a: [] }], [{}, { a: [1] }]);
  check({ a: { $all: ['x', 'y'] } }, [{ a: ['y', 'x', 'z'] }], [{ a: ['x'] }, { a: 'x' }, { a: [['x', 'y']] } /* 'x' is not a candidate */]);
  check({ a: { $all: [] } }, [], [{ a: [] }, { a: [1] }, {}]);
  check({ a: { $all: [[1, 2]] } }, [{ a: [1, 2] }, { a: [[1, 2]] }], [{ a: [2, 1] }]);
  check({ a: { $all: [null] } }, [{ a: [null] }], [{}], /* null in $all does not match missing */);
});

test('$regex and $not', () => {
  check({ s: { $regex: '^ab' } }, [{ s: 'abc' }, { s: ['x', 'abd'] }], [{ s: 'ABC' }, { s: 1 }, {}, { s: ['x'] }]);
  check({ s: { $regex: '^ab', $options: 'i' } }, [{ s: 'ABc' }], [{ s: 'cab' }]);
  check({ s: { $regex: /^a.c$/s } }, [{ s: 'a\nc' }], [{ s: 'abd' }]);
  check({ s: { $regex: /b/g } }, [{ s: 'abc' }, { s: 'b' }], []);
  const g = compileFilter({ s: { $regex: /b/gy } });
  for (let i = 0; i < 3; i++) assert.equal(g.test(row({ s: 'ab' })), true, 'g and y ignored: no lastIndex state');
  check({ s: { $regex: /x/, $options: 'i' } }, [{ s: 'X' }], [], /* $options add to the RegExp's flags */);
  check({ s: { $regex: '^\\u{1F600}$', $options: 'u' } }, [{ s: '\u{1f600}' }], [{ s: '\ud83d' }]);
  check({ s: { $not: /^a/ } }, [{ s: 'b' }, {}, { s: 1 }], [{ s: 'a' }, { s: ['b', 'a'] }]);
  check({ n: { $not: { $gt: 5 } } }, [{ n: 5 }, {}, { n: 'z' }, { n: 10n }], [{ n: 6 }, { n: [1, 6] }]);
  check({ n: { $not: { $gte: 1, $lte: 3 } } }, [{ n: 0 }, { n: [4, 5] }], [{ n: 2 }, { n: [0, 4] } /* 4 >= 1 and 0 <= 3 */]);
  check({ n: { $not: { $not: { $eq: 1 } } } }, [{ n: 1 }], [{ n: 2 }]);
  check({ s: { $not: { $regex: 'a', $options: 'i' } } }, [{ s: 'b' }], [{ s: 'A' }]);
});

test('$elemMatch: condition form and filter form', () => {
  check({ a: { $elemMatch: { $gte: 80, $lt: 85 } } }, [{ a: [79, 82] }, { a: [[82]] } /* the candidate [82] */], [{ a: [79, 90] } /* both on one element */, { a: 82 }, {}, { a: [[[82]]] } /* an element is its only candidate */]);
  check({ a: { $elemMatch: { $eq: null } } }, [{ a: [1, null] }, { a: [1, undefined] }], [{ a: [1] }, { a: [] }]);
  check({ a: { $elemMatch: { $size: 1 } } }, [{ a: [[1], 2] }], [{ a: [1] }]);
  check({ a: { $elemMatch: { p: 1, q: { $gt: 1 } } } }, [{ a: [{ p: 1, q: 2 }] }], [{ a: [{ p: 1, q: 0 }, { p: 0, q: 2 }] }, { a: { p: 1, q: 2 } }]);
  check({ a: { $elemMatch: { p: null } } }, [{ a: [{ q: 1 }] }, { a: [5] }], [{ a: [{ p: 1 }] }, { a: [] }]);
  check({ a: { $elemMatch: {} } }, [{ a: [1] }, { a: [undefined] }], [{ a: [] }, { a: 1 }]);
  check({ a: { $elemMatch: { 'b.c': 1, $or: [{ d: 1 }, { d: 2 }] } } }, [{ a: [{ b: { c: 1 }, d: 2 }] }], [{ a: [{ b: { c: 1 }, d: 3 }] }]);
  check({ a: { $elemMatch: { $elemMatch: { $eq: 1 } } } }, [{ a: [[0, 1]] }], [{ a: [1] }]);
  check({ 'x.a': { $elemMatch: { $eq: 1 } } }, [{ x: [{ a: [1] }] }, { x: { a: [[1], 0] } }], [{ x: [{ a: 1 }] }]);
});

test('logical operators at any level', () => {
  check({ $or: [{ a: 1 }, { b: 1 }] }, [{ a: 1 }, { b: 1 }], [{ a: 2 }]);
  check({ $and: [{ a: { $gt: 1 } }, { a: { $lt: 5 } }] }, [{ a: 3 }, { a: [0, 9] }], [{ a: 0 }]);
  check({ $nor: [{ a: 1 }, { b: 1 }] }, [{ a: 2 }, {}], [{ b: 1 }]);
  check({ a: 1, $or: [{ b: 1 }, { $and: [{ c: 1 }, { $nor: [{ d: 1 }] }] }] }, [{ a: 1, b: 1 }, { a: 1, c: 1 }], [{ a: 1, c: 1, d: 1 }, { b: 1 }]);
  check({}, [1, null, {}, 'x'], []);
  assert.equal(compileFilter(undefined).test(row(1)), true);
});

test('$key and $meta paths', () => {
  assert.equal(matches({ $key: 'k.1' }, 1), true);
  assert.equal(matches({ $key: { $regex: '^k\\.' } }, 1), true);
  assert.equal(matches({ $key: { $gt: 'k.0', $lt: 'k.2' } }, 1), true);
  assert.equal(matches({ $key: { $in: ['x', 'y'] } }, 1), false);
  assert.equal(matches({ '$meta.version': 3 }, 1), true);
  assert.equal(matches({ '$meta.createdAt': { $gte: 1000, $lt: 1001 } }, 1), true);
  assert.equal(matches({ '$meta.tags': 'blue' }, 1), true, 'tags fan out');
  assert.equal(matches({ '$meta.tags': { $size: 2 } }, 1), true);
  assert.equal(matches({ '$meta.tags': { $all: ['red', 'blue'] } }, 1), true);
  assert.equal(matches({ '$meta.ttl': null }, 1), true, 'a missing metadata field');
  assert.equal(matches({ '$meta.ttl': { $exists: true } }, 1), false);
  assert.equal(matches({ '$meta.expiresAt': { $gt: 0 } }, 1, 'k', { ...META, ttl: 5, expiresAt: 7000 }), true);
  assert.equal(matches({ $or: [{ $key: 'nope' }, { '$meta.version': { $gt: 2 } }] }, 1), true);
  assert.equal(matches({ meta: 1 }, { meta: 1 }), true, 'plain fields named like metadata are fields');
});

test('compiled filters agree with the definitions read directly over candidates()', () => {
  const fieldValue = fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }), fc.array(fc.record({ b: scalar }, { requiredKeys: [] }), { maxLength: 2 }),
    fc.record({ b: scalar }, { requiredKeys: [] }));
  const doc = fc.record({ a: fieldValue }, { requiredKeys: [] });
  const path = fc.constantFrom('a', 'a.b', 'a.0', 'a.1.b');
  const val = fc.oneof(filterScalar, fc.array(filterScalar, { maxLength: 2 }));
  const op = fc.oneof(
    fc.tuple(fc.constantFrom('$eq', '$ne', '$gt', '$gte', '$lt', '$lte'), val),
    fc.tuple(fc.constantFrom('$in', '$nin', '$all'), fc.array(val, { maxLength: 3 })),
    fc.tuple(fc.constant('$exists'), fc.boolean()),
    fc.tuple(fc.constant('$size'), fc.nat(3)),
  );
  const definition = (cands: unknown[], o: string, v: unknown): boolean => {
    const eqSome = (x: unknown): boolean => cands.some((c) => equalValues(c, x)) || (x === null && cands.length === 0);
    const range = (pred: (r: number) => boolean): boolean => cands.some((c) => classOf(c) === classOf(v) && pred(compareValues(c, v)));
    switch (o) {
      case '$eq': return eqSome(v);
      case '$ne': return !eqSome(v);
      case '$gt': return range((r) => r > 0);
      case '$gte': return range((r) => r >= 0);
      case '$lt': return range((r) => r < 0);
      case '$lte': return range((r) => r <= 0);
      case '$in': return (v as unknown[]).some(eqSome);
      case '$nin': return !(v as unknown[]).some(eqSome);
      case '$all': return (v as unknown[]).length > 0 && (v as unknown[]).every((x) => cands.some((c) => equalValues(c, x)));
      case '$exists': return (cands.length > 0) === v;
      case '$size': return cands.some((c) => Array.isArray(c) && c.length === v);
      default: throw new Error(o);
    }
  };
  fc.assert(fc.property(doc, path, op, (d, p, [o, v]) => {
    const cands = candidates(d, p.split('.'));
    const expected = definition(cands, o, v);
    assert.equal(compileFilter({ [p]: { [o]: v } }).test(row(d)), expected, `${o}`);
    assert.equal(compileFilter({ [p]: { $not: { [o]: v } } }).test(row(d)), !expected, `$not ${o}`);
    if (o === '$eq') assert.equal(compileFilter({ [p]: v }).test(row(d)), expected, 'bare value');
  }), { numRuns: 6000 });
});

test('constraints are necessary: every matching row satisfies them', () => {
  const val = fc.oneof(filterScalar, fc.array(filterScalar, { maxLength: 2 }));
  const doc = fc.record({ a: fc.oneof(scalar, fc.array(scalar, { maxLength: 3 })), b: fc.oneof(scalar, fc.array(fc.record({ c: scalar }), { maxLength: 2 })) }, { requiredKeys: [] });
  const entry = fc.tuple(fc.constantFrom('a', 'b.c'), fc.oneof(
    val,
    fc.tuple(fc.constantFrom('$eq', '$gt', '$gte', '$lt', '$lte'), val).map(([o, v]) => ({ [o]: v })),
    fc.array(val, { maxLength: 3 }).map((l) => ({ $in: l })),
    fc.array(val, { maxLength: 2 }).map((l) => ({ $all: l })),
  ));
  const filter = fc.array(entry, { minLength: 1, maxLength: 4 }).map((es) => ({ $and: es.map(([p, c]) => ({ [p]: c })) }));
  fc.assert(fc.property(doc, filter, (d, f) => {
    const c = compileFilter(f);
    if (!c.test(row(d))) return;
    for (const [path, con] of c.constraints) {
      const cands = candidates(d, path.split('.'));
      if (con.in) assert.ok(con.in.some((v) => cands.some((x) => equalValues(x, v)) || (v === null && cands.length === 0)), `in on ${path}`);
      const within = (b: { value: unknown; inclusive: boolean }, s: 1 | -1): boolean => cands.some((x) => {
        if (classOf(x) !== classOf(b.value)) return false;
        const r = compareValues(x, b.value) * s;
        return r > 0 || (r === 0 && b.inclusive);
      });
      if (con.lower) assert.ok(within(con.lower, 1), `lower on ${path}`);
      if (con.upper) assert.ok(within(con.upper, -1), `upper on ${path}`);
    }
  }), { numRuns: 6000 });
});

// ---------------------------------------------------------------------------------------------
// Refused input
// ---------------------------------------------------------------------------------------------

function refused(filter: unknown, message: RegExp): void {
  assert.throws(() => compileFilter(filter), (err: unknown) => {
    assert.ok(err instanceof StorageValidationError, `expected StorageValidationError, got ${String(err)}`);
    assert.equal(err.code, 'STORAGE_VALIDATION');
    assert.match(err.message, message);
    return true;
  });
}

test('refused filters throw StorageValidationError saying what and where', () => {
  let deep: unknown = 1;
  for (let i = 0; i < 40; i++) deep = { $and: [deep] };
  let deepValue: unknown = 1;
  for (let i = 0; i < 40; i++) deepValue = [deepValue];
  const cases: [unknown, RegExp][] = [
    [null, /^filter: a filter must be a plain object, got null/],
    [[{ a: 1 }], /^filter: a filter must be a plain object, got an array/],
    [new Map(), /^filter: a filter must be a plain object/],
    [{ a: { $foo: 1 } }, /^filter\.a\.\$foo: unknown operator \$foo/],
    [{ $foo: 1 }, /^filter\.\$foo: unknown filter operator \$foo/],
    [{ $gt: 1 }, /^filter\.\$gt: unknown filter operator .*belongs in a condition/],
    [{ a: { $or: [] } }, /^filter\.a\.\$or: unknown operator .*filter level/],
    [{ $where: 'this.a > 1' }, /^filter\.\$where: \$where is refused/],
    [{ a: { $where: 'x' } }, /^filter\.a\.\$where: \$where is refused/],
    [{ a: () => 1 }, /^filter\.a: functions are refused/],
    [{ a: { $in: [1, Symbol('s')] } }, /^filter\.a\.\$in\[1\]: symbols are refused/],
    [{ [Symbol('s')]: 1 }, /^filter: symbol keys are refused/],
    [{ a: { b: { c: () => 1 } } }, /^filter\.a\.b\.c: functions are refused/],
    [{ a: { $not: 5 } }, /^filter\.a\.\$not: \$not needs a RegExp or a non-empty operator object/],
    [{ a: { $not: {} } }, /^filter\.a\.\$not: \$not needs/],
    [{ a: { $not: { b: 1 } } }, /^filter\.a\.\$not: \$not needs/],
    [{ a: { $elemMatch: [1] } }, /^filter\.a\.\$elemMatch: \$elemMatch needs a plain object/],
    [{ a: { $elemMatch: new Map() } }, /^filter\.a\.\$elemMatch: \$elemMatch needs a plain object/],
    [{ a: { $elemMatch: { $and: [{ p: 1 }] } } }, /^filter\.a\.\$elemMatch\.\$and: unknown operator/],
    [{ a: new Map() }, /^filter\.a: a Map is refused in filters/],
    [{ a: new Set() }, /^filter\.a: a Set is refused/],
    [{ a: new (class Point { x = 1; })() }, /^filter\.a: an object that is not a plain object is refused/],
    [{ a: Object(1) }, /^filter\.a: a Number is refused/],
    [{ a: new Error('e') }, /^filter\.a: a Error is refused/],
    [{ a: new DataView(new ArrayBuffer(1)) }, /^filter\.a: a DataView is refused/],
    [{ a: /x/ }, /^filter\.a: a bare RegExp is refused/],
    [{ a: { $in: [/x/] } }, /^filter\.a\.\$in\[0\]: a RegExp is only accepted under \$regex or \$not/],
    [{ a: { $eq: { b: /x/ } } }, /^filter\.a\.\$eq\.b: a RegExp is only accepted/],
    [{ a: { $gt: new Map() } }, /^filter\.a\.\$gt: a Map is refused/],
    [{ a: undefined }, /^filter\.a: undefined is not a filter value/],
    [{ a: { $eq: [1, undefined] } }, /^filter\.a\.\$eq\[1\]: undefined/],
    // eslint-disable-next-line no-sparse-arrays
    [{ a: { $in: [1, , 2] } }, /^filter\.a\.\$in\[1\]: a hole/],
    [{ a: { $in: 1 } }, /^filter\.a\.\$in: \$in needs an array, got number 1/],
    [{ a: { $nin: 'ab' } }, /^filter\.a\.\$nin: \$nin needs an array/],
    [{ a: { $all: { 0: 1 } } }, /^filter\.a\.\$all: \$all needs an array/],
    [{ a: { $size: -1 } }, /^filter\.a\.\$size: must be a non-negative integer, got number -1/],
    [{ a: { $size: 1.5 } }, /^filter\.a\.\$size: must be a non-negative integer/],
    [{ a: { $size: '1' } }, /^filter\.a\.\$size: must be a non-negative integer/],
    [{ a: { $size: 1n } }, /^filter\.a\.\$size: must be a non-negative integer/],
    [{ a: { $exists: 1 } }, /^filter\.a\.\$exists: must be true or false, got number 1/],
    [{ a: { $regex: 'x', $options: 'g' } }, /^filter\.a\.\$options: only the letters i, m, s and u/],
    [{ a: { $regex: 'x', $options: 5 } }, /^filter\.a\.\$options: only the letters/],
    [{ a: { $options: 'i' } }, /^filter\.a\.\$options: \$options needs \$regex/],
    [{ a: { $regex: 'x'.repeat(1025) } }, /^filter\.a\.\$regex: the pattern is 1025 characters long/],
    [{ a: { $regex: new RegExp('x'.repeat(1025)) } }, /^filter\.a\.\$regex: the pattern is 1025/],
    [{ a: { $regex: '(' } }, /^filter\.a\.\$regex: the pattern does not compile/],
    [{ a: { $regex: 5 } }, /^filter\.a\.\$regex: must be a string or a RegExp/],
    [{ $and: [] }, /^filter\.\$and: \$and needs a non-empty array of filters/],
    [{ $or: {} }, /^filter\.\$or: \$or needs a non-empty array/],
    [{ $nor: [1] }, /^filter\.\$nor\[0\]: a filter must be a plain object, got number 1/],
    [{ 'a..b': 1 }, /^filter: path "a\.\.b" has an empty segment/],
    [{ 'a.': 1 }, /empty segment/],
    [{ '': 1 }, /empty segment/],
    [{ 'a.__proto__.b': 1 }, /^filter: path "a\.__proto__\.b": the segment "__proto__" is refused/],
    [{ 'constructor.prototype.x': 1 }, /"constructor" is refused/],
    [{ [Array(33).fill('a').join('.')]: 1 }, /33 segments/],
    [deep, /nests deeper than 32 levels/],
    [{ a: deepValue }, /nests deeper than 32 levels/],
    [{ a: { $gt: 1, b: 2 } }, /^filter\.a: an object mixing \$-operators and field names is refused/],
    [{ a: { b: 2, $gt: 1 } }, /^filter\.a: an object mixing/],
    [{ $meta: 1 }, /only such paths/],
    [{ '$meta.foo': 1 }, /only such paths/],
    [{ '$key.x': 1 }, /unknown filter operator/],
    [{ a: { $elemMatch: { $key: 'x' } } }, /^filter\.a\.\$elemMatch\.\$key: unknown operator/],
    [{ a: { $elemMatch: { b: 1, $key: 'x' } } }, /^filter\.a\.\$elemMatch\.\$key: \$key addresses the entry and is refused inside \$elemMatch/],
    [{ a: { $elemMatch: { b: 1, '$meta.version': 1 } } }, /refused inside \$elemMatch/],
    [{ a: { $elemMatch: { b: 1, $gt: 1 } } }, /unknown filter operator \$gt/],
  ];
  for (const [filter, message] of cases) refused(filter, message);
  refused({ $or: [{ a: { $bad: 1 } }] }, /^filter\.\$or\[0\]\.a\.\$bad: unknown operator/);
  assert.throws(() => compileFilter({ a: { $bad: 1 } }, 'options.filter'), /^StorageValidationError: options\.filter\.a\.\$bad/);
  // Exactly at the limits is fine.
  let ok: unknown = 1;
  for (let i = 0; i < 31; i++) ok = [ok];
  compileFilter({ a: ok }); // the filter is level 1, the arrays levels 2..32
  refused({ a: [ok] }, /^filter\.a(\[0\]){31}: the filter nests deeper than 32 levels/);
  compileFilter({ a: { $regex: 'x'.repeat(1024) } });
});

test('prototype pollution corpus: refused, and Object.prototype untouched', () => {
  const corpus: unknown[] = [
    JSON.parse('{"__proto__": {"polluted": 1}}'),
    JSON.parse('{"a": {"__proto__": {"polluted": 1}}}'),
    JSON.parse('{"a": {"$eq": {"__proto__": {"polluted": 1}}}}'),
    JSON.parse('{"a": {"$in": [{"__proto__": {"polluted": 1}}]}}'),
    JSON.parse('{"$or": [{"__proto__": {"polluted": 1}}]}'),
    JSON.parse('{"a": {"$elemMatch": {"__proto__": {"polluted": 1}}}}'),
    JSON.parse('{"a": {"$not": {"__proto__": {"polluted": 1}}}}'),
    JSON.parse('{"a": {"$gt": 1, "__proto__": {"polluted": 1}}}'),
    { 'constructor.prototype.polluted': 1 },
    { '__proto__.polluted': 1 },
    { 'a.prototype': 1 },
    { $where: 'Object.prototype.polluted = 1' },
    { a: { $where: () => { (Object.prototype as Record<string, unknown>).polluted = 1; } } },
    { a: function () { (Object.prototype as Record<string, unknown>).polluted = 1; } },
  ];
  for (const f of corpus) {
    assert.throws(() => compileFilter(f), StorageValidationError, inspect(f));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  }
  assert.throws(() => compileSort(JSON.parse('{"__proto__": 1}')), StorageValidationError);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  // Documents may hold an own "__proto__": it is data, never a path.
  assert.equal(matches({ a: 1 }, JSON.parse('{"__proto__": {"a": 2}, "a": 1}')), true);
  assert.equal(matches({ a: { $eq: 2 } }, JSON.parse('{"__proto__": {"a": 2}}')), false);
  assert.equal(matches({ toString: { $exists: true } }, {}), false, 'inherited properties are not candidates');
});

// ---------------------------------------------------------------------------------------------
// Constraints
// ---------------------------------------------------------------------------------------------

test('constraints come from the top-level conjunction only', () => {
  const c = compileFilter({
    a: 1, b: { $in: [1, 2, null] }, c: { $gt: 5, $lte: 9 }, d: { $gte: 1 }, 'e.f': { $all: ['x', 'y'] },
    $and: [{ a: 2, d: { $gt: 3 } }, { $and: [{ d: { $gte: 3 }, g: { $lt: 'z' } }] }, { $or: [{ h: 1 }] }],
    '$meta.createdAt': { $gte: 100 }, $or: [{ i: 1 }], j: { $ne: 1, $gt: 0 }, k: { $nin: [1] }, l: { $not: { $eq: 1 } },
    m: { $regex: '^x' }, n: { $exists: true }, o: { $elemMatch: { $eq: 1 } }, p: { $size: 1 }, q: { $all: [] },
  });
  assert.deepEqual(Object.fromEntries(c.constraints), {
    a: { in: [1] }, // the first in, not the intersection (different candidates may satisfy each)
    b: { in: [1, 2, null] },
    c: { lower: { value: 5, inclusive: false }, upper: { value: 9, inclusive: true } },
    d: { lower: { value: 3, inclusive: false } }, // $gt 3 is tighter than $gte 3 and $gte 1
    'e.f': { in: ['x'] },
    g: { upper: { value: 'z', inclusive: false } },
    '$meta.createdAt': { lower: { value: 100, inclusive: true } },
    j: { lower: { value: 0, inclusive: false } },
    q: { in: [] },
  });
  assert.equal(c.keyConstraint, undefined);
  assert.deepEqual(compileFilter({ $or: [{ a: 1 }, { a: 2 }] }).constraints.size, 0);
  assert.deepEqual(compileFilter({ $nor: [{ a: 1 }] }).constraints.size, 0);
  assert.deepEqual(Object.fromEntries(compileFilter({ a: { $eq: null } }).constraints), { a: { in: [null] } });
  assert.deepEqual(Object.fromEntries(compileFilter({ a: { $in: [1], $eq: 2 } }).constraints), { a: { in: [1] } });
  assert.deepEqual(Object.fromEntries(compileFilter({ a: { $lt: 5 }, $and: [{ a: { $lte: 5 } }, { a: { $lt: 'b' } }] }).constraints),
    { a: { upper: { value: 5, inclusive: false } } }, 'tightest upper in the order (5 < "b")');
  assert.deepEqual(compileFilter({ a: { $elemMatch: { b: 1 } } }).constraints.size, 0);
});

test('keyConstraint: exact keys or a string range', () => {
  assert.deepEqual(compileFilter({ $key: 'a' }).keyConstraint, { in: ['a'] });
  assert.deepEqual(compileFilter({ $key: { $in: ['a', 1, null, 'b'] } }).keyConstraint, { in: ['a', 'b'] });
  assert.deepEqual(compileFilter({ $key: { $gte: 'a', $lt: 'b' }, $and: [{ $key: { $gt: 'a' } }] }).keyConstraint,
    { lower: { value: 'a', inclusive: false }, upper: { value: 'b', inclusive: false } });
  assert.deepEqual(compileFilter({ $key: { $gt: 5 } }).keyConstraint, { in: [] }, 'a number bound matches no key');
  assert.equal(compileFilter({ $or: [{ $key: 'a' }] }).keyConstraint, undefined);
  assert.equal(compileFilter({ $key: { $regex: '^a' } }).keyConstraint, undefined);
  assert.equal(compileFilter({ $key: 'a' }).constraints.size, 0, '$key never appears in constraints');
});

// ---------------------------------------------------------------------------------------------
// Sort
// ---------------------------------------------------------------------------------------------

test('compileSort: priority, directions, missing last, key tie-break', () => {
  assert.equal(compileSort(undefined), undefined);
  const rows = [row({ n: 2, s: 'b' }, 'k3'), row({ s: 'a' }, 'k1'), row({ n: 1, s: 'b' }, 'k2'), row({ n: 2, s: 'a' }, 'k4'),
    row({ n: 2, s: 'a' }, 'k0'), row('scalar', 'k5'), row({ n: 10n }, 'k6'), row({ n: null }, 'k7')];
  const keys = (sort: unknown): string[] => [...rows].sort(compileSort(sort)!.compare).map((r) => r.key);
  assert.deepEqual(keys({ n: 1 }), ['k7', 'k2', 'k0', 'k3', 'k4', 'k6', 'k1', 'k5']);
  assert.deepEqual(keys({ n: -1 }), ['k6', 'k0', 'k3', 'k4', 'k2', 'k7', 'k1', 'k5'], 'missing last when descending too');
  assert.deepEqual(keys({ n: 'desc', s: 'asc' }), ['k6', 'k0', 'k4', 'k3', 'k2', 'k7', 'k1', 'k5']);
  assert.deepEqual(keys({ $key: -1 }), ['k7', 'k6', 'k5', 'k4', 'k3', 'k2', 'k1', 'k0']);
  const s = compileSort({ 'a.1': 1, '$meta.version': -1, $key: 1 })!;
  assert.deepEqual(s.fields.map((f) => [f.path, f.segments, f.dir]), [['a.1', ['a', '1'], 1], ['$meta.version', ['$meta', 'version'], -1], ['$key', ['$key'], 1]]);
  assert.deepEqual(s.values(row({ a: [5, 6] }, 'kk')), [6, 3, 'kk']);
  assert.deepEqual(compileSort({ 'a.b': 1 })!.values(row({ a: [{ b: 1 }] })), [undefined], 'no fan-out');
  const m = compileSort({ '$meta.tags': 1 })!;
  assert.ok(m.compare(row(1, 'a', { ...META, tags: ['a'] }), row(1, 'b', { ...META, tags: ['a', 'b'] })) < 0);
  assert.ok(m.compare(row(1, 'a'), row(1, 'b', { ...META, tags: undefined })) < 0);
});

test('compileSort: compare agrees with compareValueLists over values(), and is a total order', () => {
  const s = compileSort({ a: 1, 'b.0': -1 })!;
  const rowArb = fc.tuple(fc.record({ a: anyValue, b: fc.array(anyValue, { maxLength: 2 }) }, { requiredKeys: [] }), fc.string({ maxLength: 2 }))
    .map(([v, k]) => row(v, k));
  fc.assert(fc.property(rowArb, rowArb, rowArb, (x, y, z) => {
    const r = sign(s.compare(x, y));
    assert.equal(sign(s.compare(y, x)), 0 - r || 0);
    assert.equal(sign(s.compareValueLists(s.values(x), s.values(y)) || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0)), r);
    if (r <= 0 && s.compare(y, z) <= 0) assert.ok(s.compare(x, z) <= 0);
  }), { numRuns: 3000 });
});

test('compileSort refuses bad sorts', () => {
  const cases: [unknown, RegExp][] = [
    [null, /^sort: must be a plain object/], [[['a', 1]], /^sort: must be a plain object/], ['a', /^sort: must be a plain object/],
    [{}, /^sort: needs at least one field/], [{ a: 0 }, /^sort\.a: a sort direction is 1, -1, 'asc' or 'desc', got 0/],
    [{ a: 'up' }, /^sort\.a: a sort direction .*got "up"/], [{ a: true }, /sort direction/],
    [Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`f${i}`, 1])), /^sort: has 9 fields; at most 8/],
    [{ 'a..b': 1 }, /^sort: path "a\.\.b" has an empty segment/], [{ 'a.constructor': 1 }, /"constructor" is refused/],
    [{ '$meta.nope': 1 }, /only such paths/], [{ $where: 1 }, /only such paths/],
  ];
  for (const [sort, re] of cases) {
    assert.throws(() => compileSort(sort), (e: unknown) => e instanceof StorageValidationError && re.test(e.message), String(re));
  }
  assert.throws(() => compileSort({ a: 2 }, 'options.sort'), /options\.sort\.a: a sort direction/);
});

test('a filter compiled once runs 100,000 rows quickly', () => {
  const f = compileFilter({ age: { $gte: 18, $lt: 65 }, status: { $in: ['active', 'trial'] }, 'address.city': 'Paris', tags: 'x' });
  const rows = Array.from({ length: 100_000 }, (_, i) => row({ age: i % 90, status: i % 3 ? 'active' : 'gone', address: { city: i % 2 ? 'Paris' : 'Rome' }, tags: ['x', 'y'] }, `k${i}`));
  const t0 = performance.now();
  let n = 0;
  for (const r of rows) if (f.test(r)) n++;
  const ms = performance.now() - t0;
  assert.ok(n > 0);
  assert.ok(ms < 500, `${ms.toFixed(0)} ms`);
});
