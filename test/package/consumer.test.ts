/**
 * The published package, seen by its consumers: build, `npm pack`, install the tarball into a
 * fresh project, then use it the way apps do (Node ESM, Node CJS, a browser bundle, TypeScript).
 * This catches what the source tests cannot: a wrong `exports` map, files missing from the
 * tarball, Node-only code reaching browsers, declarations that do not resolve.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import nodeResolve from '@rollup/plugin-node-resolve';
import { rollup } from 'rollup';

const root = fileURLToPath(new URL('../..', import.meta.url));
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
let work = ''; // temp dir: tarball, consumer project, LevelDB directories
let app = ''; // the consumer project
let packedFiles: string[] = []; // paths inside the tarball

async function sh(cmd: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(cmd, args, { cwd, maxBuffer: 64 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}\n${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'tierstore-package-'));
  app = join(work, 'app');
  await mkdir(app);
  await sh('npm', ['run', 'build', '--silent'], root);
  const [packed] = JSON.parse(await sh('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], root)) as
    { filename: string; files: { path: string }[] }[];
  packedFiles = packed!.files.map((f) => f.path);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  // The registry is reachable, but the cache normally has everything (classic-level ships prebuilds).
  await sh('npm', ['install', join(work, packed!.filename), '--prefer-offline', '--no-audit', '--no-fund'], app);
}, { timeout: 150_000 });

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** Memory and LevelDB round trips, a typed error, close, and persistence across a reopen. */
const SCENARIO = `
  const assert = require('node:assert/strict');
  const dir = process.argv[2];
  const s = new StorageSystem();
  await s.set('user.profile', { name: 'Ada', tags: ['x'] });
  assert.deepEqual(await s.get('user.profile'), { name: 'Ada', tags: ['x'] });
  const levelLoaded = () => Object.keys(require.cache).some((k) => k.includes('classic-level'));
  assert.equal(levelLoaded(), false, 'classic-level loads only when a file backend opens');
  s.createBackend('file', { basePath: dir });
  await s.set('user.a', new Date(0), { backend: 'file' });
  assert.equal(levelLoaded(), true);
  await s.set('user.b', [1, 'two'], { backend: 'file' });
  assert.deepEqual(await s.get('user.b', { backend: 'file' }), [1, 'two']);
  assert.deepEqual(await s.keys('user.*', { backend: 'file' }), ['user.a', 'user.b']);
  await assert.rejects(s.set('', 1), (e) => e instanceof StorageValidationError && e.code === 'STORAGE_VALIDATION');
  await s.close();
  const again = new StorageSystem({ defaultBackend: 'file' });
  again.createBackend('file', { basePath: dir });
  assert.deepEqual(await again.get('user.a'), new Date(0));
  await again.close();
`;

test('Node ESM: import from tierstore, memory and LevelDB tiers', async () => {
  const file = join(app, 'esm.mjs');
  await writeFile(file, `import { createRequire } from 'node:module';
import { StorageSystem, StorageValidationError } from 'tierstore';
const require = createRequire(import.meta.url);
${SCENARIO}
console.log(import.meta.resolve('tierstore'));`);
  const out = await sh(process.execPath, [file, join(work, 'esm-db')], app);
  assert.match(out, /node_modules\/tierstore\/dist\/index\.node\.mjs/);
});

test('Node CJS: require(tierstore), memory and LevelDB tiers (classic-level via import())', async () => {
  const file = join(app, 'cjs.cjs');
  await writeFile(file, `const { StorageSystem, StorageValidationError } = require('tierstore');
(async () => {
${SCENARIO}
console.log(require.resolve('tierstore'));
})().catch((err) => { console.error(err); process.exit(1); });`);
  const out = await sh(process.execPath, [file, join(work, 'cjs-db')], app);
  assert.match(out, /node_modules\/tierstore\/dist\/index\.node\.cjs/);
});

test('browser bundle (rollup, browser condition) has no classic-level and no node: imports', async () => {
  const input = join(app, 'web.mjs');
  await writeFile(input, `import { StorageSystem } from 'tierstore';
const s = StorageSystem.getInstance();
await s.set('a.b', 1);
console.log(JSON.stringify(await s.get('a.b')));`);
  // Vite is not installed on purpose: it resolves packages the same way (browser condition), so
  // plain rollup + node-resolve proves the same thing with fewer dependencies.
  const bundle = await rollup({
    input,
    plugins: [nodeResolve({ browser: true, exportConditions: ['browser'] })],
    onwarn(w) { throw new Error(`rollup warning: ${w.message}`); },
  });
  const { output } = await bundle.generate({ format: 'es' });
  await bundle.close();
  // Queries, indexes, search and time series load with import(): chunks of their own, all bundled.
  const chunks = output.filter((o) => o.type === 'chunk');
  const names = new Set(chunks.map((c) => c.fileName));
  for (const c of chunks) {
    for (const imp of [...c.imports, ...c.dynamicImports]) assert.ok(names.has(imp), `${c.fileName} imports ${imp}, which was not bundled`);
    // Module specifiers only: comments may mention classic-level.
    assert.doesNotMatch(c.code, /['"`]classic-level['"`/]/);
    assert.doesNotMatch(c.code, /['"`]node:/);
  }
  const modules = chunks.flatMap((c) => Object.keys(c.modules)).map((m) => m.slice(app.length));
  assert.ok(modules.some((m) => m.startsWith('/node_modules/tierstore/dist/') && !m.includes('.node.')), modules.join('\n'));
  assert.ok(modules.some((m) => m.startsWith('/node_modules/idb/')), 'idb is bundled');
  // The memory tier needs no browser API: the bundle runs in Node too.
  const out = join(app, 'web-bundle');
  await mkdir(out, { recursive: true });
  for (const c of chunks) await writeFile(join(out, c.fileName), c.code);
  assert.equal((await sh(process.execPath, [join(out, chunks.find((c) => c.isEntry)!.fileName)], app)).trim(), '1');
});

test('TypeScript consumers type-check against the installed declarations', async () => {
  const use = (from: string) => `${from}
export async function main(): Promise<number | undefined> {
  const config: StorageConfig = { defaultBackend: 'memory' };
  const storage = new StorageSystem(config);
  await storage.set('user.count', 1, { ttl: 60, tags: ['t'] });
  const entry: Entry<number> | undefined = await storage.getEntry<number>('user.count');
  const keys: string[] = await storage.keys('user.*');
  // @ts-expect-error keys are strings: fails to compile if the package's types decayed to any
  await storage.set(42, 1);
  const err = new StorageValidationError('bad');
  const code: StorageErrorCode = err.code;
  await storage.close();
  return keys.length + (entry?.metadata.version ?? 0) + code.length;
}
`;
  const named = `{ StorageSystem, StorageValidationError, type Entry, type StorageConfig, type StorageErrorCode } from 'tierstore'`;
  await writeFile(join(app, 'use-esm.ts'), use(`import ${named};`));
  await writeFile(join(app, 'use-cjs.cts'), use(`import ${named};`)); // a .cts import compiles to require()
  const options = { strict: true, noEmit: true, skipLibCheck: false, target: 'ES2022', types: [] as string[] };
  const configs = {
    // Node resolution: ESM picks index.node.d.ts, CJS picks index.node.d.cts. No DOM lib: the Node
    // declarations must not need it.
    'tsconfig.node16.json': { compilerOptions: { ...options, module: 'node16', moduleResolution: 'node16', lib: ['ES2022'] }, files: ['use-esm.ts', 'use-cjs.cts'] },
    // A web app's bundler resolution with the browser condition picks index.browser.d.ts.
    'tsconfig.bundler.json': { compilerOptions: { ...options, module: 'esnext', moduleResolution: 'bundler', customConditions: ['browser'], lib: ['ES2022', 'DOM'] }, files: ['use-esm.ts'] },
  };
  const expected = {
    'tsconfig.node16.json': ['index.node.d.ts', 'index.node.d.cts'],
    'tsconfig.bundler.json': ['index.browser.d.ts'],
  };
  for (const [name, config] of Object.entries(configs)) {
    await writeFile(join(app, name), JSON.stringify(config));
    const files = await sh(process.execPath, [tsc, '-p', name, '--listFilesOnly'], app);
    for (const entry of expected[name as keyof typeof expected]) {
      assert.ok(files.includes(`node_modules/tierstore/dist/types/${entry}`), `${name} resolves ${entry}:\n${files}`);
    }
    await sh(process.execPath, [tsc, '-p', name], app); // throws with tsc's diagnostics on error
  }
});

test('the tarball holds dist and package metadata only', () => {
  const outside = packedFiles.filter((p) => !/^(dist\/|package\.json$|README\.md$|LICENSE)/.test(p));
  assert.deepEqual(outside, []);
  for (const file of ['dist/index.node.mjs', 'dist/index.node.cjs', 'dist/index.browser.mjs', 'dist/types/index.node.d.cts']) {
    assert.ok(packedFiles.includes(file), file);
  }
});
