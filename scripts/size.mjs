// `npm run size`: what the key-value API costs a browser app. Bundles a consumer that imports only
// StorageSystem (set/get/keys) from the browser entry, idb included, minifies it with terser (as
// most app builds do) and gzips it (level 9); exits 1 above the budget. Dexie and the whole
// browser entry are printed for reference.
// Flags: --dist measures the built dist/index.browser.mjs instead of src/index.browser.ts;
//        --why lists the modules of the key-value bundle by minified size.
import { build } from 'esbuild';
import { minify } from 'terser';
import { fileURLToPath } from 'node:url';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';

// The issue's target is 8 KB and is not reached (see BENCHMARKS.md): the budget CI enforces is the
// measured initial load plus a little headroom, so any growth fails loudly while the target stays
// visible. Issues #4/#5 raised it from 20 KiB (18.1 KB measured) to 30 KiB (29.0 KB measured): the
// write path of every app now carries index upkeep (catalog, derived reads, raw writes), quotas with
// auto-cleanup, the record cache and the sealing/rotation hooks; queries, indexes, search, documents,
// time series, compression and encryption themselves load with import() on first use (~46 KB more).
const TARGET = 8192;
const BUDGET = 30 * 1024;
const root = fileURLToPath(new URL('..', import.meta.url));
const entry = process.argv.includes('--dist') ? './dist/index.browser.mjs' : './src/index.browser.ts';

/**
 * Bundles `contents` as an app's bundler would, with code splitting (features tierstore loads with
 * import() on first use land in chunks of their own), and returns the min+gz bytes of the initial
 * load: the entry chunk and every chunk it imports statically. `all` adds the lazy chunks too.
 */
async function measure(contents, why = false) {
  const result = await build({
    stdin: { contents, resolveDir: root, loader: 'js' },
    bundle: true,
    splitting: true,
    outdir: join(root, '.tmp', 'size'),
    format: 'esm',
    platform: 'browser', // the `browser` export condition, as a web bundler resolves it
    target: 'es2022',
    write: false,
    metafile: true,
    minifyWhitespace: why, // only for the --why breakdown; the measured bytes come from terser
    logLevel: 'error',
    alias: { tierstore: entry },
  });
  const outputs = result.metafile.outputs;
  const byPath = new Map(result.outputFiles.map((f) => [relative(root, f.path), f]));
  const entryPath = Object.keys(outputs).find((p) => outputs[p].entryPoint === '<stdin>');
  const initial = new Set();
  const visit = (p) => {
    if (initial.has(p)) return;
    initial.add(p);
    for (const imp of outputs[p].imports) if (imp.kind === 'import-statement' && outputs[imp.path]) visit(imp.path);
  };
  visit(entryPath);
  if (why) {
    const inputs = {};
    for (const p of initial) for (const [file, { bytesInOutput }] of Object.entries(outputs[p].inputs)) inputs[file] = (inputs[file] ?? 0) + bytesInOutput;
    for (const [file, bytes] of Object.entries(inputs).sort((a, b) => b[1] - a[1])) console.log(`  ${String(bytes).padStart(6)}  ${file}`);
  }
  const size = async (paths) => {
    let total = 0;
    for (const p of paths) {
      const { code } = await minify(byPath.get(p).text, { module: true, compress: { passes: 2 } });
      total += gzipSync(code, { level: 9 }).length;
    }
    return total;
  };
  return { initial: await size(initial), all: await size(Object.keys(outputs).filter((p) => p.endsWith('.js'))) };
}

// Each consumer exports its work so the minifier cannot drop the calls.
const KV = `import { StorageSystem } from 'tierstore';
const s = StorageSystem.getInstance({ defaultBackend: 'file' });
export const run = async () => { await s.set('a.b', { n: 1 }); return [await s.get('a.b'), await s.keys('a.*')]; };`;
const DEXIE = `import Dexie from 'dexie';
const db = new Dexie('app'); db.version(1).stores({ kv: '' });
export const run = async () => { const t = db.table('kv'); await t.put({ n: 1 }, 'a.b'); return [await t.get('a.b'), await t.toCollection().primaryKeys()]; };`;

if (process.argv.includes('--why')) console.log('key-value bundle (initial load), whitespace-minified bytes per module:');
const [kvSize, full, dexie] = await Promise.all([
  measure(KV, process.argv.includes('--why')),
  measure(`export * from 'tierstore';`),
  measure(DEXIE),
]);
console.log(`key-value API (browser, min+gz, initial load): ${kvSize.initial} bytes (${kvSize.all} with every lazily loaded feature chunk)`);
console.log(`full browser entry (browser, min+gz): ${full.initial} bytes initial, ${full.all} with every feature (queries, indexes, search, time series)`);
console.log(`dexie, same key-value use (min+gz, reference): ${dexie.initial} bytes`);
const kv = kvSize.initial;
console.log(`measured ${entry} with idb bundled; CI budget ${BUDGET} bytes; target ${TARGET} bytes: ${kv <= TARGET ? 'reached' : `MISSED by ${kv - TARGET} bytes`}`);
if (kv > BUDGET) {
  console.error(`size: FAIL, the key-value API is ${kv} bytes, ${kv - BUDGET} over the ${BUDGET}-byte budget`);
  process.exit(1);
}
