/**
 * The browser suites in real Chromium (playwright-core driving Debian's /usr/bin/chromium):
 * the conformance suite on memory and IndexedDB (one subtest per case), the IndexedDB engine
 * checks, persistence across a reload and across a browser restart, the SDK in a Web Worker,
 * and a real quota error. Run: node --import tsx --test test/browser/chromium.test.ts
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { browserSkipReason, launch, launchPersistent, modulePage, serveBundles, type Site } from './harness';
import type { CaseResult } from './runner';
import type { Snapshot } from './shared';

const skip = browserSkipReason();
let site: Site | undefined;
let browser: Browser | undefined;

before(async () => {
  if (skip) return;
  site = await serveBundles(
    { 'conformance.js': 'test/browser/entry.ts', 'helpers.js': 'test/browser/helpers.ts', 'worker.js': 'test/browser/worker.ts' },
    { 'conformance.html': modulePage('./conformance.js'), 'helpers.html': modulePage('./helpers.js') },
  );
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await site?.close();
});

/** Uncaught errors and unhandled rejections of each page: the SDK must never leak one. */
const pageErrors = new WeakMap<Page, string[]>();

/** Opens a page of the test site and waits until its bundle has installed `ready` on window. */
async function openPage(path: string, ready: string, p?: Page): Promise<Page> {
  const page = p ?? (await (await browser!.newContext()).newPage());
  if (!pageErrors.has(page)) {
    const errors: string[] = [];
    pageErrors.set(page, errors);
    page.on('pageerror', (err) => errors.push(`${err.name}: ${err.message}`));
  }
  await page.goto(site!.url + path);
  await page.waitForFunction((name) => typeof (window as unknown as Record<string, unknown>)[name] === 'function', ready);
  return page;
}

/** Closes the page's context, failing if the page saw an uncaught error. */
async function closePage(page: Page): Promise<void> {
  const errors = pageErrors.get(page) ?? [];
  await page.context().close();
  assert.deepEqual(errors, [], 'uncaught errors or unhandled rejections in the page');
}

/** Reports every page-side case as its own subtest, so a failure names the case. */
async function runCases(t: TestContext, page: Page, names: string[], run: (page: Page, name: string) => Promise<CaseResult[]>) {
  for (const name of names) {
    await t.test(name, { timeout: 120_000 }, async () => {
      const [result] = await run(page, name);
      assert.ok(result, `case not found in the page: ${name}`);
      if (!result.ok) throw new Error(`${result.error}\n(in Chromium, after ${Math.round(result.ms)} ms)`);
    });
  }
}

test('conformance suite in Chromium', { skip, timeout: 600_000 }, async (t) => {
  const page = await openPage('conformance.html', '__runConformance');
  const names = await page.evaluate(() => window.__conformanceNames());
  assert.ok(names.some((n) => n.startsWith('[memory]')) && names.some((n) => n.startsWith('[indexeddb]')), 'both targets declared');
  await runCases(t, page, names, (p, name) => p.evaluate((n) => window.__runConformance([n]), name));
  await closePage(page);
});

test('IndexedDB engine checks in Chromium', { skip, timeout: 300_000 }, async (t) => {
  const page = await openPage('helpers.html', '__runEngineChecks');
  const names = await page.evaluate(() => window.__engineCheckNames());
  await runCases(t, page, names, (p, name) => p.evaluate((n) => window.__runEngineChecks([n]), name));
  await closePage(page);
});

/** The persisted fixture must come back exactly, with its ttl deadline kept (not restarted). */
function assertSameStore(read: Snapshot, written: Snapshot) {
  assert.deepEqual(read.keys, ['note.1', 'note.2', 'note.3', 'note.strict', 'note.ttl']);
  assert.deepEqual(read.entries, written.entries);
  const ttl = read.entries['note.ttl']!.metadata as { ttl: number; expiresAt: number; updatedAt: number };
  assert.equal(ttl.ttl, 3600);
  assert.equal(ttl.expiresAt, ttl.updatedAt + 3_600_000);
  assert.ok(ttl.expiresAt > read.now, 'still live');
  assert.deepEqual(read.entries['note.1']!.value, { text: 'hello', at: { $date: 1700000000000 }, seen: { $set: ['a'] } });
  assert.equal((read.entries['note.2']!.metadata as { version: number }).version, 2);
}

test('data written with the SDK survives a page reload (default basePath)', { skip, timeout: 60_000 }, async () => {
  const page = await openPage('helpers.html', '__persistWrite');
  const written = await page.evaluate(() => window.__persistWrite());
  await page.reload();
  await page.waitForFunction(() => typeof window.__persistRead === 'function');
  assertSameStore(await page.evaluate(() => window.__persistRead()), written);
  const dbs = await page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name));
  assert.ok(dbs.includes('tierstore'), `the default database is named "tierstore" (found ${dbs.join(', ')})`);
  await closePage(page);
});

test('data survives closing and relaunching the browser on the same profile', { skip, timeout: 60_000 }, async () => {
  const profile = await mkdtemp(join(tmpdir(), 'tierstore-profile-'));
  try {
    const first = await launchPersistent(profile);
    const written = await (await openPage('helpers.html', '__persistWrite', first.pages()[0] ?? (await first.newPage())))
      .evaluate(() => window.__persistWrite('restart-db'));
    await first.close();
    const second = await launchPersistent(profile);
    try {
      const page = await openPage('helpers.html', '__persistRead', second.pages()[0] ?? (await second.newPage()));
      assertSameStore(await page.evaluate(() => window.__persistRead('restart-db')), written);
    } finally {
      await second.close();
    }
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
});

test('the SDK works on IndexedDB inside a dedicated Web Worker', { skip, timeout: 60_000 }, async () => {
  const page = await openPage('helpers.html', '__workerCheck');
  const { worker, page: seen } = await page.evaluate(() => window.__workerCheck('worker-db'));
  assert.ok(worker.ok, worker.error);
  assert.equal(worker.inWorker, true);
  assert.equal(worker.engine, 'indexeddb');
  assert.deepEqual(worker.steps, {
    get: { from: 'worker', at: { $date: 5 } },
    batchGet: [{ $map: [[1, 'x']] }, undefined],
    keysBefore: ['w.a', 'w.b', 'w.short'],
    expired: ['w.short'],
    keysAfter: ['w.a', 'w.b'],
    deleted: true,
    version: 1,
  });
  assert.deepEqual(seen.keys, ['w.a'], 'the page sees what the worker wrote');
  assert.deepEqual((seen.entries['w.a']!.metadata as { tags: string[] }).tags, ['w']);
  await closePage(page);
});

test('a write the browser refuses for quota is a StorageQuotaError and writes nothing', { skip, timeout: 60_000 }, async () => {
  const context = await browser!.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  // A 2 MB origin quota (DevTools protocol), then a 6 MB write.
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: site!.url.slice(0, -1), quotaSize: 2 * 1024 * 1024 });
  await openPage('helpers.html', '__quotaCheck', page);
  const { code, message, left } = await page.evaluate(() => window.__quotaCheck('quota-db', 6 * 1024 * 1024));
  assert.equal(code, 'STORAGE_QUOTA', message);
  assert.deepEqual(left.keys, ['small'], 'the whole batch was refused');
  await closePage(page);
});
