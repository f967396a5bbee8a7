/**
 * Query planning and execution: `query`, `count`, `explain`. Semantics are in docs/queries.md;
 * this file only decides HOW to find the results: through a secondary index (equality, `$in`,
 * one range, or the sort order) when one fits, else by one range read of the pattern's prefix.
 * Whatever the plan, every record read is re-checked against the whole filter, so an index changes
 * speed, never results.
 */
import type { Engine, RangeQuery, StoredValue } from '../engine';
import { prefixUpperBound } from '../engine';
import { StorageConflictError, invalid } from '../errors';
import { blindValue, type Catalog, type IndexDef } from '../catalog';
import { checkKey, compilePattern, describe, type Pattern } from '../keys';
import { checkEnvelope, type RecordEnvelope } from '../record';
import type { Entry, Metadata } from '../types';
import { compileFilter, type CompiledFilter, type PathConstraint, type Row } from './filter';
import { MISSING, classBounds, classOf, encodeOrdered } from './order';
import { compileSort, type CompiledSort } from './sort';

/** Options of `query` (and, without paging, `count` and `explain`). */
export interface QueryOptions {
  /** A filter document (see README "Queries" and docs/queries.md). Default: every entry. */
  filter?: Record<string, unknown>;
  /** `{ path: 1 | -1 }` in priority order; default key order. Missing values sort last. */
  sort?: Record<string, 1 | -1 | 'asc' | 'desc'>;
  /** At most this many results (default: all). */
  limit?: number;
  /** Skip this many results (default 0). */
  offset?: number;
  /** Cursor paging: only results after the one with this key (same filter and sort). */
  after?: string;
  /** Use this index (its name, e.g. `'createdAt'` or `'status,createdAt'`) even if the planner would not. */
  index?: string;
}

/** What `explain` reports: the plan chosen and what running it read. */
export interface QueryPlan {
  /** The pattern queried. */
  pattern: string;
  /** `index` when a secondary index served the query, `scan` for a range read of the pattern's prefix, `key` for an exact key. */
  strategy: 'index' | 'scan' | 'key';
  /** Name of the index used, if any. */
  index?: string;
  /** The collection whose indexes were considered (`<collection>.*` patterns), if any. */
  collection?: string;
  /** Index key ranges read (one per `$in` combination), with the constraint each came from. */
  ranges: { field: string; from?: unknown; to?: unknown; equals?: unknown[] }[];
  /** The results come in index order (no sort in memory). */
  sortedByIndex: boolean;
  /** Index entries read. */
  indexEntriesRead: number;
  /** Records read (and decoded). */
  recordsRead: number;
  /** Records that matched the filter. */
  matched: number;
  /** Results returned after paging. */
  returned: number;
}

/** What the executor needs from a Backend. */
export interface QueryHost {
  readonly engine: Engine;
  readonly catalog: Catalog;
  ready(): Promise<void>;
  /** The decoded value of a stored record (decompressed / decrypted first when its flags say so). */
  decodeRecord(rec: RecordEnvelope, key: string): unknown;
}

const OPTION_NAMES = new Set(['filter', 'sort', 'limit', 'offset', 'after', 'index', 'backend']);

interface Compiled {
  pattern: Pattern;
  filter: CompiledFilter;
  sort: CompiledSort | undefined;
  limit: number;
  offset: number;
  after: string | undefined;
  index: string | undefined;
}

/** Validates query options (StorageValidationError before anything is read). */
export function compileQuery(pattern: unknown, options: unknown, paging = true): Compiled {
  const p = compilePattern(pattern);
  if (options !== undefined && (options === null || typeof options !== 'object' || Array.isArray(options))) invalid(`options must be an object, got ${describe(options)}`);
  const o = (options ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!OPTION_NAMES.has(k) || (!paging && (k === 'limit' || k === 'offset' || k === 'after'))) invalid(`unknown option "${k}" (known: ${[...OPTION_NAMES].filter((n) => paging || !['limit', 'offset', 'after'].includes(n)).join(', ')})`);
  }
  const int = (v: unknown, what: string, dflt: number) => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) invalid(`options.${what} must be a non-negative integer, got ${describe(v)}`);
    return v;
  };
  const limit = int(o.limit, 'limit', Infinity);
  const offset = int(o.offset, 'offset', 0);
  if (o.after !== undefined) checkKey(o.after, 'options.after');
  if (o.index !== undefined && (typeof o.index !== 'string' || o.index === '')) invalid(`options.index must be an index name, got ${describe(o.index)}`);
  return {
    pattern: p,
    filter: compileFilter(o.filter, 'options.filter'),
    sort: compileSort(o.sort, 'options.sort'),
    limit,
    offset,
    after: o.after as string | undefined,
    index: o.index as string | undefined,
  };
}

/** The collection whose one-segment keys a pattern is limited to (`users.*` → `users`). */
export function collectionOf(p: Pattern): string | undefined {
  if (p.exact) return undefined;
  const dot = p.prefix.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const rest = p.source.slice(dot + 1);
  if (rest.includes('.') || rest.includes('**') || rest.includes('\\')) return undefined;
  return p.prefix.slice(0, dot);
}

interface IndexChoice {
  def: IndexDef;
  /** Index key ranges, in index order. */
  ranges: { gte: string; lt: string }[];
  described: QueryPlan['ranges'];
  /** Results in index order satisfy the sort (single range, sort on the index's last field). */
  sortDir: 1 | -1 | 0;
  /** With sortDir: the key prefix before the sort field's value (equality part). */
  base: string;
}

const MAX_RANGES = 256;

/** The best index for a query, or undefined (scan). */
function chooseIndex(c: Compiled, defs: readonly IndexDef[], order: 'utf16' | 'codepoint'): IndexChoice | undefined {
  let best: { score: number; choice: IndexChoice } | undefined;
  for (const def of defs) {
    if (def.type !== 'index' || def.state !== 'ready') continue;
    if (c.index !== undefined && def.name !== c.index) continue;
    const choice = fit(c, def, order);
    if (!choice) continue;
    if (!best || choice.score > best.score) best = choice;
  }
  if (c.index !== undefined && !best) {
    const known = defs.filter((d) => d.type === 'index' && d.state === 'ready').map((d) => d.name);
    invalid(`options.index: no ready index named "${c.index}" on the keys of this pattern (known: ${known.join(', ') || 'none'})`);
  }
  if (!best || (best.score === 0 && c.index === undefined)) return undefined;
  return best.choice;
}

/** How well an index serves a query (0: only as a full ordered scan), with its ranges. */
function fit(c: Compiled, def: IndexDef, order: 'utf16' | 'codepoint'): { score: number; choice: IndexChoice } | undefined {
  let prefixes = [def.prefix];
  const described: QueryPlan['ranges'] = [];
  let score = 0;
  let k = 0;
  for (; k < def.fields.length; k++) {
    const con = c.filter.constraints.get(def.fields[k]!);
    if (!con?.in || con.in.some((v) => v !== null && classOf(v) === 10)) break;
    let encs = [...new Set(con.in.flatMap((v) => (v === null ? [encodeOrdered(null), MISSING] : [encodeOrdered(v)])))];
    if (def.mac) encs = encs.map((e) => blindValue(def, k, e));
    if (prefixes.length * encs.length > MAX_RANGES) break;
    prefixes = prefixes.flatMap((p) => encs.map((e) => p + e));
    described.push({ field: def.fields[k]!, equals: con.in });
    score += 10;
  }
  // A blind index holds keyed hashes, not ordered values: it serves equality (and $in) on a
  // leading run of its fields, never a range, a sort, or a whole-index scan.
  if (def.mac) {
    if (k === 0) return undefined;
    if (def.unique && k === def.fields.length) score += 100;
    return { score, choice: { def, ranges: prefixes.map((p) => ({ gte: p, lt: prefixUpperBound(p, order)! })), described, sortDir: 0, base: prefixes[0]! } };
  }
  let ranges: { gte: string; lt: string }[];
  const con = k < def.fields.length ? c.filter.constraints.get(def.fields[k]!) : undefined;
  const bound = con && rangeOf(con, def.multikey);
  if (bound) {
    score += 5;
    described.push({ field: def.fields[k]!, from: con.lower?.value, to: con.upper?.value });
    ranges = prefixes.map((p) => {
      const lo = bound.lower ? (bound.lower.inclusive ? p + encodeOrdered(bound.lower.value) : prefixUpperBound(p + encodeOrdered(bound.lower.value), order)!) : p + classBounds(bound.cls).lo;
      const hi = bound.upper ? (bound.upper.inclusive ? prefixUpperBound(p + encodeOrdered(bound.upper.value), order)! : p + encodeOrdered(bound.upper.value)) : p + classBounds(bound.cls).hi;
      return { gte: lo, lt: hi };
    }).filter((r) => r.gte < r.lt);
  } else {
    ranges = prefixes.map((p) => ({ gte: p, lt: prefixUpperBound(p, order)! }));
  }
  // The index order gives the sort when one range is read and the sort is the next field alone.
  let sortDir: 1 | -1 | 0 = 0;
  if (c.sort && c.sort.fields.length === 1 && !def.multikey && ranges.length === 1 && prefixes.length === 1 && k === def.fields.length - 1 && c.sort.fields[0]!.path === def.fields[k]) {
    sortDir = c.sort.fields[0]!.dir;
    score += 3;
  }
  if (def.unique && k === def.fields.length) score += 100;
  return { score, choice: { def, ranges, described, sortDir, base: prefixes[0]! } };
}

/** The range usable on an index field: both bounds when the index never held arrays, else one. */
function rangeOf(con: PathConstraint, multikey: boolean): { lower?: PathConstraint['lower']; upper?: PathConstraint['upper']; cls: number } | undefined {
  const lower = con.lower && classOf(con.lower.value) !== 10 ? con.lower : undefined;
  let upper = con.upper && classOf(con.upper.value) !== 10 ? con.upper : undefined;
  if (lower && upper && (multikey || classOf(lower.value) !== classOf(upper.value))) upper = undefined;
  if (!lower && !upper) return undefined;
  return { lower, upper, cls: classOf((lower ?? upper)!.value) };
}

/** Runs a query: the results (or just their number), with the statistics `explain` reports. */
export async function runQuery(host: QueryHost, c: Compiled): Promise<{ rows: Row[]; plan: QueryPlan }> {
  await host.ready();
  const { engine } = host;
  const order = engine.capabilities.keyOrder;
  const now = Date.now();
  const plan: QueryPlan = { pattern: c.pattern.source, strategy: 'scan', ranges: [], sortedByIndex: false, indexEntriesRead: 0, recordsRead: 0, matched: 0, returned: 0 };
  const toRow = (key: string, raw: StoredValue | undefined): Row | undefined | Promise<Row> => {
    if (raw === undefined) return undefined;
    const rec = checkEnvelope(raw, key);
    if (rec.e !== 0 && rec.e <= now) return undefined;
    plan.recordsRead++;
    const value = host.decodeRecord(rec, key);
    // Compressed or encrypted bodies decode asynchronously; plain ones stay on the fast path.
    return value instanceof Promise ? value.then((v) => ({ key, value: v, meta: metaOf(rec) })) : { key, value, meta: metaOf(rec) };
  };
  const inPattern = (key: string) => key.startsWith(c.pattern.prefix) && c.pattern.matches(key);

  // Cursor position: the row stored under `after` now.
  let afterRow: Row | undefined;
  if (c.after !== undefined && c.sort) {
    afterRow = await toRow(c.after, await engine.get('r', c.after));
    plan.recordsRead = 0;
    if (!afterRow) throw new StorageConflictError(`options.after: no entry "${c.after}" any more; the cursor position is lost, restart paging from the first page`);
  }
  const isAfter = (row: Row) => c.after === undefined || (afterRow ? c.sort!.compare(row, afterRow) > 0 : row.key > c.after);
  const want = c.offset + c.limit;

  let matched: Row[] = [];
  const collection = collectionOf(c.pattern);
  if (collection !== undefined) plan.collection = collection;
  const choice = collection === undefined ? undefined : chooseIndex(c, host.catalog.forCollection(collection), order);
  if (c.index !== undefined && collection === undefined) invalid(`options.index: the pattern "${c.pattern.source}" is not of the form "<collection>.*", which indexes serve`);

  if (c.pattern.exact) {
    plan.strategy = 'key';
    const row = await toRow(c.pattern.prefix, await engine.get('r', c.pattern.prefix));
    if (row && c.filter.test(row) && isAfter(row)) matched.push(row);
    plan.matched = matched.length;
  } else if (choice) {
    plan.strategy = 'index';
    plan.index = choice.def.name;
    plan.ranges = choice.described;
    const seen = new Set<string>();
    const take = async (entries: [string, StoredValue][]): Promise<Row[]> => {
      plan.indexEntriesRead += entries.length;
      const keys: string[] = [];
      for (const [, v] of entries) {
        const rk = (v as [string, number])[0];
        if (seen.has(rk) || !inPattern(rk)) continue;
        seen.add(rk);
        keys.push(rk);
      }
      const raws = keys.length === 0 ? [] : await engine.getMany('r', keys);
      const out: Row[] = [];
      for (let i = 0; i < keys.length; i++) {
        let row = toRow(keys[i]!, raws[i]);
        if (row instanceof Promise) row = await row;
        if (row && c.filter.test(row)) out.push(row);
      }
      return out;
    };
    if (choice.sortDir !== 0 && choice.ranges.length === 1) {
      // Stream the index in sort order and stop once the page is full.
      plan.sortedByIndex = true;
      for await (const rows of streamIndex(engine, choice.ranges[0]!, choice.sortDir, choice.base, order)) {
        for (const row of await take(rows)) {
          plan.matched++;
          if (isAfter(row)) matched.push(row);
        }
        if (matched.length >= want) break;
      }
    } else {
      for (const r of choice.ranges) {
        const rows = await take(await engine.range('i', r));
        for (const row of rows) matched.push(row);
      }
      plan.matched = matched.length;
      matched = matched.filter(isAfter);
    }
  } else {
    const lt = c.pattern.prefix === '' ? undefined : prefixUpperBound(c.pattern.prefix, order);
    const q: RangeQuery = c.pattern.prefix === '' ? {} : lt === undefined ? { gte: c.pattern.prefix } : { gte: c.pattern.prefix, lt };
    for (const [key, raw] of await engine.range('r', q)) {
      if (!c.pattern.matches(key)) continue;
      let row = toRow(key, raw);
      if (row instanceof Promise) row = await row;
      if (row && c.filter.test(row)) matched.push(row);
    }
    plan.matched = matched.length;
    matched = matched.filter(isAfter);
  }

  if (!plan.sortedByIndex) {
    if (c.sort) matched.sort(c.sort.compare);
    else if (plan.strategy !== 'scan' || order !== 'utf16') matched.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
  const rows = c.offset === 0 && matched.length <= c.limit ? matched : matched.slice(c.offset, want);
  plan.returned = rows.length;
  return { rows, plan };
}

/**
 * Reads an index range in sort order, in chunks. Entries of equal value come in ascending record
 * key order (JS `<`) in both directions, as ties break by key; entries of records missing the
 * field (at the end of the range: MISSING sorts last) come last in both directions.
 */
async function* streamIndex(engine: Engine, range: { gte: string; lt: string }, dir: 1 | -1, base: string, order: 'utf16' | 'codepoint'): AsyncGenerator<[string, StoredValue][]> {
  if (dir === 1) {
    yield* grouped(engine, range, false);
    return;
  }
  const missing = base + MISSING;
  const hasMissing = missing >= range.gte && missing < range.lt;
  yield* grouped(engine, hasMissing ? { gte: range.gte, lt: missing } : range, true);
  if (hasMissing) yield* grouped(engine, { gte: missing, lt: range.lt }, false);
  void order;
}

/** Chunks of a range, forward or backward, where each run of one value is sorted by record key. */
async function* grouped(engine: Engine, range: { gte: string; lt: string }, reverse: boolean): AsyncGenerator<[string, StoredValue][]> {
  let size = 64;
  let q: RangeQuery = { gte: range.gte, lt: range.lt, limit: size, reverse };
  let run: [string, StoredValue][] = [];
  let runValue: string | undefined;
  const byKey = (a: [string, StoredValue], b: [string, StoredValue]) => {
    const x = (a[1] as [string])[0];
    const y = (b[1] as [string])[0];
    return x < y ? -1 : x > y ? 1 : 0;
  };
  for (;;) {
    const chunk = await engine.range('i', q);
    const out: [string, StoredValue][] = [];
    for (const e of chunk) {
      const value = e[0].slice(0, e[0].length - (e[1] as [string])[0].length);
      if (value !== runValue) {
        if (run.length > 1) run.sort(byKey);
        for (const r of run) out.push(r);
        run = [];
        runValue = value;
      }
      run.push(e);
    }
    const last = chunk.length < size;
    if (last) {
      if (run.length > 1) run.sort(byKey);
      for (const r of run) out.push(r);
    }
    if (out.length > 0) yield out;
    if (last) return;
    const edge = chunk[chunk.length - 1]![0];
    size = Math.min(size * 2, 4096);
    q = reverse ? { gte: range.gte, lt: edge, limit: size, reverse } : { gt: edge, lt: range.lt, limit: size };
  }
}

/** Metadata of a record for filters and results. */
function metaOf(rec: RecordEnvelope): Metadata {
  const m: Metadata = { createdAt: rec.c, updatedAt: rec.u, version: rec.n };
  if (rec.l !== 0) m.ttl = rec.l;
  if (rec.e !== 0) m.expiresAt = rec.e;
  if (rec.t) m.tags = [...rec.t];
  return m;
}

/** Rows as the public entries query returns. */
export function entriesOf<T>(rows: readonly Row[]): Entry<T>[] {
  return rows.map((r) => ({ key: r.key, value: r.value as T, metadata: r.meta }));
}
