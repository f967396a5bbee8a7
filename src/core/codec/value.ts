/**
 * The value codec: turns any value `structuredClone` accepts into something a store can keep,
 * and back. Plain JSON data (the common case) becomes JSON text, so the hot path is one cheap
 * validating walk plus the engine's native `JSON.stringify`/`JSON.parse`; everything else
 * (Date, Map, -0, undefined members, shared references, cycles...) becomes the binary format of
 * `binary.ts`. Both forms decode to fresh objects equal to what `structuredClone` would return.
 *
 * Known differences from `structuredClone`: typed arrays and DataViews keep only the bytes they
 * view (see `binary.ts`); resizable ArrayBuffers come back fixed-length; SharedArrayBuffer,
 * Blob/File and other host objects are rejected (they cannot be persisted); class instances
 * with a custom `Symbol.toStringTag` are rejected; Proxies cannot be detected and are stored as
 * what their traps report. Getters run once per walk (twice on the binary path).
 */
import { invalid, StorageCorruptionError } from '../errors';
import {
  ABUF, ARRAY, BOX_BIG, BOX_FALSE, BOX_NUM, BOX_STR, BOX_TRUE, DATE, DVIEW, ERROR, ERROR_NAMES, FALSE,
  FLOAT, INT, LITTLE_ENDIAN, MAP, MAX_DEPTH, NULL, OBJECT, REF, REGEXP, SET, SPARSE, TRUE, TYPED,
  TYPED_CTORS, TYPED_KIND, UNDEF, Writer, decodeBinary, isIndex, swapBytes,
} from './binary';

export { MAX_DEPTH } from './binary';

/** JSON text for plain JSON-exact values, bytes (own binary format) for everything else. */
export type EncodedValue = string | Uint8Array;

const objectProto = Object.prototype;
const objToString = objectProto.toString;
const hasOwn = objectProto.hasOwnProperty;
// Brand-checking getters: they throw on anything but the real built-in, in any realm.
const typedTag = Object.getOwnPropertyDescriptor(
  Object.getPrototypeOf(Uint8Array.prototype) as object, Symbol.toStringTag)!.get!;
const regexpSource = Object.getOwnPropertyDescriptor(RegExp.prototype, 'source')!.get!;
const regexpFlags = Object.getOwnPropertyDescriptor(RegExp.prototype, 'flags')!.get!;
const mapSize = Object.getOwnPropertyDescriptor(Map.prototype, 'size')!.get!;
const setSize = Object.getOwnPropertyDescriptor(Set.prototype, 'size')!.get!;
const abufLength = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'byteLength')!.get!;

/** Calls a brand-checking built-in; false when `v` is not that kind of object. */
function hasBrand(check: (this: unknown) => unknown, v: object): boolean {
  try { check.call(v); return true; } catch { return false; }
}

/**
 * Encodes a value for storage: JSON text when `JSON.parse` gives back exactly the same value,
 * otherwise the binary format. Pure: throws before returning anything.
 *
 * @throws StorageValidationError naming the path of the first unstorable part, e.g.
 *   `value.a.b[2] is a function`, or when `value` is `undefined` or nests deeper than {@link MAX_DEPTH}.
 * @example
 * ```ts
 * encodeValue({ a: 1 });           // '{"a":1}'
 * encodeValue({ at: new Date() }); // Uint8Array (binary format)
 * ```
 */
export function encodeValue(value: unknown): EncodedValue {
  if (value === undefined) invalid('value is undefined: use delete() to remove a key');
  if (isJsonExact(value)) return JSON.stringify(value);
  const enc = new Encoder();
  enc.value(value, 1);
  return enc.result();
}

/**
 * Decodes what {@link encodeValue} produced. Returns fresh objects on every call.
 *
 * @throws StorageCorruptionError when `encoded` is not a valid encoding.
 */
export function decodeValue(encoded: EncodedValue): unknown {
  if (typeof encoded === 'string') {
    try {
      return JSON.parse(encoded);
    } catch (cause) {
      throw new StorageCorruptionError('stored value is corrupt: invalid JSON text', { cause });
    }
  }
  if (!(encoded instanceof Uint8Array)) throw new StorageCorruptionError('stored value is neither JSON text nor bytes');
  return decodeBinary(encoded);
}

// ---------------------------------------------------------------------------------------------
// Fast path: is `JSON.parse(JSON.stringify(v))` exactly `structuredClone(v)`?

// Objects seen by the current scan, to catch shared references and cycles (JSON would
// duplicate or choke on them). This bookkeeping is most of the walk's cost, so: the first
// SEEN_LINEAR objects go in a linear list (a Set costs more than the whole walk of a small
// object), the rest in a Set, and the state is module-level to avoid allocating per call.
// `busy` guards re-entry from getters: a nested call skips the fast path and goes binary.
const SEEN_LINEAR = 8;
const seenList: Array<object | undefined> = [];
let seenCount = 0;
let seenSet: Set<object> | null = null;
let busy = false;

function isJsonExact(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return isJsonLeaf(v);
  if (busy) return false;
  busy = true;
  try {
    return scan(v, 1);
  } finally {
    for (let i = 0; i < seenCount; i++) seenList[i] = undefined; // don't keep values alive
    seenCount = 0;
    seenSet = null;
    busy = false;
  }
}

/** Records `v` as seen; true when it already was (a shared reference or a cycle). */
function seenBefore(v: object): boolean {
  if (seenSet !== null) { // one hash lookup instead of has() + add()
    const size = seenSet.size;
    return seenSet.add(v).size === size;
  }
  for (let i = 0; i < seenCount; i++) if (seenList[i] === v) return true;
  if (seenCount === SEEN_LINEAR) {
    seenSet = new Set(seenList as object[]);
    seenSet.add(v);
    return false;
  }
  seenList[seenCount++] = v;
  return false;
}

/**
 * Primitives JSON keeps exactly. Strings always qualify, even with lone surrogates:
 * `JSON.stringify` escapes those (`"\ud800"`), so the text stays well-formed and parses back.
 */
function isJsonLeaf(v: unknown): boolean {
  switch (typeof v) {
    case 'string': case 'boolean': return true;
    case 'number': return v - v === 0 && (v !== 0 || 1 / v > 0); // finite and not -0
    default: return v === null;
  }
}

/**
 * One walk, early exit on the first thing JSON would change: it only answers "JSON-exact?".
 * Anything else, including invalid values, goes to the binary encoder, which re-walks with
 * paths and produces the precise error, so this loop carries no path bookkeeping. The leaf
 * test is written out in both loops as direct `typeof x === '...'` tests: V8 fuses those, while
 * a helper call or a `const t = typeof x` variable measured 1.5-3x slower per value.
 */
function scan(v: object, depth: number): boolean {
  if (depth > MAX_DEPTH || seenBefore(v)) return false; // too deep, shared or cyclic
  if (Array.isArray(v)) {
    const a = v as unknown[];
    const n = a.length;
    for (let i = 0; i < n; i++) {
      const x = a[i]; // a hole reads as undefined, which is not JSON-exact: no separate check
      if (typeof x === 'string') continue;
      if (typeof x === 'number') {
        if (x - x !== 0 || (x === 0 && 1 / x < 0)) return false; // NaN, ±Infinity, -0
        continue;
      }
      if (typeof x === 'boolean') continue;
      if (typeof x !== 'object' || (x !== null && !scan(x, depth + 1))) return false;
    }
    return true;
  }
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== objectProto && proto !== null) return false;
  const o = v as Record<string, unknown>;
  // for-in beats Object.keys (no array allocated). It would also visit enumerable props
  // inherited from a polluted Object.prototype; that can only make the answer "not exact".
  for (const k in o) {
    const x = o[k];
    if (typeof x === 'string') continue;
    if (typeof x === 'number') {
      if (x - x !== 0 || (x === 0 && 1 / x < 0)) return false;
      continue;
    }
    if (typeof x === 'boolean') continue;
    if (typeof x !== 'object' || (x !== null && !scan(x, depth + 1))) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Binary path: the validating walk.

// Path segments are kept as (kind, key) pairs and only formatted when a value is rejected.
const P_PROP = 0, P_INDEX = 1, P_MAPKEY = 2, P_MAPVAL = 3, P_SETVAL = 4, P_CAUSE = 5;

function formatPath(path: unknown[]): string {
  const parts: string[] = [];
  for (let i = 0; i < path.length; i += 2) {
    const key = path[i + 1];
    switch (path[i]) {
      case P_PROP: {
        const k = key as string;
        parts.push(/^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`);
        break;
      }
      case P_INDEX: parts.push(`[${key as number}]`); break;
      case P_MAPKEY: parts.push(`<Map key #${key as number}>`); break;
      case P_MAPVAL: parts.push(`.get(${typeof key === 'string' ? JSON.stringify(key)
        : key !== null && typeof key === 'object' ? '<object>' : String(key)})`); break;
      case P_SETVAL: parts.push(`<Set value #${key as number}>`); break;
      default: parts.push('.cause');
    }
  }
  // Deep paths (MAX_DEPTH errors) would make huge messages: keep both ends.
  if (parts.length > 24) parts.splice(12, parts.length - 20, `...(${parts.length - 20} more)...`);
  return 'value' + parts.join('');
}

/** Validates and writes one value graph. Object ids are assigned in encounter order. */
class Encoder extends Writer {
  readonly refs = new Map<object, number>();
  readonly path: unknown[] = [];

  fail(what: string): never {
    return invalid(`${formatPath(this.path)} ${what}`);
  }

  value(v: unknown, depth: number): void {
    switch (typeof v) {
      case 'string': this.str(v); return;
      case 'number':
        if ((v | 0) === v && (v !== 0 || 1 / v > 0)) { this.byte(INT); this.varint(v < 0 ? -2 * v - 1 : 2 * v); }
        else { this.byte(FLOAT); this.f64(v); }
        return;
      case 'boolean': this.byte(v ? TRUE : FALSE); return;
      case 'undefined': this.byte(UNDEF); return;
      case 'bigint': this.bigint(v, 0); return;
      case 'object':
        if (v === null) this.byte(NULL);
        else this.object(v, depth);
        return;
      case 'function': this.fail('is a function, which cannot be stored');
      default: this.fail(`is a ${typeof v}, which cannot be stored`);
    }
  }

  child(v: unknown, depth: number, kind: number, key: unknown): void {
    this.path.push(kind, key);
    this.value(v, depth);
    this.path.length -= 2;
  }

  object(v: object, depth: number): void {
    const id = this.refs.get(v);
    if (id !== undefined) { this.byte(REF); this.varint(id); return; }
    if (depth > MAX_DEPTH) this.fail(`nests deeper than MAX_DEPTH (${MAX_DEPTH}) levels`);
    this.refs.set(v, this.refs.size);
    if (Array.isArray(v)) return this.array(v as unknown[], depth);
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) return this.props(OBJECT, v, Object.keys(v), 0, depth);
    if (typeof Node !== 'undefined' && v instanceof Node) this.fail('is a DOM node, which cannot be stored');
    if (ArrayBuffer.isView(v)) {
      const kind = TYPED_KIND.get(typedTag.call(v) as string);
      const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      if (kind === undefined) { this.byte(DVIEW); this.bytes(bytes); return; }
      this.byte(TYPED); this.byte(kind);
      const size = TYPED_CTORS[kind]!.BYTES_PER_ELEMENT;
      if (LITTLE_ENDIAN || size === 1) { this.bytes(bytes); return; }
      const copy = bytes.slice(); swapBytes(copy, size); this.bytes(copy);
      return;
    }
    // The tag names the built-in; each case re-checks the internal brand, since Symbol.toStringTag
    // can be faked. Class instances say "Object" and are stored as their own enumerable props.
    const tag = (objToString.call(v) as string).slice(8, -1);
    switch (tag) {
      case 'Object': return this.props(OBJECT, v, Object.keys(v), 0, depth);
      case 'Date':
        if (!hasBrand(Date.prototype.getTime, v)) break;
        this.byte(DATE); this.f64(Date.prototype.getTime.call(v)); return;
      case 'RegExp':
        if (!hasBrand(regexpSource, v)) break;
        this.byte(REGEXP); this.str(regexpSource.call(v) as string); this.str(regexpFlags.call(v) as string); return;
      case 'Map': {
        if (!hasBrand(mapSize, v)) break;
        const size = mapSize.call(v) as number;
        this.byte(MAP); this.varint(size);
        let i = 0; // the count is written first: a getter growing or shrinking the Map must fail
        for (const [k, x] of Map.prototype.entries.call(v) as IterableIterator<[unknown, unknown]>) {
          if (i === size) { i++; break; }
          this.child(k, depth + 1, P_MAPKEY, i++);
          this.child(x, depth + 1, P_MAPVAL, k);
        }
        if (i !== size) this.fail('changed size while being encoded');
        return;
      }
      case 'Set': {
        if (!hasBrand(setSize, v)) break;
        const size = setSize.call(v) as number;
        this.byte(SET); this.varint(size);
        let i = 0;
        for (const x of Set.prototype.values.call(v) as IterableIterator<unknown>) {
          if (i === size) { i++; break; }
          this.child(x, depth + 1, P_SETVAL, i++);
        }
        if (i !== size) this.fail('changed size while being encoded');
        return;
      }
      case 'ArrayBuffer':
        if (!hasBrand(abufLength, v)) break;
        this.byte(ABUF); this.bytes(new Uint8Array(v as ArrayBuffer)); return;
      case 'Error': return this.error(v as Error, depth); // only real errors have this tag
      case 'Number':
        if (!hasBrand(Number.prototype.valueOf, v)) break;
        this.byte(BOX_NUM); this.f64(Number.prototype.valueOf.call(v)); return;
      case 'String':
        if (!hasBrand(String.prototype.valueOf, v)) break;
        this.byte(BOX_STR); this.str(String.prototype.valueOf.call(v)); return;
      case 'Boolean':
        if (!hasBrand(Boolean.prototype.valueOf, v)) break;
        this.byte(Boolean.prototype.valueOf.call(v) ? BOX_TRUE : BOX_FALSE); return;
      case 'BigInt':
        if (!hasBrand(BigInt.prototype.valueOf, v)) break;
        this.bigint(BigInt.prototype.valueOf.call(v), BOX_BIG); return;
    }
    this.fail(`is a ${tag}, which cannot be stored`);
  }

  /** Own enumerable props, after `skip` leading keys (array indices) were handled. */
  props(tag: number, v: object, keys: string[], skip: number, depth: number): void {
    const o = v as Record<string, unknown>;
    if (tag !== 0) this.byte(tag);
    this.varint(keys.length - skip);
    for (let i = skip; i < keys.length; i++) {
      const k = keys[i]!;
      this.str(k);
      this.child(o[k], depth + 1, P_PROP, k);
    }
  }

  array(a: unknown[], depth: number): void {
    const len = a.length;
    const keys = Object.keys(a);
    // Own keys list indices ascending, then named props: find where the indices end.
    let named = keys.length;
    while (named > 0 && !isIndex(keys[named - 1]!)) named--;
    if (named === len) { // dense
      this.byte(ARRAY); this.varint(len);
      for (let i = 0; i < len; i++) this.child(a[i], depth + 1, P_INDEX, i);
    } else { // holes: write (index, value) pairs, so even `a[1e9] = 1` stays small
      this.byte(SPARSE); this.varint(len); this.varint(named);
      for (let i = 0; i < named; i++) {
        const idx = Number(keys[i]);
        this.varint(idx);
        this.child(a[idx], depth + 1, P_INDEX, idx);
      }
    }
    this.props(0, a, keys, named, depth);
  }

  /** Like structuredClone: standard name (else "Error"), own message, stack, own cause. */
  error(e: Error, depth: number): void {
    const name = ERROR_NAMES.indexOf(e.name); // structuredClone: any other name -> "Error"
    const msg = Object.getOwnPropertyDescriptor(e, 'message');
    const stack: unknown = e.stack;
    const hasCause = hasOwn.call(e, 'cause');
    this.byte(ERROR); this.byte(name < 0 ? 0 : name);
    this.byte((msg && 'value' in msg ? 1 : 0) | (typeof stack === 'string' ? 2 : 0) | (hasCause ? 4 : 0));
    if (msg && 'value' in msg) this.str(String(msg.value));
    if (typeof stack === 'string') this.str(stack);
    if (hasCause) this.child(e.cause, depth + 1, P_CAUSE, 0);
  }
}
