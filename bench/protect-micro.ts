/**
 * Micro-benchmark of the data-protection core (src/core/protect, issue #5), in Node and, when
 * Chromium is installed, in a Chromium page. Run: `npx tsx bench/protect-micro.ts`
 *
 * - Deflate / inflate of JSON bodies (200 B, 1 KB = the default threshold, 20 KB) at levels 1
 *   and 6: native zlib (Node only), pako, and the platform's CompressionStream('deflate-raw').
 * - AES-GCM through seal()/unseal() on 200 B and 20 KB bodies: one awaited call at a time (what a
 *   single set()/get() pays) and 64 in flight (throughput), with bare `crypto.subtle.encrypt` as
 *   the floor; and the full compress + encrypt path on 20 KB.
 *
 * Times are wall-clock µs per call, the best of several interleaved rounds (CPU time is not
 * available in a page). The same file is the page bundle: in a browser it only installs
 * `window.__protectBench`; Node-only modules are imported by computed specifiers so the
 * bundler leaves them out.
 */
import { DEFAULT_COMPRESSION, openEncryption, seal, unseal } from '../src/core/protect/index';
import { nodeZlibCodec, pakoCodec, type DeflateCodec } from '../src/core/protect/compress';

export interface Row { group: string; name: string; us: number; note?: string }

const encoder = new TextEncoder();

function user(i: number): Record<string, unknown> {
  return {
    id: `user-${i}`, name: 'John Doe', email: `john${i}@example.com`, age: 20 + (i % 50), active: i % 2 === 0,
    tags: ['a', 'b'], preferences: { theme: i % 3 ? 'dark' : 'light', lang: 'en' }, score: 3.14 + i,
  };
}

/** A JSON body of exactly `size` bytes: a list of user objects (the shape apps store), padded by a note. */
function jsonBody(size: number): string {
  const list: unknown[] = [];
  while (JSON.stringify({ list: [...list, user(list.length)], note: '' }).length <= size) list.push(user(list.length));
  const bare = JSON.stringify({ list, note: '' });
  return JSON.stringify({ list, note: 'x'.repeat(Math.max(0, size - bare.length)) });
}

/** Best µs per call of each function over interleaved rounds of `iters` calls each. */
async function compare(fns: Array<[string, () => unknown]>, iters: number, rounds = 7): Promise<Array<[string, number]>> {
  for (const [, fn] of fns) for (let i = 0; i < Math.max(3, iters / 4); i++) await fn(); // warm-up
  const best = fns.map(() => Infinity);
  for (let r = 0; r < rounds; r++) {
    for (const [j, [, fn]] of fns.entries()) {
      const t0 = performance.now();
      for (let i = 0; i < iters; i++) await fn();
      best[j] = Math.min(best[j]!, ((performance.now() - t0) * 1000) / iters);
    }
  }
  return fns.map(([name], j) => [name, best[j]!]);
}

async function streamThrough(data: Uint8Array, stream: CompressionStream | DecompressionStream): Promise<Uint8Array> {
  return new Uint8Array(await new Response(new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(stream)).arrayBuffer());
}

/** Every measurement, on the platform this runs on. */
export async function measureAll(platform: string): Promise<Row[]> {
  const rows: Row[] = [];
  const codecs: DeflateCodec[] = [];
  const native = nodeZlibCodec();
  if (native) codecs.push(native);
  codecs.push(await pakoCodec());
  const hasStreams = typeof CompressionStream !== 'undefined';

  for (const size of [200, 1024, 20 * 1024]) {
    const text = jsonBody(size);
    const bytes = encoder.encode(text);
    const group = `${platform}: deflate ${bytes.byteLength} B JSON`;
    const iters = size > 5000 ? 200 : 1000;
    for (const level of [1, 6]) {
      const fns: Array<[string, () => unknown]> = codecs.map((c) => [`${c.name} L${level}`, () => c.deflateRaw(bytes, level)]);
      if (hasStreams && level === 6) fns.push(['CompressionStream (zlib default level)', () => streamThrough(bytes, new CompressionStream('deflate-raw'))]);
      const out = codecs[0]!.deflateRaw(bytes, level);
      for (const [name, us] of await compare(fns, iters)) rows.push({ group, name: `deflate ${name}`, us, note: `${bytes.byteLength} → ${out.byteLength} B (${(100 * out.byteLength / bytes.byteLength).toFixed(0)}%)` });
    }
    const z = codecs[0]!.deflateRaw(bytes, 6);
    const fns: Array<[string, () => unknown]> = codecs.map((c) => [c.name, () => c.inflateRaw(z)]);
    if (hasStreams) fns.push(['DecompressionStream', () => streamThrough(z, new DecompressionStream('deflate-raw'))]);
    for (const [name, us] of await compare(fns, iters)) rows.push({ group, name: `inflate ${name}`, us });
  }

  const { ctx } = await openEncryption(globalThis.crypto.getRandomValues(new Uint8Array(32)), undefined);
  const rawKey = await globalThis.crypto.subtle.importKey('raw', globalThis.crypto.getRandomValues(new Uint8Array(32)), 'AES-GCM', false, ['encrypt']);
  for (const size of [200, 20 * 1024]) {
    const text = jsonBody(size);
    const bytes = encoder.encode(text);
    const group = `${platform}: AES-GCM-256 ${bytes.byteLength} B`;
    const sealed = await seal(text, 0, 'bench.key', { encryption: ctx });
    const iv = new Uint8Array(12);
    const iters = size > 5000 ? 300 : 1000;
    const seq = await compare([
      ['seal (encrypt), one at a time', () => seal(text, 0, 'bench.key', { encryption: ctx })],
      ['unseal (decrypt), one at a time', () => unseal(sealed.b, sealed.f, 'bench.key', ctx)],
      ['bare crypto.subtle.encrypt, one at a time', () => globalThis.crypto.subtle.encrypt({ name: 'AES-GCM', iv }, rawKey, bytes)],
    ], iters);
    for (const [name, us] of seq) rows.push({ group, name, us });
    const par = await compare([
      ['seal, 64 in flight (per call)', () => Promise.all(Array.from({ length: 64 }, () => seal(text, 0, 'bench.key', { encryption: ctx })))],
      ['unseal, 64 in flight (per call)', () => Promise.all(Array.from({ length: 64 }, () => unseal(sealed.b, sealed.f, 'bench.key', ctx)))],
    ], Math.max(5, iters / 64));
    for (const [name, us] of par) rows.push({ group, name, us: us / 64 });
  }

  const big = jsonBody(20 * 1024);
  const group = `${platform}: full path ${encoder.encode(big).byteLength} B JSON`;
  const both = await seal(big, 0, 'bench.key', { compression: DEFAULT_COMPRESSION, encryption: ctx });
  for (const [name, us] of await compare([
    ['seal: deflate L6 + encrypt', () => seal(big, 0, 'bench.key', { compression: DEFAULT_COMPRESSION, encryption: ctx })],
    ['unseal: decrypt + inflate', () => unseal(both.b, both.f, 'bench.key', ctx)],
    ['seal: encrypt only', () => seal(big, 0, 'bench.key', { encryption: ctx })],
  ], 200)) rows.push({ group, name, us, note: name.startsWith('seal: deflate') ? `stored ${(both.b as Uint8Array).byteLength} B` : undefined });

  const t0 = performance.now();
  (globalThis as { __TIERSTORE_TEST__?: boolean }).__TIERSTORE_TEST__ = false;
  await openEncryption('a passphrase', undefined);
  rows.push({ group: `${platform}: key setup`, name: 'openEncryption(passphrase), PBKDF2-SHA256 600,000 iterations', us: (performance.now() - t0) * 1000 });
  return rows;
}

function print(rows: Row[]): void {
  let group = '';
  for (const r of rows) {
    if (r.group !== group) { group = r.group; console.log(`\n${group}`); }
    const us = r.us >= 1000 ? `${(r.us / 1000).toFixed(1)} ms` : `${r.us.toFixed(1)} µs`;
    console.log(`  ${r.name.padEnd(58)} ${us.padStart(10)}${r.note ? `   ${r.note}` : ''}`);
  }
}

declare global {
  interface Window { __protectBench?: (platform: string) => Promise<Row[]> }
}

/** Node: measure here, then in Chromium when it is installed. */
async function main(): Promise<void> {
  const nodeOnly = (m: string) => import(m) as Promise<Record<string, unknown>>;
  const os = await nodeOnly('node:os') as unknown as typeof import('node:os');
  console.log(`node ${process.version}, ${os.cpus().length} CPU(s) ${os.cpus()[0]?.model ?? ''}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  print(await measureAll('node'));
  const harness = await nodeOnly(new URL('../test/browser/harness.ts', import.meta.url).href) as unknown as typeof import('../test/browser/harness');
  const { existsSync } = await nodeOnly('node:fs') as unknown as typeof import('node:fs');
  if (!existsSync(harness.CHROMIUM_PATH)) { console.log(`\n(Chromium not found at ${harness.CHROMIUM_PATH}: browser figures skipped)`); return; }
  const site = await harness.serveBundles({ 'bench.js': 'bench/protect-micro.ts' }, { 'bench.html': harness.modulePage('./bench.js') });
  const browser = await harness.launch();
  try {
    const page = await browser.newPage();
    await page.goto(`${site.url}bench.html`);
    await page.locator('body[data-ready=true]').waitFor({ state: 'attached' });
    console.log(`\nchromium ${browser.version()}`);
    print(await page.evaluate(() => window.__protectBench!('chromium')));
  } finally {
    await browser.close();
    await site.close();
  }
}

if (typeof window !== 'undefined' && typeof document !== 'undefined') {
  window.__protectBench = measureAll;
  document.body.dataset.ready = 'true';
} else {
  main().catch((err: unknown) => { console.error(err); process.exitCode = 1; });
}
