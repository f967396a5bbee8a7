/**
 * The data-protection checks (src/core/protect) as plain functions that return a list of
 * failures, so the very same code runs in Node (test/node/protect.test.ts imports them) and in
 * Chromium (this file is the page bundle of test/browser/protect.test.ts, which calls them
 * through `window.__protect`). Fixtures are JSON-able so that bodies sealed on one platform can
 * be opened on the other.
 */
import { CodecFlag } from '../../src/core/record';
import {
  DEFAULT_COMPRESSION, openEncryption, seal, unseal, unsealSync, type EncryptionContext, type ProtectOptions, type StoredKeyInfo,
} from '../../src/core/protect/index';
import { loadedCodec } from '../../src/core/protect/compress';

(globalThis as { __TIERSTORE_TEST__?: boolean }).__TIERSTORE_TEST__ = true; // fast PBKDF2 in tests

export const THRESHOLD = DEFAULT_COMPRESSION.threshold;
const encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Helpers

export function toB64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.byteLength; i++) s += String.fromCharCode(bytes[i]!);
  return btoa(s);
}

export function fromB64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** A small seeded PRNG (mulberry32), so both platforms can make the same bodies. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sameBody = (a: string | Uint8Array, b: string | Uint8Array): boolean => {
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
};

const describeBody = (b: string | Uint8Array) => typeof b === 'string' ? `text(${b.length} units)` : `bytes(${b.byteLength})`;

/** JSON-ish text of exactly `size` UTF-8 bytes (compressible, with non-ASCII and surrogate pairs). */
export function textBody(size: number, seed = 1): string {
  const rnd = prng(seed);
  const parts: string[] = [];
  let n = 0;
  for (;;) {
    const piece = `{"id":${Math.floor(rnd() * 1000)},"name":"Zoë 🐙 user","tags":["a","b"]},`;
    const bytes = encoder.encode(piece).byteLength;
    if (n + bytes > size) break;
    parts.push(piece);
    n += bytes;
  }
  return parts.join('') + 'x'.repeat(size - n);
}

/** Binary body of `size` bytes: half repetitive (compressible), half random. */
export function binaryBody(size: number, seed = 2, randomOnly = false): Uint8Array {
  const rnd = prng(seed);
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = randomOnly || i % 2 === 0 ? Math.floor(rnd() * 256) : i % 7;
  return out;
}

export const BAD_KEY = 'STORAGE_BAD_KEY';
const codeOf = (err: unknown) => (err as { code?: unknown })?.code;

/** Runs `fn`; returns the error code it threw, or 'no error' (with the result) when it returned. */
export async function codeOfCall(fn: () => Promise<unknown> | unknown): Promise<string> {
  try {
    const r = await fn();
    return `no error (returned ${typeof r === 'object' && r !== null && 'b' in r ? describeBody((r as { b: string | Uint8Array }).b) : String(r)})`;
  } catch (err) {
    return String(codeOf(err));
  }
}

// ---------------------------------------------------------------------------------------------
// Round trips

/** Body sizes: empty, around the threshold, 20 KB and 1 MB. */
export const SIZES = [0, 1, 100, THRESHOLD - 1, THRESHOLD, THRESHOLD + 1, 20 * 1024, 1024 * 1024];

/**
 * Every combination of compression on/off × encryption on/off × text/binary × {@link SIZES}:
 * seal, check the flags applied, unseal (and unsealSync when only compressed), compare.
 */
export async function roundTripMatrix(ctx: EncryptionContext): Promise<{ failures: string[]; cases: number }> {
  const failures: string[] = [];
  let cases = 0;
  for (const compress of [false, true]) {
    for (const encrypt of [false, true]) {
      const o: ProtectOptions = {};
      if (compress) o.compression = DEFAULT_COMPRESSION;
      if (encrypt) o.encryption = ctx;
      for (const size of SIZES) {
        for (const kind of ['text', 'binary', 'random'] as const) {
          cases++;
          const body = kind === 'text' ? textBody(size, size + 1) : binaryBody(size, size + 2, kind === 'random');
          const flags = kind === 'text' ? 0 : CodecFlag.Binary;
          const label = `compress=${compress} encrypt=${encrypt} ${kind} ${size} B`;
          try {
            const key = `rt.${label}`;
            const s = await seal(body, flags, key, o);
            const shouldCompress = compress && size >= THRESHOLD && kind !== 'random';
            if (!!(s.f & CodecFlag.Compressed) !== shouldCompress) failures.push(`${label}: Compressed flag is ${!!(s.f & CodecFlag.Compressed)}`);
            if (!!(s.f & CodecFlag.Encrypted) !== encrypt) failures.push(`${label}: Encrypted flag is ${!!(s.f & CodecFlag.Encrypted)}`);
            if ((s.f & CodecFlag.Binary) !== flags) failures.push(`${label}: Binary flag changed`);
            if (s.f & (CodecFlag.Compressed | CodecFlag.Encrypted) && !(s.b instanceof Uint8Array)) failures.push(`${label}: sealed body is not bytes`);
            const u = await unseal(s.b, s.f, key, encrypt ? ctx : undefined);
            if (u.f !== flags) failures.push(`${label}: unsealed flags ${u.f}, expected ${flags}`);
            if (typeof u.b !== typeof body || !sameBody(u.b, body)) failures.push(`${label}: unsealed ${describeBody(u.b)} differs from ${describeBody(body)}`);
            if (!encrypt) {
              const v = unsealSync(s.b, s.f, key);
              if (!sameBody(v.b, body) || v.f !== flags) failures.push(`${label}: unsealSync differs`);
            }
          } catch (err) {
            failures.push(`${label}: threw ${String(err)}`);
          }
        }
      }
    }
  }
  return { failures, cases };
}

/** `n` random bodies (seeded) with random options: seal then unseal gives the body back. */
export async function randomRoundTrips(ctx: EncryptionContext, n: number, seed: number): Promise<string[]> {
  const rnd = prng(seed);
  const failures: string[] = [];
  for (let i = 0; i < n; i++) {
    const size = Math.floor(rnd() ** 3 * 8192);
    let body: string | Uint8Array;
    if (rnd() < 0.5) {
      const units: number[] = [];
      for (let j = 0; j < size; j++) units.push(rnd() < 0.8 ? 32 + Math.floor(rnd() * 8) : Math.floor(rnd() * 0xd7ff));
      body = String.fromCharCode(...units);
    } else {
      body = binaryBody(size, i + seed, rnd() < 0.3);
    }
    const o: ProtectOptions = {};
    if (rnd() < 0.5) o.compression = { level: Math.floor(rnd() * 10), threshold: Math.floor(rnd() * 2048) };
    if (rnd() < 0.5) o.encryption = ctx;
    const key = `rnd.${i}.${'é'.repeat(i % 3)}`;
    const flags = typeof body === 'string' ? 0 : CodecFlag.Binary;
    try {
      const s = await seal(body, flags, key, o);
      const u = await unseal(s.b, s.f, key, ctx);
      if (u.f !== flags || !sameBody(u.b, body)) failures.push(`random #${i} (${describeBody(body)}, ${JSON.stringify({ ...o, encryption: !!o.encryption })}) did not round-trip`);
    } catch (err) {
      failures.push(`random #${i}: threw ${String(err)}`);
    }
  }
  return failures;
}

// ---------------------------------------------------------------------------------------------
// Tamper

/**
 * Flips bits in every region of an encrypted body (version, key id, IV, ciphertext, tag), and
 * truncates it: every unseal must throw STORAGE_CORRUPTION, none may return data. Then moves
 * ciphertexts between records and backends, and flips the inner flags in the envelope.
 * `other` is a context of another backend (same key material, another binding id).
 */
export async function tamperChecks(ctx: EncryptionContext, other: EncryptionContext): Promise<{ failures: string[]; attempts: number }> {
  const failures: string[] = [];
  let attempts = 0;
  const expectCorrupt = async (label: string, b: Uint8Array, f: number, key: string, c: EncryptionContext) => {
    attempts++;
    const code = await codeOfCall(() => unseal(b, f, key, c));
    if (code !== 'STORAGE_CORRUPTION') failures.push(`${label}: ${code}`);
  };
  for (const [name, body, flags, o] of [
    ['text', textBody(300, 7), 0, {}],
    ['compressed text', textBody(4000, 8), 0, { compression: DEFAULT_COMPRESSION }],
    ['binary', binaryBody(64, 9), CodecFlag.Binary, {}],
    ['empty', '', 0, {}],
  ] as Array<[string, string | Uint8Array, number, ProtectOptions]>) {
    const key = `tamper.${name}`;
    const s = await seal(body, flags, key, { ...o, encryption: ctx });
    const b = s.b as Uint8Array;
    const tagStart = b.byteLength - 16;
    const regions: Array<[string, number, number]> = [['version', 0, 1], ['key id', 1, 2], ['IV', 2, 14], ['ciphertext', 14, tagStart], ['tag', tagStart, b.byteLength]];
    for (const [region, from, to] of regions) {
      // Every bit of the header, IV and tag; up to 64 bytes of the ciphertext (all 8 bits each).
      const end = region === 'ciphertext' ? Math.min(to, from + 64) : to;
      for (let i = from; i < end; i++) {
        for (let bit = 0; bit < 8; bit++) {
          const t = b.slice();
          t[i]! ^= 1 << bit;
          await expectCorrupt(`${name}: ${region} byte ${i} bit ${bit} flipped`, t, s.f, key, ctx);
        }
      }
    }
    for (const cut of [1, 16, b.byteLength - 14, b.byteLength - 1, b.byteLength]) await expectCorrupt(`${name}: last ${cut} byte(s) cut`, b.subarray(0, b.byteLength - cut), s.f, key, ctx);
    await expectCorrupt(`${name}: a byte appended`, new Uint8Array([...b, 0]), s.f, key, ctx);
    await expectCorrupt(`${name}: read under another record key`, b, s.f, `${key}x`, ctx);
    await expectCorrupt(`${name}: read in another backend`, b, s.f, key, other);
    await expectCorrupt(`${name}: Binary flag flipped`, b, s.f ^ CodecFlag.Binary, key, ctx);
    if (s.f & CodecFlag.Compressed) await expectCorrupt(`${name}: Compressed flag cleared`, b, s.f & ~CodecFlag.Compressed, key, ctx);
    else await expectCorrupt(`${name}: Compressed flag set`, b, s.f | CodecFlag.Compressed, key, ctx);
  }
  // Two records' ciphertexts swapped.
  const a = await seal('{"who":"alice","balance":100}', 0, 'acct.alice', { encryption: ctx });
  const b = await seal('{"who":"bob","balance":5}', 0, 'acct.bob', { encryption: ctx });
  await expectCorrupt('alice\'s ciphertext stored under bob', a.b as Uint8Array, a.f, 'acct.bob', ctx);
  await expectCorrupt('bob\'s ciphertext stored under alice', b.b as Uint8Array, b.f, 'acct.alice', ctx);
  // Keys that UTF-8 would make equal (lone surrogates both become U+FFFD) stay distinct.
  const lone = await seal('"x"', 0, 'k\ud800', { encryption: ctx });
  await expectCorrupt('a ciphertext moved between keys differing in a lone surrogate', lone.b as Uint8Array, lone.f, 'k\udfff', ctx);
  // Encrypted flag on a body stored as text: corrupt, not a crash.
  attempts++;
  const textCode = await codeOfCall(() => unseal('not bytes', CodecFlag.Encrypted, 'k', ctx));
  if (textCode !== 'STORAGE_CORRUPTION') failures.push(`text body flagged Encrypted: ${textCode}`);
  // Garbage flagged Compressed (unencrypted): corrupt.
  for (const [label, bytes] of [['garbage', new Uint8Array([0xff, 0xfe, 0xfd, 1, 2, 3])], ['empty', new Uint8Array(0)]] as const) {
    attempts++;
    const code = await codeOfCall(() => unseal(bytes, CodecFlag.Compressed, 'k', undefined));
    if (code !== 'STORAGE_CORRUPTION') failures.push(`${label} flagged Compressed: ${code}`);
  }
  // Encrypted, no key configured: a clear typed error.
  attempts++;
  const noKey = await codeOfCall(() => unseal(a.b, a.f, 'acct.alice', undefined));
  if (noKey !== BAD_KEY) failures.push(`encrypted record read without a key: ${noKey}`);
  return { failures, attempts };
}

/** A wrong key at open is STORAGE_BAD_KEY, for a passphrase and for raw key bytes. */
export async function wrongKeyChecks(): Promise<string[]> {
  const failures: string[] = [];
  const pass = await openEncryption('right horse', undefined, { iterations: 1000 });
  const wrongPass = await codeOfCall(() => openEncryption('wrong horse', pass.toStore));
  if (wrongPass !== BAD_KEY) failures.push(`wrong passphrase: ${wrongPass}`);
  const bytesForPass = await codeOfCall(() => openEncryption(new Uint8Array(32), pass.toStore));
  if (bytesForPass !== BAD_KEY) failures.push(`key bytes for a passphrase store: ${bytesForPass}`);
  const right = await codeOfCall(() => openEncryption('right horse', pass.toStore));
  if (!right.startsWith('no error')) failures.push(`right passphrase: ${right}`);
  const key = globalThis.crypto.getRandomValues(new Uint8Array(32));
  const raw = await openEncryption(key, undefined);
  const wrong = key.slice();
  wrong[31]! ^= 1;
  const wrongRaw = await codeOfCall(() => openEncryption(wrong, raw.toStore));
  if (wrongRaw !== BAD_KEY) failures.push(`wrong raw key: ${wrongRaw}`);
  const passForBytes = await codeOfCall(() => openEncryption('a passphrase', raw.toStore));
  if (passForBytes !== BAD_KEY) failures.push(`passphrase for a key-bytes store: ${passForBytes}`);
  const hkdf = await globalThis.crypto.subtle.importKey('raw', key, 'HKDF', false, ['deriveKey']);
  const viaCryptoKey = await codeOfCall(() => openEncryption(hkdf, raw.toStore));
  if (!viaCryptoKey.startsWith('no error')) failures.push(`the same key as an HKDF CryptoKey: ${viaCryptoKey}`);
  return failures;
}

// ---------------------------------------------------------------------------------------------
// Cross-platform fixtures

/** Bodies sealed on one platform, with everything the other needs to open them. */
export interface Fixture {
  platform: string;
  codec: string;
  key: string; // base64 of the 32 raw key bytes
  stored: StoredKeyInfo;
  records: Array<{ key: string; b: string; bIsBytes: boolean; f: number; plain: string; plainIsBytes: boolean }>;
}

const pack = (b: string | Uint8Array) => (typeof b === 'string' ? { s: b, bytes: false } : { s: toB64(b), bytes: true });

/** Seals text and binary bodies in the four compression × encryption combinations. */
export async function makeFixture(platform: string): Promise<Fixture> {
  const key = globalThis.crypto.getRandomValues(new Uint8Array(32));
  const { ctx, toStore } = await openEncryption(key, undefined);
  const records: Fixture['records'] = [];
  const bodies: Array<string | Uint8Array> = ['', '"short"', textBody(THRESHOLD, 11), textBody(20_000, 12), binaryBody(5000, 13), binaryBody(100, 14)];
  for (const compress of [false, true]) {
    for (const encrypt of [false, true]) {
      for (const [i, body] of bodies.entries()) {
        const rk = `${platform}.${compress ? 'z' : '-'}${encrypt ? 'e' : '-'}.${i}`;
        const o: ProtectOptions = {};
        if (compress) o.compression = DEFAULT_COMPRESSION;
        if (encrypt) o.encryption = ctx;
        const s = await seal(body, typeof body === 'string' ? 0 : CodecFlag.Binary, rk, o);
        const sb = pack(s.b), pb = pack(body);
        records.push({ key: rk, b: sb.s, bIsBytes: sb.bytes, f: s.f, plain: pb.s, plainIsBytes: pb.bytes });
      }
    }
  }
  return { platform, codec: loadedCodec()?.name ?? 'none', key: toB64(key), stored: toStore!, records };
}

/** Opens a fixture made on another platform; every record must come back exactly. */
export async function checkFixture(fx: Fixture): Promise<{ failures: string[]; checked: number; compressed: number; encrypted: number }> {
  const failures: string[] = [];
  let compressed = 0, encrypted = 0;
  const { ctx } = await openEncryption(fromB64(fx.key), fx.stored);
  for (const r of fx.records) {
    const b = r.bIsBytes ? fromB64(r.b) : r.b;
    const plain = r.plainIsBytes ? fromB64(r.plain) : r.plain;
    if (r.f & CodecFlag.Compressed) compressed++;
    if (r.f & CodecFlag.Encrypted) encrypted++;
    try {
      const u = await unseal(b, r.f, r.key, ctx);
      if (typeof u.b !== typeof plain || !sameBody(u.b, plain)) failures.push(`${fx.platform} record ${r.key}: body differs`);
    } catch (err) {
      failures.push(`${fx.platform} record ${r.key}: threw ${String(err)}`);
    }
  }
  return { failures, checked: fx.records.length, compressed, encrypted };
}

/**
 * The platform's own CompressionStream/DecompressionStream('deflate-raw') interoperate with
 * ours: their output unseals, ours decompresses with them.
 */
export async function nativeStreamChecks(): Promise<string[]> {
  const failures: string[] = [];
  if (typeof CompressionStream === 'undefined') return ['CompressionStream is not available'];
  const run = async (data: Uint8Array, stream: CompressionStream | DecompressionStream) =>
    new Uint8Array(await new Response(new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(stream)).arrayBuffer());
  for (const body of [textBody(THRESHOLD, 21), textBody(50_000, 22), binaryBody(9000, 23)]) {
    const bytes = typeof body === 'string' ? encoder.encode(body) : body;
    const flags = typeof body === 'string' ? 0 : CodecFlag.Binary;
    const theirs = await run(bytes, new CompressionStream('deflate-raw'));
    const u = await unseal(theirs, flags | CodecFlag.Compressed, 'native', undefined);
    if (!sameBody(u.b, body)) failures.push(`CompressionStream output (${bytes.byteLength} B) does not unseal to the body`);
    const ours = await seal(body, flags, 'native', { compression: DEFAULT_COMPRESSION });
    if (!(ours.f & CodecFlag.Compressed)) { failures.push('body was not compressed'); continue; }
    const back = await run(ours.b as Uint8Array, new DecompressionStream('deflate-raw'));
    if (!sameBody(back, bytes)) failures.push(`DecompressionStream does not inflate our ${bytes.byteLength} B body`);
  }
  return failures;
}

/**
 * Seals `n` bodies under one key (`concurrent` in flight) and checks that no IV repeats.
 * Returns the first repeated IV in hex (undefined when none) and how many distinct IVs were seen.
 */
export async function uniqueIvs(ctx: EncryptionContext, n: number, concurrent = 512): Promise<{ repeated?: string; distinct: number; ms: number }> {
  const seen = new Set<string>();
  const body = new Uint8Array(16);
  const started = performance.now();
  for (let done = 0; done < n; done += concurrent) {
    const batch = await Promise.all(Array.from({ length: Math.min(concurrent, n - done) }, () => seal(body, CodecFlag.Binary, 'iv', { encryption: ctx })));
    for (const s of batch) {
      const b = s.b as Uint8Array;
      // 12 bytes as a 6-unit string: a compact Set key.
      const iv = String.fromCharCode(b[2]! << 8 | b[3]!, b[4]! << 8 | b[5]!, b[6]! << 8 | b[7]!, b[8]! << 8 | b[9]!, b[10]! << 8 | b[11]!, b[12]! << 8 | b[13]!);
      const size = seen.size;
      if (seen.add(iv).size === size) {
        return { repeated: Array.from(b.subarray(2, 14), (x) => x.toString(16).padStart(2, '0')).join(''), distinct: seen.size, ms: performance.now() - started };
      }
    }
  }
  return { distinct: seen.size, ms: performance.now() - started };
}

/** Contexts the checks use: one backend with raw key bytes, another backend with the same key. */
export async function contexts(): Promise<{ ctx: EncryptionContext; other: EncryptionContext }> {
  const key = globalThis.crypto.getRandomValues(new Uint8Array(32));
  const { ctx } = await openEncryption(key, undefined);
  const { ctx: other } = await openEncryption(key, undefined);
  return { ctx, other };
}

// ---------------------------------------------------------------------------------------------
// Page hooks (only in a browser)

export interface ProtectPageApi {
  roundTrips(): Promise<{ failures: string[]; cases: number }>;
  random(n: number, seed: number): Promise<string[]>;
  tamper(): Promise<{ failures: string[]; attempts: number }>;
  wrongKey(): Promise<string[]>;
  native(): Promise<string[]>;
  makeFixture(): Promise<Fixture>;
  checkFixture(fx: Fixture): Promise<{ failures: string[]; checked: number; compressed: number; encrypted: number }>;
  codec(): string;
  ivs(n: number): Promise<{ repeated?: string; distinct: number; ms: number }>;
}

declare global {
  interface Window { __protect: ProtectPageApi }
}

if (typeof window !== 'undefined' && typeof document !== 'undefined') {
  window.__protect = {
    roundTrips: async () => roundTripMatrix((await contexts()).ctx),
    random: async (n, seed) => randomRoundTrips((await contexts()).ctx, n, seed),
    tamper: async () => { const { ctx, other } = await contexts(); return tamperChecks(ctx, other); },
    wrongKey: wrongKeyChecks,
    native: nativeStreamChecks,
    makeFixture: () => makeFixture('chromium'),
    checkFixture,
    codec: () => loadedCodec()?.name ?? 'none',
    ivs: async (n) => uniqueIvs((await contexts()).ctx, n),
  };
  document.body.dataset.ready = 'true';
}
