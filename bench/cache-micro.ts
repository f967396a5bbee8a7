/**
 * Micro-benchmark of the record cache (cache tier core). Run: `npx tsx bench/cache-micro.ts`
 *
 * The cost of a cache hit against a bare `Map.get` on the same records: 10,000 keys, all cached,
 * read in a pre-drawn random order (every hit moves its entry to the most-recent end), and the
 * same key over and over (the entry is already the most recent: no move). The "+ decode" rows add
 * what a cached `get()` does after the hit (JSON.parse of a ~200 B body), which is what the
 * issue's "cached get vs memory-tier get" target compares. Also: fill and update throughput, and
 * an entry-bounded cache smaller than the key set (every other read misses and refills).
 * Times are process CPU time; interleaved rounds, best round reported.
 */
import { RecordCache } from '../src/core/cache';
import { decodeValue } from '../src/core/codec/value';
import type { RecordEnvelope } from '../src/core/record';

const KEYS = 10_000;
const ITERS = 2_000_000;

const keys = Array.from({ length: KEYS }, (_, i) => `user.${String(i).padStart(5, '0')}`);
const recs: RecordEnvelope[] = keys.map((k, i) => ({
  f: 0, c: 1, u: 1, e: 0, l: 0, t: undefined, n: 1,
  b: JSON.stringify({ id: k, name: 'John Doe', email: `john${i}@example.com`, age: 20 + (i % 50), active: i % 2 === 0, tags: ['a', 'b'], preferences: { theme: 'dark', lang: 'en' }, score: 3.14 + i }),
}));
let seed = 7;
const rand = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff; return seed / 0x80000000; };
const order = Int32Array.from({ length: 1 << 16 }, () => Math.floor(rand() * KEYS));
const MASK = order.length - 1;

const map = new Map<string, RecordEnvelope>();
keys.forEach((k, i) => map.set(k, recs[i]!));
const cache = new RecordCache({ maxEntries: KEYS });
keys.forEach((k, i) => cache.fill(k, recs[i], cache.generation()));
const half = new RecordCache({ maxEntries: KEYS / 2 });
const churn = new RecordCache({ maxEntries: KEYS });

let sink = 0;
const now = Date.now();

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

type Case = [name: string, fn: (i: number) => void, iters: number];
const cases: Case[] = [
  ['Map.get (random key)', (i) => { sink ^= map.get(keys[order[i & MASK]!]!)!.n; }, ITERS],
  ['RecordCache.get hit (random key)', (i) => { sink ^= (cache.get(keys[order[i & MASK]!]!, now) as RecordEnvelope).n; }, ITERS],
  ['Map.get (same key)', () => { sink ^= map.get(keys[42]!)!.n; }, ITERS],
  ['RecordCache.get hit (same key)', () => { sink ^= (cache.get(keys[42]!, now) as RecordEnvelope).n; }, ITERS],
  ['Map.get + decode (random key)', (i) => { sink ^= (decodeValue(map.get(keys[order[i & MASK]!]!)!.b) as { age: number }).age; }, ITERS / 10],
  ['RecordCache.get + decode (random key)', (i) => { sink ^= (decodeValue((cache.get(keys[order[i & MASK]!]!, now) as RecordEnvelope).b) as { age: number }).age; }, ITERS / 10],
  ['RecordCache.update (put, random key)', (i) => { const k = order[i & MASK]!; churn.update(keys[k]!, recs[k]); }, ITERS / 4],
  ['RecordCache.fill (random key)', (i) => { const k = order[i & MASK]!; churn.fill(keys[k]!, recs[k], churn.generation()); }, ITERS / 4],
  ['half-size cache: get, fill on miss', (i) => {
    const k = order[i & MASK]!;
    if (half.get(keys[k]!, now) === undefined) half.fill(keys[k]!, recs[k], half.generation());
  }, ITERS / 4],
];

function round(fn: (i: number) => void, iters: number): number {
  const t0 = cpuMicros();
  for (let i = 0; i < iters; i++) fn(i);
  return ((cpuMicros() - t0) * 1000) / iters;
}

for (const [, fn, iters] of cases) round(fn, iters); // warm-up
const best = cases.map(() => Infinity);
for (let r = 0; r < 9; r++) cases.forEach(([, fn, iters], i) => { best[i] = Math.min(best[i]!, round(fn, iters)); });

const fmt = (ns: number) => `${(1e9 / ns / 1e6).toFixed(1).padStart(7)} M ops/s  ${ns.toFixed(1).padStart(6)} ns/op`;
console.log(`record cache micro benchmark (${KEYS} keys, node ${process.version})`);
cases.forEach(([name], i) => console.log(`  ${name.padEnd(40)} ${fmt(best[i]!)}`));
console.log(`  hit / Map.get, random key: ${(best[0]! / best[1]!).toFixed(2)}x the ops/s; same key: ${(best[2]! / best[3]!).toFixed(2)}x; with decode: ${(best[4]! / best[5]!).toFixed(2)}x`);
const h = half.metrics();
console.log(`  half-size cache hit rate ${(h.hits / (h.hits + h.misses)).toFixed(3)}, evictions ${h.evictions}`);
if (sink === 0.5) console.log(sink);
