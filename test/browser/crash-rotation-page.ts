/**
 * Page bundle of the Chromium key-rotation crash test (crash-rotation.test.ts): the same workload
 * and checks as the Node one (test/support/rotation.ts), on IndexedDB. Lines for Node go to the
 * console, prefixed with {@link ROTATION_LINE}: `written`, `rotating`, `rotated`, `ready resuming` /
 * `ready idle`, `progress <phase> <done> <total>`, `try <i>`, `ack <i>`; failures of the workload
 * with `tierstore-rotation-error`.
 */
import { StorageSystem } from '../../src/index.browser';
import { ROTATION_LINE, checkRotation, rotationKey, rotationStoreOptions, runUpdater, writeRecords, type Findings, type KeyKind } from '../support/rotation';

interface RotationPage {
  /** Opens with K1, stores `records` records, then rotates to K2 while updating (generation `gen`); runs until the browser dies. */
  start(basePath: string, kind: KeyKind, records: number, gen: number): void;
  /** Opens with K2 (an interrupted rotation resumes) and updates (generation `gen`); runs until the browser dies. */
  resume(basePath: string, kind: KeyKind, records: number, gen: number): void;
  /** Does the IndexedDB database of `basePath` exist (Chromium deletes one it finds corrupt)? */
  exists(basePath: string): Promise<boolean>;
  /** Opens with key `which` and closes: 'ok', 'bad-key' (STORAGE_BAD_KEY), or the error. */
  probe(basePath: string, kind: KeyKind, which: 1 | 2): Promise<string>;
  /** checkRotation on the store opened with key `which` (record cache on), rotating to K2 first when `rotate`. */
  check(basePath: string, kind: KeyKind, which: 1 | 2, allowed: number[][], rotate: boolean): Promise<{ findings: Findings; resumed: boolean; found: (number | null)[] }>;
}

declare global {
  interface Window { __rot: RotationPage }
}

const out = (line: string) => console.log(ROTATION_LINE + line);
const fail = (where: string) => (err: unknown) => console.error(`tierstore-rotation-error ${where}: ${(err as Error)?.stack ?? err}`);

function open(basePath: string, kind: KeyKind, which: 1 | 2, cache = false): StorageSystem {
  const storage = new StorageSystem({ defaultBackend: 'file', enableCaching: cache, cacheSize: 10_000 });
  storage.createBackend('file', rotationStoreOptions(basePath, rotationKey(kind, which)));
  return storage;
}

window.__rot = {
  start(basePath, kind, records, gen) {
    void (async () => {
      const storage = open(basePath, kind, 1);
      storage.on('rotate', (e) => out(`progress ${e.phase} ${e.done} ${e.total}`));
      await writeRecords(storage, records);
      out('written');
      runUpdater(storage, records, gen, out).catch(fail('updater'));
      out('rotating');
      await storage.rotateEncryptionKey(rotationKey(kind, 2));
      out('rotated');
    })().catch(fail('start'));
  },

  resume(basePath, kind, records, gen) {
    void (async () => {
      const storage = open(basePath, kind, 2);
      storage.on('rotate', (e) => out(`progress ${e.phase} ${e.done} ${e.total}`));
      storage.on('error', (e) => fail(`error event (${e.operation})`)(e.error));
      const backend = storage.getBackend('file')!;
      const info = (await backend.rawGet('m', 'encryption')) as { keys: unknown[] };
      out(info.keys.length > 1 ? 'ready resuming' : 'ready idle');
      runUpdater(storage, records, gen, out).catch(fail('updater'));
    })().catch(fail('resume'));
  },

  async exists(basePath) {
    return (await indexedDB.databases()).some((d) => d.name === basePath);
  },

  async probe(basePath, kind, which) {
    const storage = open(basePath, kind, which);
    try {
      await storage.getBackend('file')!.open();
      return 'ok';
    } catch (err) {
      return (err as { code?: string }).code === 'STORAGE_BAD_KEY' ? 'bad-key' : `${(err as Error).name}: ${(err as Error).message}`;
    } finally {
      await storage.close().catch(() => {});
    }
  },

  check(basePath, kind, which, allowed, rotate) {
    return checkRotation(open(basePath, kind, which, true), allowed, rotate ? rotationKey(kind, 2) : undefined);
  },
};
