/**
 * The data-protection core (src/core/protect) in real Chromium: the same round-trip, tamper and
 * wrong-key checks as test/node/protect.test.ts (shared code in protect-page.ts), the browser's
 * own (De)CompressionStream('deflate-raw') against ours, and bodies sealed in Node opened in the
 * page and back. Run: node --import tsx --test test/browser/protect.test.ts
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { useCodec, pakoCodec } from '../../src/core/protect/compress';
import { browserSkipReason, launch, modulePage, serveBundles, type Site } from './harness';
import { checkFixture, makeFixture, type Fixture } from './protect-page';

const skip = browserSkipReason();
let site: Site | undefined;
let browser: Browser | undefined;
let page: Page | undefined;
const pageErrors: string[] = [];

before(async () => {
  if (skip) return;
  site = await serveBundles({ 'protect.js': 'test/browser/protect-page.ts' }, { 'protect.html': modulePage('./protect.js') });
  browser = await launch();
  page = await browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${site.url}protect.html`);
  await page.locator('body[data-ready=true]').waitFor({ state: 'attached' });
});

after(async () => {
  await browser?.close();
  await site?.close();
});

test('Chromium: round trips, compression × encryption × text/binary × 0 B … 1 MB, with pako', { skip, timeout: 120_000 }, async (t) => {
  assert.equal(await page!.evaluate(() => window.__protect.codec()), 'none', 'pako is not loaded before the first compressed body');
  const { failures, cases } = await page!.evaluate(() => window.__protect.roundTrips());
  assert.deepEqual(failures, []);
  assert.equal(await page!.evaluate(() => window.__protect.codec()), 'pako');
  t.diagnostic(`${cases} cases`);
  assert.deepEqual(await page!.evaluate(() => window.__protect.random(300, 7)), []);
});

test('Chromium: tampered bodies, swapped records, another backend → StorageCorruptionError every time', { skip, timeout: 60_000 }, async (t) => {
  const { failures, attempts } = await page!.evaluate(() => window.__protect.tamper());
  assert.deepEqual(failures, []);
  assert.ok(attempts > 1000);
  t.diagnostic(`${attempts} tampered reads, all STORAGE_CORRUPTION`);
});

// The 1,000,000-seal run is in test/node/protect.test.ts (same code); here the browser's
// getRandomValues feeds it, on a smaller count to keep the suite short.
test('Chromium: 200,000 seals under one key, no repeated IV', { skip, timeout: 120_000 }, async (t) => {
  const { repeated, distinct, ms } = await page!.evaluate(() => window.__protect.ivs(200_000));
  assert.equal(repeated, undefined, `IV ${repeated} repeated after ${distinct} seals`);
  assert.equal(distinct, 200_000);
  t.diagnostic(`200,000 seals, 200,000 distinct IVs, ${(ms / 1000).toFixed(1)} s`);
});

test('Chromium: a wrong key at open is STORAGE_BAD_KEY', { skip, timeout: 60_000 }, async () => {
  assert.deepEqual(await page!.evaluate(() => window.__protect.wrongKey()), []);
});

test('Chromium: CompressionStream/DecompressionStream("deflate-raw") interoperate with our bodies', { skip, timeout: 60_000 }, async () => {
  assert.deepEqual(await page!.evaluate(() => window.__protect.native()), []);
});

test('cross-platform: sealed in Node (native zlib) → opened in Chromium (pako); sealed in Chromium → opened in Node (zlib and pako)', { skip, timeout: 60_000 }, async () => {
  const fromNode = await makeFixture('node');
  assert.equal(fromNode.codec, 'node-zlib');
  const inPage = await page!.evaluate((fx) => window.__protect.checkFixture(fx), fromNode);
  assert.deepEqual(inPage.failures, []);
  assert.equal(inPage.checked, fromNode.records.length);
  assert.ok(inPage.compressed >= 4 && inPage.encrypted >= 12, JSON.stringify(inPage));

  const fromPage: Fixture = await page!.evaluate(() => window.__protect.makeFixture());
  assert.equal(fromPage.codec, 'pako');
  const native = await checkFixture(fromPage);
  assert.deepEqual(native.failures, []);
  assert.ok(native.compressed >= 4 && native.encrypted >= 12, JSON.stringify(native));
  useCodec(await pakoCodec());
  try {
    assert.deepEqual((await checkFixture(fromPage)).failures, []);
  } finally {
    useCodec(undefined);
  }
  assert.deepEqual(pageErrors, []);
});
