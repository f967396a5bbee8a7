/**
 * Issue #4, rows 11–12 in Node: queries on a secondary index against the same query as a full
 * scan, on the memory tier and on LevelDB. (Row 11 in Chromium, IndexedDB vs Dexie, is in
 * bench/issue4-browser.ts.)
 *
 *   11  equality: `query('users.*', { filter: { group: v } })`, 100 results of 100,000 records,
 *       served by the index on `group`
 *   12  range + sort + limit: `query('users.*', { filter: { score: { $gte: a, $lt: a + 137 } },
 *       sort: { score: 1 }, limit: 20 })`, ~10 % of the records in range, served by the index on
 *       `score` (read in index order, no sort in memory)
 *
 * The comparison runs the same filter, sort and limit on the SAME store through the pattern
 * `users.**`: it selects exactly the same keys (every key is `users.<id>`), but indexes serve only
 * `<collection>.*` patterns (docs/queries.md), so the planner scans the whole range. Before timing,
 * `explain` must report `strategy: 'index'` (with the expected index) for the SDK side and
 * `strategy: 'scan'` reading every record for the comparison, and both must return the same keys.
 * Each side runs its own list of query values (the scan, ~1 s per query, runs fewer of them);
 * queries per second are reported.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { StorageSystem } from '../src/index.node.ts';
import type { BatchEntry } from '../src/index.node.ts';
import { Samples, interleaved, opsPerSecond, type Line } from './lib/measure.ts';
import { makeQueryRecord, queryKey } from './lib/corpus.ts';
import { shuffledIndexes } from './lib/records.ts';

export interface QueryBenchOptions {
  runs: number;
  /** Records (100,000). */
  records: number;
  /** Indexed queries per run and side (300). */
  indexed: number;
  /** Full-scan queries per run (3). */
  scans: number;
  tmp: string;
  log: (msg: string) => void;
}

const LOAD_CHUNK = 1000;
/** Width of the score range of row 12: scores are spread over [0, 1370), so ~10 % of the records. */
const SCORE_SPAN = 137;

type Filter = Record<string, unknown>;
interface QueryCase {
  options: (i: number) => { filter: Filter; sort?: Record<string, 1 | -1>; limit?: number };
  /** Expected results per query. */
  expect: number;
  index: string;
}

async function settle(dir: string): Promise<void> {
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  await db.compactRange('\u0000', '\uffff');
  await db.close();
}

async function openLevel(dir: string): Promise<StorageSystem> {
  const s = new StorageSystem({ defaultBackend: 'file' });
  await s.createBackend('file', { basePath: dir }).open();
  return s;
}

/** Fills a store with `n` query records in chunks of 1,000, then creates the indexes on `group` and `score`. */
export async function loadQueryStore(s: StorageSystem, n: number): Promise<{ loadMs: number; indexMs: number }> {
  const t0 = performance.now();
  for (let start = 0; start < n; start += LOAD_CHUNK) {
    const entries: BatchEntry[] = [];
    for (let i = start; i < Math.min(n, start + LOAD_CHUNK); i++) entries.push({ key: queryKey(i), value: makeQueryRecord(i) });
    await s.batchSet(entries);
  }
  const t1 = performance.now();
  await s.createIndex('users', 'group');
  await s.createIndex('users', 'score');
  return { loadMs: t1 - t0, indexMs: performance.now() - t1 };
}

export async function runQueryBench(o: QueryBenchOptions): Promise<Line[]> {
  const samples = new Samples();
  const groups = Math.min(1000, o.records);
  const perGroup = Math.floor(o.records / groups);
  const groupOrder = shuffledIndexes(groups, 11);
  const eq: QueryCase = { options: (i) => ({ filter: { group: groupOrder[i % groups]! } }), expect: perGroup, index: 'group' };
  // Lower bounds 0, 7, 14, … (mod 1233): every range lies inside [0, 1370).
  const range: QueryCase = {
    options: (i) => {
      const lo = (i * 7) % (1370 - SCORE_SPAN);
      return { filter: { score: { $gte: lo, $lt: lo + SCORE_SPAN } }, sort: { score: 1 }, limit: 20 };
    },
    expect: 20,
    index: 'score',
  };

  let sink = 0;
  const runner = (s: StorageSystem, pattern: string, c: QueryCase, count: number, offset: number) => async () => {
    for (let i = 0; i < count; i++) {
      const rows = await s.query(pattern, c.options(offset + i));
      if (rows.length !== c.expect) throw new Error(`bench: a ${c.index} query on ${pattern} returned ${rows.length} rows, expected ${c.expect}`);
      sink += rows.length;
    }
  };

  /**
   * Checks the plans (index on three query values; the full scan, ~1–3 s each, on one) and that
   * index and scan return the same keys.
   */
  const verify = async (s: StorageSystem, c: QueryCase) => {
    for (const i of [0, 1, 17]) {
      const pi = await s.explain('users.*', c.options(i));
      if (pi.strategy !== 'index' || pi.index !== c.index) throw new Error(`bench: expected the index "${c.index}" to serve ${JSON.stringify(c.options(i))}, got ${JSON.stringify(pi)}`);
    }
    const opts = c.options(0);
    const ps = await s.explain('users.**', opts);
    if (ps.strategy !== 'scan' || ps.recordsRead !== o.records) throw new Error(`bench: expected a full scan for users.**, got ${JSON.stringify(ps)}`);
    const a = (await s.query('users.*', opts)).map((e) => e.key).join();
    const b = (await s.query('users.**', opts)).map((e) => e.key).join();
    if (a !== b) throw new Error(`bench: index and scan disagree on ${JSON.stringify(opts)}`);
  };

  const measure = async (s: StorageSystem, prefix: string, run: number, record: boolean, f = 1) => {
    const idx = Math.max(1, Math.round(o.indexed * f));
    const scans = Math.max(1, Math.round(o.scans * f));
    // Every run starts at a different query value (the same for both sides of a line).
    const off = run * 101;
    const e = await interleaved(run, {
      sdk: () => opsPerSecond(idx, runner(s, 'users.*', eq, idx, off)),
      base: () => opsPerSecond(scans, runner(s, 'users.**', eq, scans, off)),
    });
    const r = await interleaved(run, {
      sdk: () => opsPerSecond(idx, runner(s, 'users.*', range, idx, off)),
      base: () => opsPerSecond(scans, runner(s, 'users.**', range, scans, off)),
    });
    if (record) {
      samples.add(e, `${prefix}.eq.`);
      samples.add(r, `${prefix}.range.`);
    }
  };

  const fmt = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  // ------------------------------------------------------------------ memory
  {
    const s = new StorageSystem();
    const t = await loadQueryStore(s, o.records);
    o.log(`rows 11–12 (memory): loaded ${o.records.toLocaleString('en-US')} records in ${fmt(t.loadMs)}, createIndex group + score in ${fmt(t.indexMs)}`);
    await verify(s, eq);
    await verify(s, range);
    o.log('rows 11–12 (memory): warm-up');
    await measure(s, 'mem', 0, false, 0.1);
    for (let r = 0; r < o.runs; r++) {
      o.log(`rows 11–12 (memory): run ${r + 1}/${o.runs}`);
      await measure(s, 'mem', r, true);
    }
    await s.close();
  }
  // ------------------------------------------------------------------ LevelDB
  {
    await rm(o.tmp, { recursive: true, force: true });
    await mkdir(o.tmp, { recursive: true });
    const dir = join(o.tmp, 'query');
    let s = await openLevel(dir);
    const t = await loadQueryStore(s, o.records);
    await s.close();
    const t1 = performance.now();
    await settle(dir);
    s = await openLevel(dir);
    o.log(`rows 11–12 (LevelDB): loaded in ${fmt(t.loadMs)}, createIndex group + score in ${fmt(t.indexMs)}, compacted in ${fmt(performance.now() - t1)}`);
    await verify(s, eq);
    await verify(s, range);
    o.log('rows 11–12 (LevelDB): warm-up');
    await measure(s, 'level', 0, false, 0.1);
    for (let r = 0; r < o.runs; r++) {
      o.log(`rows 11–12 (LevelDB): run ${r + 1}/${o.runs}`);
      await measure(s, 'level', r, true);
    }
    await s.close();
    await rm(o.tmp, { recursive: true, force: true });
  }
  if (sink === 0) throw new Error('bench: no query returned anything');

  const n = o.records.toLocaleString('en-US');
  const line = (operation: string, baseline: string, row: number, name: string, target: number): Line => ({
    row, operation, baseline, target, sdk: samples.get(`${name}.sdk`), base: samples.get(`${name}.base`),
  });
  const eqOp = (tier: string) => `${tier} query, equality on index, ${perGroup} of ${n} (queries/s)`;
  const rangeOp = (tier: string) => `${tier} query, range + sort + limit 20 on index, of ${n} (queries/s)`;
  return [
    line(eqOp('memory'), 'same query, full scan (users.**)', 11, 'mem.eq', 50),
    line(eqOp('LevelDB'), 'same query, full scan (users.**)', 11, 'level.eq', 50),
    line(rangeOp('memory'), 'same query, full scan + sort (users.**)', 12, 'mem.range', 20),
    line(rangeOp('LevelDB'), 'same query, full scan + sort (users.**)', 12, 'level.range', 20),
  ];
}
