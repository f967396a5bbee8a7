// Builds the three runtime files from the TypeScript sources; `tsc -p tsconfig.build.json` emits the types.
import { readFileSync } from 'node:fs';
import esbuild from 'rollup-plugin-esbuild';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const deps = Object.keys(pkg.dependencies ?? {});

// Runtime dependencies stay imports: npm installs them for the consumer, and its bundler dedupes
// them. classic-level is a native addon and can never be bundled.
const external = (id) => id.startsWith('node:') || deps.some((d) => id === d || id.startsWith(`${d}/`));

// Rollup treats an import it cannot resolve as external and only warns: that would ship a broken file.
const onwarn = (warning, warn) => {
  if (warning.code === 'UNRESOLVED_IMPORT') throw new Error(`unresolved import: ${warning.message}`);
  warn(warning);
};

const ts = () => esbuild({ target: 'es2022', tsconfig: 'tsconfig.json' });

// The browser file must never reach Node-only code: fail the build instead of shipping it. (This
// must live in `external`: rollup asks it before any plugin's resolveId.)
const browserExternal = (id, importer) => {
  if (id === 'classic-level' || id.startsWith('node:')) throw new Error(`browser build imports "${id}" (from ${importer})`);
  return external(id);
};

export default [
  {
    input: 'src/index.node.ts',
    external,
    onwarn,
    plugins: [ts()],
    output: [
      // Node loads everything from disk: the lazily imported features stay in the one file.
      { file: 'dist/index.node.mjs', format: 'es', sourcemap: true, inlineDynamicImports: true },
      // dynamicImportInCjs keeps `import('classic-level')` a real import() in CJS (Node supports it
      // there), rather than rewriting it to require().
      { file: 'dist/index.node.cjs', format: 'cjs', sourcemap: true, exports: 'named', dynamicImportInCjs: true, inlineDynamicImports: true },
    ],
  },
  {
    input: 'src/index.browser.ts',
    external: browserExternal,
    onwarn,
    plugins: [ts()],
    // Queries, indexes, search and time series are loaded with import() on first use: as chunks
    // of their own, an app's bundler can leave them out of the initial load of a key-value app.
    output: { dir: 'dist', entryFileNames: 'index.browser.mjs', chunkFileNames: 'browser/[name]-[hash].mjs', format: 'es', sourcemap: true },
  },
];
