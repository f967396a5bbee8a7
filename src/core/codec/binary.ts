/**
 * The binary value format: used for every value JSON cannot carry exactly (see `value.ts`).
 *
 * Layout: one format byte ({@link BINARY_FORMAT_V1}), then one encoded value. A value is a tag
 * byte followed by its payload; lengths and counts are unsigned LEB128 varints. Every object
 * (anything with identity: plain objects, arrays, Map, Set, Date, typed arrays, boxed
 * primitives...) gets the next id, in encounter order, *before* its children are written, so a
 * second encounter is written as `REF id`; this keeps shared references and cycles exactly
 * like `structuredClone`. Multi-byte numbers and typed-array contents are little-endian.
 *
 * Typed arrays and DataViews store only the bytes they view: the decoded view has
 * `byteOffset` 0 and a buffer of exactly `byteLength` bytes, and views that shared a buffer get
 * separate buffers. `structuredClone` would copy the whole underlying buffer instead, which for
 * a Node `Buffer` means the whole 8 KiB allocation pool, i.e. unrelated memory, into storage.
 *
 * Decoding never trusts the input: every length is checked against the bytes left, nesting is
 * bounded by {@link MAX_DEPTH}, and any failure becomes a StorageCorruptionError.
 */
import { StorageCorruptionError } from '../errors';

/**
 * Deepest object nesting a stored value may have, the root object being level 1. `encodeValue`
 * rejects deeper values (StorageValidationError); deeper binary input is corrupt.
 */
export const MAX_DEPTH = 2000;
/** First byte of every binary encoding; bump it when the layout changes incompatibly. */
export const BINARY_FORMAT_V1 = 0x01;

// Value tags. Numbered explicitly: they are part of the stored format (append only).
// UNDEF..TRUE: no payload. INT: zigzag varint (int32 only). FLOAT: float64.
// UTF8: varint byte length + bytes. UTF16: varint unit count + code units.
// BIG_POS/BIG_NEG: varint length + lowercase hex digits of the magnitude.
// OBJECT: varint n + n x (key string, value). ARRAY: varint length + values, then named props
// as in OBJECT (written empty today; read for forward compatibility). SPARSE: varint length,
// varint n + n x (ascending varint index, value), named props.
// MAP: n + n x (key, value). SET: n + n x value. DATE: float64 time (NaN = invalid Date).
// REGEXP: source string, flags string. ABUF/DVIEW: varint length + bytes.
// TYPED: kind byte (TYPED_NAMES index), varint byte length + bytes.
// ERROR: name byte (ERROR_CTORS index), flags byte (1 message, 2 stack, 4 cause), then those.
// BOX_*: the primitive's payload (BOX_BIG: sign byte, then as BIG_POS). REF: varint object id.
export const UNDEF = 0, NULL = 1, FALSE = 2, TRUE = 3, INT = 4, FLOAT = 5, UTF8 = 6, UTF16 = 7;
export const BIG_POS = 8, BIG_NEG = 9, OBJECT = 10, ARRAY = 11, SPARSE = 12, MAP = 13, SET = 14;
export const DATE = 15, REGEXP = 16, ABUF = 17, TYPED = 18, DVIEW = 19, ERROR = 20;
export const BOX_NUM = 21, BOX_STR = 22, BOX_TRUE = 23, BOX_FALSE = 24, BOX_BIG = 25, REF = 26;

/** Typed-array kinds by stored index (append only). */
const TYPED_NAMES = [
  'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array',
  'Uint32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array', 'Float16Array',
] as const;
type TypedCtor = { new (buffer: ArrayBuffer): ArrayBufferView; readonly BYTES_PER_ELEMENT: number };
const g = globalThis as unknown as Record<string, TypedCtor | undefined>;
export const TYPED_CTORS = TYPED_NAMES.map((n) => g[n]);
export const TYPED_KIND = new Map<string, number>(TYPED_NAMES.map((n, i) => [n, i]));
/** Error constructors structuredClone keeps; any other name becomes a plain Error. */
export const ERROR_CTORS = [Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError];
export const ERROR_NAMES = ERROR_CTORS.map((c) => c.name);

export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8 = new TextEncoder();
// ignoreBOM: by default a leading U+FEFF would be silently dropped from decoded strings.
const utf8Fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const wellFormed = (String.prototype as { isWellFormed?: () => boolean }).isWellFormed;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** `String.prototype.isWellFormed`, with a regex fallback for older browsers. */
export const isWellFormed = (s: string): boolean =>
  wellFormed ? wellFormed.call(s) : !LONE_SURROGATE.test(s);

/** Canonical array index ("0".."4294967294") as stored by arrays; anything else is a named prop. */
export function isIndex(k: string): boolean {
  const n = Number(k) >>> 0;
  return String(n) === k && n !== 0xffffffff;
}

/** Reverses the bytes of each `size`-byte element: stored data is little-endian on every host. */
export function swapBytes(b: Uint8Array, size: number): void {
  for (let i = 0; i < b.length; i += size) b.subarray(i, i + size).reverse();
}

/**
 * Growable output buffer with the primitive writers. `value.ts` extends it with the object walk.
 * A fresh instance per encode, so getters that re-enter the codec cannot corrupt it.
 */
export class Writer {
  buf = new Uint8Array(256);
  dv = new DataView(this.buf.buffer);
  pos = 1;

  constructor() { this.buf[0] = BINARY_FORMAT_V1; }

  room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  byte(b: number): void { this.room(1); this.buf[this.pos++] = b; }

  varint(n: number): void {
    this.room(8);
    while (n >= 0x80) { this.buf[this.pos++] = (n % 0x80) | 0x80; n = Math.floor(n / 0x80); }
    this.buf[this.pos++] = n;
  }

  f64(x: number): void { this.room(8); this.dv.setFloat64(this.pos, x, true); this.pos += 8; }

  bytes(b: Uint8Array): void { this.varint(b.length); this.room(b.length); this.buf.set(b, this.pos); this.pos += b.length; }

  /** Well-formed strings as UTF-8; strings with lone surrogates as raw UTF-16 code units. */
  str(s: string): void {
    const n = s.length;
    if (!isWellFormed(s)) {
      this.byte(UTF16); this.varint(n); this.room(n * 2);
      for (let i = 0; i < n; i++) this.dv.setUint16(this.pos + i * 2, s.charCodeAt(i), true);
      this.pos += n * 2;
      return;
    }
    this.byte(UTF8);
    let ascii = n <= 64;
    for (let i = 0; ascii && i < n; i++) if (s.charCodeAt(i) > 0x7f) ascii = false;
    if (ascii) { // short ASCII (keys, most values): skip the TextEncoder call overhead
      this.varint(n); this.room(n);
      for (let i = 0; i < n; i++) this.buf[this.pos++] = s.charCodeAt(i);
      return;
    }
    // Reserve a fixed-width varint for the worst case, then pad the real length into it.
    const width = Math.max(1, Math.ceil(Math.log2(n * 3 + 1) / 7));
    this.room(width + n * 3);
    const start = this.pos + width;
    const written = utf8.encodeInto(s, this.buf.subarray(start)).written;
    let len = written;
    for (let i = 0; i < width; i++) {
      this.buf[this.pos + i] = (len % 0x80) | (i < width - 1 ? 0x80 : 0);
      len = Math.floor(len / 0x80);
    }
    this.pos = start + written;
  }

  bigint(v: bigint, tag: number): void {
    if (tag !== BOX_BIG) tag = v < 0n ? BIG_NEG : BIG_POS;
    this.byte(tag);
    if (tag === BOX_BIG) this.byte(v < 0n ? 1 : 0);
    const hex = (v < 0n ? -v : v).toString(16);
    this.varint(hex.length); this.room(hex.length);
    for (let i = 0; i < hex.length; i++) this.buf[this.pos++] = hex.charCodeAt(i);
  }

  /** The encoding written so far, copied out of the scratch buffer. */
  result(): Uint8Array { return this.buf.slice(0, this.pos); }
}

function corrupt(what: string): never {
  throw new StorageCorruptionError(`binary value is corrupt: ${what}`);
}

// Kinds of container being filled by the decoder (its explicit stack replaces recursion, so
// MAX_DEPTH nesting cannot overflow the call stack whatever the caller's own depth).
const D_PROPS = 0, D_ARRAY = 1, D_SPARSE = 2, D_MAP = 3, D_SET = 4, D_CAUSE = 5;

/** A container whose children are still to be read. */
class Pending {
  prev = -1;         // D_SPARSE: last index read (indices must ascend)
  key: unknown;      // D_MAP: key read, waiting for its value
  hasKey = false;
  constructor(
    public kind: number,
    readonly obj: object,
    readonly depth: number,
    public n: number, // children left (D_ARRAY/D_SPARSE: elements left before the named props)
    readonly isArray: boolean,
  ) {}
}

/** Defines an own, enumerable data property: `o[k] = v` would run the `__proto__` setter. */
function defineOwn(o: object, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
}

/** One decoding pass over untrusted bytes. */
class Decoder {
  pos = 1;
  readonly refs: unknown[] = [];
  readonly stack: Pending[] = [];
  readonly dv: DataView;
  constructor(readonly buf: Uint8Array) {
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  byte(): number {
    if (this.pos >= this.buf.length) corrupt('truncated');
    return this.buf[this.pos++]!;
  }

  /** Unsigned LEB128, at most 8 bytes (2^56): more is never written, so it is garbage. */
  varint(): number {
    let n = 0, scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.byte();
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 0x80;
    }
    return corrupt('varint too long');
  }

  /** A count of items that each take at least `unit` bytes: bounded by the bytes left. */
  count(unit: number): number {
    const n = this.varint();
    if (n * unit > this.buf.length - this.pos) corrupt('length overruns the input');
    return n;
  }

  /** `n` bytes, already checked by count(). */
  take(n: number): Uint8Array {
    const start = this.pos;
    this.pos += n;
    return this.buf.subarray(start, this.pos);
  }

  f64(): number {
    if (this.pos + 8 > this.buf.length) corrupt('truncated');
    const x = this.dv.getFloat64(this.pos, true);
    this.pos += 8;
    return x;
  }

  str(tag = this.byte()): string {
    if (tag === UTF8) {
      const n = this.count(1);
      if (n > 32) return utf8Fatal.decode(this.take(n));
      let s = '';
      for (let i = this.pos, end = i + n; i < end; i++) { // short ASCII: no TextDecoder call
        const c = this.buf[i]!;
        if (c > 0x7f) return utf8Fatal.decode(this.take(n));
        s += String.fromCharCode(c);
      }
      this.pos += n;
      return s;
    }
    if (tag !== UTF16) corrupt(`expected a string, got tag ${tag}`);
    const n = this.count(2);
    const units = new Uint16Array(n);
    for (let i = 0; i < n; i++) units[i] = this.dv.getUint16(this.pos + i * 2, true);
    this.pos += n * 2;
    let s = '';
    for (let i = 0; i < n; i += 4096) s += String.fromCharCode(...units.subarray(i, i + 4096));
    return s;
  }

  bigint(negative: boolean): bigint {
    const hex = utf8Fatal.decode(this.take(this.count(1)));
    if (!/^[0-9a-f]+$/.test(hex)) corrupt('bad bigint digits');
    const v = BigInt('0x' + hex);
    return negative ? -v : v;
  }

  /** Registers a new object (ids follow creation order, as in the encoder). */
  obj<T>(o: T, depth: number): T {
    if (depth > MAX_DEPTH) corrupt('nested deeper than MAX_DEPTH');
    this.refs.push(o);
    return o;
  }

  /** Registers a container; its children are read later from the stack. */
  container<T extends object>(o: T, depth: number, kind: number, n: number, isArray = false): T {
    this.obj(o, depth);
    this.stack.push(new Pending(kind, o, depth, n, isArray));
    return o;
  }

  /** Reads one value. A container comes back empty and is filled by later steps. */
  item(depth: number): unknown {
    const tag = this.byte();
    switch (tag) {
      case UNDEF: return undefined;
      case NULL: return null;
      case FALSE: return false;
      case TRUE: return true;
      case INT: { const z = this.varint(); return z % 2 ? -(z + 1) / 2 : z / 2; }
      case FLOAT: return this.f64();
      case UTF8: case UTF16: return this.str(tag);
      case BIG_POS: case BIG_NEG: return this.bigint(tag === BIG_NEG);
      case REF: {
        const id = this.varint();
        if (id >= this.refs.length) corrupt('dangling reference');
        return this.refs[id];
      }
      case OBJECT: return this.container({}, depth, D_PROPS, this.count(2));
      case ARRAY: return this.container([], depth, D_ARRAY, this.count(1), true);
      case SPARSE: {
        const len = this.varint();
        if (len > 0xffffffff) corrupt('array too long');
        const a: unknown[] = [];
        a.length = len;
        return this.container(a, depth, D_SPARSE, this.count(2), true);
      }
      case MAP: return this.container(new Map(), depth, D_MAP, this.count(2));
      case SET: return this.container(new Set(), depth, D_SET, this.count(1));
      case DATE: return this.obj(new Date(this.f64()), depth);
      case REGEXP: { const source = this.str(); return this.obj(new RegExp(source, this.str()), depth); }
      case ABUF: return this.obj(this.take(this.count(1)).slice().buffer, depth);
      case DVIEW: return this.obj(new DataView(this.take(this.count(1)).slice().buffer), depth);
      case TYPED: {
        const Ctor = TYPED_CTORS[this.byte()];
        if (!Ctor) corrupt('typed array kind unknown or unsupported by this runtime');
        const size = Ctor.BYTES_PER_ELEMENT;
        const bytes = this.take(this.count(1)).slice();
        if (bytes.length % size) corrupt('typed array length is not a multiple of its element size');
        if (!LITTLE_ENDIAN && size > 1) swapBytes(bytes, size);
        return this.obj(new Ctor(bytes.buffer), depth);
      }
      case ERROR: return this.error(depth);
      case BOX_NUM: return this.obj(new Number(this.f64()), depth);
      case BOX_STR: return this.obj(new String(this.str()), depth);
      case BOX_TRUE: case BOX_FALSE: return this.obj(new Boolean(tag === BOX_TRUE), depth);
      case BOX_BIG: {
        const sign = this.byte();
        if (sign > 1) corrupt('bad bigint sign');
        return this.obj(Object(this.bigint(sign === 1)) as object, depth);
      }
      default: return corrupt(`unknown tag ${tag}`);
    }
  }

  error(depth: number): Error {
    const Ctor = ERROR_CTORS[this.byte()];
    const flags = this.byte();
    if (!Ctor || flags > 7) corrupt('bad error header');
    const e = new Ctor();
    const hidden = (k: string, value: unknown): void => {
      Object.defineProperty(e, k, { value, writable: true, enumerable: false, configurable: true });
    };
    if (flags & 1) hidden('message', this.str());
    if (flags & 2) hidden('stack', this.str());
    else delete e.stack;
    if (flags & 4) return this.container(e, depth, D_CAUSE, 1);
    return this.obj(e, depth);
  }

  /** Reads the next child of `p`; false once `p` is complete. */
  step(p: Pending): boolean {
    const depth = p.depth + 1;
    switch (p.kind) {
      case D_PROPS: {
        if (p.n === 0) return false;
        p.n--;
        const k = this.str();
        if (p.isArray && (k === 'length' || isIndex(k))) corrupt('bad array property');
        const v = this.item(depth);
        if (k === '__proto__') defineOwn(p.obj, k, v);
        else (p.obj as Record<string, unknown>)[k] = v;
        return true;
      }
      case D_ARRAY: case D_SPARSE: {
        if (p.n === 0) { p.kind = D_PROPS; p.n = this.count(2); return true; } // then named props
        p.n--;
        const a = p.obj as unknown[];
        if (p.kind === D_ARRAY) { a.push(this.item(depth)); return true; }
        const i = this.varint();
        if (i <= p.prev || i >= a.length) corrupt('bad array index');
        a[(p.prev = i)] = this.item(depth);
        return true;
      }
      case D_MAP:
        if (!p.hasKey) {
          if (p.n === 0) return false;
          p.key = this.item(depth); // a container key is filled before the value is read
          p.hasKey = true;
        } else {
          (p.obj as Map<unknown, unknown>).set(p.key, this.item(depth));
          p.hasKey = false;
          p.n--;
        }
        return true;
      case D_SET:
        if (p.n === 0) return false;
        p.n--;
        (p.obj as Set<unknown>).add(this.item(depth));
        return true;
      default: // D_CAUSE
        if (p.n === 0) return false;
        p.n = 0;
        Object.defineProperty(p.obj, 'cause', { value: this.item(depth), writable: true, enumerable: false, configurable: true });
        return true;
    }
  }

  run(): unknown {
    const root = this.item(1);
    const stack = this.stack;
    // Each step consumes input or finishes a container, so garbage cannot loop forever.
    while (stack.length > 0) if (!this.step(stack[stack.length - 1]!)) stack.pop();
    if (this.pos !== this.buf.length) corrupt('trailing bytes');
    return root;
  }
}

/** Decodes bytes from the binary encoder; StorageCorruptionError for anything else. */
export function decodeBinary(bytes: Uint8Array): unknown {
  if (bytes.length === 0 || bytes[0] !== BINARY_FORMAT_V1) corrupt('unknown format');
  try {
    return new Decoder(bytes).run();
  } catch (err) {
    // Built-ins can still refuse garbage (RegExp syntax, invalid UTF-8): same meaning.
    if (err instanceof StorageCorruptionError) throw err;
    throw new StorageCorruptionError(`binary value is corrupt: ${(err as Error).message}`, { cause: err });
  }
}
