/**
 * The total order of values used by queries, sorting and index keys (docs/queries.md "Values,
 * classes and order"): class ranks, comparison, structural equality, and an order-preserving
 * string encoding for index keys.
 *
 * Invariants shared by {@link compareValues}, {@link equalValues} and {@link encodeOrdered} (they
 * must agree, an index is only a faster way to evaluate a filter):
 * - inside an object, a property whose value is `undefined` is ignored (as if absent);
 * - inside an array, a hole or an `undefined` element counts as `null`;
 * - an object or array met again inside itself (a cycle) counts as class *other* at that point,
 *   so walking a cyclic value always ends;
 * - class *other* compares equal to class *other*, but {@link equalValues} never calls two values
 *   equal when either contains a value of class *other*.
 */

/** Class ranks of docs/queries.md. */
export const Rank = {
  NULL: 1, NUMBER: 2, BIGINT: 3, STRING: 4, OBJECT: 5, ARRAY: 6, BINARY: 7, BOOLEAN: 8, DATE: 9, OTHER: 10,
} as const;

const ObjectProto = Object.prototype;
const hasOwn = ObjectProto.hasOwnProperty;
const getProto = Object.getPrototypeOf;
const DateProto = Date.prototype;
const ArrayBufferProto = ArrayBuffer.prototype;
const dateGetTime = DateProto.getTime;
const abufByteLength = Object.getOwnPropertyDescriptor(ArrayBufferProto, 'byteLength')!.get!;

/** Calls a brand-checking built-in: false when `v` is not that kind of object (works across realms). */
function hasBrand(check: (this: unknown) => unknown, v: object): boolean {
  try { check.call(v); return true; } catch { return false; }
}

/** A plain object: prototype `Object.prototype` (of any realm) or `null`. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const p = getProto(v) as object | null;
  if (p === ObjectProto || p === null) return true;
  // Another realm's Object.prototype: no prototype itself, and owns the Object.prototype methods.
  return getProto(p) === null && hasOwn.call(p, 'isPrototypeOf') && !Array.isArray(v);
}

/** Date of any realm, subclasses included. */
export function isDate(v: object): v is Date {
  return getProto(v) === DateProto || hasBrand(dateGetTime, v);
}

function objectClass(o: object): number {
  if (Array.isArray(o)) return 6;
  const p = getProto(o) as object | null;
  if (p === ObjectProto || p === null) return 5;
  if (p === DateProto) return 9;
  if (ArrayBuffer.isView(o) || p === ArrayBufferProto) return 7;
  if (hasBrand(dateGetTime, o)) return 9;
  if (hasBrand(abufByteLength, o)) return 7; // not SharedArrayBuffer: it has its own getter
  if (isPlainObject(o)) return 5;
  return 10;
}

/**
 * Class rank 1..10 of a present value as in docs/queries.md (null=1 … other=10).
 * `undefined` (never a candidate) is ranked like `null`, as it counts inside arrays.
 */
export function classOf(v: unknown): number {
  switch (typeof v) {
    case 'number': return 2;
    case 'string': return 4;
    case 'boolean': return 8;
    case 'bigint': return 3;
    case 'undefined': return 1;
    case 'object': return v === null ? 1 : objectClass(v);
    default: return 10; // functions, symbols
  }
}

type Stack = object[] | undefined;

/** Class of `v` inside a walk: a container already on the walk's path (a cycle) is class other. */
function rankIn(v: unknown, stack: Stack): number {
  const c = classOf(v);
  return (c === 5 || c === 6) && stack !== undefined && stack.includes(v as object) ? 10 : c;
}

/** Own property value, reading an own `__proto__` data property (JSON.parse can create one) safely. */
function own(o: object, k: string): unknown {
  return k === '__proto__' ? Object.getOwnPropertyDescriptor(o, k)?.value : (o as Record<string, unknown>)[k];
}

/** Keys that take part in comparisons: own enumerable string keys whose value is not undefined. */
function keysOf(o: object): string[] {
  const keys = Object.keys(o);
  for (let i = 0; i < keys.length; i++) {
    if (own(o, keys[i]!) === undefined) return keys.filter((k) => own(o, k) !== undefined);
  }
  return keys;
}

/** The bytes a binary value holds (a view's visible bytes only). */
export function bytesOf(v: object): Uint8Array {
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return new Uint8Array(v as ArrayBuffer);
}

const timeOf = (d: object): number => dateGetTime.call(d as Date);

/** Numbers in the total order: NaN first, -0 equal to 0. */
export function compareNumbers(a: number, b: number): number {
  if (a < b) return -1;
  if (a > b) return 1;
  if (a === b) return 0;
  return a === a ? 1 : b === b ? -1 : 0; // at least one NaN
}

const isHigh = (u: number): boolean => u >= 0xd800 && u <= 0xdbff;
const isLow = (u: number): boolean => u >= 0xdc00 && u <= 0xdfff;

/**
 * Strings by Unicode code point (a lone surrogate is its own code point), not by UTF-16 unit.
 * The two orders differ only where the first difference puts a surrogate against a unit at or
 * above U+E000, so the common case is one scan to the first difference.
 */
export function compareStrings(a: string, b: string): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x === y) continue;
    if (x < 0xd800 && y < 0xd800) return x < y ? -1 : 1;
    // Decode the code points that contain position i (a pair may start at i - 1, the same in both).
    const j = i > 0 && isHigh(a.charCodeAt(i - 1)) && (isLow(x) || isLow(y)) ? i - 1 : i;
    const p = a.codePointAt(j)!, q = b.codePointAt(j)!;
    return p < q ? -1 : p > q ? 1 : 0;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

/** Total order of docs/queries.md: negative, 0 or positive. */
export function compareValues(a: unknown, b: unknown): number {
  return cmp(a, b, undefined, undefined);
}

function cmp(a: unknown, b: unknown, sa: Stack, sb: Stack): number {
  const ta = typeof a;
  if (ta === typeof b) {
    switch (ta) {
      case 'string': return compareStrings(a as string, b as string);
      case 'number': return compareNumbers(a as number, b as number);
      case 'bigint': return (a as bigint) < (b as bigint) ? -1 : (a as bigint) > (b as bigint) ? 1 : 0;
      case 'boolean': return a === b ? 0 : a ? 1 : -1;
      default: break;
    }
  }
  const ca = rankIn(a, sa), cb = rankIn(b, sb);
  if (ca !== cb) return ca < cb ? -1 : 1;
  switch (ca) {
    case 5: return cmpObjects(a as object, b as object, sa, sb);
    case 6: return cmpArrays(a as unknown[], b as unknown[], sa, sb);
    case 7: return cmpBytes(bytesOf(a as object), bytesOf(b as object));
    case 9: return compareNumbers(timeOf(a as object), timeOf(b as object));
    default: return 0; // null (and undefined), other
  }
}

function cmpObjects(a: object, b: object, sa: Stack, sb: Stack): number {
  const ka = keysOf(a), kb = keysOf(b);
  (sa ??= []).push(a);
  (sb ??= []).push(b);
  const n = Math.min(ka.length, kb.length);
  let r = 0;
  for (let i = 0; i < n && r === 0; i++) {
    const k = ka[i]!, l = kb[i]!;
    r = compareStrings(k, l);
    if (r === 0) r = cmp(own(a, k), own(b, l), sa, sb);
  }
  sa.pop();
  sb.pop();
  return r !== 0 ? r : ka.length - kb.length;
}

function cmpArrays(a: unknown[], b: unknown[], sa: Stack, sb: Stack): number {
  (sa ??= []).push(a);
  (sb ??= []).push(b);
  const n = Math.min(a.length, b.length);
  let r = 0;
  for (let i = 0; i < n && r === 0; i++) r = cmp(a[i] ?? null, b[i] ?? null, sa, sb);
  sa.pop();
  sb.pop();
  return r !== 0 ? r : a.length - b.length;
}

function cmpBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Structural equality of docs/queries.md: same class and equal in the order; class other (anywhere inside) never equal. */
export function equalValues(a: unknown, b: unknown): boolean {
  return eq(a, b, undefined, undefined);
}

function eq(a: unknown, b: unknown, sa: Stack, sb: Stack): boolean {
  const ta = typeof a;
  if (ta !== 'object' && ta !== 'undefined') {
    if (ta === 'number') return a === b || (a !== a && b !== b && typeof b === 'number');
    return a === b && ta !== 'function' && ta !== 'symbol';
  }
  const ca = rankIn(a, sa), cb = rankIn(b, sb);
  if (ca !== cb) return false;
  switch (ca) {
    case 1: return true;
    case 5: {
      const ka = keysOf(a as object), kb = keysOf(b as object);
      if (ka.length !== kb.length) return false;
      (sa ??= []).push(a as object);
      (sb ??= []).push(b as object);
      let r = true;
      for (let i = 0; i < ka.length && r; i++) {
        r = ka[i] === kb[i] && eq(own(a as object, ka[i]!), own(b as object, kb[i]!), sa, sb);
      }
      sa.pop();
      sb.pop();
      return r;
    }
    case 6: {
      const x = a as unknown[], y = b as unknown[];
      if (x.length !== y.length) return false;
      (sa ??= []).push(x);
      (sb ??= []).push(y);
      let r = true;
      for (let i = 0; i < x.length && r; i++) r = eq(x[i] ?? null, y[i] ?? null, sa, sb);
      sa.pop();
      sb.pop();
      return r;
    }
    case 7: return cmpBytes(bytesOf(a as object), bytesOf(b as object)) === 0;
    case 9: return compareNumbers(timeOf(a as object), timeOf(b as object)) === 0;
    default: return false; // other
  }
}

// ---------------------------------------------------------------------------------------------
// Order-preserving encoding. Layout (every character is in U+0001..U+D7FF, so UTF-16 order and
// code-point order of encodings agree; U+0000 never appears):
//   class char '1'..':' (0x30 + rank), then
//   null '1' | number '2'+16 hex | bigint '3'+sign+len+hex | string '4'+esc+U+0001
//   object '5'+(U+0002 esc(key) U+0001 enc(value))*+U+0001 | array '6'+enc(elem)*+U+0001
//   binary '7'+(byte+2 as a char)*+U+0001 | boolean '80'/'81' | Date '9'+16 hex | other ':'
// Each encoding is self-delimiting (its end is known from its content), hence never a proper
// prefix of another, and terminators (U+0001) sort below anything that continues a value.
// ---------------------------------------------------------------------------------------------

/** Encoding of "no candidate" (missing): sorts after every encodeOrdered value, never their prefix. */
export const MISSING = '~';

/**
 * Bounds of a class in encoded form: every encodeOrdered(v) with classOf(v) === c satisfies
 * lo <= enc < hi, and enc never starts with hi.
 */
export function classBounds(c: number): { lo: string; hi: string } {
  if (!Number.isInteger(c) || c < 1 || c > 10) throw new RangeError(`classBounds: no class ${String(c)} (1..10)`);
  return { lo: String.fromCharCode(0x30 + c), hi: String.fromCharCode(0x31 + c) };
}

const view = new DataView(new ArrayBuffer(8));

function hex8(n: number): string {
  const s = n.toString(16);
  return s.length === 8 ? s : '00000000'.slice(s.length) + s;
}

/** 16 hex digits of the float64 bits, transformed so that string order is the number order (NaN lowest). */
function numberHex(x: number): string {
  if (x !== x) return '0000000000000000';
  view.setFloat64(0, x === 0 ? 0 : x);
  let hi = view.getUint32(0), lo = view.getUint32(4);
  if (hi >= 0x80000000) {
    hi = ~hi >>> 0;
    lo = ~lo >>> 0;
  } else {
    hi = (hi | 0x80000000) >>> 0;
  }
  return hex8(hi) + hex8(lo);
}

const HEX = '0123456789abcdef';
const HEX_COMPLEMENT = 'fedcba9876543210';

/** Sign char, then (digit count of the length, length, digits) in hex; complemented when negative. */
function bigintCode(n: bigint): string {
  if (n === 0n) return '1';
  const neg = n < 0n;
  const digits = (neg ? -n : n).toString(16);
  const len = digits.length.toString(16);
  const body = len.length.toString(16) + len + digits;
  if (!neg) return '2' + body;
  let out = '0';
  for (let i = 0; i < body.length; i++) out += HEX_COMPLEMENT[HEX.indexOf(body[i]!)];
  return out;
}

// Units that need an escape: U+0000..U+0002 (terminator and escape chars) and U+D7FF and above.
const NEEDS_ESCAPE = /[\u0000-\u0002\uD7FF-\uFFFF]/;

/**
 * String text, order-preserving by code point: U+0003..U+D7FE as themselves; U+0000..U+0002 as
 * U+0002 + (U+0002..U+0004); code points from U+D7FF (lone surrogates included) as U+D7FF + two
 * chars of 14 bits each (offset 2) of (code point - 0xD7FF). No output char is U+0000 or U+0001.
 */
function escapeText(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  let out = '';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    if (u > 2 && u < 0xd7ff) continue;
    out += s.slice(start, i);
    if (u <= 2) {
      out += '\u0002' + String.fromCharCode(2 + u);
    } else {
      let cp = u;
      if (isHigh(u) && i + 1 < s.length && isLow(s.charCodeAt(i + 1))) {
        cp = (u - 0xd800) * 0x400 + (s.charCodeAt(i + 1) - 0xdc00) + 0x10000;
        i++;
      }
      const v = cp - 0xd7ff;
      out += '\uD7FF' + String.fromCharCode(2 + (v >> 14), 2 + (v & 0x3fff));
    }
    start = i + 1;
  }
  return out + s.slice(start);
}

/**
 * Order-preserving, self-delimiting string encoding used in index keys: the sign of
 * `compareValues(a, b)` is the sign of comparing `encodeOrdered(a)` with `encodeOrdered(b)`, in
 * UTF-16 or in code-point order alike (only characters U+0001..U+D7FF are emitted); no encoding
 * is a proper prefix of another, so a tuple of encodings followed by any suffix compares like the
 * tuple. Every value of class other encodes to the same string.
 *
 * @example
 * ```ts
 * encodeOrdered(1) < encodeOrdered(2);        // true
 * encodeOrdered('b') < encodeOrdered(10n);     // false: bigint (3) sorts before string (4)
 * ```
 */
export function encodeOrdered(v: unknown): string {
  return enc(v, undefined);
}

function enc(v: unknown, stack: Stack): string {
  switch (typeof v) {
    case 'number': return '2' + numberHex(v);
    case 'string': return '4' + escapeText(v) + '\u0001';
    case 'boolean': return v ? '81' : '80';
    case 'bigint': return '3' + bigintCode(v);
    case 'undefined': return '1';
    case 'object': if (v === null) return '1'; break;
    default: return ':';
  }
  const c = rankIn(v, stack);
  switch (c) {
    case 5: {
      const o = v as object;
      (stack ??= []).push(o);
      let out = '5';
      for (const k of keysOf(o)) out += '\u0002' + escapeText(k) + '\u0001' + enc(own(o, k), stack);
      stack.pop();
      return out + '\u0001';
    }
    case 6: {
      const a = v as unknown[];
      (stack ??= []).push(a);
      let out = '6';
      for (let i = 0; i < a.length; i++) out += enc(a[i] ?? null, stack);
      stack.pop();
      return out + '\u0001';
    }
    case 7: return '7' + bytesText(bytesOf(v as object)) + '\u0001';
    case 9: return '9' + numberHex(timeOf(v as object));
    default: return ':'; // other
  }
}

function bytesText(b: Uint8Array): string {
  let out = '';
  const CHUNK = 4096;
  const codes = new Uint16Array(Math.min(b.length, CHUNK));
  for (let start = 0; start < b.length; start += CHUNK) {
    const n = Math.min(CHUNK, b.length - start);
    for (let i = 0; i < n; i++) codes[i] = b[start + i]! + 2;
    out += String.fromCharCode.apply(null, (n === codes.length ? codes : codes.subarray(0, n)) as unknown as number[]);
  }
  return out;
}
