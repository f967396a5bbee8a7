/**
 * Smoke test of examples/browser-basic: bundles it with esbuild (the `tierstore` import pointed
 * at the browser entry), opens it in Chromium, clicks through it and checks the DOM, including
 * after a reload. Run: node --import tsx --test test/browser/example.test.ts
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ROOT, browserSkipReason, launch, serveBundles, type Site } from './harness';

const skip = browserSkipReason();
let site: Site | undefined;
let browser: Browser | undefined;

before(async () => {
  if (skip) return;
  const html = await readFile(join(ROOT, 'examples/browser-basic/index.html'), 'utf8');
  site = await serveBundles({ 'example/main.js': 'examples/browser-basic/main.ts' }, { 'example/index.html': html });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await site?.close();
});

const texts = (page: Page) => page.locator('#notes li .text').allTextContents();

async function add(page: Page, text: string, ttlSeconds?: number) {
  await page.fill('#text', text);
  if (ttlSeconds !== undefined) {
    await page.check('#expires');
    await page.fill('#ttl', String(ttlSeconds));
  }
  await page.click('button[type=submit]');
  await page.locator('#notes li .text', { hasText: text }).waitFor();
}

test('examples/browser-basic: notes persist across reloads, a ttl note expires by itself', { skip, timeout: 60_000 }, async () => {
  const context = await browser!.newContext();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${site!.url}example/`);
  await page.locator('body[data-ready=true]').waitFor();
  assert.deepEqual(await texts(page), []);

  await add(page, 'Buy milk');
  await add(page, 'Call Ada');
  await add(page, 'Remember for an hour', 3600);
  await add(page, 'Gone in a second', 1);
  assert.deepEqual(await texts(page), ['Buy milk', 'Call Ada', 'Remember for an hour', 'Gone in a second']);
  assert.match(await page.locator('#notes li', { hasText: 'Remember for an hour' }).locator('.meta').innerText(), /expires/);

  // The ttl note vanishes without user action: the sweep deletes it and `expire` redraws.
  await page.locator('#notes li .text', { hasText: 'Gone in a second' }).waitFor({ state: 'detached', timeout: 5000 });
  await page.locator('#log li', { hasText: /expire notes\./ }).waitFor();

  await page.locator('#notes li', { hasText: 'Call Ada' }).locator('button.delete').click();
  await page.locator('#notes li .text', { hasText: 'Call Ada' }).waitFor({ state: 'detached' });
  assert.match(await page.locator('#log').innerText(), /delete notes\./);

  await page.reload();
  await page.locator('body[data-ready=true]').waitFor();
  assert.deepEqual(await texts(page), ['Buy milk', 'Remember for an hour']);
  assert.match(await page.locator('#notes li', { hasText: 'Remember for an hour' }).locator('.meta').innerText(), /v1 · expires/);
  assert.match(await page.locator('#status').innerText(), /^2 note\(s\)/);
  assert.deepEqual(errors, []);
  await context.close();
});
