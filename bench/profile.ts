/**
 * CPU profile of one SDK workload of the bench, to see where the SDK's time goes when a row
 * misses its target. Only the SDK side runs (the baseline needs no profile), and only its timed
 * part is profiled (node:inspector, started after the setup): the percentages are of that part.
 *
 *   npx tsx bench/profile.ts mem-set            # prints top functions by self and total time
 *   npx tsx bench/profile.ts --report FILE      # the same report for any .cpuprofile
 *
 * Workloads (Node): mem-set, mem-get, level-batchset, level-get, level-batchget, level-keys, mem-keys.
 * Workloads (Chromium, renderer main thread via CDP; IndexedDB's own work runs in the browser
 * process and shows as idle here): idb-batchset, idb-get, idb-batchget, idb-burst.
 * Issue #4 workloads: idb-query-eq (row 11, 300 equality queries on IndexedDB, 100 of 100,000
 * records), idb-search (row 14, 150 searches over 10,000 docs on IndexedDB), mem-search-create /
 * mem-search-batchset (row 13 builds, 10,000 docs), mem-search (row 13 queries), level-ts-write
 * (row 15, 1,000,000 points in calls of 10,000).
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { StorageSystem } from '../src/index.node.ts';
import { callPage, openBenchPage, type Method } from './browser.ts';
import type { BenchApi } from './browser/page.ts';
import { chunks, groupKey, groupPrefix, makeDataset, makeRecord, shuffledIndexes } from './lib/records.ts';
import { makeCorpus, makeQueries } from './lib/corpus.ts';
import { TS_START } from './timeseries.ts';

const TMP = join(process.cwd(), '.tmp', 'bench-profile');

interface Frame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: Frame; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

/** Prints the functions with the most self time and the most total (inclusive) time. */
export async function report(file: string, top = 25): Promise<void> {
  const p = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const short = (url: string) => url.replace(/^.*\/(src|bench|node_modules)\//, '$1/').replace(/^https?:\/\/[^/]+\//, '');
  // tsx-compiled modules report line 0 for every function: show the file only.
  const label = (f: Frame) => {
    const name = f.functionName || '(anonymous)';
    if (!f.url) return name;
    return f.lineNumber > 0 ? `${name} ${short(f.url)}:${f.lineNumber + 1}` : `${name} ${short(f.url)}`;
  };
  // Native and builtin frames (no url, e.g. JSON.stringify, a classic-level binding) are named
  // after the script function that called them.
  const nodeLabel = (id: number): string => {
    const n = byId.get(id)!;
    const f = n.callFrame;
    if (f.url || f.functionName.startsWith('(')) {
      if (f.url || f.functionName !== '(anonymous)') return label(f);
    }
    for (let cur = parent.get(id); cur !== undefined; cur = parent.get(cur)) {
      const pf = byId.get(cur)!.callFrame;
      if (pf.url) return `${f.functionName || '(anonymous)'} [native, called from ${label(pf)}]`;
    }
    return label(f);
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  let idle = 0;
  let profiler = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    const stack: number[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) stack.push(cur);
    // The inspector's own work (serializing the profile when it stops) is not the workload's.
    if (stack.some((s) => byId.get(s)!.callFrame.functionName === 'dispatch')) {
      profiler += dt;
      return;
    }
    all += dt;
    if (byId.get(id)!.callFrame.functionName === '(idle)') idle += dt;
    const l = nodeLabel(id);
    self.set(l, (self.get(l) ?? 0) + dt);
    const seen = new Set<string>();
    for (const cur of stack) {
      const cl = nodeLabel(cur);
      if (!seen.has(cl)) {
        seen.add(cl);
        total.set(cl, (total.get(cl) ?? 0) + dt);
      }
    }
  });
  const pct = (x: number) => `${((100 * x) / all).toFixed(1).padStart(5)}% ${(x / 1000).toFixed(0).padStart(5)} ms`;
  console.log(`${file}: ${(all / 1000).toFixed(0)} ms sampled (${(profiler / 1000).toFixed(0)} ms of profiler overhead left out), idle ${pct(idle)}`);
  console.log('\nself time:');
  for (const [l, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(t)}  ${l}`);
  console.log('\ntotal time (function and its callees):');
  for (const [l, t] of [...total].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(t)}  ${l}`);
}

async function saveProfile(name: string, profile: unknown): Promise<string> {
  const dir = join(process.cwd(), '.tmp', 'prof');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${name}.cpuprofile`);
  await writeFile(file, JSON.stringify(profile));
  return file;
}

/** Profiles one SDK workload of the Chromium page (20,000 records) through the DevTools protocol. */
async function browserWorkload(name: string): Promise<string> {
  const methods: Record<string, Method> = { 'idb-batchset': 'batchSet', 'idb-get': 'get', 'idb-batchget': 'batchGet', 'idb-burst': 'burst' };
  const method = methods[name]!;
  const { browser, page, server, hasSdk } = await openBenchPage(process.cwd(), (m) => console.error(m));
  try {
    if (!hasSdk) throw new Error('src/index.browser.ts does not exist');
    await page.evaluate(() => (globalThis as unknown as { __bench: BenchApi }).__bench.prepare(20_000));
    await callPage(page, 'open', 'sdk', 'warm');
    await callPage(page, method === 'get' || method === 'batchGet' ? 'batchSet' : method, 'sdk', 'warm');
    await callPage(page, 'open', 'sdk', 'prof');
    if (method === 'get' || method === 'batchGet') await callPage(page, 'batchSet', 'sdk', 'prof');
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
    await cdp.send('Profiler.start');
    const opsPerSec = await callPage(page, method, 'sdk', 'prof');
    const { profile } = await cdp.send('Profiler.stop');
    console.log(`${name}: ${Math.round(opsPerSec).toLocaleString('en-US')} ops/s (under the profiler)`);
    await page.evaluate(() => (globalThis as unknown as { __bench: BenchApi }).__bench.closeAll());
    return await saveProfile(name, profile);
  } finally {
    await browser.close();
    server.close();
  }
}

/** Runs `body` under the CPU profiler; writes the profile and returns its path. */
async function profiled(name: string, body: () => Promise<number>): Promise<string> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  const t0 = performance.now();
  const ops = await body();
  const ms = performance.now() - t0;
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  console.log(`${name}: ${ops.toLocaleString('en-US')} ops in ${ms.toFixed(0)} ms = ${Math.round((ops * 1000) / ms).toLocaleString('en-US')} ops/s (under the profiler)`);
  return saveProfile(name, profile);
}

/** Issue #4 workloads in Chromium (on-disk profile, like the bench). */
async function issue4BrowserWorkload(name: string): Promise<string> {
  const { bundle, serve, openDiskBenchPage } = await import('./browser.ts');
  const { js } = await bundle(process.cwd());
  const { server, url } = await serve(js);
  const profileDir = join(process.cwd(), '.tmp', 'bench-profile-idb');
  const { context, page } = await openDiskBenchPage(url, profileDir, (m) => console.error(m));
  const call = (m: string, ...a: unknown[]) => page.evaluate(([m, a]) => (globalThis as unknown as { __bench: Record<string, (...x: unknown[]) => unknown> }).__bench[m]!(...a), [m, a] as const) as Promise<unknown>;
  try {
    let timed: () => Promise<unknown>;
    if (name === 'idb-query-eq') {
      await call('issue4LoadUsers', 'sdk', 'p4', 100_000, true);
      const order = shuffledIndexes(1000, 11);
      await call('issue4Equality', 'p4', order.slice(0, 30), 100); // warm-up
      timed = () => call('issue4Equality', 'p4', Array.from({ length: 300 }, (_, i) => order[(101 + i) % 1000]), 100);
    } else {
      await call('issue4LoadDocs', 'idb', 'p4', 10_000);
      const qs = makeQueries(150);
      await call('issue4Search', 'p4', qs.slice(0, 15)); // warm-up
      timed = () => call('issue4Search', 'p4', qs);
    }
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
    await cdp.send('Profiler.start');
    const opsPerSec = (await timed()) as number;
    const { profile } = await cdp.send('Profiler.stop');
    console.log(`${name}: ${Math.round(opsPerSec).toLocaleString('en-US')} ops/s (under the profiler)`);
    await call('issue4CloseAll');
    return await saveProfile(name, profile);
  } finally {
    await context.close();
    server.close();
    await rm(profileDir, { recursive: true, force: true });
  }
}

/** Issue #4 workloads in Node. */
async function issue4Workload(name: string): Promise<string> {
  if (name === 'level-ts-write') {
    const calls = Array.from({ length: 100 }, (_, c) => Array.from({ length: 10_000 }, (_, j) => {
      const i = c * 10_000 + j;
      return { metric: 'cpu.load', timestamp: TS_START + i * 1000, value: Math.round(Math.sin(i / 500) * 1000 + (i % 7) * 3) / 10 + 50, tags: { host: 'web-1' } };
    }));
    const open = async (dir: string) => {
      const s = new StorageSystem({ defaultBackend: 'file' });
      await s.createBackend('file', { basePath: join(TMP, dir) }).open();
      return s;
    };
    const w = await open('warm');
    for (const c of calls.slice(0, 10)) await w.timeSeries.write(c);
    await w.close();
    const s = await open('db');
    const out = await profiled(name, async () => {
      for (const c of calls) await s.timeSeries.write(c);
      return 1_000_000;
    });
    await s.close();
    return out;
  }
  const { keys, docs } = makeCorpus(10_000);
  const entries = chunks(10_000, 1000).map(([a, b]) => keys.slice(a, b).map((key, j) => ({ key, value: docs[a + j] })));
  const fields = ['title', 'content'];
  const fill = async (s: StorageSystem) => {
    for (const c of entries) await s.batchSet(c);
  };
  // Warm-up: one build of each kind on a fifth of the corpus.
  {
    const a = new StorageSystem();
    await a.createSearchIndex('docs', { fields });
    for (const c of entries.slice(0, 2)) await a.batchSet(c);
    const b = new StorageSystem();
    for (const c of entries.slice(0, 2)) await b.batchSet(c);
    await b.createSearchIndex('docs', { fields });
    await a.close();
    await b.close();
  }
  const s = new StorageSystem();
  let out: string;
  if (name === 'mem-search-create') {
    await fill(s);
    out = await profiled(name, async () => {
      await s.createSearchIndex('docs', { fields });
      return 10_000;
    });
  } else if (name === 'mem-search-batchset') {
    await s.createSearchIndex('docs', { fields });
    out = await profiled(name, async () => {
      await fill(s);
      return 10_000;
    });
  } else {
    await s.createSearchIndex('docs', { fields });
    await fill(s);
    const qs = makeQueries(300);
    for (const query of qs.slice(0, 60)) await s.search('docs.*', { query });
    out = await profiled(name, async () => {
      for (const query of qs) await s.search('docs.*', { query });
      return qs.length;
    });
  }
  await s.close();
  return out;
}

async function workload(name: string): Promise<string> {
  if (name === 'idb-query-eq' || name === 'idb-search') return issue4BrowserWorkload(name);
  if (['level-ts-write', 'mem-search-create', 'mem-search-batchset', 'mem-search'].includes(name)) {
    await rm(TMP, { recursive: true, force: true });
    try {
      return await issue4Workload(name);
    } finally {
      await rm(TMP, { recursive: true, force: true });
    }
  }
  if (name.startsWith('idb-')) return browserWorkload(name);
  const N = 100_000;
  const { keys, values } = makeDataset(N);
  const spans = chunks(N, 1000);
  const entries = spans.map(([a, b]) => keys.slice(a, b).map((key, j) => ({ key, value: values[a + j] })));
  await rm(TMP, { recursive: true, force: true });
  const file = async () => {
    const s = new StorageSystem({ defaultBackend: 'file' });
    await s.createBackend('file', { basePath: join(TMP, 'db') }).open();
    return s;
  };
  let out: string;
  switch (name) {
    case 'mem-set': {
      const s = new StorageSystem();
      for (let i = 0; i < 20_000; i++) await s.set(keys[i]!, values[i]); // warm-up
      await s.clear();
      out = await profiled(name, async () => {
        for (let i = 0; i < N; i++) await s.set(keys[i]!, values[i]);
        return N;
      });
      await s.close();
      break;
    }
    case 'mem-get': {
      const s = new StorageSystem();
      for (const c of entries) await s.batchSet(c);
      for (let i = 0; i < 20_000; i++) await s.get(keys[i]!);
      out = await profiled(name, async () => {
        for (let r = 0; r < 3; r++) for (let i = 0; i < N; i++) await s.get(keys[i]!);
        return 3 * N;
      });
      await s.close();
      break;
    }
    case 'level-batchset': {
      const s = await file();
      for (const c of entries.slice(0, 10)) await s.batchSet(c); // warm-up, then a fresh store
      await s.close();
      await rm(TMP, { recursive: true, force: true });
      const t = await file();
      out = await profiled(name, async () => {
        for (const c of entries) await t.batchSet(c);
        return N;
      });
      await t.close();
      break;
    }
    case 'level-get':
    case 'level-batchget': {
      const s = await file();
      for (const c of entries) await s.batchSet(c);
      out = await profiled(name, async () => {
        if (name === 'level-get') for (const k of keys) await s.get(k);
        else for (const [a, b] of spans) await s.batchGet(keys.slice(a, b));
        return N;
      });
      await s.close();
      break;
    }
    case 'level-keys':
    case 'mem-keys': {
      const s = name === 'mem-keys' ? new StorageSystem() : await file();
      const groups = 200;
      for (let g = 0; g < groups; g++) {
        await s.batchSet(Array.from({ length: 1000 }, (_, i) => ({ key: groupKey(g, i), value: makeRecord(g * 1000 + i) })));
      }
      for (let g = 0; g < groups; g++) await s.keys(groupPrefix(g) + '*'); // warm-up (builds the memory engine's ordered view)
      out = await profiled(name, async () => {
        const reps = name === 'mem-keys' ? 30 : 5;
        for (let r = 0; r < reps; r++) for (let g = 0; g < groups; g++) await s.keys(groupPrefix(g) + '*');
        return reps * groups;
      });
      await s.close();
      break;
    }
    default:
      throw new Error(`unknown workload "${name}" (workloads: mem-set, mem-get, level-batchset, level-get, level-batchget, level-keys, mem-keys, ` +
        'idb-batchset, idb-get, idb-batchget, idb-burst; issue #4: idb-query-eq, idb-search, mem-search-create, mem-search-batchset, mem-search, level-ts-write)');
  }
  await rm(TMP, { recursive: true, force: true });
  return out;
}

const [a, b] = process.argv.slice(2);
if (a === '--report' && b) await report(b);
else if (a) await report(await workload(a));
else console.log('usage: bench/profile.ts <workload> | --report <file.cpuprofile>');
