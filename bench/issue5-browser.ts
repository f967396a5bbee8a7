/**
 * Issue #5 in Chromium (row 17 on IndexedDB): set() and get() of ~200 B records, one awaited call
 * at a time, on an SDK store with `{ enableEncryption: true, encryptionKey: <32 random bytes> }`
 * vs an unencrypted SDK store, in the same page (the bench page of bench/browser.ts, same bundle,
 * server and flags, a persistent profile so IndexedDB is on disk). Fresh databases every run;
 * sides in alternating order. Target: at least 0.5x unencrypted.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { bundle, openDiskBenchPage, serve } from './browser.ts';
import type { BenchApi } from './browser/page.ts';
import { Samples, interleaved, type Line } from './lib/measure.ts';

export interface Issue5BrowserOptions {
  runs: number;
  /** Records written and read per run and side (5,000). */
  keys: number;
  root: string;
  log: (msg: string) => void;
}

type Api = BenchApi;

function call<M extends keyof Api>(page: Page, method: M, ...args: Parameters<Api[M]>): Promise<Awaited<ReturnType<Api[M]>>> {
  return page.evaluate(([m, a]) => ((globalThis as unknown as { __bench: Record<string, (...x: unknown[]) => unknown> }).__bench[m]!(...a)), [method, args] as const) as never;
}

export async function runIssue5Browser(o: Issue5BrowserOptions): Promise<{ lines: Line[]; notes: string[] }> {
  const samples = new Samples();
  const { js, hasSdk } = await bundle(o.root);
  if (!hasSdk) return { lines: [], notes: ['issue #5 Chromium row: src/index.browser.ts does not exist, not measured'] };
  const { server, url } = await serve(js);
  const profile = join(o.root, '.tmp', 'bench-idb-issue5');
  const { context, page } = await openDiskBenchPage(url, profile, o.log);
  const key = Array.from(crypto.getRandomValues(new Uint8Array(32)));
  try {
    o.log(`issue #5 Chromium: ${context.browser()?.version() ?? 'Chromium'}, persistent profile ${profile}`);
    const oneRun = async (run: number, n: number, record: boolean) => {
      await call(page, 'issue5Open', 'p5-enc', key, o.keys);
      await call(page, 'issue5Open', 'p5-plain', null, o.keys);
      const setR = await interleaved(run, { sdk: () => call(page, 'issue5Set', 'p5-enc', n), base: () => call(page, 'issue5Set', 'p5-plain', n) });
      const getR = await interleaved(run, { sdk: () => call(page, 'issue5Get', 'p5-enc', n), base: () => call(page, 'issue5Get', 'p5-plain', n) });
      if (!(await call(page, 'issue5Check', 'p5-enc', n))) throw new Error('bench: encrypted IndexedDB read differs from the written value');
      await call(page, 'issue5CloseAll');
      if (record) {
        samples.add(setR, 'idb.enc.set.');
        samples.add(getR, 'idb.enc.get.');
      }
    };
    o.log('row 17 (encrypted set/get, IndexedDB): warm-up');
    await oneRun(0, Math.max(100, Math.round(o.keys / 10)), false);
    for (let run = 0; run < o.runs; run++) {
      o.log(`row 17 (encrypted set/get, IndexedDB): run ${run + 1}/${o.runs}`);
      await oneRun(run, o.keys, true);
    }
  } finally {
    await context.close();
    await new Promise((r) => server.close(r));
    await rm(profile, { recursive: true, force: true });
  }
  const k = o.keys.toLocaleString('en-US');
  return {
    lines: [
      { row: 17, operation: `IndexedDB encrypted set, 200 B (${k} keys)`, baseline: 'unencrypted set, same engine', target: 0.5, sdk: samples.get('idb.enc.set.sdk'), base: samples.get('idb.enc.set.base') },
      { row: 17, operation: `IndexedDB encrypted get, 200 B (${k} keys)`, baseline: 'unencrypted get, same engine', target: 0.5, sdk: samples.get('idb.enc.get.sdk'), base: samples.get('idb.enc.get.base') },
    ],
    notes: [],
  };
}
