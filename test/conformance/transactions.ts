/** Transactions: atomicity, read-your-writes, optimistic conflicts, rollback, timeout, on every engine. */
import type { Declare, Fixture, Target } from './types';
import { deepEqual, equal, ok, rejects } from '../support/assert';
import { sleep, snapshot, storeRunner } from './util';

export function transactionTests(test: Declare, target: Target): void {
  const withStore = storeRunner(target);

  test('tx: commit applies every write at once; nothing is visible before', withStore(async ({ storage }) => {
    await storage.set('user.balance', 1);
    const tx = await storage.beginTransaction();
    await tx.set('user.balance', 100);
    await tx.set('transaction.log', { userId: 'user-123', amount: 100 }, { ttl: 3600, tags: ['log'] });
    await tx.delete('gone');
    equal(await storage.get('user.balance'), 1, 'outside the transaction nothing changed yet');
    equal(await storage.get('transaction.log'), undefined);
    await tx.commit();
    equal(tx.status, 'committed');
    equal(await storage.get('user.balance'), 100);
    const log = await storage.getEntry('transaction.log');
    deepEqual(log?.value, { userId: 'user-123', amount: 100 });
    deepEqual(log?.metadata.tags, ['log']);
    equal((await storage.getEntry('user.balance'))!.metadata.version, 2);
  }));

  test('tx: reads see the transaction\'s own writes', withStore(async ({ storage }) => {
    await storage.batchSet([{ key: 'a.1', value: 1 }, { key: 'a.2', value: 2 }]);
    const tx = await storage.beginTransaction();
    await tx.set('a.3', 3);
    equal(await tx.delete('a.1'), true);
    equal(await tx.get('a.3'), 3);
    equal(await tx.get('a.1'), undefined);
    equal(await tx.has('a.1'), false);
    deepEqual(await tx.batchGet(['a.1', 'a.2', 'a.3']), [undefined, 2, 3]);
    deepEqual(await tx.keys('a.*'), ['a.2', 'a.3']);
    const pending = await tx.getEntry('a.2');
    equal(pending?.metadata.version, 1);
    await tx.set('a.2', 20);
    equal((await tx.getEntry('a.2'))?.metadata.version, 2, 'metadata of a pending write is what commit stores');
    const v = (await tx.get('a.3')) as number;
    equal(v, 3);
    await tx.commit();
    deepEqual(await storage.keys('a.*'), ['a.2', 'a.3']);
  }));

  test('tx: rollback discards every write', withStore(async ({ storage }) => {
    await storage.set('k', 'before');
    const before = await snapshot(storage);
    const tx = await storage.beginTransaction();
    await tx.set('k', 'after');
    await tx.set('new', 1);
    await tx.rollback();
    equal(tx.status, 'rolled back');
    deepEqual(await snapshot(storage), before);
  }));

  test('tx: a key read then changed by someone else is a conflict; nothing is written', withStore(async ({ storage }) => {
    await storage.set('acct.a', 10);
    const tx = await storage.beginTransaction();
    equal(await tx.get('acct.a'), 10);
    await tx.set('acct.b', 1);
    await storage.set('acct.a', 11);
    await rejects(tx.commit(), 'STORAGE_CONFLICT');
    equal(tx.status, 'failed');
    equal(await storage.get('acct.b'), undefined);
    equal(await storage.get('acct.a'), 11);
  }));

  test('tx: two transactions racing on the same key: one commits, the other conflicts', withStore(async ({ storage }) => {
    await storage.set('counter', 0);
    const t1 = await storage.beginTransaction();
    const t2 = await storage.beginTransaction();
    const v1 = (await t1.get<number>('counter'))!;
    const v2 = (await t2.get<number>('counter'))!;
    await t1.set('counter', v1 + 1);
    await t2.set('counter', v2 + 1);
    const results = await Promise.allSettled([t1.commit(), t2.commit()]);
    equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!;
    equal((failed.reason as { code: string }).code, 'STORAGE_CONFLICT');
    equal(await storage.get('counter'), 1);
  }));

  test('tx: a key added under a pattern the transaction listed is a conflict (phantom)', withStore(async ({ storage }) => {
    await storage.set('acct.a', 1);
    const tx = await storage.beginTransaction();
    deepEqual(await tx.keys('acct.*'), ['acct.a']);
    await tx.set('summary', 1);
    await storage.set('other.x', 1); // outside the pattern: no conflict by itself
    await storage.set('acct.z', 1);
    await rejects(tx.commit(), 'STORAGE_CONFLICT');
    equal(await storage.get('summary'), undefined);

    const ok2 = await storage.beginTransaction();
    await ok2.keys('acct.*');
    await ok2.set('summary', 2);
    await storage.set('elsewhere.1', 1);
    await ok2.commit();
    equal(await storage.get('summary'), 2);
  }));

  test('tx: a key written by someone else while the transaction writes it blind is a conflict', withStore(async ({ storage }) => {
    const tx = await storage.beginTransaction();
    await tx.set('blind', 'tx');
    await storage.set('blind', 'outside');
    await rejects(tx.commit(), 'STORAGE_CONFLICT');
    equal(await storage.get('blind'), 'outside');
  }));

  test('tx: transactions on disjoint keys all commit', withStore(async ({ storage }) => {
    const txs = await Promise.all(Array.from({ length: 8 }, () => storage.beginTransaction()));
    await Promise.all(txs.map(async (tx, i) => { await tx.get(`d.${i}`); await tx.set(`d.${i}`, i); }));
    await Promise.all(txs.map((tx) => tx.commit()));
    equal((await storage.keys('d.*')).length, 8);
  }));

  test('tx: timeout rolls back; later use is StorageTimeoutError', withStore(async ({ storage }) => {
    const tx = await storage.beginTransaction({ timeout: 30 });
    await tx.set('late', 1);
    await sleep(60);
    equal(tx.status, 'timed out');
    await rejects(tx.commit(), 'STORAGE_TIMEOUT');
    await rejects(tx.get('late'), 'STORAGE_TIMEOUT');
    equal(await storage.get('late'), undefined);
  }));

  test('tx: use after commit or rollback is a typed error', withStore(async ({ storage }) => {
    const tx = await storage.beginTransaction();
    await tx.set('k', 1);
    await tx.commit();
    await rejects(tx.set('k', 2), 'STORAGE_TX_CLOSED');
    await rejects(tx.get('k'), 'STORAGE_TX_CLOSED');
    await rejects(tx.commit(), 'STORAGE_TX_CLOSED');
    await rejects(tx.rollback(), 'STORAGE_TX_CLOSED');
    const rolled = await storage.beginTransaction();
    await rolled.rollback();
    await rejects(rolled.set('k', 3), 'STORAGE_TX_CLOSED');
    equal(await storage.get('k'), 1);
  }));

  test('tx: one backend per transaction; bad input is refused and changes nothing', withStore(async ({ storage }) => {
    storage.createBackend('memory', { name: 'other' });
    const tx = await storage.beginTransaction();
    const err = await rejects(tx.set('k', 1, { backend: 'other' }), 'STORAGE_VALIDATION');
    ok(err.message.includes('other') && err.message.includes(tx.backend), err.message);
    await rejects(tx.get('k', { backend: 'other' }), 'STORAGE_VALIDATION');
    await rejects(tx.set('', 1), 'STORAGE_VALIDATION');
    await rejects(tx.set('k', () => 1), 'STORAGE_VALIDATION');
    await rejects(tx.set('k', 1, { ttl: -1 }), 'STORAGE_VALIDATION');
    await rejects(tx.batchSet([{ key: 'ok', value: 1 }, { key: 'bad', value: Symbol('s') }]), 'STORAGE_VALIDATION');
    await rejects(tx.keys('***'), 'STORAGE_VALIDATION');
    await tx.commit();
    deepEqual(await storage.keys(), [], 'the rejected calls buffered nothing');
    await rejects(storage.beginTransaction({ timeout: -5 }), 'STORAGE_VALIDATION');
    await rejects(storage.beginTransaction({ backend: 'nope' }), 'STORAGE_VALIDATION');
    await rejects(storage.transaction('not a function' as never), 'STORAGE_VALIDATION');
  }));

  test('transaction(fn): retries on conflict until every increment lands', withStore(async ({ storage }) => {
    await storage.set('count', 0);
    await Promise.all(Array.from({ length: 10 }, () => storage.transaction(async (tx) => {
      const n = (await tx.get<number>('count'))!;
      await sleep(1);
      await tx.set('count', n + 1);
    }, { retries: 50 })));
    equal(await storage.get('count'), 10);
    const result = await storage.transaction(async (tx) => { await tx.set('r', 1); return 'done'; });
    equal(result, 'done');
    await rejects(storage.transaction(async (tx) => { await tx.set('thrown', 1); throw Object.assign(new Error('app'), { code: 'APP' }); }), 'APP');
    equal(await storage.get('thrown'), undefined);
  }));

  test('bank: concurrent random transfers through transaction() never change the total', withStore(async ({ storage }) => {
    const accounts = 8;
    await storage.batchSet(Array.from({ length: accounts }, (_, i) => ({ key: `bank.${i}`, value: 100 })));
    let seed = 7;
    const rand = (n: number) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
    await Promise.all(Array.from({ length: 60 }, () => {
      const from = rand(accounts);
      const to = (from + 1 + rand(accounts - 1)) % accounts;
      const amount = 1 + rand(20);
      return storage.transaction(async (tx) => {
        const a = (await tx.get<number>(`bank.${from}`))!;
        const b = (await tx.get<number>(`bank.${to}`))!;
        if (a < amount) return;
        await tx.set(`bank.${from}`, a - amount);
        await tx.set(`bank.${to}`, b + amount);
      }, { retries: 1000 });
    }));
    const balances = (await storage.batchGet<number>(Array.from({ length: accounts }, (_, i) => `bank.${i}`))) as number[];
    equal(balances.reduce((s, v) => s + v, 0), accounts * 100);
    ok(balances.every((v) => v >= 0));
  }));
}
