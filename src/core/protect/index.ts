/**
 * Data protection of record bodies (issue #5): compression and encryption at rest, pure
 * functions over a body and its codec flags, the same in Node, browsers and workers.
 *
 * Order: compress, then encrypt (compressing ciphertext saves nothing). **This leaks length**:
 * the stored size of a compressed, encrypted body depends on how well its plaintext compresses,
 * so an observer who can store chosen data next to a secret in one value and watch stored sizes
 * can learn about the secret (CRIME/BREACH-style). Leave compression off on backends where that
 * matters; nothing else is offered.
 *
 * Plaintext on an encrypted backend (what {@link seal} does not cover): record keys, the envelope
 * metadata (timestamps, ttl, tags, version, codec flags) and the body's length (to within the
 * compression ratio, plus 30 bytes of overhead).
 *
 * Layouts (the record envelope's `b`, with its flags `f`, see CodecFlag in `record.ts`):
 * - raw: the codec's output, JSON text (string) or binary bytes (`Binary`);
 * - `Compressed`: raw deflate (RFC 1951) of the UTF-8 text or of the binary bytes;
 * - `Encrypted`: `[version = 1][key id][12-byte IV][AES-GCM-256 ciphertext + 16-byte tag]` of the
 *   (possibly compressed) body's bytes; the tag also authenticates the version, key id, the
 *   Binary/Compressed flags, the backend's binding id and the record key.
 *
 * @example
 * ```ts
 * const { ctx, toStore } = await openEncryption(passphrase, storedInfoOrUndefined);
 * const sealed = await seal(encodeValue(value), encodedFlags, 'user.1', { compression: DEFAULT_COMPRESSION, encryption: ctx });
 * const { b, f } = await unseal(sealed.b, sealed.f, 'user.1', ctx); // b is the codec's output again
 * ```
 */
import { CodecFlag } from '../record';
import { StorageConnectionError, StorageCorruptionError, StorageError, StorageValidationError } from '../errors';
import { utf8Length } from '../keys';
import { deflate, inflate, inflateSync, loadCodec } from './compress';
import { openBytes, openBytesSync, sealBytes, type EncryptionContext } from './crypto';

export {
  openEncryption, rotateContext, retireKeys, storedInfo, sealedKeyId, blindIndexer,
  PBKDF2_ITERATIONS, SEAL_VERSION,
  type EncryptionContext, type EncryptionKey, type KeyOptions, type StoredKeyInfo,
} from './crypto';

/** Body as stored in a record envelope: `b` plus its codec flags `f` (CodecFlag: Binary=1, Compressed=2, Encrypted=4). */
export interface Sealed {
  b: string | Uint8Array;
  f: number;
}

/** Compression settings of a backend. */
export interface CompressionOptions {
  /** zlib level 0–9: 1 is fastest, 9 smallest; 0 stores blocks uncompressed, so no body ever gets smaller and all stay raw. */
  level: number;
  /** Bodies under this many bytes (UTF-8 bytes for JSON text) stay raw. */
  threshold: number;
}

/**
 * Defaults: level 6 (zlib's own default; level 1 deflates a 16 KB JSON body about 2x faster for
 * an output ~10% larger) and a 1,024-byte threshold: below it deflate saves a few hundred bytes
 * at most, for a fixed cost of tens of µs per write (pako in browsers: ~100 µs per body).
 */
export const DEFAULT_COMPRESSION: Readonly<CompressionOptions> = Object.freeze({ level: 6, threshold: 1024 });

/** What {@link seal} applies. */
export interface ProtectOptions {
  /** Compress bodies of at least `threshold` bytes, when it saves bytes. Absent: never compress. */
  compression?: CompressionOptions;
  /** Encrypt every body with this backend's context (from {@link openEncryption}). Absent: never encrypt. */
  encryption?: EncryptionContext;
}

const PROTECT_FLAGS = CodecFlag.Compressed | CodecFlag.Encrypted;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Checks compression options; call it where a backend takes them, so a bad option fails at
 * configuration rather than at the first large write. {@link seal} checks them too.
 *
 * @throws StorageValidationError when `level` is not an integer 0–9 or `threshold` not an integer ≥ 0.
 */
export function checkCompression(c: CompressionOptions): void {
  if (typeof c !== 'object' || c === null) throw new StorageValidationError('compression options must be an object { level, threshold }');
  if (!Number.isInteger(c.level) || c.level < 0 || c.level > 9) throw new StorageValidationError(`compression level is ${String(c.level)}: it must be an integer from 0 (none) to 9 (smallest)`);
  if (!Number.isSafeInteger(c.threshold) || c.threshold < 0) throw new StorageValidationError(`compression threshold is ${String(c.threshold)}: it must be a whole number of bytes ≥ 0`);
}

/**
 * Protects one body for storage: compresses it (when `o.compression` is set, the body has at
 * least `threshold` bytes and deflate makes it smaller), then encrypts it (when `o.encryption`
 * is set). Async: WebCrypto is, and pako may load on first use.
 *
 * @param body the value codec's output: JSON text, or binary bytes when `flags` has Binary.
 * @param flags the codec's flags (Binary or 0); Compressed/Encrypted must not be set yet.
 * @param recordKey the record's key, bound into the ciphertext.
 * @returns the body to store and its flags (the input flags plus what was applied). A body
 *   returned with Compressed or Encrypted set is always a Uint8Array.
 * @throws StorageValidationError for bad compression options, or a body already sealed.
 */
export async function seal(body: string | Uint8Array, flags: number, recordKey: string, o: ProtectOptions): Promise<Sealed> {
  if (flags & PROTECT_FLAGS) throw new StorageValidationError(`the body of key "${recordKey}" is already compressed or encrypted (flags ${flags}): seal() takes the value codec's output`);
  let b: string | Uint8Array = body;
  let f = flags;
  let bytes: Uint8Array | undefined; // the body's bytes, once encoded
  const c = o.compression;
  if (c !== undefined) {
    checkCompression(c);
    // UTF-8 needs at least one byte per UTF-16 unit, and at most three.
    const size = typeof body === 'string'
      ? (body.length >= c.threshold ? c.threshold : body.length * 3 < c.threshold ? -1 : utf8Length(body))
      : body.byteLength;
    if (size >= c.threshold && c.level > 0) {
      bytes = typeof body === 'string' ? encoder.encode(body) : body;
      const z = await deflate(bytes, c.level);
      if (z.byteLength < bytes.byteLength) {
        b = z;
        f |= CodecFlag.Compressed;
      }
    }
  }
  if (o.encryption !== undefined) {
    const plain = typeof b === 'string' ? bytes ?? encoder.encode(b) : b;
    b = await sealBytes(o.encryption, plain, recordKey, f);
    f |= CodecFlag.Encrypted;
  }
  return { b, f };
}

/**
 * Inverse of {@link seal}: decrypts (when flagged Encrypted) and inflates (when flagged
 * Compressed). Returns the body exactly as the value codec produced it (a string for JSON text,
 * bytes when Binary) and the flags without Compressed/Encrypted. A body with neither flag comes
 * back as it is.
 *
 * @param ctx the backend's encryption context; may be undefined when the backend has no key.
 * @throws StorageCorruptionError when the body was altered, moved from another record or
 *   backend, sealed with a key id the context does not hold, or does not inflate / decode.
 * @throws StorageConnectionError with code `STORAGE_BAD_KEY` when the record is encrypted and
 *   `ctx` is undefined (the backend was opened without its encryptionKey).
 */
export async function unseal(b: string | Uint8Array, flags: number, recordKey: string, ctx: EncryptionContext | undefined): Promise<Sealed> {
  if (!(flags & PROTECT_FLAGS)) return { b, f: flags };
  let cur = b;
  let f = flags;
  if (f & CodecFlag.Encrypted) {
    if (ctx === undefined) {
      throw new StorageConnectionError(`the record for key "${recordKey}" is encrypted and this backend was opened without an encryptionKey: open it with the key it was encrypted with`, { code: 'STORAGE_BAD_KEY' });
    }
    f &= ~CodecFlag.Encrypted;
    cur = await openBytes(ctx, bodyBytes(cur, recordKey, 'encrypted'), recordKey, f);
  }
  if (f & CodecFlag.Compressed) {
    cur = await inflate(bodyBytes(cur, recordKey, 'compressed'), recordKey);
    f &= ~CodecFlag.Compressed;
  }
  // `cur` is bytes here: both steps above take and return bytes.
  return { b: f & CodecFlag.Binary ? cur : textOf(cur, recordKey), f };
}

/**
 * Synchronous {@link unseal} for bodies that are at most compressed (the memory engine's
 * synchronous reads). Inflating needs the compression module loaded: in runtimes without native
 * zlib (browsers), await {@link loadCompression} first; any compressed write has loaded it.
 *
 * @throws StorageCorruptionError when the body does not inflate or decode.
 * @throws StorageError (code STORAGE_ERROR) when the body is encrypted (use {@link unseal}) or
 *   the compression module is not loaded yet.
 */
export function unsealSync(b: string | Uint8Array, flags: number, recordKey?: string): Sealed {
  if (!(flags & PROTECT_FLAGS)) return { b, f: flags };
  const what = recordKey === undefined ? 'a record' : `the record for key "${recordKey}"`;
  if (flags & CodecFlag.Encrypted) throw new StorageError(`${what} is encrypted: decrypting is asynchronous, use unseal()`);
  const f = flags & ~CodecFlag.Compressed;
  const plain = inflateSync(bodyBytes(b, recordKey ?? '?', 'compressed'), recordKey);
  return { b: f & CodecFlag.Binary ? plain : textOf(plain, recordKey ?? '?'), f };
}

/**
 * {@link unseal} without waiting, when that is possible: bodies that are at most compressed (with
 * the compression module loaded), and encrypted ones where node:crypto is available (Node).
 * Returns undefined when the body needs {@link unseal}; throws what unseal would.
 */
export function unsealNow(b: string | Uint8Array, flags: number, recordKey: string, ctx: EncryptionContext | undefined): Sealed | undefined {
  if (!(flags & CodecFlag.Encrypted)) return unsealSync(b, flags, recordKey);
  if (ctx === undefined) return undefined;
  const f = flags & ~CodecFlag.Encrypted;
  const plain = openBytesSync(ctx, bodyBytes(b, recordKey, 'encrypted'), recordKey, f);
  if (plain === undefined) return undefined;
  return finish(plain, f, recordKey);
}

function finish(plain: Uint8Array, f: number, recordKey: string): Sealed {
  if (f & CodecFlag.Compressed) return unsealSync(plain, f, recordKey);
  return { b: f & CodecFlag.Binary ? plain : textOf(plain, recordKey), f };
}

/**
 * Loads the compression implementation now (pako, in runtimes without native zlib) so that
 * {@link unsealSync} can inflate. Resolves at once where native zlib is available.
 */
export async function loadCompression(): Promise<void> {
  await loadCodec();
}

/** True when a body with these flags needs {@link unseal} (it is compressed or encrypted). */
export function isSealed(flags: number): boolean {
  return (flags & PROTECT_FLAGS) !== 0;
}

function bodyBytes(b: string | Uint8Array, recordKey: string, what: string): Uint8Array {
  if (b instanceof Uint8Array) return b;
  throw new StorageCorruptionError(`the record for key "${recordKey}" is flagged ${what} but its body is text, not bytes`);
}

function textOf(b: string | Uint8Array, recordKey: string): string {
  if (typeof b === 'string') return b;
  try {
    return decoder.decode(b);
  } catch (cause) {
    throw new StorageCorruptionError(`the record for key "${recordKey}" is corrupt: its text body is not valid UTF-8`, { cause });
  }
}
