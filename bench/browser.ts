/**
 * The Chromium suite (rows 4–6, and rows 8–10 on IndexedDB): bundles bench/browser/page.ts with
 * the SDK's browser entry (esbuild, platform 'browser'), serves it from 127.0.0.1 with node:http,
 * and drives headless Chromium with playwright-core. The page measures; this file decides the
 * interleaving. Every IndexedDB row runs in a Chromium with a persistent profile, so IndexedDB is
 * on disk (Playwright's default context is off the record, where Chromium keeps it in memory).
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { Samples, interleaved, type Line } from './lib/measure.ts';
import type { BenchApi, Kind } from './browser/page.ts';

export interface BrowserOptions {
  runs: number;
  /** Records per run (20,000). */
  keys: number;
  /** Rows 8–10: runs (at least 5), records written per side in row 8 (5,000), awaited set()
   * calls per side in row 9 (500), transactions per side in row 10 (800). */
  txRuns: number;
  txWrites: number;
  txSets: number;
  transfers: number;
  root: string;
  log: (msg: string) => void;
}

export const CHROMIUM = '/usr/bin/chromium';
export const ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
  '--js-flags=--expose-gc', // lets the page collect garbage before each timed section
];

/** Bundles the page; the SDK part is left out (null) when the browser entry does not exist. */
export async function bundle(root: string): Promise<{ js: string; hasSdk: boolean }> {
  const sdkEntry = join(root, 'src', 'index.browser.ts');
  const hasSdk = existsSync(sdkEntry);
  const contents = [
    `import { installBench } from ${JSON.stringify(join(root, 'bench', 'browser', 'page.ts'))};`,
    hasSdk ? `import { StorageSystem } from ${JSON.stringify(sdkEntry)};` : 'const StorageSystem = null;',
    'installBench(StorageSystem);',
  ].join('\n');
  const out = await build({
    stdin: { contents, resolveDir: root, loader: 'ts', sourcefile: 'bench-entry.ts' },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'error',
  });
  return { js: out.outputFiles[0]!.text, hasSdk };
}

export function serve(js: string): Promise<{ server: Server; url: string }> {
  const html = '<!doctype html><meta charset="utf-8"><title>tierstore bench</title><script type="module" src="/bench.js"></script>';
  const server = createServer((req, res) => {
    if (req.url === '/' || req.url === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(html);
    } else if (req.url === '/bench.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' }).end(js);
    } else if (req.url === '/favicon.ico') {
      res.writeHead(204).end();
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` }));
  });
}

export type Method = 'batchSet' | 'get' | 'batchGet' | 'burst';
/** Page functions of rows 8–10 (called with their own arguments). */
type TxMethod = 'writeCases' | 'setCases' | 'fillAccounts' | 'transferCases';

/** Loads the bench page in `page` and waits for its API. */
async function loadBenchPage(page: Page, url: string, log: (msg: string) => void): Promise<void> {
  page.on('pageerror', (e) => log(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') log(`page ${m.type()}: ${m.text()}`); });
  await page.goto(url);
  await page.waitForFunction(() => (globalThis as { __bench?: unknown }).__bench !== undefined);
}

/**
 * Launches Chromium, opens the bench page and waits for its API. The page runs in Playwright's
 * default browser context, which is off the record: Chromium keeps its IndexedDB in memory.
 */
export async function openBenchPage(root: string, log: (msg: string) => void): Promise<{ browser: Browser; page: Page; server: Server; url: string; js: string; hasSdk: boolean }> {
  const { js, hasSdk } = await bundle(root);
  const { server, url } = await serve(js);
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
    const page = await browser.newPage();
    await loadBenchPage(page, url, log);
    log(`Chromium ${browser.version()}, page bundle ${(js.length / 1024).toFixed(0)} KiB, ${url}`);
    return { browser, page, server, url, js, hasSdk };
  } catch (err) {
    await browser?.close();
    server.close();
    throw err;
  }
}

/**
 * Launches Chromium with a persistent profile in `profileDir` (created empty) and opens the bench
 * page from `url`: IndexedDB lives on disk there, so its durability hints have a cost to measure.
 */
export async function openDiskBenchPage(url: string, profileDir: string, log: (msg: string) => void): Promise<{ context: BrowserContext; page: Page }> {
  await rm(profileDir, { recursive: true, force: true });
  await mkdir(profileDir, { recursive: true });
  const context = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, headless: true, args: ARGS });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await loadBenchPage(page, url, log);
    return { context, page };
  } catch (err) {
    await context.close();
    throw err;
  }
}

/** Calls one function of the page API. */
export function callPage(page: Page, method: Method | 'open', kind: Kind, name: string): Promise<number> {
  return page.evaluate(([m, k, nm]) => {
    const b = (globalThis as unknown as { __bench: BenchApi }).__bench;
    return m === 'open' ? b.open(k as Kind, nm).then(() => 0) : b[m as Method](nm);
  }, [method, kind, name] as const);
}

export async function runBrowser(o: BrowserOptions): Promise<{ lines: Line[]; notes: string[]; version: string }> {
  const notes: string[] = [];
  const { browser, page: offRecord, server, url, js, hasSdk } = await openBenchPage(o.root, o.log);
  await mkdir(join(o.root, '.tmp'), { recursive: true });
  // Rows 4-6 also run on a persistent profile: Playwright's default context is off the record,
  // where Chromium keeps IndexedDB in memory, which would not be what users get.
  const main = await openDiskBenchPage(url, join(o.root, '.tmp', 'bench-idb-main'), o.log);
  const page = main.page;
  void offRecord;
  await writeFile(join(o.root, '.tmp', 'bench-page.js'), js); // for inspection only
  if (!hasSdk) notes.push('src/index.browser.ts does not exist: the IndexedDB SDK figures were not measured (baselines only)');
  try {
    const version = browser.version();
    const prepare = (n: number) => page.evaluate((k) => (globalThis as unknown as { __bench: BenchApi }).__bench.prepare(k), n);

    const call = (method: Method | 'open', kind: Kind, name: string) => callPage(page, method, kind, name);
    const closeAll = () => page.evaluate(() => (globalThis as unknown as { __bench: BenchApi }).__bench.closeAll());

    const samples = new Samples();
    const kinds: Kind[] = hasSdk ? ['sdk', 'raw', 'dexie'] : ['raw', 'dexie'];
    const oneRun = async (run: number, record: boolean) => {
      const tag = `${record ? 'm' : 'w'}${run}`;
      // Row 4 (fresh databases), then rows 5 on the databases it filled.
      for (const k of kinds) await call('open', k, `bench-${k}-${tag}`);
      const write = await interleaved(run, Object.fromEntries(kinds.map((k) => [k, () => call('batchSet', k, `bench-${k}-${tag}`)])));
      const readers = kinds.filter((k) => k !== 'dexie');
      const get = await interleaved(run, Object.fromEntries(readers.map((k) => [k, () => call('get', k, `bench-${k}-${tag}`)])));
      const many = await interleaved(run, Object.fromEntries(readers.map((k) => [k, () => call('batchGet', k, `bench-${k}-${tag}`)])));
      await closeAll();
      // Row 6 on fresh databases.
      for (const k of readers) await call('open', k, `bench-burst-${k}-${tag}`);
      const burst = await interleaved(run, Object.fromEntries(readers.map((k) => [k, () => call('burst', k, `bench-burst-${k}-${tag}`)])));
      await closeAll();
      if (record) {
        samples.add(write, 'idb.batchSet.');
        samples.add(get, 'idb.get.');
        samples.add(many, 'idb.batchGet.');
        samples.add(burst, 'idb.burst.');
      }
    };
    const warm = Math.min(o.keys, 2000);
    o.log(`rows 4–6 (IndexedDB): warm-up (${warm.toLocaleString('en-US')} keys)`);
    await prepare(warm);
    await oneRun(0, false);
    await prepare(o.keys);
    for (let run = 0; run < o.runs; run++) {
      o.log(`rows 4–6 (IndexedDB): run ${run + 1}/${o.runs}`);
      await oneRun(run, true);
    }

    // ---------------------------------------------------------------- rows 8–10: transactions
    // In a second Chromium with a persistent profile, so that IndexedDB is on disk (rows 4–6 run
    // off the record, where it is in memory and 'strict' costs nothing). The first one is closed.
    // Every case runs on a fresh SDK database of its own, opened before and deleted after its timing.
    await browser.close();
    await main.context.close();
    const profileDir = join(o.root, '.tmp', 'bench-idb-profile');
    const disk = hasSdk ? await openDiskBenchPage(url, profileDir, o.log) : undefined;
    const txPage = disk?.page ?? page;
    const api = <M extends TxMethod>(method: M, ...args: Parameters<BenchApi[M]>): Promise<Awaited<ReturnType<BenchApi[M]>>> =>
      txPage.evaluate(([m, a]) => ((globalThis as unknown as { __bench: Record<string, (...x: unknown[]) => unknown> }).__bench[m]!(...a)), [method, args] as const) as never;
    /** Opens a fresh SDK database per case (filled with the row-10 accounts when `fill`), runs `timed`, deletes them all. */
    const onFresh = async <R>(names: readonly string[], timed: () => Promise<R>, fill = false): Promise<R> => {
      try {
        for (const name of names) {
          await callPage(txPage, 'open', 'sdk', name);
          if (fill) await api('fillAccounts', name);
        }
        return await timed();
      } finally {
        await txPage.evaluate(() => (globalThis as unknown as { __bench: BenchApi }).__bench.closeAll());
      }
    };
    const txRun = async (run: number, record: boolean, f = 1) => {
      const tag = `${record ? 'm' : 'w'}${run}`;
      const w = Math.max(100, Math.round((o.txWrites * f) / 100) * 100);
      const sets = Math.max(10, Math.round(o.txSets * f));
      const t = Math.max(8, Math.round((o.transfers * f) / 8) * 8);
      const db = (name: string) => `${name}-${tag}`;
      const tx8 = await onFresh(['txr', 'batchr', 'txs', 'batchs'].map(db), () => api('writeCases', run, {
        txRelaxed: [db('txr'), 'transaction', 'relaxed'],
        batchRelaxed: [db('batchr'), 'batchSet', 'relaxed'],
        txStrict: [db('txs'), 'transaction', 'strict'],
        batchStrict: [db('batchs'), 'batchSet', 'strict'],
      }, w));
      const set9 = await onFresh(['sets', 'setr'].map(db), () => api('setCases', run, { strict: [db('sets'), 'strict'], relaxed: [db('setr'), 'relaxed'] }, sets));
      const conc10 = await onFresh(['c8', 'c1'].map(db), () => api('transferCases', run, { c8: [db('c8'), 8], c1: [db('c1'), 1] }, t), true);
      if (record) {
        samples.add(tx8, 'idb.tx100.');
        samples.add(set9, 'idb.set.');
        samples.add(conc10, 'idb.conc.');
      }
    };
    if (disk) {
      try {
        await txPage.evaluate((k) => (globalThis as unknown as { __bench: BenchApi }).__bench.prepare(k), Math.max(o.txWrites, o.txSets));
        o.log(`rows 8–10 (IndexedDB transactions, durability): on-disk profile ${profileDir}; warm-up (a quarter of the work)`);
        await txRun(0, false, 0.25);
        for (let run = 0; run < o.txRuns; run++) {
          o.log(`rows 8–10 (IndexedDB transactions, durability): run ${run + 1}/${o.txRuns}`);
          await txRun(run, true);
        }
      } finally {
        await disk.context.close();
        await rm(profileDir, { recursive: true, force: true });
      }
      notes.push('rows 4–6 run in Playwright\'s default (off-the-record) context, where Chromium keeps IndexedDB in memory; ' +
        'rows 8–10 run in a persistent profile, IndexedDB on disk');
    }

    const n = o.keys.toLocaleString('en-US');
    const skipped = hasSdk ? undefined : 'no src/index.browser.ts';
    const line = (row: number, operation: string, baseline: string, name: string, base: Kind, target: number): Line => ({
      row, operation, baseline, target, sdk: samples.get(`${name}.sdk`), base: samples.get(`${name}.${base}`), ...(skipped && { skipped }),
    });
    /** Rows 8–10: both sides are the SDK. */
    const pair = (row: number, operation: string, baseline: string, sdk: string, base: string, target: number | null): Line => ({
      row, operation, baseline, target, sdk: samples.get(sdk), base: samples.get(base), ...(skipped && { skipped }),
    });
    const tw = o.txWrites.toLocaleString('en-US');
    return {
      version,
      notes,
      lines: [
        line(4, `IndexedDB batchSet, chunks of 1000 (${n}, fresh db)`, 'raw IDB, 1 readwrite tx per chunk', 'idb.batchSet', 'raw', 0.8),
        line(4, `IndexedDB batchSet, chunks of 1000 (${n}, fresh db)`, 'Dexie 4 bulkPut per chunk', 'idb.batchSet', 'dexie', 1.0),
        line(5, `IndexedDB get, one by one (${n})`, 'raw IDB get, 1 readonly tx each', 'idb.get', 'raw', 0.8),
        line(5, `IndexedDB batchGet, chunks of 1000 (${n})`, 'raw IDB, 1000 gets in 1 readonly tx', 'idb.batchGet', 'raw', 0.8),
        line(6, `IndexedDB 1000 set() issued together (×${Math.ceil(o.keys / 1000)}, fresh db)`, 'raw IDB, 1 readwrite tx, 1000 puts', 'idb.burst', 'raw', 0.5),
        pair(8, `IndexedDB (disk) transaction of 100 writes, committed, relaxed (${tw}, fresh db)`, 'batchSet of the same 100, relaxed', 'idb.tx100.txRelaxed', 'idb.tx100.batchRelaxed', 0.8),
        pair(8, `IndexedDB (disk) transaction of 100 writes, committed, strict (${tw}, fresh db)`, 'batchSet of the same 100, strict', 'idb.tx100.txStrict', 'idb.tx100.batchStrict', 0.8),
        pair(9, `IndexedDB (disk) set() awaited one by one, strict (${o.txSets.toLocaleString('en-US')}, fresh db)`, 'the same, relaxed', 'idb.set.strict', 'idb.set.relaxed', null),
        pair(9, 'IndexedDB (disk) transaction of 100 writes, strict (row 8, writes/s)', 'the same, relaxed', 'idb.tx100.txStrict', 'idb.tx100.txRelaxed', null),
        pair(10, `IndexedDB (disk) 8 concurrent transactions, disjoint keys, 2 reads + 2 writes, relaxed (${o.transfers.toLocaleString('en-US')}, tx/s)`, '1 transaction at a time', 'idb.conc.c8', 'idb.conc.c1', 1.0),
      ],
    };
  } finally {
    await browser.close();
    await main.context.close().catch(() => {});
    await new Promise((r) => server.close(r));
  }
}
