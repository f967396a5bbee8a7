/**
 * The Chromium suite (rows 4–6): bundles bench/browser/page.ts with the SDK's browser entry
 * (esbuild, platform 'browser'), serves it from 127.0.0.1 with node:http, and drives headless
 * Chromium with playwright-core. The page measures; this file decides the interleaving.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Samples, interleaved, type Line } from './lib/measure.ts';
import type { BenchApi, Kind } from './browser/page.ts';

export interface BrowserOptions {
  runs: number;
  /** Records per run (20,000). */
  keys: number;
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

/** Launches Chromium, opens the bench page and waits for its API. */
export async function openBenchPage(root: string, log: (msg: string) => void): Promise<{ browser: Browser; page: Page; server: Server; js: string; hasSdk: boolean }> {
  const { js, hasSdk } = await bundle(root);
  const { server, url } = await serve(js);
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
    const page = await browser.newPage();
    page.on('pageerror', (e) => log(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') log(`page ${m.type()}: ${m.text()}`); });
    await page.goto(url);
    await page.waitForFunction(() => (globalThis as { __bench?: unknown }).__bench !== undefined);
    log(`Chromium ${browser.version()}, page bundle ${(js.length / 1024).toFixed(0)} KiB, ${url}`);
    return { browser, page, server, js, hasSdk };
  } catch (err) {
    await browser?.close();
    server.close();
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
  const { browser, page, server, js, hasSdk } = await openBenchPage(o.root, o.log);
  await mkdir(join(o.root, '.tmp'), { recursive: true });
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

    const n = o.keys.toLocaleString('en-US');
    const skipped = hasSdk ? undefined : 'no src/index.browser.ts';
    const line = (row: number, operation: string, baseline: string, name: string, base: Kind, target: number): Line => ({
      row, operation, baseline, target, sdk: samples.get(`${name}.sdk`), base: samples.get(`${name}.${base}`), ...(skipped && { skipped }),
    });
    return {
      version,
      notes,
      lines: [
        line(4, `IndexedDB batchSet, chunks of 1000 (${n}, fresh db)`, 'raw IDB, 1 readwrite tx per chunk', 'idb.batchSet', 'raw', 0.8),
        line(4, `IndexedDB batchSet, chunks of 1000 (${n}, fresh db)`, 'Dexie 4 bulkPut per chunk', 'idb.batchSet', 'dexie', 1.0),
        line(5, `IndexedDB get, one by one (${n})`, 'raw IDB get, 1 readonly tx each', 'idb.get', 'raw', 0.8),
        line(5, `IndexedDB batchGet, chunks of 1000 (${n})`, 'raw IDB, 1000 gets in 1 readonly tx', 'idb.batchGet', 'raw', 0.8),
        line(6, `IndexedDB 1000 set() issued together (×${Math.ceil(o.keys / 1000)}, fresh db)`, 'raw IDB, 1 readwrite tx, 1000 puts', 'idb.burst', 'raw', 0.5),
      ],
    };
  } finally {
    await browser.close();
    await new Promise((r) => server.close(r));
  }
}
