/**
 * Filters (docs/queries.md "Operators"): validation and compilation into closures.
 *
 * A filter is validated completely before anything runs, then compiled once: every path becomes a
 * resolver and every condition a {@link Cond}, so `test` never re-reads the filter. The filter is
 * only ever read: no key of it is assigned to any object, and `__proto__` is refused wherever it
 * appears as a key, so a filter cannot pollute `Object.prototype`.
 */
import { invalid } from '../errors';
import type { Metadata } from '../types';
import { classOf, compareStrings, compareValues, equalValues, isDate, isPlainObject } from './order';
import { candidates, checkPath, quote } from './path';

/** What a filter sees for one entry. */
export interface Row { key: string; value: unknown; meta: Metadata }

/** Necessary conditions on one path, for the planner (see {@link CompiledFilter.constraints}). */
export interface PathConstraint {
  /**
   * Some candidate equals one of these ($eq, bare value, $in, the first value of $all). A null
   * here also stands for "missing". Only scalar-ish values: never class `other`. An empty list
   * means no entry can match.
   */
  in?: unknown[];
  /** A range bound: some candidate of the bound's class is above it (compareValues order). */
  lower?: { value: unknown; inclusive: boolean };
  /** A range bound: some candidate of the bound's class is below it. The class may differ from `lower`'s. */
  upper?: { value: unknown; inclusive: boolean };
}

/** A validated, compiled filter. */
export interface CompiledFilter {
  /** Does the entry match? */
  test(row: Row): boolean;
  /**
   * Necessary conditions for the planner, from the filter's top-level conjunction only (top-level
   * entries and nested top-level $and), keyed by path string ('a.b', '$meta.createdAt'; never
   * '$key'). For each path: every matching row has some candidate satisfying `in` (if present),
   * and some candidate (maybe a different one) satisfying `lower`, and some satisfying `upper`.
   * At most one `in` per path (the first met: intersecting two would be wrong, since different
   * candidates of one array may satisfy each) and the tightest lower/upper.
   * `$ne`, `$nin`, `$not`, `$or`, `$nor`, `$regex`, `$exists`, `$size`, `$elemMatch` produce none.
   */
  constraints: Map<string, PathConstraint>;
  /**
   * Constraints on `$key`, the same shape: exact keys (`in`, strings only; `[]` when no key can
   * match) or string bounds. Bounds are in code-point order (compareValues), not UTF-16 order.
   */
  keyConstraint?: PathConstraint;
}

/** Deepest nesting of objects and arrays in a filter (the filter object itself is level 1). */
export const MAX_FILTER_DEPTH = 32;
/** Longest accepted regular-expression source. */
export const MAX_REGEX_SOURCE = 1024;

/**
 * A compiled condition over the candidates of one path: `one` when there is exactly one candidate,
 * `many` for a list (`[]` = missing), `none` is the result when there is no candidate.
 */
interface Cond {
  one: (v: unknown) => boolean;
  many: (cands: readonly unknown[]) => boolean;
  none: boolean;
}

/** A compiled filter over a document (the entry's value, or an array element under $elemMatch). */
type Pred = (doc: unknown, row: Row) => boolean;

/** What a condition implies for the planner (only used in the top-level conjunction). */
type Hint = { in: unknown[] } | { bound: 'lower' | 'upper'; value: unknown; inclusive: boolean };

const hasOwn = Object.prototype.hasOwnProperty;
const regexpSource = Object.getOwnPropertyDescriptor(RegExp.prototype, 'source')!.get!;
const regexpFlags = Object.getOwnPropertyDescriptor(RegExp.prototype, 'flags')!.get!;
const typedTag = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype) as object, Symbol.toStringTag)!.get!;
const abufByteLength = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'byteLength')!.get!;

function isRegExp(v: unknown): v is RegExp {
  if (typeof v !== 'object' || v === null) return false;
  try { regexpSource.call(v); return v !== RegExp.prototype; } catch { return false; }
}

function isArrayBuffer(v: object): boolean {
  try { abufByteLength.call(v); return true; } catch { return false; }
}

/** A short description of a refused value for messages. */
function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v !== 'object') return typeof v === 'string' ? `the string ${quote(v)}` : `${typeof v} ${typeof v === 'symbol' ? '' : String(v)}`.trim();
  const tag = Object.prototype.toString.call(v).slice(8, -1);
  return tag === 'Object' ? 'an object that is not a plain object' : `a ${tag}`;
}

// --------------------------------------------------------------------------------------------
// Conditions
// --------------------------------------------------------------------------------------------

const NEVER: Cond = { one: () => false, many: () => false, none: false };

/** "Some candidate satisfies p"; `missing` is the result without candidates. */
function some(p: (v: unknown) => boolean, missing: boolean): Cond {
  return {
    one: p,
    many: (cs) => {
      if (cs.length === 0) return missing;
      for (let i = 0; i < cs.length; i++) if (p(cs[i])) return true;
      return false;
    },
    none: missing,
  };
}

function not(c: Cond): Cond {
  const { one, many } = c;
  return { one: (v) => !one(v), many: (cs) => !many(cs), none: !c.none };
}

function all(conds: Cond[]): Cond {
  if (conds.length === 1) return conds[0]!;
  if (conds.length === 2) {
    const [a, b] = conds as [Cond, Cond];
    return { one: (v) => a.one(v) && b.one(v), many: (cs) => a.many(cs) && b.many(cs), none: a.none && b.none };
  }
  return {
    one: (v) => conds.every((c) => c.one(v)),
    many: (cs) => conds.every((c) => c.many(cs)),
    none: conds.every((c) => c.none),
  };
}

/** Candidate predicate "equals v" (structural, NaN equals NaN, class other never). */
function equalsPred(v: unknown): (c: unknown) => boolean {
  switch (typeof v) {
    case 'string': case 'boolean': case 'bigint': return (c) => c === v;
    case 'number': return v === v ? (c) => c === v : (c) => c !== c && typeof c === 'number';
    default: return v === null ? (c) => c === null : (c) => typeof c === 'object' && c !== null && equalValues(c, v);
  }
}

/** Candidate predicate "equals one of list": a Set for primitives (SameValueZero: NaN = NaN, -0 = 0), a scan for the rest. */
function inPred(list: unknown[]): (c: unknown) => boolean {
  const prims = new Set<unknown>();
  const objs: unknown[] = [];
  for (const v of list) {
    if (typeof v === 'object' && v !== null) objs.push(v);
    else prims.add(v);
  }
  if (objs.length === 0) return (c) => prims.has(c);
  return (c) => (typeof c === 'object' && c !== null ? objs.some((o) => equalValues(c, o)) : prims.has(c));
}

type RangeOp = '$gt' | '$gte' | '$lt' | '$lte';

/** Candidate predicate of a range operator: only candidates of the bound's class can match. */
function rangePred(op: RangeOp, v: unknown): (c: unknown) => boolean {
  if (typeof v === 'number') {
    if (v !== v) { // NaN is the lowest number
      switch (op) {
        case '$gt': return (c) => typeof c === 'number' && c === c;
        case '$gte': return (c) => typeof c === 'number';
        case '$lt': return () => false;
        case '$lte': return (c) => typeof c === 'number' && c !== c;
      }
    }
    switch (op) {
      case '$gt': return (c) => typeof c === 'number' && c > v;
      case '$gte': return (c) => typeof c === 'number' && c >= v;
      case '$lt': return (c) => typeof c === 'number' && (c < v || c !== c);
      case '$lte': return (c) => typeof c === 'number' && (c <= v || c !== c);
    }
  }
  if (typeof v === 'string' && !/[\uD800-\uFFFF]/.test(v)) {
    // Without units from U+D800 in the bound, UTF-16 order against it is code-point order.
    switch (op) {
      case '$gt': return (c) => typeof c === 'string' && c > v;
      case '$gte': return (c) => typeof c === 'string' && c >= v;
      case '$lt': return (c) => typeof c === 'string' && c < v;
      case '$lte': return (c) => typeof c === 'string' && c <= v;
    }
  }
  const cls = classOf(v);
  const test = (c: unknown): number | undefined => {
    if (classOf(c) !== cls) return undefined;
    return typeof c === 'string' ? compareStrings(c, v as string) : compareValues(c, v);
  };
  switch (op) {
    case '$gt': return (c) => { const r = test(c); return r !== undefined && r > 0; };
    case '$gte': return (c) => { const r = test(c); return r !== undefined && r >= 0; };
    case '$lt': return (c) => { const r = test(c); return r !== undefined && r < 0; };
    case '$lte': return (c) => { const r = test(c); return r !== undefined && r <= 0; };
  }
}

/** Applies a condition to a final value (a metadata field): undefined is missing, an array adds its elements. */
function applyFinal(cond: Cond, v: unknown): boolean {
  if (v === undefined) return cond.none;
  if (!Array.isArray(v)) return cond.one(v);
  const cs: unknown[] = [v];
  for (let k = 0; k < v.length; k++) if (v[k] !== undefined) cs.push(v[k]);
  return cond.many(cs);
}

/**
 * The predicate of `path: cond` on a document. Walks plain objects without allocating; only an
 * array on the way (fan-out) or at the end builds a candidate list.
 */
function pathPred(segments: string[], cond: Cond): (doc: unknown) => boolean {
  const n = segments.length;
  const { one, none } = cond;
  if (n === 1) {
    const s = segments[0]!;
    return (doc) => {
      if (typeof doc !== 'object' || doc === null) return none;
      if (Array.isArray(doc)) return cond.many(candidates(doc, segments));
      if (!isPlainObject(doc)) return none;
      const v = (doc as Record<string, unknown>)[s];
      if (v === undefined || !hasOwn.call(doc, s)) return none;
      if (typeof v !== 'object' || v === null || !Array.isArray(v)) return one(v);
      return applyFinal(cond, v);
    };
  }
  return (doc) => {
    let v = doc;
    for (let i = 0; i < n; i++) {
      if (typeof v !== 'object' || v === null) return none;
      if (Array.isArray(v)) return cond.many(candidates(v, i === 0 ? segments : segments.slice(i)));
      if (!isPlainObject(v)) return none;
      const s = segments[i]!;
      const next = (v as Record<string, unknown>)[s];
      if (next === undefined || !hasOwn.call(v, s)) return none;
      v = next;
    }
    return Array.isArray(v) ? applyFinal(cond, v) : one(v);
  };
}

// --------------------------------------------------------------------------------------------
// Validation and compilation
// --------------------------------------------------------------------------------------------

const LOGICAL = new Set(['$and', '$or', '$nor']);
const RANGE_OPS: ReadonlySet<string> = new Set(['$gt', '$gte', '$lt', '$lte']);
const OPERATORS = new Set([
  '$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists', '$regex', '$options', '$not', '$all', '$elemMatch', '$size',
]);
/** Never read: $key / $meta are refused inside $elemMatch filters. */
const NO_ROW: Row = { key: '', value: undefined, meta: { createdAt: 0, updatedAt: 0, version: 0 } };

function refuseSymbols(o: object, where: string): void {
  if (Object.getOwnPropertySymbols(o).length > 0) invalid(`${where}: symbol keys are refused in filters`);
}

class Compiler {
  readonly constraints = new Map<string, PathConstraint>();
  keyConstraint: PathConstraint | undefined;

  /**
   * A filter object at nesting level `depth`. `top`: part of the top-level conjunction (collects
   * constraints). `inElem`: inside a $elemMatch filter, where $key and $meta have no meaning.
   */
  filter(f: unknown, where: string, depth: number, top: boolean, inElem: boolean): Pred {
    if (!isPlainObject(f)) invalid(`${where}: a filter must be a plain object, got ${kind(f)}`);
    if (depth > MAX_FILTER_DEPTH) invalid(`${where}: the filter nests deeper than ${MAX_FILTER_DEPTH} levels`);
    refuseSymbols(f, where);
    const preds: Pred[] = [];
    for (const k of Object.keys(f)) {
      if (k === '__proto__') invalid(`${where}: the key "__proto__" is refused`);
      const w = `${where}.${k}`;
      const v = f[k];
      if (k.charCodeAt(0) === 0x24 /* $ */) {
        if (LOGICAL.has(k)) {
          preds.push(this.logical(k, v, w, depth + 1, top && k === '$and', inElem));
        } else if (k === '$key' || k === '$meta' || k.startsWith('$meta.')) {
          if (inElem) invalid(`${w}: ${k} addresses the entry and is refused inside $elemMatch`);
          preds.push(this.rowField(k, v, where, w, depth + 1, top));
        } else if (k === '$where') {
          invalid(`${w}: $where is refused: filters are never executed as code`);
        } else {
          const hint = OPERATORS.has(k) ? ` (${k} belongs in a condition: { field: { ${k}: … } })` : '';
          invalid(`${w}: unknown filter operator ${k}${hint}; a filter's $-keys are $and, $or, $nor, $key and $meta.<field>`);
        }
      } else {
        const segments = checkPath(k, where);
        const hints: Hint[] | undefined = top ? [] : undefined;
        const p = pathPred(segments, this.cond(v, w, depth + 1, hints, inElem));
        if (hints !== undefined) this.hint(k, hints);
        preds.push(p);
      }
    }
    return conjunction(preds);
  }

  private logical(op: string, v: unknown, where: string, depth: number, top: boolean, inElem: boolean): Pred {
    if (!Array.isArray(v) || v.length === 0) invalid(`${where}: ${op} needs a non-empty array of filters, got ${kind(v)}`);
    if (depth > MAX_FILTER_DEPTH) invalid(`${where}: the filter nests deeper than ${MAX_FILTER_DEPTH} levels`);
    const preds: Pred[] = [];
    for (let i = 0; i < v.length; i++) preds.push(this.filter(v[i], `${where}[${i}]`, depth + 1, top, inElem));
    if (op === '$and') return conjunction(preds);
    const any: Pred = (doc, row) => {
      for (let i = 0; i < preds.length; i++) if (preds[i]!(doc, row)) return true;
      return false;
    };
    return op === '$or' ? any : (doc, row) => !any(doc, row);
  }

  private rowField(k: string, v: unknown, where: string, w: string, depth: number, top: boolean): Pred {
    const segments = checkPath(k, where, true);
    const hints: Hint[] | undefined = top ? [] : undefined;
    const cond = this.cond(v, w, depth, hints, false);
    if (k === '$key') {
      if (hints !== undefined) this.keyHint(hints);
      const { one } = cond;
      return (_doc, row) => one(row.key);
    }
    if (hints !== undefined) this.hint(k, hints);
    const field = segments[1] as keyof Metadata;
    return (_doc, row) => applyFinal(cond, row.meta[field]);
  }

  /** A condition: an operator object, or a bare value meaning { $eq: value }. `depth` is its level. */
  cond(c: unknown, where: string, depth: number, hints: Hint[] | undefined, inElem: boolean): Cond {
    if (isOperatorObject(c, where)) return this.ops(c, where, depth, hints, inElem);
    if (isRegExp(c)) invalid(`${where}: a bare RegExp is refused; use { $regex: … }`);
    checkValue(c, where, depth);
    hints?.push({ in: [c] });
    return some(equalsPred(c), c === null);
  }

  /** The operators of one operator object, all of which must match. */
  private ops(o: Record<string, unknown>, where: string, depth: number, hints: Hint[] | undefined, inElem: boolean): Cond {
    if (depth > MAX_FILTER_DEPTH) invalid(`${where}: the filter nests deeper than ${MAX_FILTER_DEPTH} levels`);
    refuseSymbols(o, where);
    const conds: Cond[] = [];
    if (hasOwn.call(o, '$options') && !hasOwn.call(o, '$regex')) invalid(`${where}.$options: $options needs $regex in the same object`);
    for (const k of Object.keys(o)) {
      const w = `${where}.${k}`;
      const v = o[k];
      switch (k) {
        case '$eq': case '$ne': {
          checkValue(v, w, depth + 1);
          const c = some(equalsPred(v), v === null);
          if (k === '$eq') hints?.push({ in: [v] });
          conds.push(k === '$eq' ? c : not(c));
          break;
        }
        case '$gt': case '$gte': case '$lt': case '$lte': {
          checkValue(v, w, depth + 1);
          conds.push(some(rangePred(k, v), false));
          hints?.push({ bound: k === '$gt' || k === '$gte' ? 'lower' : 'upper', value: v, inclusive: k === '$gte' || k === '$lte' });
          break;
        }
        case '$in': case '$nin': {
          const list = checkList(v, w, depth + 1, k);
          const c = some(inPred(list), list.includes(null));
          if (k === '$in') hints?.push({ in: list });
          conds.push(k === '$in' ? c : not(c));
          break;
        }
        case '$all': {
          const list = checkList(v, w, depth + 1, k);
          if (list.length === 0) {
            conds.push(NEVER);
            hints?.push({ in: [] });
          } else {
            conds.push(all(list.map((x) => some(equalsPred(x), false))));
            hints?.push({ in: [list[0]] });
          }
          break;
        }
        case '$exists':
          if (typeof v !== 'boolean') invalid(`${w}: must be true or false, got ${kind(v)}`);
          conds.push(v ? not(NEVER_MISSING) : NEVER_MISSING);
          break;
        case '$regex': {
          const re = compileRegex(v, hasOwn.call(o, '$options') ? o.$options : undefined, where);
          conds.push(some((c) => typeof c === 'string' && re.test(c), false));
          break;
        }
        case '$options':
          break; // read with $regex
        case '$not': {
          if (isRegExp(v)) {
            const re = compileRegex(v, undefined, w);
            conds.push(not(some((c) => typeof c === 'string' && re.test(c), false)));
          } else if (isOperatorObject(v, w)) {
            conds.push(not(this.ops(v, w, depth + 1, undefined, inElem)));
          } else {
            invalid(`${w}: $not needs a RegExp or a non-empty operator object such as { $gt: 1 }, got ${kind(v)}`);
          }
          break;
        }
        case '$elemMatch':
          conds.push(this.elemMatch(v, w, depth + 1, inElem));
          break;
        case '$size':
          if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) invalid(`${w}: must be a non-negative integer, got ${kind(v)}`);
          conds.push(some((c) => Array.isArray(c) && c.length === v, false));
          break;
        case '$where':
          invalid(`${w}: $where is refused: filters are never executed as code`);
          break;
        default:
          invalid(`${w}: unknown operator ${k}${LOGICAL.has(k) ? ` (${k} belongs at filter level, not in a condition)` : ''}`);
      }
    }
    return all(conds);
  }

  private elemMatch(v: unknown, where: string, depth: number, inElem: boolean): Cond {
    if (!isPlainObject(v)) invalid(`${where}: $elemMatch needs a plain object (a condition or a filter), got ${kind(v)}`);
    const keys = Object.keys(v);
    let element: (e: unknown) => boolean;
    if (keys.length > 0 && keys.every((k) => k.charCodeAt(0) === 0x24)) {
      // Condition form: the element is the one candidate (an undefined element or hole is missing).
      const c = this.ops(v, where, depth, undefined, inElem);
      element = (e) => (e === undefined ? c.none : c.one(e));
    } else {
      const p = this.filter(v, where, depth, false, true);
      element = (e) => p(e, NO_ROW);
    }
    const hasMatch = (c: unknown): boolean => {
      if (!Array.isArray(c)) return false;
      for (let k = 0; k < c.length; k++) if (element(c[k])) return true;
      return false;
    };
    return some(hasMatch, false);
  }

  /** Records what a top-level `path: cond` implies. */
  private hint(path: string, hints: Hint[]): void {
    if (hints.length === 0) return;
    let pc = this.constraints.get(path);
    if (pc === undefined) this.constraints.set(path, (pc = {}));
    for (const h of hints) {
      if ('in' in h) pc.in ??= h.in.slice();
      else tighten(pc, h.bound, h.value, h.inclusive);
    }
  }

  /** Same for `$key`: only strings can equal a key; a bound of another class matches no key. */
  private keyHint(hints: Hint[]): void {
    if (hints.length === 0) return;
    const pc = (this.keyConstraint ??= {});
    for (const h of hints) {
      if ('in' in h) pc.in ??= h.in.filter((x) => typeof x === 'string');
      else if (typeof h.value !== 'string') pc.in = [];
      else tighten(pc, h.bound, h.value, h.inclusive);
    }
  }
}

/** An `$exists: false` condition: true exactly when there is no candidate. */
const NEVER_MISSING: Cond = { one: () => false, many: (cs) => cs.length === 0, none: true };

function tighten(pc: PathConstraint, side: 'lower' | 'upper', value: unknown, inclusive: boolean): void {
  const old = pc[side];
  if (old === undefined) { pc[side] = { value, inclusive }; return; }
  const r = compareValues(value, old.value);
  if (r === 0) { pc[side] = { value: old.value, inclusive: old.inclusive && inclusive }; return; }
  if (side === 'lower' ? r > 0 : r < 0) pc[side] = { value, inclusive };
}

function conjunction(preds: Pred[]): Pred {
  switch (preds.length) {
    case 0: return () => true;
    case 1: return preds[0]!;
    case 2: { const [a, b] = preds as [Pred, Pred]; return (doc, row) => a(doc, row) && b(doc, row); }
    default: return (doc, row) => {
      for (let i = 0; i < preds.length; i++) if (!preds[i]!(doc, row)) return false;
      return true;
    };
  }
}

/**
 * Is `c` an operator object (a non-empty plain object whose keys all start with `$`)? A plain
 * object mixing `$`-keys and other keys is refused; `{}` and objects without `$`-keys are values.
 */
function isOperatorObject(c: unknown, where: string): c is Record<string, unknown> {
  if (!isPlainObject(c)) return false;
  const keys = Object.keys(c);
  if (keys.length === 0 || keys[0]!.charCodeAt(0) !== 0x24) {
    if (keys.some((k) => k.charCodeAt(0) === 0x24)) invalid(`${where}: an object mixing $-operators and field names is refused (${keys.map((k) => quote(k)).join(', ')})`);
    return false;
  }
  const field = keys.find((k) => k.charCodeAt(0) !== 0x24);
  if (field !== undefined) invalid(`${where}: an object mixing $-operators and field names is refused (field ${quote(field)})`);
  return true;
}

function checkList(v: unknown, where: string, depth: number, op: string): unknown[] {
  if (!Array.isArray(v)) invalid(`${where}: ${op} needs an array, got ${kind(v)}`);
  checkValue(v, where, depth);
  return v;
}

/**
 * Validates a value used in a filter: null, booleans, numbers, bigints, strings, plain objects,
 * arrays, Dates, typed arrays and ArrayBuffers, nested at most {@link MAX_FILTER_DEPTH} levels.
 */
function checkValue(v: unknown, where: string, depth: number): void {
  switch (typeof v) {
    case 'string': case 'number': case 'boolean': case 'bigint': return;
    case 'undefined': invalid(`${where}: undefined is not a filter value (for a missing field use { $exists: false } or null)`);
    case 'function': invalid(`${where}: functions are refused in filters (a filter is never executed as code)`);
    case 'symbol': invalid(`${where}: symbols are refused in filters`);
    default: break;
  }
  if (v === null) return;
  const o = v as object;
  if (depth > MAX_FILTER_DEPTH) invalid(`${where}: the filter nests deeper than ${MAX_FILTER_DEPTH} levels`);
  if (Array.isArray(o)) {
    for (let i = 0; i < o.length; i++) {
      if (!hasOwn.call(o, i)) invalid(`${where}[${i}]: a hole in an array is refused (undefined is not a filter value)`);
      checkValue(o[i], `${where}[${i}]`, depth + 1);
    }
    return;
  }
  if (isPlainObject(o)) {
    refuseSymbols(o, where);
    for (const k of Object.keys(o)) {
      if (k === '__proto__') invalid(`${where}: the key "__proto__" is refused`);
      checkValue(o[k], `${where}.${k}`, depth + 1);
    }
    return;
  }
  if (isDate(o)) return;
  if (ArrayBuffer.isView(o) ? typedTag.call(o) !== undefined : isArrayBuffer(o)) return;
  if (isRegExp(o)) invalid(`${where}: a RegExp is only accepted under $regex or $not`);
  invalid(`${where}: ${kind(o)} is refused in filters; values are null, booleans, numbers, bigints, strings, plain objects, arrays, Dates, typed arrays and ArrayBuffers`);
}

/** `$regex` (a string or a RegExp, its flags kept but g and y) with `$options` letters added. */
function compileRegex(re: unknown, options: unknown, where: string): RegExp {
  let source: string;
  let flags: string;
  if (typeof re === 'string') {
    source = re;
    flags = '';
  } else if (isRegExp(re)) {
    source = regexpSource.call(re) as string;
    flags = (regexpFlags.call(re) as string).replace(/[gy]/g, '');
  } else {
    invalid(`${where}.$regex: must be a string or a RegExp, got ${kind(re)}`);
  }
  if (options !== undefined) {
    if (typeof options !== 'string' || !/^[imsu]*$/.test(options)) {
      invalid(`${where}.$options: only the letters i, m, s and u are allowed, got ${typeof options === 'string' ? quote(options) : kind(options)}`);
    }
    for (const ch of options) if (!flags.includes(ch)) flags += ch;
  }
  if (source.length > MAX_REGEX_SOURCE) invalid(`${where}.$regex: the pattern is ${source.length} characters long; at most ${MAX_REGEX_SOURCE} are allowed`);
  try {
    return new RegExp(source, flags);
  } catch (err) {
    return invalid(`${where}.$regex: the pattern does not compile: ${(err as Error).message}`, err);
  }
}

/**
 * Validates a filter (throwing StorageValidationError, see the "Refused" list of docs/queries.md)
 * and compiles it. `undefined` and `{}` match every entry. `where` names the argument in messages.
 *
 * @example
 * ```ts
 * const f = compileFilter({ age: { $gte: 18 }, tags: 'admin' });
 * f.test({ key: 'user.1', value: { age: 20, tags: ['admin'] }, meta });  // true
 * f.constraints.get('age');  // { lower: { value: 18, inclusive: true } }
 * ```
 */
export function compileFilter(filter: unknown, where = 'filter'): CompiledFilter {
  if (filter === undefined) return { test: () => true, constraints: new Map() };
  const c = new Compiler();
  const pred = c.filter(filter, where, 1, true, false);
  const out: CompiledFilter = { test: (row) => pred(row.value, row), constraints: c.constraints };
  if (c.keyConstraint !== undefined) out.keyConstraint = c.keyConstraint;
  return out;
}
