/**
 * Issue #4 in Chromium (rows 11 and 14 on IndexedDB): the bench page of bench/browser.ts (same
 * bundle, same server, same flags), in a Chromium with a persistent profile of its own, so
 * IndexedDB is on disk as users get it. Stores are loaded once (untimed); every run then times the
 * sides in alternating order.
 *
 *   11  `query('users.*', { filter: { group: v } })` on IndexedDB, 100 of 100,000 records, served by
 *       `createIndex('users', 'group')`, vs Dexie 4 `where('group').equals(v).toArray()` on the
 *       same keys and values (a Dexie table with outbound keys and an index on `group`); both sides
 *       run the same values. Target: at least 0.8x Dexie.
 *   14  search over the 10,000-document corpus on IndexedDB vs the same on the memory tier in the
 *       same page (ratio reported). The IndexedDB store is built by batchSet into a store with the
 *       search index; that build is timed once and reported as a note.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { bundle, openDiskBenchPage, serve } from './browser.ts';
import type { BenchApi } from './browser/page.ts';
import { Samples, interleaved, type Line } from './lib/measure.ts';
import { makeQueries } from './lib/corpus.ts';
import { shuffledIndexes } from './lib/records.ts';

export interface Issue4BrowserOptions {
  runs: number;
  query: boolean;
  search: boolean;
  /** Row 11: records (100,000) and queries per run and side (300). */
  records: number;
  indexed: number;
  /** Row 14: documents (10,000) and queries per run and side (150). */
  docs: number;
  queries: number;
  root: string;
  log: (msg: string) => void;
}

type Api = BenchApi;

function call<M extends keyof Api>(page: Page, method: M, ...args: Parameters<Api[M]>): Promise<Awaited<ReturnType<Api[M]>>> {
  return page.evaluate(([m, a]) => ((globalThis as unknown as { __bench: Record<string, (...x: unknown[]) => unknown> }).__bench[m]!(...a)), [method, args] as const) as never;
}

export async function runIssue4Browser(o: Issue4BrowserOptions): Promise<{ lines: Line[]; notes: string[] }> {
  const notes: string[] = [];
  const samples = new Samples();
  const { js, hasSdk } = await bundle(o.root);
  if (!hasSdk) {
    return { lines: [], notes: ['issue #4 Chromium rows: src/index.browser.ts does not exist, not measured'] };
  }
  const { server, url } = await serve(js);
  const profile = join(o.root, '.tmp', 'bench-idb-issue4');
  const { context, page } = await openDiskBenchPage(url, profile, o.log);
  const fmt = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const groups = Math.min(1000, o.records);
  const perGroup = Math.floor(o.records / groups);
  const order = shuffledIndexes(groups, 11);
  const values = (run: number, count: number) => Array.from({ length: count }, (_, i) => order[(run * 101 + i) % groups]!);
  const queries = makeQueries(o.queries);
  try {
    o.log(`issue #4 Chromium: ${context.browser()?.version() ?? 'Chromium'}, persistent profile ${profile}`);
    // ---------------------------------------------------------------- row 11
    if (o.query) {
      const sdk = await call(page, 'issue4LoadUsers', 'sdk', 'q4-sdk', o.records, true);
      const dexie = await call(page, 'issue4LoadUsers', 'dexie', 'q4-dexie', o.records);
      o.log(`row 11 (IndexedDB): loaded ${o.records.toLocaleString('en-US')} records: SDK createIndex on the empty store then batchSet ${fmt(sdk.loadMs)}, Dexie bulkPut ${fmt(dexie.loadMs)} (untimed)`);
      notes.push(`row 11 (IndexedDB) setup, untimed: SDK createIndex('users', 'group') on the empty store, then batchSet of ${o.records.toLocaleString('en-US')} records (index maintained) ${fmt(sdk.loadMs)}; Dexie bulkPut (index maintained) ${fmt(dexie.loadMs)}`);
      const plan = await call(page, 'issue4Explain', 'q4-sdk', order[0]!);
      if (plan.strategy !== 'index' || plan.index !== 'group' || plan.returned !== perGroup) throw new Error(`bench: IndexedDB equality query not served by the index: ${JSON.stringify(plan)}`);
      const oneRun = async (run: number, record: boolean, count: number) => {
        const v = values(run, count);
        const r = await interleaved(run, {
          sdk: () => call(page, 'issue4Equality', 'q4-sdk', v, perGroup),
          base: () => call(page, 'issue4Equality', 'q4-dexie', v, perGroup),
        });
        if (record) samples.add(r, 'idb.eq.');
      };
      o.log('row 11 (IndexedDB vs Dexie): warm-up');
      await oneRun(0, false, Math.max(1, Math.round(o.indexed / 10)));
      for (let run = 0; run < o.runs; run++) {
        o.log(`row 11 (IndexedDB vs Dexie): run ${run + 1}/${o.runs}`);
        await oneRun(run, true, o.indexed);
      }
      await call(page, 'issue4CloseAll');
    }
    // ---------------------------------------------------------------- row 14
    if (o.search) {
      const idbBuild = await call(page, 'issue4LoadDocs', 'idb', 's4-idb', o.docs);
      const memBuild = await call(page, 'issue4LoadDocs', 'memory', 's4-mem', o.docs);
      o.log(`row 14 (IndexedDB search): built, IndexedDB ${Math.round(idbBuild).toLocaleString('en-US')} docs/s, memory ${Math.round(memBuild).toLocaleString('en-US')} docs/s (once)`);
      notes.push(`row 14 (IndexedDB) build, measured once: batchSet of ${o.docs.toLocaleString('en-US')} docs into a store with the search index: ` +
        `IndexedDB ${Math.round(idbBuild).toLocaleString('en-US')} docs/s, memory tier in the same page ${Math.round(memBuild).toLocaleString('en-US')} docs/s`);
      for (const q of queries.slice(0, 20)) {
        const a = (await call(page, 'issue4SearchKeys', 's4-idb', q)).join();
        const b = (await call(page, 'issue4SearchKeys', 's4-mem', q)).join();
        if (a !== b) throw new Error(`bench: IndexedDB and memory search disagree on "${q}"`);
      }
      const oneRun = async (run: number, record: boolean, qs: string[]) => {
        const r = await interleaved(run, {
          sdk: () => call(page, 'issue4Search', 's4-idb', qs),
          base: () => call(page, 'issue4Search', 's4-mem', qs),
        });
        if (record) samples.add(r, 'idb.search.');
      };
      o.log('row 14 (IndexedDB search): warm-up');
      await oneRun(0, false, queries.slice(0, Math.max(1, Math.round(queries.length / 10))));
      for (let run = 0; run < o.runs; run++) {
        o.log(`row 14 (IndexedDB search): run ${run + 1}/${o.runs}`);
        await oneRun(run, true, queries);
      }
      await call(page, 'issue4CloseAll');
    }
  } finally {
    await context.close();
    await new Promise((r) => server.close(r));
    await rm(profile, { recursive: true, force: true });
  }

  const lines: Line[] = [];
  if (o.query) {
    lines.push({
      row: 11, operation: `IndexedDB query, equality on index, ${perGroup} of ${o.records.toLocaleString('en-US')} (queries/s)`,
      baseline: "Dexie 4 where('group').equals(v).toArray()", target: 0.8, sdk: samples.get('idb.eq.sdk'), base: samples.get('idb.eq.base'),
    });
  }
  if (o.search) {
    lines.push({
      row: 14, operation: `IndexedDB search, ${o.docs.toLocaleString('en-US')} docs, ${queries.length} queries (queries/s)`,
      baseline: 'memory-tier search, same page, same run', target: null, sdk: samples.get('idb.search.sdk'), base: samples.get('idb.search.base'),
    });
  }
  return { lines, notes };
}
