/** Data helpers shared by the test page and the test worker (neither touches `window` here). */
import type { StorageSystem } from '../../src/index.browser';

/** What a store holds, in a form that survives `page.evaluate` and compares with deepStrictEqual. */
export interface Snapshot {
  keys: string[];
  entries: Record<string, { value: unknown; metadata: unknown }>;
  now: number;
}

/** What the worker posts back. */
export interface WorkerReport {
  ok: boolean;
  error?: string;
  inWorker?: boolean;
  engine?: string;
  steps?: Record<string, unknown>;
}

/** Tagged JSON for the types the fixtures use (Date, Map, Set, bytes). */
export function portable(v: unknown): unknown {
  if (v instanceof Date) return { $date: v.getTime() };
  if (v instanceof Map) return { $map: [...v].map(([k, x]) => [portable(k), portable(x)]) };
  if (v instanceof Set) return { $set: [...v].map(portable) };
  if (v instanceof Uint8Array) return { $bytes: [...v] };
  if (Array.isArray(v)) return v.map(portable);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, portable(x)]));
  return v;
}

export async function snapshot(storage: StorageSystem, pattern = '**'): Promise<Snapshot> {
  const keys = await storage.keys(pattern);
  const entries: Snapshot['entries'] = {};
  for (const key of keys) {
    const e = await storage.getEntry(key);
    entries[key] = { value: portable(e?.value), metadata: e?.metadata };
  }
  return { keys, entries, now: Date.now() };
}
