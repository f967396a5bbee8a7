/**
 * The Node suite: memory tier (row 1), LevelDB through classic-level (rows 2, 3) and prefix key
 * listing among 1,000,000 keys on LevelDB and memory (row 7). SDK and baseline run in the same
 * process, in the same run, in alternating order.
 */
import { rm, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { StorageSystem } from '../src/index.node.ts';
import type { BatchEntry } from '../src/index.node.ts';
import { Samples, interleaved, opsPerSecond, type Line } from './lib/measure.ts';
import { chunks, groupKey, groupPrefix, makeDataset, makeRecord, shuffledIndexes, type BenchRecord } from './lib/records.ts';

export interface NodeOptions {
  /** Runs of rows 2–3 (LevelDB writes and reads, ~30 s per run). */
  runs: number;
  /** Runs of rows 1 and 7 (a few seconds per run, so more of them for steadier medians). */
  fastRuns: number;
  /** Keys of rows 1–3 (100,000). */
  keys: number;
  /** Row 7: groups × perGroup keys (1,000 × 1,000). */
  groups: number;
  perGroup: number;
  /** Row 7: prefix queries per run. */
  queries: number;
  tmp: string;
  log: (msg: string) => void;
}

const CHUNK = 1000;
type RawDB = ClassicLevel<string, BenchRecord>;

/** Baseline store of row 1: a Map holding a JSON copy, behind async functions like the SDK's. */
class JsonMap {
  private readonly map = new Map<string, string>();
  async set(key: string, value: unknown): Promise<void> {
    this.map.set(key, JSON.stringify(value));
  }
  async get(key: string): Promise<unknown> {
    const s = this.map.get(key);
    return s === undefined ? undefined : JSON.parse(s);
  }
}

let sink = 0;
const use = (v: unknown): void => {
  if (v === undefined) throw new Error('bench: a read returned undefined for a key that was written');
  sink++;
};

async function openRaw(dir: string): Promise<RawDB> {
  // valueEncoding 'json': classic-level stringifies on write and parses on read, as the SDK does.
  const db = new ClassicLevel<string, BenchRecord>(dir, { keyEncoding: 'utf8', valueEncoding: 'json' });
  await db.open();
  return db;
}

/**
 * Compacts a LevelDB directory completely (the SDK's as well as the baseline's, through
 * classic-level while nobody holds it open), so the reads that follow start from the same kind of
 * layout on both sides: sorted tables, no overlapping level-0 files, no compaction running.
 */
async function settle(dir: string): Promise<void> {
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  await db.compactRange('\u0000', '\uffff');
  await db.close();
}

async function openSdk(dir: string): Promise<StorageSystem> {
  const s = new StorageSystem({ defaultBackend: 'file' });
  await s.createBackend('file', { basePath: dir }).open();
  return s;
}

export async function runNode(o: NodeOptions): Promise<Line[]> {
  const samples = new Samples();
  const { keys, values } = makeDataset(o.keys);
  const order = shuffledIndexes(o.keys);
  const shuffledKeys = order.map((i) => keys[i]!);
  const spans = chunks(o.keys, CHUNK);
  const entryChunks: BatchEntry[][] = spans.map(([s, e]) => keys.slice(s, e).map((key, j) => ({ key, value: values[s + j] })));
  const rawChunks = spans.map(([s, e]) => keys.slice(s, e).map((key, j) => ({ type: 'put' as const, key, value: values[s + j]! })));
  const readChunks = spans.map(([s, e]) => shuffledKeys.slice(s, e));

  // ------------------------------------------------------------------ row 1: memory set/get
  const row1 = async (run: number, n: number, record: boolean) => {
    const sdk = new StorageSystem();
    const base = new JsonMap();
    const setR = await interleaved(run, {
      sdk: () => opsPerSecond(n, async () => {
        for (let i = 0; i < n; i++) await sdk.set(keys[i]!, values[i]);
      }),
      base: () => opsPerSecond(n, async () => {
        for (let i = 0; i < n; i++) await base.set(keys[i]!, values[i]);
      }),
    });
    const getR = await interleaved(run, {
      sdk: () => opsPerSecond(n, async () => {
        for (let i = 0; i < o.keys; i++) if (order[i]! < n) use(await sdk.get(keys[order[i]!]!));
      }),
      base: () => opsPerSecond(n, async () => {
        for (let i = 0; i < o.keys; i++) if (order[i]! < n) use(await base.get(keys[order[i]!]!));
      }),
    });
    await sdk.close();
    if (record) {
      samples.add(setR, 'mem.set.');
      samples.add(getR, 'mem.get.');
    }
  };
  o.log('row 1 (memory set/get): warm-up');
  await row1(0, Math.min(o.keys, 20_000), false);
  for (let run = 0; run < o.fastRuns; run++) {
    o.log(`row 1 (memory set/get): run ${run + 1}/${o.fastRuns}`);
    await row1(run, o.keys, true);
  }

  // ------------------------------------------------------------------ rows 2, 3: LevelDB
  await rm(o.tmp, { recursive: true, force: true });
  await mkdir(o.tmp, { recursive: true });
  const row23 = async (run: number, record: boolean, limit = o.keys) => {
    const n = Math.min(limit, o.keys);
    const writeChunks = entryChunks.slice(0, Math.ceil(n / CHUNK));
    const rawWriteChunks = rawChunks.slice(0, writeChunks.length);
    const readKeys = n === o.keys ? shuffledKeys : keys.slice(0, n);
    const manyChunks = n === o.keys ? readChunks : chunks(n, CHUNK).map(([s, e]) => readKeys.slice(s, e));
    const sdkDir = join(o.tmp, `sdk-${run}-${record ? 'm' : 'w'}`);
    const rawDir = join(o.tmp, `raw-${run}-${record ? 'm' : 'w'}`);
    let sdk = await openSdk(sdkDir);
    let raw = await openRaw(rawDir);
    const write = await interleaved(run, {
      sdk: () => opsPerSecond(n, async () => {
        for (const c of writeChunks) await sdk.batchSet(c);
      }),
      base: () => opsPerSecond(n, async () => {
        for (const c of rawWriteChunks) await raw.batch(c);
      }),
    });
    // Close, compact and reopen both, so the reads below start from the same quiet state.
    await sdk.close();
    await raw.close();
    await settle(sdkDir);
    await settle(rawDir);
    sdk = await openSdk(sdkDir);
    raw = await openRaw(rawDir);
    const get = await interleaved(run, {
      sdk: () => opsPerSecond(n, async () => {
        for (const k of readKeys) use(await sdk.get(k));
      }),
      base: () => opsPerSecond(n, async () => {
        for (const k of readKeys) use(await raw.get(k));
      }),
    });
    const many = await interleaved(run, {
      sdk: () => opsPerSecond(n, async () => {
        for (const c of manyChunks) use((await sdk.batchGet(c))[c.length - 1]);
      }),
      base: () => opsPerSecond(n, async () => {
        for (const c of manyChunks) use((await raw.getMany(c))[c.length - 1]);
      }),
    });
    await sdk.close();
    await raw.close();
    await rm(sdkDir, { recursive: true, force: true });
    await rm(rawDir, { recursive: true, force: true });
    if (record) {
      samples.add(write, 'level.batchSet.');
      samples.add(get, 'level.get.');
      samples.add(many, 'level.batchGet.');
    }
  };
  o.log('rows 2–3 (LevelDB): warm-up (10,000 keys)');
  await row23(0, false, 10_000);
  for (let run = 0; run < o.runs; run++) {
    o.log(`rows 2–3 (LevelDB): run ${run + 1}/${o.runs}`);
    await row23(run, true);
  }

  // ------------------------------------------------------------------ row 7: keys('prefix.*')
  const total = o.groups * o.perGroup;
  const LOAD = 10_000;
  const loadChunk = (start: number): { key: string; value: BenchRecord }[] => {
    const out: { key: string; value: BenchRecord }[] = [];
    for (let i = start; i < Math.min(total, start + LOAD); i++) {
      out.push({ key: groupKey(Math.floor(i / o.perGroup), i % o.perGroup), value: makeRecord(i) });
    }
    return out;
  };
  o.log(`row 7: loading ${total.toLocaleString('en-US')} keys into LevelDB (SDK and classic-level) and memory (SDK and sorted array)`);
  const t0 = performance.now();
  const sdkLevelDir = join(o.tmp, 'prefix-sdk');
  const rawLevelDir = join(o.tmp, 'prefix-raw');
  let sdkLevel = await openSdk(sdkLevelDir);
  let rawLevel = await openRaw(rawLevelDir);
  const sdkMem = new StorageSystem();
  const sortedKeys: string[] = [];
  for (let s = 0; s < total; s += LOAD) {
    const entries = loadChunk(s);
    await sdkLevel.batchSet(entries);
    await rawLevel.batch(entries.map((e) => ({ type: 'put' as const, key: e.key, value: e.value })));
    await sdkMem.batchSet(entries);
    for (const e of entries) sortedKeys.push(e.key);
  }
  sortedKeys.sort();
  o.log(`row 7: loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s; compacting both LevelDB directories`);
  const t1 = performance.now();
  await sdkLevel.close();
  await rawLevel.close();
  await settle(sdkLevelDir);
  await settle(rawLevelDir);
  sdkLevel = await openSdk(sdkLevelDir);
  rawLevel = await openRaw(rawLevelDir);
  o.log(`row 7: compacted in ${((performance.now() - t1) / 1000).toFixed(1)} s`);

  const lowerBound = (a: readonly string[], x: string): number => {
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  // Upper bound of a prefix ending in '.': the same prefix ending in '/' (the next code unit).
  const upper = (p: string) => p.slice(0, -1) + '/';
  const groupsOrder = shuffledIndexes(o.groups, 7);
  const queries = Array.from({ length: o.queries }, (_, i) => groupPrefix(groupsOrder[i % o.groups]!));
  const check = (ks: readonly string[]) => {
    if (ks.length !== o.perGroup) throw new Error(`bench: a prefix query returned ${ks.length} keys, expected ${o.perGroup}`);
    sink++;
  };
  const row7 = async (run: number, record: boolean) => {
    const level = await interleaved(run, {
      sdk: () => opsPerSecond(o.queries, async () => {
        for (const p of queries) check(await sdkLevel.keys(p + '*'));
      }),
      base: () => opsPerSecond(o.queries, async () => {
        for (const p of queries) check(await rawLevel.keys({ gte: p, lt: upper(p) }).all());
      }),
    });
    const mem = await interleaved(run, {
      sdk: () => opsPerSecond(o.queries, async () => {
        for (const p of queries) check(await sdkMem.keys(p + '*'));
      }),
      base: () => opsPerSecond(o.queries, async () => {
        const slice = async (p: string) => sortedKeys.slice(lowerBound(sortedKeys, p), lowerBound(sortedKeys, upper(p)));
        for (const p of queries) check(await slice(p));
      }),
      // Reference: the same slice plus the least work the one-segment `*` needs on each key.
      ref: () => opsPerSecond(o.queries, async () => {
        const slice = async (p: string) => {
          const out = sortedKeys.slice(lowerBound(sortedKeys, p), lowerBound(sortedKeys, upper(p)));
          return out.filter((k) => k.indexOf('.', p.length) === -1);
        };
        for (const p of queries) check(await slice(p));
      }),
    });
    if (record) {
      samples.add(level, 'level.keys.');
      samples.add(mem, 'mem.keys.');
    }
  };
  o.log('row 7: warm-up (the memory engine builds its ordered key view on the first range read)');
  await row7(0, false);
  for (let run = 0; run < o.fastRuns; run++) {
    o.log(`row 7: run ${run + 1}/${o.fastRuns}`);
    await row7(run, true);
  }
  await sdkLevel.close();
  await rawLevel.close();
  await sdkMem.close();
  await rm(o.tmp, { recursive: true, force: true });
  if (sink === 0) throw new Error('bench: nothing was read');

  const n = o.keys.toLocaleString('en-US');
  const line = (row: number, operation: string, baseline: string, name: string, target: number): Line => ({
    row, operation, baseline, target, sdk: samples.get(`${name}.sdk`), base: samples.get(`${name}.base`),
  });
  return [
    line(1, `memory set, awaited one by one (${n})`, 'Map + JSON.stringify (async fn)', 'mem.set', 0.8),
    line(1, `memory get, awaited one by one (${n})`, 'Map + JSON.parse (async fn)', 'mem.get', 0.8),
    line(2, `LevelDB batchSet, chunks of ${CHUNK} (${n}, fresh dir)`, 'classic-level batch (json)', 'level.batchSet', 0.8),
    line(3, `LevelDB get, one by one (${n})`, 'classic-level get (json)', 'level.get', 0.7),
    line(3, `LevelDB batchGet, chunks of ${CHUNK} (${n})`, 'classic-level getMany (json)', 'level.batchGet', 0.7),
    line(7, `LevelDB keys('prefix.*'): ${o.perGroup} of ${total.toLocaleString('en-US')} (queries/s)`, 'classic-level keys({gte,lt}).all()', 'level.keys', 0.7),
    line(7, `memory keys('prefix.*'): ${o.perGroup} of ${total.toLocaleString('en-US')} (queries/s)`, 'sorted array, binary search + slice', 'mem.keys', 0.7),
    {
      ...line(7, `memory keys('prefix.*'): ${o.perGroup} of ${total.toLocaleString('en-US')} (queries/s)`, 'same + one-segment filter (reference)', 'mem.keys', 0.7),
      base: samples.get('mem.keys.ref'),
    },
  ];
}
