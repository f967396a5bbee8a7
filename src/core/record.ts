/**
 * The record envelope: one stored entry with its metadata. It already carries what transactions,
 * compression, encryption and sync need (a per-record version, codec flags), so stores written
 * today never need a migration for them.
 *
 * Engines that store JS objects (Maps, IndexedDB) keep the envelope itself; byte engines (LevelDB)
 * store it packed by {@link packRecord}. Envelopes are immutable once built: nothing mutates `b`.
 */
import { StorageCorruptionError } from './errors';
import { utf8Length } from './keys';

/** Codec flags (`f`): what was applied to the body, so a store can hold a mix. */
export const enum CodecFlag {
  /** Body is the binary value format, not JSON text. */
  Binary = 1,
  /** Body was compressed (reserved for the compression issue). */
  Compressed = 2,
  /** Body was encrypted (reserved for the encryption issue). */
  Encrypted = 4,
}

/** A stored entry. Short field names keep IndexedDB records small. */
export interface RecordEnvelope {
  /** Codec flags, see {@link CodecFlag}. */
  readonly f: number;
  /** createdAt, ms since epoch; kept across updates. */
  readonly c: number;
  /** updatedAt, ms since epoch. */
  readonly u: number;
  /** expiresAt, ms since epoch; 0 = never. */
  readonly e: number;
  /** ttl in seconds as given by the caller; 0 = none. */
  readonly l: number;
  /** Tags, or undefined. */
  readonly t: readonly string[] | undefined;
  /** Version: 1 when created, +1 on every write of the key. */
  readonly n: number;
  /** Body: JSON text, or bytes when a codec flag says so. */
  readonly b: string | Uint8Array;
}

const FORMAT = 1;
const HAS_TAGS = 1;
const BODY_STRING = 2;
const HEADER = 3 + 8 * 4 + 4;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Writes UTF-8 for {@link packRecord}. The default uses TextEncoder; Node's LevelDB engine passes
 * a Buffer-based one, twice as fast for the short strings records hold.
 */
export interface Utf8Writer {
  /** Exact UTF-8 length of `s`. */
  byteLength(s: string): number;
  /** A writable byte array of `size` bytes (its contents need not be zeroed). */
  alloc(size: number): Uint8Array;
  /** Writes `s` at `offset` of `out`; returns the bytes written. */
  write(out: Uint8Array, s: string, offset: number): number;
}

const portableUtf8: Utf8Writer = {
  byteLength: utf8Length,
  alloc: (size) => new Uint8Array(size),
  write: (out, s, offset) => encoder.encodeInto(s, out.subarray(offset)).written,
};

/** Serializes an envelope into bytes for byte engines. */
export function packRecord(r: RecordEnvelope, utf8: Utf8Writer = portableUtf8): Uint8Array {
  const tags = r.t ? JSON.stringify(r.t) : undefined;
  const tagLength = tags === undefined ? 0 : utf8.byteLength(tags);
  const bodyIsString = typeof r.b === 'string';
  const bodyLength = bodyIsString ? utf8.byteLength(r.b as string) : (r.b as Uint8Array).byteLength;
  const start = HEADER + (tags === undefined ? 0 : 4 + tagLength);
  const out = utf8.alloc(start + bodyLength);
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out[0] = FORMAT;
  out[1] = r.f;
  out[2] = (tags === undefined ? 0 : HAS_TAGS) | (bodyIsString ? BODY_STRING : 0);
  dv.setFloat64(3, r.c);
  dv.setFloat64(11, r.u);
  dv.setFloat64(19, r.e);
  dv.setFloat64(27, r.l);
  dv.setUint32(35, r.n);
  if (tags !== undefined) {
    dv.setUint32(HEADER, tagLength);
    utf8.write(out, tags, HEADER + 4);
  }
  if (bodyIsString) utf8.write(out, r.b as string, start);
  else out.set(r.b as Uint8Array, start);
  return out;
}

/** Inverse of {@link packRecord}; StorageCorruptionError when the bytes are not a record. */
export function unpackRecord(bytes: Uint8Array, key: string): RecordEnvelope {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength < HEADER || bytes[0] !== FORMAT) {
    throw corrupt(key, 'bad header');
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const layout = bytes[2]!;
  let start = HEADER;
  let t: string[] | undefined;
  try {
    if (layout & HAS_TAGS) {
      const len = dv.getUint32(HEADER);
      if (HEADER + 4 + len > bytes.byteLength) throw new Error('tags overrun the record');
      t = JSON.parse(decoder.decode(bytes.subarray(HEADER + 4, HEADER + 4 + len))) as string[];
      if (!Array.isArray(t)) throw new Error('tags are not an array');
      start = HEADER + 4 + len;
    }
    const body = bytes.subarray(start);
    return {
      f: bytes[1]!,
      c: dv.getFloat64(3),
      u: dv.getFloat64(11),
      e: dv.getFloat64(19),
      l: dv.getFloat64(27),
      n: dv.getUint32(35),
      t,
      // A copy into a plain Uint8Array: classic-level hands out Buffers, whose slice() is a view.
      b: layout & BODY_STRING ? decoder.decode(body) : new Uint8Array(body),
    };
  } catch (cause) {
    throw corrupt(key, 'undecodable', cause);
  }
}

/** Checks the shape of an envelope read from a structured engine (IndexedDB can be edited by hand). */
export function checkEnvelope(v: unknown, key: string): RecordEnvelope {
  const r = v as RecordEnvelope;
  if (
    typeof v !== 'object' || v === null ||
    typeof r.f !== 'number' || typeof r.c !== 'number' || typeof r.u !== 'number' ||
    typeof r.e !== 'number' || typeof r.n !== 'number' ||
    (typeof r.b !== 'string' && !(r.b instanceof Uint8Array))
  ) {
    throw corrupt(key, 'not a record envelope');
  }
  return r;
}

/** Scratch output of textLength (lazily allocated, 48 KiB). */
let scratch: Uint8Array | undefined;
const SCRATCH_CHARS = 16_384;

/**
 * `utf8Length` of a string body, by TextEncoder for all but short ones: ~7x the JS loop on 200-char
 * JSON, and a size limit measures every body it writes and evicts. Equal to utf8Length on
 * well-formed text, which JSON.stringify always returns (it escapes lone surrogates).
 */
function textLength(s: string): number {
  if (s.length < 64 || s.length > SCRATCH_CHARS) return utf8Length(s);
  return encoder.encodeInto(s, (scratch ??= new Uint8Array(SCRATCH_CHARS * 3))).written;
}

function corrupt(key: string, what: string, cause?: unknown): StorageCorruptionError {
  return new StorageCorruptionError(`stored record for key "${key}" is corrupt (${what})`, { cause });
}

/** Bytes a record occupies, as counted against `maxSize`: key, body and a fixed header. */
export function recordSize(key: string, r: RecordEnvelope): number {
  const body = typeof r.b === 'string' ? textLength(r.b) : r.b.byteLength;
  const tags = r.t ? utf8Length(JSON.stringify(r.t)) + 4 : 0;
  return utf8Length(key) + HEADER + tags + body;
}
