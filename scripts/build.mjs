// `npm run build`: clean dist, run rollup (JavaScript) and tsc (declarations) side by side, make the
// declarations resolvable for both module systems, then check that package.json points at real files.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = (name) => join(root, 'node_modules', '.bin', name);

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`))));
  });
}

// tsc keeps the sources' extensionless relative imports, which moduleResolution node16/nodenext
// cannot follow from an ESM .d.ts (the types would silently become `any`). Rewrite them to `.js`,
// and write a `.d.cts` twin of every file (importing `.cjs`) so that `require` consumers get
// CommonJS-format declarations instead of ESM ones they may not import.
const RELATIVE = /(\bfrom\s*|\bimport\s*\(\s*)(['"])(\.\.?\/[^'"]*)\2/g;

async function dualDeclarations(dir) {
  for (const rel of await readdir(dir, { recursive: true })) {
    if (!rel.endsWith('.d.ts')) continue;
    const file = join(dir, rel);
    const text = await readFile(file, 'utf8');
    const rewrite = (ext) => text.replace(RELATIVE, (_m, pre, q, spec) => {
      const base = spec.replace(/\.(js|ts)$/, '');
      const at = join(dirname(file), base);
      if (existsSync(`${at}.d.ts`)) return `${pre}${q}${base}${ext}${q}`;
      if (existsSync(join(at, 'index.d.ts'))) return `${pre}${q}${base}/index${ext}${q}`;
      throw new Error(`${file}: cannot resolve "${spec}"`);
    });
    await writeFile(file, rewrite('.js'));
    await writeFile(file.replace(/\.d\.ts$/, '.d.cts'), rewrite('.cjs'));
  }
}

const started = Date.now();
await rm(join(root, 'dist'), { recursive: true, force: true });
await Promise.all([run(bin('rollup'), ['-c']), run(bin('tsc'), ['-p', 'tsconfig.build.json'])]);
await dualDeclarations(join(root, 'dist', 'types'));
await run(process.execPath, [join(root, 'scripts', 'check-exports.mjs')]);
console.log(`build done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
