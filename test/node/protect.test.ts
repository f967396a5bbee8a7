/**
 * Data protection core (src/core/protect, issue #5): compression and encryption round trips,
 * tamper detection, wrong keys, key rotation, option validation, interoperation of the deflate
 * implementations, and IV uniqueness over 1,000,000 seals. The round-trip, tamper and
 * wrong-key checks are the ones test/browser/protect.test.ts runs in Chromium (shared code in
 * test/browser/protect-page.ts). Run: node --import tsx --test test/node/protect.test.ts
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { CodecFlag } from '../../src/core/record';
import { StorageConnectionError, StorageCorruptionError, StorageError, StorageValidationError } from '../../src/core/errors';
import {
  DEFAULT_COMPRESSION, blindIndexer, checkCompression, isSealed, loadCompression, openEncryption, retireKeys, rotateContext, seal, sealedKeyId,
  storedInfo, unseal, unsealSync, type EncryptionContext, type StoredKeyInfo,
} from '../../src/core/protect/index';
import { createHmac } from 'node:crypto';
import { useNodeCipher } from '../../src/core/protect/crypto';
import { hmacSha256 } from '../../src/core/protect/hmac';
import { loadCodec, nodeZlibCodec, pakoCodec, useCodec, type DeflateCodec } from '../../src/core/protect/compress';
import {
  BAD_KEY, THRESHOLD, binaryBody, checkFixture, codeOfCall, contexts, makeFixture, nativeStreamChecks, randomRoundTrips,
  roundTripMatrix, tamperChecks, textBody, uniqueIvs, wrongKeyChecks,
} from '../browser/protect-page';

const setTestFlag = (on: boolean) => { (globalThis as { __TIERSTORE_TEST__?: boolean }).__TIERSTORE_TEST__ = on; };
const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Runs `fn` once per deflate implementation (native zlib, pako), restoring the automatic choice after. */
async function withEachCodec(fn: (codec: DeflateCodec) => Promise<void>): Promise<void> {
  const codecs = [nodeZlibCodec(), await pakoCodec()];
  assert.ok(codecs[0], 'Node exposes zlib through process.getBuiltinModule');
  try {
    for (const c of codecs) {
      useCodec(c);
      await fn(c!);
    }
  } finally {
    useCodec(undefined);
  }
}

describe('round trips', () => {
  test('compression on/off × encryption on/off × text/binary/random × sizes 0 B … 1 MB, with each deflate implementation', { timeout: 120_000 }, async (t) => {
    const { ctx } = await contexts();
    await withEachCodec(async (codec) => {
      const { failures, cases } = await roundTripMatrix(ctx);
      assert.deepEqual(failures, [], codec.name);
      t.diagnostic(`${codec.name}: ${cases} cases`);
    });
  });

  test('seeded random bodies and options', async () => {
    const { ctx } = await contexts();
    assert.deepEqual(await randomRoundTrips(ctx, 300, 42), []);
  });

  test('fast-check: any text or bytes, any level and threshold, with or without encryption', async () => {
    const { ctx } = await contexts();
    await fc.assert(fc.asyncProperty(
      fc.oneof(fc.string({ unit: 'binary', maxLength: 3000 }), fc.uint8Array({ maxLength: 3000 })),
      fc.option(fc.record({ level: fc.integer({ min: 0, max: 9 }), threshold: fc.integer({ min: 0, max: 4096 }) }), { nil: undefined }),
      fc.boolean(),
      fc.string({ maxLength: 40 }),
      async (body, compression, encrypt, key) => {
        const flags = typeof body === 'string' ? 0 : CodecFlag.Binary;
        const s = await seal(body, flags, key, { ...(compression ? { compression } : {}), ...(encrypt ? { encryption: ctx } : {}) });
        if (s.f & CodecFlag.Compressed) {
          const size = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
          assert.ok(size >= compression!.threshold && (s.b as Uint8Array).byteLength < size + (encrypt ? 30 : 0));
        }
        const u = await unseal(s.b, s.f, key, ctx);
        assert.equal(u.f, flags);
        assert.deepEqual(u.b, body);
      },
    ), { numRuns: 400 });
  });

  test('compression keeps a body raw when deflate does not make it smaller, and at level 0', async () => {
    const random = binaryBody(5000, 3, true);
    assert.equal((await seal(random, CodecFlag.Binary, 'k', { compression: DEFAULT_COMPRESSION })).f, CodecFlag.Binary);
    const text = textBody(5000);
    const level0 = await seal(text, 0, 'k', { compression: { level: 0, threshold: 0 } });
    assert.equal(level0.f, 0);
    assert.equal(level0.b, text);
    const below = await seal(textBody(THRESHOLD - 1), 0, 'k', { compression: DEFAULT_COMPRESSION });
    assert.equal(below.f, 0);
    // 400 'é' are 400 UTF-16 units but 800 UTF-8 bytes: the threshold counts bytes.
    assert.equal((await seal('é'.repeat(400), 0, 'k', { compression: { level: 6, threshold: 800 } })).f, CodecFlag.Compressed);
    assert.equal((await seal('é'.repeat(399), 0, 'k', { compression: { level: 6, threshold: 800 } })).f, 0);
  });

  test('unsealSync inflates compressed bodies; encrypted ones need unseal()', async () => {
    await loadCompression();
    const text = textBody(5000);
    const s = await seal(text, 0, 'k', { compression: DEFAULT_COMPRESSION });
    assert.deepEqual(unsealSync(s.b, s.f, 'k'), { b: text, f: 0 });
    assert.deepEqual(unsealSync('plain', 0), { b: 'plain', f: 0 });
    const { ctx } = await contexts();
    const e = await seal(text, 0, 'k', { encryption: ctx });
    assert.throws(() => unsealSync(e.b, e.f, 'k'), (err: StorageError) => err instanceof StorageError && err.code === 'STORAGE_ERROR' && /unseal\(\)/.test(err.message));
    assert.equal(isSealed(e.f), true);
    assert.equal(isSealed(CodecFlag.Binary), false);
  });

  test('layout: [version 1][key id][12-byte IV][ciphertext + 16-byte tag]; compressed bodies are raw deflate', async () => {
    const { ctx } = await contexts();
    const plain = '{"a":1}';
    const s = await seal(plain, 0, 'k', { encryption: ctx });
    const b = s.b as Uint8Array;
    assert.equal(s.f, CodecFlag.Encrypted);
    assert.equal(b.byteLength, 1 + 1 + 12 + plain.length + 16);
    assert.equal(b[0], 1);
    assert.equal(b[1], ctx.currentKeyId);
    assert.equal(sealedKeyId(b), ctx.currentKeyId);
    const text = textBody(4000);
    const z = await seal(text, 0, 'k', { compression: DEFAULT_COMPRESSION });
    assert.equal(Buffer.from(inflateRawSync(z.b as Uint8Array)).toString('utf8'), text);
    assert.equal((z.b as Uint8Array).constructor, Uint8Array, 'a plain Uint8Array, not a Buffer');
    assert.equal((z.b as Uint8Array).byteLength, (z.b as Uint8Array).buffer.byteLength, 'owns exactly its bytes');
  });
});

describe('deflate implementations interoperate', () => {
  test('node zlib ⇄ pako ⇄ CompressionStream, every level', async () => {
    const native = nodeZlibCodec()!;
    const pako = await pakoCodec();
    for (const body of [new Uint8Array(0), new TextEncoder().encode(textBody(THRESHOLD)), new TextEncoder().encode(textBody(300_000)), binaryBody(20_000, 5)]) {
      for (let level = 0; level <= 9; level++) {
        for (const [from, to] of [[native, pako], [pako, native], [pako, pako], [native, native]] as const) {
          assert.ok(sameBytes(to.inflateRaw(from.deflateRaw(body, level)), body), `${from.name} level ${level} → ${to.name}`);
        }
      }
    }
    assert.deepEqual(await nativeStreamChecks(), []);
  });

  test('strict inflate: truncated, trailing bytes, garbage → StorageCorruptionError with each codec', async () => {
    const good = deflateRawSync(Buffer.from(textBody(5000)));
    await withEachCodec(async (codec) => {
      for (const [label, bad] of [
        ['truncated', good.subarray(0, good.length - 3)],
        ['trailing bytes', Buffer.concat([good, Buffer.from([1, 2, 3])])],
        ['garbage', Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff])],
        ['empty', Buffer.alloc(0)],
      ] as const) {
        await assert.rejects(unseal(new Uint8Array(bad), CodecFlag.Compressed, 'k', undefined), StorageCorruptionError, `${codec.name}: ${label}`);
      }
      // An invalid UTF-8 text body inflates but does not decode.
      const latin1 = new Uint8Array(deflateRawSync(Buffer.from([0xff, 0xfe, 0x41])));
      await assert.rejects(unseal(latin1, CodecFlag.Compressed, 'k', undefined), StorageCorruptionError);
    });
  });

  test('the automatic choice in Node is native zlib', async () => {
    assert.equal((await loadCodec()).name, 'node-zlib');
  });
});

describe('tamper and keys', () => {
  test('bit flips in version, key id, IV, ciphertext and tag, truncation, swapped records, another backend: 100% StorageCorruptionError', async (t) => {
    const { ctx, other } = await contexts();
    const { failures, attempts } = await tamperChecks(ctx, other);
    assert.deepEqual(failures, []);
    t.diagnostic(`${attempts} tampered reads, all STORAGE_CORRUPTION`);
    assert.ok(attempts > 1000);
  });

  test('a wrong key at open is STORAGE_BAD_KEY (passphrase, key bytes, kinds swapped); an HKDF CryptoKey opens a key-bytes store', async () => {
    assert.deepEqual(await wrongKeyChecks(), []);
    const { toStore } = await openEncryption('pass', undefined, { iterations: 1000 });
    await assert.rejects(openEncryption('Pass', toStore), (err: StorageConnectionError) => err instanceof StorageConnectionError && err.code === BAD_KEY);
  });

  test('the passphrase is NFC-normalized; the default iteration count is 600,000', async () => {
    const { toStore } = await openEncryption('caf\u00e9', undefined, { iterations: 1000 });
    await openEncryption('cafe\u0301', toStore); // decomposed spelling opens it
    setTestFlag(false);
    try {
      const real = await openEncryption('a passphrase', undefined);
      assert.equal(real.toStore!.iterations, 600_000);
      await openEncryption('a passphrase', real.toStore); // reopening uses the stored count
    } finally {
      setTestFlag(true);
    }
  });

  test('stored info: JSON round trip, malformed → StorageCorruptionError', async () => {
    const key = crypto.getRandomValues(new Uint8Array(32));
    const { ctx, toStore } = await openEncryption(key, undefined);
    const s = await seal('v', 0, 'k', { encryption: ctx });
    const reopened = await openEncryption(key, JSON.parse(JSON.stringify(toStore)) as StoredKeyInfo);
    assert.equal((await unseal(s.b, s.f, 'k', reopened.ctx)).b, 'v');
    assert.equal(reopened.toStore, undefined);
    assert.deepEqual(storedInfo(reopened.ctx), toStore);
    const bad: unknown[] = [null, 'x', { ...toStore, v: 2 }, { ...toStore, binding: 'AAAA' }, { ...toStore, salt: '***' }, { ...toStore, kdf: 'md5' },
      { ...toStore, current: 9 }, { ...toStore, keys: [] }, { ...toStore, keys: [{ id: 1, wrapped: 'AAAA' }] },
      { ...toStore, keys: [...toStore!.keys, ...toStore!.keys] }];
    for (const b of bad) await assert.rejects(openEncryption(key, b as StoredKeyInfo), StorageCorruptionError, JSON.stringify(b));
    // A wrapped key altered in place: the current one → bad key (indistinguishable from a wrong key).
    const w = Buffer.from(toStore!.keys[0]!.wrapped, 'base64');
    w[20]! ^= 1;
    await assert.rejects(openEncryption(key, { ...toStore!, keys: [{ id: 1, wrapped: w.toString('base64') }] }), (e: StorageError) => e.code === BAD_KEY);
  });

  test('rotation: the new key alone reads old- and new-key records; retireKeys drops the old data key', async () => {
    const { ctx: c1, toStore: s1 } = await openEncryption('old passphrase', undefined, { iterations: 1000 });
    const old = await seal('"old"', 0, 'a', { encryption: c1 });
    const newKey = crypto.getRandomValues(new Uint8Array(32));
    const { ctx: c2, toStore: s2 } = await rotateContext(c1, newKey);
    assert.notEqual(c2.currentKeyId, c1.currentKeyId);
    assert.deepEqual([...c2.keyIds].sort(), [c1.currentKeyId, c2.currentKeyId].sort());
    assert.equal(c2.binding, c1.binding);
    assert.equal(s2.kdf, 'hkdf-sha256');
    const fresh = await seal('"new"', 0, 'b', { encryption: c2 });
    assert.equal(sealedKeyId(fresh.b), c2.currentKeyId);
    assert.equal(sealedKeyId(old.b), c1.currentKeyId);
    // Reopen (as after a crash mid-rotation) with the new key only.
    const { ctx: c3 } = await openEncryption(newKey, s2);
    assert.equal((await unseal(old.b, old.f, 'a', c3)).b, '"old"');
    assert.equal((await unseal(fresh.b, fresh.f, 'b', c3)).b, '"new"');
    assert.equal(await codeOfCall(() => openEncryption('old passphrase', s2)), BAD_KEY);
    // Re-seal the old record, then retire.
    const resealed = await seal((await unseal(old.b, old.f, 'a', c3)).b, 0, 'a', { encryption: c3 });
    const { ctx: c4, toStore: s4 } = retireKeys(c3);
    assert.deepEqual(c4.keyIds, [c2.currentKeyId]);
    assert.equal(s4.keys.length, 1);
    assert.equal((await unseal(resealed.b, resealed.f, 'a', c4)).b, '"old"');
    await assert.rejects(unseal(old.b, old.f, 'a', c4), StorageCorruptionError);
    const { ctx: c5 } = await openEncryption(newKey, s4);
    assert.equal((await unseal(fresh.b, fresh.f, 'b', c5)).b, '"new"');
    // Another rotation, back to a passphrase, keeps every id distinct.
    const { ctx: c6 } = await rotateContext(c5, 'third', { iterations: 1000 });
    assert.equal(new Set(c6.keyIds).size, 2);
  });
});

describe('validation', () => {
  test('bad options → StorageValidationError', async () => {
    const { ctx } = await contexts();
    for (const c of [{ level: -1, threshold: 0 }, { level: 10, threshold: 0 }, { level: 1.5, threshold: 0 }, { level: NaN, threshold: 0 }, { level: 6, threshold: -1 }, { level: 6, threshold: 0.5 }]) {
      assert.throws(() => checkCompression(c), StorageValidationError, JSON.stringify(c));
      await assert.rejects(seal('x'.repeat(5000), 0, 'k', { compression: c }), StorageValidationError);
    }
    await assert.rejects(seal('x', CodecFlag.Encrypted, 'k', { encryption: ctx }), StorageValidationError);
    for (const key of ['', new Uint8Array(31), new Uint8Array(33), null, 42, {}] as unknown[]) {
      await assert.rejects(openEncryption(key as string, undefined), StorageValidationError, String(key));
    }
    const aes = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt']);
    await assert.rejects(openEncryption(aes, undefined), StorageValidationError);
    const hkdfNoDerive = await crypto.subtle.importKey('raw', new Uint8Array(32), 'HKDF', false, ['deriveBits']);
    await openEncryption(hkdfNoDerive, undefined); // deriveBits is enough
    await assert.rejects(openEncryption('p', undefined, { iterations: 999 }), StorageValidationError);
    await assert.rejects(openEncryption('p', undefined, { iterations: 1.5 }), StorageValidationError);
    setTestFlag(false);
    try {
      await assert.rejects(openEncryption('p', undefined, { iterations: 599_999 }), StorageValidationError);
      await assert.rejects(openEncryption('p', undefined, { iterations: 1000 }), StorageValidationError);
    } finally {
      setTestFlag(true);
    }
    await assert.rejects(rotateContext(ctx, ''), StorageValidationError);
    await assert.rejects(seal('x', 0, 'k', { encryption: {} as EncryptionContext }), StorageValidationError);
  });
});

describe('cross-platform fixtures (Node side; test/browser/protect.test.ts passes them through Chromium)', () => {
  test('a fixture made here opens here, with either deflate implementation', async () => {
    const fx = await makeFixture('node');
    assert.equal(fx.codec, 'node-zlib');
    await withEachCodec(async (codec) => {
      const r = await checkFixture(JSON.parse(JSON.stringify(fx)) as typeof fx);
      assert.deepEqual(r.failures, [], codec.name);
      assert.ok(r.compressed >= 4 && r.encrypted >= 12, JSON.stringify(r));
    });
  });
});

describe('AES-GCM implementations (node:crypto in Node, crypto.subtle elsewhere)', () => {
  test('a body sealed by either opens with the other; tampering is caught by both', async (t) => {
    const { ctx, other } = await contexts();
    const plain = new TextEncoder().encode(JSON.stringify({ secret: 'x'.repeat(300), n: 42 }));
    try {
      for (const [sealer, opener] of [[true, false], [false, true], [true, true], [false, false]] as const) {
        useNodeCipher(sealer);
        const sealed = await seal(plain, CodecFlag.Binary, 'k.1', { encryption: ctx });
        useNodeCipher(opener);
        const opened = await unseal(sealed.b, sealed.f, 'k.1', ctx);
        assert.ok(sameBytes(opened.b as Uint8Array, plain), `sealed by ${sealer ? 'node' : 'subtle'}, opened by ${opener ? 'node' : 'subtle'}`);
        await assert.rejects(unseal(sealed.b, sealed.f, 'k.2', ctx), StorageCorruptionError);
      }
      let attempts = 0;
      for (const on of [true, false]) {
        useNodeCipher(on);
        const r = await tamperChecks(ctx, other);
        assert.deepEqual(r.failures, [], `tamper checks with ${on ? 'node:crypto' : 'crypto.subtle'}`);
        attempts += r.attempts;
      }
      t.diagnostic(`${attempts} tampered reads across both implementations, all STORAGE_CORRUPTION`);
    } finally {
      useNodeCipher(true);
    }
  });
});

describe('HMAC-SHA256 for blind indexes', () => {
  const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
  const bytes = (s: string) => new TextEncoder().encode(s);
  test('RFC 4231 vectors, portable and node:crypto', () => {
    const vectors: [Uint8Array, Uint8Array, string][] = [
      [new Uint8Array(20).fill(0x0b), bytes('Hi There'), 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'],
      [bytes('Jefe'), bytes('what do ya want for nothing?'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'],
      [new Uint8Array(131).fill(0xaa), bytes('Test Using Larger Than Block-Size Key - Hash Key First'), '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54'],
    ];
    for (const [key, data, want] of vectors) {
      assert.equal(hex(hmacSha256(key, 'js')(data)), want);
      assert.equal(hex(hmacSha256(key, 'node')(data)), want);
    }
  });
  test('the portable implementation equals node:crypto for every length 0–300 and random keys', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 100 }), fc.uint8Array({ maxLength: 300 }), (key, data) => {
      assert.equal(hex(hmacSha256(key, 'js')(data)), createHmac('sha256', key).update(data).digest('hex'));
    }), { numRuns: 500 });
    const key = new Uint8Array(32).fill(9);
    const mac = hmacSha256(key, 'js');
    for (let n = 0; n <= 300; n++) {
      const data = new Uint8Array(n).map((_, i) => i * 7);
      assert.equal(hex(mac(data)), createHmac('sha256', key).update(data).digest('hex'), `length ${n}`);
    }
  });
});

describe('blind-index key', () => {
  test('made with a new store, kept through reopen and rotation; a store from before it gains one at its next open', async () => {
    setTestFlag(true);
    try {
      const first = await openEncryption('pass', undefined, { iterations: 1000 });
      assert.ok(first.toStore?.index, 'a new store has a wrapped index key');
      const blind = blindIndexer(first.ctx);
      const h = blind('users\u0001email\u00000', 'a@x');
      assert.match(h, /^[0-9a-f]{32}$/);
      assert.notEqual(blind('users\u0001email\u00000', 'b@x'), h);
      assert.notEqual(blind('users\u0001other\u00000', 'a@x'), h, 'scopes separate indexes');
      const again = await openEncryption('pass', first.toStore);
      assert.equal(again.toStore, undefined);
      assert.equal(blindIndexer(again.ctx)('users\u0001email\u00000', 'a@x'), h, 'same key after reopen');
      const rotated = await rotateContext(again.ctx, 'new pass', { iterations: 1000 });
      assert.equal(blindIndexer(rotated.ctx)('users\u0001email\u00000', 'a@x'), h, 'same key after rotation');
      const retired = retireKeys(rotated.ctx);
      const reopened = await openEncryption('new pass', retired.toStore);
      assert.equal(blindIndexer(reopened.ctx)('users\u0001email\u00000', 'a@x'), h, 'same key after retire and reopen');
      // A store from before blind indexes: no `index` in its info.
      const { index: _, ...old } = first.toStore!;
      const upgraded = await openEncryption('pass', old as StoredKeyInfo);
      assert.ok(upgraded.toStore?.index, 'the next open adds an index key for the caller to store');
      const h2 = blindIndexer(upgraded.ctx)('s', 'v');
      assert.equal(blindIndexer((await openEncryption('pass', upgraded.toStore)).ctx)('s', 'v'), h2);
      // An altered index key is corruption, not a wrong key.
      const bad = { ...first.toStore!, index: first.toStore!.keys[0]!.wrapped };
      await assert.rejects(openEncryption('pass', bad), StorageCorruptionError);
    } finally {
      setTestFlag(false);
    }
  });
});

describe('IVs', () => {
  test('1,000,000 seals under one key: no repeated IV', { timeout: 300_000 }, async (t) => {
    const { ctx } = await contexts();
    const { repeated, distinct, ms } = await uniqueIvs(ctx, 1_000_000);
    assert.equal(repeated, undefined, `IV ${repeated} repeated after ${distinct} seals`);
    assert.equal(distinct, 1_000_000);
    t.diagnostic(`1,000,000 seals, 1,000,000 distinct IVs, ${(ms / 1000).toFixed(1)} s`);
  });
});
