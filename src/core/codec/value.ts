/**
 * The value codec: turns any value `structuredClone` accepts into something a store can keep,
 * and back. Plain JSON data (the common case) becomes JSON text, so the hot path is one cheap
 * validating walk plus the engine's native `JSON.stringify`/`JSON.parse`; everything else
 * (Date, Map, -0, undefined members, shared references, cycles...) becomes the binary format of
 * `binary.ts`. Both forms decode to fresh objects equal to what `structuredClone` would return.
 *
 * Known differences from `structuredClone`: named (non-index) props of arrays are dropped, as
 * JSON does (see Encoder.array); typed arrays and DataViews keep only the bytes they view (see
 * `binary.ts`); resizable ArrayBuffers come back fixed-length; SharedArrayBuffer, Blob/File and
 * other host objects are rejected (they cannot be persisted), as are class instances with a
 * custom `Symbol.toStringTag`; Proxies cannot be detected and are stored as their traps report.
 * Getters run twice (validating walk, then serializer): one that returns a different value
 * each time may see the second value stored unvalidated on the JSON path.
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
const arrayProto = Array.prototype;
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
  return new Encoder().run(value);
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

/**
 * Primitives qualify when finite and not -0. Strings always do, even with lone surrogates:
 * `JSON.stringify` escapes those (`"\ud800"`), so the text stays well-formed and parses back.
 */
function isJsonExact(v: unknown): boolean {
  if (typeof v !== 'object') return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && v - v === 0 && (v !== 0 || 1 / v > 0));
  if (v === null) return true;
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
 * One walk, early exit on the first thing JSON would change: it only answers "JSON-exact?".
 * Anything else, including invalid values, goes to the binary encoder, which re-walks with
 * paths and produces the precise error, so this loop carries no path bookkeeping. The leaf
 * test is written out in both loops as direct `typeof x === '...'` tests: V8 fuses those, while
 * a helper call or a `const t = typeof x` variable measured 1.5-3x slower per value.
 */
function scan(v: object, depth: number): boolean {
  if (depth > MAX_DEPTH || seenBefore(v)) return false; // too deep, shared or cyclic
  if (Array.isArray(v)) {
    if (Object.getPrototypeOf(v) !== arrayProto) return false; // a subclass might define toJSON
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

// Path segment kinds: what a container's current child is, formatted only on rejection.
const P_PROP = 0, P_INDEX = 1, P_MAPKEY = 2, P_MAPVAL = 3, P_SETVAL = 4, P_CAUSE = 5;
// Kinds of container being written. The walk keeps an explicit stack of them instead of
// recursing, so MAX_DEPTH nesting cannot overflow the call stack.
const W_PROPS = 0, W_ARRAY = 1, W_SPARSE = 2, W_MAP = 3, W_SET = 4, W_CAUSE = 5;

/** A container being written: which child comes next, and which one is in progress. */
class Frame {
  i = 0;
  seg = -1;             // P_* of the child in progress (-1: none)
  segKey: unknown;      // its key, index or Map key
  pending: unknown;     // W_MAP: the entry whose key is in progress; its value comes next
  pendingKey: unknown;
  hasPending = false;
  constructor(
    public kind: number,
    readonly obj: object,
    readonly depth: number,
    public end: number,  // elements, index keys or entries to write
    readonly keys: string[] | null,  // own enumerable keys (objects and arrays)
    readonly iter: Iterator<unknown> | null,  // W_MAP / W_SET
  ) {}
}

function formatPath(stack: Frame[]): string {
  const parts: string[] = [];
  for (const f of stack) {
    const key = f.segKey;
    switch (f.seg) {
      case P_PROP: {
        const k = key as string;
        parts.push(/^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`);
        break;
      }
      case P_INDEX: parts.push(`[${key as number}]`); break;
      case P_MAPKEY: parts.push(`<Map key #${key as number}>`); break;
      case P_MAPVAL: parts.push(`.get(${typeof key === 'string' ? JSON.stringify(key)
        : typeof key === 'object' && key !== null ? '<object>' : String(key)})`); break;
      case P_SETVAL: parts.push(`<Set value #${key as number}>`); break;
      case P_CAUSE: parts.push('.cause'); break;
    }
  }
  // MAX_DEPTH errors would make huge messages: keep both ends.
  if (parts.length > 24) parts.splice(10, parts.length - 15, `...(${parts.length - 15} more)...`);
  return 'value' + parts.join('');
}

/** Validates and writes one value graph. Object ids are assigned in encounter order. */
class Encoder extends Writer {
  readonly refs = new Map<object, number>();
  readonly stack: Frame[] = [];

  fail(what: string): never {
    return invalid(`${formatPath(this.stack)} ${what}`);
  }

  run(value: unknown): Uint8Array {
    this.item(value, 1);
    const stack = this.stack;
    while (stack.length > 0) if (!this.step(stack[stack.length - 1]!)) stack.pop();
    return this.result();
  }

  /** Writes one value; a container gets its header written and a frame for its children. */
  item(v: unknown, depth: number): void {
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
      default: this.fail(`is a ${typeof v}, which cannot be stored`);
    }
  }

  push(kind: number, obj: object, depth: number, end: number, keys: string[] | null, iter: Iterator<unknown> | null): void {
    this.stack.push(new Frame(kind, obj, depth, end, keys, iter));
  }

  plain(v: object, depth: number): void {
    const keys = Object.keys(v);
    this.byte(OBJECT); this.varint(keys.length);
    if (keys.length > 0) this.push(W_PROPS, v, depth, keys.length, keys, null);
  }

  object(v: object, depth: number): void {
    const id = this.refs.get(v);
    if (id !== undefined) { this.byte(REF); this.varint(id); return; }
    if (depth > MAX_DEPTH) this.fail(`nests deeper than MAX_DEPTH (${MAX_DEPTH}) levels`);
    this.refs.set(v, this.refs.size);
    if (Array.isArray(v)) return this.array(v as unknown[], depth);
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto === objectProto || proto === null) return this.plain(v, depth);
    if (typeof Node !== 'undefined' && v instanceof Node) this.fail('is a DOM node, which cannot be stored');
    if (ArrayBuffer.isView(v)) {
      const kind = TYPED_KIND.get(typedTag.call(v) as string);
      const bytes = this.view(v);
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
      case 'Object': return this.plain(v, depth);
      case 'Date':
        if (!hasBrand(Date.prototype.getTime, v)) break;
        this.byte(DATE); this.f64(Date.prototype.getTime.call(v)); return;
      case 'RegExp': // lastIndex is not kept (structuredClone resets it too)
        if (!hasBrand(regexpSource, v)) break;
        this.byte(REGEXP); this.str(regexpSource.call(v) as string); this.str(regexpFlags.call(v) as string); return;
      case 'Map': {
        if (!hasBrand(mapSize, v)) break;
        const size = mapSize.call(v) as number;
        this.byte(MAP); this.varint(size);
        this.push(W_MAP, v, depth, size, null, Map.prototype.entries.call(v));
        return;
      }
      case 'Set': {
        if (!hasBrand(setSize, v)) break;
        const size = setSize.call(v) as number;
        this.byte(SET); this.varint(size);
        this.push(W_SET, v, depth, size, null, Set.prototype.values.call(v));
        return;
      }
      case 'ArrayBuffer':
        if (!hasBrand(abufLength, v)) break;
        this.byte(ABUF); this.bytes(this.view(v as ArrayBuffer)); return;
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

  /** The bytes to store; a detached buffer (transferred away) is refused, as structuredClone does. */
  view(v: ArrayBufferView | ArrayBuffer): Uint8Array {
    try {
      return ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v);
    } catch {
      return this.fail('uses a detached ArrayBuffer, which cannot be stored');
    }
  }

  /**
   * Arrays keep their length, elements and holes. Named (non-index) props are not stored, on
   * either path: the JSON path cannot see them without an `Object.keys` per array (10-25% of
   * the JSON round trip, measured), and storing them on one path only would be unpredictable.
   */
  array(a: unknown[], depth: number): void {
    const len = a.length;
    let dense = true;
    // Stops at the first hole, so `a[1e9] = 1` costs one step here.
    for (let i = 0; i < len && dense; i++) if (a[i] === undefined && !(i in a)) dense = false;
    if (dense) {
      this.byte(ARRAY); this.varint(len);
      this.push(W_ARRAY, a, depth, len, null, null);
      return;
    }
    // Holes: (index, value) pairs. Own keys list indices first, ascending, then named props.
    const keys = Object.keys(a);
    let indices = keys.length;
    while (indices > 0 && !isIndex(keys[indices - 1]!)) indices--;
    this.byte(SPARSE); this.varint(len); this.varint(indices);
    this.push(W_SPARSE, a, depth, indices, keys, null);
  }

  /** Like structuredClone: standard name (else "Error"), own message, stack, own cause. */
  error(e: Error, depth: number): void {
    const name = ERROR_NAMES.indexOf(e.name); // structuredClone: any other name -> "Error"
    const msg = Object.getOwnPropertyDescriptor(e, 'message');
    const hasMsg = msg !== undefined && 'value' in msg;
    const stack: unknown = e.stack;
    const hasCause = hasOwn.call(e, 'cause');
    this.byte(ERROR); this.byte(name < 0 ? 0 : name);
    this.byte((hasMsg ? 1 : 0) | (typeof stack === 'string' ? 2 : 0) | (hasCause ? 4 : 0));
    if (hasMsg) this.str(String(msg.value));
    if (typeof stack === 'string') this.str(stack);
    if (hasCause) this.push(W_CAUSE, e, depth, 1, null, null);
  }

  /** Writes the next child of `f`; false once `f` is complete. */
  step(f: Frame): boolean {
    const depth = f.depth + 1;
    switch (f.kind) {
      case W_PROPS: {
        if (f.i === f.end) return false;
        const k = f.keys![f.i++]!;
        this.str(k);
        f.seg = P_PROP; f.segKey = k;
        this.item((f.obj as Record<string, unknown>)[k], depth);
        return true;
      }
      case W_ARRAY: case W_SPARSE: {
        if (f.i === f.end) { // elements done; then the count of named props: always 0 (see array())
          this.byte(0);
          return false;
        }
        const idx = f.kind === W_ARRAY ? f.i : Number(f.keys![f.i]);
        if (f.kind === W_SPARSE) this.varint(idx);
        f.i++;
        f.seg = P_INDEX; f.segKey = idx;
        this.item((f.obj as unknown[])[idx], depth);
        return true;
      }
      case W_MAP: case W_SET: {
        if (f.hasPending) {
          f.hasPending = false;
          f.seg = P_MAPVAL; f.segKey = f.pendingKey; // path: `.get(key)`
          this.item(f.pending, depth);
          return true;
        }
        const r = f.iter!.next();
        // The count is already written: a getter that resized the collection must not slip by.
        if (r.done ? f.i !== f.end : f.i === f.end) { f.seg = -1; this.fail('changed size while being encoded'); }
        if (r.done) return false;
        f.i++;
        if (f.kind === W_SET) {
          f.seg = P_SETVAL; f.segKey = f.i - 1;
          this.item(r.value, depth);
          return true;
        }
        const [k, v] = r.value as [unknown, unknown];
        f.pending = v; f.pendingKey = k; f.hasPending = true;
        f.seg = P_MAPKEY; f.segKey = f.i - 1;
        this.item(k, depth);
        return true;
      }
      default: // W_CAUSE
        if (f.i === 1) return false;
        f.i = 1;
        f.seg = P_CAUSE;
        this.item((f.obj as Error).cause, depth);
        return true;
    }
  }
}
