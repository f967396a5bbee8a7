/**
 * Full-text core tests: tokenizer, one-edit test, postings layout, BM25F ranking (hand-computed
 * expectations), indexed vs scan equivalence on random corpora, option validation.
 * Run: `node --import tsx --test test/node/search-core.test.ts`
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { StorageValidationError } from '../../src/core/errors';
import {
  checkSearchIndexOptions, checkSearchOptions, searchEntries, searchIndexed, searchScan, STATS_KEY,
} from '../../src/core/search/search';
import type { SearchIndexDef, SearchIO, SearchQuery } from '../../src/core/search/search';
import { regexTokens, segmenterTokens, textOf, tokenize, withinOneEdit } from '../../src/core/search/text';

// ------------------------------------------------------------------ helpers

/** The in-memory SearchIO of the brief: sorted keys + binary search; async when asked. */
function memoryIO(map: Map<string, unknown>, async = false): SearchIO {
  const keys = [...map.keys()].sort();
  const lower = (k: string): number => {
    let lo = 0, hi = keys.length;
    while (lo < hi) { const mid = (lo + hi) >>> 1; if (keys[mid]! < k) lo = mid + 1; else hi = mid; }
    return lo;
  };
  const wrap = <T>(v: T): T | Promise<T> => (async ? Promise.resolve(v) : v);
  return {
    range(gte, lt) {
      const out: [string, unknown][] = [];
      for (let i = lower(gte); i < keys.length && keys[i]! < lt; i++) out.push([keys[i]!, map.get(keys[i]!)]);
      return wrap(out);
    },
    keys(gte, lt) {
      const out: string[] = [];
      for (let i = lower(gte); i < keys.length && keys[i]! < lt; i++) out.push(keys[i]!);
      return wrap(out);
    },
    get: (k) => wrap(map.get(k)),
  };
}

type Rec = { key: string; value: unknown };

/** What the caller keeps for an index: every record's entries, and the summed statistics. */
function buildIndex(def: SearchIndexDef, recs: readonly Rec[]): Map<string, unknown> {
  const map = new Map<string, unknown>();
  const stats = new Array<number>(def.fields.length + 1).fill(0);
  for (const r of recs) {
    const { entries, stats: s } = searchEntries(def, r.key, r.value);
    for (const [k, v] of entries) map.set(k, v);
    s.forEach((x, i) => { stats[i]! += x; });
  }
  if (recs.length > 0) map.set(STATS_KEY, stats);
  return map;
}

const q = (o: Record<string, unknown>): SearchQuery => checkSearchOptions(o);
const all = (): boolean => true;

/** BM25 written out from the formula, independently of the implementation. */
const K1 = 1.2, B = 0.75;
const idf = (n: number, df: number): number => Math.log(1 + (n - df + 0.5) / (df + 0.5));
const tfPart = (tf: number, len: number, avg: number): number => (tf * (K1 + 1)) / (tf + K1 * (1 - B + B * len / avg));

function assertRanking(actual: { key: string; score: number }[], expected: [string, number][]): void {
  const sorted = [...expected].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  assert.deepEqual(actual.map((r) => r.key), sorted.map((e) => e[0]), 'order');
  actual.forEach((r, i) => assert.ok(Math.abs(r.score - sorted[i]![1]) < 1e-12, `${r.key}: ${r.score} vs ${sorted[i]![1]}`));
}

function assertInvalid(fn: () => unknown, what: string): void {
  assert.throws(fn, (err: unknown) => err instanceof StorageValidationError && (err as StorageValidationError).code === 'STORAGE_VALIDATION', what);
}

// ------------------------------------------------------------------ tokenizer

test('tokenize: diacritics and case fold, numbers kept, punctuation splits', () => {
  assert.deepEqual(tokenize('Crème Brûlée'), ['creme', 'brulee']);
  assert.deepEqual(tokenize('HELLO World mIxEd'), ['hello', 'world', 'mixed']);
  assert.deepEqual(tokenize('Tiếng Việt, Ελληνικά; Ёлка'), ['tieng', 'viet', 'ελληνικα', 'елка']);
  assert.deepEqual(tokenize('İstanbul ﬁne Ⅻ'), ['istanbul', 'fine', 'xii']);
  assert.deepEqual(tokenize('version 2 of 10,000 items at 3.14'), ['version', '2', 'of', '10', '000', 'items', 'at', '3', '14']);
  assert.deepEqual(tokenize("don't foo_bar e-mail"), ['don', 't', 'foo', 'bar', 'e', 'mail']);
  assert.deepEqual(tokenize(''), []);
  assert.deepEqual(tokenize('  ...  --- '), []);
});

test('tokenize: emoji dropped', () => {
  assert.deepEqual(tokenize('I ❤️ 🍕 pizza 👍🏽 👨‍👩‍👧'), ['i', 'pizza']);
  assert.deepEqual(tokenize('😀😀😀'), []);
});

test('tokenize: CJK and Thai split by the Segmenter, scripts keep their meaningful marks', { skip: typeof Intl.Segmenter !== 'function' }, () => {
  for (const text of ['東京タワーに行きました', '我爱北京天安门', 'ภาษาไทยง่ายนิดเดียว']) {
    const terms = tokenize(text);
    assert.ok(terms.length > 1, `${text} gives several terms: ${terms.join('|')}`);
    assert.equal(terms.join(''), text, 'nothing lost or changed');
    assert.equal(regexTokens(text).length, 1, 'the regex alone cannot split it');
  }
  assert.deepEqual(tokenize('काम कम'), ['काम', 'कम'], 'Devanagari vowel signs kept: different words');
  assert.notDeepEqual(tokenize('バカ'), tokenize('ハカ'), 'dakuten kept');
  assert.deepEqual(tokenize('مُحَمَّد'), tokenize('محمد'), 'Arabic vowel points folded away');
});

test('tokenize: terms are capped at 64 code points', () => {
  assert.deepEqual(tokenize('a'.repeat(100)), ['a'.repeat(64)]);
  const gothic = '\u{10330}';
  assert.deepEqual(tokenize(gothic.repeat(70)), [gothic.repeat(64)]);
  assert.ok(tokenize(gothic.repeat(70))[0]!.isWellFormed());
});

test('tokenize: fast paths equal the Segmenter path, and the regex fallback on text without such scripts (fast-check)', () => {
  const asciiArb = fc.oneof(fc.string({ unit: 'binary-ascii', maxLength: 80 }), fc.stringMatching(/^[a-zA-Z0-9 .]{60,140}$/));
  fc.assert(fc.property(asciiArb, (s) => {
    assert.deepEqual(tokenize(s), segmenterTokens(s));
    assert.deepEqual(regexTokens(s), segmenterTokens(s));
  }), { numRuns: 500 });
  // Latin-1, Latin Extended, IPA, Greek, Cyrillic, combining diacritics, the exceptions ¹²³¼½¾, separators.
  const chars = fc.oneof(
    fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0xa0, max: 0x24f }), fc.integer({ min: 0x250, max: 0x36f }),
    fc.integer({ min: 0x370, max: 0x52f }), fc.constantFrom(0xb2, 0xb3, 0xb9, 0xbc, 0xbd, 0xbe, 0x20, 0x2e, 0x27, 0x5f, 0xad, 0xb7),
  ).map((c) => String.fromCodePoint(c));
  fc.assert(fc.property(fc.array(chars, { maxLength: 40 }).map((a) => a.join('')), (s) => {
    assert.deepEqual(tokenize(s), segmenterTokens(s), JSON.stringify(s));
  }), { numRuns: 2000 });
  // Any text: terms are non-empty, well-formed, never hold \u0000, at most 64 code points.
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (s) => {
    for (const t of tokenize(s)) {
      assert.ok(t.length > 0 && t.isWellFormed() && !t.includes('\u0000') && [...t].length <= 64);
      assert.deepEqual(tokenize(t), [t], 'a term tokenizes to itself');
    }
  }), { numRuns: 1000 });
});

// ------------------------------------------------------------------ textOf

test('textOf: strings, numbers, booleans, arrays of them; objects ignored; paths through arrays', () => {
  const v = {
    title: 'Hello', n: 42, b: true, big: 7n, tags: ['a', 1, false, { x: 'no' }, null], obj: { deep: 'yes' },
    items: [{ p: 'one' }, { p: ['two', 'three'] }, 'skip'], nul: null,
  };
  assert.equal(textOf(v, ['title']), 'Hello');
  assert.equal(textOf(v, ['n']), '42');
  assert.equal(textOf(v, ['b']), 'true');
  assert.equal(textOf(v, ['big']), '7');
  assert.equal(textOf(v, ['tags']), 'a 1 false');
  assert.equal(textOf(v, ['obj']), '');
  assert.equal(textOf(v, ['obj', 'deep']), 'yes');
  assert.equal(textOf(v, ['items', 'p']), 'one two three');
  assert.equal(textOf(v, ['items', '1', 'p']), 'two three');
  assert.equal(textOf(v, ['missing']), '');
  assert.equal(textOf(v, ['nul']), '');
  assert.equal(textOf(v, ['toString']), '', 'own properties only');
  assert.equal(textOf('plain string', ['title']), '');
  assert.equal(textOf(null, ['title']), '');
});

// ------------------------------------------------------------------ withinOneEdit

/** Optimal string alignment distance over code points (naive DP). */
function osa(a: string, b: string): number {
  const x = [...a], y = [...b];
  const d = Array.from({ length: x.length + 1 }, (_, i) => Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[x.length]![y.length]!;
}

test('withinOneEdit agrees with a naive Damerau distance ≤ 1, by code point (fast-check)', () => {
  assert.ok(withinOneEdit('cherry', 'chery'));
  assert.ok(withinOneEdit('banana', 'bnaana'));
  assert.ok(withinOneEdit('apple', 'apple'));
  assert.ok(!withinOneEdit('abcd', 'badc'));
  assert.ok(withinOneEdit('a\u{1F600}b', 'ab'), 'an astral code point is one edit');
  assert.ok(withinOneEdit('\u{1F600}\u{1F601}', '\u{1F601}\u{1F600}'));
  const word = fc.array(fc.constantFrom('a', 'b', 'c', 'é', '\u{1F600}', '\u{1D4B3}'), { maxLength: 7 }).map((a) => a.join(''));
  const pair = fc.oneof(
    fc.tuple(word, word),
    // near pairs: apply one or two random edits
    fc.tuple(word, fc.array(fc.tuple(fc.nat(8), fc.constantFrom('a', 'b', '\u{1F600}'), fc.nat(3)), { minLength: 1, maxLength: 2 })).map(([w, edits]) => {
      let cps = [...w];
      for (const [pos, ch, kind] of edits) {
        const i = cps.length === 0 ? 0 : pos % (cps.length + 1);
        if (kind === 0) cps.splice(i, 0, ch);
        else if (kind === 1) cps.splice(i, 1);
        else if (kind === 2) cps[i] = ch;
        else if (i + 1 < cps.length) [cps[i], cps[i + 1]] = [cps[i + 1]!, cps[i]!];
        cps = cps.filter((c) => c !== undefined);
      }
      return [w, cps.join('')] as [string, string];
    }),
  );
  fc.assert(fc.property(pair, ([a, b]) => {
    assert.equal(withinOneEdit(a, b), osa(a, b) <= 1, `${a} / ${b}`);
    assert.equal(withinOneEdit(b, a), withinOneEdit(a, b));
  }), { numRuns: 5000 });
});

// ------------------------------------------------------------------ postings layout

test('searchEntries: posting per term per record, dictionary markers, statistics', () => {
  const def: SearchIndexDef = { name: 'ix', collection: 'docs', fields: ['title', 'body'] };
  const { entries, stats } = searchEntries(def, 'docs.1', { title: 'Hello world', body: 'hello again, HELLO' });
  assert.deepEqual(stats, [1, 2, 3]);
  assert.deepEqual(Object.fromEntries(entries), {
    'phello\u0000docs.1': [1, 2, 2, 3], // tf 1 in a 2-term title, tf 2 in a 3-term body
    'pworld\u0000docs.1': [1, 2], // title only: trailing body slot dropped
    'pagain\u0000docs.1': [0, 1, 3], // body only
    dhello: 0, dworld: 0, dagain: 0,
  });
  for (const value of [{}, { title: { nested: 'x' } }, 'a string record', 42, null, [1, 2]]) {
    const r = searchEntries(def, 'docs.2', value);
    assert.equal(r.entries.size, 0);
    assert.deepEqual(r.stats, [1, 0, 0]);
  }
});

// ------------------------------------------------------------------ ranking, hand-computed

const fruit: Rec[] = [
  { key: 'f.1', value: { text: 'apple banana' } },
  { key: 'f.2', value: { text: 'apple apple cherry' } },
  { key: 'f.3', value: { text: 'banana cherry cherry date' } },
  { key: 'f.4', value: { text: 'date' } },
  { key: 'f.5', value: { text: 'application of cherries' } },
];
const fruitDef: SearchIndexDef = { name: 'fruit', collection: 'f', fields: ['text'] };
const fruitIO = memoryIO(buildIndex(fruitDef, fruit));
// N = 5, lengths 2, 3, 4, 1, 3: avg 13/5.
const N = 5, AVG = 13 / 5;

test('BM25: exact terms ranked as the formula says, or and and', async () => {
  const apple = idf(N, 2);
  assertRanking(await searchIndexed(fruitIO, fruitDef, q({ query: 'apple', prefix: false }), all), [
    ['f.1', apple * tfPart(1, 2, AVG)],
    ['f.2', apple * tfPart(2, 3, AVG)],
  ]);
  const cherry = idf(N, 2), date = idf(N, 2);
  assertRanking(await searchIndexed(fruitIO, fruitDef, q({ query: 'cherry date', prefix: false }), all), [
    ['f.2', cherry * tfPart(1, 3, AVG)],
    ['f.3', cherry * tfPart(2, 4, AVG) + date * tfPart(1, 4, AVG)],
    ['f.4', date * tfPart(1, 1, AVG)],
  ]);
  assertRanking(await searchIndexed(fruitIO, fruitDef, q({ query: 'cherry date', prefix: false, combine: 'and' }), all), [
    ['f.3', cherry * tfPart(2, 4, AVG) + date * tfPart(1, 4, AVG)],
  ]);
  assertRanking(await searchIndexed(fruitIO, fruitDef, q({ query: 'apple cherry', prefix: false, combine: 'and' }), all), [
    ['f.2', apple * tfPart(2, 3, AVG) + cherry * tfPart(1, 3, AVG)],
  ]);
  assert.deepEqual(await searchIndexed(fruitIO, fruitDef, q({ query: 'apple kiwi', prefix: false, combine: 'and' }), all), []);
  assert.deepEqual(await searchIndexed(fruitIO, fruitDef, q({ query: 'kiwi' }), all), []);
});

test('BM25: prefix expands only the last term, at weight 0.5, best expansion per record', async () => {
  assert.deepEqual(await searchIndexed(fruitIO, fruitDef, q({ query: 'app', prefix: false }), all), []);
  // 'app' → apple (df 2) and application (df 1), both at 0.5.
  const apple = idf(N, 2), application = idf(N, 1);
  assertRanking(await searchIndexed(fruitIO, fruitDef, q({ query: 'app' }), all), [
    ['f.1', 0.5 * apple * tfPart(1, 2, AVG)],
    ['f.2', 0.5 * apple * tfPart(2, 3, AVG)],
    ['f.5', 0.5 * application * tfPart(1, 3, AVG)],
  ]);
  // Not the last term: exact only. 'app' matches nothing, 'dat' → date.
  const date = idf(N, 2);
  assertRanking(await searchIndexed(fruitIO, fruitDef, q({ query: 'app dat' }), all), [
    ['f.3', 0.5 * date * tfPart(1, 4, AVG)],
    ['f.4', 0.5 * date * tfPart(1, 1, AVG)],
  ]);
  // f.3 matches 'cherr' by cherry; f.5 by cherries; f.2 by cherry. Exact term outranks its prefix weight.
  const cherry = idf(N, 2), cherries = idf(N, 1);
  assertRanking(await searchIndexed(fruitIO, fruitDef, q({ query: 'cherr' }), all), [
    ['f.2', 0.5 * cherry * tfPart(1, 3, AVG)],
    ['f.3', 0.5 * cherry * tfPart(2, 4, AVG)],
    ['f.5', 0.5 * cherries * tfPart(1, 3, AVG)],
  ]);
  assertRanking(await searchIndexed(fruitIO, fruitDef, q({ query: 'cherri' }), all), [
    ['f.5', 0.5 * cherries * tfPart(1, 3, AVG)],
  ]);
});

test('BM25: a record matched by several expansions of one term gets the best, not the sum', async () => {
  const recs: Rec[] = [
    { key: 'x.1', value: { t: 'cherry cherries' } },
    { key: 'x.2', value: { t: 'cherry pie' } },
    { key: 'x.3', value: { t: 'plum' } },
  ];
  const def: SearchIndexDef = { name: 'x', collection: 'x', fields: ['t'] };
  const io = memoryIO(buildIndex(def, recs));
  const avg = 5 / 3, n = 3;
  const x1 = Math.max(0.5 * idf(n, 2) * tfPart(1, 2, avg), 0.5 * idf(n, 1) * tfPart(1, 2, avg));
  assertRanking(await searchIndexed(io, def, q({ query: 'cher' }), all), [
    ['x.1', x1],
    ['x.2', 0.5 * idf(n, 2) * tfPart(1, 2, avg)],
  ]);
});

test('BM25: fuzzy matches one edit away at weight 0.5, only for query terms of 4+ code points', async () => {
  const apple = idf(N, 2), banana = idf(N, 2), date = idf(N, 2);
  assertRanking(await searchIndexed(fruitIO, fruitDef, q({ query: 'aple', prefix: false, fuzzy: true }), all), [
    ['f.1', 0.5 * apple * tfPart(1, 2, AVG)],
    ['f.2', 0.5 * apple * tfPart(2, 3, AVG)],
  ]);
  assertRanking(await searchIndexed(fruitIO, fruitDef, q({ query: 'bnaana', prefix: false, fuzzy: true }), all), [
    ['f.1', 0.5 * banana * tfPart(1, 2, AVG)],
    ['f.3', 0.5 * banana * tfPart(1, 4, AVG)],
  ]);
  assert.deepEqual(await searchIndexed(fruitIO, fruitDef, q({ query: 'dte', prefix: false, fuzzy: true }), all), [], 'too short for fuzzy');
  assert.deepEqual(await searchIndexed(fruitIO, fruitDef, q({ query: 'aple', prefix: false }), all), [], 'fuzzy off by default');
  // Fuzzy on a term that is not last, prefix on the last: 'datte' → date (deletion), 'appl' → apple, application.
  const application = idf(N, 1);
  assertRanking(await searchIndexed(fruitIO, fruitDef, q({ query: 'datte appl', fuzzy: true }), all), [
    ['f.1', 0.5 * apple * tfPart(1, 2, AVG)],
    ['f.2', 0.5 * apple * tfPart(2, 3, AVG)],
    ['f.3', 0.5 * date * tfPart(1, 4, AVG)],
    ['f.4', 0.5 * date * tfPart(1, 1, AVG)],
    ['f.5', 0.5 * application * tfPart(1, 3, AVG)],
  ]);
});

test('BM25F: field boosts change the order; fields restrict the search', async () => {
  const recs: Rec[] = [
    { key: 'd.a', value: { title: 'solar power', body: 'a short note about energy' } },
    { key: 'd.b', value: { title: 'weekly notes', body: 'solar solar solar panels and more' } },
    { key: 'd.c', value: { title: 'nothing here', body: 'unrelated words only' } },
  ];
  const def: SearchIndexDef = { name: 'd', collection: 'd', fields: ['title', 'body'] };
  const io = memoryIO(buildIndex(def, recs));
  const n = 3, avgT = 6 / 3, avgB = 14 / 3, solar = idf(n, 2);
  const a = (bt: number, bb: number): [string, number][] => [
    ['d.a', solar * (bt * tfPart(1, 2, avgT))],
    ['d.b', solar * (bb * tfPart(3, 6, avgB))],
  ];
  const plain = await searchIndexed(io, def, q({ query: 'solar', prefix: false }), all);
  assertRanking(plain, a(1, 1));
  assert.equal(plain[0]!.key, 'd.b');
  const boosted = await searchIndexed(io, def, q({ query: 'solar', prefix: false, boost: { title: 3 } }), all);
  assertRanking(boosted, a(3, 1));
  assert.equal(boosted[0]!.key, 'd.a');
  // Index-level default boost, overridden by the search's own.
  const defBoost: SearchIndexDef = { ...def, boosts: { title: 3 } };
  assert.equal((await searchIndexed(io, defBoost, q({ query: 'solar', prefix: false }), all))[0]!.key, 'd.a');
  assert.equal((await searchIndexed(io, defBoost, q({ query: 'solar', prefix: false, boost: { title: 0.5 } }), all))[0]!.key, 'd.b');
  // Only the title: d.b's body does not count (and df still counts both records).
  assertRanking(await searchIndexed(io, def, q({ query: 'solar', prefix: false, fields: ['title'] }), all), [['d.a', solar * tfPart(1, 2, avgT)]]);
  // searchScan gives the same.
  assert.deepEqual(searchScan(recs, def.fields, q({ query: 'solar', prefix: false, boost: { title: 3 } })), boosted);
});

test('ties by key ascending; paging by offset/limit; accept filters without changing statistics', async () => {
  const recs: Rec[] = ['k.3', 'k.1', 'k.2', 'k.10'].map((key) => ({ key, value: { t: 'same words' } }));
  recs.push({ key: 'k.0', value: { t: 'other' } });
  const def: SearchIndexDef = { name: 'k', collection: 'k', fields: ['t'] };
  const io = memoryIO(buildIndex(def, recs));
  const res = await searchIndexed(io, def, q({ query: 'same' }), all);
  assert.deepEqual(res.map((r) => r.key), ['k.1', 'k.10', 'k.2', 'k.3']);
  assert.deepEqual((await searchIndexed(io, def, q({ query: 'same', offset: 1, limit: 2 }), all)).map((r) => r.key), ['k.10', 'k.2']);
  assert.deepEqual(await searchIndexed(io, def, q({ query: 'same', offset: 4 }), all), []);
  const some = await searchIndexed(io, def, q({ query: 'same' }), (k) => k !== 'k.10');
  assert.deepEqual(some, res.filter((r) => r.key !== 'k.10'));
});

// ------------------------------------------------------------------ indexed ≡ scan

const vocab = ['alpha', 'alpine', 'alps', 'beta', 'better', 'bet', 'gamma', 'gammas', 'delta', 'crème', 'creme', 'zeta', 'ζήτα', '東京', 'x1', '42'];
const textArb = fc.array(fc.constantFrom(...vocab), { maxLength: 8 }).map((w) => w.join(' '));
const valueArb = fc.record({
  title: fc.oneof(textArb, fc.constant(undefined), fc.integer({ min: 0, max: 50 })),
  body: fc.oneof(textArb, fc.array(textArb, { maxLength: 3 }), fc.constant(undefined)),
  meta: fc.oneof(fc.record({ note: textArb }), fc.constant(undefined)),
}, { requiredKeys: [] });
const corpusArb = fc.uniqueArray(fc.record({ key: fc.string({ minLength: 1, maxLength: 4 }).map((s) => `c.${s}`), value: valueArb }), { selector: (r) => r.key, minLength: 1, maxLength: 25 });
const fieldsAll = ['title', 'body', 'meta.note'];
const queryArb = fc.record({
  words: fc.array(fc.oneof(fc.constantFrom(...vocab), fc.constantFrom('alp', 'be', 'gam', 'delt', 'zet', 'bta', 'gmma', 'cre', 'x')), { minLength: 1, maxLength: 3 }),
  prefix: fc.boolean(),
  fuzzy: fc.boolean(),
  combine: fc.constantFrom('or', 'and'),
  fields: fc.option(fc.subarray(fieldsAll, { minLength: 1 }), { nil: undefined }),
  boostTitle: fc.option(fc.double({ min: 0.1, max: 5, noNaN: true }), { nil: undefined }),
  limit: fc.integer({ min: 1, max: 30 }),
  offset: fc.integer({ min: 0, max: 5 }),
});

function toQuery(x: { words: string[]; prefix: boolean; fuzzy: boolean; combine: string; fields?: string[] | undefined; boostTitle?: number | undefined; limit: number; offset: number }): SearchQuery {
  const searched = x.fields ?? fieldsAll;
  const o: Record<string, unknown> = { query: x.words.join(' '), prefix: x.prefix, fuzzy: x.fuzzy, combine: x.combine, limit: x.limit, offset: x.offset };
  if (x.fields) o.fields = x.fields;
  if (x.boostTitle !== undefined && searched.includes('title')) o.boost = { title: x.boostTitle };
  return checkSearchOptions(o);
}

test('searchIndexed over searchEntries equals searchScan on random corpora, also after removals (fast-check)', async () => {
  const def: SearchIndexDef = { name: 'c', collection: 'c', fields: fieldsAll };
  let nonEmpty = 0;
  await fc.assert(fc.asyncProperty(corpusArb, queryArb, fc.array(fc.boolean(), { maxLength: 25 }), fc.boolean(), async (recs, qx, removed, async) => {
    const query = toQuery(qx);
    const scan = searchScan(recs, fieldsAll, query);
    const indexed = await searchIndexed(memoryIO(buildIndex(def, recs), async), def, query, all);
    assert.deepEqual(indexed, scan);
    // Paging is a slice of the whole ranking.
    const whole = searchScan(recs, fieldsAll, { ...query, offset: 0, limit: 10_000 });
    assert.deepEqual(scan, whole.slice(query.offset, query.offset + query.limit));
    if (whole.length > 0) nonEmpty++;
    // accept only filters: same scores, fewer records.
    const even = (k: string): boolean => k.length % 2 === 0;
    assert.deepEqual(await searchIndexed(memoryIO(buildIndex(def, recs), async), def, { ...query, offset: 0, limit: 10_000 }, even), whole.filter((r) => even(r.key)));

    // Remove some records: a rebuilt index, and the caller's incremental way (delete their
    // postings, subtract their statistics, leave dictionary markers behind).
    const keep = recs.filter((_, i) => !removed[i]);
    const gone = recs.filter((_, i) => removed[i]);
    const expected = searchScan(keep, fieldsAll, query);
    assert.deepEqual(await searchIndexed(memoryIO(buildIndex(def, keep), async), def, query, all), expected);
    const map = buildIndex(def, recs);
    for (const r of gone) {
      const { entries, stats } = searchEntries(def, r.key, r.value);
      for (const k of entries.keys()) if (k[0] === 'p') map.delete(k);
      const s = map.get(STATS_KEY) as number[];
      map.set(STATS_KEY, s.map((x, i) => x - stats[i]!));
    }
    assert.deepEqual(await searchIndexed(memoryIO(map, async), def, query, all), expected);
  }), { numRuns: 400 });
  assert.ok(nonEmpty > 120, `only ${nonEmpty} of 400 random searches found something`);
});

test('an empty index answers nothing', async () => {
  const def: SearchIndexDef = { name: 'e', collection: 'e', fields: ['t'] };
  assert.deepEqual(await searchIndexed(memoryIO(new Map()), def, q({ query: 'anything', fuzzy: true }), all), []);
  assert.deepEqual(searchScan([], ['t'], q({ query: 'anything' })), []);
});

// ------------------------------------------------------------------ validation

test('checkSearchOptions: defaults and accepted values', () => {
  assert.deepEqual(checkSearchOptions({ query: 'hello' }), { query: 'hello', limit: 20, offset: 0, prefix: true, fuzzy: false, combine: 'or', boosts: {} });
  const full = checkSearchOptions({ query: 'a b', fields: ['title', 'meta.note'], limit: 10_000, offset: 3, prefix: false, fuzzy: true, combine: 'and', boost: { title: 2.5 } });
  assert.deepEqual(full, { query: 'a b', fields: ['title', 'meta.note'], rawFields: ['title', 'meta.note'], limit: 10_000, offset: 3, prefix: false, fuzzy: true, combine: 'and', boosts: { title: 2.5 } });
  assert.deepEqual(checkSearchIndexOptions('docs', { fields: ['title', 'body'] }), { fields: ['title', 'body'] });
  assert.deepEqual(checkSearchIndexOptions('docs', { fields: ['title'], boost: { title: 2 } }), { fields: ['title'], boosts: { title: 2 } });
});

test('every invalid option is a StorageValidationError', async () => {
  const badSearch: unknown[] = [
    undefined, null, 'hello', ['hello'], {},
    { query: '' }, { query: '   ' }, { query: '!!! ... 😀' }, { query: 42 }, { query: 'x'.repeat(1001) },
    { query: 'a', fields: [] }, { query: 'a', fields: 'title' }, { query: 'a', fields: [''] }, { query: 'a', fields: ['a..b'] },
    { query: 'a', fields: ['a.'] }, { query: 'a', fields: ['__proto__'] }, { query: 'a', fields: ['x.constructor'] },
    { query: 'a', fields: ['$key'] }, { query: 'a', fields: ['t', 't'] }, { query: 'a', fields: [1] },
    { query: 'a', limit: 0 }, { query: 'a', limit: 10_001 }, { query: 'a', limit: 1.5 }, { query: 'a', limit: '5' },
    { query: 'a', offset: -1 }, { query: 'a', offset: 0.5 }, { query: 'a', offset: Infinity },
    { query: 'a', prefix: 'yes' }, { query: 'a', fuzzy: 1 }, { query: 'a', combine: 'xor' }, { query: 'a', combine: 'AND' },
    { query: 'a', boost: { title: 0 } }, { query: 'a', boost: { title: -1 } }, { query: 'a', boost: { title: Infinity } },
    { query: 'a', boost: { title: '2' } }, { query: 'a', boost: [] }, { query: 'a', boost: 2 }, { query: 'a', boost: { '': 1 } },
    { query: 'a', fields: ['body'], boost: { title: 2 } }, { query: 'a', limt: 5 }, { query: 'a', filter: {} },
    { query: 'a', fields: Array.from({ length: 33 }, (_, i) => `f${i}`) },
  ];
  for (const o of badSearch) assertInvalid(() => checkSearchOptions(o), JSON.stringify(o) ?? String(o));

  const badIndex: [unknown, unknown][] = [
    ['', { fields: ['t'] }], [42, { fields: ['t'] }], ['docs.*', { fields: ['t'] }], ['do\\cs', { fields: ['t'] }],
    ['docs', undefined], ['docs', {}], ['docs', { fields: [] }], ['docs', { fields: ['t', 't'] }], ['docs', { fields: ['a..b'] }],
    ['docs', { fields: ['prototype'] }], ['docs', { fields: ['t'], boost: { u: 2 } }], ['docs', { fields: ['t'], boost: { t: 0 } }],
    ['docs', { fields: ['t'], unique: true }], ['docs', { fields: ['$meta.tags'] }], ['docs', 'title'],
  ];
  for (const [c, o] of badIndex) assertInvalid(() => checkSearchIndexOptions(c, o), `${String(c)} ${JSON.stringify(o)}`);

  // Fields or boosts outside the index, at search time.
  const def: SearchIndexDef = { name: 'i', collection: 'i', fields: ['title'] };
  const io = memoryIO(new Map());
  await assert.rejects(searchIndexed(io, def, q({ query: 'a', fields: ['body'] }), all), StorageValidationError);
  await assert.rejects(searchIndexed(io, def, q({ query: 'a', boost: { body: 2 } }), all), StorageValidationError);
  assertInvalid(() => searchScan([], ['title'], q({ query: 'a', fields: ['body'] })), 'scan field outside fields');
});
