/**
 * The key-rotation crash tests' data and checks, the same in Node (test/node/crash-rotation.test.ts
 * and its child) and in Chromium (test/browser/crash-rotation.test.ts and its page): record values,
 * keys, the updater that writes during a rotation, and the check of a store after a kill.
 */
import type { StorageSystem } from '../../src/core/system';
import type { StorageEvents } from '../../src/core/types';
import { deepEqual } from './assert';

/** `passphrase`: PBKDF2-SHA256 (the backend always uses the full 600,000 iterations); `bytes`: 32 raw bytes (HKDF). */
export type KeyKind = 'passphrase' | 'bytes';

/** The old (1) and new (2) key of a scenario. */
export function rotationKey(kind: KeyKind, which: 1 | 2): string | Uint8Array {
  return kind === 'passphrase' ? `rotation passphrase ${which}` : new Uint8Array(32).map((_, i) => (i * 7 + which * 31) & 255);
}

/** Backend options of the stores under test: encrypted and compressed. */
export const rotationStoreOptions = (basePath: string, key: string | Uint8Array) => ({ basePath, enableEncryption: true, encryptionKey: key, enableCompression: true, sweepInterval: 0 });

/** Key of record `i`. */
export const recordKey = (i: number): string => `r.${i}`;

/**
 * The value of record `i` at generation `gen` (1: as first written; higher: an update): every
 * 4th is a ~2 KB JSON body (stored compressed), every 4th+1 binary-coded (Map, Date, bytes), the
 * rest small JSON values.
 */
export function recordValue(i: number, gen: number): unknown {
  switch (i % 4) {
    case 0: return { i, gen, text: `record ${i} generation ${gen}; `.repeat(60) };
    case 1: return new Map<string, unknown>([['i', i], ['gen', gen], ['at', new Date(i * 1000 + gen)], ['bytes', new Uint8Array([i & 255, gen & 255, 7])]]);
    case 2: return `r${i}g${gen}`;
    default: return { i, gen };
  }
}

/** Records whose body is large enough to be stored compressed. */
export const isLarge = (i: number): boolean => i % 4 === 0;

/** Stores records 0..records-1 at generation 1. */
export async function writeRecords(storage: StorageSystem, records: number): Promise<void> {
  for (let i = 0; i < records; i += 500) {
    await storage.batchSet(Array.from({ length: Math.min(500, records - i) }, (_, j) => ({ key: recordKey(i + j), value: recordValue(i + j, 1) })));
  }
}

/** Prefix of the page's console lines for Node (Chromium test). */
export const ROTATION_LINE = 'tierstore-rot ';

/** Most records one updater overwrites. */
export const UPDATES = 300;

/**
 * Overwrites up to {@link UPDATES} records in a random order, each at most once, with generation
 * `gen`, durability strict, paced (0..4 ms apart) so that the rotation has the disk most of the
 * time. Reports `try <i>` before and `ack <i>` after each write.
 */
export async function runUpdater(storage: StorageSystem, records: number, gen: number, out: (line: string) => void): Promise<void> {
  const order = Array.from({ length: records }, (_, i) => i);
  for (let j = order.length - 1; j > 0; j--) {
    const k = Math.floor(Math.random() * (j + 1));
    [order[j], order[k]] = [order[k]!, order[j]!];
  }
  for (const i of order.slice(0, UPDATES)) {
    await new Promise((r) => setTimeout(r, Math.random() * 4));
    out(`try ${i}`);
    await storage.set(recordKey(i), recordValue(i, gen), { durability: 'strict' });
    out(`ack ${i}`);
  }
}

/**
 * What every record may hold: its last acknowledged generation, or a later one whose write was
 * cut by a kill (it may or may not have landed).
 */
export class Model {
  readonly acked: number[];
  readonly pending = new Map<number, number[]>();
  constructor(records: number) {
    this.acked = Array.from({ length: records }, () => 1);
  }
  tried(i: number, gen: number): void {
    this.pending.set(i, [...(this.pending.get(i) ?? []), gen]);
  }
  ack(i: number, gen: number): void {
    this.acked[i] = gen;
    this.pending.set(i, (this.pending.get(i) ?? []).filter((g) => g > gen));
  }
  /** Generations record `i` may hold, the acknowledged one first. */
  allowed(): number[][] {
    return this.acked.map((g, i) => [g, ...(this.pending.get(i) ?? [])]);
  }
  /** After a check: what the store holds is the new baseline. */
  settle(gens: readonly (number | null)[]): void {
    gens.forEach((g, i) => {
      if (g === null) return;
      this.acked[i] = g;
      this.pending.delete(i);
    });
  }
}

/** Problems found by {@link checkRotation}, by kind, with the first 20 described. */
export interface Findings { lost: number; corrupt: number; key: number; details: string[] }

export const noFindings = (): Findings => ({ lost: 0, corrupt: 0, key: 0, details: [] });

export function note(f: Findings, kind: 'lost' | 'corrupt' | 'key', detail: string): void {
  f[kind]++;
  if (f.details.length < 20) f.details.push(`${kind}: ${detail}`);
}

const same = (a: unknown, b: unknown): boolean => {
  try {
    deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
};

interface StoredInfo { current: number; keys: { id: number }[] }
interface RawRecord { f: number; b: string | Uint8Array }
/** The internal raw reads the check needs (Backend's @internal rawGet / rawRange). */
interface RawAccess {
  rawGet(space: 'm', key: string): Promise<unknown>;
  rawRange(space: 'r', q: Record<string, never>): Promise<[string, unknown][]>;
}

/**
 * Reads every record with get() (through the record cache, when the store has one) and checks it
 * against `allowed`; returns the generation found per record (null when none fits).
 */
async function readAll(storage: StorageSystem, allowed: readonly number[][], f: Findings, when: string): Promise<(number | null)[]> {
  const records = allowed.length;
  const found: (number | null)[] = [];
  const keys = await storage.keys('r.*');
  if (keys.length !== records) note(f, 'lost', `${when}: ${keys.length} records listed, not ${records}`);
  for (let from = 0; from < records; from += 250) {
    const ids = Array.from({ length: Math.min(250, records - from) }, (_, j) => from + j);
    const reads = await Promise.allSettled(ids.map((i) => storage.get(recordKey(i))));
    for (const [j, i] of ids.entries()) {
      const read = reads[j]!;
      found[i] = null;
      if (read.status === 'rejected') {
        note(f, 'lost', `${when}: ${recordKey(i)} is unreadable: ${(read.reason as Error)?.message}`);
        continue;
      }
      const value = read.value;
      const gen = allowed[i]!.find((g) => same(value, recordValue(i, g)));
      if (gen !== undefined) { found[i] = gen; continue; }
      const older = Array.from({ length: allowed[i]![0]! - 1 }, (_, g) => g + 1).find((g) => same(value, recordValue(i, g)));
      if (value === undefined) note(f, 'lost', `${when}: ${recordKey(i)} is missing`);
      else if (older !== undefined) note(f, 'lost', `${when}: ${recordKey(i)} holds generation ${older}, but generation ${allowed[i]![0]} was acknowledged`);
      else note(f, 'corrupt', `${when}: ${recordKey(i)} holds ${JSON.stringify(value)?.slice(0, 100)}`);
    }
  }
  return found;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Checks a store after a kill. `storage` has the store's backend created as its default backend,
 * with the key that opens it, and is not opened yet (its `rotate` events are listened to from the
 * open on). Opens it; when `rotateTo` is given calls rotateEncryptionKey(rotateTo) at once (while
 * an interrupted rotation resumes, if one does); reads every record during the rotation and after
 * it ended (the resumed one: its `done` event; a failure or 5 s without progress is a finding);
 * then checks the raw store: one key left in the stored key info, every record sealed with it,
 * large records still compressed. Closes `storage`.
 */
export async function checkRotation(storage: StorageSystem, allowed: readonly number[][], rotateTo?: string | Uint8Array): Promise<{ findings: Findings; resumed: boolean; found: (number | null)[] }> {
  const f = noFindings();
  const events: StorageEvents['rotate'][] = [];
  const errors: string[] = [];
  storage.on('rotate', (e) => events.push(e));
  storage.on('error', (e) => errors.push(`${e.operation}: ${e.error?.message}`));
  const backend = storage.getBackend(storage.defaultBackend) as unknown as RawAccess;
  let resumed = false;
  let found: (number | null)[] = [];
  try {
    const info = (await backend.rawGet('m', 'encryption')) as StoredInfo;
    resumed = info.keys.length > 1;
    // With a resume running, this is an app re-running a rotation it does not know finished: it
    // must wait for the resume, then rotate again.
    const rotating = rotateTo === undefined ? undefined : storage.rotateEncryptionKey(rotateTo).catch((err: Error) => note(f, 'lost', `rotateEncryptionKey failed: ${err.message}`));
    // Reads go on during the rotation (and fill the cache with bodies sealed with the old key).
    await readAll(storage, allowed, f, 'during the rotation');
    await rotating;
    if (resumed) {
      for (let seen = -1, lastAt = Date.now(); !events.some((e) => e.phase === 'done'); await sleep(20)) {
        if (events.length !== seen) [seen, lastAt] = [events.length, Date.now()];
        if (errors.length > 0 || Date.now() - lastAt > 5000) {
          note(f, 'key', `the interrupted rotation did not finish at open (${errors.join('; ') || `no progress for 5 s after ${JSON.stringify(events.at(-1) ?? 'no event')}`})`);
          break;
        }
      }
    }
    found = await readAll(storage, allowed, f, 'after the rotation');
    const after = (await backend.rawGet('m', 'encryption')) as StoredInfo;
    if (after.keys.length !== 1 || after.keys[0]!.id !== after.current) note(f, 'key', `the stored key info still holds key ids ${after.keys.map((k) => k.id).join(', ')} (current ${after.current})`);
    for (const [k, raw] of await backend.rawRange('r', {})) {
      const rec = raw as RawRecord;
      if (!(rec.f & 4) || !(rec.b instanceof Uint8Array)) note(f, 'key', `${k} is stored unencrypted (flags ${rec.f})`);
      else if (rec.b[1] !== after.current) note(f, 'key', `${k} is sealed with key id ${rec.b[1]}, not the current ${after.current}`);
      if (isLarge(Number(k.slice(2))) && !(rec.f & 2)) note(f, 'key', `${k} lost its compression (flags ${rec.f})`);
    }
  } finally {
    await storage.close();
  }
  return { findings: f, resumed, found };
}
