/**
 * Dotted paths of queries, sorts and indexes (docs/queries.md "Paths through arrays"): validation
 * and the three ways of reading a path: candidate values (filters, indexes), plain property access
 * (sort) and whether the candidates came through an array (multikey indexes).
 *
 * Only own properties of plain objects and elements of arrays are ever read, and the forbidden
 * segments (`__proto__`, `constructor`, `prototype`) are refused before any read.
 */
import { invalid } from '../errors';
import { isPlainObject } from './order';

/** Most segments a path may have. */
export const MAX_PATH_SEGMENTS = 32;
/** Longest path, in UTF-16 code units. */
export const MAX_PATH_LENGTH = 1024;
/** The metadata fields `$meta.<field>` may name. */
export const META_FIELDS: readonly string[] = ['createdAt', 'updatedAt', 'expiresAt', 'ttl', 'version', 'tags'];

const FORBIDDEN: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
const hasOwn = Object.prototype.hasOwnProperty;

/** A string quoted for a message, shortened when long. */
export function quote(s: string): string {
  return JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s);
}

/**
 * Validates a dotted path and returns its segments: `'a.b'` → `['a', 'b']`, `'$key'` →
 * `['$key']`, `'$meta.tags'` → `['$meta', 'tags']` (the last two only when `allowMeta`).
 * `where` names the argument in messages.
 *
 * @throws StorageValidationError for a non-string, an empty segment, `__proto__` / `constructor` /
 *   `prototype`, more than {@link MAX_PATH_SEGMENTS} segments or {@link MAX_PATH_LENGTH} characters,
 *   and a first segment starting with `$` other than `$key` / `$meta.<field>` when allowed.
 */
export function checkPath(path: unknown, where: string, allowMeta = false): string[] {
  if (typeof path !== 'string') invalid(`${where}: a path must be a string, got ${typeof path}`);
  if (path.length > MAX_PATH_LENGTH) invalid(`${where}: path is ${path.length} characters long; at most ${MAX_PATH_LENGTH} are allowed`);
  const segments = path.split('.');
  if (segments.length > MAX_PATH_SEGMENTS) {
    invalid(`${where}: path ${quote(path)} has ${segments.length} segments; at most ${MAX_PATH_SEGMENTS} are allowed`);
  }
  for (const s of segments) {
    if (s === '') invalid(`${where}: path ${quote(path)} has an empty segment (empty path, "a..b", or a leading or trailing dot)`);
    if (FORBIDDEN.has(s)) invalid(`${where}: path ${quote(path)}: the segment "${s}" is refused (prototype access)`);
  }
  if (path.charCodeAt(0) === 0x24 /* $ */) {
    if (!allowMeta) invalid(`${where}: path ${quote(path)} starts with "$"; $key and $meta.<field> are not allowed here`);
    const ok = path === '$key' || (segments[0] === '$meta' && segments.length === 2 && META_FIELDS.includes(segments[1]!));
    if (!ok) {
      invalid(`${where}: path ${quote(path)} starts with "$"; the only such paths are $key and $meta.<${META_FIELDS.join('|')}>`);
    }
  }
  return segments;
}

/** The array index a segment of decimal digits names (`'01'` → 1), or -1 for any other segment. */
export function segmentIndex(s: string): number {
  if (s.length === 0) return -1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
  }
  return Number(s);
}

/** Own property of a plain object, `__proto__` included as data (JSON.parse can create it). */
function ownValue(o: object, k: string): unknown {
  if (!hasOwn.call(o, k)) return undefined;
  return k === '__proto__' ? Object.getOwnPropertyDescriptor(o, k)?.value : (o as Record<string, unknown>)[k];
}

/** Pushes the candidates of `segments[i..]` in `v` onto `out`; true when an array was fanned out or is the final value. */
function collect(v: unknown, segments: readonly string[], i: number, out: unknown[] | undefined): boolean {
  for (; i < segments.length; i++) {
    if (typeof v !== 'object' || v === null) return false;
    const s = segments[i]!;
    if (Array.isArray(v)) {
      const idx = segmentIndex(s);
      if (idx >= 0) {
        v = idx < v.length ? v[idx] : undefined; // no fan-out: that element only
        continue;
      }
      // Fan-out one level: nested arrays and non-plain elements give no candidate.
      for (let k = 0; k < v.length; k++) {
        const e: unknown = v[k];
        if (isPlainObject(e)) collect(e, segments, i, out);
      }
      return true;
    }
    if (!isPlainObject(v)) return false;
    v = ownValue(v, s);
  }
  if (v === undefined) return false;
  if (out !== undefined) out.push(v);
  if (!Array.isArray(v)) return false;
  if (out !== undefined) {
    for (let k = 0; k < v.length; k++) {
      const e: unknown = v[k];
      if (e !== undefined) out.push(e);
    }
  }
  return true;
}

/**
 * Candidate values of a path in a value (docs/queries.md "Paths through arrays"); `[]` when
 * missing. `segments` come from {@link checkPath} (field paths; see {@link rowCandidates} for
 * `$key` / `$meta`).
 */
export function candidates(value: unknown, segments: readonly string[]): unknown[] {
  const out: unknown[] = [];
  collect(value, segments, 0, out);
  return out;
}

/** Did candidates() fan out through an array or return elements of an array (i.e. multikey)? */
export function isMultikey(value: unknown, segments: readonly string[]): boolean {
  return collect(value, segments, 0, undefined);
}

function access(v: unknown, segments: readonly string[], i: number): unknown {
  for (; i < segments.length; i++) {
    if (typeof v !== 'object' || v === null) return undefined;
    const s = segments[i]!;
    if (Array.isArray(v)) {
      const idx = segmentIndex(s);
      if (idx < 0 || idx >= v.length) return undefined;
      v = v[idx];
    } else if (isPlainObject(v)) {
      v = ownValue(v, s);
    } else {
      return undefined;
    }
  }
  return v;
}

/** Plain property access used by sort (numeric segments index arrays, no fan-out); undefined when missing. */
export function sortValue(value: unknown, segments: readonly string[]): unknown {
  return access(value, segments, 0);
}

/** What a path can address in an entry (structurally the filter's Row). */
export interface PathSource { key: string; value: unknown; meta: object }

/** {@link candidates} of any checked path in an entry: `$key` → the key, `$meta.x` → the metadata field, others → the value. */
export function rowCandidates(row: PathSource, segments: readonly string[]): unknown[] {
  const first = segments[0];
  if (first === '$key') return [row.key];
  const out: unknown[] = [];
  if (first === '$meta') collect(row.meta, segments, 1, out);
  else collect(row.value, segments, 0, out);
  return out;
}

/** {@link sortValue} of any checked path in an entry (`$key`, `$meta.x` or a field path). */
export function rowSortValue(row: PathSource, segments: readonly string[]): unknown {
  const first = segments[0];
  if (first === '$key') return row.key;
  if (first === '$meta') return access(row.meta, segments, 1);
  return access(row.value, segments, 0);
}
