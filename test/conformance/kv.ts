/** Key-value behaviour every engine must share. */
import type { Declare, Target } from './types';
import { deepEqual, equal, ok, rejects } from '../support/assert';
import { storeRunner } from './util';

export function kvTests(test: Declare, target: Target): void {
  const withStore = storeRunner(target);

  test('set then get returns an equal value; a missing key is undefined', withStore(async ({ storage }) => {
    const profile = { id: 'user-123', name: 'John Doe', preferences: { theme: 'dark' } };
    await storage.set('user.profile', profile);
    deepEqual(await storage.get('user.profile'), profile);
    equal(await storage.get('user.missing'), undefined);
    equal(await storage.has('user.profile'), true);
    equal(await storage.has('user.missing'), false);
  }));

  test('overwriting keeps createdAt, moves updatedAt and bumps version', withStore(async ({ storage }) => {
    await storage.set('k', 1, { tags: ['a', 'b'] });
    const first = await storage.getEntry('k');
    ok(first);
    equal(first.metadata.version, 1);
    deepEqual(first.metadata.tags, ['a', 'b']);
    equal(first.metadata.ttl, undefined);
    equal(first.metadata.expiresAt, undefined);
    await new Promise((r) => setTimeout(r, 5));
    await storage.set('k', 2, { ttl: 3600 });
    const second = await storage.getEntry('k');
    ok(second);
    equal(second.value, 2);
    equal(second.metadata.createdAt, first.metadata.createdAt);
    ok(second.metadata.updatedAt > first.metadata.updatedAt, 'updatedAt moves');
    equal(second.metadata.version, 2);
    equal(second.metadata.ttl, 3600);
    ok(Math.abs(second.metadata.expiresAt! - (second.metadata.updatedAt + 3600_000)) <= 1, 'expiresAt = updatedAt + ttl');
    equal(second.metadata.tags, undefined, 'tags belong to the last write');
  }));

  test('a value cannot be changed through the store after set or after get', withStore(async ({ storage }) => {
    const v = { list: [1, 2], nested: { x: 1 }, bytes: new Uint8Array([1, 2, 3]) };
    await storage.set('v', v);
    v.list.push(3);
    v.nested.x = 99;
    v.bytes[0] = 42;
    const got = (await storage.get('v')) as typeof v;
    deepEqual(got, { list: [1, 2], nested: { x: 1 }, bytes: new Uint8Array([1, 2, 3]) });
    got.list.push(4);
    got.nested.x = 7;
    got.bytes[1] = 77;
    deepEqual(await storage.get('v'), { list: [1, 2], nested: { x: 1 }, bytes: new Uint8Array([1, 2, 3]) });
    const entry = await storage.getEntry('v');
    entry!.metadata.createdAt = 0;
    ok((await storage.getEntry('v'))!.metadata.createdAt !== 0, 'metadata is a copy');
  }));

  test('batchSet writes every entry; batchGet is aligned with its keys', withStore(async ({ storage }) => {
    await storage.batchSet([
      { key: 'user.1', value: { n: 1 } },
      { key: 'user.2', value: { n: 2 }, ttl: 60, tags: ['t'] },
    ]);
    deepEqual(await storage.batchGet(['user.1', 'user.2', 'user.9', 'user.1']), [{ n: 1 }, { n: 2 }, undefined, { n: 1 }]);
    equal((await storage.getEntry('user.2'))!.metadata.ttl, 60);
    deepEqual(await storage.batchGet([]), []);
    await storage.batchSet([]);
  }));

  test('batchSet with one bad entry writes nothing', withStore(async ({ storage }) => {
    await rejects(storage.batchSet([{ key: 'a', value: 1 }, { key: 'b', value: () => 1 }]), 'STORAGE_VALIDATION');
    await rejects(storage.batchSet([{ key: 'a', value: 1 }, { key: '', value: 1 }]), 'STORAGE_VALIDATION');
    await rejects(storage.batchSet([{ key: 'a', value: 1 }, { key: 'b', value: 1, ttl: -1 }]), 'STORAGE_VALIDATION');
    deepEqual(await storage.keys(), []);
  }));

  test('a large batchSet over a mix of existing and new keys keeps each createdAt and version', withStore(async ({ storage }) => {
    await storage.batchSet(Array.from({ length: 40 }, (_, i) => ({ key: `mix.${String(i * 2).padStart(3, '0')}`, value: 'old' })));
    await storage.batchSet(Array.from({ length: 40 }, (_, i) => ({ key: `other.${i}`, value: 0 }))); // outside the span
    const created = (await storage.getEntry('mix.000'))!.metadata.createdAt;
    await new Promise((r) => setTimeout(r, 5));
    await storage.batchSet(Array.from({ length: 80 }, (_, i) => ({ key: `mix.${String(i).padStart(3, '0')}`, value: 'new' })));
    for (let i = 0; i < 80; i++) {
      const e = (await storage.getEntry(`mix.${String(i).padStart(3, '0')}`))!;
      equal(e.value, 'new');
      equal(e.metadata.version, i % 2 === 0 ? 2 : 1, `version of mix.${i}`);
      if (i === 0) equal(e.metadata.createdAt, created, 'createdAt kept');
    }
  }));

  test('a large batchSet over existing keys beyond U+FFFF keeps their versions (engine key orders differ there)', withStore(async ({ storage }) => {
    const keys = Array.from({ length: 40 }, (_, i) => [`u.\uffff${i}`, `u.😀${i}`]).flat();
    await storage.batchSet(keys.map((key) => ({ key, value: 1 })));
    await storage.batchSet(keys.map((key) => ({ key, value: 2 })));
    for (const key of keys) equal((await storage.getEntry(key))!.metadata.version, 2, `version of ${key}`);
  }));

  test('the last of duplicate keys in one batchSet wins', withStore(async ({ storage }) => {
    await storage.batchSet([{ key: 'd', value: 1 }, { key: 'd', value: 2 }]);
    equal(await storage.get('d'), 2);
    equal((await storage.getEntry('d'))!.metadata.version, 2);
  }));

  test('delete reports whether a live entry existed', withStore(async ({ storage }) => {
    await storage.set('x', 1);
    equal(await storage.delete('x'), true);
    equal(await storage.delete('x'), false);
    equal(await storage.get('x'), undefined);
    await storage.set('x', 2);
    equal((await storage.getEntry('x'))!.metadata.version, 1, 'a deleted key starts again at version 1');
  }));

  test('clear(pattern) deletes only matching keys and counts them', withStore(async ({ storage }) => {
    await storage.batchSet(['user.1', 'user.2', 'user.a.b', 'users.1', 'other'].map((key) => ({ key, value: key })));
    equal(await storage.clear('user.*'), 2);
    deepEqual(await storage.keys(), ['other', 'user.a.b', 'users.1']);
    equal(await storage.clear('user.**'), 1);
    equal(await storage.clear('nothing.*'), 0);
    equal(await storage.clear('other'), 1);
    equal(await storage.clear(), 1);
    deepEqual(await storage.keys(), []);
  }));

  test('1,000 set() calls issued together all land', withStore(async ({ storage }) => {
    const writes = [];
    for (let i = 0; i < 1000; i++) writes.push(storage.set(`many.${String(i).padStart(4, '0')}`, { i }));
    await Promise.all(writes);
    const keys = await storage.keys('many.*');
    equal(keys.length, 1000);
    deepEqual(await storage.get('many.0999'), { i: 999 });
  }));

  test('concurrent writes to one key apply in call order', withStore(async ({ storage }) => {
    await Promise.all([storage.set('c', 1), storage.set('c', 2), storage.delete('c'), storage.set('c', 3)]);
    equal(await storage.get('c'), 3);
  }));

  test('events: set, delete, once and off', withStore(async ({ storage }) => {
    const seen: string[] = [];
    const onSet = (e: { key: string }) => seen.push(`set:${e.key}`);
    storage.on('set', onSet);
    storage.once('delete', (e) => seen.push(`delete:${e.key}`));
    await storage.set('e1', 1);
    await storage.batchSet([{ key: 'e2', value: 2 }, { key: 'e3', value: 3 }]);
    await storage.delete('e1');
    await storage.delete('e2');
    storage.off('set', onSet);
    await storage.set('e4', 4);
    deepEqual(seen, ['set:e1', 'set:e2', 'set:e3', 'delete:e1']);
    await rejects(async () => storage.on('nope' as 'set', () => {}), 'STORAGE_VALIDATION');
  }));

  test('keys(prefix.*) reads only the prefix range', withStore(async (f) => {
    const { storage } = f;
    const entries = [];
    for (let i = 0; i < 500; i++) entries.push({ key: `aa.${i}`, value: i }, { key: `ab.${i}`, value: i }, { key: `a.${i}`, value: i });
    await storage.batchSet(entries);
    const before = f.reads();
    const keys = await storage.keys('ab.*');
    equal(keys.length, 500);
    const read = f.reads() - before;
    ok(read <= 510, `keys('ab.*') read ${read} entries; the prefix range holds 500`);
  }));

  test('createBackend: same name returns the same backend; conflicts are typed errors', async () => {
    const f = await target.open();
    try {
      const { storage } = f;
      const mem = storage.createBackend('memory', { name: 'cache', maxSize: '1MB' });
      equal(storage.createBackend('memory', { name: 'cache', maxSize: '2MB' }), mem);
      await mem.set('k', 'v');
      equal(await storage.get('k', { backend: 'cache' }), 'v');
      equal(await storage.createBackend('memory', { name: 'cache' }).get('k'), 'v', 'data kept');
      await rejects(async () => storage.createBackend('file', { name: 'cache' }), 'STORAGE_VALIDATION');
      await rejects(async () => storage.createBackend('tape' as 'memory'), 'STORAGE_VALIDATION');
      await rejects(async () => storage.createBackend('memory', { name: 'm2', maxSize: 'lots' }), 'STORAGE_VALIDATION');
      await rejects(async () => storage.createBackend('memory', { name: 'm3', colour: 'red' } as never), 'STORAGE_VALIDATION');
      await rejects(async () => storage.createBackend('memory', { name: 'm4', enableEncryption: true }), 'STORAGE_VALIDATION');
      await rejects(storage.get('k', { backend: 'nope' }), 'STORAGE_VALIDATION');
      deepEqual(storage.listBackends().includes('m2'), false, 'a rejected createBackend creates nothing');
    } finally {
      await f.cleanup();
    }
  });

  test('maxSize: a write that would exceed it fails with StorageQuotaError and writes nothing', async () => {
    const f = await target.open();
    try {
      const small = f.storage.createBackend('memory', { name: 'small', maxSize: 600 });
      await small.set('a', 'x'.repeat(200));
      await rejects(small.set('b', 'y'.repeat(400)), 'STORAGE_QUOTA');
      await rejects(small.batchSet([{ key: 'c', value: 1 }, { key: 'd', value: 'z'.repeat(500) }]), 'STORAGE_QUOTA');
      deepEqual(await small.keys(), ['a']);
      await small.delete('a');
      await small.set('b', 'y'.repeat(400));
      equal((await small.get<string>('b'))!.length, 400);
    } finally {
      await f.cleanup();
    }
  });

  test('a closed store rejects calls with STORAGE_CLOSED', async () => {
    const f = await target.open();
    await f.storage.set('k', 1);
    await f.storage.close();
    await rejects(f.storage.get('k'), 'STORAGE_CLOSED');
    await rejects(f.storage.set('k', 2), 'STORAGE_CLOSED');
    await f.cleanup();
  });

  test('data survives close and reopen (persistent engines)', async () => {
    const f = await target.open();
    if (!f.reopen) {
      await f.cleanup();
      return;
    }
    await f.storage.set('p.1', { d: new Date(5), m: new Map([[1, 'a']]) }, { tags: ['x'] });
    await f.storage.set('p.ttl', 'later', { ttl: 3600 });
    const meta = (await f.storage.getEntry('p.1'))!.metadata;
    const g = await f.reopen();
    try {
      deepEqual(await g.storage.get('p.1'), { d: new Date(5), m: new Map([[1, 'a']]) });
      deepEqual((await g.storage.getEntry('p.1'))!.metadata, meta);
      ok((await g.storage.getEntry('p.ttl'))!.metadata.expiresAt! > Date.now());
      deepEqual(await g.storage.keys('p.*'), ['p.1', 'p.ttl']);
    } finally {
      await g.cleanup();
    }
  });
}
