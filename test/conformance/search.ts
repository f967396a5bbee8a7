/**
 * Full-text search: BM25 ranking checked against a reference computed in this file from the
 * formula, the same keys and scores with and without a search index, prefix and fuzzy matching,
 * case and diacritics folding, boosts, and an index that stays correct through update, delete,
 * clear and TTL expiry. Semantics: the TSDoc of src/core/search/search.ts and Backend.search.
 */
import type { Declare, Fixture, Target } from './types';
import { deepEqual, equal, ok } from '../support/assert';
import { rejectsUnchanged, sleep, storeRunner } from './util';
import { BM25_B, BM25_K1, FUZZY_MIN_LENGTH, FUZZY_WEIGHT, PREFIX_WEIGHT } from '../../src/core/search/search';

// ----------------------------------------------------------------------------- the reference

/** The constants of the ranking as documented (the test checks that the library exports these). */
const K1 = 1.2;
const B = 0.75;
const PREFIX_W = 0.5;
const FUZZY_W = 0.5;
const FUZZY_MIN = 4;

/** Terms of a text: runs of letters and digits, NFKD without combining marks, lower-cased. */
function tokens(text: string): string[] {
  return text.normalize('NFKD').replace(/\p{M}+/gu, '').toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** Text of a top-level string field (the corpus has only those). */
function fieldText(value: unknown, field: string): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, field)) return '';
  const v = (value as Record<string, unknown>)[field];
  return typeof v === 'string' ? v : '';
}

/** Optimal-string-alignment distance ≤ 1 (insert, delete, substitute, swap adjacent), on code points. */
function withinOneEditRef(a: string, b: string): boolean {
  const x = [...a];
  const y = [...b];
  if (Math.abs(x.length - y.length) > 1) return false;
  const d: number[][] = Array.from({ length: x.length + 1 }, (_, i) => Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[x.length]![y.length]! <= 1;
}

interface SearchOpts {
  query: string;
  fields?: string[];
  limit?: number;
  offset?: number;
  prefix?: boolean;
  fuzzy?: boolean;
  combine?: 'or' | 'and';
  boost?: Record<string, number>;
}

/**
 * BM25F as documented: score(d) = Σ over distinct query terms t of max over the terms e of d
 * matching t of weight(e)·idf(e)·Σ over searched fields f of boost_f·tf·(k1+1)/(tf + k1·(1 − b + b·len_f/avglen_f)),
 * idf(e) = ln(1 + (N − df + 0.5)/(df + 0.5)), N = every record, df = records holding e in any
 * analysed field, weight 1 for t itself, 0.5 for a longer term starting with the last query term
 * (prefix), 0.5 for a term one edit away from a query term of 4+ code points (fuzzy).
 * Results by score desc, key asc, then offset/limit (default 20).
 */
function reference(rows: [string, unknown][], analysed: string[], o: SearchOpts, defaults: Record<string, number> = {}): { key: string; score: number }[] {
  const searched = o.fields ?? analysed;
  const prefix = o.prefix ?? true;
  const fuzzy = o.fuzzy ?? false;
  const weightOf = (f: string) => (!searched.includes(f) ? 0 : o.boost?.[f] ?? defaults[f] ?? 1);
  const n = rows.length;
  const docs = rows.map(([key, value]) => ({ key, toks: analysed.map((f) => tokens(fieldText(value, f))) }));
  const avg = analysed.map((_, i) => docs.reduce((s, d) => s + d.toks[i]!.length, 0) / n);
  const df = new Map<string, number>();
  for (const d of docs) for (const t of new Set(d.toks.flat())) df.set(t, (df.get(t) ?? 0) + 1);
  const qTokens = tokens(o.query);
  const last = qTokens[qTokens.length - 1];
  const qts = [...new Set(qTokens)];
  const expansion = (qt: string, term: string) => {
    if (term === qt) return 1;
    const p = prefix && qt === last && term.startsWith(qt) ? PREFIX_W : 0;
    const z = fuzzy && [...qt].length >= FUZZY_MIN && withinOneEditRef(qt, term) ? FUZZY_W : 0;
    return Math.max(p, z);
  };
  const out: { key: string; score: number }[] = [];
  for (const d of docs) {
    let total = 0;
    let matched = 0;
    for (const qt of qts) {
      let best = 0;
      for (const term of new Set(d.toks.flat())) {
        const w = expansion(qt, term);
        if (w === 0) continue;
        const dfe = df.get(term)!;
        const idf = Math.log(1 + (n - dfe + 0.5) / (dfe + 0.5));
        let s = 0;
        analysed.forEach((f, i) => {
          const tf = d.toks[i]!.filter((x) => x === term).length;
          const bw = weightOf(f);
          if (tf === 0 || bw === 0) return;
          const len = d.toks[i]!.length;
          s += bw * ((tf * (K1 + 1)) / (tf + K1 * (1 - B + (B * len) / avg[i]!)));
        });
        if (s === 0) continue;
        best = Math.max(best, w * idf * s);
      }
      if (best > 0) {
        total += best;
        matched++;
      }
    }
    if (o.combine === 'and' ? matched === qts.length : matched > 0) out.push({ key: d.key, score: total });
  }
  out.sort((a, b) => b.score - a.score || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const offset = o.offset ?? 0;
  return out.slice(offset, offset + (o.limit ?? 20));
}

// ----------------------------------------------------------------------------- the corpus

const FIELDS = ['title', 'content'];

/** Documents of the collection `docs` (keys `docs.<n>`). */
const CORPUS: [string, unknown][] = [
  ['docs.1', { title: 'Database indexing basics', content: 'An index speeds up database queries by keeping keys in sorted order.' }],
  ['docs.2', { title: 'Full text search', content: 'Search engines rank documents with BM25; search quality depends on tokenization.' }],
  ['docs.3', { title: 'Cooking at home', content: 'A classic creme brulee needs cream, sugar, eggs and patience.' }],
  ['docs.4', { title: 'Crème Brûlée', content: 'The French dessert: caramelised sugar over a rich custard.' }],
  ['docs.5', { title: 'Learning databases', content: 'Learn how a database stores data on disk and how indexes help.' }],
  ['docs.6', { title: 'Machine learning', content: 'Machine learning models learn patterns from data; deep learning is a subset.' }],
  ['docs.7', { title: 'Gardening', content: 'Tomatoes need sun, water and patience.' }],
  ['docs.8', { title: 'Search and indexing', content: 'Inverted indexes map each term to the documents containing it.' }],
  ['docs.9', { title: 'Databse typos', content: 'A misspelled word: databse instead of database.' }],
  ['docs.10', { title: 'Order of operations', content: 'Brackets first, then exponents, then multiplication, then addition.' }],
  ['docs.11', { title: 'Quarterly report', content: 'Revenue grew; the machine report lists numbers only.' }],
  ['docs.12', { other: 'database database', n: 12 }], // no indexed text: counts in N and the averages
];

/** Entries that are not documents of `docs`: never results, never statistics. */
const OUTSIDE: [string, unknown][] = [
  ['notes.1', { title: 'database', content: 'database data' }],
  ['docs.sub.1', { title: 'database', content: 'database database data' }],
  ['docsx', { title: 'database', content: 'database' }],
];

/** Queries run with and without the index (all with `fields`, so that a scan can run them). */
const QUERIES: SearchOpts[] = [
  { query: 'database' },
  { query: 'database', prefix: false },
  { query: 'data' },
  { query: 'learn machine' },
  { query: 'mach learn' },
  { query: 'learn mach' },
  { query: 'Crème' },
  { query: 'datbase', fuzzy: true, prefix: false },
  { query: 'datbase', fuzzy: true },
  { query: 'search indexing', combine: 'and' },
  { query: 'search indexing' },
  { query: 'order', prefix: false, boost: { content: 5 } },
  { query: 'order', prefix: false, boost: { title: 5 } },
  { query: 'data', limit: 1 },
  { query: 'data', limit: 2 },
  { query: 'patience sugar', prefix: false },
  { query: 'the a of' },
  { query: 'nothing-matches-zzz' },
];

const withFields = (o: SearchOpts): SearchOpts => ({ ...o, fields: o.fields ?? FIELDS });

type Hit = { key: string; value: unknown; score: number };

export function searchTests(test: Declare, target: Target): void {
  const withStore = storeRunner(target);
  const seed = async (storage: Fixture['storage'], rows: [string, unknown][] = CORPUS) => {
    await storage.batchSet([...rows, ...OUTSIDE].map(([key, value]) => ({ key, value })));
  };
  const run = (storage: Fixture['storage'], o: SearchOpts, pattern = 'docs.*') => storage.search(pattern, o) as Promise<Hit[]>;
  const keysOf = (hits: { key: string }[]) => hits.map((h) => h.key);
  const label = (o: SearchOpts) => JSON.stringify(o);

  /** Same keys in the same order as the reference, scores equal up to rounding. */
  const matchesReference = (hits: Hit[], ref: { key: string; score: number }[], what: string) => {
    const tol = (x: number) => 1e-9 * Math.max(1, Math.abs(x));
    equal(hits.length, ref.length, `${what}: ${hits.length} results, the reference has ${ref.length} (${JSON.stringify(keysOf(hits))} vs ${JSON.stringify(keysOf(ref))})`);
    const refScore = new Map(ref.map((r) => [r.key, r.score]));
    for (let i = 0; i < hits.length; i++) {
      const h = hits[i]!;
      ok(Math.abs(h.score - ref[i]!.score) <= tol(ref[i]!.score), `${what}: result ${i} scores ${h.score}, the reference ${ref[i]!.score} (${h.key} vs ${ref[i]!.key})`);
      const r = refScore.get(h.key);
      ok(r !== undefined && Math.abs(h.score - r) <= tol(r), `${what}: ${h.key} scores ${h.score}, the reference ${r}`);
      if (i > 0) {
        const p = hits[i - 1]!;
        ok(p.score > h.score || (p.score === h.score && p.key < h.key), `${what}: results not ordered by score desc, key asc at ${i}`);
      }
    }
  };
  /** Scores and keys exactly equal (what an index must not change). */
  const sameHits = (got: Hit[], want: Hit[], what: string) => {
    deepEqual(got.map((h) => [h.key, h.score]), want.map((h) => [h.key, h.score]), what);
    deepEqual(got.map((h) => h.value), want.map((h) => h.value), `${what}: values`);
  };
  const liveRows = async (storage: Fixture['storage']) => (await storage.query('docs.*')).map((e) => [e.key, e.value] as [string, unknown]);

  test('search: the ranking constants are the documented ones', () => {
    equal(BM25_K1, K1);
    equal(BM25_B, B);
    equal(PREFIX_WEIGHT, PREFIX_W);
    equal(FUZZY_WEIGHT, FUZZY_W);
    equal(FUZZY_MIN_LENGTH, FUZZY_MIN);
  });

  test('search: BM25 order of a hand-checked query, and every query against the reference (scan)', withStore(async ({ storage }) => {
    await seed(storage);
    // "database" (exact): docs.1 has it once in its title and once in a 12-term content; docs.5
    // has it once in a 12-term content (same content part as docs.1, no title part) and docs.9 once
    // in a 7-term content (shorter field: higher). So docs.1 > docs.9 > docs.5, and nothing else
    // (docs.12's "other" field is not searched, notes.1 / docs.sub.1 / docsx are not docs.<id>).
    const exact = await run(storage, { query: 'database', prefix: false, fields: FIELDS });
    deepEqual(keysOf(exact), ['docs.1', 'docs.9', 'docs.5']);
    deepEqual(exact[0]!.value, CORPUS[0]![1], 'hits carry the stored value');
    ok(exact.every((h) => h.score > 0));
    // The idf of "database" (df = 3 of N = 12) times the title part of docs.1 (tf 1, title length 3).
    const titleLens = CORPUS.map(([, v]) => tokens(fieldText(v, 'title')).length);
    const avgTitle = titleLens.reduce((a, b) => a + b, 0) / CORPUS.length;
    const contentLens = CORPUS.map(([, v]) => tokens(fieldText(v, 'content')).length);
    const avgContent = contentLens.reduce((a, b) => a + b, 0) / CORPUS.length;
    const idf = Math.log(1 + (12 - 3 + 0.5) / (3 + 0.5));
    const part = (len: number, avg: number) => (1 * (K1 + 1)) / (1 + K1 * (1 - B + (B * len) / avg));
    const hand = [idf * (part(3, avgTitle) + part(12, avgContent)), idf * part(7, avgContent), idf * part(12, avgContent)];
    for (let i = 0; i < 3; i++) ok(Math.abs(exact[i]!.score - hand[i]!) < 1e-9, `hand-computed score ${i}: ${hand[i]} vs ${exact[i]!.score}`);

    for (const o of QUERIES) matchesReference(await run(storage, withFields(o)), reference(CORPUS, FIELDS, withFields(o)), `scan ${label(o)}`);
    for (const o of [{ query: 'database', fields: ['title'] }, { query: 'learning', fields: ['content'] }, { query: 'order', fields: ['title'], boost: { title: 2 } }]) {
      matchesReference(await run(storage, o), reference(CORPUS, o.fields, o), `scan ${label(o)}`);
    }
  }));

  test('search: a search index gives exactly the keys and scores of a scan', withStore(async ({ storage }) => {
    await seed(storage);
    const before = new Map<string, Hit[]>();
    for (const o of QUERIES) before.set(label(o), await run(storage, withFields(o)));
    const info = await storage.createSearchIndex('docs', { fields: FIELDS });
    equal(info.type, 'search');
    equal(info.state, 'ready');
    deepEqual((await storage.listIndexes('docs')).map((i) => [i.type, i.name]), [['search', 'search']]);
    for (const o of QUERIES) {
      const scan = before.get(label(o))!;
      sameHits(await run(storage, withFields(o)), scan, `indexed (fields given) ${label(o)}`);
      sameHits(await run(storage, o), scan, `indexed (no fields) ${label(o)}`);
      matchesReference(await run(storage, o), reference(CORPUS, FIELDS, withFields(o)), `indexed ${label(o)}`);
    }
    ok(!(await run(storage, { query: 'database' })).some((h) => !/^docs\.[^.]+$/.test(h.key)), 'only docs.<id> records');
  }));

  test('search: offset and limit page the ranking, with and without the index', withStore(async ({ storage }) => {
    await seed(storage);
    const all = reference(CORPUS, FIELDS, { query: 'search data', fields: FIELDS });
    ok(all.length >= 5, 'enough results to page');
    for (const indexed of [false, true]) {
      if (indexed) await storage.createSearchIndex('docs', { fields: FIELDS });
      const w = indexed ? 'indexed' : 'scan';
      const full = await run(storage, { query: 'search data', fields: FIELDS });
      matchesReference(full, all, `${w}: every result`);
      for (const [offset, limit] of [[1, 2], [2, 2], [0, 3], [3, 10], [4, 1], [all.length, 5], [all.length + 3, 5]] as const) {
        const page = await run(storage, { query: 'search data', fields: FIELDS, offset, limit });
        sameHits(page, full.slice(offset, offset + limit), `${w}: offset ${offset} limit ${limit}`);
      }
    }
  }));

  test('search: a narrower pattern ranks the same with and without the index', withStore(async ({ storage }) => {
    await seed(storage);
    const o = { query: 'data', fields: FIELDS };
    const scan = await run(storage, o, 'docs.1*');
    deepEqual(keysOf(scan).sort(), ['docs.1'], 'docs.1* (docs.1, docs.10, docs.11, docs.12): only docs.1 holds data*');
    await storage.createSearchIndex('docs', { fields: FIELDS });
    sameHits(await run(storage, o, 'docs.1*'), scan, 'docs.1* after createSearchIndex');
  }));

  test('search: searching a subset of the indexed fields ranks the same with and without the index', withStore(async ({ storage }) => {
    await seed(storage);
    const queries: SearchOpts[] = [{ query: 'database', fields: ['title'] }, { query: 'learning', fields: ['content'] }, { query: 'search', fields: ['title'] }];
    const scans = await Promise.all(queries.map((o) => run(storage, o)));
    await storage.createSearchIndex('docs', { fields: FIELDS });
    for (let i = 0; i < queries.length; i++) sameHits(await run(storage, queries[i]!), scans[i]!, `indexed ${label(queries[i]!)}`);
  }));

  test('search: prefix matching applies to the last query term only', withStore(async ({ storage }) => {
    await seed(storage);
    for (const indexed of [false, true]) {
      if (indexed) await storage.createSearchIndex('docs', { fields: FIELDS });
      const s = (o: SearchOpts) => run(storage, withFields(o));
      const w = indexed ? 'indexed' : 'scan';
      // "mach" is not last: it does not expand to "machine" (docs.11 holds only that one).
      deepEqual(keysOf(await s({ query: 'mach learn' })).sort(), ['docs.5', 'docs.6'], `${w}: mach learn`);
      deepEqual(keysOf(await s({ query: 'learn mach' })).sort(), ['docs.11', 'docs.5', 'docs.6'], `${w}: learn mach`);
      deepEqual(keysOf(await s({ query: 'mach' })).sort(), ['docs.11', 'docs.6'], `${w}: mach finds machine`);
      deepEqual(await s({ query: 'mach', prefix: false }), [], `${w}: no prefix, no match`);
      deepEqual(keysOf(await s({ query: 'gard' })), ['docs.7'], `${w}: gard → gardening`);
      // The term itself weighs 1, a longer term 0.5: the exact "data" of docs.5/docs.6 counts fully.
      const data = await s({ query: 'data' });
      deepEqual(keysOf(data).sort(), ['docs.1', 'docs.5', 'docs.6', 'docs.9'], `${w}: data → data, database, databases, databse`);
      const noPrefix = await s({ query: 'data', prefix: false });
      deepEqual(keysOf(noPrefix).sort(), ['docs.5', 'docs.6'], `${w}: data without prefix`);
      for (const h of noPrefix) ok(data.find((d) => d.key === h.key)!.score >= h.score, `${w}: a prefix expansion never lowers a score`);
      matchesReference(data, reference(CORPUS, FIELDS, withFields({ query: 'data' })), `${w}: data`);
    }
  }));

  test('search: fuzzy matching finds terms one edit away (terms of 4+ code points)', withStore(async ({ storage }) => {
    await seed(storage);
    for (const indexed of [false, true]) {
      if (indexed) await storage.createSearchIndex('docs', { fields: FIELDS });
      const s = (o: SearchOpts) => run(storage, withFields(o));
      const w = indexed ? 'indexed' : 'scan';
      deepEqual(await s({ query: 'gardenin', prefix: false }), [], `${w}: no fuzzy, no match`);
      deepEqual(keysOf(await s({ query: 'gardenin', prefix: false, fuzzy: true })), ['docs.7'], `${w}: deletion`);
      deepEqual(keysOf(await s({ query: 'gardenning', prefix: false, fuzzy: true })), ['docs.7'], `${w}: insertion`);
      deepEqual(keysOf(await s({ query: 'tomatoez', prefix: false, fuzzy: true })), ['docs.7'], `${w}: substitution`);
      deepEqual(keysOf(await s({ query: 'tomatose', prefix: false, fuzzy: true })), ['docs.7'], `${w}: transposition`);
      deepEqual(await s({ query: 'tomtaoes', prefix: false, fuzzy: true }).then((h) => h.length), 1, `${w}: transposition inside`);
      deepEqual(await s({ query: 'tmatoez', prefix: false, fuzzy: true }), [], `${w}: two edits do not match`);
      deepEqual(await s({ query: 'sin', prefix: false, fuzzy: true }), [], `${w}: "sin" (3 code points) does not match "sun"`);
      const typo = await s({ query: 'datbase', prefix: false, fuzzy: true });
      deepEqual(keysOf(typo).sort(), ['docs.1', 'docs.5', 'docs.9'], `${w}: datbase → database, databse`);
      matchesReference(typo, reference(CORPUS, FIELDS, withFields({ query: 'datbase', prefix: false, fuzzy: true })), `${w}: datbase`);
      // An exact match weighs 1, a fuzzy one 0.5; per query term the best match counts.
      const exact = await s({ query: 'database', prefix: false, fuzzy: true });
      const exactNoFuzzy = await s({ query: 'database', prefix: false });
      deepEqual(keysOf(exact).sort(), keysOf(exactNoFuzzy).sort(), `${w}: databse / databases are in the same records`);
      for (const h of exactNoFuzzy) ok(exact.find((x) => x.key === h.key)!.score >= h.score, `${w}: fuzzy never lowers a score`);
      matchesReference(exact, reference(CORPUS, FIELDS, withFields({ query: 'database', prefix: false, fuzzy: true })), `${w}: database fuzzy`);
    }
  }));

  test('search: case and diacritics are folded (Crème finds creme)', withStore(async ({ storage }) => {
    await seed(storage);
    for (const indexed of [false, true]) {
      if (indexed) await storage.createSearchIndex('docs', { fields: FIELDS });
      const s = (o: SearchOpts) => run(storage, withFields(o));
      const w = indexed ? 'indexed' : 'scan';
      const creme = await s({ query: 'creme', prefix: false });
      deepEqual(keysOf(creme).sort(), ['docs.3', 'docs.4'], `${w}: creme finds "creme" (docs.3) and "Crème" (docs.4)`);
      for (const q of ['Crème', 'CRÈME', 'crème', 'CREME', 'Cre\u0300me']) sameHits(await s({ query: q, prefix: false }), creme, `${w}: ${q}`);
      const brulee = await s({ query: 'BRÛLÉE', prefix: false });
      deepEqual(keysOf(brulee).sort(), ['docs.3', 'docs.4'], `${w}: brûlée`);
      sameHits(await s({ query: 'brulee', prefix: false }), brulee, `${w}: brulee`);
      deepEqual(keysOf(await s({ query: 'CRÈ' })).sort(), ['docs.3', 'docs.4'], `${w}: a folded prefix`);
      matchesReference(creme, reference(CORPUS, FIELDS, withFields({ query: 'creme', prefix: false })), `${w}: creme`);
    }
  }));

  test('search: a field boost changes the order; an index\'s default boost applies', withStore(async ({ storage }) => {
    await seed(storage);
    // "order": once in the 3-term title of docs.10, once in the 12-term content of docs.1.
    const titleFirst = await run(storage, { query: 'order', prefix: false, fields: FIELDS, boost: { title: 5 } });
    const contentFirst = await run(storage, { query: 'order', prefix: false, fields: FIELDS, boost: { content: 5 } });
    deepEqual(keysOf(titleFirst), ['docs.10', 'docs.1']);
    deepEqual(keysOf(contentFirst), ['docs.1', 'docs.10']);
    const plain = await run(storage, { query: 'order', prefix: false, fields: FIELDS });
    ok(Math.abs(titleFirst[0]!.score - 5 * plain.find((h) => h.key === 'docs.10')!.score) < 1e-9, 'a boost multiplies the field part');
    const boosted3 = await run(storage, { query: 'learning databases', fields: FIELDS, boost: { title: 3 } });
    const both = await run(storage, { query: 'order', prefix: false, fields: FIELDS, boost: { title: 3, content: 5 } });
    matchesReference(boosted3, reference(CORPUS, FIELDS, { query: 'learning databases', fields: FIELDS, boost: { title: 3 } }), 'boost title 3');

    await storage.createSearchIndex('docs', { fields: FIELDS, boost: { title: 3 } });
    const info = (await storage.listIndexes('docs'))[0]!;
    deepEqual(info.boosts, { title: 3 });
    sameHits(await run(storage, { query: 'learning databases' }), boosted3, 'the index\'s default boost');
    sameHits(await run(storage, { query: 'order', prefix: false, boost: { content: 5 } }), both, 'a search boost overrides the default per field (title stays 3)');
    sameHits(await run(storage, { query: 'order', prefix: false, boost: { title: 5 } }), titleFirst, 'a search boost replaces the default of its field');
    matchesReference(await run(storage, { query: 'order', prefix: false }), reference(CORPUS, FIELDS, { query: 'order', prefix: false }, { title: 3 }), 'default boost against the reference');
  }));

  test('search: the index stays correct through update, delete, clear and TTL expiry', async () => {
    const a = await target.open({ sweepInterval: 50 }); // with the index
    let fa: Fixture = a;
    const b = await target.open({ sweepInterval: 50 }); // the same writes, no index (scan)
    try {
      await seed(a.storage);
      await seed(b.storage);
      await a.storage.createSearchIndex('docs', { fields: FIELDS });
      const both = async (fn: (s: Fixture['storage']) => Promise<unknown>) => { await fn(fa.storage); await fn(b.storage); };
      const compare = async (step: string) => {
        const rows = await liveRows(b.storage);
        for (const o of QUERIES) {
          const got = await run(fa.storage, withFields(o));
          sameHits(got, await run(b.storage, withFields(o)), `${step}: ${label(o)} indexed vs scan`);
          matchesReference(got, reference(rows, FIELDS, withFields(o)), `${step}: ${label(o)} against the reference`);
        }
      };
      await compare('initial');

      await both((s) => s.set('docs.7', { title: 'Gardening', content: 'Tomatoes need a database of sun and water.' }));
      ok(keysOf(await run(fa.storage, { query: 'database', prefix: false })).includes('docs.7'), 'an updated record is found by its new text');
      deepEqual(await run(fa.storage, { query: 'patience', prefix: false }).then((h) => keysOf(h)), ['docs.3'], 'and no longer by its old text');
      await compare('after set');

      await both((s) => s.collection('docs').update('2', { title: 'Search engines', 'extra.note': 'database' }));
      await compare('after a document update');

      await both((s) => s.delete('docs.1'));
      ok(!keysOf(await run(fa.storage, { query: 'database' })).includes('docs.1'), 'a deleted record is gone');
      await compare('after delete');

      await both((s) => s.batchSet([{ key: 'docs.20', value: { title: 'Database news', content: 'More data about databases' } }, { key: 'docs.9', value: { title: 'Fixed', content: 'no typos any more' } }]));
      await compare('after batchSet');

      await both((s) => s.set('docs.30', { title: 'Ephemeral database', content: 'This database note expires' }, { ttl: 1 }));
      ok(keysOf(await run(fa.storage, { query: 'ephemeral' })).includes('docs.30'), 'a record with a ttl is found while live');
      await compare('with a ttl record');
      await sleep(1200);
      for (const o of [{ query: 'ephemeral' }, { query: 'database' }, { query: 'note expires' }]) {
        ok(!keysOf(await run(fa.storage, o)).includes('docs.30'), `an expired record is not a result (${o.query})`);
      }
      await sleep(200); // the sweep (every 50 ms) has removed it, with its postings and statistics
      await compare('after ttl expiry');

      await both((s) => s.clear('docs.1*'));
      await compare('after clear("docs.1*")');
      await both((s) => s.clear());
      deepEqual(await run(fa.storage, { query: 'database' }), [], 'nothing after clear()');
      deepEqual((await fa.storage.listIndexes('docs')).map((i) => i.name), ['search'], 'clear() keeps the index definition');
      await both((s) => seed(s, CORPUS.slice(2, 7)));
      await compare('after clear() and new records');

      if (fa.reopen) {
        fa = await fa.reopen();
        await compare('after reopening');
      }
    } finally {
      await fa.cleanup();
      await b.cleanup();
    }
  });

  test('search: bad options are StorageValidationError and change nothing', withStore(async ({ storage }) => {
    await seed(storage);
    const thirtyThree = Array.from({ length: 33 }, (_, i) => `f${i}`);
    const bad: [string, unknown][] = [
      ['no options', undefined],
      ['null', null],
      ['a string', 'database'],
      ['an array', []],
      ['no query', { fields: FIELDS }],
      ['query a number', { query: 5, fields: FIELDS }],
      ['empty query', { query: '', fields: FIELDS }],
      ['blank query', { query: '   ', fields: FIELDS }],
      ['query without terms', { query: '!!! ... ???', fields: FIELDS }],
      ['query too long', { query: 'a '.repeat(501), fields: FIELDS }],
      ['unknown option', { query: 'data', fields: FIELDS, foo: 1 }],
      ['filter is not a search option', { query: 'data', fields: FIELDS, filter: {} }],
      ['fields empty', { query: 'data', fields: [] }],
      ['fields a string', { query: 'data', fields: 'title' }],
      ['fields with an empty path', { query: 'data', fields: [''] }],
      ['fields with an empty segment', { query: 'data', fields: ['a..b'] }],
      ['fields __proto__', { query: 'data', fields: ['__proto__'] }],
      ['fields constructor.prototype', { query: 'data', fields: ['constructor.prototype'] }],
      ['fields $key', { query: 'data', fields: ['$key'] }],
      ['fields $meta.tags', { query: 'data', fields: ['$meta.tags'] }],
      ['fields twice', { query: 'data', fields: ['title', 'title'] }],
      ['33 fields', { query: 'data', fields: thirtyThree }],
      ['fields with a number', { query: 'data', fields: [5] }],
      ['limit 0', { query: 'data', fields: FIELDS, limit: 0 }],
      ['limit -1', { query: 'data', fields: FIELDS, limit: -1 }],
      ['limit 1.5', { query: 'data', fields: FIELDS, limit: 1.5 }],
      ['limit 10001', { query: 'data', fields: FIELDS, limit: 10001 }],
      ['limit a string', { query: 'data', fields: FIELDS, limit: '5' }],
      ['limit NaN', { query: 'data', fields: FIELDS, limit: NaN }],
      ['offset -1', { query: 'data', fields: FIELDS, offset: -1 }],
      ['offset 0.5', { query: 'data', fields: FIELDS, offset: 0.5 }],
      ['offset Infinity', { query: 'data', fields: FIELDS, offset: Infinity }],
      ['prefix a string', { query: 'data', fields: FIELDS, prefix: 'yes' }],
      ['fuzzy a number', { query: 'data', fields: FIELDS, fuzzy: 1 }],
      ['combine xor', { query: 'data', fields: FIELDS, combine: 'xor' }],
      ['combine AND', { query: 'data', fields: FIELDS, combine: 'AND' }],
      ['boost 0', { query: 'data', fields: FIELDS, boost: { title: 0 } }],
      ['boost negative', { query: 'data', fields: FIELDS, boost: { title: -1 } }],
      ['boost Infinity', { query: 'data', fields: FIELDS, boost: { title: Infinity } }],
      ['boost NaN', { query: 'data', fields: FIELDS, boost: { title: NaN } }],
      ['boost a string', { query: 'data', fields: FIELDS, boost: { title: '2' } }],
      ['boost an array', { query: 'data', fields: FIELDS, boost: [] }],
      ['boost null', { query: 'data', fields: FIELDS, boost: null }],
      ['boost of a field not searched', { query: 'data', fields: FIELDS, boost: { nope: 2 } }],
      ['boost of a field outside fields', { query: 'data', fields: ['title'], boost: { content: 2 } }],
      ['unknown backend', { query: 'data', fields: FIELDS, backend: 'nope' }],
    ];
    const attempt = async (what: string) => {
      for (const [l, o] of bad) await rejectsUnchanged(storage, () => storage.search('docs.*', o as never), 'STORAGE_VALIDATION', `${what}: ${l}`);
      await rejectsUnchanged(storage, () => storage.search('', { query: 'data', fields: FIELDS }), 'STORAGE_VALIDATION', `${what}: empty pattern`);
      await rejectsUnchanged(storage, () => storage.search(5 as never, { query: 'data', fields: FIELDS }), 'STORAGE_VALIDATION', `${what}: pattern a number`);
      await rejectsUnchanged(storage, () => storage.search('docs.***', { query: 'data', fields: FIELDS }), 'STORAGE_VALIDATION', `${what}: bad pattern`);
    };
    await attempt('scan');
    await rejectsUnchanged(storage, () => storage.search('docs.*', { query: 'data' }), 'STORAGE_VALIDATION', 'no index and no fields');
    await storage.createSearchIndex('docs', { fields: FIELDS });
    await attempt('indexed');
    await rejectsUnchanged(storage, () => storage.search('docs.*', { query: 'data', boost: { nope: 2 } }), 'STORAGE_VALIDATION', 'indexed: boost of a field not indexed');
    ok((await run(storage, { query: 'data' })).length > 0, 'the store still searches');
  }));

  test('search: bad createSearchIndex calls are StorageValidationError and change nothing', withStore(async ({ storage }) => {
    await seed(storage);
    const bad: [string, unknown, unknown][] = [
      ['empty collection', '', { fields: FIELDS }],
      ['wildcard collection', 'docs*', { fields: FIELDS }],
      ['collection with an escape', 'do\\cs', { fields: FIELDS }],
      ['collection with an empty segment', 'a..b', { fields: FIELDS }],
      ['collection a number', 5, { fields: FIELDS }],
      ['no options', 'docs', undefined],
      ['null options', 'docs', null],
      ['array options', 'docs', []],
      ['no fields', 'docs', {}],
      ['fields empty', 'docs', { fields: [] }],
      ['fields a string', 'docs', { fields: 'title' }],
      ['fields $key', 'docs', { fields: ['$key'] }],
      ['fields $meta.updatedAt', 'docs', { fields: ['$meta.updatedAt'] }],
      ['fields with an empty segment', 'docs', { fields: ['a..b'] }],
      ['fields __proto__', 'docs', { fields: ['title', '__proto__'] }],
      ['fields twice', 'docs', { fields: ['title', 'title'] }],
      ['unknown option', 'docs', { fields: FIELDS, foo: 1 }],
      ['unique is not a search index option', 'docs', { fields: FIELDS, unique: true }],
      ['boost 0', 'docs', { fields: FIELDS, boost: { title: 0 } }],
      ['boost of another field', 'docs', { fields: FIELDS, boost: { body: 2 } }],
      ['boost a number', 'docs', { fields: FIELDS, boost: 2 }],
      ['signal not an AbortSignal', 'docs', { fields: FIELDS, signal: 'stop' }],
    ];
    for (const [l, c, o] of bad) {
      await rejectsUnchanged(storage, () => storage.createSearchIndex(c as string, o as never), 'STORAGE_VALIDATION', l);
      deepEqual(await storage.listIndexes(), [], `${l}: no index was created`);
    }
    await storage.createSearchIndex('docs', { fields: FIELDS });
    const listed = await storage.listIndexes();
    await rejectsUnchanged(storage, () => storage.createSearchIndex('docs', { fields: ['title'] }), 'STORAGE_VALIDATION', 'a second, different search index');
    await rejectsUnchanged(storage, () => storage.createSearchIndex('docs', { fields: FIELDS, boost: { title: 2 } }), 'STORAGE_VALIDATION', 'the same fields with another boost');
    deepEqual(await storage.listIndexes(), listed, 'the index is unchanged');
    deepEqual(await storage.createSearchIndex('docs', { fields: FIELDS }), listed[0], 'creating the same index again is a no-op');
  }));
}
