/**
 * Micro-benchmark of the value codec. Run: `npx tsx bench/codec-micro.ts`
 *
 * Compares the fast path (`decodeValue(encodeValue(v))` on JSON-exact values) with the bare
 * `JSON.parse(JSON.stringify(v))` round trip it wraps, and reports the binary path on values
 * JSON cannot carry. Each case runs several timed rounds after a warm-up; the best round is
 * reported because it is the least disturbed by GC and other processes.
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

/** Nanoseconds per operation: best of `rounds` rounds of `iters` calls. */
function measure(values: unknown[], fn: (v: unknown) => unknown, iters: number, rounds = 9): number {
  for (let i = 0; i < iters; i++) sink ^= fn(values[i % values.length]) ? 1 : 0; // warm-up / JIT
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) sink ^= fn(values[i % values.length]) ? 1 : 0;
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / iters);
  }
  return best;
}

const bare = (v: unknown): unknown => JSON.parse(JSON.stringify(v));
const codec = (v: unknown): unknown => decodeValue(encodeValue(v));
const enc = (v: unknown): unknown => encodeValue(v);
const fmt = (ns: number): string => `${ns.toFixed(0).padStart(7)} ns/op`;

console.log(`node ${process.version}`);
for (const [name, values] of Object.entries(cases)) {
  const size = JSON.stringify(values[0]).length;
  if (typeof encodeValue(values[0]) !== 'string') throw new Error(`${name} did not take the fast path`);
  const iters = Math.max(2000, Math.round(4e6 / size));
  // Interleave to spread any drift (thermal, GC) over both sides.
  const b1 = measure(values, bare, iters), c1 = measure(values, codec, iters);
  const b2 = measure(values, bare, iters), c2 = measure(values, codec, iters);
  const b = Math.min(b1, b2), c = Math.min(c1, c2);
  console.log(`\n${name} (${size} B JSON)`);
  console.log(`  JSON.parse(JSON.stringify(v))  ${fmt(b)}`);
  console.log(`  decodeValue(encodeValue(v))    ${fmt(c)}   speed vs bare JSON: ${(b / c).toFixed(2)}x`);
}
for (const [name, values] of Object.entries(binaryCases)) {
  const encoded = encodeValue(values[0]);
  if (!(encoded instanceof Uint8Array)) throw new Error(`${name} did not take the binary path`);
  const iters = 20000;
  const c = measure(values, codec, iters);
  const e = measure(values, enc, iters);
  const blobs = values.map(encodeValue);
  const d = measure(blobs, (x) => decodeValue(x as Uint8Array), iters);
  const sc = measure(values, (v) => structuredClone(v), iters);
  console.log(`\n${name} (${encoded.length} B encoded)`);
  console.log(`  encodeValue                    ${fmt(e)}`);
  console.log(`  decodeValue                    ${fmt(d)}`);
  console.log(`  decodeValue(encodeValue(v))    ${fmt(c)}`);
  console.log(`  structuredClone(v) (reference) ${fmt(sc)}`);
}
if (sink === 42) console.log(''); // keep results observable
