import type { StorageSystem } from '../../src/core/system';
import { deepEqual } from '../support/assert';
import type { Fixture, Target } from './types';

/**
 * `withStore(fn, options)`: a test body that opens a fresh store on `target` (with `defaults`
 * under `options`), runs `fn` on it and always cleans it up.
 */
export function storeRunner(target: Target, defaults: Record<string, unknown> = {}) {
  return (fn: (f: Fixture) => Promise<void>, options?: Record<string, unknown>) => async () => {
    const f = await target.open({ ...defaults, ...options });
    try {
      await fn(f);
    } finally {
      await f.cleanup();
    }
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Every live entry of the default backend, for "nothing changed" checks. */
export async function snapshot(storage: StorageSystem): Promise<[string, unknown][]> {
  const keys = await storage.keys('**');
  const values = await storage.batchGet(keys);
  const metas = await Promise.all(keys.map((k) => storage.getEntry(k)));
  return keys.map((k, i) => [k, { value: values[i], meta: metas[i]?.metadata }]);
}

/** Asserts that `action` rejects with `code` and that the store is exactly as before. */
export async function rejectsUnchanged(storage: StorageSystem, action: () => Promise<unknown>, code: string, label: string): Promise<void> {
  const before = await snapshot(storage);
  let error: unknown;
  try {
    await action();
  } catch (e) {
    error = e;
  }
  const got = (error as { code?: string } | undefined)?.code;
  if (got !== code) throw new Error(`${label}: expected ${code}, got ${error === undefined ? 'success' : `${got}: ${(error as Error).message}`}`);
  deepEqual(await snapshot(storage), before, `${label}: store changed after a rejected call`);
}
