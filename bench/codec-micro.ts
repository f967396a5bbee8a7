/**
 * Micro-benchmark of the value codec. Run: `npx tsx bench/codec-micro.ts`
 *
 * Compares the fast path (`decodeValue(encodeValue(v))` on JSON-exact values) with the bare
 * `JSON.parse(JSON.stringify(v))` round trip it wraps, and reports the binary path on values
 * JSON cannot carry. Times are process CPU time (steadier than wall time on shared machines);
 * each function runs many interleaved rounds after a warm-up and the best round is reported.
 */
import { decodeValue, encodeValue } from '../src/core/codec/value';

const POOL = 256;

/** ~200 bytes of JSON each; varied values so no case is a single cached shape/string. */
function userObject(i: number): Record<string, unknown> {
  return {
    id: `user-${i}`, name: 'John Doe', email: `john${i}@example.com`, age: 20 + (i % 50),
    active: i % 2 === 0, tags: ['a', 'b'], preferences: { theme: i % 3 ? 'dark' : 'light', lang: 'en' },
    score: 3.14 + i,
  };
}

const cases: Record<string, unknown[]> = {
  'user object (~200 B JSON)': Array.from({ length: POOL }, (_, i) => userObject(i)),
  'array of 100 numbers': Array.from({ length: POOL }, (_, i) => Array.from({ length: 100 }, (_, j) => i * j + 0.5)),
  'list of 20 user objects': Array.from({ length: 16 }, (_, i) => Array.from({ length: 20 }, (_, j) => userObject(i * 20 + j))),
};
const binaryCases: Record<string, unknown[]> = {
  'user + Date + Map (binary)': Array.from({ length: POOL }, (_, i) => ({
    ...userObject(i), createdAt: new Date(1700000000000 + i), meta: new Map<string, unknown>([['k', i], ['v', 'x']]),
  })),
};

let sink = 0;

/** This process's CPU time in microseconds: steadier than wall time on a shared machine. */
function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Nanoseconds per call of `fn` over `values`: one timed round of `iters` calls. */
function round(values: unknown[], fn: (v: unknown) => unknown, iters: number): number {
  const t0 = cpuMicros();
  for (let i = 0; i < iters; i++) sink ^= fn(values[i % values.length]) ? 1 : 0;
  return ((cpuMicros() - t0) * 1000) / iters;
}

/**
 * Interleaved rounds (a, b, c, a, b, c...) so load from other processes and GC hit every
 * function alike. Returns each function's best round, and the median over rounds of the
 * first two functions' time ratio (a/b), which is the steadiest comparison on a noisy machine.
 */
function compare(values: unknown[], fns: Array<(v: unknown) => unknown>, iters: number, rounds = 15): { best: number[]; ratio: number } {
  for (const fn of fns) round(values, fn, iters); // warm-up / JIT
  const best = fns.map(() => Infinity);
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const times = fns.map((fn) => round(values, fn, iters));
    times.forEach((t, i) => { best[i] = Math.min(best[i]!, t); });
    if (times.length > 1) ratios.push(times[0]! / times[1]!);
  }
  ratios.sort((x, y) => x - y);
  return { best, ratio: ratios[ratios.length >> 1] ?? NaN };
}

const bare = (v: unknown): unknown => JSON.parse(JSON.stringify(v));
const codec = (v: unknown): unknown => decodeValue(encodeValue(v));
const enc = (v: unknown): unknown => encodeValue(v);
const stringify = (v: unknown): unknown => JSON.stringify(v);
const fmt = (ns: number): string => `${ns.toFixed(0).padStart(7)} ns/op`;

console.log(`node ${process.version}`);
for (const [name, values] of Object.entries(cases)) {
  const size = JSON.stringify(values[0]).length;
  if (typeof encodeValue(values[0]) !== 'string') throw new Error(`${name} did not take the fast path`);
  const iters = Math.max(500, Math.round(2e6 / size)); // ~30 ms rounds: CPU time ticks coarsely
  const { best, ratio } = compare(values, [bare, codec, stringify, enc], iters);
  const [b, c, js, e] = best as [number, number, number, number];
  console.log(`\n${name} (${size} B JSON)`);
  console.log(`  JSON.parse(JSON.stringify(v))  ${fmt(b)}`);
  console.log(`  decodeValue(encodeValue(v))    ${fmt(c)}   speed vs bare JSON: ${ratio.toFixed(2)}x (median of paired rounds)`);
  console.log(`  JSON.stringify(v)              ${fmt(js)}`);
  console.log(`  encodeValue(v)                 ${fmt(e)}   (validation walk: ~${Math.max(0, e - js).toFixed(0)} ns)`);
}
for (const [name, values] of Object.entries(binaryCases)) {
  const encoded = encodeValue(values[0]);
  if (!(encoded instanceof Uint8Array)) throw new Error(`${name} did not take the binary path`);
  const iters = 3000;
  const blobs = values.map(encodeValue);
  const [c, e, sc] = compare(values, [codec, enc, (v) => structuredClone(v)], iters).best as [number, number, number];
  const [d] = compare(blobs, [(x) => decodeValue(x as Uint8Array)], iters).best as [number];
  console.log(`\n${name} (${encoded.length} B encoded)`);
  console.log(`  encodeValue                    ${fmt(e)}`);
  console.log(`  decodeValue                    ${fmt(d)}`);
  console.log(`  decodeValue(encodeValue(v))    ${fmt(c)}`);
  console.log(`  structuredClone(v) (reference) ${fmt(sc)}`);
}
if (sink === 42) console.log(''); // keep results observable
