/** StorageSystem facade behaviour that does not depend on an engine. */
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import * as assert from 'node:assert/strict';
import { StorageSystem, StorageError, StorageValidationError, StorageConnectionError } from '../../src/index.node.ts';

const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;

test('config is validated: unknown fields and bad values are StorageValidationError', () => {
  for (const bad of [{ defaultBackend: 5 }, { cacheSize: -1 }, { compressionLevel: 10 }, { enableCaching: 'yes' }, { colour: 'red' }, { enableEncryption: true }, 'x', []]) {
    assert.throws(() => new StorageSystem(bad as never), StorageValidationError, JSON.stringify(bad));
  }
  const s = new StorageSystem({ defaultBackend: 'memory', enableCaching: true, cacheSize: 100, enableCompression: true, compressionLevel: 6, sweepInterval: 50 });
  assert.equal(s.defaultBackend, 'memory');
});

test('errors carry a stable code, a cause and a name that survives minification', () => {
  const cause = new Error('low level');
  const e = new StorageConnectionError('x', { cause, code: 'STORAGE_LOCKED', transient: true });
  assert.ok(e instanceof StorageError);
  assert.equal(e.name, 'StorageConnectionError');
  assert.equal(e.code, 'STORAGE_LOCKED');
  assert.equal(e.cause, cause);
  assert.equal(e.transient, true);
  assert.equal(new StorageValidationError('y').code, 'STORAGE_VALIDATION');
});

test('setDefaultBackend routes plain calls; unknown names are refused', async () => {
  const s = new StorageSystem();
  const cache = s.createBackend('memory', { name: 'cache' });
  assert.throws(() => s.setDefaultBackend('nope'), code('STORAGE_VALIDATION'));
  assert.throws(() => s.setDefaultBackend('' as string), code('STORAGE_VALIDATION'));
  s.setDefaultBackend('cache');
  await s.set('k', 1);
  assert.equal(await cache.get('k'), 1);
  assert.equal(await s.get('k', { backend: 'memory' }), undefined);
  await assert.rejects(cache.set('k', 2, { backend: 'memory' }), code('STORAGE_VALIDATION'));
  await s.close();
});

test('the database tier is refused clearly in this release; encryption without a key is refused', async () => {
  const s = new StorageSystem();
  assert.throws(() => s.createBackend('database', { connectionString: 'postgresql://localhost/app' }), /not available in this release/);
  assert.throws(() => s.createBackend('file', { enableEncryption: true }), /needs an encryptionKey/);
  assert.throws(() => s.createBackend('file', { enableEncryption: true, encryptionKey: new Uint8Array(3) }), StorageValidationError);
  assert.deepEqual(s.listBackends(), []);
  await s.close();
});

test('an open store with a pending ttl sweep does not keep Node alive', async () => {
  const script = `
    const { StorageSystem } = await import(${JSON.stringify(new URL('../../src/index.node.ts', import.meta.url).href)});
    const s = new StorageSystem();
    await s.set('k', 1, { ttl: 3600 });
    console.log('done');`;
  const started = Date.now();
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 20_000 });
  assert.equal(stdout.trim(), 'done');
  assert.ok(Date.now() - started < 15_000);
});

test('a listener that throws does not fail the write; the error reaches error listeners', async () => {
  const s = new StorageSystem();
  const errors: string[] = [];
  s.on('error', (e) => errors.push(`${e.operation}: ${e.error.message}`));
  s.on('set', () => { throw new Error('listener bug'); });
  await s.set('k', 1);
  assert.equal(await s.get('k'), 1);
  assert.deepEqual(errors, ['set listener: listener bug']);
  await s.close();
});

test('estimate() and persist() have no browser storage API in Node: undefined and false', async () => {
  const storage = new StorageSystem();
  assert.equal(await storage.estimate(), undefined);
  assert.equal(await storage.persist(), false);
  await storage.close();
});
