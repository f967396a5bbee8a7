/**
 * The file tier in Node: LevelDB through classic-level. One LevelDB directory per backend; each
 * keyspace is a one-character key prefix (as level's sublevels do), so one atomic LevelDB batch
 * covers records and their expiry-index entries. classic-level is imported lazily: importing
 * tierstore costs nothing until a file backend opens.
 */
import type { ClassicLevel } from 'classic-level';
import type { BatchOp, BatchOptions, Engine, EngineCapabilities, EngineOptions, RangeQuery, Space, StoredValue } from '../../core/engine';
import { keySpan } from '../../core/engine';
import { StorageConnectionError, StorageError } from '../../core/errors';
import type { EngineReadStats } from '../../core/memory-engine';
import { packRecord, unpackRecord, type RecordEnvelope, type Utf8Writer } from '../../core/record';

const decoder = new TextDecoder();

/** Buffer writes UTF-8 about twice as fast as TextEncoder.encodeInto for short strings. */
const bufferUtf8: Utf8Writer = {
  byteLength: (s) => Buffer.byteLength(s, 'utf8'),
  alloc: (size) => Buffer.allocUnsafe(size),
  write: (out, s, offset) => (out as Buffer).write(s, offset, 'utf8'),
};

/** Records use the core's packed format; the other keyspaces hold small JSON values. */
const toBytes = (space: Space, value: StoredValue): Uint8Array =>
  // Buffer.from encodes UTF-8 about 2x faster than TextEncoder (measured: 0.27 vs 0.76 µs per small value).
  space === 'r' ? packRecord(value as RecordEnvelope, bufferUtf8) : Buffer.from(JSON.stringify(value), 'utf8');
const fromBytes = (space: Space, bytes: Uint8Array | undefined, key: string): StoredValue =>
  bytes === undefined ? undefined : space === 'r' ? unpackRecord(bytes, key) : JSON.parse(decoder.decode(bytes));

const CAPABILITIES: EngineCapabilities = Object.freeze({
  engine: 'leveldb',
  persistent: true,
  keyOrder: 'codepoint',
  durableWrites: true,
});

type DB = ClassicLevel<string, Uint8Array>;


/** The prefix after a space's prefix: the open upper end of that space. */
const after = (space: Space) => String.fromCharCode(space.charCodeAt(0) + 1);

/** Creates a LevelDB engine storing into the directory `options.location`. */
export function createLevelEngine(options: EngineOptions): Engine & { readonly stats: EngineReadStats } {
  const location = options.location!;
  const stats: EngineReadStats = { reads: 0 };
  let db: DB | undefined;

  const open = (): DB => {
    if (!db) throw new StorageConnectionError(`LevelDB at "${location}" is not open`, { code: 'STORAGE_CLOSED' });
    return db;
  };
  const bounds = (space: Space, q: RangeQuery) => {
    const o: Record<string, unknown> = {};
    if (q.gte !== undefined) o.gte = space + q.gte;
    else if (q.gt !== undefined) o.gt = space + q.gt;
    else o.gte = space;
    if (q.lte !== undefined) o.lte = space + q.lte;
    else if (q.lt !== undefined) o.lt = space + q.lt;
    else o.lt = after(space);
    if (q.limit !== undefined) o.limit = q.limit;
    if (q.reverse) o.reverse = true;
    return o;
  };

  return {
    capabilities: CAPABILITIES,
    stats,
    async open() {
      if (db) return;
      const { ClassicLevel } = await import('classic-level');
      const created: DB = new ClassicLevel<string, Uint8Array>(location, { keyEncoding: 'utf8', valueEncoding: 'view' });
      try {
        await created.open();
      } catch (err) {
        const code = (err as { code?: string; cause?: { code?: string } }).code;
        const causeMsg = String((err as { cause?: Error }).cause?.message ?? '');
        if (code === 'LEVEL_LOCKED' || /lock/i.test(causeMsg)) {
          throw new StorageConnectionError(
            `the LevelDB directory "${location}" is in use by another process (or another backend in this one); close it there, or share data through the database tier`,
            { code: 'STORAGE_LOCKED', cause: err, transient: true },
          );
        }
        throw new StorageConnectionError(`cannot open LevelDB at "${location}": ${(err as Error).message}`, { cause: err });
      }
      db = created;
    },
    async close() {
      const d = db;
      db = undefined;
      if (d) await d.close();
    },
    get(space, key) {
      stats.reads++;
      // getSync: a single read costs a thread-pool round trip when async, and LevelDB answers most
      // reads from its memtable or block cache in microseconds. The trade-off: a read that goes to
      // disk blocks the event loop for its duration (as better-sqlite3 does for every query).
      return fromBytes(space, open().getSync(space + key), key);
    },
    async getMany(space, keys, probe) {
      stats.reads += keys.length;
      const db = open();
      if (keys.length < 64) return keys.map((k) => fromBytes(space, db.getSync(space + k), k));
      const span = probe ? keySpan(keys, 'codepoint') : undefined;
      if (!span) {
        const values = await db.getMany(keys.map((k) => space + k));
        return values.map((v, i) => fromBytes(space, v, keys[i]!));
      }
      // The read before a write of many keys (a batchSet chunk), which usually sit close together:
      // one bounded key-only scan of their span tells which exist, and only those are read.
      // Writing 1,000 new keys then costs one short scan instead of 1,000 lookups; scattered keys
      // (a crowded span) cost one wasted short scan before a plain getMany.
      const { lo, hi, limit } = span;
      const present: string[] = await db.keys({ gte: space + lo, lte: space + hi, limit, valueEncoding: 'utf8' } as object).all();
      const exists = present.length < limit ? new Set(present) : undefined;
      const wanted = exists ? keys.filter((k) => exists.has(space + k)) : keys;
      const values = wanted.length === 0 ? [] : await db.getMany(wanted.map((k) => space + k));
      if (!exists) return values.map((v, i) => fromBytes(space, v, keys[i]!));
      const found = new Map(wanted.map((k, i) => [k, values[i]]));
      return keys.map((k) => fromBytes(space, found.get(k), k));
    },
    async batch(ops: readonly BatchOp[], o?: BatchOptions) {
      const list = ops.map((op) =>
        op.type === 'put'
          ? { type: 'put' as const, key: op.space + op.key, value: toBytes(op.space, op.value) }
          : { type: 'del' as const, key: op.space + op.key },
      );
      try {
        await open().batch(list, o?.durability === 'strict' ? { sync: true } : {});
      } catch (err) {
        if (err instanceof StorageError) throw err;
        const code = (err as { code?: string }).code;
        if (code === 'LEVEL_DATABASE_NOT_OPEN') {
          throw new StorageConnectionError(`LevelDB at "${location}" is closed`, { code: 'STORAGE_CLOSED', cause: err });
        }
        // LevelDB can fail a write that already reached its log (an I/O error after the append):
        // the outcome is unknown, and saying "nothing happened" could make a caller lose data.
        throw new StorageError(
          `LevelDB write at "${location}" failed with "${(err as Error).message}"; it may or may not have been applied. ` +
            'Reads still work: read the keys back, or retry (set/delete/batchSet are idempotent; transaction(fn) checks whether its commit landed). ' +
            'After an I/O error LevelDB refuses further writes until the backend is closed and reopened.',
          { code: 'STORAGE_INDETERMINATE', cause: err },
        );
      }
    },
    async range(space, q) {
      const entries = await open().iterator(bounds(space, q)).all();
      stats.reads += entries.length;
      return entries.map(([k, v]) => [k.slice(1), fromBytes(space, v, k.slice(1))] as [string, StoredValue]);
    },
    async keys(space, q) {
      // Measured: a keys iterator of a 'view'-encoded database is ~1.7x faster when told a string
      // value encoding (values are not read either way).
      const keys: string[] = await open().keys({ ...bounds(space, q), valueEncoding: 'utf8' } as object).all();
      stats.reads += keys.length;
      return keys.map((k) => k.slice(1));
    },
    async wipe() {
      await open().clear();
    },
  };
}
