/**
 * Keys and patterns. A key is a non-empty, well-formed UTF-16 string of at most
 * {@link MAX_KEY_BYTES} UTF-8 bytes. A pattern is a dotted glob:
 * - `*` matches any run of characters without a dot (one segment or part of one): `users.*`;
 * - `**` matches any run of characters, dots included (any depth): `users.**`;
 * - `\` escapes the next character, so `a\*b` matches the key `a*b` literally;
 * - a pattern without wildcards matches exactly that key.
 * The literal text before the first wildcard is the pattern's prefix: engines read only that range.
 */
import { invalid } from './errors';

/** Longest key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

/** Throws StorageValidationError unless `key` is a valid key. */
export function checkKey(key: unknown, what = 'key'): asserts key is string {
  if (typeof key !== 'string') invalid(`${what} must be a string, got ${describe(key)}`);
  if (key.length === 0) invalid(`${what} must not be empty`);
  if (key.length * 3 > MAX_KEY_BYTES && utf8Length(key) > MAX_KEY_BYTES) {
    invalid(`${what} is longer than ${MAX_KEY_BYTES} UTF-8 bytes`);
  }
  if (!key.isWellFormed()) invalid(`${what} contains a lone surrogate (not valid UTF-16)`);
}

/** UTF-8 byte length of a well-formed string. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) { n += 4; i++; }
    else n += 3;
  }
  return n;
}

/** A compiled pattern: the literal prefix to range-read and a test for each key in it. */
export interface Pattern {
  readonly source: string;
  /** Literal text before the first wildcard. */
  readonly prefix: string;
  /** True when the pattern has no wildcard: it names one key. */
  readonly exact: boolean;
  /** Does `key` match? Only called on keys that start with `prefix`. */
  matches(key: string): boolean;
}

const patternCache = new Map<string, Pattern>();

/** Parses and validates a pattern; `StorageValidationError` names what is wrong. */
export function compilePattern(source: unknown): Pattern {
  if (typeof source === 'string') {
    const hit = patternCache.get(source);
    if (hit) return hit;
  }
  if (typeof source !== 'string') invalid(`pattern must be a string, got ${describe(source)}`);
  if (source.length === 0) invalid('pattern must not be empty (use "**" for every key)');
  if (source.length * 3 > MAX_KEY_BYTES * 2 && utf8Length(source) > MAX_KEY_BYTES * 2) {
    invalid(`pattern is longer than ${MAX_KEY_BYTES * 2} UTF-8 bytes`);
  }
  if (!source.isWellFormed()) invalid('pattern contains a lone surrogate (not valid UTF-16)');

  let literal = '';
  let prefix: string | undefined;
  let wildAt = -1;
  let regex = '';
  for (let i = 0; i < source.length; i++) {
    const ch = source[i]!;
    if (ch === '\\') {
      const next = source[i + 1];
      if (next === undefined) invalid(`pattern "${source}" ends with a lone "\\"`);
      literal += next;
      regex += escapeRegex(next);
      i++;
    } else if (ch === '*') {
      if (prefix === undefined) {
        prefix = literal;
        wildAt = i;
      }
      if (source[i + 1] === '*') {
        if (source[i + 2] === '*') invalid(`pattern "${source}" has "***": use "*" (one segment) or "**" (any depth)`);
        regex += '[^]*';
        i++;
      } else {
        regex += '[^.]*';
      }
    } else {
      literal += ch;
      regex += escapeRegex(ch);
    }
  }
  const exact = prefix === undefined;
  const rest = exact ? '' : source.slice(wildAt);
  const at = (prefix ?? literal).length;
  // The two shapes nearly every call uses get matchers without a regular expression.
  const matches: (key: string) => boolean = exact
    ? (key) => key === literal
    : rest === '**'
      ? () => true // every key in the prefix range matches
      : rest === '*'
        ? (key) => key.indexOf('.', at) === -1
        : ((re) => (key: string) => re.test(key))(new RegExp(`^${regex}$`));
  const pattern: Pattern = { source, prefix: prefix ?? literal, exact, matches };
  if (patternCache.size > 1000) patternCache.clear();
  patternCache.set(source, pattern);
  return pattern;
}

function escapeRegex(ch: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(ch) ? `\\${ch}` : ch;
}

/** Short description of a bad argument for messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return v.length > 40 ? `a string of length ${v.length}` : JSON.stringify(v);
  if (typeof v === 'object') return 'an object';
  return typeof v === 'number' || typeof v === 'boolean' ? `${typeof v} ${String(v)}` : typeof v;
}

/** Validates a collection name: a key prefix without wildcards, escapes, empty segments or control characters. */
export function checkCollection(collection: unknown, what = 'collection'): string {
  if (typeof collection !== 'string' || collection === '' || collection.length > 512 || /[*\\\u0000\u0001]/.test(collection) || collection.startsWith('.') || collection.endsWith('.') || collection.includes('..')) {
    invalid(`${what} must be a non-empty key prefix without wildcards, empty segments or control characters, got ${describe(collection)}`);
  }
  return collection;
}
