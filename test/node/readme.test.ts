/**
 * Every ```ts block of README.md runs, so the documentation cannot rot. Each block runs as its own
 * module in a temp directory, against the Node entry; a block that uses `storage` without creating
 * it gets a fresh `new StorageSystem()`, closed at the end.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pathToFileURL } from 'node:url';

const root = new URL('../../', import.meta.url);
const entry = new URL('src/index.node.ts', root).href;
const readme = await readFile(new URL('README.md', root), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const dir = await mkdtemp(join(tmpdir(), 'tierstore-readme-'));
const cwd = process.cwd();
after(async () => { process.chdir(cwd); await rm(dir, { recursive: true, force: true }); });

test('README has code examples', () => {
  if (blocks.length < 5) throw new Error(`only ${blocks.length} ts blocks found`);
});

blocks.forEach((code, i) => {
  const firstLine = code.split('\n').find((l) => l.trim() && !l.startsWith('import'))?.trim();
  test(`README example ${i + 1}: ${firstLine?.slice(0, 60)}`, async () => {
    const body = code.replace(/from 'tierstore'/g, `from '${entry}'`);
    const imports = body.match(/^import .*$/gm) ?? [];
    const rest = body.replace(/^import .*\n/gm, '');
    const usesStorage = /\bstorage\b/.test(rest);
    const source = [
      ...imports,
      `import { StorageSystem as __StorageSystem } from '${entry}';`,
      usesStorage && !/const storage\b/.test(rest) ? 'const storage = new __StorageSystem();' : '',
      rest,
      usesStorage && !/storage\.close\(\)/.test(rest) ? 'await storage.close();' : '',
    ].join('\n');
    const file = join(dir, `block-${i + 1}.mts`);
    await writeFile(file, source);
    process.chdir(dir);
    try {
      await import(pathToFileURL(file).href);
    } finally {
      process.chdir(cwd);
    }
  });
});
