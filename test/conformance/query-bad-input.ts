/**
 * Malformed queries, sorts, paging options, index definitions and search options: each one a
 * StorageValidationError that reads and writes nothing (docs/queries.md "Refused"), and a
 * prototype-pollution corpus after which `Object.prototype` is untouched.
 */
import type { Declare, Fixture, Target } from './types';
import { deepEqual, equal, ok } from '../support/assert';
import { rejectsUnchanged, snapshot, storeRunner } from './util';

type Storage = Fixture['storage'];

/** `{ $and: [{ $and: [ … { a: 1 } … ] }] }` with `depth` levels of $and. */
function deepAnd(depth: number): Record<string, unknown> {
  let f: Record<string, unknown> = { a: 1 };
  for (let i = 0; i < depth; i++) f = { $and: [f] };
  return f;
}

/** `{ a: { b: { b: … 1 } } }`: a bare value nested `depth` levels. */
function deepValue(depth: number): Record<string, unknown> {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { b: v };
  return { a: v };
}

/** `{ a: { $not: { $not: … { $eq: 1 } } } }` */
function deepNot(depth: number): Record<string, unknown> {
  let c: Record<string, unknown> = { $eq: 1 };
  for (let i = 0; i < depth; i++) c = { $not: c };
  return { a: c };
}

/** `{ a: { $elemMatch: { a: { $elemMatch: … } } } }` */
function deepElemMatch(depth: number): Record<string, unknown> {
  let f: Record<string, unknown> = { a: 1 };
  for (let i = 0; i < depth; i++) f = { a: { $elemMatch: f } };
  return f;
}

/** An object whose own key is `key` (even `__proto__`), without invoking setters. */
function own(key: string, value: unknown, rest: Record<string, unknown> = {}): Record<string, unknown> {
  const o: Record<string, unknown> = { ...rest };
  Object.defineProperty(o, key, { value, enumerable: true, configurable: true, writable: true });
  return o;
}

class Custom { $gt = 1; }

/** Every malformed filter of docs/queries.md "Refused", by item. */
function badFilters(): [string, unknown][] {
  const withProto = Object.assign(Object.create({ inherited: 1 }) as object, { $gt: 1 });
  return [
    // Unknown operators
    ['unknown operator in a condition', { a: { $foo: 1 } }],
    ['unknown operator next to a known one', { a: { $eq: 1, $bar: 2 } }],
    ['$type (not supported)', { a: { $type: 'string' } }],
    ['$mod (not supported)', { a: { $mod: [2, 0] } }],
    ['$text at the top', { $text: { $search: 'x' } }],
    ['$expr at the top', { $expr: { $gt: ['$a', 1] } }],
    ['$comment at the top', { $comment: 'x' }],
    ['logical operator inside a condition', { a: { $and: [{ $gt: 1 }] } }],
    ['an unknown $flags next to $regex', { a: { $regex: 'x', $flags: 'i' } }],
    // $where
    ['$where string', { $where: 'this.a === 1' }],
    ['$where function', { $where: function () { return true; } }],
    ['$where in a condition', { a: { $where: 'true' } }],
    ['$where inside $and', { $and: [{ $where: 'true' }] }],
    ['$where inside $elemMatch', { a: { $elemMatch: { $where: 'true' } } }],
    // Functions or symbols anywhere
    ['a function as a value', { a: () => 1 }],
    ['a function under $eq', { a: { $eq: () => 1 } }],
    ['a function in $in', { a: { $in: [1, () => 1] } }],
    ['a function inside an object value', { a: { b: () => 1 } }],
    ['a function inside an array value', { a: [1, [() => 1]] }],
    ['a valueOf function in a bound', { a: { $gt: { valueOf: () => 1 } } }],
    ['a function inside $or', { $or: [{ a: () => 1 }] }],
    ['a function inside $elemMatch', { a: { $elemMatch: { b: () => 1 } } }],
    ['a symbol as a value', { a: Symbol('x') }],
    ['a symbol in $in', { a: { $in: [Symbol('x')] } }],
    ['a symbol in $all', { a: { $all: [Symbol.iterator] } }],
    ['a symbol key in the filter', { [Symbol('k')]: 1, a: 1 }],
    ['a symbol key in a condition', { a: { $eq: 1, [Symbol('k')]: 1 } }],
    ['a symbol key in an object value', { a: { b: 1, [Symbol('k')]: 1 } }],
    // Non-plain objects as operator objects
    ['an operator object with another prototype', { a: withProto }],
    ['a class instance with $-fields', { a: new Custom() }],
    // Class instances as values (only Date, typed arrays, ArrayBuffer; RegExp under $regex/$not)
    ['a Map', { a: new Map() }],
    ['a Set', { a: new Set([1]) }],
    ['a class instance', { a: new (class Foo { x = 1; })() }],
    ['an Error', { a: new Error('x') }],
    ['a boxed Number', { a: new Number(1) }],
    ['a boxed String', { a: new String('x') }],
    ['a boxed Boolean', { a: new Boolean(true) }],
    ['a Promise', { a: Promise.resolve(1) }],
    ['a WeakMap', { a: new WeakMap() }],
    ['a URL', { a: new URL('http://example.org/') }],
    ['a Map under $eq', { a: { $eq: new Map() } }],
    ['a Map under $ne', { a: { $ne: new Map() } }],
    ['a Set in $in', { a: { $in: [new Set()] } }],
    ['a Map in $nin', { a: { $nin: [new Map()] } }],
    ['a Map in $all', { a: { $all: [new Map()] } }],
    ['a Map as a range bound (class other)', { a: { $gt: new Map() } }],
    ['a Set as a range bound (class other)', { a: { $lte: new Set() } }],
    ['a Map nested in an object value', { a: { b: new Map() } }],
    ['a Map nested in an array value', { a: [new Map()] }],
    ['a RegExp as a bare value', { a: /x/ }],
    ['a RegExp under $eq', { a: { $eq: /x/ } }],
    ['a RegExp under $ne', { a: { $ne: /x/ } }],
    ['a RegExp in $in', { a: { $in: [/x/] } }],
    ['a RegExp as a range bound', { a: { $gt: /x/ } }],
    ['a RegExp in $all', { a: { $all: [/x/] } }],
    ['a RegExp nested in an object value', { a: { b: /x/ } }],
    // $in / $nin / $all not arrays
    ['$in a number', { a: { $in: 1 } }],
    ['$in a string', { a: { $in: 'ab' } }],
    ['$in a Set', { a: { $in: new Set([1]) } }],
    ['$nin an object', { a: { $nin: {} } }],
    ['$nin null', { a: { $nin: null } }],
    ['$all null', { a: { $all: null } }],
    ['$all a string', { a: { $all: 'ab' } }],
    // $size
    ['$size -1', { a: { $size: -1 } }],
    ['$size 1.5', { a: { $size: 1.5 } }],
    ['$size a string', { a: { $size: '1' } }],
    ['$size NaN', { a: { $size: NaN } }],
    ['$size Infinity', { a: { $size: Infinity } }],
    ['$size null', { a: { $size: null } }],
    ['$size a bigint', { a: { $size: 1n } }],
    ['$size true', { a: { $size: true } }],
    // $exists
    ['$exists 1', { a: { $exists: 1 } }],
    ['$exists 0', { a: { $exists: 0 } }],
    ['$exists a string', { a: { $exists: 'true' } }],
    ['$exists null', { a: { $exists: null } }],
    // $options
    ['$options g', { a: { $regex: 'x', $options: 'g' } }],
    ['$options x', { a: { $regex: 'x', $options: 'x' } }],
    ['$options y', { a: { $regex: 'x', $options: 'y' } }],
    ['$options d', { a: { $regex: 'x', $options: 'd' } }],
    ['$options v', { a: { $regex: 'x', $options: 'v' } }],
    ['$options I (upper case)', { a: { $regex: 'x', $options: 'I' } }],
    ['$options imsug', { a: { $regex: 'x', $options: 'imsug' } }],
    ['$options a number', { a: { $regex: 'x', $options: 1 } }],
    // Regex too long, or not compiling
    ['a regex source of 1025 characters', { a: { $regex: 'a'.repeat(1025) } }],
    ['a RegExp of 1025 characters', { a: { $regex: new RegExp('a'.repeat(1025)) } }],
    ['a RegExp of 1025 characters under $not', { a: { $not: new RegExp('b'.repeat(1025)) } }],
    ['a regex that does not compile: (', { a: { $regex: '(' } }],
    ['a regex that does not compile: [a-', { a: { $regex: '[a-' } }],
    ['a regex that does not compile with u', { a: { $regex: '\\p{NotAProperty}', $options: 'u' } }],
    ['a regex that does not compile: a**', { a: { $regex: 'a**' } }],
    ['$regex a number', { a: { $regex: 5 } }],
    ['$regex null', { a: { $regex: null } }],
    ['$regex an object', { a: { $regex: { source: 'x' } } }],
    // $and / $or / $nor
    ['$and empty', { $and: [] }],
    ['$or empty', { $or: [] }],
    ['$nor empty', { $nor: [] }],
    ['$and an object', { $and: { a: 1 } }],
    ['$or a string', { $or: 'a' }],
    ['$nor null', { $nor: null }],
    ['$or a number', { $or: 1 }],
    ['$and holding a number', { $and: [1] }],
    ['$or holding null', { $or: [null] }],
    ['$nor holding an array', { $nor: [[]] }],
    ['$or holding a string after a filter', { $or: [{ a: 1 }, 'x'] }],
    ['$and holding a Map', { $and: [new Map()] }],
    ['empty $and nested in $or', { $or: [{ $and: [] }] }],
    // Paths with forbidden or empty segments
    ['path __proto__', own('__proto__', 1)],
    ['path constructor', { constructor: 1 }],
    ['path prototype', { prototype: 1 }],
    ['path a.__proto__', { 'a.__proto__': 1 }],
    ['path a.constructor.b', { 'a.constructor.b': 1 }],
    ['path a.prototype', { 'a.prototype': 1 }],
    ['empty path', { '': 1 }],
    ['path a..b', { 'a..b': 1 }],
    ['path .a', { '.a': 1 }],
    ['path a.', { 'a.': 1 }],
    ['path $key.length', { '$key.length': 3 }],
    ['path $meta.foo', { '$meta.foo': 1 }],
    ['path $meta.createdAt.x', { '$meta.createdAt.x': 1 }],
    ['bad path inside $or', { $or: [{ 'a..b': 1 }] }],
    ['bad path inside $nor', { $nor: [{ 'constructor.x': 1 }] }],
    ['bad path inside $elemMatch', { a: { $elemMatch: { 'b..c': 1 } } }],
    ['$key inside $elemMatch', { a: { $elemMatch: { $key: 'x' } } }],
    ['$meta inside $elemMatch', { a: { $elemMatch: { '$meta.version': 1 } } }],
    // Nesting deeper than 32 levels
    ['$and nested 40 levels', deepAnd(40)],
    ['a value nested 40 levels', deepValue(40)],
    ['$not nested 40 levels', deepNot(40)],
    ['$elemMatch nested 40 levels', deepElemMatch(40)],
    ['an array value nested 40 levels', { a: { $in: [JSON.parse('['.repeat(40) + ']'.repeat(40))] } }],
    // Top-level $-keys other than $and $or $nor $key $meta.<field>
    ['top-level $meta', { $meta: { createdAt: 1 } }],
    ['top-level $metax', { $metax: 1 }],
    ['top-level $keys', { $keys: 'x' }],
    ['top-level $eq', { $eq: 1 }],
    ['top-level $in', { $in: [1] }],
    ['top-level $not', { $not: { a: 1 } }],
    ['top-level $elemMatch', { $elemMatch: { a: 1 } }],
    ['top-level $size', { $size: 1 }],
    ['top-level $regex', { $regex: 'x' }],
    ['top-level $exists', { $exists: true }],
    // Operator objects mixing $-keys and field names
    ['operators then a field', { a: { $gt: 1, b: 2 } }],
    ['a field then operators', { a: { b: 2, $gt: 1 } }],
    // $not, $elemMatch: what they accept
    ['$not a number', { a: { $not: 5 } }],
    ['$not a string', { a: { $not: 'x' } }],
    ['$not an object without operators', { a: { $not: { b: 1 } } }],
    ['$not an empty object', { a: { $not: {} } }],
    ['$elemMatch a number', { a: { $elemMatch: 5 } }],
    ['$elemMatch an array', { a: { $elemMatch: [] } }],
    ['$elemMatch null', { a: { $elemMatch: null } }],
    ['$elemMatch a string', { a: { $elemMatch: 'x' } }],
    // The filter itself
    ['filter a string', 'x'],
    ['filter a number', 5],
    ['filter an array', []],
    ['filter a Map', new Map()],
    ['filter a RegExp', /x/],
    ['filter a function', () => true],
    ['filter a class instance', new Custom()],
  ];
}

const BAD_SORTS: [string, unknown][] = [
  ['sort a string', 'a'],
  ['sort an array', ['a']],
  ['sort a number', 1],
  ['sort a Map', new Map([['a', 1]])],
  ['direction 2', { a: 2 }],
  ['direction 0', { a: 0 }],
  ['direction -2', { a: -2 }],
  ['direction 1.5', { a: 1.5 }],
  ['direction "up"', { a: 'up' }],
  ['direction "ASC"', { a: 'ASC' }],
  ['direction true', { a: true }],
  ['direction null', { a: null }],
  ['direction a function', { a: () => 1 }],
  ['empty path', { '': 1 }],
  ['path a..b', { 'a..b': 1 }],
  ['path a.', { 'a.': 1 }],
  ['path __proto__', own('__proto__', 1)],
  ['path constructor', { constructor: 1 }],
  ['path a.prototype', { 'a.prototype': -1 }],
  ['path $meta.foo', { '$meta.foo': 1 }],
  ['path $foo', { $foo: 1 }],
  ['path $where', { $where: 1 }],
  ['one good key, one bad', { a: 1, 'b..c': -1 }],
];

const BAD_PAGING: [string, Record<string, unknown>][] = [];
for (const name of ['limit', 'offset']) {
  for (const [l, v] of [['-1', -1], ['1.5', 1.5], ['a string', '1'], ['NaN', NaN], ['Infinity', Infinity], ['null', null], ['true', true], ['2^53', 2 ** 53], ['a bigint', 1n]] as [string, unknown][]) {
    BAD_PAGING.push([`${name} ${l}`, { [name]: v }]);
  }
}
for (const [l, v] of [['a number', 5], ['empty', ''], ['null', null], ['an object', {}], ['an array', ['users.a']]] as [string, unknown][]) {
  BAD_PAGING.push([`after ${l}`, { after: v }]);
}
BAD_PAGING.push(['unknown option skip', { skip: 1 }], ['unknown option projection', { projection: { a: 1 } }], ['unknown option filters', { filters: {} }], ['unknown option $where', { $where: 'true' }]);

export function queryBadInputTests(test: Declare, target: Target): void {
  const withStore = storeRunner(target);

  /** Records of users.* (one with arrays), an index on age, a search index on `orders`. */
  const seed = async (storage: Storage) => {
    await storage.batchSet([
      { key: 'users.a', value: { a: 1, age: 30, name: 'Ada', tags: ['x', 'y'], items: [{ b: 1 }, { b: [2, 3] }] } },
      { key: 'users.b', value: { a: 2, age: 25, name: 'Bob', tags: [] }, tags: ['t'] },
      { key: 'users.c', value: 'not an object' },
      { key: 'orders.1', value: { total: 5, note: 'first order' } },
    ]);
    await storage.createIndex('users', 'age');
    await storage.createSearchIndex('orders', { fields: ['note'] });
  };

  /**
   * `rejectsUnchanged` (StorageValidationError) that also checks the index catalog did not
   * change. Failures are collected, so that one run reports every failing case; call `done()`.
   */
  let failures: string[] = [];
  const refused = async (storage: Storage, action: () => Promise<unknown>, label: string) => {
    try {
      const indexes = await storage.listIndexes();
      await rejectsUnchanged(storage, action, 'STORAGE_VALIDATION', label);
      deepEqual(await storage.listIndexes(), indexes, `${label}: the indexes changed after a rejected call`);
    } catch (e) {
      failures.push((e as Error).message);
    }
  };
  /**
   * Several calls, each refused with StorageValidationError, with one "nothing changed" check
   * (records and indexes) around all of them: the cheap form of `refused` for large matrices.
   */
  const refusedAll = async (storage: Storage, actions: [string, () => Promise<unknown>][]) => {
    const before = await snapshot(storage);
    const indexes = await storage.listIndexes();
    for (const [label, action] of actions) {
      let error: { code?: string; message?: string } | undefined;
      try {
        await action();
      } catch (e) {
        error = e as typeof error;
      }
      if (error?.code !== 'STORAGE_VALIDATION') failures.push(`${label}: expected STORAGE_VALIDATION, got ${error === undefined ? 'success' : `${error.code}: ${error.message}`}`);
    }
    try {
      deepEqual(await snapshot(storage), before, 'records');
      deepEqual(await storage.listIndexes(), indexes, 'indexes');
    } catch (e) {
      failures.push(`${actions.map(([l]) => l).join(' / ')}: the store changed after rejected calls: ${(e as Error).message}`);
    }
  };
  const done = () => {
    const f = failures;
    failures = [];
    ok(f.length === 0, `${f.length} case(s) failed:\n  ${f.join('\n  ')}`);
  };

  test('query bad input: every refused filter is a StorageValidationError on every entry point', withStore(async ({ storage }) => {
    failures = [];
    await seed(storage);
    const users = storage.collection('users');
    for (const [label, filter] of badFilters()) {
      await refused(storage, () => storage.query('users.*', { filter: filter as never }), `query(users.*) ${label}`);
      await refusedAll(storage, [
        [`query(**) ${label}`, () => storage.query('**', { filter: filter as never, sort: { age: 1 }, limit: 1 })],
        [`query(users.a) ${label}`, () => storage.query('users.a', { filter: filter as never })],
        [`query(index age) ${label}`, () => storage.query('users.*', { filter: filter as never, index: 'age' })],
        [`count ${label}`, () => storage.count('users.*', { filter: filter as never })],
        [`explain ${label}`, () => storage.explain('users.*', { filter: filter as never })],
        [`find ${label}`, () => users.find({ filter: filter as never })],
        [`collection count ${label}`, () => users.count({ filter: filter as never })],
      ]);
    }
    done();
  }));

  test('query bad input: the edges of the refused list are accepted', withStore(async ({ storage }) => {
    await seed(storage);
    const accepted: [string, Record<string, unknown>][] = [
      ['a regex source of 1024 characters', { a: { $regex: 'a'.repeat(1024) } }],
      ['$options imsu', { name: { $regex: 'a', $options: 'imsu' } }],
      ['$size 0', { tags: { $size: 0 } }],
      ['$exists false', { zz: { $exists: false } }],
      ['$key and $meta.<field> at the top', { $key: { $gte: 'users.' }, '$meta.version': 1 }],
      ['Date, typed array, ArrayBuffer values', { a: { $in: [new Date(0), new Uint8Array([1]), new Float64Array([1.5]), new ArrayBuffer(2)] } }],
      ['a RegExp under $not', { name: { $not: /^B/ } }],
      ['a RegExp under $regex', { name: { $regex: /^a/i } }],
      ['an empty object as a value', { a: {} }],
      ['null, bigint, boolean values', { a: { $in: [null, 1n, true] } }],
      ['$and nested 10 levels', deepAnd(10)],
    ];
    for (const [label, filter] of accepted) {
      const r = await storage.query('users.*', { filter }).then(() => 'ok', (e: { code?: string; message?: string }) => `${e.code}: ${e.message}`);
      equal(r, 'ok', `${label} must be accepted`);
    }
    deepEqual((await storage.query('users.*', { filter: { name: { $not: /^B/ } } })).map((e) => e.key), ['users.a', 'users.c']);
  }));

  test('query bad input: bad sorts, paging options, options and patterns', withStore(async ({ storage }) => {
    failures = [];
    await seed(storage);
    const users = storage.collection('users');
    for (const [label, sort] of BAD_SORTS) {
      await refused(storage, () => storage.query('users.*', { sort: sort as never }), `query sort ${label}`);
      await refusedAll(storage, [
        [`query(**) sort ${label}`, () => storage.query('**', { sort: sort as never, limit: 2 })],
        [`explain sort ${label}`, () => storage.explain('users.*', { sort: sort as never })],
        [`find sort ${label}`, () => users.find({ sort: sort as never })],
      ]);
    }
    for (const [label, o] of BAD_PAGING) {
      await refused(storage, () => storage.query('users.*', o as never), `query ${label}`);
      await refused(storage, () => storage.query('users.*', { ...o, sort: { age: 1 } } as never), `query sorted ${label}`);
      await refused(storage, () => storage.explain('users.*', o as never), `explain ${label}`);
      if (!('after' in o)) await refused(storage, () => users.find(o as never), `find ${label}`);
    }
    for (const name of ['limit', 'offset', 'after']) {
      await refused(storage, () => storage.count('users.*', { [name]: name === 'after' ? 'users.a' : 1 } as never), `count takes no ${name}`);
    }
    for (const [label, o] of [['a string', 'x'], ['an array', []], ['a number', 5], ['null', null]] as [string, unknown][]) {
      await refused(storage, () => storage.query('users.*', o as never), `query options ${label}`);
      await refused(storage, () => storage.count('users.*', o as never), `count options ${label}`);
      await refused(storage, () => storage.explain('users.*', o as never), `explain options ${label}`);
      await refused(storage, () => users.find(o as never), `find options ${label}`);
    }
    for (const [label, p] of [['empty', ''], ['a number', 5], ['null', null], ['***', 'users.***']] as [string, unknown][]) {
      await refused(storage, () => storage.query(p as string), `query pattern ${label}`);
      await refused(storage, () => storage.count(p as string), `count pattern ${label}`);
      await refused(storage, () => storage.explain(p as string), `explain pattern ${label}`);
    }
    done();
  }));

  test('query bad input: an `index` option naming no usable index', withStore(async ({ storage }) => {
    failures = [];
    await seed(storage);
    await storage.createIndex('orders', 'total');
    const cases: [string, string, unknown][] = [
      ['a missing index', 'users.*', 'nope'],
      ['an index of another collection', 'users.*', 'total'],
      ['a search index', 'orders.*', 'search'],
      ['an empty name', 'users.*', ''],
      ['a number', 'users.*', 5],
      ['null', 'users.*', null],
      ['an array', 'users.*', ['age']],
      ['a pattern that is not <collection>.*', '**', 'age'],
      ['a deeper pattern', 'users.*.x', 'age'],
      ['an exact key', 'users.a', 'age'],
    ];
    for (const [label, pattern, index] of cases) {
      await refused(storage, () => storage.query(pattern, { index: index as never }), `query index: ${label}`);
      await refused(storage, () => storage.count(pattern, { index: index as never }), `count index: ${label}`);
      await refused(storage, () => storage.explain(pattern, { index: index as never }), `explain index: ${label}`);
    }
    await refused(storage, () => storage.collection('users').find({ index: 'nope' }), 'find index: a missing index');
    await refused(storage, () => storage.collection('users').count({ index: 'nope' } as never), 'collection count index: a missing index');
    await storage.dropIndex('users', 'age');
    await refused(storage, () => storage.query('users.*', { index: 'age' }), 'query index: a dropped index');
    done();
  }));

  test('query bad input: bad index definitions (createIndex, dropIndex, listIndexes)', withStore(async ({ storage }) => {
    failures = [];
    await seed(storage);
    const badCollections: unknown[] = ['', 5, null, undefined, 'a*', 'users.*', '**', 'a\\b', '.a', 'a.', 'a..b', ['users']];
    for (const c of badCollections) {
      await refused(storage, () => storage.createIndex(c as string, 'age'), `createIndex collection ${JSON.stringify(c)}`);
      await refused(storage, () => storage.dropIndex(c as string, 'age'), `dropIndex collection ${JSON.stringify(c)}`);
      if (c !== undefined) await refused(storage, () => storage.listIndexes(c as string), `listIndexes collection ${JSON.stringify(c)}`);
    }
    const badFields: unknown[] = [
      undefined, null, 5, '', [], [5], [null], ['a', 'a'], ['a..b'], ['.a'], 'a.', '__proto__', 'a.__proto__', 'constructor.prototype.x',
      ['a', 'prototype'], '$key', ['$key'], ['age', '$key'], '$meta.foo', '$meta', '$meta.createdAt.x', '$foo', { a: 1 }, [['a']], () => 'a',
    ];
    for (const f of badFields) {
      const l = typeof f === 'function' ? 'a function' : JSON.stringify(f);
      await refused(storage, () => storage.createIndex('users', f as string), `createIndex fields ${l}`);
      await refused(storage, () => storage.createIndex('users', f as string, { unique: true }), `createIndex unique fields ${l}`);
    }
    const badOptions: [string, unknown][] = [
      ['null', null], ['an array', []], ['a string', 'unique'], ['unknown option', { foo: 1 }], ['unique a string', { unique: 'yes' }],
      ['unique 1', { unique: 1 }], ['name empty', { name: '' }], ['name a number', { name: 5 }], ['name null', { name: null }],
      ['signal not an AbortSignal', { signal: 'stop' }], ['fields as an option', { fields: ['age'] }],
    ];
    for (const [l, o] of badOptions) await refused(storage, () => storage.createIndex('users', 'name', o as never), `createIndex options ${l}`);
    for (const f of ['$meta.createdAt', '$meta.updatedAt', '$meta.version', '$meta.tags', '$meta.expiresAt', ['name', '$meta.tags'], ['$meta.ttl', 'name']]) {
      await refused(storage, () => storage.createIndex('users', f, { unique: true }), `unique index on ${JSON.stringify(f)}`);
    }
    // An existing name with another definition.
    await refused(storage, () => storage.createIndex('users', 'name', { name: 'age' }), 'the name of an existing index, other fields');
    await refused(storage, () => storage.createIndex('users', 'age', { unique: true }), 'the name of an existing index, now unique');
    await refused(storage, () => storage.createIndex('orders', 'total', { name: 'search' }), 'the name of the search index');
    // dropIndex names
    for (const n of ['', 5, null, undefined, {}]) await refused(storage, () => storage.dropIndex('users', n as string), `dropIndex name ${JSON.stringify(n)}`);
    done();
    // What still works
    const listed = await storage.listIndexes();
    deepEqual(listed.map((i) => [i.collection, i.name, i.type]), [['orders', 'search', 'search'], ['users', 'age', 'index']]);
    ok((await storage.createIndex('users', '$meta.updatedAt')).state === 'ready', '$meta fields are allowed in a non-unique index');
    equal(await storage.dropIndex('users', 'nope'), false, 'dropping a missing index resolves false');
  }));

  test('query bad input: a unique index over duplicates fails to build and leaves nothing', withStore(async ({ storage }) => {
    await seed(storage);
    await storage.set('users.d', { a: 1, age: 30 });
    const indexes = await storage.listIndexes();
    await rejectsUnchanged(storage, () => storage.createIndex('users', 'a', { unique: true }), 'STORAGE_CONFLICT', 'unique index over duplicate values');
    deepEqual(await storage.listIndexes(), indexes, 'the failed index is not listed');
    await storage.set('users.e', { a: 1 }); // no unique index left behind to refuse it
    deepEqual((await storage.query('users.*', { filter: { a: 1 } })).map((e) => e.key), ['users.a', 'users.d', 'users.e']);
  }));

  test('query bad input: bad search options are StorageValidationError and change nothing', withStore(async ({ storage }) => {
    failures = [];
    await seed(storage);
    const bad: [string, string, unknown][] = [
      ['no options', 'orders.*', undefined],
      ['options a string', 'orders.*', 'first'],
      ['no query', 'orders.*', {}],
      ['query a number', 'orders.*', { query: 1 }],
      ['query without terms', 'orders.*', { query: '...' }],
      ['unknown option', 'orders.*', { query: 'first', filter: { total: 5 } }],
      ['limit 0', 'orders.*', { query: 'first', limit: 0 }],
      ['offset -1', 'orders.*', { query: 'first', offset: -1 }],
      ['prefix not boolean', 'orders.*', { query: 'first', prefix: 1 }],
      ['fuzzy not boolean', 'orders.*', { query: 'first', fuzzy: 'yes' }],
      ['combine neither or nor and', 'orders.*', { query: 'first', combine: 'not' }],
      ['fields $key', 'orders.*', { query: 'first', fields: ['$key'] }],
      ['fields __proto__', 'orders.*', { query: 'first', fields: ['__proto__'] }],
      ['fields with an empty segment', 'orders.*', { query: 'first', fields: ['note..x'] }],
      ['boost not positive', 'orders.*', { query: 'first', boost: { note: 0 } }],
      ['boost of a field not searched', 'orders.*', { query: 'first', boost: { title: 2 } }],
      ['no index and no fields', 'users.*', { query: 'ada' }],
      ['empty pattern', '', { query: 'first', fields: ['note'] }],
    ];
    for (const [l, p, o] of bad) await refused(storage, () => storage.search(p, o as never), `search ${l}`);
    done();
  }));

  test('query bad input: the prototype-pollution corpus is refused and pollutes nothing', withStore(async ({ storage }) => {
    failures = [];
    await seed(storage);
    const users = storage.collection('users');
    const names = () => ({
      object: Object.getOwnPropertyNames(Object.prototype).sort(),
      objectSymbols: Object.getOwnPropertySymbols(Object.prototype).length,
      array: Object.getOwnPropertyNames(Array.prototype).sort(),
      fn: Object.getOwnPropertyNames(Function.prototype).sort(),
    });
    const before = names();
    let executed = 0;
    const pollute = () => { executed++; (Object.prototype as Record<string, unknown>).polluted = 'yes'; return 1; };
    const P = (json: string) => JSON.parse(json) as Record<string, unknown>;

    const filters: [string, unknown][] = [
      ['__proto__ at the top', P('{"__proto__": {"polluted": 1}}')],
      ['__proto__ next to a field', P('{"a": 1, "__proto__": {"polluted": 1}}')],
      ['__proto__ inside $and', P('{"$and": [{"__proto__": {"polluted": 1}}]}')],
      ['__proto__.polluted inside $or', P('{"$or": [{"a": 1}, {"__proto__.polluted": 1}]}')],
      ['__proto__ inside $elemMatch', P('{"items": {"$elemMatch": {"__proto__": {"polluted": 1}}}}')],
      ['constructor.prototype inside $elemMatch', P('{"items": {"$elemMatch": {"constructor.prototype.polluted": 1}}}')],
      ['__proto__ under $not', P('{"a": {"$not": {"__proto__": {"polluted": 1}}}}')],
      ['__proto__ next to an operator', P('{"a": {"$eq": 1, "__proto__": {"polluted": 1}}}')],
      ['__proto__ in an object value', P('{"a": {"__proto__": {"polluted": 1}}}')],
      ['__proto__ in a value inside $in', P('{"a": {"$in": [{"__proto__": {"polluted": 1}}]}}')],
      ['__proto__.polluted path', { '__proto__.polluted': 1 }],
      ['constructor.prototype.polluted path', { 'constructor.prototype.polluted': 1 }],
      ['a.constructor.prototype.polluted path', { 'a.constructor.prototype.polluted': 1 }],
      ['prototype.polluted path', { 'prototype.polluted': 1 }],
      ['$where string', { $where: 'Object.prototype.polluted = "yes"' }],
      ['$where function', { $where: pollute }],
      ['$where in a condition', { a: { $where: pollute } }],
      ['a function value', { a: pollute }],
      ['valueOf in an $eq value', { a: { $eq: { valueOf: pollute } } }],
      ['toString in a range bound', { a: { $gt: { toString: pollute } } }],
      ['toJSON in $in', { a: { $in: [{ toJSON: pollute }] } }],
      ['toString as $regex', { a: { $regex: { toString: pollute } } }],
      ['Symbol.toPrimitive in a value', { a: { [Symbol.toPrimitive]: pollute } }],
      ['a getter-free class with a polluting method', { a: new (class { valueOf() { return pollute(); } })() }],
    ];
    for (const [l, f] of filters) {
      await refused(storage, () => storage.query('users.*', { filter: f as never }), `filter ${l}`);
      await refused(storage, () => storage.query('users.*', { filter: f as never, index: 'age' }), `indexed filter ${l}`);
      await refused(storage, () => storage.count('**', { filter: f as never }), `count filter ${l}`);
      await refused(storage, () => users.find({ filter: f as never }), `find filter ${l}`);
    }
    const sorts: [string, unknown][] = [
      ['__proto__', P('{"__proto__": 1}')],
      ['__proto__.polluted', P('{"__proto__.polluted": 1}')],
      ['constructor.prototype.polluted', { 'constructor.prototype.polluted': 1 }],
      ['a.__proto__', { 'a.__proto__': -1 }],
      ['a good key then __proto__', P('{"age": 1, "__proto__": {"polluted": 1}}')],
    ];
    for (const [l, s] of sorts) {
      await refused(storage, () => storage.query('users.*', { sort: s as never }), `sort ${l}`);
      await refused(storage, () => users.find({ sort: s as never }), `find sort ${l}`);
    }
    const optionObjects: [string, unknown][] = [
      ['__proto__ option', P('{"__proto__": {"filter": {"polluted": 1}}}')],
      ['__proto__ next to limit', P('{"limit": 1, "__proto__": {"polluted": 1}}')],
    ];
    for (const [l, o] of optionObjects) {
      await refused(storage, () => storage.query('users.*', o as never), `query options ${l}`);
      await refused(storage, () => users.find(o as never), `find options ${l}`);
    }
    const indexFields: unknown[] = ['__proto__', '__proto__.polluted', 'constructor.prototype.polluted', ['a', 'constructor'], 'a.prototype.polluted'];
    for (const f of indexFields) {
      await refused(storage, () => storage.createIndex('users', f as string), `index fields ${JSON.stringify(f)}`);
      await refused(storage, () => storage.createIndex('users', f as string, { unique: true }), `unique index fields ${JSON.stringify(f)}`);
    }
    await refused(storage, () => storage.createIndex('users', 'name', P('{"__proto__": {"unique": true}}') as never), 'index options __proto__');
    await refused(storage, () => storage.createIndex('users', 'name', P('{"name": "n", "__proto__": {"polluted": 1}}') as never), 'index options __proto__ next to name');
    const updates: [string, Record<string, unknown>][] = [
      ['__proto__', P('{"__proto__": {"polluted": "yes"}}')],
      ['__proto__.polluted', { '__proto__.polluted': 'yes' }],
      ['constructor.prototype.polluted', { 'constructor.prototype.polluted': 'yes' }],
      ['a.__proto__.polluted', { 'a.__proto__.polluted': 'yes' }],
      ['a good path then __proto__', P('{"name": "x", "__proto__": {"polluted": "yes"}}')],
      ['items.0.constructor.prototype.polluted', { 'items.0.constructor.prototype.polluted': 'yes' }],
    ];
    for (const [l, u] of updates) await refused(storage, () => users.update('a', u), `update ${l}`);
    await refused(storage, () => users.insert({ n: 1 }, P('{"__proto__": {"id": "x"}}') as never), 'insert options __proto__');
    await refused(storage, () => users.update('a', { n: 1 }, P('{"__proto__": {"expectedVersion": 1}}') as never), 'update options __proto__');
    const searches: [string, string, unknown][] = [
      ['__proto__ option', 'orders.*', P('{"query": "first", "__proto__": {"polluted": 1}}')],
      ['fields __proto__', 'orders.*', { query: 'first', fields: ['__proto__'] }],
      ['fields __proto__.polluted', 'orders.*', { query: 'first', fields: ['__proto__.polluted'] }],
      ['fields constructor.prototype.polluted', 'orders.*', { query: 'first', fields: ['constructor.prototype.polluted'] }],
      ['boost __proto__', 'orders.*', { query: 'first', fields: ['note'], boost: P('{"__proto__": 2}') }],
      ['boost constructor', 'orders.*', { query: 'first', boost: { constructor: 2 } }],
      ['scan fields __proto__', 'users.*', { query: 'ada', fields: ['__proto__'] }],
    ];
    for (const [l, p, o] of searches) await refused(storage, () => storage.search(p, o as never), `search ${l}`);
    await refused(storage, () => storage.createSearchIndex('users', P('{"fields": ["name"], "__proto__": {"polluted": 1}}') as never), 'search index options __proto__');
    await refused(storage, () => storage.createSearchIndex('users', { fields: ['__proto__.polluted'] }), 'search index fields __proto__.polluted');
    await refused(storage, () => storage.createSearchIndex('users', { fields: ['name'], boost: P('{"__proto__": 2}') as Record<string, number> }), 'search index boost __proto__');

    // Accepted or refused, as the library chooses: either way nothing is polluted.
    const settle = (p: () => Promise<unknown>) => p().then(() => undefined, () => undefined);
    await settle(() => storage.set('users.p', P('{"__proto__": {"polluted": "yes"}, "a": 1, "age": 3}')));
    await settle(() => storage.query('users.*', { filter: { a: 1 }, sort: { age: 1, name: -1 } }));
    await settle(() => users.update('p', { b: 2 }));
    await settle(() => users.get('p'));
    await settle(() => users.find({ filter: { a: 1 }, sort: { age: -1 } }));
    await settle(() => storage.createIndex('users', 'a', { name: '__proto__' }));
    await settle(() => storage.query('users.*', { filter: { a: 1 }, index: '__proto__' }));
    await settle(() => storage.collection('__proto__').insert({ x: 1 }, { id: '__proto__' }));
    await settle(() => storage.collection('constructor').insert({ x: 1 }, { id: 'prototype' }));
    await settle(() => storage.createIndex('__proto__', 'x'));
    await settle(() => storage.createSearchIndex('constructor', { fields: ['x'] }));
    await settle(() => storage.search('constructor.*', { query: '1' }));
    await settle(() => storage.query('__proto__.*', { filter: { x: 1 } }));
    await settle(() => users.insert(P('{"__proto__": {"polluted": "yes"}, "name": "p2"}')));
    await settle(() => storage.search('users.*', { query: 'p2', fields: ['name'] }));

    equal(executed, 0, 'no function of a filter was ever called');
    equal(({} as Record<string, unknown>).polluted, undefined, '({}).polluted');
    equal(([] as unknown as Record<string, unknown>).polluted, undefined, '([]).polluted');
    ok(!Object.hasOwn(Object.prototype, 'polluted'), 'Object.prototype has no "polluted"');
    deepEqual(names(), before, 'no new keys on Object.prototype, Array.prototype or Function.prototype');
    done();
  }));
}
