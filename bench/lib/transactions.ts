/**
 * Workloads of rows 8–10 (transactions and durability), shared by the Node suite
 * (bench/node-tx.ts) and the Chromium page (bench/browser/page.ts): no Node imports here. Both
 * sides of every line are the SDK, each on a fresh store of its own.
 *
 * Row 8: `beginTransaction()` + 100 awaited `tx.set` + `commit()` against `batchSet` of the same
 *        100 records, with the same durability on both sides.
 * Row 9: the same writes with `durability: 'strict'` against `'relaxed'` (single awaited `set()`
 *        calls, and the 100-write transactions of row 8).
 * Row 10: transactions that read 2 keys and write both back (a transfer between two records), on
 *        8 disjoint key sets: one transaction at a time, or 8 at once (one per key set).
 *
 * The cases of a line are timed in alternating blocks within a run (`alternating`): case A does
 * a tenth of its work, then case B does a tenth of its work, then B, A, then A, B... and each
 * case's ops/s is its work over the sum of its blocks' times. Both sides thus run under the same
 * background load, which on a shared 2-core machine moves a whole-run figure by ±50 %.
 */
import type { StorageSystem } from '../../src/core/system.ts';
import type { BatchEntry, Durability } from '../../src/core/types.ts';
import { makeRecord, type BenchRecord } from './records.ts';

/** What the workloads use of a StorageSystem (the Node and browser classes both have it). */
export type TxStore = Pick<StorageSystem, 'beginTransaction' | 'transaction' | 'batchSet' | 'set'>;

/** One side of a line: `blocks` blocks of work, `ops` operations in all. */
export interface Case {
  ops: number;
  block: (i: number) => Promise<unknown>;
}

/** Blocks per case and run. */
export const BLOCKS = 10;

/** [start, end) of block `i` of `blocks` over `n` units. */
const span = (n: number, blocks: number, i: number): [number, number] => [Math.floor((i * n) / blocks), Math.floor(((i + 1) * n) / blocks)];

/**
 * Runs block 0 of every case, then block 1, ...; the order of the cases rotates by one at every
 * block, starting from `run`. Returns ops/s of each case: its `ops` over the total time of its blocks.
 * `gc` (a forced full collection) runs before every block, outside the timing, as before every
 * timed section of the other rows: one case's garbage is not collected on another case's clock.
 */
export async function alternating(run: number, cases: Record<string, Case>, gc?: () => void, blocks = BLOCKS): Promise<Record<string, number>> {
  const names = Object.keys(cases);
  const ms = new Map(names.map((n) => [n, 0]));
  for (let i = 0; i < blocks; i++) {
    const k = (run + i) % names.length;
    for (const name of [...names.slice(k), ...names.slice(0, k)]) {
      gc?.();
      const t0 = performance.now();
      await cases[name]!.block(i);
      ms.set(name, ms.get(name)! + performance.now() - t0);
    }
  }
  return Object.fromEntries(names.map((n) => [n, (cases[n]!.ops * 1000) / ms.get(n)!]));
}

// ---------------------------------------------------------------------------------- rows 8, 9

/** Writes per transaction (row 8) and per batchSet of its baseline. */
export const TX_WRITES = 100;

/**
 * Row 8 (and row 9's transaction line): keys[0..n) written in groups of 100, on `db`, either by
 * a transaction (`beginTransaction({ durability })`, 100 awaited `tx.set`, `commit()`; each
 * committed before the next begins) or by one awaited `batchSet(100 entries, { durability })`
 * (entries built before timing, as in row 2). `n` is a multiple of 100.
 */
export function writeCase(db: TxStore, how: 'transaction' | 'batchSet', durability: Durability, keys: readonly string[], values: readonly unknown[], n: number, blocks = BLOCKS): Case {
  const groups = n / TX_WRITES;
  if (how === 'transaction') {
    return {
      ops: n,
      block: async (i) => {
        const [g0, g1] = span(groups, blocks, i);
        for (let g = g0; g < g1; g++) {
          const tx = await db.beginTransaction({ durability });
          for (let k = g * TX_WRITES; k < (g + 1) * TX_WRITES; k++) await tx.set(keys[k]!, values[k]);
          await tx.commit();
        }
      },
    };
  }
  const chunks: BatchEntry[][] = [];
  for (let g = 0; g < groups; g++) {
    const chunk: BatchEntry[] = [];
    for (let k = g * TX_WRITES; k < (g + 1) * TX_WRITES; k++) chunk.push({ key: keys[k]!, value: values[k] });
    chunks.push(chunk);
  }
  return {
    ops: n,
    block: async (i) => {
      const [g0, g1] = span(groups, blocks, i);
      for (let g = g0; g < g1; g++) await db.batchSet(chunks[g]!, { durability });
    },
  };
}

/** Row 9: keys[0..n) written by awaited `set(key, value, { durability })` calls, one at a time. */
export function setCase(db: TxStore, durability: Durability, keys: readonly string[], values: readonly unknown[], n: number, blocks = BLOCKS): Case {
  return {
    ops: n,
    block: async (i) => {
      const [s, e] = span(n, blocks, i);
      for (let k = s; k < e; k++) await db.set(keys[k]!, values[k], { durability });
    },
  };
}

// ---------------------------------------------------------------------------------- row 10

/** Row 10: key sets (one per concurrent transaction) and keys per set. */
export const KEY_SETS = 8;
export const KEYS_PER_SET = 16;

/** Key `k` of key set `s`: `acct.s3.k07`. Sets share no key. */
export function accountKey(s: number, k: number): string {
  return `acct.s${s}.k${String(k).padStart(2, '0')}`;
}

/** Every record of every key set (written before timing). */
export function accountEntries(): BatchEntry<BenchRecord>[] {
  const out: BatchEntry<BenchRecord>[] = [];
  for (let s = 0; s < KEY_SETS; s++) for (let k = 0; k < KEYS_PER_SET; k++) out.push({ key: accountKey(s, k), value: makeRecord(s * KEYS_PER_SET + k) });
  return out;
}

/**
 * The j-th transaction on key set `s`: reads two of its records (one awaited `tx.get` after the
 * other) and writes both back with one point of `age` moved from the first to the second, through
 * `storage.transaction(fn, { durability: 'relaxed', retries: 0 })`. The key sets are disjoint, so
 * a StorageConflictError here fails the run.
 */
async function transfer(db: TxStore, s: number, j: number): Promise<void> {
  const pair = j % (KEYS_PER_SET / 2);
  const a = accountKey(s, 2 * pair);
  const b = accountKey(s, 2 * pair + 1);
  await db.transaction(async (tx) => {
    const ra = await tx.get<BenchRecord>(a);
    const rb = await tx.get<BenchRecord>(b);
    if (ra === undefined || rb === undefined) throw new Error(`bench: ${a} or ${b} is missing`);
    await tx.set(a, { ...ra, age: ra.age - 1 });
    await tx.set(b, { ...rb, age: rb.age + 1 });
  }, { durability: 'relaxed', retries: 0 });
}

/**
 * Row 10: `total` transactions (a multiple of 8), `total / 8` on each key set, on a store filled
 * with `accountEntries()`. `concurrency` 1: one at a time, cycling over the key sets. 8: in each
 * block, one sequence per key set, the 8 sequences running together (up to 8 transactions open at
 * once). The same transactions either way.
 */
export function transferCase(db: TxStore, concurrency: 1 | 8, total: number, blocks = BLOCKS): Case {
  const perSet = Math.floor(total / KEY_SETS);
  return {
    ops: perSet * KEY_SETS,
    block: async (i) => {
      const [j0, j1] = span(perSet, blocks, i);
      if (concurrency === 1) {
        for (let j = j0; j < j1; j++) for (let s = 0; s < KEY_SETS; s++) await transfer(db, s, j);
      } else {
        await Promise.all(Array.from({ length: KEY_SETS }, async (_, s) => {
          for (let j = j0; j < j1; j++) await transfer(db, s, j);
        }));
      }
    },
  };
}

/** `n` rounded to a positive multiple of `m`. */
export function multipleOf(n: number, m: number): number {
  return Math.max(m, Math.round(n / m) * m);
}
