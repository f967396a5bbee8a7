/**
 * Minified+gzipped size of a browser bundle that uses only the key-value API.
 *
 * When the project's `scripts/size.mjs` exists it is the reference (the CI budget uses it), so
 * the bench runs it and reports its figure. Otherwise: esbuild bundle + minify of a consumer
 * importing StorageSystem from src/index.browser.ts and calling set/get/keys, gzip level 9.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

export interface SizeResult {
  /** Minified+gzipped bytes of the key-value consumer. */
  gzip: number;
  how: string;
  /** Other lines the size script printed (full entry, Dexie reference, budget). */
  details: string[];
}

export async function measureSize(root: string): Promise<SizeResult | undefined> {
  const entry = join(root, 'src', 'index.browser.ts');
  if (!existsSync(entry)) return undefined;
  const script = join(root, 'scripts', 'size.mjs');
  if (existsSync(script)) {
    // The script exits 1 when over budget; its output is what we want either way.
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [script], { cwd: root }).catch(
      (e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
    );
    const lines = `${stdout}\n${stderr}`.split('\n').map((l) => l.trim()).filter(Boolean);
    const kv = lines.map((l) => /^key-value API.*?:\s*(\d+) bytes/.exec(l)).find((m) => m);
    if (kv) {
      return { gzip: Number(kv[1]), how: 'scripts/size.mjs: esbuild bundle, terser, gzip -9', details: lines.filter((l) => !/^key-value API/.test(l)) };
    }
  }
  const contents = `import { StorageSystem } from ${JSON.stringify(entry)};
const s = StorageSystem.getInstance({ defaultBackend: 'file' });
export const run = async () => { await s.set('a.b', { n: 1 }); return [await s.get('a.b'), await s.keys('a.*')]; };`;
  const out = await build({
    stdin: { contents, resolveDir: root, loader: 'ts' },
    bundle: true, platform: 'browser', format: 'esm', target: 'es2022', minify: true, write: false, logLevel: 'error',
  });
  const code = out.outputFiles[0]!.contents;
  return { gzip: gzipSync(code, { level: 9 }).length, how: `esbuild bundle+minify (${code.byteLength} B), gzip -9`, details: [] };
}
