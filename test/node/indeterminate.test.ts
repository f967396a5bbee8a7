/**
 * Failed writes that may have been applied. A real LevelDB I/O error comes from a full disk (a 1 MB
 * tmpfs, so this file needs root: CI runs as root; elsewhere it is skipped loudly). The failure
 * mode LevelDB cannot be made to show on demand — the write reached the log, then an error was
 * reported — is reproduced by an engine wrapper around real LevelDB.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createLevelEngine } from '../../src/adapters/node/level-engine.ts';
import { StorageError, StorageSystem } from '../../src/index.node.ts';
import type { Engine } from '../../src/core/engine.ts';
import type { Platform } from '../../src/core/system.ts';

const isRoot = process.getuid?.() === 0;
if (!isRoot) {
  console.error('\n*** SKIPPED: disk-full tests need root to mount a tmpfs; they ran not ***\n');
  if (process.env.CI) throw new Error('CI requires the disk-full tests (run as root)');
}

test('a full disk makes LevelDB writes fail as STORAGE_INDETERMINATE; acknowledged writes survive', { skip: !isRoot }, async () => {
  const mnt = await mkdtemp(join(tmpdir(), 'tierstore-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
  try {
    let storage = new StorageSystem({ defaultBackend: 'file' });
    storage.createBackend('file', { basePath: join(mnt, 'db') });
    const acked: string[] = [];
    let failure: StorageError | undefined;
    for (let i = 0; i < 5000 && !failure; i++) {
      try {
        await storage.set(`k.${i}`, 'x'.repeat(1000), { durability: 'strict' });
        acked.push(`k.${i}`);
      } catch (err) {
        failure = err as StorageError;
      }
    }
    assert.ok(failure, 'the disk filled up');
    assert.equal(failure.code, 'STORAGE_INDETERMINATE');
    assert.match(failure.message, /may or may not have been applied/);
    assert.ok(acked.length > 100);

    // transaction(fn) on the broken store: the commit did not land (no marker), so fn is re-run,
    // and the error is reported once retries are used up. Nothing is applied twice.
    let runs = 0;
    const err = await storage.transaction(async (tx) => { runs++; await tx.set('acct', runs); }, { retries: 2 }).catch((e: unknown) => e);
    assert.equal((err as StorageError).code, 'STORAGE_INDETERMINATE');
    assert.equal(runs, 3);
    assert.equal(await storage.get('k.0'), 'x'.repeat(1000), 'reads still work');
    await storage.close();

    execFileSync('mount', ['-o', 'remount,size=8m', mnt]);
    storage = new StorageSystem({ defaultBackend: 'file' });
    storage.createBackend('file', { basePath: join(mnt, 'db') });
    const values = await storage.batchGet(acked);
    assert.equal(values.filter((v) => v === 'x'.repeat(1000)).length, acked.length, 'every acknowledged write is there');
    await storage.set('after', 1);
    assert.equal(await storage.get('after'), 1);
    await storage.close();
  } finally {
    execFileSync('umount', [mnt]);
    await rm(mnt, { recursive: true, force: true });
  }
});

test('transaction(fn) does not re-run fn when an indeterminate commit did land', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tierstore-indet-'));
  let failAfterApply = 0;
  const flaky = (options: Parameters<typeof createLevelEngine>[0]): Engine => {
    const inner = createLevelEngine(options);
    return {
      ...inner,
      async batch(ops, o) {
        await inner.batch(ops, o);
        if (failAfterApply > 0 && ops.some((op) => op.space === 'm' && op.type === 'put')) {
          failAfterApply--;
          throw new StorageError('simulated: applied, then reported failed', { code: 'STORAGE_INDETERMINATE' });
        }
      },
    };
  };
  class FlakySystem extends StorageSystem {
    protected static override platform: Platform = { runtime: 'test', file: flaky, defaultBasePath: dir };
  }
  const storage = new FlakySystem({ defaultBackend: 'file' });
  try {
    await storage.batchSet([{ key: 'a', value: 100 }, { key: 'b', value: 0 }]);
    failAfterApply = 1;
    let runs = 0;
    const result = await storage.transaction(async (tx) => {
      runs++;
      await tx.set('a', (await tx.get<number>('a'))! - 10);
      await tx.set('b', (await tx.get<number>('b'))! + 10);
      return 'moved';
    });
    assert.equal(result, 'moved');
    assert.equal(runs, 1, 'the commit landed, so fn ran once');
    assert.deepEqual(await storage.batchGet(['a', 'b']), [90, 10], 'applied exactly once');

    failAfterApply = 1;
    const tx = await storage.beginTransaction();
    await tx.set('c', 1);
    await assert.rejects(tx.commit(), { code: 'STORAGE_INDETERMINATE' });
    assert.equal(await tx.landed(), true, 'landed() tells the caller of beginTransaction too');
  } finally {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  }
});
