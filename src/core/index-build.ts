/**
 * Creating, building and dropping indexes. A new index is registered first (state `building`), so
 * every write from then on maintains it; then entries for the records already stored are written
 * in chunks through the write queue (a record rewritten since its chunk was read is skipped: the
 * write indexed it). Once every chunk is in, the index turns `ready` and the planner may use it.
 * A build that is aborted or fails (a unique violation) drops the index again.
 */
import type { Backend } from './backend';
import { recordStamp } from './backend';
import { prefixUpperBound, type BatchOp } from './engine';
import { invalid } from './errors';
import { CATALOG_PREFIX, CATALOG_VERSION_KEY, MAX_INDEXES_PER_COLLECTION, infoOf, makeDef, type IndexDef, type IndexInfo } from './catalog';
import { checkEnvelope } from './record';
import type { AbortSignalLike } from './types';

const CHUNK = 512;

/** Options of `createIndex` and `createSearchIndex` besides the definition. */
export interface BuildOptions {
  /** Aborts the build: the index is dropped and the call rejects with `signal.reason`. */
  signal?: AbortSignalLike;
}

const sameSpec = (a: IndexInfo, b: IndexInfo) =>
  a.type === b.type && a.unique === b.unique && JSON.stringify(a.fields) === JSON.stringify(b.fields) && JSON.stringify(a.boosts ?? null) === JSON.stringify(b.boosts ?? null);

/** Registers (or finds) the index `info`, builds it over existing records and marks it ready. */
export async function createIndex(b: Backend, info: IndexInfo, signal: AbortSignalLike | undefined): Promise<IndexInfo> {
  if (signal !== undefined && (signal === null || typeof signal !== 'object' || typeof (signal as { aborted?: unknown }).aborted !== 'boolean')) invalid('options.signal must be an AbortSignal');
  checkAborted(signal);
  await b.ready();
  const id = makeDef(info).id;
  const existing = b.catalog.get(id);
  if (existing) {
    if (!sameSpec(existing, info)) {
      invalid(`an index named "${info.name}" already exists on "${info.collection}" with another definition (${existing.fields.join(', ')}${existing.unique ? ', unique' : ''}); drop it first or choose another name`);
    }
    if (existing.state === 'ready') return infoOf(existing);
    // Left `building` by a crash or a concurrent call: build (again); entries are idempotent.
  } else {
    if (b.catalog.forCollection(info.collection).length >= MAX_INDEXES_PER_COLLECTION) invalid(`"${info.collection}" already has ${MAX_INDEXES_PER_COLLECTION} indexes`);
    await deleteEntries(b, makeDef(info).prefix); // leftovers of a drop that did not finish
    await setDef(b, { ...info, state: 'building', multikey: false });
  }
  const def = b.catalog.get(id)!;
  try {
    await build(b, def, signal);
  } catch (err) {
    await dropIndex(b, info.collection, info.name).catch(() => {});
    b.emitIndex(def, 'failed', 0, 0);
    throw err;
  }
  await setDef(b, { ...infoOf(b.catalog.get(id) ?? def), state: 'ready' });
  const ready = b.catalog.get(id)!;
  b.emitIndex(ready, 'ready', -1, -1);
  return infoOf(ready);
}

/** Writes the entries of every existing record of the collection, chunk by chunk. */
/** Throws the signal's reason once it is aborted. */
function checkAborted(signal: AbortSignalLike | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new Error('the index build was aborted');
}

async function build(b: Backend, def: IndexDef, signal: AbortSignalLike | undefined): Promise<void> {
  const prefix = def.collection + '.';
  const lt = prefixUpperBound(prefix, b.keyOrder)!;
  const total = (await b.rawKeys('r', { gte: prefix, lt })).length;
  let done = 0;
  b.emitIndex(def, 'building', 0, total);
  let gt: string | undefined;
  for (;;) {
    checkAborted(signal);
    const rows = await b.rawRange('r', gt === undefined ? { gte: prefix, lt, limit: CHUNK } : { gt, lt, limit: CHUNK });
    if (rows.length === 0) break;
    gt = rows[rows.length - 1]![0];
    const now = Date.now();
    const items: { key: string; stamp: string; value: unknown }[] = [];
    for (const [key, raw] of rows) {
      if (key.indexOf('.', prefix.length) !== -1) continue; // deeper keys are not in the collection
      const rec = checkEnvelope(raw, key);
      if (rec.e !== 0 && rec.e <= now) continue;
      items.push({ key, stamp: recordStamp(rec), value: await b.decodeRecord(rec, key) });
    }
    if (items.length > 0) await b.buildEntries(def, items);
    done += rows.length;
    b.emitIndex(def, 'building', Math.min(done, total), total);
    if (rows.length < CHUNK) break;
  }
}

/** Stores a definition and bumps the catalog version, as one catalog change. */
function setDef(b: Backend, info: IndexInfo): Promise<unknown> {
  const def = makeDef(info);
  return b.changeCatalog((catalog) => ({
    ops: [
      { type: 'put', space: 'm', key: CATALOG_PREFIX + def.id, value: infoOf(def) },
      { type: 'put', space: 'm', key: CATALOG_VERSION_KEY, value: catalog.version + 1 },
    ],
    put: infoOf(def),
  }));
}

/** Drops an index: its definition first (writes stop maintaining it), then its entries. */
export async function dropIndex(b: Backend, collection: string, name: string): Promise<boolean> {
  await b.ready();
  const def = makeDef({ type: 'index', collection, name, fields: [], unique: false, state: 'ready', multikey: false });
  const existing = b.catalog.get(def.id);
  if (!existing) return false;
  await b.changeCatalog((catalog) => ({
    ops: [
      { type: 'del', space: 'm', key: CATALOG_PREFIX + def.id },
      { type: 'put', space: 'm', key: CATALOG_VERSION_KEY, value: catalog.version + 1 },
    ],
    remove: def.id,
  }));
  await deleteEntries(b, def.prefix);
  b.emitIndex(existing, 'dropped', -1, -1);
  return true;
}

/** Deletes every entry under an index prefix, in chunks. */
async function deleteEntries(b: Backend, prefix: string): Promise<void> {
  const lt = prefixUpperBound(prefix, b.keyOrder)!;
  for (;;) {
    const keys = await b.rawKeys('i', { gte: prefix, lt, limit: 1000 });
    if (keys.length === 0) return;
    const ops: BatchOp[] = keys.map((key) => ({ type: 'del', space: 'i', key }));
    await b.rawWrite([], () => ({ ops, result: undefined }));
    if (keys.length < 1000) return;
  }
}
