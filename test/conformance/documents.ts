/**
 * Documents (`storage.collection(name)`): ids, versions, dotted updates, optimistic locking,
 * find/count, unique indexes, and the documents seen as ordinary entries (query, keys, transactions).
 * Semantics: src/core/collection.ts (TSDoc) and docs/queries.md.
 */
import type { Declare, Fixture, Target } from './types';
import { deepEqual, equal, ok, rejects } from '../support/assert';
import { rejectsUnchanged, sleep, storeRunner } from './util';

type Data = Record<string, unknown>;

/** Runs many `rejectsUnchanged` checks and reports every failure at once (not only the first). */
function collect(storage: Fixture['storage']) {
  const failures: string[] = [];
  return {
    bad: async (action: () => Promise<unknown>, code: string, label: string) => {
      try {
        await rejectsUnchanged(storage, action, code, label);
      } catch (e) {
        failures.push((e as Error).message);
      }
    },
    done: () => ok(failures.length === 0, `${failures.length} case(s) failed:\n  ${failures.join('\n  ')}`),
  };
}

export function documentTests(test: Declare, target: Target): void {
  const withStore = storeRunner(target);
  const ids = (docs: { id: string }[]) => docs.map((d) => d.id);

  /** Six users with explicit ids (key order = id order), ages with ties and one missing age. */
  const seedUsers = async (storage: Fixture['storage']) => {
    const users = storage.collection('users');
    const rows: [string, Data][] = [
      ['ada', { name: 'Ada', age: 36, address: { city: 'London' } }],
      ['bob', { name: 'Bob', age: 25, address: { city: 'Paris' } }],
      ['cy', { name: 'Cy', age: 36, address: { city: 'Paris' } }],
      ['dee', { name: 'Dee', age: 41 }],
      ['eve', { name: 'Eve', age: 25 }],
      ['fay', { name: 'Fay' }],
    ];
    for (const [id, data] of rows) {
      await users.insert(data, { id, ...(id === 'eve' ? { tags: ['vip'] } : {}) });
      await sleep(3); // distinct updatedAt per document
    }
    return users;
  };

  // ----------------------------------------------------------------- insert / get

  test('docs: insert generates unique, time-ordered ids of 21 [0-9a-z] characters', withStore(async ({ storage }) => {
    const users = storage.collection('users');
    const inOrder: string[] = [];
    for (let i = 0; i < 6; i++) {
      const d = await users.insert({ n: i });
      ok(/^[0-9a-z]{21}$/.test(d.id), `generated id ${JSON.stringify(d.id)}`);
      equal(d.collection, 'users');
      deepEqual(d.data, { n: i });
      equal(d.metadata.version, 1);
      equal(d.metadata.createdAt, d.metadata.updatedAt);
      inOrder.push(d.id);
      await sleep(3);
    }
    deepEqual([...inOrder].sort(), inOrder, 'ids inserted milliseconds apart sort in insertion order');
    deepEqual(ids(await users.find()), inOrder, 'find() without sort is key order, hence insertion order');
    const burst = await Promise.all(Array.from({ length: 200 }, (_, i) => users.insert({ burst: i })));
    equal(new Set(ids(burst)).size, 200, 'ids are unique even when generated in the same millisecond');
    const firstBurst = [...ids(burst)].sort()[0]!;
    ok(firstBurst > inOrder[inOrder.length - 1]!, 'later ids sort after earlier ones');
    equal(await users.count(), 206);
  }));

  test('docs: insert takes its id from options.id, else from a string data.id', withStore(async ({ storage }) => {
    const users = storage.collection('users');
    const a = await users.insert({ name: 'A' }, { id: 'a-1' });
    equal(a.id, 'a-1');
    deepEqual(await storage.get('users.a-1'), { name: 'A' });

    const b = await users.insert({ id: 'b-2', name: 'B' });
    equal(b.id, 'b-2');
    deepEqual(b.data, { id: 'b-2', name: 'B' }, 'data.id stays in the data');
    deepEqual(await storage.get('users.b-2'), { id: 'b-2', name: 'B' });

    const c = await users.insert({ id: 'from-data', name: 'C' }, { id: 'from-options' });
    equal(c.id, 'from-options', 'options.id wins over data.id');
    equal(await storage.has('users.from-data'), false);

    const d = await users.insert({ id: 42, name: 'D' });
    ok(/^[0-9a-z]{21}$/.test(d.id), 'a non-string data.id is not an id: one is generated');
    deepEqual(d.data, { id: 42, name: 'D' });

    const long = 'x'.repeat(256);
    equal((await users.insert({}, { id: long })).id, long, 'ids of 256 characters are accepted');
    const unicode = await users.insert({ n: 1 }, { id: 'Ünïcødé-😀 id' });
    deepEqual(await users.get('Ünïcødé-😀 id'), unicode);
  }));

  test('docs: insert stores ttl and tags; get returns the document or undefined', withStore(async ({ storage }) => {
    const users = storage.collection('users');
    const before = Date.now();
    const ins = await users.insert({ name: 'Ada', nested: { list: [1, 2, { x: null }] } }, { id: 'ada', ttl: 3600, tags: ['t1', 't2'] });
    deepEqual(ins.metadata.tags, ['t1', 't2']);
    equal(ins.metadata.ttl, 3600);
    ok(ins.metadata.expiresAt! >= before + 3600_000);
    const got = await users.get('ada');
    ok(got);
    deepEqual(got, ins, 'get returns what insert returned');
    deepEqual(got, { id: 'ada', collection: 'users', data: { name: 'Ada', nested: { list: [1, 2, { x: null }] } }, metadata: (await storage.getEntry('users.ada'))!.metadata });
    equal(await users.get('nobody'), undefined);
    equal(await storage.collection('other').get('ada'), undefined, 'collections are separate');
  }));

  test('docs: inserting an existing id is a StorageConflictError and changes nothing', withStore(async ({ storage }) => {
    const users = storage.collection('users');
    await users.insert({ name: 'first' }, { id: 'dup' });
    await rejectsUnchanged(storage, () => users.insert({ name: 'second' }, { id: 'dup' }), 'STORAGE_CONFLICT', 'insert over options.id');
    await rejectsUnchanged(storage, () => users.insert({ id: 'dup', name: 'third' }), 'STORAGE_CONFLICT', 'insert over data.id');
    await storage.set('users.plain', 'a plain entry');
    await rejectsUnchanged(storage, () => users.insert({ name: 'x' }, { id: 'plain' }), 'STORAGE_CONFLICT', 'insert over an entry written with set');
    const d = await users.get('dup');
    deepEqual(d?.data, { name: 'first' });
    equal(d?.metadata.version, 1);

    const racing = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => users.insert({ i }, { id: 'race' })));
    equal(racing.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one concurrent insert of an id wins');
    for (const r of racing) if (r.status === 'rejected') equal((r.reason as { code: string }).code, 'STORAGE_CONFLICT');
  }));

  // ----------------------------------------------------------------- update / replace / delete

  test('docs: update sets dotted paths, removes undefined ones, bumps the version', withStore(async ({ storage }) => {
    const users = storage.collection('users');
    const ins = await users.insert({ name: 'Ada', nick: 'A', address: { city: 'London', zip: 'N1' }, langs: ['en'] }, { id: 'ada', tags: ['keep'] });
    await sleep(3);
    const up = await users.update('ada', { name: 'Ada L.', 'address.city': 'Paris', 'address.zip': undefined, nick: undefined, 'profile.links.site': 'x.org', score: 0 });
    ok(up);
    deepEqual(up.data, { name: 'Ada L.', address: { city: 'Paris' }, langs: ['en'], profile: { links: { site: 'x.org' } }, score: 0 });
    equal(up.metadata.version, 2);
    equal(up.metadata.createdAt, ins.metadata.createdAt);
    ok(up.metadata.updatedAt > ins.metadata.updatedAt, 'updatedAt moves');
    deepEqual(up.metadata.tags, ['keep'], 'update keeps the tags');
    deepEqual(await users.get('ada'), up, 'update resolves the stored document');
    deepEqual(await storage.get('users.ada'), up.data);

    const up2 = await users.update('ada', { 'address.city': undefined, 'no.such.path': undefined });
    deepEqual(up2?.data, { name: 'Ada L.', address: {}, langs: ['en'], profile: { links: { site: 'x.org' } }, score: 0 }, 'removing a missing path creates nothing');
    equal(up2?.metadata.version, 3);

    equal(await users.update('nobody', { name: 'x' }), undefined, 'update of a missing document resolves undefined');
    equal(await storage.has('users.nobody'), false, '… and creates nothing');
  }));

  test('docs: update with expectedVersion: a match writes, a mismatch is a conflict that changes nothing', withStore(async ({ storage }) => {
    const users = storage.collection('users');
    await users.insert({ n: 0 }, { id: 'k' });
    const v2 = await users.update('k', { n: 1 }, { expectedVersion: 1 });
    equal(v2?.metadata.version, 2);
    deepEqual(v2?.data, { n: 1 });
    await rejectsUnchanged(storage, () => users.update('k', { n: 99 }, { expectedVersion: 1 }), 'STORAGE_CONFLICT', 'stale expectedVersion');
    await rejectsUnchanged(storage, () => users.update('k', { n: 99 }, { expectedVersion: 3 }), 'STORAGE_CONFLICT', 'future expectedVersion');
    await rejectsUnchanged(storage, () => users.update('nobody', { n: 99 }, { expectedVersion: 1 }), 'STORAGE_CONFLICT', 'expectedVersion of a missing document');
    const v3 = await users.update('k', { n: 2 }, { expectedVersion: 2 });
    equal(v3?.metadata.version, 3);

    // Two writers with the same expectedVersion: exactly one wins.
    const both = await Promise.allSettled([users.update('k', { w: 'a' }, { expectedVersion: 3 }), users.update('k', { w: 'b' }, { expectedVersion: 3 })]);
    equal(both.filter((r) => r.status === 'fulfilled').length, 1);
    const loser = both.find((r): r is PromiseRejectedResult => r.status === 'rejected')!;
    equal((loser.reason as { code: string }).code, 'STORAGE_CONFLICT');
    equal((await users.get('k'))?.metadata.version, 4);
  }));

  test('docs: replace swaps the whole data; expectedVersion guards it', withStore(async ({ storage }) => {
    const users = storage.collection('users');
    const ins = await users.insert({ a: 1, b: { c: 2 } }, { id: 'r' });
    const rep = await users.replace('r', { z: 26 });
    ok(rep);
    deepEqual(rep.data, { z: 26 });
    equal(rep.metadata.version, 2);
    equal(rep.metadata.createdAt, ins.metadata.createdAt);
    deepEqual(await storage.get('users.r'), { z: 26 });
    await rejectsUnchanged(storage, () => users.replace('r', { z: 0 }, { expectedVersion: 1 }), 'STORAGE_CONFLICT', 'replace with a stale version');
    equal((await users.replace('r', { y: 25 }, { expectedVersion: 2 }))?.metadata.version, 3);
    equal(await users.replace('nobody', { a: 1 }), undefined, 'replace of a missing document resolves undefined');
    equal(await storage.has('users.nobody'), false);
    await rejectsUnchanged(storage, () => users.replace('nobody', { a: 1 }, { expectedVersion: 1 }), 'STORAGE_CONFLICT', 'replace of a missing document with expectedVersion');
  }));

  test('docs: delete with and without expectedVersion', withStore(async ({ storage }) => {
    const users = storage.collection('users');
    await users.insert({ n: 1 }, { id: 'a' });
    await users.insert({ n: 1 }, { id: 'b' });
    await users.update('b', { n: 2 });
    equal(await users.delete('a'), true);
    equal(await users.get('a'), undefined);
    equal(await storage.has('users.a'), false);
    equal(await users.delete('a'), false, 'deleting a missing document resolves false');

    await rejectsUnchanged(storage, () => users.delete('b', { expectedVersion: 1 }), 'STORAGE_CONFLICT', 'delete with a stale version');
    await rejectsUnchanged(storage, () => users.delete('zz', { expectedVersion: 1 }), 'STORAGE_CONFLICT', 'delete of a missing document with expectedVersion');
    equal(await users.delete('b', { expectedVersion: 2 }), true);
    equal(await users.get('b'), undefined);
    deepEqual(await storage.keys('users.*'), []);
    // After a delete the id is free again, and the new document starts at version 1.
    equal((await users.insert({ again: true }, { id: 'a' })).metadata.version, 1);
  }));

  // ----------------------------------------------------------------- documents are entries

  test('docs: documents are entries: query, keys, getEntry and set see them', withStore(async ({ storage }) => {
    const users = storage.collection('users');
    const a = await users.insert({ name: 'A', age: 30 }, { id: 'a' });
    await users.insert({ name: 'B', age: 20 }, { id: 'b' });
    await storage.set('users.c', { name: 'C', age: 40 }); // written as a plain entry
    await storage.set('usersx.z', { name: 'not a user' });
    await storage.set('users.deep.er', { name: 'not a document of users' });
    deepEqual(await storage.keys('users.*'), ['users.a', 'users.b', 'users.c']);
    const q = await storage.query('users.*', { filter: { age: { $gte: 25 } } });
    deepEqual(q.map((e) => [e.key, e.value]), [['users.a', { name: 'A', age: 30 }], ['users.c', { name: 'C', age: 40 }]]);
    deepEqual(q[0]!.metadata, a.metadata);
    deepEqual(ids(await users.find()), ['a', 'b', 'c'], 'an entry set under users.<id> is a document');
    const c = await users.get('c');
    equal(c?.metadata.version, 1);
    equal((await users.update('c', { age: 41 }))?.metadata.version, 2);
    equal((await storage.getEntry('users.c'))?.metadata.version, 2);
    equal(await storage.count('users.*'), 3);
  }));

  test('docs: documents inside transactions (tx.get users.<id>, tx.set, conflicts with collection writes)', withStore(async ({ storage }) => {
    const users = storage.collection('users');
    const ada = await users.insert({ name: 'Ada', balance: 10 }, { id: 'ada' });
    const tx = await storage.beginTransaction();
    deepEqual(await tx.get(`users.${ada.id}`), { name: 'Ada', balance: 10 });
    equal((await tx.getEntry(`users.${ada.id}`))?.metadata.version, 1);
    await tx.set('users.bob', { name: 'Bob', balance: 5 });
    await tx.set(`users.${ada.id}`, { name: 'Ada', balance: 5 });
    equal(await users.get('bob'), undefined, 'nothing visible before commit');
    await tx.commit();
    const bob = await users.get('bob');
    deepEqual(bob?.data, { name: 'Bob', balance: 5 });
    equal(bob?.metadata.version, 1);
    equal((await users.get('ada'))?.metadata.version, 2);

    // A transaction that read a document conflicts with a collection write to it.
    const t2 = await storage.beginTransaction();
    const bal = (await t2.get<{ balance: number }>('users.ada'))!.balance;
    await users.update('ada', { balance: 100 });
    await t2.set('users.ada', { name: 'Ada', balance: bal + 1 });
    await rejects(t2.commit(), 'STORAGE_CONFLICT');
    deepEqual((await users.get('ada'))?.data, { name: 'Ada', balance: 100 });

    // transaction(fn) and collection writes together keep every increment.
    await Promise.all([
      ...Array.from({ length: 5 }, () => storage.transaction(async (t) => {
        const d = (await t.get<{ name: string; balance: number }>('users.ada'))!;
        await t.set('users.ada', { ...d, balance: d.balance + 1 });
      }, { retries: 100 })),
      users.insert({ name: 'Cy' }, { id: 'cy' }),
    ]);
    equal(((await users.get('ada'))!.data as { balance: number }).balance, 105);
  }));

  // ----------------------------------------------------------------- find / count

  test('docs: find filters on data fields, data.<path>, id and metadata', withStore(async ({ storage }) => {
    const users = await seedUsers(storage);
    deepEqual(ids(await users.find({ filter: { age: 36 } })), ['ada', 'cy']);
    deepEqual(ids(await users.find({ filter: { 'data.age': 36 } })), ['ada', 'cy'], 'data.<path> is the same field');
    deepEqual(ids(await users.find({ filter: { 'address.city': 'Paris' } })), ['bob', 'cy']);
    deepEqual(ids(await users.find({ filter: { age: { $exists: false } } })), ['fay']);
    deepEqual(ids(await users.find({ filter: { id: 'cy' } })), ['cy']);
    deepEqual(ids(await users.find({ filter: { id: { $in: ['eve', 'ada', 'zed'] } } })), ['ada', 'eve']);
    deepEqual(ids(await users.find({ filter: { id: { $gt: 'cy' } } })), ['dee', 'eve', 'fay']);
    deepEqual(ids(await users.find({ filter: { id: { $ne: 'cy' }, age: 36 } })), ['ada']);
    deepEqual(ids(await users.find({ filter: { $or: [{ id: 'ada' }, { age: 25 }] } })), ['ada', 'bob', 'eve']);
    deepEqual(ids(await users.find({ filter: { 'metadata.tags': 'vip' } })), ['eve']);
    deepEqual(ids(await users.find({ filter: { 'metadata.version': 1 } })), ['ada', 'bob', 'cy', 'dee', 'eve', 'fay']);

    const all = await users.find();
    const t = all.find((d) => d.id === 'cy')!.metadata.updatedAt;
    deepEqual(ids(await users.find({ filter: { 'metadata.updatedAt': { $gt: t } } })), ['dee', 'eve', 'fay']);
    deepEqual(ids(await users.find({ filter: { 'metadata.createdAt': { $lte: t } } })), ['ada', 'bob', 'cy']);

    await sleep(3);
    await users.update('bob', { age: 26 });
    deepEqual(ids(await users.find({ filter: { 'metadata.version': 2 } })), ['bob']);
    deepEqual(ids(await users.find({ filter: { 'metadata.updatedAt': { $gt: t } } })), ['bob', 'dee', 'eve', 'fay']);

    equal(await users.count(), 6);
    equal(await users.count({ filter: { age: { $gte: 30 } } }), 3);
    equal(await users.count({ filter: { id: { $in: ['ada', 'nobody'] } } }), 1);
    equal(await users.count({ filter: { age: { $gt: 100 } } }), 0);

    const d = (await users.find({ filter: { id: 'ada' } }))[0]!;
    deepEqual(d, await users.get('ada'), 'find returns whole documents');
  }));

  test('docs: find sorts on data fields, id and metadata.updatedAt; missing last; ties by id', withStore(async ({ storage }) => {
    const users = await seedUsers(storage);
    deepEqual(ids(await users.find({ sort: { age: 1 } })), ['bob', 'eve', 'ada', 'cy', 'dee', 'fay']);
    deepEqual(ids(await users.find({ sort: { age: -1 } })), ['dee', 'ada', 'cy', 'bob', 'eve', 'fay']);
    deepEqual(ids(await users.find({ sort: { 'data.age': 'desc' } })), ['dee', 'ada', 'cy', 'bob', 'eve', 'fay']);
    deepEqual(ids(await users.find({ sort: { id: -1 } })), ['fay', 'eve', 'dee', 'cy', 'bob', 'ada']);
    deepEqual(ids(await users.find({ sort: { age: 1, id: -1 } })), ['eve', 'bob', 'cy', 'ada', 'dee', 'fay']);
    deepEqual(ids(await users.find({ sort: { 'metadata.updatedAt': -1 } })), ['fay', 'eve', 'dee', 'cy', 'bob', 'ada']);
    await sleep(3);
    await users.update('cy', { seen: true });
    deepEqual(ids(await users.find({ sort: { 'metadata.updatedAt': -1 }, limit: 2 })), ['cy', 'fay'], 'the updated document is the newest');
    deepEqual(ids(await users.find({ sort: { 'metadata.createdAt': 1 } })), ['ada', 'bob', 'cy', 'dee', 'eve', 'fay'], 'createdAt does not move');
    deepEqual(ids(await users.find({ filter: { age: { $lt: 40 } }, sort: { 'address.city': 1, age: -1 } })), ['ada', 'cy', 'bob', 'eve']);
  }));

  test('docs: find pages with limit, offset and after (an id)', withStore(async ({ storage }) => {
    const users = await seedUsers(storage);
    deepEqual(ids(await users.find({ limit: 2 })), ['ada', 'bob']);
    deepEqual(ids(await users.find({ offset: 4 })), ['eve', 'fay']);
    deepEqual(ids(await users.find({ offset: 1, limit: 2 })), ['bob', 'cy']);
    deepEqual(ids(await users.find({ limit: 0 })), []);
    deepEqual(ids(await users.find({ after: 'cy' })), ['dee', 'eve', 'fay']);
    deepEqual(ids(await users.find({ after: 'cy', offset: 1, limit: 1 })), ['eve'], 'offset applies after after');

    const collect = async (opts: Record<string, unknown>, size: number) => {
      const out: string[] = [];
      let after: string | undefined;
      for (let guard = 0; guard < 20; guard++) {
        const page = await users.find({ ...opts, limit: size, ...(after === undefined ? {} : { after }) });
        out.push(...ids(page));
        if (page.length < size) return out;
        after = page[page.length - 1]!.id;
      }
      throw new Error('paging did not end');
    };
    deepEqual(await collect({ sort: { age: -1 } }, 2), ['dee', 'ada', 'cy', 'bob', 'eve', 'fay']);
    deepEqual(await collect({ sort: { age: 1 } }, 4), ['bob', 'eve', 'ada', 'cy', 'dee', 'fay']);
    deepEqual(await collect({ sort: { 'metadata.updatedAt': -1 } }, 1), ['fay', 'eve', 'dee', 'cy', 'bob', 'ada']);
    deepEqual(await collect({ filter: { age: { $gte: 25 } }, sort: { age: 1 } }, 2), ['bob', 'eve', 'ada', 'cy', 'dee']);
    deepEqual(await collect({}, 4), ['ada', 'bob', 'cy', 'dee', 'eve', 'fay']);

    // With sort, the cursor is the record stored under `after` now; a deleted one is a conflict.
    await users.delete('cy');
    await rejects(users.find({ sort: { age: 1 }, after: 'cy' }), 'STORAGE_CONFLICT');
  }));

  // ----------------------------------------------------------------- unique index

  test('docs: a unique index on a collection refuses duplicates from insert, update and replace', withStore(async ({ storage }) => {
    const users = storage.collection('users');
    await users.insert({ email: 'a@x.org' }, { id: 'a' });
    await users.insert({ email: 'b@x.org' }, { id: 'b' });
    const info = await storage.createIndex('users', 'email', { unique: true });
    equal(info.unique, true);
    equal(info.state, 'ready');
    await rejectsUnchanged(storage, () => users.insert({ email: 'a@x.org' }, { id: 'c' }), 'STORAGE_CONFLICT', 'duplicate insert');
    await rejectsUnchanged(storage, () => users.update('b', { email: 'a@x.org' }), 'STORAGE_CONFLICT', 'update to a duplicate');
    await rejectsUnchanged(storage, () => users.replace('b', { email: 'a@x.org', more: 1 }), 'STORAGE_CONFLICT', 'replace to a duplicate');
    await rejectsUnchanged(storage, () => storage.set('users.z', { email: 'b@x.org' }), 'STORAGE_CONFLICT', 'set of a duplicate under users.<id>');
    equal(await users.count(), 2);

    // Missing counts as a value: one document may lack the field, not two.
    await users.insert({ name: 'no email' }, { id: 'n1' });
    await rejectsUnchanged(storage, () => users.insert({ name: 'no email either' }, { id: 'n2' }), 'STORAGE_CONFLICT', 'second document without the field');

    // The value is free again once its holder is deleted or changed.
    await users.delete('a');
    equal((await users.insert({ email: 'a@x.org' }, { id: 'c' })).id, 'c');
    await users.update('b', { email: 'b2@x.org' });
    equal((await users.insert({ email: 'b@x.org' }, { id: 'd' })).id, 'd');
    deepEqual(ids(await users.find({ filter: { email: 'b@x.org' } })), ['d']);

    const race = await Promise.allSettled(['r1', 'r2', 'r3'].map((id) => users.insert({ email: 'race@x.org' }, { id })));
    equal(race.filter((r) => r.status === 'fulfilled').length, 1, 'one of concurrent duplicate inserts wins');
    equal(await users.count({ filter: { email: 'race@x.org' } }), 1);
  }));

  // ----------------------------------------------------------------- bad input

  test('docs: bad ids are StorageValidationError and change nothing', withStore(async ({ storage }) => {
    const users = storage.collection('users');
    await users.insert({ n: 1 }, { id: 'ok' });
    const { bad, done } = collect(storage);
    const badIds: unknown[] = ['', 'a.b', '.', 'a*', '*', 'a\\b', 'x'.repeat(257), 5, null, {}, ['a']];
    for (const id of badIds) {
      const l = JSON.stringify(id)?.slice(0, 30);
      if (id !== null && typeof id !== 'string') await bad(() => users.insert({ n: 2 }, { id: id as string }), 'STORAGE_VALIDATION', `insert options.id ${l}`);
      if (typeof id === 'string') {
        await bad(() => users.insert({ n: 2 }, { id }), 'STORAGE_VALIDATION', `insert options.id ${l}`);
        await bad(() => users.insert({ id, n: 2 }), 'STORAGE_VALIDATION', `insert data.id ${l}`);
      }
      await bad(() => users.get(id as string), 'STORAGE_VALIDATION', `get ${l}`);
      await bad(() => users.update(id as string, { n: 3 }), 'STORAGE_VALIDATION', `update ${l}`);
      await bad(() => users.replace(id as string, { n: 3 }), 'STORAGE_VALIDATION', `replace ${l}`);
      await bad(() => users.delete(id as string), 'STORAGE_VALIDATION', `delete ${l}`);
      await bad(() => users.find({ after: id as string }), 'STORAGE_VALIDATION', `find after ${l}`);
    }
    await bad(() => users.insert({ n: 2 }, { id: null as never }), 'STORAGE_VALIDATION', 'insert options.id null');
    for (const name of ['', 'a*', 'a..b', '.a', 'a.', 'a\\b', 5, null]) {
      await bad(async () => storage.collection(name as string).insert({ n: 1 }), 'STORAGE_VALIDATION', `collection name ${JSON.stringify(name)}`);
    }
    done();
    deepEqual(await storage.keys('**'), ['users.ok']);
  }));

  test('docs: bad data, changes and options are StorageValidationError and change nothing', withStore(async ({ storage }) => {
    const users = storage.collection('users');
    await users.insert({ n: 1 }, { id: 'ok' });
    const { bad, done } = collect(storage);
    for (const data of [null, undefined, 5, 'text', true, [1, 2], []]) {
      const l = JSON.stringify(data);
      await bad(() => users.insert(data as never), 'STORAGE_VALIDATION', `insert data ${l}`);
      await bad(() => users.insert(data as never, { id: 'new' }), 'STORAGE_VALIDATION', `insert data ${l} with id`);
      await bad(() => users.replace('ok', data as never), 'STORAGE_VALIDATION', `replace data ${l}`);
      await bad(() => users.update('ok', data as never), 'STORAGE_VALIDATION', `update changes ${l}`);
    }
    await bad(() => users.insert({ f: () => 1 }), 'STORAGE_VALIDATION', 'data holding a function');
    await bad(() => users.update('ok', { f: () => 1 }), 'STORAGE_VALIDATION', 'update to a function');
    await bad(() => users.update('ok', new Map([['n', 2]]) as never), 'STORAGE_VALIDATION', 'update changes as a Map');
    for (const path of ['', 'a..b', '.a', 'a.', '__proto__', 'a.__proto__', 'constructor', 'constructor.prototype.x', 'a.prototype']) {
      const changes: Record<string, unknown> = {};
      Object.defineProperty(changes, path, { value: 1, enumerable: true, configurable: true, writable: true });
      await bad(() => users.update('ok', changes), 'STORAGE_VALIDATION', `update path ${JSON.stringify(path)}`);
    }
    const badOptions: [string, unknown][] = [
      ['unknown option', { foo: 1 }],
      ['null options', null],
      ['array options', []],
      ['string options', 'x'],
      ['ttl 0', { ttl: 0 }],
      ['negative ttl', { ttl: -1 }],
      ['ttl as string', { ttl: '60' }],
      ['tags not an array', { tags: 'a' }],
      ['tags with a number', { tags: [1] }],
    ];
    for (const [label, o] of badOptions) {
      await bad(() => users.insert({ n: 2 }, o as never), 'STORAGE_VALIDATION', `insert: ${label}`);
      await bad(() => users.update('ok', { n: 2 }, o as never), 'STORAGE_VALIDATION', `update: ${label}`);
      await bad(() => users.replace('ok', { n: 2 }, o as never), 'STORAGE_VALIDATION', `replace: ${label}`);
    }
    await bad(() => users.update('ok', { n: 2 }, { id: 'x' } as never), 'STORAGE_VALIDATION', 'update: id is an option of insert only');
    await bad(() => users.replace('ok', { n: 2 }, { id: 'x' } as never), 'STORAGE_VALIDATION', 'replace: id is an option of insert only');
    await bad(() => users.delete('ok', { ttl: 5 } as never), 'STORAGE_VALIDATION', 'delete: ttl');
    await bad(() => users.delete('ok', { tags: ['a'] } as never), 'STORAGE_VALIDATION', 'delete: tags');
    await bad(() => users.delete('ok', { foo: 1 } as never), 'STORAGE_VALIDATION', 'delete: unknown option');
    for (const v of [0, -1, 1.5, '1', NaN, Infinity, null, true, 2 ** 53]) {
      const l = `expectedVersion ${String(v)}`;
      await bad(() => users.update('ok', { n: 2 }, { expectedVersion: v as number }), 'STORAGE_VALIDATION', `update ${l}`);
      await bad(() => users.replace('ok', { n: 2 }, { expectedVersion: v as number }), 'STORAGE_VALIDATION', `replace ${l}`);
      await bad(() => users.delete('ok', { expectedVersion: v as number }), 'STORAGE_VALIDATION', `delete ${l}`);
      await bad(() => users.insert({ n: 2 }, { id: 'fresh', expectedVersion: v as number }), 'STORAGE_VALIDATION', `insert ${l}`);
    }
    const badFind: [string, unknown][] = [
      ['find options not an object', 'x'],
      ['unknown find option', { foo: 1 }],
      ['$where', { filter: { $where: 'true' } }],
      ['unknown operator', { filter: { n: { $foo: 1 } } }],
      ['regex on id', { filter: { id: { $regex: 'o' } } }],
      ['id not a string', { filter: { id: 5 } }],
      ['bad sort direction', { sort: { n: 2 } }],
      ['bad sort path', { sort: { 'a..b': 1 } }],
      ['negative limit', { limit: -1 }],
      ['fractional offset', { offset: 0.5 }],
      ['filter not an object', { filter: [] }],
    ];
    for (const [label, o] of badFind) {
      await bad(() => users.find(o as never), 'STORAGE_VALIDATION', `find: ${label}`);
    }
    await bad(() => users.count({ filter: { n: { $in: 1 } } }), 'STORAGE_VALIDATION', 'count: $in not an array');
    await bad(() => users.count({ limit: 1 } as never), 'STORAGE_VALIDATION', 'count: paging option');
    done();
    deepEqual((await users.get('ok'))?.data, { n: 1 });
    equal((await users.get('ok'))?.metadata.version, 1);
  }));
}
