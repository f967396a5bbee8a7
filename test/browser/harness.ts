/**
 * Node-side harness of the browser tests: finds Chromium (or explains loudly why the suites are
 * skipped), bundles page code with esbuild into `.tmp/`, and serves it from a local http server,
 * because IndexedDB needs a real origin (not file://).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser, type BrowserContext, type LaunchOptions } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** Debian's Chromium; TIERSTORE_CHROMIUM_PATH points elsewhere (e.g. on a developer's machine). */
export const CHROMIUM_PATH = process.env.TIERSTORE_CHROMIUM_PATH || '/usr/bin/chromium';

/** Launch options of every test browser: no sandbox (containers), no network side traffic. */
export const LAUNCH: LaunchOptions = {
  executablePath: CHROMIUM_PATH,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
};

/**
 * Why the browser suites cannot run, or undefined when they can; the caller skips its tests with
 * it. The skip is loud. With TIERSTORE_REQUIRE_BROWSER=1 (CI) a missing browser is a failing
 * test instead, never a silent pass.
 */
export function browserSkipReason(): string | undefined {
  if (existsSync(CHROMIUM_PATH)) return undefined;
  const message = `SKIPPED: Chromium not found at ${CHROMIUM_PATH} — browser suites did not run`;
  const bar = '!'.repeat(message.length + 8);
  console.error(`\n${bar}\n!!! ${message} !!!\n${bar}\n`);
  if (process.env.TIERSTORE_REQUIRE_BROWSER === '1') {
    test('Chromium is available (TIERSTORE_REQUIRE_BROWSER=1)', () => {
      throw new Error(`Chromium not found at ${CHROMIUM_PATH}, and TIERSTORE_REQUIRE_BROWSER=1 requires the browser suites: install the Debian "chromium" package`);
    });
  }
  return message;
}

/** Launches the test Chromium. */
export function launch(): Promise<Browser> {
  return chromium.launch(LAUNCH);
}

/** Launches Chromium on a profile directory that survives the browser (for restart tests). */
export function launchPersistent(userDataDir: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(userDataDir, LAUNCH);
}

/** A page to serve: an HTML file loading `script` as a module. */
export const modulePage = (script: string, body = '') =>
  `<!doctype html><html><head><meta charset="utf-8"><title>tierstore test</title><link rel="icon" href="data:,"></head><body>${body}<script type="module" src="${script}"></script></body></html>`;

export interface Site {
  /** Origin with a trailing slash, e.g. `http://127.0.0.1:41234/`. */
  readonly url: string;
  /** Directory served (under `.tmp/`). */
  readonly dir: string;
  close(): Promise<void>;
}

/**
 * Bundles `entries` (output name → source path relative to the repo root, e.g.
 * `{ 'entry.js': 'test/browser/entry.ts' }`) as browser ES modules, writes `pages` (name →
 * content) beside them, and serves the directory on 127.0.0.1 at a random port.
 */
export async function serveBundles(entries: Record<string, string>, pages: Record<string, string>): Promise<Site> {
  const dir = join(ROOT, '.tmp', `browser-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  await mkdir(dir, { recursive: true });
  await Promise.all(Object.entries(entries).map(([out, src]) => build({
    entryPoints: [join(ROOT, src)],
    outfile: join(dir, out),
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    // Pages import `tierstore` like users do; tsconfig's `paths` points it at the Node entry
    // (for typechecking), so the browser bundle is told where the browser entry is.
    alias: { tierstore: join(ROOT, 'src/index.browser.ts') },
    logLevel: 'silent',
  })));
  for (const [name, content] of Object.entries(pages)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  const types: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css' };
  const server = createServer((req, res) => {
    let path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (path.endsWith('/')) path += 'index.html';
    const file = normalize(join(dir, path));
    if (!file.startsWith(dir)) { res.writeHead(403).end(); return; }
    readFile(file).then(
      (body) => res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(body),
      () => res.writeHead(404).end('not found'),
    );
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    dir,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
