/**
 * Rows 8–10 in Node, on the memory tier and on LevelDB (workloads: bench/lib/transactions.ts).
 * Both sides of a line are the SDK, each on a store of its own: a fresh StorageSystem, or a
 * fresh LevelDB directory, opened before and closed (and removed) after the timing. The sides are
 * timed in alternating blocks within each run (see `alternating`), and which side starts rotates
 * from run to run.
 *
 *   8  transaction of 100 writes, committed, vs batchSet of the same 100 records, same durability
 *      ('relaxed' on both sides; on LevelDB also 'strict' on both sides)
 *   9  LevelDB: 'strict' vs 'relaxed' (awaited set() one by one; the 100-write transactions of row 8)
 *   10 transactions reading 2 and writing 2 keys of disjoint key sets: 8 at once vs 1 at a time
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageSystem } from '../src/index.node.ts';
import { Samples, collectGarbage, type Line } from './lib/measure.ts';
import { makeDataset } from './lib/records.ts';
import { accountEntries, alternating, setCase, transferCase, writeCase, type Case } from './lib/transactions.ts';

export interface NodeTxOptions {
  /** Runs (each ~10 s; at least 5 like rows 1 and 7). */
  runs: number;
  /** Row 8: records written per side on memory (50,000) and on LevelDB (20,000); multiples of 100. */
  memWrites: number;
  levelWrites: number;
  /** Row 9: awaited set() calls per side (2,000). */
  sets: number;
  /** Row 10: transactions per side on memory (16,000) and LevelDB (4,000); multiples of 8. */
  memTransfers: number;
  levelTransfers: number;
  tmp: string;
  log: (msg: string) => void;
}

type Where = 'memory' | 'level';

export async function runNodeTransactions(o: NodeTxOptions): Promise<Line[]> {
  const samples = new Samples();
  const { keys, values } = makeDataset(Math.max(o.memWrites, o.levelWrites, o.sets));
  const accounts = accountEntries();
  await rm(o.tmp, { recursive: true, force: true });
  await mkdir(o.tmp, { recursive: true });

  /**
   * Opens a fresh store per case (filled with the row-10 accounts when `fill`), times the cases
   * in alternating blocks, then closes and removes every store.
   */
  const measure = async <K extends string>(run: number, where: Where, names: readonly K[], makeCase: (db: StorageSystem, name: K) => Case, fill = false): Promise<Record<K, number>> => {
    const stores: [K, StorageSystem, string | undefined][] = [];
    try {
      for (const name of names) {
        let db: StorageSystem;
        let dir: string | undefined;
        if (where === 'memory') {
          db = new StorageSystem();
        } else {
          dir = join(o.tmp, name);
          await rm(dir, { recursive: true, force: true });
          db = new StorageSystem({ defaultBackend: 'file' });
          await db.createBackend('file', { basePath: dir }).open();
        }
        stores.push([name, db, dir]);
        if (fill) await db.batchSet(accounts);
      }
      const cases = Object.fromEntries(stores.map(([name, db]) => [name, makeCase(db, name)])) as Record<K, Case>;
      return (await alternating(run, cases, collectGarbage)) as Record<K, number>;
    } finally {
      for (const [, db, dir] of stores) {
        await db.close();
        if (dir) await rm(dir, { recursive: true, force: true });
      }
    }
  };

  const oneRun = async (run: number, record: boolean, f = 1) => {
    const memN = Math.max(100, Math.round((o.memWrites * f) / 100) * 100);
    const levelN = Math.max(100, Math.round((o.levelWrites * f) / 100) * 100);
    const setN = Math.max(10, Math.round(o.sets * f));
    const memT = Math.max(8, Math.round((o.memTransfers * f) / 8) * 8);
    const levelT = Math.max(8, Math.round((o.levelTransfers * f) / 8) * 8);

    // Row 8 on memory (durability does not apply to the memory tier: relaxed only).
    const mem8 = await measure(run, 'memory', ['tx', 'batch'] as const, (db, name) =>
      writeCase(db, name === 'tx' ? 'transaction' : 'batchSet', 'relaxed', keys, values, memN));
    // Rows 8 and 9 on LevelDB: four cases in one alternation, so that row 9's strict/relaxed pair
    // of transactions is measured side by side too.
    const level8 = await measure(run, 'level', ['txRelaxed', 'batchRelaxed', 'txStrict', 'batchStrict'] as const, (db, name) =>
      writeCase(db, name.startsWith('tx') ? 'transaction' : 'batchSet', name.endsWith('Strict') ? 'strict' : 'relaxed', keys, values, levelN));
    const level9 = await measure(run, 'level', ['strict', 'relaxed'] as const, (db, name) => setCase(db, name, keys, values, setN));
    // Row 10.
    const mem10 = await measure(run, 'memory', ['c8', 'c1'] as const, (db, name) => transferCase(db, name === 'c8' ? 8 : 1, memT), true);
    const level10 = await measure(run, 'level', ['c8', 'c1'] as const, (db, name) => transferCase(db, name === 'c8' ? 8 : 1, levelT), true);
    if (record) {
      samples.add(mem8, 'mem.tx100.');
      samples.add(level8, 'level.tx100.');
      samples.add(level9, 'level.set.');
      samples.add(mem10, 'mem.conc.');
      samples.add(level10, 'level.conc.');
    }
  };

  o.log('rows 8–10 (Node transactions, durability): warm-up (a quarter of the work)');
  await oneRun(0, false, 0.25);
  for (let run = 0; run < o.runs; run++) {
    o.log(`rows 8–10 (Node transactions, durability): run ${run + 1}/${o.runs}`);
    await oneRun(run, true);
  }
  await rm(o.tmp, { recursive: true, force: true });

  const fmt = (x: number) => x.toLocaleString('en-US');
  const pair = (row: number, operation: string, baseline: string, sdk: string, base: string, target: number | null): Line => ({
    row, operation, baseline, target, sdk: samples.get(sdk), base: samples.get(base),
  });
  return [
    pair(8, `memory transaction of 100 writes, committed, relaxed (${fmt(o.memWrites)} writes)`, 'batchSet of the same 100, relaxed', 'mem.tx100.tx', 'mem.tx100.batch', 0.8),
    pair(8, `LevelDB transaction of 100 writes, committed, relaxed (${fmt(o.levelWrites)}, fresh dir)`, 'batchSet of the same 100, relaxed', 'level.tx100.txRelaxed', 'level.tx100.batchRelaxed', 0.8),
    pair(8, `LevelDB transaction of 100 writes, committed, strict (${fmt(o.levelWrites)}, fresh dir)`, 'batchSet of the same 100, strict', 'level.tx100.txStrict', 'level.tx100.batchStrict', 0.8),
    pair(9, `LevelDB set() awaited one by one, strict (${fmt(o.sets)}, fresh dir)`, 'the same, relaxed', 'level.set.strict', 'level.set.relaxed', null),
    pair(9, 'LevelDB transaction of 100 writes, strict (row 8, writes/s)', 'the same, relaxed', 'level.tx100.txStrict', 'level.tx100.txRelaxed', null),
    pair(10, `memory 8 concurrent transactions, disjoint keys, 2 reads + 2 writes, relaxed (${fmt(o.memTransfers)}, tx/s)`, '1 transaction at a time', 'mem.conc.c8', 'mem.conc.c1', 1.0),
    pair(10, `LevelDB 8 concurrent transactions, disjoint keys, 2 reads + 2 writes, relaxed (${fmt(o.levelTransfers)}, tx/s)`, '1 transaction at a time', 'level.conc.c8', 'level.conc.c1', 1.0),
  ];
}
