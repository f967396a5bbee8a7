/**
 * Benchmark data, shared by the Node and Chromium suites (no Node imports here).
 *
 * Records are ~200-byte JSON-like user objects (JSON text 199–220 bytes). Every record is a
 * distinct object with distinct strings, so neither side benefits from a cached shape or string.
 */

export interface BenchRecord {
  id: string;
  name: string;
  email: string;
  age: number;
  active: boolean;
  tags: string[];
  preferences: { theme: string; lang: string };
  score: number;
  createdAt: number;
}

const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Margaret', 'Ken', 'Dennis', 'Frances'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Hamilton', 'Thompson', 'Ritchie', 'Allen'];
const TAGS = ['admin', 'beta', 'trial', 'pro', 'eu', 'us', 'mobile', 'desktop'];

/** The i-th record. */
export function makeRecord(i: number): BenchRecord {
  const first = FIRST[i % FIRST.length]!;
  const last = LAST[Math.floor(i / FIRST.length) % LAST.length]!;
  return {
    id: `user-${i}`,
    name: `${first} ${last}`,
    email: `${first.toLowerCase()}.${last.toLowerCase()}${i}@example.com`,
    age: 18 + (i % 60),
    active: i % 3 !== 0,
    tags: [TAGS[i % TAGS.length]!, TAGS[(i * 7 + 3) % TAGS.length]!],
    preferences: { theme: i % 2 === 0 ? 'dark' : 'light', lang: i % 5 === 0 ? 'fr' : 'en' },
    score: Math.round(((i * 7919) % 100000) * 1.37) / 100,
    createdAt: 1_700_000_000_000 + i * 1000,
  };
}

/** Key of the i-th record: `users.00000042` (fixed width, so key order = numeric order). */
export function recordKey(i: number): string {
  return `users.${String(i).padStart(8, '0')}`;
}

/** `n` keys and `n` records. */
export function makeDataset(n: number): { keys: string[]; values: BenchRecord[] } {
  const keys = new Array<string>(n);
  const values = new Array<BenchRecord>(n);
  for (let i = 0; i < n; i++) {
    keys[i] = recordKey(i);
    values[i] = makeRecord(i);
  }
  return { keys, values };
}

/** A deterministic permutation of 0..n-1 (reads visit keys in this order, the same for both sides). */
export function shuffledIndexes(n: number, seed = 42): number[] {
  const out = Array.from({ length: n }, (_, i) => i);
  let s = seed >>> 0;
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

/** Splits `0..n-1` into [start, end) chunks of `size`. */
export function chunks(n: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  for (let s = 0; s < n; s += size) out.push([s, Math.min(n, s + size)]);
  return out;
}

/** Row 7: `groups` prefixes of `perGroup` keys each, `g0042.k000123`; keys('g0042.*') returns `perGroup`. */
export function groupKey(group: number, i: number): string {
  return `g${String(group).padStart(4, '0')}.k${String(i).padStart(6, '0')}`;
}

export function groupPrefix(group: number): string {
  return `g${String(group).padStart(4, '0')}.`;
}
