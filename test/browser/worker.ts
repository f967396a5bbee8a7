/**
 * Module worker of the browser tests: the same SDK API on IndexedDB inside a dedicated Worker
 * (no `window`, no DOM). Posts a report of what it saw back to the page.
 */
import { StorageSystem } from '../../src/index.browser';
import { portable, type WorkerReport } from './shared';

const scope = self as unknown as { onmessage: ((e: MessageEvent) => void) | null; postMessage(m: unknown): void };

scope.onmessage = async (e: MessageEvent<{ basePath: string }>) => {
  let report: WorkerReport;
  try {
    const storage = new StorageSystem({ defaultBackend: 'file' });
    const backend = storage.createBackend('file', { basePath: e.data.basePath, sweepInterval: 20 });
    const expired: string[] = [];
    storage.on('expire', (ev) => expired.push(ev.key));
    await storage.set('w.a', { from: 'worker', at: new Date(5) }, { tags: ['w'] });
    await storage.batchSet([{ key: 'w.b', value: new Map([[1, 'x']]) }, { key: 'w.short', value: 1, ttl: 0.5 }]);
    const steps: Record<string, unknown> = {
      get: portable(await storage.get('w.a')),
      batchGet: portable(await storage.batchGet(['w.b', 'w.none'])),
      keysBefore: await storage.keys('w.*'),
    };
    await new Promise((r) => setTimeout(r, 1000)); // w.short (ttl 0.5 s: room for a loaded machine before keysBefore) expires and is swept
    steps.expired = expired;
    steps.keysAfter = await storage.keys('w.*');
    steps.deleted = await storage.delete('w.b');
    steps.version = (await storage.getEntry('w.a'))?.metadata.version;
    await storage.close();
    report = { ok: true, inWorker: typeof (globalThis as { document?: unknown }).document === 'undefined', engine: backend.engine.capabilities.engine, steps };
  } catch (err) {
    report = { ok: false, error: (err as Error)?.stack ?? String(err) };
  }
  scope.postMessage(report);
};
