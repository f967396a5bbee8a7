/**
 * Micro benchmark of the full-text core against MiniSearch, on 10,000 short documents (a title
 * and a ~20-word body over a Zipf-distributed vocabulary). Run: `npx tsx bench/search-micro.ts`
 *
 * - build: `searchEntries` over the corpus (plus the statistics sum) vs MiniSearch `addAll`;
 * - query: `searchIndexed` over an in-memory SearchIO (sorted arrays + binary search, synchronous)
 *   vs `MiniSearch.search(q, { prefix: true })`, on the same queries (two words, the last often
 *   cut to a prefix). MiniSearch with `prefix: true` expands every term by prefix, we only the
 *   last one (as specified), so a third column runs MiniSearch with prefix on the last term only.
 */
import MiniSearch from 'minisearch';
import { checkSearchOptions, searchEntries, searchIndexed, STATS_KEY } from '../src/core/search/search';
import type { SearchIndexDef, SearchIO } from '../src/core/search/search';

const DOCS = 10_000;
const QUERIES = 2_000;

let seed = 42;
const rand = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff; return seed / 0x80000000; };
const syllables = ['ka', 'lo', 'mi', 'ner', 'to', 'sa', 'vi', 'ra', 'den', 'po', 'lu', 'qui', 'ben', 'mar', 'tis', 'ol'];
const vocab: string[] = [];
for (let i = 0; vocab.length < 6000; i++) {
  let w = '';
  const n = 2 + Math.floor(rand() * 3);
  for (let j = 0; j < n; j++) w += syllables[Math.floor(rand() * syllables.length)];
  if (!vocab.includes(w)) vocab.push(w);
}
// Zipf-like: index = floor(V * u^3) favours the first words.
const word = (): string => vocab[Math.floor(vocab.length * rand() ** 3)]!;
const sentence = (n: number): string => Array.from({ length: n }, word).join(' ');
const docs = Array.from({ length: DOCS }, (_, i) => ({ id: `doc.${String(i).padStart(5, '0')}`, title: sentence(3 + Math.floor(rand() * 4)), body: sentence(15 + Math.floor(rand() * 10)) }));
const queries = Array.from({ length: QUERIES }, () => {
  const a = word(), b = word();
  return rand() < 0.6 ? `${a} ${b.slice(0, Math.max(3, Math.ceil(b.length * 0.6)))}` : `${a} ${b}`;
});

const uniformQueries = Array.from({ length: QUERIES }, () => {
  const a = vocab[Math.floor(rand() * vocab.length)]!, b = vocab[Math.floor(rand() * vocab.length)]!;
  return rand() < 0.6 ? `${a} ${b.slice(0, Math.max(3, Math.ceil(b.length * 0.6)))}` : `${a} ${b}`;
});

function time<T>(fn: () => T): [T, number] {
  const t = performance.now();
  const r = fn();
  return [r, performance.now() - t];
}

/** In-memory SearchIO: sorted keys and values, binary search for the lower bound. */
function memoryIO(map: Map<string, unknown>): SearchIO {
  const keys = [...map.keys()].sort();
  const values = keys.map((k) => map.get(k));
  const lower = (k: string): number => {
    let lo = 0, hi = keys.length;
    while (lo < hi) { const mid = (lo + hi) >>> 1; if (keys[mid]! < k) lo = mid + 1; else hi = mid; }
    return lo;
  };
  return {
    range(gte, lt) {
      const out: [string, unknown][] = [];
      for (let i = lower(gte); i < keys.length && keys[i]! < lt; i++) out.push([keys[i]!, values[i]]);
      return out;
    },
    keys(gte, lt) {
      const out: string[] = [];
      for (let i = lower(gte); i < keys.length && keys[i]! < lt; i++) out.push(keys[i]!);
      return out;
    },
    get: (k) => map.get(k),
  };
}

const def: SearchIndexDef = { name: 'docs', collection: 'doc', fields: ['title', 'body'] };

/** searchEntries over the corpus and the statistics sum: what the write path computes. */
function entriesOnly(): number {
  const stats = [0, 0, 0];
  let n = 0;
  for (const d of docs) {
    const { entries, stats: s } = searchEntries(def, d.id, d);
    n += entries.size;
    for (let i = 0; i < s.length; i++) stats[i]! += s[i]!;
  }
  return n;
}
/** The same, stored into one Map (the in-memory keyspace the queries read). */
function buildOurs(): Map<string, unknown> {
  const map = new Map<string, unknown>();
  const stats = [0, 0, 0];
  for (const d of docs) {
    const { entries, stats: s } = searchEntries(def, d.id, d);
    for (const [k, v] of entries) map.set(k, v);
    for (let i = 0; i < s.length; i++) stats[i]! += s[i]!;
  }
  map.set(STATS_KEY, stats);
  return map;
}
function buildMini(): MiniSearch {
  const ms = new MiniSearch({ fields: ['title', 'body'], storeFields: [] });
  ms.addAll(docs);
  return ms;
}

async function main(): Promise<void> {
  for (let i = 0; i < 3; i++) { entriesOnly(); buildOurs(); buildMini(); } // warm-up
  const builds: { entries: number; ours: number; mini: number }[] = [];
  let map = new Map<string, unknown>();
  let ms = buildMini();
  for (let i = 0; i < 5; i++) {
    const [, t0] = time(entriesOnly);
    let t: number;
    [map, t] = time(buildOurs);
    let t2: number;
    [ms, t2] = time(buildMini);
    builds.push({ entries: t0, ours: t, mini: t2 });
  }
  const best = (xs: number[]): number => Math.min(...xs);
  const entriesBuild = best(builds.map((b) => b.entries));
  const ourBuild = best(builds.map((b) => b.ours)), miniBuild = best(builds.map((b) => b.mini));
  let postingBytes = 0, keyBytes = 0, postings = 0;
  for (const [k, v] of map) if (k[0] === 'p') { postings++; keyBytes += k.length; postingBytes += JSON.stringify(v).length; }

  const io = memoryIO(map);
  const accept = (): boolean => true;
  const qps = (ms: number): number => Math.round(QUERIES / (ms / 1000));
  const dps = (ms: number): number => Math.round(DOCS / (ms / 1000));
  const measure = async (qs: string[]): Promise<[number, number, number]> => {
    const opts = qs.map((query) => checkSearchOptions({ query, limit: 20 }));
    const runOurs = async (): Promise<number> => {
      const t = performance.now();
      for (const q of opts) await searchIndexed(io, def, q, accept);
      return performance.now() - t;
    };
    const runMini = (prefix: boolean | ((term: string, i: number, terms: string[]) => boolean)): number => {
      const t = performance.now();
      for (const q of qs) ms.search(q, { prefix }).slice(0, 20);
      return performance.now() - t;
    };
    const lastOnly = (_t: string, i: number, terms: string[]): boolean => i === terms.length - 1;
    await runOurs(); runMini(true); runMini(lastOnly); // warm-up
    const ours: number[] = [], mini: number[] = [], miniLast: number[] = [];
    for (let i = 0; i < 5; i++) { ours.push(await runOurs()); mini.push(runMini(true)); miniLast.push(runMini(lastOnly)); }
    return [best(ours), best(mini), best(miniLast)];
  };
  const [zOurs, zMini, zLast] = await measure(queries);
  const [uOurs, uMini, uLast] = await measure(uniformQueries);
  const opts = queries.map((query) => checkSearchOptions({ query, limit: 20 }));

  // Sanity: the top hit of both agrees often (different prefix rules and BM25 variants, so not always).
  let sameTop = 0;
  for (let i = 0; i < 200; i++) {
    const a = await searchIndexed(io, def, opts[i]!, accept);
    const b = ms.search(queries[i]!, { prefix: true });
    if (a[0]?.key === b[0]?.id) sameTop++;
  }

  console.log(`corpus: ${DOCS} docs, ${postings} postings; ${QUERIES} queries (two words, 60% with the last cut to a prefix)`);
  console.log(`build: searchEntries ${dps(entriesBuild)} docs/s (${entriesBuild.toFixed(0)} ms); + into one Map ${dps(ourBuild)} docs/s (${ourBuild.toFixed(0)} ms); MiniSearch addAll ${dps(miniBuild)} docs/s (${miniBuild.toFixed(0)} ms)`);
  const row = (what: string, o: number, m: number, l: number): void => console.log(
    `query, ${what}: ours ${qps(o)} q/s; MiniSearch prefix:true ${qps(m)} q/s (ours/MiniSearch ${(m / o).toFixed(2)}, >= 0.5 required); ` +
    `MiniSearch prefix on the last term only ${qps(l)} q/s (ours/it ${(l / o).toFixed(2)})`);
  row('words drawn like the corpus (frequent)', zOurs, zMini, zLast);
  row('words drawn uniformly (rarer)', uOurs, uMini, uLast);
  console.log(`posting values: ${(postingBytes / postings).toFixed(2)} JSON bytes avg; posting keys ${(keyBytes / postings).toFixed(1)} chars avg`);
  console.log(`same top hit as MiniSearch on ${sameTop}/200 queries`);
}

await main();
