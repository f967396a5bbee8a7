/**
 * Encryption at rest: AES-GCM-256 through `globalThis.crypto.subtle` (the same code in Node ≥ 20,
 * browsers and workers; no shim), with envelope keys.
 *
 * Keys (per backend):
 * - A random 256-bit **data key** per key id encrypts records. It never leaves memory unwrapped.
 * - The caller's `encryptionKey` yields a **key-encryption key** (KEK) that wraps the data keys:
 *   a passphrase through PBKDF2-SHA256 (≥ 600,000 iterations, random 16-byte salt; the passphrase
 *   is NFC-normalized, so composed and decomposed spellings open the same store), 32 raw bytes or
 *   an HKDF `CryptoKey` through HKDF-SHA256 (random 16-byte salt).
 * - The wrapped data keys are the key check: AES-GCM authenticates the unwrap, so a wrong key is a
 *   `STORAGE_BAD_KEY` error at open, never garbage on a later read.
 * - A random 16-byte **binding id**, made with the store, is mixed into every record's additional
 *   authenticated data, with the record key: a ciphertext moved to another record or to another
 *   backend fails authentication (and another backend has other data keys anyway).
 *
 * Rotation ({@link rotateContext}) makes a new data key under a new id and wraps every data key
 * under the new KEK, so the new `encryptionKey` alone reads old- and new-key records: a rotation
 * interrupted at any point resumes with the new key only. {@link retireKeys} drops the old data
 * keys once every record has been re-sealed.
 *
 * Random 96-bit IVs: NIST SP 800-38D bounds one key to 2^32 encryptions with random IVs; rotate
 * (which makes a new data key) long before a backend has written that many records.
 */
import { StorageConnectionError, StorageCorruptionError, StorageValidationError } from '../errors';
import { hmacSha256 } from './hmac';

/** Version byte of the encrypted-body layout. */
export const SEAL_VERSION = 1;
/** `[version][key id][12-byte IV]` before the ciphertext. */
export const SEAL_HEADER = 14;
/** AES-GCM tag bytes at the end of the ciphertext. */
export const TAG_BYTES = 16;
/** Default and minimum PBKDF2-SHA256 iterations (OWASP 2023 figure). */
export const PBKDF2_ITERATIONS = 600_000;
/** Iterations allowed below {@link PBKDF2_ITERATIONS} only when `globalThis.__TIERSTORE_TEST__ === true`. */
export const TEST_MIN_ITERATIONS = 1_000;

const IV_BYTES = 12;
const BINDING_BYTES = 16;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Wrap id of the blind-index key (data key ids are 0–255). */
const INDEX_KEY_ID = 256;
const MAX_ITERATIONS = 100_000_000;
const KEK_INFO = 'tierstore/v1/kek';
const WRAP_AAD = 'tierstore/v1/data-key';
const INDEX_WRAP_AAD = 'tierstore/v1/index-key';
const encoder = new TextEncoder();

/** What {@link openEncryption} accepts as `encryptionKey`. */
export type EncryptionKey = string | CryptoKey | Uint8Array;

/**
 * The key-check and key-derivation record of one backend, JSON-able: persist it in the backend's
 * metadata and hand it back to {@link openEncryption} on every later open. It holds no secret
 * usable without the `encryptionKey` (the data keys are wrapped).
 */
export interface StoredKeyInfo {
  /** Format version: 1. */
  readonly v: 1;
  /** Binding id of the backend (base64, 16 bytes), in every record's authenticated data. */
  readonly binding: string;
  /** How the KEK comes from the `encryptionKey`: a passphrase (PBKDF2) or key bytes / CryptoKey (HKDF). */
  readonly kdf: 'pbkdf2-sha256' | 'hkdf-sha256';
  /** KDF salt (base64, 16 bytes). */
  readonly salt: string;
  /** PBKDF2 iterations (pbkdf2-sha256 only). */
  readonly iterations?: number;
  /** Key id new records are sealed with. */
  readonly current: number;
  /** The data keys, each wrapped by the KEK: base64 of `[12-byte IV][AES-GCM(32-byte key)+tag]`. */
  readonly keys: ReadonlyArray<{ readonly id: number; readonly wrapped: string }>;
  /**
   * The blind-index key (HMAC-SHA256 of index entries), wrapped by the KEK like a data key. It
   * stays the same through rotations (index entries need no rebuild). Absent in stores made
   * before blind indexes existed: the next open adds it (returned as `toStore`).
   */
  readonly index?: string;
}

/**
 * An open backend's encryption state: the unwrapped data keys and the binding id. Opaque apart
 * from the read-only facts below; the keys themselves are not reachable from it.
 */
export interface EncryptionContext {
  /** Key id that {@link sealBytes} uses. */
  readonly currentKeyId: number;
  /** Every key id this context can decrypt. */
  readonly keyIds: readonly number[];
  /** The backend's binding id (base64). */
  readonly binding: string;
}

interface Internals {
  readonly binding: Bytes;
  readonly keys: ReadonlyMap<number, CryptoKey>;
  /** The blind-index key (raw: HMAC runs synchronously, see hmac.ts). */
  readonly indexKey: Bytes;
  /** The stored form, kept for rotate/retire. */
  readonly info: StoredKeyInfo;
}

const internals = new WeakMap<EncryptionContext, Internals>();
const subtle = (): SubtleCrypto => {
  const s = globalThis.crypto?.subtle;
  if (s === undefined) {
    throw new StorageConnectionError('encryption needs WebCrypto (globalThis.crypto.subtle): in browsers it exists only in secure contexts (https or localhost)');
  }
  return s;
};
const random = (n: number): Bytes => globalThis.crypto.getRandomValues(new Uint8Array(n));
/** TypeScript's WebCrypto types want ArrayBuffer-backed views; ours always are (none are shared). */
type Bytes = Uint8Array<ArrayBuffer>;
const bs = (u: Uint8Array): Bytes => u as Bytes;

// ---------------------------------------------------------------------------------------------
// Opening, rotation

/** Options of {@link openEncryption} and {@link rotateContext}. */
export interface KeyOptions {
  /**
   * PBKDF2 iterations for a passphrase when the KEK is made (new store, rotation); ignored when
   * opening (the stored count is used). Default and minimum 600,000; values down to 1,000 are
   * accepted only when `globalThis.__TIERSTORE_TEST__ === true` (fast tests).
   */
  iterations?: number;
}

/**
 * Opens encryption for a backend.
 *
 * @param key a passphrase (PBKDF2-SHA256), 32 raw bytes or an HKDF `CryptoKey` (HKDF-SHA256).
 * @param stored what a previous open returned as `toStore` for this backend, or undefined for a
 *   new store: a new binding id and data key are made and returned as `toStore`, which the caller
 *   must persist before sealing anything with `ctx`.
 * @throws StorageValidationError for a bad key or options (empty passphrase, not 32 bytes,
 *   iterations below the minimum, a CryptoKey that is not an HKDF key).
 * @throws StorageConnectionError with code `STORAGE_BAD_KEY` when `key` is not the key the store
 *   was created with (or not of the same kind: passphrase vs key bytes).
 * @throws StorageCorruptionError when `stored` is malformed.
 * @example
 * ```ts
 * const { ctx, toStore } = await openEncryption('correct horse battery staple', await meta.get('encryption'));
 * if (toStore) await meta.set('encryption', toStore);
 * ```
 */
export async function openEncryption(key: EncryptionKey, stored: StoredKeyInfo | undefined, options: KeyOptions = {}): Promise<{ ctx: EncryptionContext; toStore?: StoredKeyInfo }> {
  const input = checkKey(key);
  if (stored === undefined) {
    const iterations = checkIterations(options.iterations);
    const binding = random(BINDING_BYTES);
    const id = 1;
    const dataKey = random(KEY_BYTES);
    const indexKey = random(KEY_BYTES);
    const { info, kek } = await newKek(input, iterations, toBase64(binding), id);
    const info2: StoredKeyInfo = { ...info, keys: [{ id, wrapped: await wrap(kek, binding, id, dataKey) }], index: await wrap(kek, binding, INDEX_KEY_ID, indexKey) };
    const ctx = makeContext(binding, new Map([[id, await importDataKey(dataKey)]]), info2, indexKey);
    dataKey.fill(0);
    return { ctx, toStore: info2 };
  }
  const info = checkStored(stored);
  if ((info.kdf === 'pbkdf2-sha256') !== (input.kind === 'passphrase')) {
    throw badKey(info.kdf === 'pbkdf2-sha256'
      ? 'this backend was encrypted with a passphrase, and the encryptionKey given is key bytes or a CryptoKey: pass the passphrase'
      : 'this backend was encrypted with key bytes or a CryptoKey, and the encryptionKey given is a passphrase: pass the key');
  }
  const binding = fromBase64(info.binding);
  const kek = await deriveKek(input, fromBase64(info.salt), info.iterations ?? 0, info.binding);
  const keys = await unwrapAll(kek, binding, info);
  if (info.index === undefined) {
    // A store from before blind indexes: add the index key (the caller stores the new info).
    const indexKey = random(KEY_BYTES);
    const upgraded: StoredKeyInfo = { ...info, index: await wrap(kek, binding, INDEX_KEY_ID, indexKey) };
    return { ctx: makeContext(binding, keys, upgraded, indexKey), toStore: upgraded };
  }
  return { ctx: makeContext(binding, keys, info, await unwrapIndexKey(kek, binding, info.index)) };
}

/**
 * Starts a key rotation: a new data key under a new key id, and every data key (old and new)
 * wrapped under the KEK of `newKey`. The returned context seals with the new key id and decrypts
 * records of every id. Persist `toStore` (atomically replacing the old one) BEFORE sealing with
 * the new context; from then on only `newKey` opens the backend, and it reads every record.
 * Then re-seal the records whose key id is not current (see {@link sealedKeyId}) and call
 * {@link retireKeys}.
 *
 * @throws StorageValidationError for a bad `newKey` or options, or when all 256 key ids are in
 *   use (retire old keys first).
 */
export async function rotateContext(ctx: EncryptionContext, newKey: EncryptionKey, options: KeyOptions = {}): Promise<{ ctx: EncryptionContext; toStore: StoredKeyInfo }> {
  const own = get(ctx);
  const input = checkKey(newKey);
  const iterations = checkIterations(options.iterations);
  let id = (own.info.current + 1) & 0xff;
  for (let tries = 0; own.keys.has(id); tries++, id = (id + 1) & 0xff) {
    if (tries === 256) throw new StorageValidationError('all 256 key ids are in use: finish the running rotation (retireKeys) before starting another');
  }
  const dataKey = random(KEY_BYTES);
  const keys = new Map(own.keys);
  keys.set(id, await importDataKey(dataKey));
  const { info, kek } = await newKek(input, iterations, own.info.binding, id);
  const wrapped: Array<{ id: number; wrapped: string }> = [];
  for (const [kid, k] of keys) {
    const raw = kid === id ? dataKey : new Uint8Array(await subtle().exportKey('raw', k));
    wrapped.push({ id: kid, wrapped: await wrap(kek, own.binding, kid, raw) });
    raw.fill(0);
  }
  const toStore: StoredKeyInfo = { ...info, keys: wrapped, index: await wrap(kek, own.binding, INDEX_KEY_ID, own.indexKey) };
  return { ctx: makeContext(own.binding, keys, toStore, own.indexKey), toStore };
}

/**
 * Ends a rotation: a context and stored info holding only the current data key. Call it once no
 * record sealed with an older key id remains; records still sealed with a retired id become
 * unreadable (StorageCorruptionError).
 */
export function retireKeys(ctx: EncryptionContext): { ctx: EncryptionContext; toStore: StoredKeyInfo } {
  const own = get(ctx);
  const current = own.info.current;
  const toStore: StoredKeyInfo = { ...own.info, keys: own.info.keys.filter((k) => k.id === current) };
  return { ctx: makeContext(own.binding, new Map([[current, own.keys.get(current)!]]), toStore, own.indexKey), toStore };
}

/**
 * The blind-index function of a backend: HMAC-SHA256 under its index key of
 * `[scope as UTF-16 code units][0, 0][value as UTF-16 code units]`, truncated to 128 bits, as 32
 * lowercase hex digits. Equal inputs give equal outputs; nothing about the value (its order, its
 * length, its type) can be learned from the output without the key. `scope` separates indexes
 * and fields, so one value gives unrelated outputs in two of them.
 */
export function blindIndexer(ctx: EncryptionContext): (scope: string, value: string) => string {
  const mac = hmacSha256(get(ctx).indexKey);
  return (scope, value) => {
    const n = scope.length + 1 + value.length;
    const data = new Uint8Array(n * 2);
    let j = 0;
    const put = (str: string) => { for (let i = 0; i < str.length; i++, j += 2) { const c = str.charCodeAt(i); data[j] = c & 0xff; data[j + 1] = c >>> 8; } };
    put(scope);
    j += 2;
    put(value);
    const d = mac(data);
    let hex = '';
    for (let i = 0; i < 16; i++) hex += HEX[d[i]!];
    return hex;
  };
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** The stored info that reopens `ctx`'s backend (what the last open / rotate / retire returned or read). */
export function storedInfo(ctx: EncryptionContext): StoredKeyInfo {
  return get(ctx).info;
}

// ---------------------------------------------------------------------------------------------
// Records

/**
 * Encrypts one record body: `[version][key id][12-byte IV][AES-GCM ciphertext + 16-byte tag]`,
 * with a fresh random IV, and additional authenticated data binding it to the layout header, the
 * inner codec flags, the backend and `recordKey`.
 */
export async function sealBytes(ctx: EncryptionContext, plain: Uint8Array, recordKey: string, innerFlags: number): Promise<Uint8Array> {
  const own = get(ctx);
  const id = own.info.current;
  const iv = nextIv();
  const ad = aad(SEAL_VERSION, id, innerFlags, own.binding, recordKey);
  const native = nativeKey(own, id);
  let out: Uint8Array;
  if (native !== undefined) {
    const c = native.crypto.createCipheriv('aes-256-gcm', native.key, iv, { authTagLength: TAG_BYTES });
    c.setAAD(ad);
    const body = c.update(plain);
    const rest = c.final();
    const tag = c.getAuthTag();
    out = new Uint8Array(SEAL_HEADER + body.byteLength + rest.byteLength + TAG_BYTES);
    out.set(body, SEAL_HEADER);
    out.set(rest, SEAL_HEADER + body.byteLength);
    out.set(tag, out.byteLength - TAG_BYTES);
  } else {
    const ct = await subtle().encrypt({ name: 'AES-GCM', iv, additionalData: ad, tagLength: 128 }, own.keys.get(id)!, bs(plain));
    out = new Uint8Array(SEAL_HEADER + ct.byteLength);
    out.set(new Uint8Array(ct), SEAL_HEADER);
  }
  out[0] = SEAL_VERSION;
  out[1] = id;
  out.set(iv, 2);
  return out;
}

/**
 * Inverse of {@link sealBytes}.
 *
 * @throws StorageCorruptionError when the body is not an encrypted body of this backend and
 *   record (altered version, key id, IV, ciphertext or tag; moved from another record or backend;
 *   sealed with a retired key, or flags altered).
 */
export async function openBytes(ctx: EncryptionContext, sealed: Uint8Array, recordKey: string, innerFlags: number): Promise<Uint8Array> {
  const { own, id, key, iv, ad } = parseSealed(ctx, sealed, recordKey, innerFlags);
  const native = nativeKey(own, id);
  try {
    if (native !== undefined) return nativeOpen(native, sealed, iv, ad);
    const plain = await subtle().decrypt({ name: 'AES-GCM', iv, additionalData: ad, tagLength: 128 }, key, bs(sealed.subarray(SEAL_HEADER)));
    return new Uint8Array(plain);
  } catch (cause) {
    throw authFailed(recordKey, cause);
  }
}

/**
 * Synchronous {@link openBytes} where node:crypto is available (Node), else undefined: the caller
 * then uses openBytes. Same checks and errors.
 */
export function openBytesSync(ctx: EncryptionContext, sealed: Uint8Array, recordKey: string, innerFlags: number): Uint8Array | undefined {
  if (nodeCrypto === null) return undefined;
  const { own, id, iv, ad } = parseSealed(ctx, sealed, recordKey, innerFlags);
  const native = nativeKey(own, id);
  if (native === undefined) return undefined;
  try {
    return nativeOpen(native, sealed, iv, ad);
  } catch (cause) {
    throw authFailed(recordKey, cause);
  }
}

function parseSealed(ctx: EncryptionContext, sealed: Uint8Array, recordKey: string, innerFlags: number) {
  const own = get(ctx);
  if (!(sealed instanceof Uint8Array) || sealed.byteLength < SEAL_HEADER + TAG_BYTES) throw corrupt(recordKey, 'too short to be an encrypted body');
  const version = sealed[0]!;
  if (version !== SEAL_VERSION) throw corrupt(recordKey, `unknown encrypted-body version ${version}`);
  const id = sealed[1]!;
  const key = own.keys.get(id);
  if (key === undefined) throw corrupt(recordKey, `sealed with key id ${id}, which this backend does not hold (known: ${[...own.keys.keys()].join(', ')})`);
  return { own, id, key, iv: bs(sealed.subarray(2, SEAL_HEADER)), ad: aad(version, id, innerFlags, own.binding, recordKey) };
}

function nativeOpen(native: { crypto: NodeCrypto; key: unknown }, sealed: Uint8Array, iv: Uint8Array, ad: Uint8Array): Uint8Array {
  const d = native.crypto.createDecipheriv('aes-256-gcm', native.key, iv, { authTagLength: TAG_BYTES });
  d.setAuthTag(sealed.subarray(sealed.byteLength - TAG_BYTES));
  d.setAAD(ad);
  const body = d.update(sealed.subarray(SEAL_HEADER, sealed.byteLength - TAG_BYTES));
  const rest = d.final(); // throws when the tag does not authenticate
  // GCM emits everything from update: no copy when that Buffer owns its memory (not a pool slice).
  if (rest.byteLength === 0 && body.byteOffset === 0 && body.byteLength === body.buffer.byteLength) return new Uint8Array(body.buffer, 0, body.byteLength);
  const plain = new Uint8Array(body.byteLength + rest.byteLength);
  plain.set(body);
  plain.set(rest, body.byteLength);
  return plain;
}

function authFailed(recordKey: string, cause: unknown): StorageCorruptionError {
  return corrupt(recordKey, 'authentication failed: the ciphertext, IV, tag or flags were altered, or it belongs to another record or backend', cause);
}

/** Key id of an encrypted body (its second byte), or undefined when `b` is too short to be one. */
export function sealedKeyId(b: string | Uint8Array): number | undefined {
  return b instanceof Uint8Array && b.byteLength >= SEAL_HEADER + TAG_BYTES ? b[1] : undefined;
}

// ---------------------------------------------------------------------------------------------
// Internals

// IVs come from a pool of random bytes, refilled 4,096 IVs at a time: one getRandomValues call
// costs about as much as it does for 12 bytes, and per seal it was a measurable share of the
// time. Each IV is taken exactly once (the cursor moves before any await), and a refill
// allocates a new buffer, so a view handed to WebCrypto (which copies it anyway) never changes.
const IV_POOL = IV_BYTES * 4096;
let ivPool: Bytes = new Uint8Array(0);
let ivAt = 0;

function nextIv(): Bytes {
  if (ivAt + IV_BYTES > ivPool.byteLength) {
    ivPool = random(IV_POOL);
    ivAt = 0;
  }
  const iv = ivPool.subarray(ivAt, ivAt + IV_BYTES);
  ivAt += IV_BYTES;
  return iv;
}

// Node: AES-GCM through node:crypto's synchronous ciphers, with the same data keys (a KeyObject
// made from the CryptoKey) and the same bytes out. crypto.subtle in Node runs every encrypt and
// decrypt as a job on libuv's thread pool, and for a 200-byte record that hop costs ~30x the
// cipher itself (bench row 17: encrypted LevelDB get 0.12x of plain through subtle). It is
// reached through `process.getBuiltinModule` (a runtime lookup: no bundler sees it), so browsers
// and workers keep crypto.subtle. Both paths read each other's records (tested).

interface NodeCipher {
  setAAD(ad: Uint8Array): void;
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
}
interface NodeCrypto {
  createCipheriv(alg: 'aes-256-gcm', key: unknown, iv: Uint8Array, o: { authTagLength: number }): NodeCipher & { getAuthTag(): Uint8Array };
  createDecipheriv(alg: 'aes-256-gcm', key: unknown, iv: Uint8Array, o: { authTagLength: number }): NodeCipher & { setAuthTag(tag: Uint8Array): void };
  KeyObject: { from(key: CryptoKey): unknown };
}

let nodeCrypto: NodeCrypto | null | undefined; // null: looked up, not available or switched off
const nodeKeys = new WeakMap<CryptoKey, unknown>();

function nativeKey(own: Internals, id: number): { crypto: NodeCrypto; key: unknown } | undefined {
  if (nodeCrypto === undefined) {
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    try { nodeCrypto = (proc?.getBuiltinModule?.('crypto') as NodeCrypto | undefined) ?? null; } catch { nodeCrypto = null; }
  }
  if (nodeCrypto === null) return undefined;
  const ck = own.keys.get(id)!;
  let key = nodeKeys.get(ck);
  if (key === undefined) {
    key = nodeCrypto.KeyObject.from(ck);
    nodeKeys.set(ck, key);
  }
  return { crypto: nodeCrypto, key };
}

/**
 * Test hook: `false` makes record sealing use crypto.subtle even where node:crypto exists,
 * `true` looks node:crypto up again. Not part of the public API.
 */
export function useNodeCipher(on: boolean): void {
  nodeCrypto = on ? undefined : null;
}

type KeyInput =
  | { kind: 'passphrase'; bytes: Bytes }
  | { kind: 'bytes'; bytes: Bytes }
  | { kind: 'cryptokey'; key: CryptoKey };

function checkKey(key: unknown): KeyInput {
  if (typeof key === 'string') {
    if (key.length === 0) throw new StorageValidationError('encryptionKey is an empty passphrase: pass a non-empty passphrase, 32 key bytes or an HKDF CryptoKey');
    return { kind: 'passphrase', bytes: encoder.encode(key.normalize('NFC')) };
  }
  if (key instanceof Uint8Array) {
    if (key.byteLength !== KEY_BYTES) throw new StorageValidationError(`encryptionKey has ${key.byteLength} bytes: raw keys must be exactly 32 bytes (256 bits), e.g. crypto.getRandomValues(new Uint8Array(32))`);
    return { kind: 'bytes', bytes: bs(key.slice()) };
  }
  const k = key as CryptoKey | null;
  if (typeof k === 'object' && k !== null && typeof k.type === 'string' && typeof k.algorithm === 'object') {
    if (k.type !== 'secret' || k.algorithm.name !== 'HKDF' || !(k.usages.includes('deriveKey') || k.usages.includes('deriveBits'))) {
      throw new StorageValidationError(`encryptionKey is a ${k.type} ${k.algorithm.name} CryptoKey with usages [${k.usages.join(', ')}]: a CryptoKey must be an HKDF key that allows deriveKey or deriveBits, e.g. crypto.subtle.importKey('raw', bytes, 'HKDF', false, ['deriveKey'])`);
    }
    return { kind: 'cryptokey', key: k };
  }
  throw new StorageValidationError(`encryptionKey must be a passphrase string, 32 bytes (Uint8Array) or an HKDF CryptoKey, not ${key === null ? 'null' : typeof key}`);
}

function checkIterations(iterations: number | undefined): number {
  if (iterations === undefined) return PBKDF2_ITERATIONS;
  const testing = (globalThis as { __TIERSTORE_TEST__?: unknown }).__TIERSTORE_TEST__ === true;
  const min = testing ? TEST_MIN_ITERATIONS : PBKDF2_ITERATIONS;
  if (!Number.isSafeInteger(iterations) || iterations < min || iterations > MAX_ITERATIONS) {
    throw new StorageValidationError(`iterations is ${String(iterations)}: PBKDF2 needs an integer from ${min.toLocaleString('en')} to ${MAX_ITERATIONS.toLocaleString('en')}` +
      (testing ? '' : ' (fewer, down to 1,000, only in tests that set globalThis.__TIERSTORE_TEST__ = true)'));
  }
  return iterations;
}

function checkStored(s: unknown): StoredKeyInfo {
  const i = s as StoredKeyInfo;
  const b64 = (x: unknown, n: number) => typeof x === 'string' && safeLength(x) === n;
  const keyOk = (k: unknown) => {
    const e = k as { id: unknown; wrapped: unknown };
    return typeof k === 'object' && k !== null && Number.isInteger(e.id) && (e.id as number) >= 0 && (e.id as number) <= 255 &&
      b64(e.wrapped, IV_BYTES + KEY_BYTES + TAG_BYTES);
  };
  if (
    typeof s !== 'object' || s === null || i.v !== 1 || !b64(i.binding, BINDING_BYTES) || !b64(i.salt, SALT_BYTES) ||
    (i.kdf !== 'pbkdf2-sha256' && i.kdf !== 'hkdf-sha256') ||
    (i.kdf === 'pbkdf2-sha256' && !(Number.isSafeInteger(i.iterations) && i.iterations! >= 1 && i.iterations! <= MAX_ITERATIONS)) ||
    !Array.isArray(i.keys) || !i.keys.every(keyOk) || new Set(i.keys.map((k) => k.id)).size !== i.keys.length ||
    !i.keys.some((k) => k.id === i.current) ||
    (i.index !== undefined && !b64(i.index, IV_BYTES + KEY_BYTES + TAG_BYTES))
  ) {
    throw new StorageCorruptionError('the stored encryption key info of this backend is malformed: it is not what openEncryption() returned as toStore');
  }
  return i;
}

/** Decoded length of base64 `s`, or -1 when it is not base64. */
function safeLength(s: string): number {
  try { return fromBase64(s).byteLength; } catch { return -1; }
}

async function newKek(input: KeyInput, iterations: number, binding: string, current: number): Promise<{ info: Omit<StoredKeyInfo, 'keys'>; kek: CryptoKey }> {
  const salt = random(SALT_BYTES);
  const info: Omit<StoredKeyInfo, 'keys'> = input.kind === 'passphrase'
    ? { v: 1, binding, kdf: 'pbkdf2-sha256', salt: toBase64(salt), iterations, current }
    : { v: 1, binding, kdf: 'hkdf-sha256', salt: toBase64(salt), current };
  return { info, kek: await deriveKek(input, salt, iterations, binding) };
}

const AES_KEK: AesKeyGenParams = { name: 'AES-GCM', length: 256 };

async function deriveKek(input: KeyInput, salt: Bytes, iterations: number, binding: string): Promise<CryptoKey> {
  const s = subtle();
  if (input.kind === 'passphrase') {
    const base = await s.importKey('raw', input.bytes, 'PBKDF2', false, ['deriveKey']);
    return s.deriveKey({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, base, AES_KEK, false, ['encrypt', 'decrypt']);
  }
  // The binding id in `info` makes the KEK per backend even when two backends share a key.
  const params: HkdfParams = { name: 'HKDF', hash: 'SHA-256', salt, info: encoder.encode(`${KEK_INFO}/${binding}`) };
  const base = input.kind === 'bytes' ? await s.importKey('raw', input.bytes, 'HKDF', false, ['deriveKey']) : input.key;
  if (base.usages.includes('deriveKey')) return s.deriveKey(params, base, AES_KEK, false, ['encrypt', 'decrypt']);
  const bits = new Uint8Array(await s.deriveBits(params, base, 256));
  try { return await s.importKey('raw', bits, 'AES-GCM', false, ['encrypt', 'decrypt']); } finally { bits.fill(0); }
}

function wrapAad(binding: Bytes, id: number): Bytes {
  if (id === INDEX_KEY_ID) {
    const label = encoder.encode(INDEX_WRAP_AAD);
    const out = new Uint8Array(label.byteLength + BINDING_BYTES);
    out.set(label);
    out.set(binding, label.byteLength);
    return out;
  }
  const label = encoder.encode(WRAP_AAD);
  const out = new Uint8Array(label.byteLength + BINDING_BYTES + 1);
  out.set(label);
  out.set(binding, label.byteLength);
  out[out.byteLength - 1] = id;
  return out;
}

async function wrap(kek: CryptoKey, binding: Bytes, id: number, dataKey: Uint8Array): Promise<string> {
  const iv = random(IV_BYTES);
  const ct = new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv, additionalData: wrapAad(binding, id) }, kek, bs(dataKey)));
  const out = new Uint8Array(IV_BYTES + ct.byteLength);
  out.set(iv);
  out.set(ct, IV_BYTES);
  return toBase64(out);
}

async function unwrapAll(kek: CryptoKey, binding: Bytes, info: StoredKeyInfo): Promise<Map<number, CryptoKey>> {
  const keys = new Map<number, CryptoKey>();
  // The current key first: if it fails, the encryptionKey is wrong.
  const order = [...info.keys].sort((a, b) => (b.id === info.current ? 1 : 0) - (a.id === info.current ? 1 : 0));
  for (const { id, wrapped } of order) {
    const bytes = fromBase64(wrapped);
    let raw: Uint8Array;
    try {
      raw = new Uint8Array(await subtle().decrypt(
        { name: 'AES-GCM', iv: bytes.subarray(0, IV_BYTES), additionalData: wrapAad(binding, id) }, kek, bytes.subarray(IV_BYTES)));
    } catch (cause) {
      if (id === info.current) throw badKey('the encryptionKey is not the key this backend was encrypted with', cause);
      throw new StorageCorruptionError(`the stored data key ${id} of this backend does not unwrap with the key that unwraps the current one: the stored key info was altered`, { cause });
    }
    keys.set(id, await importDataKey(raw));
    raw.fill(0);
  }
  return keys;
}

async function unwrapIndexKey(kek: CryptoKey, binding: Bytes, wrapped: string): Promise<Bytes> {
  const bytes = fromBase64(wrapped);
  try {
    return new Uint8Array(await subtle().decrypt(
      { name: 'AES-GCM', iv: bytes.subarray(0, IV_BYTES), additionalData: wrapAad(binding, INDEX_KEY_ID) }, kek, bytes.subarray(IV_BYTES)));
  } catch (cause) {
    throw new StorageCorruptionError('the stored blind-index key of this backend does not unwrap with the key that unwraps its data key: the stored key info was altered', { cause });
  }
}

/** Data keys are extractable only so that a rotation can re-wrap them; nothing else exports them. */
function importDataKey(raw: Uint8Array): Promise<CryptoKey> {
  return subtle().importKey('raw', bs(raw), 'AES-GCM', true, ['encrypt', 'decrypt']);
}

function makeContext(binding: Bytes, keys: ReadonlyMap<number, CryptoKey>, info: StoredKeyInfo, indexKey: Bytes): EncryptionContext {
  const ctx: EncryptionContext = Object.freeze({
    currentKeyId: info.current,
    keyIds: Object.freeze([...keys.keys()].sort((a, b) => a - b)),
    binding: info.binding,
  });
  internals.set(ctx, { binding, keys, info, indexKey });
  return ctx;
}

function get(ctx: EncryptionContext): Internals {
  const own = internals.get(ctx);
  if (own === undefined) throw new StorageValidationError('not an EncryptionContext made by openEncryption() or rotateContext()');
  return own;
}

/**
 * `[version][key id][inner flags][binding id][record key as UTF-16 code units]`. The inner flags
 * (Binary, Compressed) are bound so that flipping them in the envelope cannot make a body decode
 * as the other kind. The key is taken as code units, not UTF-8, so that the mapping stays
 * one-to-one even for strings with lone surrogates (which UTF-8 would all turn into U+FFFD).
 */
function aad(version: number, id: number, innerFlags: number, binding: Bytes, recordKey: string): Bytes {
  const head = 3 + BINDING_BYTES;
  const out = new Uint8Array(head + recordKey.length * 2);
  out[0] = version;
  out[1] = id;
  out[2] = innerFlags & 0xff;
  out.set(binding, 3);
  for (let i = 0, j = head; i < recordKey.length; i++, j += 2) {
    const c = recordKey.charCodeAt(i);
    out[j] = c & 0xff;
    out[j + 1] = c >>> 8;
  }
  return out;
}

function corrupt(recordKey: string, what: string, cause?: unknown): StorageCorruptionError {
  return new StorageCorruptionError(`the encrypted record for key "${recordKey}" is corrupt: ${what}`, cause === undefined ? {} : { cause });
}

function badKey(message: string, cause?: unknown): StorageConnectionError {
  return new StorageConnectionError(message, { code: 'STORAGE_BAD_KEY', ...(cause === undefined ? {} : { cause }) });
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.byteLength; i++) s += String.fromCharCode(bytes[i]!);
  return btoa(s);
}

function fromBase64(s: string): Bytes {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
