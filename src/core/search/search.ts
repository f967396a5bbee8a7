/**
 * Full-text search core: index definitions, the postings of one record, and BM25F ranking over
 * postings (indexed) or over rows (scan). Pure: the caller owns every read and write.
 *
 * Layout, relative to one index (the caller prefixes the index name and `\u0000`):
 * - `'p' + term + '\u0000' + recordKey` → posting value (see {@link searchEntries});
 * - `'d' + term` → `0`, the dictionary used by fuzzy matching (stale markers are harmless);
 * - {@link STATS_KEY} → `[N, total length of field 1, …]` over every live record.
 * A term never contains `\u0000` (see text.ts), so a term's postings are exactly the keys between
 * `'p' + term + '\u0000'` and `'p' + term + '\u0001'`, in record key order, in UTF-16 and in
 * code-point order alike.
 *
 * @packageDocumentation
 */
import { prefixUpperBound } from '../engine';
import type { MaybePromise } from '../engine';
import { invalid } from '../errors';
import { checkKey, describe } from '../keys';
import { textOf, tokenize, withinOneEdit } from './text';

/** BM25 term-frequency saturation. */
export const BM25_K1 = 1.2;
/** BM25 length normalisation (0: none, 1: full). */
export const BM25_B = 0.75;
/** Weight of a term matched because it starts with the last query term (the term itself weighs 1). */
export const PREFIX_WEIGHT = 0.5;
/** Weight of a term matched because it is one edit away from a query term. */
export const FUZZY_WEIGHT = 0.5;
/** Query terms shorter than this many code points are never matched fuzzily. */
export const FUZZY_MIN_LENGTH = 4;
/** Longest `query` string, in UTF-16 code units. */
export const MAX_QUERY_LENGTH = 1000;
/** Largest `limit`. */
export const MAX_LIMIT = 10_000;
/** `limit` when none is given. */
export const DEFAULT_LIMIT = 20;
/** Most fields one index or one search may name. */
export const MAX_FIELDS = 32;
/** Relative key of the statistics vector `[N, total length of field 1, …]`, maintained by the caller. */
export const STATS_KEY = 's';

/** A search index: which fields of the records `<collection>.<id>` are indexed. */
export interface SearchIndexDef {
  /** The index's name (the caller's key prefix). */
  name: string;
  /** The index covers the records `<collection>.<id>`. */
  collection: string;
  /** Dotted field paths, in posting order. */
  fields: string[];
  /** Default boost per field (1 when absent); a search's own `boost` overrides it per field. */
  boosts?: Record<string, number>;
}

/** Validated options of one search. */
export interface SearchQuery {
  /** The query text; its distinct terms (see `tokenize`) are searched. */
  query: string;
  /** The fields to search; absent: every field of the index. */
  fields?: string[];
  /** Most results returned, 1..{@link MAX_LIMIT}. */
  limit: number;
  /** Results skipped first (paging). */
  offset: number;
  /** The last query term also matches the terms that start with it (weight {@link PREFIX_WEIGHT}). */
  prefix: boolean;
  /** Query terms of {@link FUZZY_MIN_LENGTH}+ code points also match terms one edit away (weight {@link FUZZY_WEIGHT}). */
  fuzzy: boolean;
  /** `'and'`: only records matching every query term. */
  combine: 'or' | 'and';
  /** Boost per field, over the index's default boosts; 1 when neither gives one. */
  boosts: Record<string, number>;
}

/** Reads the indexed search needs, keys relative to the index; results may be sync or async. */
export interface SearchIO {
  /** Entries with `gte <= key < lt`, in key order. */
  range(gte: string, lt: string): MaybePromise<[string, unknown][]>;
  /** Keys with `gte <= key < lt`, in key order. */
  keys(gte: string, lt: string): MaybePromise<string[]>;
  get(key: string): MaybePromise<unknown>;
}

// ---------------------------------------------------------------- validation

const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);
const hasOwn = Object.prototype.hasOwnProperty;
const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) &&
  (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

function checkPath(p: unknown, what: string): string {
  if (typeof p !== 'string' || p.length === 0) invalid(`${what} must be a non-empty dotted field path, got ${describe(p)}`);
  if (p.length > 512) invalid(`${what} is longer than 512 characters`);
  if (!p.isWellFormed()) invalid(`${what} contains a lone surrogate (not valid UTF-16)`);
  if (p[0] === '$') invalid(`${what} "${p}": search fields are fields of the stored value ($key and $meta are not searchable)`);
  for (const seg of p.split('.')) {
    if (seg === '') invalid(`${what} "${p}" has an empty segment`);
    if (FORBIDDEN_SEGMENTS.has(seg)) invalid(`${what} "${p}" uses the forbidden segment "${seg}"`);
  }
  return p;
}

function checkFields(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.length === 0) invalid(`${what} must be a non-empty array of field paths, got ${describe(v)}`);
  if (v.length > MAX_FIELDS) invalid(`${what} has ${v.length} fields; at most ${MAX_FIELDS}`);
  const out: string[] = [];
  for (let i = 0; i < v.length; i++) {
    const p = checkPath(v[i], `${what}[${i}]`);
    if (out.includes(p)) invalid(`${what} names "${p}" twice`);
    out.push(p);
  }
  return out;
}

function checkBoosts(v: unknown, what: string, fields: readonly string[] | undefined): Record<string, number> {
  if (!isPlainObject(v)) invalid(`${what} must be an object { field: positive number }, got ${describe(v)}`);
  const out: Record<string, number> = {};
  for (const f of Object.keys(v)) {
    checkPath(f, `${what} key`);
    const b = v[f];
    if (typeof b !== 'number' || !Number.isFinite(b) || b <= 0) invalid(`${what}.${f} must be a positive finite number, got ${describe(b)}`);
    if (fields && !fields.includes(f)) invalid(`${what}.${f}: "${f}" is not one of the fields (${fields.join(', ')})`);
    out[f] = b;
  }
  return out;
}

function checkKnown(opts: Record<string, unknown>, what: string, known: readonly string[]): void {
  for (const k of Object.keys(opts)) {
    if (!known.includes(k)) invalid(`unknown option "${k}" in ${what}; accepted: ${known.join(', ')}`);
  }
}

/**
 * Validates `createSearchIndex(collection, { fields, boost? })`: `collection` is a key (the index
 * covers the records `<collection>.<id>`) without wildcards; `fields` a non-empty array of
 * distinct dotted paths into the stored value; `boost` `{ field: positive number }` over those
 * fields. Throws StorageValidationError; returns copies.
 */
export function checkSearchIndexOptions(collection: unknown, options: unknown): { fields: string[]; boosts?: Record<string, number> } {
  checkKey(collection, 'collection');
  if (/[*\\]/.test(collection)) invalid(`collection "${collection}" must not contain "*" or "\\"`);
  if (!isPlainObject(options)) invalid(`search index options must be an object { fields, boost? }, got ${describe(options)}`);
  checkKnown(options, 'search index options', ['fields', 'boost']);
  const fields = checkFields(options.fields, 'search index options.fields');
  if (options.boost === undefined) return { fields };
  return { fields, boosts: checkBoosts(options.boost, 'search index options.boost', fields) };
}

const SEARCH_OPTIONS = ['query', 'fields', 'limit', 'offset', 'prefix', 'fuzzy', 'combine', 'boost'] as const;

/**
 * Validates `search(pattern, options)` options (see {@link SearchQuery}); unknown names are
 * refused. `query`: a string of at most {@link MAX_QUERY_LENGTH} code units with at least one
 * term; `fields` (default: the index's), `limit` 1..{@link MAX_LIMIT} (default
 * {@link DEFAULT_LIMIT}), `offset` ≥ 0 (default 0), `prefix` (default true), `fuzzy` (default
 * false), `combine` `'or'` (default) or `'and'`, `boost` `{ field: positive number }`.
 * `fields` holds the given fields; `rawFields` is set only when the caller gave them (without
 * it the caller must use the index's fields, and a scan without an index must refuse).
 */
export function checkSearchOptions(options: unknown): SearchQuery & { rawFields?: string[] } {
  if (!isPlainObject(options)) invalid(`search options must be an object with at least { query }, got ${describe(options)}`);
  checkKnown(options, 'search options', SEARCH_OPTIONS);
  const { query, fields, limit, offset, prefix, fuzzy, combine, boost } = options;
  if (typeof query !== 'string') invalid(`search options.query must be a string, got ${describe(query)}`);
  if (query.length > MAX_QUERY_LENGTH) invalid(`search options.query is ${query.length} characters long; at most ${MAX_QUERY_LENGTH}`);
  if (tokenize(query).length === 0) invalid('search options.query has no searchable term (letters or digits)');
  const int = (v: unknown, name: string, lo: number, hi: number, dflt: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) invalid(`search options.${name} must be an integer from ${lo} to ${hi}, got ${describe(v)}`);
    return v;
  };
  const bool = (v: unknown, name: string, dflt: boolean): boolean => {
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') invalid(`search options.${name} must be a boolean, got ${describe(v)}`);
    return v;
  };
  if (combine !== undefined && combine !== 'or' && combine !== 'and') invalid(`search options.combine must be "or" or "and", got ${describe(combine)}`);
  const q: SearchQuery & { rawFields?: string[] } = {
    query,
    limit: int(limit, 'limit', 1, MAX_LIMIT, DEFAULT_LIMIT),
    offset: int(offset, 'offset', 0, Number.MAX_SAFE_INTEGER - MAX_LIMIT, 0),
    prefix: bool(prefix, 'prefix', true),
    fuzzy: bool(fuzzy, 'fuzzy', false),
    combine: combine ?? 'or',
    boosts: {},
  };
  if (fields !== undefined) {
    q.fields = checkFields(fields, 'search options.fields');
    q.rawFields = q.fields.slice();
  }
  if (boost !== undefined) q.boosts = checkBoosts(boost, 'search options.boost', q.fields);
  return q;
}

// ---------------------------------------------------------------- postings

const pathCache = new Map<string, string[]>();
function segmentsOf(path: string): string[] {
  let s = pathCache.get(path);
  if (s === undefined) {
    if (pathCache.size > 1000) pathCache.clear();
    s = path.split('.');
    pathCache.set(path, s);
  }
  return s;
}

/** Term → term frequency per field, and the length (term count) of each field. */
function analyze(fields: readonly string[], value: unknown): { tfs: Map<string, number[]>; lengths: number[] } {
  const n = fields.length;
  const tfs = new Map<string, number[]>();
  const lengths: number[] = new Array(n);
  for (let f = 0; f < n; f++) {
    const text = textOf(value, segmentsOf(fields[f]!));
    const terms = text.length === 0 ? [] : tokenize(text);
    lengths[f] = terms.length;
    for (const t of terms) {
      let tf = tfs.get(t);
      if (tf === undefined) { tf = new Array<number>(n).fill(0); tfs.set(t, tf); }
      tf[f]!++;
    }
  }
  return { tfs, lengths };
}

/** The posting value: per field `tf` then, when `tf > 0`, the field's length; trailing zeros dropped. */
function encodePosting(tf: readonly number[], lengths: readonly number[]): number[] {
  const out: number[] = [];
  for (let f = 0; f < tf.length; f++) {
    const c = tf[f]!;
    if (c > 0) out.push(c, lengths[f]!);
    else out.push(0);
  }
  while (out[out.length - 1] === 0) out.pop(); // a length is never 0 when its tf is not, so only tf slots go
  return out;
}

/**
 * The index entries of one record, keys relative to the index:
 * - `'p' + term + '\u0000' + recordKey` → the posting: for each field of the index in order,
 *   the term's frequency `tf` in that field followed, only when `tf > 0`, by the field's length
 *   in terms; trailing zeros are dropped. Fields (title, body): `[2, 7]` = twice in a 7-term
 *   title, not in the body; `[0, 1, 20]` = once in a 20-term body; `[1, 7, 3, 20]` both.
 *   The lengths ride along so that ranking reads postings only, never the records.
 * - `'d' + term` → `0` (dictionary marker for fuzzy matching).
 * `stats` is the record's share of {@link STATS_KEY}: `[1, length of field 1, …]`; a record
 * without text still counts, with no postings.
 */
export function searchEntries(def: SearchIndexDef, recordKey: string, value: unknown): { entries: Map<string, unknown>; stats: number[] } {
  const { tfs, lengths } = analyze(def.fields, value);
  const entries = new Map<string, unknown>();
  const tail = '\u0000' + recordKey;
  for (const [term, tf] of tfs) {
    entries.set('p' + term + tail, encodePosting(tf, lengths));
    entries.set('d' + term, 0);
  }
  return { entries, stats: [1, ...lengths] };
}

// ---------------------------------------------------------------- ranking

/** One query term and how it may expand. */
interface QueryTerm { term: string; prefix: boolean; fuzzy: boolean }

/** The postings of one matched term: `rows[from..to)`, the record key at `keyOffset` of each row key. */
interface Group { weight: number; rows: readonly (readonly [string, unknown])[]; from: number; to: number; keyOffset: number }

/** Distinct query terms in query order; the one equal to the last token expands by prefix. */
function queryTerms(q: SearchQuery): QueryTerm[] {
  const tokens = tokenize(q.query);
  const last = tokens[tokens.length - 1];
  const out: QueryTerm[] = [];
  const seen = new Set<string>();
  for (const term of tokens) {
    if (seen.has(term)) continue;
    seen.add(term);
    const fuzzy = q.fuzzy && codePoints(term) >= FUZZY_MIN_LENGTH;
    out.push({ term, prefix: q.prefix && term === last, fuzzy });
  }
  return out;
}

function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) { const c = s.charCodeAt(i); if (c < 0xd800 || c > 0xdbff) n++; }
  return n;
}

/** Weight of `term` as a match of query term `qt`: 1 (itself), the best expansion weight, or 0. */
function expansionWeight(qt: QueryTerm, term: string): number {
  if (term === qt.term) return 1;
  const p = qt.prefix && term.startsWith(qt.term) ? PREFIX_WEIGHT : 0;
  const f = qt.fuzzy && withinOneEdit(qt.term, term) ? FUZZY_WEIGHT : 0;
  return p > f ? p : f;
}

/** Per field of the postings: the boost when searched, 0 when not. Validates the field choice. */
function fieldWeights(allFields: readonly string[], q: SearchQuery, defaults: Record<string, number> | undefined): number[] {
  const searched = q.fields ?? allFields;
  for (const f of searched) if (!allFields.includes(f)) invalid(`search field "${f}" is not indexed (indexed: ${allFields.join(', ')})`);
  for (const f of Object.keys(q.boosts)) if (!searched.includes(f)) invalid(`search options.boost.${f}: "${f}" is not a searched field (${searched.join(', ')})`);
  return allFields.map((f) => {
    if (!searched.includes(f)) return 0;
    if (hasOwn.call(q.boosts, f)) return q.boosts[f]!;
    if (defaults && hasOwn.call(defaults, f)) return defaults[f]!;
    return 1;
  });
}

/** Running score of one record: `sum` of finished query terms, `best` of query term `term`. */
class Acc {
  sum = 0;
  best = 0;
  term = -1;
  matched = 0;
}

/**
 * BM25F over the groups of each query term. Both entry points end here, with the same numbers
 * in the same order of operations, so their scores are bit-identical.
 */
function rank(
  groups: Group[][], weights: readonly number[], n: number, totals: readonly number[],
  q: SearchQuery, accept: (key: string) => boolean,
): { key: string; score: number }[] {
  const nf = weights.length;
  const avg = new Array<number>(nf);
  for (let f = 0; f < nf; f++) avg[f] = n > 0 ? (totals[f] ?? 0) / n : 0;
  const and = q.combine === 'and';
  const accs = new Map<string, Acc>();
  for (let i = 0; i < groups.length; i++) {
    for (const g of groups[i]!) {
      const df = g.to - g.from;
      if (df === 0) continue;
      const big = n > df ? n : df; // stale statistics must not make idf negative
      const factor = g.weight * Math.log(1 + (big - df + 0.5) / (df + 0.5));
      const { rows, keyOffset } = g;
      for (let j = g.from; j < g.to; j++) {
        const row = rows[j]!;
        const s = fieldScore(row[1] as readonly number[], weights, avg);
        if (s === 0) continue; // the term is only in fields not searched
        const key = keyOffset === 0 ? row[0] : row[0].slice(keyOffset);
        let a = accs.get(key);
        if (a === undefined) {
          if ((and && i > 0) || !accept(key)) continue;
          a = new Acc();
          accs.set(key, a);
        }
        const c = factor * s;
        if (a.term !== i) {
          a.sum += a.best;
          a.term = i;
          a.best = c;
          a.matched++;
        } else if (c > a.best) a.best = c;
      }
    }
  }
  return topK(accs, and ? groups.length : 1, q.offset, q.limit);
}

/** Σ over fields of boost · tf·(k1+1) / (tf + k1·(1 − b + b·len/avglen)), reading a posting. */
function fieldScore(p: readonly number[], weights: readonly number[], avg: readonly number[]): number {
  if (!Array.isArray(p)) return 0; // not a posting this module wrote: no match rather than a crash
  let s = 0;
  const nf = weights.length;
  for (let f = 0, i = 0; f < nf && i < p.length; f++) {
    const tf = p[i++]!;
    if (!(tf > 0)) continue;
    const len = p[i++]!;
    const w = weights[f]!;
    if (w === 0) continue;
    const a = avg[f]!;
    s += w * ((tf * (BM25_K1 + 1)) / (tf + BM25_K1 * (1 - BM25_B + (BM25_B * len) / (a > 0 ? a : len))));
  }
  return s;
}

/** Results `offset..offset+limit` by score desc, key asc, keeping a heap of offset+limit, not sorting all. */
function topK(accs: Map<string, Acc>, minMatched: number, offset: number, limit: number): { key: string; score: number }[] {
  const k = offset + limit;
  // A min-heap by "worse": heap[0] is the worst of the best k seen so far.
  const keys: string[] = [];
  const scores: number[] = [];
  const worse = (i: number, j: number): boolean =>
    scores[i]! < scores[j]! || (scores[i] === scores[j] && keys[i]! > keys[j]!);
  const swap = (i: number, j: number): void => {
    const tk = keys[i]!; keys[i] = keys[j]!; keys[j] = tk;
    const ts = scores[i]!; scores[i] = scores[j]!; scores[j] = ts;
  };
  const down = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < keys.length && worse(l, m)) m = l;
      if (r < keys.length && worse(r, m)) m = r;
      if (m === i) return;
      swap(i, m);
      i = m;
    }
  };
  for (const [key, a] of accs) {
    if (a.matched < minMatched) continue;
    const score = a.sum + a.best;
    if (keys.length < k) {
      keys.push(key); scores.push(score);
      for (let i = keys.length - 1; i > 0;) { // sift up
        const p = (i - 1) >> 1;
        if (!worse(i, p)) break;
        swap(i, p); i = p;
      }
    } else if (score > scores[0]! || (score === scores[0] && key < keys[0]!)) {
      keys[0] = key; scores[0] = score;
      down(0);
    }
  }
  const out = keys.map((key, i) => ({ key, score: scores[i]! }));
  out.sort((a, b) => b.score - a.score || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return offset === 0 ? out : out.slice(offset);
}

type Row = [string, unknown];
const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';

/** Awaits only what is a promise: a synchronous SearchIO costs no extra ticks. */
async function settle<T>(values: MaybePromise<T>[]): Promise<T[]> {
  return values.some(isThenable) ? Promise.all(values) : (values as T[]);
}

/**
 * Ranked record keys with BM25F scores, read from the postings: results
 * `offset .. offset + limit` by score (best first), ties by key ascending (UTF-16 order).
 *
 * score(record) = Σ over query terms t of max over the terms e matching t of
 * weight(e) · idf(e) · Σ over searched fields f of boost_f · tf·(k1+1) / (tf + k1·(1 − b + b·len_f/avglen_f)),
 * with idf(e) = ln(1 + (N − df + 0.5)/(df + 0.5)) and weight 1 for t itself,
 * {@link PREFIX_WEIGHT} for a longer term starting with the last query term when `prefix`,
 * {@link FUZZY_WEIGHT} for a term one edit away when `fuzzy`. N, average lengths and df count
 * every record of the index; `accept` only filters which records are returned (the caller's
 * key pattern). `combine: 'and'` keeps records matching every distinct query term.
 * Reads: the statistics, one range per query term (the last one's whole prefix range), and with
 * `fuzzy` the dictionary plus one range per fuzzy term; independent reads are issued together.
 *
 * @example
 * ```ts
 * const q = checkSearchOptions({ query: 'machine learn' });
 * const hits = await searchIndexed(io, def, q, (key) => pattern.matches(key)); // [{ key, score }, …]
 * ```
 */
export async function searchIndexed(io: SearchIO, def: SearchIndexDef, q: SearchQuery, accept: (key: string) => boolean): Promise<{ key: string; score: number }[]> {
  const weights = fieldWeights(def.fields, q, def.boosts);
  const terms = queryTerms(q);
  const fuzzy = terms.some((t) => t.fuzzy);
  const reads: MaybePromise<unknown>[] = [io.get(STATS_KEY)];
  for (const t of terms) {
    const from = t.prefix ? 'p' + t.term : 'p' + t.term + '\u0000';
    // The successor of the last code point bounds the prefix in UTF-16 and code-point order
    // alike, since a term never ends with U+D7FF or U+FFFF (not letters).
    reads.push(io.range(from, t.prefix ? prefixUpperBound(from, 'codepoint')! : 'p' + t.term + '\u0001'));
  }
  if (fuzzy) reads.push(io.keys('d', 'e'));
  const got = await settle(reads);
  const stats = got[0];
  if (!Array.isArray(stats) || !(stats[0] > 0)) return [];

  const groups: Group[][] = terms.map(() => []);
  for (let i = 0; i < terms.length; i++) {
    const qt = terms[i]!;
    const rows = got[i + 1] as Row[];
    if (!qt.prefix) {
      groups[i]!.push({ weight: 1, rows, from: 0, to: rows.length, keyOffset: qt.term.length + 2 });
      continue;
    }
    // The prefix range holds whole terms one after another: split it by term.
    for (let j = 0; j < rows.length;) {
      const k0 = rows[j]![0];
      const sep = k0.indexOf('\u0000', 1);
      const head = k0.slice(0, sep + 1);
      let end = j + 1;
      while (end < rows.length && rows[end]![0].startsWith(head)) end++;
      const term = head.slice(1, -1);
      const weight = expansionWeight(qt, term);
      if (weight > 0) groups[i]!.push({ weight, rows, from: j, to: end, keyOffset: head.length });
      j = end;
    }
  }
  if (fuzzy) {
    // A prefix range already holds the terms that start with its query term: fetch only the others.
    const dict = got[got.length - 1] as string[];
    const wanted: { i: number; term: string; weight: number }[] = [];
    for (const dk of dict) {
      const term = dk.slice(1);
      for (let i = 0; i < terms.length; i++) {
        const qt = terms[i]!;
        if (!qt.fuzzy || term === qt.term || (qt.prefix && term.startsWith(qt.term))) continue;
        const weight = expansionWeight(qt, term);
        if (weight > 0) wanted.push({ i, term, weight });
      }
    }
    const ranges = await settle(wanted.map((w) => io.range('p' + w.term + '\u0000', 'p' + w.term + '\u0001')));
    wanted.forEach((w, x) => {
      const rows = ranges[x]!;
      groups[w.i]!.push({ weight: w.weight, rows, from: 0, to: rows.length, keyOffset: w.term.length + 2 });
    });
  }
  return rank(groups, weights, stats[0] as number, (stats as number[]).slice(1), q, accept);
}

/**
 * The ranking of {@link searchIndexed} computed from the records themselves (no index): N,
 * average lengths and document frequencies are those of `rows`, whose `fields` are analysed
 * (the searched fields are `q.fields`, default `fields`). Given rows equal to an index's
 * records, the keys and scores are exactly those of `searchIndexed`.
 */
export function searchScan(rows: Iterable<{ key: string; value: unknown }>, fields: string[], q: SearchQuery): { key: string; score: number }[] {
  const weights = fieldWeights(fields, q, undefined);
  const terms = queryTerms(q);
  const postings = new Map<string, Row[]>();
  let n = 0;
  const totals = new Array<number>(fields.length).fill(0);
  for (const { key, value } of rows) {
    n++;
    const { tfs, lengths } = analyze(fields, value);
    for (let f = 0; f < lengths.length; f++) totals[f]! += lengths[f]!;
    for (const [term, tf] of tfs) {
      let list = postings.get(term);
      if (list === undefined) postings.set(term, (list = []));
      list.push([key, encodePosting(tf, lengths)]);
    }
  }
  const groups: Group[][] = terms.map((qt) => {
    const out: Group[] = [];
    const expands = qt.prefix || qt.fuzzy;
    if (!expands) {
      const list = postings.get(qt.term);
      if (list) out.push({ weight: 1, rows: list, from: 0, to: list.length, keyOffset: 0 });
      return out;
    }
    for (const [term, list] of postings) {
      const weight = expansionWeight(qt, term);
      if (weight > 0) out.push({ weight, rows: list, from: 0, to: list.length, keyOffset: 0 });
    }
    return out;
  });
  return rank(groups, weights, n, totals, q, () => true);
}
