/** LevelDB across processes: persistence, TTL deadlines after a restart, and the directory lock. */
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import * as assert from 'node:assert/strict';
import { StorageSystem, StorageConnectionError } from '../../src/index.node.ts';

const cli = new URL('./fixtures/store-cli.ts', import.meta.url).pathname;
const run = (dir: string, command: string) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', cli, dir, command], { timeout: 30_000 });
const dirs: string[] = [];
const tempDir = async () => { const d = await mkdtemp(join(tmpdir(), 'tierstore-proc-')); dirs.push(d); return d; };
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });

test('a second process reads what the first wrote; TTL deadlines survive the restart', async () => {
  const dir = await tempDir();
  assert.equal((await run(dir, 'write')).stdout.trim(), 'written');
  const first = JSON.parse((await run(dir, 'read')).stdout) as Record<string, { value: unknown; meta: { expiresAt?: number; tags?: string[] } }>;
  assert.equal(first.dateOk, true);
  assert.deepEqual(first['proc.a']!.meta.tags, ['x']);
  assert.equal(first['proc.long']!.value, 'lasting');
  assert.ok(first['proc.long']!.meta.expiresAt! > Date.now() + 3500_000);
  await new Promise((r) => setTimeout(r, 1100));
  const later = JSON.parse((await run(dir, 'read')).stdout) as Record<string, unknown>;
  assert.equal(later['proc.short'], undefined, 'the 1 s entry expired across the restart');
  assert.ok(later['proc.long']);
});

test('opening a LevelDB directory held by another process is a StorageConnectionError, quickly', async () => {
  const dir = await tempDir();
  const holder = spawn(process.execPath, ['--import', 'tsx', cli, dir, 'hold'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      holder.stdout.on('data', (d: Buffer) => { if (d.toString().includes('holding')) resolve(); });
      holder.on('exit', (code) => reject(new Error(`holder exited ${code}`)));
    });
    const storage = new StorageSystem({ defaultBackend: 'file' });
    storage.createBackend('file', { basePath: dir });
    const started = Date.now();
    const err = await storage.set('k', 1).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof StorageConnectionError, `got ${String(err)}`);
    assert.equal((err as StorageConnectionError).code, 'STORAGE_LOCKED');
    assert.match((err as Error).message, /in use/);
    assert.ok(Date.now() - started < 2000, 'fails fast');
    await storage.close();
  } finally {
    holder.kill('SIGKILL');
  }
  // After the holder dies, the lock is free again.
  await new Promise((r) => setTimeout(r, 200));
  const storage = new StorageSystem({ defaultBackend: 'file' });
  storage.createBackend('file', { basePath: dir });
  await storage.set('k', 1);
  assert.equal(await storage.get('k'), 1);
  await storage.close();
});

test('two file backends on one directory in one process: the second is refused', async () => {
  const dir = await tempDir();
  const storage = new StorageSystem();
  const a = storage.createBackend('file', { name: 'a', basePath: dir });
  const b = storage.createBackend('file', { name: 'b', basePath: dir });
  await a.set('k', 1);
  await assert.rejects(b.set('k', 2), (e: unknown) => (e as { code?: string }).code === 'STORAGE_LOCKED');
  assert.equal(await a.get('k'), 1);
  await storage.close();
});

test('getInstance is a singleton; close releases it and the LevelDB lock', async () => {
  const dir = await tempDir();
  const s1 = StorageSystem.getInstance();
  assert.equal(StorageSystem.getInstance(), s1);
  assert.throws(() => StorageSystem.getInstance({ defaultBackend: 'elsewhere' }), { code: 'STORAGE_VALIDATION' });
  s1.createBackend('file', { basePath: dir });
  await s1.set('k', 'v', { backend: 'file' });
  await s1.close();
  const s2 = StorageSystem.getInstance();
  assert.notEqual(s2, s1);
  s2.createBackend('file', { basePath: dir });
  assert.equal(await s2.get('k', { backend: 'file' }), 'v');
  await s2.close();
});
