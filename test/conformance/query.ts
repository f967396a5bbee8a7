/**
 * Queries and secondary indexes on every engine: a differential test against the naive reference
 * evaluator (reference-query.ts, written from docs/queries.md alone), with and without each index,
 * through index builds, maintenance by writes, deletes and expiry; plans; unique indexes.
 */
import fc from 'fast-check';
import type { StorageSystem } from '../../src/core/system';
import { deepEqual, equal, ok, rejects } from '../support/assert';
import { arbDoc, arbFilter, arbIndexedFilter, arbPage, arbSort } from './query-arbitraries';
import { refQuery, type RefRow } from './reference-query';
import type { Declare, Fixture, Target } from './types';
import { rejectsUnchanged, sleep, storeRunner } from './util';

/** Indexes the differential test creates, and the field its indexed filters constrain. */
const INDEXES: { fields: string | string[]; name: string; on: string }[] = [
  { fields: 'a', name: 'a', on: 'a' },
  { fields: ['b', 'n'], name: 'b,n', on: 'b' },
  { fields: 'tags', name: 'tags', on: 'tags' },
  { fields: 's', name: 's', on: 's' },
  { fields: 'nested.x', name: 'nested.x', on: 'nested.x' },
  { fields: '$meta.version', name: '$meta.version', on: '$meta.version' },
];

const key = (i: number) => `c.${String(i).padStart(3, '0')}`;

/** The rows the reference sees: every live entry under `c.*`, as stored. */
async function rowsOf(storage: StorageSystem): Promise<RefRow[]> {
  const keys = await storage.keys('c.*');
  const entries = await Promise.all(keys.map((k) => storage.getEntry(k)));
  return entries.map((e, i) => ({ key: keys[i]!, value: e!.value, meta: e!.metadata }));
}

const show = (v: unknown) => {
  try {
    return JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x instanceof Date ? `Date(${x.getTime()})` : Number.isNaN(x) ? 'NaN' : x));
  } catch {
    return String(v);
  }
};

async function rejectsMatching(fn: () => Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await fn();
  } catch (err) {
    ok(re.test(String((err as Error)?.message)), `rejected with ${String(err)}, expected ${re}`);
    return;
  }
  throw new Error(`expected a rejection matching ${re}`);
}

export function queryTests(test: Declare, target: Target): void {
  const withStore = storeRunner(target);
  const runs = target.name === 'memory' ? 60 : 25;

  /** Checks one query against the reference; with `after`, also the next page. */
  async function check(storage: StorageSystem, rows: RefRow[], q: { filter?: object; sort?: Record<string, 1 | -1>; limit?: number; offset?: number; index?: string }, label: string) {
    const got = (await storage.query('c.*', q as never)).map((e) => e.key);
    const want = refQuery(rows, q);
    deepEqual(got, want, `${label}: query(${show(q)}) on ${target.name}`);
    if (q.limit === undefined && q.offset === undefined) equal(await storage.count('c.*', { filter: q.filter, ...(q.index ? { index: q.index } : {}) } as never), want.length, `${label}: count`);
    if (got.length > 0 && q.limit !== undefined) {
      const after = got[got.length - 1]!;
      const next = (await storage.query('c.*', { ...q, offset: 0, after } as never)).map((e) => e.key);
      deepEqual(next, refQuery(rows, { ...q, offset: 0, after }, rows.find((r) => r.key === after)), `${label}: next page after ${after} of ${show(q)}`);
    }
  }

  test('query: results equal the reference evaluator, without indexes (fast-check)', withStore(async ({ storage }) => {
    await fc.assert(fc.asyncProperty(
      fc.array(arbDoc, { maxLength: 24 }),
      fc.array(fc.record({ filter: arbFilter, sort: arbSort, page: arbPage }), { minLength: 1, maxLength: 6 }),
      async (docs, queries) => {
        await storage.clear('**');
        await storage.batchSet(docs.map((value, i) => ({ key: key(i), value })));
        await storage.set('c.deeper.0', { a: 1 }); // not under c.* (two segments): never a result
        const rows = await rowsOf(storage);
        for (const { filter, sort, page } of queries) await check(storage, rows, { filter, sort, ...page }, 'scan');
      },
    ), { numRuns: runs });
  }));

  test('query: results equal the reference with every index, built before or after the data, maintained by writes (fast-check)', withStore(async ({ storage }) => {
    let round = 0;
    await fc.assert(fc.asyncProperty(
      fc.array(arbDoc, { maxLength: 20 }),
      fc.array(fc.tuple(fc.nat(19), fc.option(arbDoc, { nil: undefined })), { maxLength: 8 }),
      fc.constantFrom(...INDEXES.map((_, i) => i)),
      fc.array(fc.record({ sort: arbSort, page: arbPage, forced: fc.boolean() }), { minLength: 1, maxLength: 4 }),
      fc.context(),
      async (docs, edits, which, shapes, ctx) => {
        const ix = INDEXES[which]!;
        const before = round++ % 2 === 0;
        await storage.clear('**');
        if (before) await storage.createIndex('c', ix.fields);
        await storage.batchSet(docs.map((value, i) => ({ key: key(i), value })));
        if (!before) await storage.createIndex('c', ix.fields);
        // Maintenance: overwrite and delete some records after the index exists.
        for (const [i, doc] of edits) {
          if (doc === undefined) await storage.delete(key(i));
          else await storage.set(key(i), doc);
        }
        const rows = await rowsOf(storage);
        const filters = fc.sample(arbIndexedFilter(ix.on), { numRuns: shapes.length, seed: round });
        for (let i = 0; i < shapes.length; i++) {
          const { sort, page, forced } = shapes[i]!;
          const q = { filter: filters[i], sort, ...page, ...(forced ? { index: ix.name } : {}) };
          ctx.log(show(q));
          await check(storage, rows, q, `index ${ix.name} (${before ? 'before' : 'after'} data)`);
        }
        // Sorting by the indexed field alone (the index may serve the order).
        await check(storage, rows, { sort: { [ix.on]: 1 }, limit: 5 }, `index ${ix.name} sort asc`);
        await check(storage, rows, { sort: { [ix.on]: -1 }, limit: 5 }, `index ${ix.name} sort desc`);
        equal(await storage.dropIndex('c', ix.name), true);
      },
    ), { numRuns: runs });
    deepEqual(await storage.listIndexes('c'), [], 'every index dropped');
  }));

  test('query: an index serves equality, $in, ranges and sorted limits (explain), and reads far fewer entries', withStore(async ({ storage, reads }) => {
    const docs = Array.from({ length: 300 }, (_, i) => ({ key: `u.${String(i).padStart(4, '0')}`, value: { n: i % 30, status: i % 3 === 0 ? 'active' : 'idle', at: 1000 - i } }));
    await storage.batchSet(docs);
    const scan = await storage.explain('u.*', { filter: { n: 7 } });
    equal(scan.strategy, 'scan');
    equal(scan.recordsRead, 300);
    equal(scan.returned, 10);
    const info = await storage.createIndex('u', 'n');
    equal(info.state, 'ready');
    await storage.createIndex('u', ['status', 'at']);
    const r0 = reads();
    const eq = await storage.explain('u.*', { filter: { n: 7 } });
    ok(reads() - r0 <= 30, `an indexed equality read ${reads() - r0} entries`);
    equal(eq.strategy, 'index');
    equal(eq.index, 'n');
    equal(eq.recordsRead, 10);
    equal(eq.returned, 10);
    const within = await storage.explain('u.*', { filter: { n: { $in: [1, 2] } } });
    equal(within.index, 'n');
    equal(within.returned, 20);
    const range = await storage.explain('u.*', { filter: { n: { $gte: 28 } } });
    equal(range.index, 'n');
    equal(range.returned, 20);
    const sorted = await storage.explain('u.*', { filter: { status: 'active' }, sort: { at: -1 }, limit: 5 });
    equal(sorted.index, 'status,at');
    equal(sorted.sortedByIndex, true);
    ok(sorted.recordsRead <= 64, `a sorted limit read ${sorted.recordsRead} records`);
    const top = await storage.query('u.*', { filter: { status: 'active' }, sort: { at: -1 }, limit: 3 });
    deepEqual(top.map((e) => e.key), ['u.0000', 'u.0003', 'u.0006']);
    deepEqual((await storage.explain('u.*', { filter: { n: 7 }, index: 'status,at' })).index, 'status,at', 'a forced index is used');
    const listed = await storage.listIndexes('u');
    deepEqual(listed.map((i) => i.name), ['n', 'status,at']);
    deepEqual(listed.map((i) => i.state), ['ready', 'ready']);
  }));

  test('query: index entries follow TTL expiry and clear', withStore(async ({ storage }) => {
    await storage.createIndex('t', 'k');
    await storage.set('t.1', { k: 'x' }, { ttl: 0.3 });
    await storage.set('t.2', { k: 'x' });
    deepEqual((await storage.query('t.*', { filter: { k: 'x' } })).map((e) => e.key), ['t.1', 't.2']);
    await sleep(450);
    deepEqual((await storage.query('t.*', { filter: { k: 'x' } })).map((e) => e.key), ['t.2'], 'an expired record is never a result');
    const plan = await storage.explain('t.*', { filter: { k: 'x' } });
    ok(plan.indexEntriesRead <= 2);
    await sleep(300); // the sweep (sweepInterval 50 ms) removed the record and its entry
    equal((await storage.explain('t.*', { filter: { k: 'x' } })).indexEntriesRead, 1, 'the sweep removed the expired record\'s index entry');
    equal(await storage.clear('t.*'), 1);
    equal((await storage.explain('t.*', { filter: { k: 'x' } })).indexEntriesRead, 0, 'clear removed index entries');
  }, { sweepInterval: 50 }));

  test('query: a unique index refuses duplicates and writes nothing; values can move and swap', withStore(async ({ storage }) => {
    await storage.createIndex('users', 'email', { unique: true });
    await storage.set('users.1', { email: 'ada@x.org' });
    await storage.set('users.2', { email: 'bob@x.org' });
    await rejectsUnchanged(storage, () => storage.set('users.3', { email: 'ada@x.org' }), 'STORAGE_CONFLICT', 'duplicate set');
    await rejectsUnchanged(storage, () => storage.batchSet([{ key: 'users.4', value: { email: 'c@x.org' } }, { key: 'users.5', value: { email: 'c@x.org' } }]), 'STORAGE_CONFLICT', 'duplicate inside one batch');
    await rejectsUnchanged(storage, () => storage.transaction(async (tx) => { await tx.set('users.6', { email: 'bob@x.org' }); }, { retries: 0 }), 'STORAGE_CONFLICT', 'duplicate in a transaction');
    // Swap in one atomic batch: both old values leave before the new ones are checked.
    await storage.batchSet([{ key: 'users.1', value: { email: 'bob@x.org' } }, { key: 'users.2', value: { email: 'ada@x.org' } }]);
    deepEqual((await storage.query('users.*', { filter: { email: 'ada@x.org' } })).map((e) => e.key), ['users.2']);
    await storage.delete('users.2');
    await storage.set('users.7', { email: 'ada@x.org' }); // freed by the delete
    // Creating a unique index over duplicates fails and leaves no index behind.
    await storage.set('p.1', { n: 1 });
    await storage.set('p.2', { n: 1 });
    await rejects(() => storage.createIndex('p', 'n', { unique: true }), 'STORAGE_CONFLICT');
    deepEqual(await storage.listIndexes('p'), []);
    equal((await storage.explain('p.*', { filter: { n: 1 } })).strategy, 'scan');
  }));

  test('query: createIndex reports progress, is idempotent, and an abort drops the index', withStore(async ({ storage }) => {
    await storage.batchSet(Array.from({ length: 1200 }, (_, i) => ({ key: `g.${i}`, value: { v: i % 7 } })));
    const events: { phase: string; done?: number; total?: number }[] = [];
    const off = storage.on('index', (e) => events.push(e));
    await storage.createIndex('g', 'v');
    off();
    equal(events[0]!.phase, 'building');
    equal(events.at(-1)!.phase, 'ready');
    const last = events.filter((e) => e.phase === 'building').at(-1)!;
    equal(last.done, 1200);
    equal(last.total, 1200);
    equal((await storage.createIndex('g', 'v')).state, 'ready', 'creating it again is a no-op');
    await rejects(() => storage.createIndex('g', ['v', 'w'], { name: 'v' }), 'STORAGE_VALIDATION');
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await rejectsMatching(() => storage.createIndex('g', 'w', { signal: controller.signal }), /stop/);
    deepEqual((await storage.listIndexes('g')).map((i) => i.name), ['v']);
    const later = new AbortController();
    const building = storage.createIndex('g', 'x', { signal: later.signal });
    const unsubscribe = storage.on('index', (e) => { if (e.index === 'x' && e.phase === 'building' && e.done! > 0) later.abort(new Error('midway')); });
    await rejectsMatching(() => building, /midway/);
    unsubscribe();
    deepEqual((await storage.listIndexes('g')).map((i) => i.name), ['v'], 'an aborted build leaves no index');
  }));

  test('query: indexes persist across reopen and stay maintained', async () => {
    const first = await target.open();
    if (!first.reopen) {
      await first.cleanup();
      return;
    }
    let f = first;
    try {
      await f.storage.createIndex('r', 'n');
      await f.storage.batchSet([{ key: 'r.1', value: { n: 1 } }, { key: 'r.2', value: { n: 2 } }]);
      f = await f.reopen!();
      deepEqual((await f.storage.listIndexes('r')).map((i) => [i.name, i.state]), [['n', 'ready']]);
      await f.storage.set('r.3', { n: 1 });
      await f.storage.delete('r.1');
      const plan = await f.storage.explain('r.*', { filter: { n: 1 } });
      equal(plan.index, 'n');
      deepEqual((await f.storage.query('r.*', { filter: { n: 1 } })).map((e) => e.key), ['r.3']);
    } finally {
      await f.cleanup();
    }
  });
}
