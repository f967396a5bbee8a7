/**
 * Page bundle of the crash test (crash.test.ts): a write workload that runs until the browser is
 * killed, reporting every ACKNOWLEDGED write to Node on the console, and a reader that returns
 * everything the store holds after the relaunch, for Node to check against the acknowledgements.
 *
 * The workload, all at the given durability, concurrently (so writes share engine batches):
 * - SET_LOOPS loops of `set('s.<cycle>.<loop>.<i>', …)`, each awaited before the next;
 * - a loop of `batchSet` of three keys `b.<cycle>.<i>.{0,1,2}` (all or none must survive);
 * - a loop of `transaction(fn)`: move an amount between two of ACCOUNTS accounts and log it as
 *   `tx.<seq>`, in one commit, so the total is constant and a torn commit is visible.
 */
import { StorageSystem } from '../../src/index.browser';
import { ACCOUNTS, ACK, INITIAL_BALANCE, SET_LOOPS, type Account, type Ack, type Contents, type Durability, type TxLog } from './crash-shared';

declare global {
  interface Window {
    /** Creates the accounts if the store has none yet (strict). */
    __crashInit(basePath: string): Promise<void>;
    /** Starts the workload; resolves at once (it runs until the browser dies). */
    __crashStart(basePath: string, cycle: number, durability: Durability, firstSeq: number): void;
    /** Everything the store holds. */
    __crashRead(basePath: string): Promise<Contents>;
  }
}

const open = (basePath: string) => {
  const storage = new StorageSystem({ defaultBackend: 'file' });
  storage.createBackend('file', { basePath, sweepInterval: 0 });
  return storage;
};

const acct = (i: number) => `acct.${i}`;
const ack = (a: Ack) => console.log(ACK + JSON.stringify(a));

window.__crashInit = async (basePath) => {
  const storage = open(basePath);
  if ((await storage.keys('acct.*')).length === 0) {
    await storage.batchSet(Array.from({ length: ACCOUNTS }, (_, i) => ({ key: acct(i), value: { balance: INITIAL_BALANCE, last: 0 } satisfies Account })), { durability: 'strict' });
  }
  await storage.close();
};

window.__crashStart = (basePath, cycle, durability, firstSeq) => {
  const storage = open(basePath);
  const fail = (where: string) => (err: unknown) => console.error(`tierstore-crash-error ${where}: ${(err as Error)?.stack ?? err}`);
  for (let loop = 0; loop < SET_LOOPS; loop++) {
    void (async () => {
      for (let i = 0; ; i++) {
        const key = `s.${cycle}.${loop}.${i}`;
        await storage.set(key, i, { durability });
        ack({ kind: 's', key, value: i });
      }
    })().catch(fail(`set loop ${loop}`));
  }
  void (async () => {
    for (let i = 0; ; i++) {
      const keys = [0, 1, 2].map((j) => `b.${cycle}.${i}.${j}`);
      await storage.batchSet(keys.map((key) => ({ key, value: i })), { durability });
      ack({ kind: 'b', keys, value: i });
    }
  })().catch(fail('batch loop'));
  void (async () => {
    for (let seq = firstSeq; ; seq++) {
      const from = Math.floor(Math.random() * ACCOUNTS);
      const to = (from + 1 + Math.floor(Math.random() * (ACCOUNTS - 1))) % ACCOUNTS;
      const amount = 1 + Math.floor(Math.random() * 50);
      await storage.transaction(async (tx) => {
        const a = (await tx.get<Account>(acct(from)))!;
        const b = (await tx.get<Account>(acct(to)))!;
        await tx.set(acct(from), { balance: a.balance - amount, last: seq } satisfies Account);
        await tx.set(acct(to), { balance: b.balance + amount, last: seq } satisfies Account);
        await tx.set(`tx.${seq}`, { from, to, amount } satisfies TxLog);
      }, { durability });
      ack({ kind: 't', seq, from, to, amount });
    }
  })().catch(fail('transaction loop'));
};

window.__crashRead = async (basePath) => {
  const storage = open(basePath);
  const keys = await storage.keys('**');
  const all = await storage.batchGet(keys);
  await storage.close();
  const values: Record<string, unknown> = {};
  const txlog: Record<string, TxLog> = {};
  keys.forEach((k, i) => {
    if (k.startsWith('tx.')) txlog[k.slice(3)] = all[i] as TxLog;
    else if (!k.startsWith('acct.')) values[k] = all[i];
  });
  const accounts = Array.from({ length: ACCOUNTS }, (_, i) => all[keys.indexOf(acct(i))] as Account | undefined);
  return { values, accounts, txlog };
};
