/**
 * CPU profiles of the SDK side of the issue #5 rows that miss their targets (bench/issue5.ts), the
 * timed part only (node:inspector, 100 µs sampling), reported by bench/profile.ts's `report`.
 *
 *   npx tsx bench/issue5-profile.ts enc-get     # row 17: 20,000 awaited gets, encrypted LevelDB
 *   npx tsx bench/issue5-profile.ts enc-set     # row 17: 20,000 awaited sets, encrypted LevelDB
 *   npx tsx bench/issue5-profile.ts cleanup     # row 20: 50,000 sets, memory tier, auto-cleanup 1MB
 *   npx tsx bench/issue5-profile.ts cached      # row 19: 400,000 cached gets (hits), LevelDB
 *
 * Profiles are written to .tmp/issue5-<workload>.cpuprofile.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { StorageSystem } from '../src/index.node.ts';
import { makeDataset, shuffledIndexes } from './lib/records.ts';

const WORKLOADS = ['enc-get', 'enc-set', 'cleanup', 'cached'] as const;
const which = process.argv[2] as (typeof WORKLOADS)[number];
if (!WORKLOADS.includes(which)) {
  console.error(`usage: npx tsx bench/issue5-profile.ts ${WORKLOADS.join(' | ')}`);
  process.exit(1);
}
process.argv.length = 2; // bench/profile.ts reads argv when imported
const { report } = await import('./profile.ts');

const TMP = join(process.cwd(), '.tmp', 'issue5-profile');
await rm(TMP, { recursive: true, force: true });
await mkdir(TMP, { recursive: true });

let ops = 0;
let body: () => Promise<void>;
let s: StorageSystem;
if (which === 'enc-get' || which === 'enc-set') {
  const n = 20_000;
  const { keys, values } = makeDataset(n);
  const order = shuffledIndexes(n, 5);
  s = new StorageSystem({ defaultBackend: 'file' });
  const b = s.createBackend('file', { basePath: TMP, enableEncryption: true, encryptionKey: crypto.getRandomValues(new Uint8Array(32)) });
  await b.open();
  ops = n;
  if (which === 'enc-get') {
    for (let i = 0; i < n; i++) await b.set(keys[i]!, values[i]);
    body = async () => { for (const i of order) await b.get(keys[i]!); };
  } else {
    body = async () => { for (let i = 0; i < n; i++) await b.set(keys[i]!, values[i]); };
  }
} else if (which === 'cleanup') {
  const n = 50_000;
  const { keys, values } = makeDataset(n);
  s = new StorageSystem();
  await s.enableAutoCleanup({ maxSize: '1MB' });
  ops = n;
  body = async () => { for (let i = 0; i < n; i++) await s.set(keys[i]!, values[i]); };
} else {
  const n = 10_000;
  const passes = 40;
  const { keys, values } = makeDataset(n);
  const order = shuffledIndexes(n, 13);
  s = new StorageSystem({ defaultBackend: 'file' });
  const b = s.createBackend('file', { basePath: TMP, enableCaching: true, cacheSize: 10_000 });
  await b.open();
  for (let i = 0; i < n; i++) await b.set(keys[i]!, values[i]);
  for (const k of keys) await b.get(k);
  ops = n * passes;
  body = async () => { for (let p = 0; p < passes; p++) for (const i of order) await b.get(keys[i]!); };
}

const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 100 });
await session.post('Profiler.start');
const t0 = performance.now();
await body();
const ms = performance.now() - t0;
const { profile } = await session.post('Profiler.stop');
session.disconnect();
const file = join(process.cwd(), '.tmp', `issue5-${which}.cpuprofile`);
await writeFile(file, JSON.stringify(profile));
console.log(`${which}: ${Math.round((ops * 1000) / ms).toLocaleString('en-US')} ops/s under the profiler (${((ms * 1000) / ops).toFixed(1)} µs per call)`);
await s.close();
await rm(TMP, { recursive: true, force: true });
await report(file, 20);
