/**
 * Static guard of the browser entry: bundling `src/index.browser.ts` for the browser must pull in
 * no Node built-in (`node:*`, `fs`, `path`, …) and not classic-level, or bundlers would need
 * shims and pages would break at load. Needs no browser.
 * Run: node --import tsx --test test/browser/no-node-builtins.test.ts
 */
import assert from 'node:assert/strict';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { ROOT } from './harness';

const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const isForbidden = (path: string) => builtins.has(path) || path.startsWith('node:') || path === 'classic-level' || path.startsWith('classic-level/');

test('the browser entry bundles without Node built-ins or classic-level', async (t) => {
  // Forbidden modules are marked external so that esbuild reports them instead of failing to resolve.
  const result = await build({
    entryPoints: [join(ROOT, 'src/index.browser.ts')],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    minify: true,
    write: false,
    metafile: true,
    logLevel: 'silent',
    external: [...builtins, 'node:*', 'classic-level'],
  });
  const inputs = result.metafile.inputs;
  const offenders: string[] = [];
  for (const [file, input] of Object.entries(inputs)) {
    if (/classic-level|abstract-level|adapters[\\/]node/.test(file)) offenders.push(`${file} is bundled`);
    for (const imp of input.imports) if (isForbidden(imp.path)) offenders.push(`${file} imports ${imp.path}`);
  }
  assert.deepEqual(offenders, [], 'Node-only modules reachable from src/index.browser.ts');
  assert.ok(Object.keys(inputs).some((f) => f.endsWith('idb-engine.ts')), 'the IndexedDB engine is bundled');

  const text = result.outputFiles[0]!.text;
  const requires = [...text.matchAll(/require\(\s*["'`]([^"'`]+)["'`]\s*\)/g)].map((m) => m[1]!).filter(isForbidden);
  assert.deepEqual(requires, [], 'require() of a Node built-in in the output');
  assert.equal(/\bnode:/.test(text), false, 'the output mentions a node: module');
  t.diagnostic(`src/index.browser.ts: ${text.length} B minified, ${gzipSync(text).length} B min+gz`);
});
