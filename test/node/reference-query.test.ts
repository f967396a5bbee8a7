/**
 * Tests of the naive reference evaluator (test/conformance/reference-query.ts) on hand-written
 * examples taken from docs/queries.md, so the reference can be trusted before it judges engines.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { refCompare, refMatches, refQuery, type RefRow } from '../conformance/reference-query.ts';
import { arbDoc, arbFilter, arbIndexedFilter, arbPage, arbSort } from '../conformance/query-arbitraries.ts';

const META = { createdAt: 1000, updatedAt: 2000, version: 1 };
const row = (value: unknown, key = 'k', meta: Partial<RefRow['meta']> = {}): RefRow => ({ key, value, meta: { ...META, ...meta } });
const matches = (value: unknown, filter: Record<string, unknown>): boolean => refMatches(row(value), filter);

/** Asserts, for each [document, expected] pair, whether `filter` matches it. */
function check(filter: Record<string, unknown>, cases: [unknown, boolean][]): void {
  for (const [doc, want] of cases) {
    assert.equal(matches(doc, filter), want, `${show(filter)} on ${show(doc)}`);
  }
}
const show = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x instanceof RegExp ? String(x) : Object.is(x, -0) ? '-0' : typeof x === 'number' && !Number.isFinite(x) ? String(x) : x));

// ------------------------------------------------------------------ paths and candidates

test('paths: the page examples of candidate values', () => {
  const tags = { tags: ['a', 'b'] };
  check({ tags: ['a', 'b'] }, [[tags, true]]);
  check({ tags: 'a' }, [[tags, true]]);
  check({ tags: 'b' }, [[tags, true]]);
  check({ tags: 'c' }, [[tags, false]]);
  check({ tags: ['b', 'a'] }, [[tags, false]]);

  const items = { items: [{ p: 1 }, { p: [2, 3] }] };
  for (const v of [1, [2, 3], 2, 3]) check({ 'items.p': v }, [[items, true]]);
  check({ 'items.p': [2] }, [[items, false]]);
  check({ 'items.p': 4 }, [[items, false]]);
});

test('paths: numeric segments index arrays, with no fan-out', () => {
  const items = { items: [{ p: 1 }, { p: [2, 3] }] };
  check({ 'items.0.p': 1 }, [[items, true]]);
  check({ 'items.0.p': 2 }, [[items, false]]);
  check({ 'items.1.p': 2 }, [[items, true]], ); // the final array is expanded one level
  check({ 'items.1': { p: [2, 3] } }, [[items, true]]);
  check({ 'items.2': { $exists: false } }, [[items, true]]);
  // `a.0` reads element 0; it does not look for a property "0" in the elements
  check({ 'a.0': 5 }, [[{ a: [{ 0: 5 }] }, false], [{ a: [5] }, true]]);
  // on a plain object, a digit segment is a property name
  check({ 'a.0': 5 }, [[{ a: { 0: 5 } }, true]]);
});

test('paths: fan-out is one level per array, over object elements only', () => {
  check({ 'a.b': 1 }, [
    [{ a: [{ b: 1 }, { b: 2 }] }, true],
    [{ a: [[{ b: 1 }]] }, false], // an array inside an array is not entered
    [{ a: [1, { c: 1 }] }, false],
    [{ a: [{ b: [[1]] }] }, false], // final array expanded one level only: candidates [[1]], [1]
    [{ a: [{ b: [[1], 1] }] }, true],
    [{ a: [{ x: [{ b: 1 }] }] }, false],
  ]);
  check({ 'a.x.b': 1 }, [[{ a: [{ x: [{ b: 1 }] }] }, true]]); // each array met on the way fans out
  check({ 'a.b': [1] }, [[{ a: [{ b: [[1]] }] }, true]]);
  check({ 'a.b': { $exists: false } }, [[{ a: [[{ b: 1 }]] }, true]]);
});

test('paths: non-objects have no fields; own properties only; undefined is missing', () => {
  for (const doc of ['str', 42, null, true, [1, 2], new Date(0)]) {
    check({ length: { $exists: true } }, [[doc, false]]);
  }
  check({ 'a.length': { $exists: true } }, [[{ a: 'abc' }, false], [{ a: [1, 2] }, false]]);
  check({ 'a.toString': { $exists: true } }, [[{ a: {} }, false]]);
  check({ 'a.getTime': { $exists: true } }, [[{ a: new Date(0) }, false]]);
  check({ a: { $exists: false } }, [[{ a: undefined }, true], [{}, true], [{ a: null }, false]]);
  check({ a: null }, [[{ a: undefined }, true]]);
  check({ 'a.b': 1 }, [[{ a: Object.assign(Object.create(null) as object, { b: 1 }) }, true]]);
  check({ a: 1 }, [['a', false], [{ a: 1 }, true]]);
});

test('paths: a null-prototype document and deep nesting', () => {
  const doc = Object.assign(Object.create(null) as object, { nested: { x: { y: 2 } } });
  check({ 'nested.x.y': 2 }, [[doc, true]]);
  check({ 'nested.x': { y: 2 } }, [[doc, true]]);
});

// ------------------------------------------------------------------ the total order

test('order: classes in rank order, values ordered within each class', () => {
  const ascending: unknown[] = [
    null,
    NaN, -Infinity, -1, 0, 1.5, Infinity,
    -5n, 0n, 10n,
    '', 'A', 'a', 'b', 'é', '\uFFFF', '\u{10000}', '😀',
    {}, { a: 1 }, { a: 1, b: 0 }, { a: 2 }, { b: 0 },
    [], [1], [1, 2], [2], ['a'],
    new Uint8Array([]), new Uint8Array([0]), new Uint8Array([0, 5]), new Uint8Array([1]),
    false, true,
    new Date(NaN), new Date(-1), new Date(0), new Date(5),
    new Map(),
  ];
  for (let i = 0; i < ascending.length; i++) {
    for (let j = 0; j < ascending.length; j++) {
      const want = Math.sign(i - j);
      assert.equal(refCompare(ascending[i], ascending[j]), want, `${show(ascending[i])} vs ${show(ascending[j])}`);
    }
  }
});

test('order: the edge cases the page names', () => {
  assert.equal(refCompare(-0, 0), 0);
  assert.equal(refCompare(NaN, NaN), 0);
  assert.equal(refCompare(NaN, -Infinity), -1);
  assert.equal(refCompare(10n, 5), 1, 'bigint ranks above every number');
  assert.equal(refCompare(1n, 1e300), 1);
  // code points, not UTF-16 code units ('\uFFFF' > '\u{10000}' with JS <)
  assert.ok('\u{10000}' < '\uFFFF');
  assert.equal(refCompare('\uFFFF', '\u{10000}'), -1);
  assert.equal(refCompare('\uD800', '\uE000'), -1, 'a lone surrogate is its code point');
  assert.equal(refCompare('a', 'ab'), -1, 'a prefix sorts first');
  // objects: key then value, in insertion order
  assert.equal(refCompare({ a: 2 }, { b: 1 }), -1);
  assert.equal(refCompare({ a: 1, b: 2 }, { b: 2, a: 1 }), -1);
  assert.equal(refCompare({ a: 1 }, { a: 1, b: 0 }), -1);
  // binary: bytes, then shorter first; any binary kind
  assert.equal(refCompare(new Uint8Array([1, 2]), new Uint8Array([1, 2]).buffer), 0);
  assert.equal(refCompare(new Uint8Array([2]), new Uint8Array([1, 9])), 1);
  assert.equal(refCompare(new DataView(new Uint8Array([9, 1, 2]).buffer, 1), new Uint8Array([1, 2])), 0);
  // other: all equal to each other in the order
  assert.equal(refCompare(new Map(), new Set([1])), 0);
  assert.equal(refCompare(/a/, new Error('x')), 0);
  assert.equal(refCompare(new Date(NaN), new Date(NaN)), 0);
});

// ------------------------------------------------------------------ equality

test('equality: structural, by class; NaN, -0, BigInt, Dates, objects, binary', () => {
  check({ n: NaN }, [[{ n: NaN }, true], [{ n: 0 }, false]]);
  check({ n: 0 }, [[{ n: -0 }, true]]);
  check({ n: -0 }, [[{ n: 0 }, true]]);
  check({ n: 10 }, [[{ n: 10n }, false], [{ n: 10 }, true], [{ n: '10' }, false]]);
  check({ n: 10n }, [[{ n: 10 }, false], [{ n: 10n }, true]]);
  check({ d: new Date(5) }, [[{ d: new Date(5) }, true], [{ d: new Date(6) }, false], [{ d: 5 }, false]]);
  check({ d: new Date(NaN) }, [[{ d: new Date(NaN) }, true]]);
  check({ o: { $eq: { a: 1, b: [2] } } }, [[{ o: { a: 1, b: [2] } }, true], [{ o: { b: [2], a: 1 } }, false], [{ o: { a: 1 } }, false]]);
  check({ o: { a: 1 } }, [[{ o: { a: 1 } }, true], [{ o: { a: 1, b: 1 } }, false]]);
  check({ b: new Uint8Array([1, 2]) }, [[{ b: new Uint8Array([1, 2]) }, true], [{ b: new Uint8Array([1, 2, 0]) }, false], [{ b: [1, 2] }, false]]);
  check({ s: 'a' }, [[{ s: 'A' }, false], [{ s: 'é' }, false]]);
  check({ s: 'é' }, [[{ s: 'e\u0301' }, false], [{ s: 'é' }, true]]);
  check({ x: true }, [[{ x: 1 }, false], [{ x: true }, true]]);
  check({ x: null }, [[{ x: false }, false], [{ x: 0 }, false]]);
});

test('equality: values of class other never equal anything', () => {
  const m = new Map();
  check({ m: { $eq: m } }, [[{ m }, false]]);
  check({ m: { $in: [m] } }, [[{ m }, false]]);
  check({ m: { $ne: m } }, [[{ m }, true]]);
  check({ m: { $exists: true } }, [[{ m }, true]]);
});

test('null matches missing ($eq, $in), and $ne/$nin negate that', () => {
  const cases = (want: [boolean, boolean, boolean, boolean]): [unknown, boolean][] =>
    [[{}, want[0]], [{ a: null }, want[1]], [{ a: 1 }, want[2]], ['not an object', want[3]]];
  check({ a: null }, cases([true, true, false, true]));
  check({ a: { $eq: null } }, cases([true, true, false, true]));
  check({ a: { $ne: null } }, cases([false, false, true, false]));
  check({ a: { $in: [null, 2] } }, cases([true, true, false, true]));
  check({ a: { $nin: [null] } }, cases([false, false, true, false]));
  check({ a: { $in: [1] } }, cases([false, false, true, false]));
  check({ 'a.b': null }, [[{ a: [1, 2] }, true], [{ a: [{ b: 1 }] }, false], [{ a: [{ b: 1 }, {}] }, false], [{ a: [{ b: null }] }, true]]);
  check({ a: { $gte: null } }, [[{ a: null }, true], [{}, false]]); // ranges need a candidate
  check({ a: { $all: [null] } }, [[{}, false], [{ a: [null] }, true]]);
});

// ------------------------------------------------------------------ operators

test('$eq / bare value / $ne on arrays', () => {
  check({ tags: { $eq: 'a' } }, [[{ tags: ['a', 'b'] }, true], [{ tags: [['a']] }, false]]);
  check({ tags: { $ne: 'a' } }, [[{ tags: ['a', 'b'] }, false], [{ tags: ['b'] }, true], [{}, true]]);
  check({ tags: [] }, [[{ tags: [] }, true], [{ tags: [[]] }, true], [{ tags: ['a'] }, false]]);
});

test('ranges: type bracketing, NaN, BigInt, strings, Dates, arrays', () => {
  check({ n: { $gt: 5 } }, [[{ n: 10n }, false], [{ n: 10 }, true], [{ n: '10' }, false], [{ n: 5 }, false], [{ n: Infinity }, true], [{ n: NaN }, false]]);
  check({ n: { $gt: 5n } }, [[{ n: 10n }, true], [{ n: 10 }, false]]);
  check({ n: { $gte: 5 } }, [[{ n: 5 }, true], [{ n: 4.9 }, false], [{ n: [1, 7] }, true], [{ n: [[7]] }, false]]);
  check({ n: { $lt: 0 } }, [[{ n: -0 }, false], [{ n: -1 }, true], [{ n: NaN }, true], [{ n: -Infinity }, true], [{ n: null }, false]]);
  check({ n: { $lte: -0 } }, [[{ n: 0 }, true]]);
  check({ n: { $lt: -Infinity } }, [[{ n: NaN }, true], [{ n: -Infinity }, false]]);
  check({ n: { $gte: NaN } }, [[{ n: NaN }, true], [{ n: -Infinity }, true], [{ n: 'x' }, false]]);
  check({ n: { $gt: NaN } }, [[{ n: NaN }, false], [{ n: -Infinity }, true]]);
  check({ s: { $gt: 'a' } }, [[{ s: 'b' }, true], [{ s: 'a' }, false], [{ s: 'ab' }, true], [{ s: 'B' }, false], [{ s: 1 }, false]]);
  check({ s: { $gt: '\uFFFF' } }, [[{ s: '\u{10000}' }, true], [{ s: '😀' }, true], [{ s: '\uFFFE' }, false]]);
  check({ s: { $lt: '\u{10000}' } }, [[{ s: '\uFFFF' }, true]]);
  check({ d: { $gt: new Date(0) } }, [[{ d: new Date(1) }, true], [{ d: new Date(0) }, false], [{ d: 1 }, false], [{ d: new Date(NaN) }, false]]);
  check({ d: { $lt: new Date(-8.64e15) } }, [[{ d: new Date(NaN) }, true]]);
  check({ b: { $gt: false } }, [[{ b: true }, true], [{ b: 1 }, false]]);
  check({ a: { $gt: [1] } }, [[{ a: [1, 2] }, true], [{ a: [1] }, false], [{ a: [0, 9] }, false], [{ a: 5 }, false]]);
  check({ a: { $gt: [1] } }, [[{ a: [[2]] }, true]]); // the element [2] is a candidate
  check({ o: { $gt: { a: 1 } } }, [[{ o: { a: 2 } }, true], [{ o: { b: 0 } }, true], [{ o: { a: 0 } }, false], [{ o: [1] }, false]]);
  check({ x: { $gt: new Uint8Array([1]) } }, [[{ x: new Uint8Array([1, 0]) }, true], [{ x: new Uint8Array([0, 9]) }, false]]);
});

test('several operators in one object each match on their own (any candidate)', () => {
  check({ a: { $gt: 5, $lt: 2 } }, [[{ a: [1, 10] }, true], [{ a: 3 }, false], [{ a: [3] }, false]]);
  check({ a: { $gte: 1, $lt: 5 } }, [[{ a: 1 }, true], [{ a: 5 }, false], [{ a: '3' }, false]]);
  check({ a: { $ne: 1, $exists: true } }, [[{ a: 2 }, true], [{ a: 1 }, false], [{}, false]]);
});

test('$in / $nin', () => {
  check({ a: { $in: [1, 'x'] } }, [[{ a: 1 }, true], [{ a: 'x' }, true], [{ a: 2 }, false], [{ a: [2, 'x'] }, true], [{ a: 1n }, false]]);
  check({ a: { $in: [] } }, [[{ a: 1 }, false], [{}, false]]);
  check({ a: { $nin: [] } }, [[{ a: 1 }, true], [{}, true]]);
  check({ a: { $in: [[1, 2]] } }, [[{ a: [1, 2] }, true], [{ a: [[1, 2]] }, true], [{ a: [2, 1] }, false]]);
  check({ a: { $nin: [1, 2] } }, [[{ a: [3, 2] }, false], [{ a: [3] }, true], [{}, true]]);
  check({ a: { $in: [NaN, new Date(3)] } }, [[{ a: NaN }, true], [{ a: new Date(3) }, true], [{ a: 3 }, false]]);
});

test('$exists', () => {
  check({ a: { $exists: true } }, [[{ a: null }, true], [{ a: [] }, true], [{}, false], [{ a: undefined }, false], [7, false]]);
  check({ 'a.b': { $exists: true } }, [[{ a: [{}, { b: 0 }] }, true], [{ a: [{}] }, false], [{ a: 1 }, false]]);
  check({ 'a.1': { $exists: true } }, [[{ a: [0, 1] }, true], [{ a: [0] }, false], [{ a: [0, undefined] }, false]]);
  check({ a: { $exists: false } }, [[{ a: 0 }, false], [{}, true]]);
});

test('$regex: strings only, $options, RegExp flags kept, g and y ignored, code points with u', () => {
  check({ s: { $regex: '^a' } }, [[{ s: 'abc' }, true], [{ s: 'Abc' }, false], [{ s: 1 }, false], [{ s: ['x', 'ab'] }, true], [{}, false]]);
  check({ s: { $regex: '^a', $options: 'i' } }, [[{ s: 'Abc' }, true]]);
  check({ s: { $regex: /^a/i } }, [[{ s: 'Abc' }, true]]);
  check({ s: { $regex: /^A/, $options: 'i' } }, [[{ s: 'abc' }, true]]);
  check({ s: { $regex: /b/g } }, [[{ s: 'abc' }, true]]);
  const twice = { s: { $regex: /b/g } };
  assert.equal(matches({ s: 'abc' }, twice), true);
  assert.equal(matches({ s: 'abc' }, twice), true, 'a g regex is not stateful between rows');
  check({ s: { $regex: /b/y } }, [[{ s: 'abc' }, true]]); // sticky would anchor at 0
  check({ s: { $regex: '^.$' } }, [[{ s: '😀' }, false], [{ s: 'é' }, true], [{ s: 'e\u0301' }, false]]);
  check({ s: { $regex: '^.$', $options: 'u' } }, [[{ s: '😀' }, true]]);
  check({ s: { $regex: '^a.c$', $options: 's' } }, [[{ s: 'a\nc' }, true]]);
  check({ s: { $regex: '^c', $options: 'm' } }, [[{ s: 'a\nc' }, true]]);
  check({ s: { $regex: '^c' } }, [[{ s: 'a\nc' }, false]]);
  check({ n: { $regex: '1' } }, [[{ n: 1 }, false], [{ n: 1n }, false], [{ n: ['1'] }, true]]);
  check({ $key: { $regex: '^user\\.' } }, [[{}, false]]); // the default key is 'k'
});

test('$not: operator objects and RegExps; it matches missing', () => {
  check({ a: { $not: { $gt: 5 } } }, [[{ a: 3 }, true], [{ a: 7 }, false], [{}, true], [{ a: 'z' }, true], [{ a: [3, 7] }, false]]);
  check({ s: { $not: /^a/ } }, [[{ s: 'abc' }, false], [{ s: 'b' }, true], [{ s: 1 }, true], [{}, true]]);
  check({ s: { $not: { $regex: '^a', $options: 'i' } } }, [[{ s: 'Abc' }, false]]);
  check({ a: { $not: { $eq: null } } }, [[{}, false], [{ a: 1 }, true]]);
  check({ a: { $not: { $in: [1, 2] }, $exists: true } }, [[{ a: 3 }, true], [{ a: 1 }, false], [{}, false]]);
  check({ a: { $not: { $elemMatch: { $gt: 1 } } } }, [[{ a: [0, 1] }, true], [{ a: [0, 2] }, false], [{}, true]]);
});

test('$all', () => {
  check({ tags: { $all: ['a', 'b'] } }, [[{ tags: ['b', 'x', 'a'] }, true], [{ tags: ['a'] }, false], [{ tags: 'a' }, false]]);
  check({ tags: { $all: ['a'] } }, [[{ tags: 'a' }, true], [{ tags: ['a'] }, true]]);
  check({ tags: { $all: [] } }, [[{ tags: [] }, false], [{ tags: ['a'] }, false], [{}, false]]);
  check({ tags: { $all: [['a', 'b']] } }, [[{ tags: ['a', 'b'] }, true], [{ tags: [['a', 'b']] }, true]]);
  check({ 'items.p': { $all: [1, 3] } }, [[{ items: [{ p: 1 }, { p: [2, 3] }] }, true]]);
});

test('$elemMatch: condition form on each element, filter form on element documents', () => {
  check({ a: { $elemMatch: { $gte: 2, $lt: 4 } } }, [[{ a: [1, 5] }, false], [{ a: [1, 3] }, true], [{ a: 3 }, false], [{}, false], [{ a: [] }, false]]);
  check({ a: { $gte: 2, $lt: 4 } }, [[{ a: [1, 5] }, true]]); // contrast: without $elemMatch
  check({ items: { $elemMatch: { p: 1, q: 2 } } }, [
    [{ items: [{ p: 1, q: 2 }] }, true],
    [{ items: [{ p: 1 }, { q: 2 }] }, false],
    [{ items: [{ p: [0, 1], q: 2 }] }, true],
    [{ items: { p: 1, q: 2 } }, false],
  ]);
  check({ 'items.p': { p: 1, q: 2 } }, [[{ items: [{ p: 1 }, { q: 2 }] }, false]]);
  check({ items: { $elemMatch: { p: { $gt: 1 }, $or: [{ q: 'x' }, { q: 'y' }] } } }, [
    [{ items: [{ p: 2, q: 'y' }] }, true],
    [{ items: [{ p: 2, q: 'z' }, { p: 0, q: 'x' }] }, false],
  ]);
  check({ items: { $elemMatch: { p: null } } }, [[{ items: [5] }, true], [{ items: [{ p: 3 }] }, false], [{ items: [] }, false]]);
  // the candidates of a path include nested arrays, so $elemMatch sees their elements too
  check({ a: { $elemMatch: { $eq: 1 } } }, [[{ a: [[1, 2]] }, true], [{ a: [[[1]]] }, false]]);
  check({ a: { $elemMatch: { $size: 2 } } }, [[{ a: [[1, 2]] }, true], [{ a: [1, 2] }, false]]);
  check({ 'items.p': { $elemMatch: { $gt: 2 } } }, [[{ items: [{ p: 1 }, { p: [2, 3] }] }, true], [{ items: [{ p: 3 }] }, false]]);
  check({ a: { $elemMatch: { $elemMatch: { $eq: 7 } } } }, [[{ a: [[7]] }, true], [{ a: [7] }, false]]);
});

test('$size', () => {
  check({ a: { $size: 2 } }, [[{ a: [1, 2] }, true], [{ a: [1] }, false], [{ a: 'ab' }, false], [{ a: { length: 2 } }, false], [{}, false]]);
  check({ a: { $size: 0 } }, [[{ a: [] }, true], [{}, false]]);
  check({ a: { $size: 1 } }, [[{ a: [[1, 2], 3] }, false], [{ a: [[1], 3, 4] }, true]]); // an element array is a candidate
  check({ 'items.p': { $size: 2 } }, [[{ items: [{ p: 1 }, { p: [2, 3] }] }, true]]);
});

test('logical operators, at the top and nested, with the implicit top-level AND', () => {
  check({ $and: [{ a: 1 }, { b: 2 }] }, [[{ a: 1, b: 2 }, true], [{ a: 1 }, false]]);
  check({ $or: [{ a: 1 }, { b: 2 }] }, [[{ b: 2 }, true], [{ a: 2 }, false]]);
  check({ $nor: [{ a: 1 }, { b: 2 }] }, [[{ a: 2 }, true], [{ b: 2 }, false], [{}, true]]);
  check({ a: 1, $or: [{ b: 1 }, { $and: [{ c: 1 }, { $nor: [{ d: 1 }] }] }] }, [
    [{ a: 1, b: 1 }, true], [{ a: 1, c: 1 }, true], [{ a: 1, c: 1, d: 1 }, false], [{ b: 1 }, false],
  ]);
  check({}, [[{}, true], [1, true]]);
  assert.equal(refMatches(row({}), undefined), true);
});

test('$key and $meta paths address the entry, not the value', () => {
  const r = row({ version: 9, key: 'v' }, 'user.\u{10000}', { version: 3, tags: ['a', 'b'], ttl: 60, expiresAt: 61000 });
  const m = (filter: Record<string, unknown>) => refMatches(r, filter);
  assert.equal(m({ $key: 'user.\u{10000}' }), true);
  assert.equal(m({ $key: { $gt: 'user.\uFFFF' } }), true, '$key ranges use code point order');
  assert.equal(m({ $key: { $regex: '^user\\.', $options: 'u' } }), true);
  assert.equal(m({ key: 'v', version: 9 }), true);
  assert.equal(m({ '$meta.version': 3 }), true);
  assert.equal(m({ '$meta.version': { $gte: 2, $lt: 4 } }), true);
  assert.equal(m({ '$meta.version': 9 }), false);
  assert.equal(m({ '$meta.tags': 'a' }), true);
  assert.equal(m({ '$meta.tags': { $all: ['b', 'a'] } }), true);
  assert.equal(m({ '$meta.tags': { $size: 2 } }), true);
  assert.equal(m({ '$meta.createdAt': { $lt: META.updatedAt } }), true);
  assert.equal(m({ '$meta.updatedAt': 2000 }), true);
  assert.equal(m({ '$meta.ttl': 60, '$meta.expiresAt': { $gt: 0 } }), true);
  assert.equal(m({ $or: [{ $key: 'nope' }, { '$meta.version': 3 }] }), true);
  const plain = row(1, 'k');
  assert.equal(refMatches(plain, { '$meta.ttl': { $exists: false } }), true);
  assert.equal(refMatches(plain, { '$meta.tags': null }), true);
  assert.equal(refMatches(plain, { '$meta.expiresAt': null }), true);
});

// ------------------------------------------------------------------ sort and paging

const rows: RefRow[] = [
  row({ n: 2, s: 'b' }, 'r.4'),
  row({ n: 1, s: 'a' }, 'r.2'),
  row({ s: 'c' }, 'r.1'),          // n missing
  row({ n: 1, s: '😀' }, 'r.3'),
  row({ n: null, s: 'A' }, 'r.5'),  // null is a value (rank 1), not missing
  row('no fields', 'r.0'),
  row({ n: -0, s: '\uFFFF' }, 'r.6'),
  row({ n: 0, s: '\u{10000}' }, 'r.7'),
];

test('no sort: key order in UTF-16 code units', () => {
  const keyed = [row(1, 'k.\uFFFF'), row(1, 'k.\u{10000}'), row(1, 'k.a'), row(1, 'k.B')];
  assert.deepEqual(refQuery(keyed, {}), ['k.B', 'k.a', 'k.\u{10000}', 'k.\uFFFF']);
  assert.deepEqual(refQuery(rows, {}), ['r.0', 'r.1', 'r.2', 'r.3', 'r.4', 'r.5', 'r.6', 'r.7']);
  assert.deepEqual(refQuery(rows, { sort: {} }), refQuery(rows, {}));
});

test('sort: missing last in both directions, ties by key ascending', () => {
  assert.deepEqual(refQuery(rows, { sort: { n: 1 } }), ['r.5', 'r.6', 'r.7', 'r.2', 'r.3', 'r.4', 'r.0', 'r.1']);
  assert.deepEqual(refQuery(rows, { sort: { n: -1 } }), ['r.4', 'r.2', 'r.3', 'r.6', 'r.7', 'r.5', 'r.0', 'r.1']);
  assert.deepEqual(refQuery(rows, { sort: { n: 'asc' } }), refQuery(rows, { sort: { n: 1 } }));
  assert.deepEqual(refQuery(rows, { sort: { n: 'desc' } }), refQuery(rows, { sort: { n: -1 } }));
});

test('sort: strings by code point, several keys in priority order', () => {
  assert.deepEqual(refQuery(rows, { sort: { s: 1 } }), ['r.5', 'r.2', 'r.4', 'r.1', 'r.6', 'r.7', 'r.3', 'r.0']);
  assert.deepEqual(refQuery(rows, { sort: { n: -1, s: -1 } }), ['r.4', 'r.3', 'r.2', 'r.7', 'r.6', 'r.5', 'r.1', 'r.0']);
  assert.deepEqual(refQuery(rows, { sort: { n: 1, s: 1 }, filter: { n: { $exists: true } } }), ['r.5', 'r.6', 'r.7', 'r.2', 'r.3', 'r.4']);
});

test('sort: mixed classes, NaN, BigInt, Dates, and values reached without fan-out', () => {
  const mixed = [
    row({ v: true }, 'm.a'), row({ v: 10n }, 'm.b'), row({ v: 'x' }, 'm.c'), row({ v: NaN }, 'm.d'), row({ v: -Infinity }, 'm.e'),
    row({ v: new Date(0) }, 'm.f'), row({ v: [1] }, 'm.g'), row({ v: { a: 1 } }, 'm.h'), row({ v: null }, 'm.i'), row({ v: new Date(NaN) }, 'm.j'),
    row({ v: 5 }, 'm.k'), row({ v: new Uint8Array([1]) }, 'm.l'), row({ v: undefined }, 'm.m'), row({}, 'm.n'), row({ v: new Map() }, 'm.o'),
  ];
  assert.deepEqual(refQuery(mixed, { sort: { v: 1 } }),
    ['m.i', 'm.d', 'm.e', 'm.k', 'm.b', 'm.c', 'm.h', 'm.g', 'm.l', 'm.a', 'm.j', 'm.f', 'm.o', 'm.m', 'm.n']);
  assert.deepEqual(refQuery(mixed, { sort: { v: -1 } }),
    ['m.o', 'm.f', 'm.j', 'm.a', 'm.l', 'm.g', 'm.h', 'm.c', 'm.b', 'm.k', 'm.e', 'm.d', 'm.i', 'm.m', 'm.n']);

  const arrays = [row({ t: ['b'], items: [{ p: 2 }] }, 'x.1'), row({ t: ['a', 'z'], items: [{ p: 1 }, { p: 9 }] }, 'x.2'), row({ t: 'c', items: [] }, 'x.3')];
  assert.deepEqual(refQuery(arrays, { sort: { t: 1 } }), ['x.3', 'x.2', 'x.1'], 'an array sorts as a whole (class array after string)');
  assert.deepEqual(refQuery(arrays, { sort: { 'items.0.p': -1 } }), ['x.1', 'x.2', 'x.3']);
  assert.deepEqual(refQuery(arrays, { sort: { 'items.p': 1 } }), ['x.1', 'x.2', 'x.3'], 'no fan-out: every value missing, key order');
  assert.deepEqual(refQuery(arrays, { sort: { 't.1': 1 } }), ['x.2', 'x.1', 'x.3']);
});

test('sort: by $meta and $key', () => {
  const metas = [row(1, 'a', { version: 2 }), row(1, 'b', { version: 1 }), row(1, 'c', { version: 2 })];
  assert.deepEqual(refQuery(metas, { sort: { '$meta.version': -1 } }), ['a', 'c', 'b']);
  const keyed = [row(1, 'k.\uFFFF'), row(1, 'k.\u{10000}')];
  assert.deepEqual(refQuery(keyed, { sort: { $key: 1 } }), ['k.\uFFFF', 'k.\u{10000}'], '$key sorts by code point');
  assert.deepEqual(refQuery(keyed, {}), ['k.\u{10000}', 'k.\uFFFF'], 'key order is by code unit');
});

test('paging: offset and limit', () => {
  const all = refQuery(rows, { sort: { n: 1 } });
  assert.deepEqual(refQuery(rows, { sort: { n: 1 }, limit: 3 }), all.slice(0, 3));
  assert.deepEqual(refQuery(rows, { sort: { n: 1 }, offset: 2, limit: 3 }), all.slice(2, 5));
  assert.deepEqual(refQuery(rows, { sort: { n: 1 }, offset: 7 }), all.slice(7));
  assert.deepEqual(refQuery(rows, { sort: { n: 1 }, offset: 99 }), []);
  assert.deepEqual(refQuery(rows, { limit: 0 }), []);
  assert.deepEqual(refQuery(rows, { filter: { n: 1 }, limit: 1 }), ['r.2']);
});

test('after without sort: strictly after the key, which need not exist', () => {
  assert.deepEqual(refQuery(rows, { after: 'r.3' }), ['r.4', 'r.5', 'r.6', 'r.7']);
  assert.deepEqual(refQuery(rows, { after: 'r.35' }), ['r.4', 'r.5', 'r.6', 'r.7']);
  assert.deepEqual(refQuery(rows, { after: 'r.3', offset: 1, limit: 2 }), ['r.5', 'r.6'], 'offset applies after after');
  assert.deepEqual(refQuery(rows, { after: 'r.3', filter: { s: { $exists: true } } }), ['r.4', 'r.5', 'r.6', 'r.7']);
  assert.deepEqual(refQuery(rows, { after: '' }), refQuery(rows, {}));
});

test('after with sort: the position is the current sort values of the record under after, then the key', () => {
  const sort = { n: 1 } as const;
  const at = (key: string) => rows.find((r) => r.key === key);
  assert.deepEqual(refQuery(rows, { sort, after: 'r.6' }, at('r.6')), ['r.7', 'r.2', 'r.3', 'r.4', 'r.0', 'r.1']);
  assert.deepEqual(refQuery(rows, { sort, after: 'r.2' }, at('r.2')), ['r.3', 'r.4', 'r.0', 'r.1']);
  assert.deepEqual(refQuery(rows, { sort: { n: -1 }, after: 'r.3' }, at('r.3')), ['r.6', 'r.7', 'r.5', 'r.0', 'r.1']);
  // after a record whose sort value is missing: only later missing ones
  assert.deepEqual(refQuery(rows, { sort, after: 'r.0' }, at('r.0')), ['r.1']);
  assert.deepEqual(refQuery(rows, { sort: { n: -1 }, after: 'r.0' }, at('r.0')), ['r.1']);
  // the record under `after` changed since the last page: its new value is the position
  const moved = row({ n: 2, s: 'z' }, 'r.2');
  assert.deepEqual(refQuery(rows, { sort, after: 'r.2' }, moved), ['r.4', 'r.0', 'r.1']);
  // it need not match the filter
  assert.deepEqual(refQuery(rows, { sort, after: 'r.2', filter: { n: { $ne: 1 } } }, at('r.2')), ['r.4', 'r.0', 'r.1']);
  // offset and limit apply after `after`
  assert.deepEqual(refQuery(rows, { sort, after: 'r.6', offset: 1, limit: 2 }, at('r.6')), ['r.2', 'r.3']);
});

test('after with sort and the record gone: StorageConflictError', () => {
  assert.throws(() => refQuery(rows, { sort: { n: 1 }, after: 'r.99' }, undefined), (e: unknown) => (e as { code?: string }).code === 'STORAGE_CONFLICT');
});

test('paging with after page by page gives the whole result once, in order', () => {
  const sorts: (Record<string, 1 | -1> | undefined)[] = [undefined, { n: 1 }, { n: -1 }, { s: -1, n: 1 }];
  for (const sort of sorts) {
    const all = refQuery(rows, sort ? { sort } : {});
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = refQuery(rows, { ...(sort ? { sort } : {}), limit: 3, ...(after === undefined ? {} : { after }) }, rows.find((r) => r.key === after));
      if (page.length === 0) break;
      seen.push(...page);
      after = page[page.length - 1];
    }
    assert.deepEqual(seen, all, show(sort));
  }
});

// ------------------------------------------------------------------ the arbitraries

test('arbitraries: filters use every operator, and the reference is total over them', () => {
  const seen = new Set<string>();
  const walk = (v: unknown): void => {
    if (typeof v !== 'object' || v === null || v instanceof Date || v instanceof RegExp || ArrayBuffer.isView(v)) return;
    for (const [k, x] of Object.entries(v)) {
      if (k.startsWith('$')) seen.add(k);
      if (k.includes('.')) seen.add('dotted');
      walk(x);
    }
  };
  let partial = 0;
  fc.assert(fc.property(fc.array(arbDoc, { minLength: 1, maxLength: 12 }), arbFilter, arbSort, arbPage, (docs, filter, sort, page) => {
    walk(filter);
    const rs = docs.map((d, i) => row(d, `q.${i}`, { version: 1 + (i % 3), tags: i % 2 ? ['a'] : [] }));
    const all = refQuery(rs, { filter });
    if (all.length > 0 && all.length < rs.length) partial++;
    const paged = refQuery(rs, { filter, ...(sort ? { sort } : {}), ...page });
    assert.ok(paged.every((k) => all.includes(k)));
    for (const r of rs) assert.equal(typeof refMatches(r, filter), 'boolean');
  }), { numRuns: 500, seed: 42 });
  for (const op of ['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists', '$regex', '$options', '$and', '$or', '$nor',
    '$not', '$all', '$elemMatch', '$size', '$key', '$meta.version', '$meta.tags', '$meta.createdAt', 'dotted']) {
    assert.ok(seen.has(op), `arbFilter never used ${op}`);
  }
  assert.ok(partial > 40, `only ${partial} of 500 filters split the documents`); // 75 with this seed
});

test('arbitraries: indexed filters constrain the field at the top level', () => {
  for (const f of ['a', 'nested.x', '$meta.version', 'tags']) {
    for (const filter of fc.sample(arbIndexedFilter(f), { numRuns: 100, seed: 1 })) {
      const cond = filter[f];
      assert.ok(cond !== undefined, f);
      if (typeof cond === 'object' && cond !== null && Object.getPrototypeOf(cond) === Object.prototype) {
        const ops = Object.keys(cond);
        assert.ok(ops.every((k) => ['$eq', '$in', '$gt', '$gte', '$lt', '$lte'].includes(k)), show(cond));
      }
    }
  }
});
