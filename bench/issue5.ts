/**
 * Issue #5 in Node (`npm run bench -- --only protect`): compression, encryption, the record cache
 * and auto-cleanup, each against the same operations without the feature, in the same run
 * (interleaved, order alternating from run to run; fresh stores every run).
 *
 *   17  encrypted set / get, ~200 B records, LevelDB: `{ enableEncryption: true, encryptionKey:
 *       <32 random bytes> }` vs the same backend unencrypted (target ≥ 0.5×)
 *   18  compressed set / get, ~20 KB JSON, LevelDB: `{ enableCompression: true }` (level 6,
 *       threshold 1024) vs uncompressed; no target, the ratio and the stored bytes are reported
 *       (the backend's maxSize accounting, and the LevelDB directory after a full compaction —
 *       LevelDB itself Snappy-compresses its tables, so the uncompressed side shrinks there too)
 *   19  cached get (hit), LevelDB with `{ enableCaching: true, cacheSize: 10000 }`, every key read
 *       once before timing, vs get on the memory tier, same keys and order (target ≥ 0.8×)
 *   20  set() of ~200 B records to 50,000 distinct keys on the memory tier after
 *       `enableAutoCleanup({ maxSize: '1MB' })` (the store sits at the limit and evicts on most
 *       writes) vs the same writes without a limit (target ≥ 0.7×)
 *
 * Every call is awaited one at a time (what one caller sees). Encrypted/compressed reads are
 * checked against the written values once per run.
 */
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { ClassicLevel } from 'classic-level';
import { StorageSystem } from '../src/index.node.ts';
import type { Backend, CleanupStrategy } from '../src/index.node.ts';
import { Samples, interleaved, opsPerSecond, type Line } from './lib/measure.ts';
import { makeDataset, makeRecord, shuffledIndexes } from './lib/records.ts';

export interface Issue5Options {
  runs: number;
  /** Row 17: records written and read per run and side (20,000). */
  encKeys: number;
  /** Row 18: 20 KB documents written and read per run and side (2,000). */
  docs: number;
  /** Row 19: keys (10,000) and reads per run and side (passes × keys). */
  cacheKeys: number;
  cachePasses: number;
  /** Row 20: distinct keys written per run and side (50,000). */
  cleanupKeys: number;
  /** Rows to run (default: 17–20). */
  rows?: readonly number[];
  /** Row 20's cleanupStrategy (default ['lru']; others are reported as extra lines, no target). */
  cleanupStrategies?: readonly CleanupStrategy[];
  tmp: string;
  log: (msg: string) => void;
}

export interface Issue5Result { lines: Line[]; notes: string[] }

let sink = 0;
const use = (v: unknown): void => {
  if (v === undefined) throw new Error('bench: a read returned undefined for a key that was written');
  sink++;
};

/** A ~20 KB JSON document: a list of 96 distinct user records (~214 B each) under a header. */
export function makeDoc(i: number): { id: string; page: number; users: unknown[] } {
  const users: unknown[] = [];
  for (let j = 0; j < 96; j++) users.push(makeRecord(i * 96 + j));
  return { id: `doc-${i}`, page: i, users };
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const f of await readdir(dir)) total += (await stat(join(dir, f))).size;
  return total;
}

async function settle(dir: string): Promise<void> {
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  await db.compactRange('\u0000', '\uffff');
  await db.close();
}

/** The bytes the backend counts against maxSize (its private running total; needs a maxSize). */
const usedBytes = (b: Backend): number => (b as unknown as { usedBytes: number }).usedBytes;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export async function runIssue5(o: Issue5Options): Promise<Issue5Result> {
  const samples = new Samples();
  const notes: string[] = [];
  await rm(o.tmp, { recursive: true, force: true });
  await mkdir(o.tmp, { recursive: true });
  const key = crypto.getRandomValues(new Uint8Array(32));
  const rows = new Set(o.rows ?? [17, 18, 19, 20]);
  const strategies = o.cleanupStrategies ?? ['lru'];

  const openLevel = async (dir: string, extra: Record<string, unknown>) => {
    const s = new StorageSystem({ defaultBackend: 'file' });
    const b = s.createBackend('file', { basePath: dir, ...extra });
    await b.open();
    return { s, b };
  };

  // ------------------------------------------------------------------ row 17: encryption, LevelDB
  if (rows.has(17)) {
    const { keys, values } = makeDataset(o.encKeys);
    const order = shuffledIndexes(o.encKeys, 5);
    const row = async (run: number, n: number, record: boolean) => {
      const enc = await openLevel(join(o.tmp, `enc-${run}-${n}`), { enableEncryption: true, encryptionKey: key });
      const plain = await openLevel(join(o.tmp, `plain-${run}-${n}`), {});
      const setter = (b: Backend) => () => opsPerSecond(n, async () => {
        for (let i = 0; i < n; i++) await b.set(keys[i]!, values[i]);
      });
      const getter = (b: Backend) => () => opsPerSecond(n, async () => {
        for (let i = 0; i < o.encKeys; i++) if (order[i]! < n) use(await b.get(keys[order[i]!]!));
      });
      const setR = await interleaved(run, { sdk: setter(enc.b), base: setter(plain.b) });
      const getR = await interleaved(run, { sdk: getter(enc.b), base: getter(plain.b) });
      if (!isDeepStrictEqual(await enc.b.get(keys[n - 1]!), values[n - 1])) throw new Error('bench: encrypted read differs from the written value');
      await enc.s.close();
      await plain.s.close();
      if (record) {
        samples.add(setR, 'enc.set.');
        samples.add(getR, 'enc.get.');
      }
    };
    o.log('row 17 (encrypted set/get, LevelDB): warm-up');
    await row(0, Math.min(2000, o.encKeys), false);
    for (let r = 0; r < o.runs; r++) {
      o.log(`row 17 (encrypted set/get, LevelDB): run ${r + 1}/${o.runs}`);
      await row(r, o.encKeys, true);
    }
  }

  // ------------------------------------------------------------------ row 18: compression, LevelDB
  if (rows.has(18)) {
    const keys = Array.from({ length: o.docs }, (_, i) => `docs.${String(i).padStart(6, '0')}`);
    const docs = keys.map((_, i) => makeDoc(i));
    const jsonBytes = docs.reduce((t, d) => t + Buffer.byteLength(JSON.stringify(d)), 0);
    const order = shuffledIndexes(o.docs, 9);
    const sizes = { zAccount: [] as number[], pAccount: [] as number[], zDir: [] as number[], pDir: [] as number[] };
    const row = async (run: number, n: number, record: boolean) => {
      const zdir = join(o.tmp, `z-${run}-${n}`);
      const pdir = join(o.tmp, `p-${run}-${n}`);
      // maxSize far above the data: only so the backend keeps its byte count (usedBytes).
      const z = await openLevel(zdir, { enableCompression: true, maxSize: '100GB' });
      const p = await openLevel(pdir, { maxSize: '100GB' });
      const setter = (b: Backend) => () => opsPerSecond(n, async () => {
        for (let i = 0; i < n; i++) await b.set(keys[i]!, docs[i]);
      });
      const getter = (b: Backend) => () => opsPerSecond(n, async () => {
        for (let i = 0; i < o.docs; i++) if (order[i]! < n) use(await b.get(keys[order[i]!]!));
      });
      const setR = await interleaved(run, { sdk: setter(z.b), base: setter(p.b) });
      const getR = await interleaved(run, { sdk: getter(z.b), base: getter(p.b) });
      if (!isDeepStrictEqual(await z.b.get(keys[n - 1]!), docs[n - 1])) throw new Error('bench: decompressed read differs from the written value');
      const za = usedBytes(z.b);
      const pa = usedBytes(p.b);
      await z.s.close();
      await p.s.close();
      if (record) {
        samples.add(setR, 'z.set.');
        samples.add(getR, 'z.get.');
        await settle(zdir);
        await settle(pdir);
        sizes.zAccount.push(za);
        sizes.pAccount.push(pa);
        sizes.zDir.push(await dirBytes(zdir));
        sizes.pDir.push(await dirBytes(pdir));
      }
    };
    o.log('row 18 (compressed set/get, 20 KB JSON, LevelDB): warm-up');
    await row(0, Math.min(200, o.docs), false);
    for (let r = 0; r < o.runs; r++) {
      o.log(`row 18 (compressed set/get, 20 KB JSON, LevelDB): run ${r + 1}/${o.runs}`);
      await row(r, o.docs, true);
    }
    const mb = (x: number) => `${(x / 1e6).toFixed(2)} MB`;
    const za = median(sizes.zAccount), pa = median(sizes.pAccount), zd = median(sizes.zDir), pd = median(sizes.pDir);
    notes.push(
      `row 18 stored bytes, ${o.docs.toLocaleString('en-US')} docs of ${(jsonBytes / o.docs / 1024).toFixed(1)} KiB JSON (${mb(jsonBytes)}): ` +
      `maxSize accounting compressed ${mb(za)} vs uncompressed ${mb(pa)} (${(za / pa).toFixed(3)}×); ` +
      `LevelDB directory after full compaction ${mb(zd)} vs ${mb(pd)} (${(zd / pd).toFixed(3)}×; LevelDB Snappy-compresses both)`,
    );
  }

  // ------------------------------------------------------------------ row 19: cached get vs memory get
  if (rows.has(19)) {
    const { keys, values } = makeDataset(o.cacheKeys);
    const order = shuffledIndexes(o.cacheKeys, 13);
    const reads = o.cacheKeys * o.cachePasses;
    const dir = join(o.tmp, 'cache');
    const cached = await openLevel(dir, { enableCaching: true, cacheSize: 10_000 });
    const mem = new StorageSystem();
    for (let i = 0; i < o.cacheKeys; i++) {
      await cached.b.set(keys[i]!, values[i]);
      await mem.set(keys[i]!, values[i]);
    }
    for (const k of keys) use(await cached.b.get(k)); // fill the cache
    const before = cached.s.getMetrics().backends['file']?.cache;
    const getter = (get: (k: string) => Promise<unknown>) => () => opsPerSecond(reads, async () => {
      for (let p = 0; p < o.cachePasses; p++) for (let i = 0; i < o.cacheKeys; i++) use(await get(keys[order[i]!]!));
    });
    const c = (k: string) => cached.b.get(k);
    const m = (k: string) => mem.get(k);
    o.log('row 19 (cached get vs memory get): warm-up');
    await interleaved(0, { sdk: getter(c), base: getter(m) });
    for (let r = 0; r < o.runs; r++) {
      o.log(`row 19 (cached get vs memory get): run ${r + 1}/${o.runs}`);
      samples.add(await interleaved(r, { sdk: getter(c), base: getter(m) }), 'cache.get.');
    }
    const after = cached.s.getMetrics().backends['file']?.cache;
    if (!before || !after) throw new Error('bench: the file backend reports no cache');
    const misses = after.misses - before.misses;
    notes.push(`row 19: ${(after.hits - before.hits).toLocaleString('en-US')} cache hits and ${misses} misses while timed (${after.entries} entries cached)`);
    if (misses > 0) throw new Error(`bench: row 19 expects only cache hits, got ${misses} misses`);
    await cached.s.close();
    await mem.close();
  }

  // ------------------------------------------------------------------ row 20: auto-cleanup at the limit
  if (rows.has(20)) {
    const n = o.cleanupKeys;
    const { keys, values } = makeDataset(n);
    for (const strategy of strategies) {
      let kept = 0;
      let evicted = 0;
      const writer = (limit: boolean, record: boolean) => async () => {
        const s = new StorageSystem();
        // No 'evict' listener: with one, the backend builds an event per eviction (not measured here).
        if (limit) await s.enableAutoCleanup({ maxSize: '1MB', cleanupStrategy: strategy });
        const ops = await opsPerSecond(n, async () => {
          for (let i = 0; i < n; i++) await s.set(keys[i]!, values[i]);
        });
        if (limit && record) {
          kept = (await s.keys('**')).length;
          evicted = n - kept;
        }
        await s.close();
        return ops;
      };
      const what = `row 20 (auto-cleanup at the limit, ${strategy})`;
      o.log(`${what}: warm-up`);
      await interleaved(0, { sdk: writer(true, false), base: writer(false, false) });
      for (let r = 0; r < o.runs; r++) {
        o.log(`${what}: run ${r + 1}/${o.runs}`);
        samples.add(await interleaved(r, { sdk: writer(true, true), base: writer(false, true) }), `cleanup.${strategy}.set.`);
      }
      notes.push(`row 20 (${strategy}): after ${n.toLocaleString('en-US')} writes under maxSize 1MB, ${kept.toLocaleString('en-US')} keys kept, ${evicted.toLocaleString('en-US')} evicted`);
    }
  }

  await rm(o.tmp, { recursive: true, force: true });
  if (sink === 0 && (rows.has(17) || rows.has(18) || rows.has(19))) throw new Error('bench: nothing was read');

  const line = (row: number, operation: string, baseline: string, name: string, target: number | null): Line => ({
    row, operation, baseline, target, sdk: samples.get(`${name}.sdk`), base: samples.get(`${name}.base`),
  });
  const k = (x: number) => x.toLocaleString('en-US');
  const lines = [
    line(17, `LevelDB encrypted set, 200 B (${k(o.encKeys)} keys)`, 'unencrypted set, same engine', 'enc.set', 0.5),
    line(17, `LevelDB encrypted get, 200 B (${k(o.encKeys)} keys)`, 'unencrypted get, same engine', 'enc.get', 0.5),
    line(18, `LevelDB compressed set, 20 KB JSON (${k(o.docs)} docs)`, 'uncompressed set', 'z.set', null),
    line(18, `LevelDB compressed get, 20 KB JSON (${k(o.docs)} docs)`, 'uncompressed get', 'z.get', null),
    line(19, `LevelDB cached get (hit), ${k(o.cacheKeys)} keys`, 'memory-tier get', 'cache.get', 0.8),
    ...strategies.map((st) => line(
      20, `memory set, ${k(o.cleanupKeys)} keys, auto-cleanup maxSize 1MB${st === 'lru' ? '' : ` (${st})`}`, 'same writes, no limit', `cleanup.${st}.set`, st === 'lru' ? 0.7 : null,
    )),
  ];
  return {
    lines: lines.filter((l) => rows.has(l.row)),
    notes,
  };
}

/** `npx tsx bench/issue5.ts [--runs N] [--scale F]`: this part alone. */
if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const get = (f: string, d: number) => (args.includes(f) ? Number(args[args.indexOf(f) + 1]) : d);
  const scale = get('--scale', 1);
  const { summarize, textTable, samplesText } = await import('./lib/measure.ts');
  const started = performance.now();
  const r = await runIssue5({
    runs: get('--runs', 3),
    encKeys: Math.round(20_000 * scale), docs: Math.round(2_000 * scale), cacheKeys: 10_000, cachePasses: Math.max(1, Math.round(10 * scale)),
    cleanupKeys: Math.round(50_000 * scale), tmp: join(process.cwd(), '.tmp', 'bench-issue5'),
    log: (m) => console.error(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${m}`),
  });
  const res = r.lines.map(summarize);
  console.log(textTable(res));
  for (const l of res) console.log(`  row ${l.row}: ${samplesText(l)}`);
  for (const n of r.notes) console.log(`note: ${n}`);
}
