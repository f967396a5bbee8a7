/**
 * A naive reference evaluator for the query language, written from docs/queries.md alone (it
 * deliberately shares no code with src/core/query, so the two can be checked against each other).
 *
 * Invariants kept on purpose, to stay obviously correct rather than fast:
 * - a filter is interpreted directly and recursively, once per row; nothing is compiled or encoded;
 * - a path yields a plain list of candidate values; "missing" is the empty list;
 * - filters are assumed valid (validation is tested elsewhere), so nothing here refuses input,
 *   except the one runtime failure of the page: `after` naming a record that is gone, with `sort`.
 *
 * Where the page is silent, the choices made are marked "Choice:" below.
 */
import { StorageConflictError } from '../../src/core/errors';

/** One live entry as a query sees it. */
export interface RefRow {
  key: string;
  value: unknown;
  meta: { createdAt: number; updatedAt: number; version: number; ttl?: number; expiresAt?: number; tags?: string[] };
}

/** The query options the reference understands. */
export interface RefQueryOptions {
  filter?: object;
  sort?: Record<string, 1 | -1 | 'asc' | 'desc'>;
  limit?: number;
  offset?: number;
  after?: string;
}

// ------------------------------------------------------------------ classes and the total order

const tag = (v: unknown): string => Object.prototype.toString.call(v);

/** A plain object: tagged Object and created by `{}` or `Object.create(null)` in any realm. */
function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || tag(v) !== '[object Object]') return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === null || Object.getPrototypeOf(proto) === null;
}

function isBinary(v: unknown): v is ArrayBuffer | ArrayBufferView {
  return typeof v === 'object' && v !== null && (ArrayBuffer.isView(v) || tag(v) === '[object ArrayBuffer]');
}

/**
 * The class rank of the page (1 null … 10 other). Choice: `undefined` (reachable only inside an
 * array or object, a missing path never gets here) ranks 0, below null, equal only to itself.
 */
function rank(v: unknown): number {
  if (v === undefined) return 0;
  if (v === null) return 1;
  switch (typeof v) {
    case 'number': return 2;
    case 'bigint': return 3;
    case 'string': return 4;
    case 'boolean': return 8;
    case 'object':
      if (isPlainObject(v)) return 5;
      if (Array.isArray(v)) return 6;
      if (isBinary(v)) return 7;
      if (tag(v) === '[object Date]') return 9;
      return 10;
    default: return 10;
  }
}

const OTHER = 10;
const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0);

/** Unicode code point order (a lone surrogate counts as the code point of its code unit). */
function compareStrings(a: string, b: string): number {
  const ca = Array.from(a, (ch) => ch.codePointAt(0)!);
  const cb = Array.from(b, (ch) => ch.codePointAt(0)!);
  for (let i = 0; i < ca.length && i < cb.length; i++) {
    if (ca[i] !== cb[i]) return ca[i]! < cb[i]! ? -1 : 1;
  }
  return sign(ca.length - cb.length);
}

function compareNumbers(a: number, b: number): number {
  if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : -1;
  if (Number.isNaN(b)) return 1;
  return a < b ? -1 : a > b ? 1 : 0; // -0 and 0 compare equal here
}

function bytesOf(v: ArrayBuffer | ArrayBufferView): Uint8Array {
  return ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v);
}

/** The total order of the page: class rank first, then the order within the class. */
export function refCompare(a: unknown, b: unknown): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 2: return compareNumbers(a as number, b as number);
    case 3: return (a as bigint) < (b as bigint) ? -1 : (a as bigint) > (b as bigint) ? 1 : 0;
    case 4: return compareStrings(a as string, b as string);
    case 5: {
      const ka = Object.keys(a as object);
      const kb = Object.keys(b as object);
      for (let i = 0; i < ka.length && i < kb.length; i++) {
        const byKey = compareStrings(ka[i]!, kb[i]!);
        if (byKey !== 0) return byKey;
        const byValue = refCompare((a as Record<string, unknown>)[ka[i]!], (b as Record<string, unknown>)[kb[i]!]);
        if (byValue !== 0) return byValue;
      }
      return sign(ka.length - kb.length);
    }
    case 6: {
      const xa = a as unknown[];
      const xb = b as unknown[];
      for (let i = 0; i < xa.length && i < xb.length; i++) {
        const c = refCompare(xa[i], xb[i]);
        if (c !== 0) return c;
      }
      return sign(xa.length - xb.length);
    }
    case 7: {
      const ba = bytesOf(a as ArrayBuffer);
      const bb = bytesOf(b as ArrayBuffer);
      for (let i = 0; i < ba.length && i < bb.length; i++) {
        if (ba[i] !== bb[i]) return ba[i]! < bb[i]! ? -1 : 1;
      }
      return sign(ba.length - bb.length);
    }
    case 8: return a === b ? 0 : a === false ? -1 : 1;
    case 9: return compareNumbers((a as Date).getTime(), (b as Date).getTime()); // invalid (NaN) first
    default: return 0; // null, undefined, and "other" (all equal in the order)
  }
}

/**
 * Structural equality: same class and equal in the order, except that a value of class other is
 * never equal to anything. Choice: that also holds for an "other" nested inside an object or array.
 */
function refEquals(a: unknown, b: unknown): boolean {
  const r = rank(a);
  if (r !== rank(b) || r === OTHER) return false;
  if (r === 5) {
    const ka = Object.keys(a as object);
    const kb = Object.keys(b as object);
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] &&
      refEquals((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  if (r === 6) {
    const xa = a as unknown[];
    const xb = b as unknown[];
    return xa.length === xb.length && xa.every((x, i) => refEquals(x, xb[i]));
  }
  return refCompare(a, b) === 0;
}

// ------------------------------------------------------------------ paths

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);
const isIndex = (segment: string): boolean => /^[0-9]+$/.test(segment);

/** One step of plain access: an own property of a plain object, or an array element by index. */
function step(v: unknown, segment: string): unknown {
  if (isPlainObject(v)) return hasOwn(v, segment) ? v[segment] : undefined;
  // Choice: a digit segment is read as a decimal number, so `items.01` is element 1.
  if (Array.isArray(v) && isIndex(segment)) return v[Number(segment)];
  return undefined;
}

/** The document a path starts from, and the segments left: `$key` and `$meta.*` address the entry. */
function root(row: RefRow, path: string): { start: unknown; segments: string[] } {
  if (path === '$key') return { start: row.key, segments: [] };
  if (path.startsWith('$meta.')) return { start: { ...row.meta }, segments: path.slice('$meta.'.length).split('.') };
  return { start: row.value, segments: path.split('.') };
}

/** The candidate values of the page: fan-out over arrays, then one level of the final array. */
function candidatesFrom(start: unknown, segments: readonly string[]): unknown[] {
  let current: unknown[] = start === undefined ? [] : [start];
  for (const segment of segments) {
    const next: unknown[] = [];
    for (const v of current) {
      if (Array.isArray(v) && !isIndex(segment)) {
        for (const element of v) if (isPlainObject(element)) next.push(step(element, segment));
      } else {
        next.push(step(v, segment));
      }
    }
    current = next.filter((v) => v !== undefined);
  }
  const out: unknown[] = [];
  for (const v of current) {
    out.push(v);
    if (Array.isArray(v)) for (const element of v) if (element !== undefined) out.push(element);
  }
  return out;
}

/** The sort value of a path: plain access, no fan-out; `undefined` means missing. */
function sortValue(row: RefRow, path: string): unknown {
  const { start, segments } = root(row, path);
  let v = start;
  for (const segment of segments) v = step(v, segment);
  return v;
}

// ------------------------------------------------------------------ filters

/** What a filter is evaluated against: the current document and the entry it belongs to. */
interface Scope { doc: unknown; row: RefRow }

function candidates(scope: Scope, path: string): unknown[] {
  if (path === '$key' || path.startsWith('$meta.')) {
    const { start, segments } = root(scope.row, path);
    return candidatesFrom(start, segments);
  }
  return candidatesFrom(scope.doc, path.split('.'));
}

const isOperatorObject = (c: unknown): c is Record<string, unknown> =>
  isPlainObject(c) && Object.keys(c).every((k) => k.startsWith('$'));

function regexOf(re: unknown, options: unknown): RegExp {
  const source = typeof re === 'string' ? re : (re as RegExp).source;
  const own = typeof re === 'string' ? '' : (re as RegExp).flags;
  // Choice: a RegExp's own flags and `$options` are combined. `g` and `y` are dropped, which also
  // makes `test` stateless.
  const flags = new Set([...own, ...(typeof options === 'string' ? options : '')].filter((f) => f !== 'g' && f !== 'y'));
  return new RegExp(source, [...flags].join(''));
}

const someEqual = (cands: readonly unknown[], v: unknown): boolean =>
  cands.some((c) => refEquals(c, v)) || (v === null && cands.length === 0);

/** One operator of an operator object, against the candidates of its path. */
function matchOperator(op: string, arg: unknown, cond: Record<string, unknown>, cands: readonly unknown[], scope: Scope): boolean {
  switch (op) {
    case '$eq': return someEqual(cands, arg);
    case '$ne': return !someEqual(cands, arg);
    case '$gt': return cands.some((c) => rank(c) === rank(arg) && refCompare(c, arg) > 0);
    case '$gte': return cands.some((c) => rank(c) === rank(arg) && refCompare(c, arg) >= 0);
    case '$lt': return cands.some((c) => rank(c) === rank(arg) && refCompare(c, arg) < 0);
    case '$lte': return cands.some((c) => rank(c) === rank(arg) && refCompare(c, arg) <= 0);
    case '$in': return (arg as unknown[]).some((v) => someEqual(cands, v));
    case '$nin': return !(arg as unknown[]).some((v) => someEqual(cands, v));
    case '$exists': return (cands.length > 0) === arg;
    case '$regex': {
      const re = regexOf(arg, cond.$options);
      return cands.some((c) => typeof c === 'string' && re.test(c));
    }
    case '$options': return true; // read together with $regex
    case '$not': return !matchCondition(tag(arg) === '[object RegExp]' ? { $regex: arg } : arg, cands, scope);
    case '$all': {
      const list = arg as unknown[];
      return list.length > 0 && list.every((v) => cands.some((c) => refEquals(c, v)));
    }
    case '$elemMatch':
      return cands.some((c) => Array.isArray(c) && c.some((element) => matchElement(element, arg, scope)));
    case '$size': return cands.some((c) => Array.isArray(c) && c.length === arg);
    default: throw new Error(`reference evaluator: unknown operator ${op}`);
  }
}

/**
 * `$elemMatch`'s argument against one array element. Choice: in the condition form the element is
 * the only candidate (not expanded if it is itself an array); in the filter form the element is
 * the document, while `$key` / `$meta.*` still address the entry.
 */
function matchElement(element: unknown, c: unknown, scope: Scope): boolean {
  if (isOperatorObject(c)) return matchCondition(c, element === undefined ? [] : [element], scope);
  return matchFilter({ doc: element, row: scope.row }, c as Record<string, unknown>);
}

/**
 * A condition against the candidates of its path: an operator object (every operator must hold,
 * each on its own), or a bare value meaning `$eq`. Choice: `{}` counts as an operator object
 * (all of its zero keys start with `$`), so it matches everything.
 */
function matchCondition(cond: unknown, cands: readonly unknown[], scope: Scope): boolean {
  if (!isOperatorObject(cond)) return someEqual(cands, cond);
  return Object.keys(cond).every((op) => matchOperator(op, cond[op], cond, cands, scope));
}

function matchFilter(scope: Scope, filter: Record<string, unknown>): boolean {
  return Object.keys(filter).every((k) => {
    const arg = filter[k];
    switch (k) {
      case '$and': return (arg as Record<string, unknown>[]).every((f) => matchFilter(scope, f));
      case '$or': return (arg as Record<string, unknown>[]).some((f) => matchFilter(scope, f));
      case '$nor': return !(arg as Record<string, unknown>[]).some((f) => matchFilter(scope, f));
      default: return matchCondition(arg, candidates(scope, k), scope);
    }
  });
}

/** True when `row` matches `filter` (an absent filter matches everything). */
export function refMatches(row: RefRow, filter: Record<string, unknown> | undefined): boolean {
  return filter === undefined || matchFilter({ doc: row.value, row }, filter);
}

// ------------------------------------------------------------------ sort and paging

const byKey = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

type SortSpec = [path: string, direction: 1 | -1][];

function sortSpec(sort: RefQueryOptions['sort']): SortSpec {
  return Object.keys(sort ?? {}).map((p) => {
    const d = sort![p];
    return [p, d === -1 || d === 'desc' ? -1 : 1];
  });
}

/** A row's position: its sort values (undefined = missing) and its key. */
interface Position { values: unknown[]; key: string }

function positionOf(row: RefRow, spec: SortSpec, key = row.key): Position {
  return { values: spec.map(([p]) => sortValue(row, p)), key };
}

/** The result order: each sort path in turn (missing last in both directions), then the key. */
function comparePositions(a: Position, b: Position, spec: SortSpec): number {
  for (let i = 0; i < spec.length; i++) {
    const va = a.values[i];
    const vb = b.values[i];
    if (va === undefined || vb === undefined) {
      if (va === undefined && vb !== undefined) return 1;
      if (vb === undefined && va !== undefined) return -1;
      continue;
    }
    const c = refCompare(va, vb) * spec[i]![1];
    if (c !== 0) return c;
  }
  return byKey(a.key, b.key);
}

/**
 * Filter, sort (missing last both directions, ties by key ascending with JS `<`), then `after`,
 * `offset`, `limit`. `afterRow` is the record currently stored under `after` (or undefined); with a
 * sort and no such record the call fails with StorageConflictError, as the page says.
 * Choice: an empty `sort` object means no sort. Returns the keys in order.
 */
export function refQuery(rows: readonly RefRow[], q: RefQueryOptions, afterRow?: RefRow): string[] {
  const spec = sortSpec(q.sort);
  let result = rows
    .filter((row) => refMatches(row, q.filter as Record<string, unknown> | undefined))
    .map((row) => ({ row, position: positionOf(row, spec) }))
    .sort((a, b) => comparePositions(a.position, b.position, spec));
  if (q.after !== undefined) {
    let from: Position;
    if (spec.length === 0) {
      from = { values: [], key: q.after };
    } else {
      if (afterRow === undefined) throw new StorageConflictError(`reference: the record under after=${JSON.stringify(q.after)} is gone; restart paging`);
      from = positionOf(afterRow, spec, q.after);
    }
    result = result.filter((r) => comparePositions(r.position, from, spec) > 0);
  }
  const start = q.offset ?? 0;
  const end = q.limit === undefined ? undefined : start + q.limit;
  return result.slice(start, end).map((r) => r.row.key);
}
