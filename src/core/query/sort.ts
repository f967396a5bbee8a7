/**
 * Sort specifications (docs/queries.md "Sort, paging"): `{ path: 1 | -1 | 'asc' | 'desc', … }`
 * in priority order, values by plain property access, missing last in both directions, and the
 * key (ascending, UTF-16 code units) as the final tie-break, so the order is total.
 */
import { invalid } from '../errors';
import type { Row } from './filter';
import { compareStrings, compareValues, isPlainObject } from './order';
import { checkPath, quote, rowSortValue } from './path';

/** Most fields a sort may have. */
export const MAX_SORT_FIELDS = 8;

// Results of compareField that ignore the direction: a missing value sorts last either way.
const MISSING_LAST = 2;
const MISSING_FIRST = -2;

/** Ascending comparison of two sort values (-1/0/1), or MISSING_LAST/MISSING_FIRST when exactly one is missing. */
function compareField(x: unknown, y: unknown): number {
  if (typeof x === 'string' && typeof y === 'string') {
    if (x === y) return 0;
    const r = compareStrings(x, y);
    return r < 0 ? -1 : 1;
  }
  if (typeof x === 'number' && typeof y === 'number' && x === x && y === y) return x < y ? -1 : x > y ? 1 : 0;
  if (x === undefined || y === undefined) return x === y ? 0 : x === undefined ? MISSING_LAST : MISSING_FIRST;
  const r = compareValues(x, y);
  return r < 0 ? -1 : r > 0 ? 1 : 0;
}

/** A validated sort. */
export interface CompiledSort {
  fields: { path: string; segments: string[]; dir: 1 | -1 }[];
  /** Total order over rows: fields in priority, missing last in both directions, then key ascending (JS <). */
  compare(a: Row, b: Row): number;
  /** The sort values of a row (for cursor positions), aligned with fields; undefined where missing. */
  values(row: Row): unknown[];
  /**
   * `compare` on sort values already read with `values` (no key tie-break): lets a caller read each
   * row's values once before sorting many rows.
   */
  compareValueLists(a: readonly unknown[], b: readonly unknown[]): number;
}

const ObjectProto = Object.prototype;
const hasOwn = ObjectProto.hasOwnProperty;
const getProto = Object.getPrototypeOf;

/** The sort value reader of a path: {@link rowSortValue}, without its dispatch for the common cases. */
function getter(segments: string[]): (row: Row) => unknown {
  const first = segments[0]!;
  if (first === '$key') return (row) => row.key;
  if (first === '$meta') {
    const field = segments[1] as keyof Row['meta'];
    return (row) => row.meta[field];
  }
  if (segments.length > 1) return (row) => rowSortValue(row, segments);
  return (row) => {
    const v = row.value;
    if (typeof v !== 'object' || v === null || (getProto(v) !== ObjectProto && (Array.isArray(v) || !isPlainObject(v)))) return rowSortValue(row, segments);
    const x = (v as Record<string, unknown>)[first];
    return x === undefined || !hasOwn.call(v, first) ? undefined : x;
  };
}

function direction(v: unknown, where: string): 1 | -1 {
  if (v === 1 || v === 'asc') return 1;
  if (v === -1 || v === 'desc') return -1;
  return invalid(`${where}: a sort direction is 1, -1, 'asc' or 'desc', got ${typeof v === 'string' ? quote(v) : String(v)}`);
}

/**
 * Validates `{ path: 1|-1|'asc'|'desc' }` (a plain object with 1 to {@link MAX_SORT_FIELDS}
 * fields; paths may be `$key` and `$meta.<field>`) and compiles it; undefined when `sort` is
 * undefined. `where` names the argument in messages.
 *
 * @example
 * ```ts
 * const s = compileSort({ age: -1, name: 'asc' })!;
 * rows.sort(s.compare);
 * ```
 */
export function compileSort(sort: unknown, where = 'sort'): CompiledSort | undefined {
  if (sort === undefined) return undefined;
  if (!isPlainObject(sort)) invalid(`${where}: must be a plain object such as { createdAt: -1 }`);
  if (Object.getOwnPropertySymbols(sort).length > 0) invalid(`${where}: symbol keys are refused`);
  const keys = Object.keys(sort);
  if (keys.length === 0) invalid(`${where}: needs at least one field`);
  if (keys.length > MAX_SORT_FIELDS) invalid(`${where}: has ${keys.length} fields; at most ${MAX_SORT_FIELDS} are allowed`);
  const fields = keys.map((path) => {
    const segments = checkPath(path, where, true);
    return { path, segments, dir: direction(sort[path], `${where}.${path}`) };
  });
  const n = fields.length;
  const getters = fields.map((f) => getter(f.segments));
  const dirs = fields.map((f) => f.dir);
  const values = (row: Row): unknown[] => getters.map((get) => get(row));
  const compare = (a: Row, b: Row): number => {
    for (let i = 0; i < n; i++) {
      const get = getters[i]!;
      const r = compareField(get(a), get(b));
      if (r !== 0) return r === MISSING_LAST || r === MISSING_FIRST ? r : r < 0 ? -dirs[i]! : dirs[i]!;
    }
    return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
  };
  const compareValueLists = (a: readonly unknown[], b: readonly unknown[]): number => {
    for (let i = 0; i < n; i++) {
      const r = compareField(a[i], b[i]);
      if (r !== 0) return r === MISSING_LAST || r === MISSING_FIRST ? r : r < 0 ? -dirs[i]! : dirs[i]!;
    }
    return 0;
  };
  return { fields, compare, values, compareValueLists };
}
