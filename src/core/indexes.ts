/**
 * Secondary indexes and search indexes: their catalog and the entries they derive from records.
 *
 * Derived entries live in the engine's `i` space under a per-index prefix and are written in the
 * SAME engine batch as the record change they derive from (see `DerivedPlan`, used by the
 * Backend's write planning). Index definitions live in the `m` space (`index:<id>`), so they
 * persist with the data and every process or tab opening the store maintains them.
 *
 * Entry layouts (keys relative to the index prefix `<collection>\u0001<name>\u0000`):
 * - secondary index: encodeOrdered(v1) + … + encodeOrdered(vn) + recordKey → [recordKey, expiresAt]
 * - blind index (encrypted backends): blind(v1) + … + blind(vn) + recordKey → [recordKey, expiresAt],
 *   where blind(v) is 32 hex digits of a keyed HMAC of encodeOrdered(v) (see `blindIndexer`),
 *   plus `~` + recordKey → the record's tuples (hex strings): old entries are found from it, since
 *   an old encrypted record cannot be decrypted inside a write's engine transaction.
 * - search index: see src/core/search/search.ts, plus `k` + recordKey → the record's statistics
 *   contribution (a marker: the record's postings are in the index) and `s` → summed statistics.
 */
import type { Catalog, IndexDef } from './catalog';
import { CATALOG_PREFIX, blindValue, infoOf } from './catalog';
import type { BatchOp, ExtraRead, ExtraValue, StoredValue } from './engine';
import { StorageConflictError, StorageError, invalid } from './errors';
import { checkCollection, describe } from './keys';
import { MISSING, encodeOrdered } from './query/order';
import { candidates, checkPath, isMultikey } from './query/path';
import { STATS_KEY, searchEntries } from './search/search';
import type { IndexInfo } from './catalog';
import type { Metadata } from './types';

/** Most entries one record may yield for one index (compound fields over arrays multiply). */
export const MAX_ENTRIES_PER_RECORD = 256;

const NAME_RE = /^[A-Za-z0-9_$.,:+\-]{1,128}$/;

/** @internal Validates createIndex(collection, fields, options). */
export function checkIndexSpec(collection: unknown, fields: unknown, options: unknown): IndexInfo {
  checkCollection(collection);
  const list = typeof fields === 'string' ? [fields] : fields;
  if (!Array.isArray(list) || list.length === 0 || list.length > 8) invalid(`fields must be a path or an array of 1 to 8 paths, got ${describe(fields)}`);
  const seen = new Set<string>();
  for (let i = 0; i < list.length; i++) {
    const f = list[i];
    checkPath(f, `fields[${i}]`, true);
    if (f === '$key') invalid(`fields[${i}]: $key cannot be indexed (keys are already ordered)`);
    if (seen.has(f as string)) invalid(`fields[${i}]: "${f}" is listed twice`);
    seen.add(f as string);
  }
  if (options !== undefined && (options === null || typeof options !== 'object' || Array.isArray(options))) invalid(`options must be an object, got ${describe(options)}`);
  const o = (options ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'unique' && k !== 'name' && k !== 'signal') invalid(`unknown option "${k}" of createIndex (known: unique, name, signal)`);
  if (o.unique !== undefined && typeof o.unique !== 'boolean') invalid(`options.unique must be a boolean, got ${describe(o.unique)}`);
  const unique = o.unique === true;
  if (unique && (list as string[]).some((f) => f.startsWith('$meta.'))) invalid('a unique index cannot include $meta fields');
  const name = o.name === undefined ? (list as string[]).join(',') : o.name;
  if (typeof name !== 'string' || !NAME_RE.test(name)) invalid(`options.name must be 1 to 128 characters of letters, digits and _$.,:+- , got ${describe(name)}`);
  return { type: 'index', collection: collection as string, name, fields: [...(list as string[])], unique, state: 'building', multikey: false };
}


/** A record as the index code sees it (`sealed`: an encrypted old record, whose value is not read). */
export interface IndexedRecord { value: unknown; meta: Metadata; expiresAt: number; sealed?: true }

/** @internal Secondary-index entries of a record: full `i`-space keys → [recordKey, expiresAt]. */
export function indexEntries(def: IndexDef, key: string, rec: IndexedRecord): { keys: string[]; tuples: string[]; multikey: boolean } {
  let tuples = [''];
  let multikey = false;
  for (let f = 0; f < def.segs.length; f++) {
    const source = def.meta[f] ? rec.meta : rec.value;
    const cands = candidates(source, def.segs[f]!);
    if (cands.length > 1 || (!multikey && isMultikey(source, def.segs[f]!))) multikey = true;
    let encs = cands.length === 0 ? [MISSING] : [...new Set(cands.map(encodeOrdered))];
    if (def.mac) encs = encs.map((e) => blindValue(def, f, e));
    if (encs.length === 1) tuples = tuples.map((t) => t + encs[0]);
    else {
      const next: string[] = [];
      for (const t of tuples) for (const e of encs) next.push(t + e);
      tuples = next;
    }
    if (tuples.length > MAX_ENTRIES_PER_RECORD) {
      invalid(`record "${key}" would have ${tuples.length}+ entries in index "${def.name}" of "${def.collection}" (at most ${MAX_ENTRIES_PER_RECORD}: compound fields over arrays multiply)`);
    }
  }
  return { keys: tuples.map((t) => def.prefix + t + key), tuples: tuples.map((t) => def.prefix + t), multikey };
}

/** Key of a blind index's reverse entry for a record (`~` sorts after every hex digit). */
const reverseKey = (def: IndexDef, key: string) => def.prefix + '~' + key;

/** One record change seen by the index code. */
export interface RecordChange { key: string; old: IndexedRecord | undefined; next: IndexedRecord | undefined }

const addVec = (a: number[] | undefined, b: readonly number[], sign: 1 | -1): number[] => {
  const out = a ? [...a] : [];
  for (let i = 0; i < b.length; i++) out[i] = (out[i] ?? 0) + sign * b[i]!;
  return out;
};

/**
 * The index side of planning one group of writes: what to read first (`reads`), then, op by op,
 * the entries to delete and put for each record change (`change`), with unique checks that see
 * earlier ops of the group. Pure: nothing is applied until the Backend applies the batch.
 */
export class DerivedPlan {
  /** Unique tuple prefix → record key → expiresAt of the entries holding it (read, then kept current). */
  private readonly uniq = new Map<string, Map<string, number>>();
  /** Point values read (stats vectors, search markers), kept current. */
  private readonly points = new Map<string, StoredValue | undefined>();
  /** Statistics keys this group changed. */
  private readonly dirtyStats = new Set<string>();
  /** Definitions whose `multikey` flag this group turns on. */
  readonly flipped = new Map<string, IndexDef>();

  constructor(private readonly catalog: Catalog, reads: readonly ExtraRead[], values: readonly ExtraValue[]) {
    reads.forEach((r, i) => {
      if (r.space !== 'i') return;
      if (r.prefix) {
        const holders = new Map<string, number>();
        for (const [, v] of values[i] as [string, StoredValue][]) {
          const [rk, e] = v as [string, number];
          holders.set(rk, e);
        }
        this.uniq.set(r.key, holders);
      } else this.points.set(r.key, values[i] as StoredValue | undefined);
    });
  }

  /**
   * The `i`-space reads a group needs before planning: unique tuples of the values written
   * (`puts`: key and decoded value), search statistics and markers of every key touched.
   */
  static reads(catalog: Catalog, puts: readonly { key: string; value: unknown }[], touched: Iterable<string>): ExtraRead[] {
    const reads = new Map<string, ExtraRead>();
    for (const { key, value } of puts) {
      for (const def of catalog.forKey(key) ?? []) {
        if (!def.unique) continue;
        for (const t of indexEntries(def, key, { value, meta: NO_META, expiresAt: 0 }).tuples) reads.set('u' + t, { space: 'i', key: t, prefix: true });
      }
    }
    for (const key of touched) {
      for (const def of catalog.forKey(key) ?? []) {
        if (def.blind) reads.set('p' + reverseKey(def, key), { space: 'i', key: reverseKey(def, key) });
        if (def.type !== 'search') continue;
        reads.set('p' + def.prefix + STATS_KEY, { space: 'i', key: def.prefix + STATS_KEY });
        reads.set('p' + def.prefix + 'k' + key, { space: 'i', key: def.prefix + 'k' + key });
      }
    }
    return [...reads.values()];
  }

  /**
   * The entry operations for the record changes of one op (all of its keys: old entries are
   * removed before new ones are checked, so two records can swap unique values). Throws
   * StorageConflictError on a unique violation; call `commit` on the result to make it visible to
   * later ops of the group. `only`: just this index (building it over existing records).
   */
  change(changes: readonly RecordChange[], now: number, only?: IndexDef): { ops: BatchOp[]; commit(): void } {
    const ops: BatchOp[] = [];
    const uniqDel: [string, string][] = [];
    const uniqPut: [string, string, number][] = [];
    const pointSet = new Map<string, StoredValue | undefined>();
    const flips: IndexDef[] = [];
    const newTerms: [IndexDef, string][] = [];
    const point = (k: string) => (pointSet.has(k) ? pointSet.get(k) : this.points.get(k));
    const newEntries: { def: IndexDef; key: string; keys: string[]; tuples: string[]; e: number; kept: Set<string> }[] = [];
    for (const { key, old, next } of changes) {
      const defs = only ? [only] : this.catalog.forKey(key);
      if (!defs) continue;
      for (const def of defs) {
        if (def.type === 'search') {
          const marker = def.prefix + 'k' + key;
          const had = point(marker) as number[] | undefined;
          if (only && had !== undefined) continue; // a write since the build started already indexed it
          let stats = point(def.prefix + STATS_KEY) as number[] | undefined;
          const oldKeys = new Set<string>();
          if (old && had !== undefined) {
            for (const k of searchEntries(def.search!, key, old.value).entries.keys()) if (k[0] === 'p') oldKeys.add(def.prefix + k);
            stats = addVec(stats, had, -1);
          }
          if (next) {
            const { entries, stats: contribution } = searchEntries(def.search!, key, next.value);
            for (const [k, v] of entries) {
              if (k.charCodeAt(0) === 100 /* 'd' */) {
                // Dictionary markers never change: written once per term and process, not per record.
                if (def.knownTerms?.has(k)) continue;
                newTerms.push([def, k]);
              }
              oldKeys.delete(def.prefix + k);
              ops.push({ type: 'put', space: 'i', key: def.prefix + k, value: v });
            }
            ops.push({ type: 'put', space: 'i', key: marker, value: contribution });
            pointSet.set(marker, contribution);
            stats = addVec(stats, contribution, 1);
          } else if (had !== undefined) {
            ops.push({ type: 'del', space: 'i', key: marker });
            pointSet.set(marker, undefined);
          }
          for (const k of oldKeys) ops.push({ type: 'del', space: 'i', key: k });
          if (stats) pointSet.set(def.prefix + STATS_KEY, stats);
          continue;
        }
        let before: { keys: string[]; tuples: string[] } | undefined;
        const after = next ? indexEntries(def, key, next) : undefined;
        if (def.blind) {
          // Old entries come from the reverse entry: an encrypted old record is not readable here.
          const rev = reverseKey(def, key);
          const had = point(rev) as string[] | undefined;
          if (had) before = { keys: had.map((t) => def.prefix + t + key), tuples: had.map((t) => def.prefix + t) };
          const tuples = after?.tuples.map((t) => t.slice(def.prefix.length));
          if (tuples && (!had || had.join() !== tuples.join())) {
            ops.push({ type: 'put', space: 'i', key: rev, value: tuples });
            pointSet.set(rev, tuples);
          } else if (!tuples && had) {
            ops.push({ type: 'del', space: 'i', key: rev });
            pointSet.set(rev, undefined);
          }
        } else if (old) {
          if (old.sealed) throw new StorageError(`internal: index "${def.name}" of "${def.collection}" is not blind, and the old record "${key}" is encrypted`);
          before = entriesOrNone(def, key, old);
        }
        // Entry values carry expiresAt: when it changes, every entry is rewritten.
        const rewrite = old === undefined || next === undefined || old.expiresAt !== next.expiresAt;
        const kept = new Set(rewrite ? [] : before?.keys.filter((k) => after!.keys.includes(k)));
        if (before) {
          for (let i = 0; i < before.keys.length; i++) {
            if (kept.has(before.keys[i]!)) continue;
            if (!after || !after.keys.includes(before.keys[i]!)) ops.push({ type: 'del', space: 'i', key: before.keys[i]! });
            if (def.unique) uniqDel.push([before.tuples[i]!, key]);
          }
        }
        if (after) {
          if (after.multikey && !def.multikey && !this.flipped.has(def.id)) flips.push(def);
          newEntries.push({ def, key, keys: after.keys, tuples: after.tuples, e: next!.expiresAt, kept });
        }
      }
    }
    // Unique checks against the state after this op's removals.
    const removed = new Set(uniqDel.map(([t, k]) => t + '\u0000' + k));
    const claimed = new Map<string, string>();
    for (const { def, key, keys, tuples, e, kept } of newEntries) {
      for (let i = 0; i < keys.length; i++) {
        if (kept.has(keys[i]!)) continue;
        if (def.unique) {
          const t = tuples[i]!;
          const holders = this.uniq.get(t);
          if (holders) {
            for (const [rk, exp] of holders) {
              if (rk === key || removed.has(t + '\u0000' + rk)) continue;
              if (exp !== 0 && exp <= now) continue; // held by an expired record (its entries go with the next sweep)
              throw new StorageConflictError(`unique index "${def.name}" of "${def.collection}": another record ("${rk}") has the same value as "${key}"; nothing was written`);
            }
          }
          const other = claimed.get(t);
          if (other !== undefined && other !== key) {
            throw new StorageConflictError(`unique index "${def.name}" of "${def.collection}": "${other}" and "${key}" have the same value; nothing was written`);
          }
          claimed.set(t, key);
          uniqPut.push([t, key, e]);
        }
        ops.push({ type: 'put', space: 'i', key: keys[i]!, value: [key, e] });
      }
    }
    return {
      ops,
      commit: () => {
        for (const [t, k] of uniqDel) this.uniq.get(t)?.delete(k);
        for (const [t, k, e] of uniqPut) {
          let holders = this.uniq.get(t);
          if (!holders) this.uniq.set(t, (holders = new Map()));
          holders.set(k, e);
        }
        for (const [k, v] of pointSet) {
          this.points.set(k, v);
          if (k.endsWith('\u0000' + STATS_KEY)) this.dirtyStats.add(k);
        }
        for (const def of flips) this.flipped.set(def.id, def);
        for (const [def, k] of newTerms) (def.knownTerms ??= new Set()).add(k);
      },
    };
  }

  /** Final operations of the group: summed statistics and catalog flags changed by it. */
  finish(batch: BatchOp[]): void {
    for (const k of this.dirtyStats) batch.push({ type: 'put', space: 'i', key: k, value: this.points.get(k) });
    for (const def of this.flipped.values()) {
      batch.push({ type: 'put', space: 'm', key: CATALOG_PREFIX + def.id, value: { ...infoOf(def), multikey: true } });
    }
  }
}

/** Entries of an old record; none when it could not have had any (it predates the index and exceeds its limits). */
function entriesOrNone(def: IndexDef, key: string, rec: IndexedRecord): ReturnType<typeof indexEntries> | undefined {
  try {
    return indexEntries(def, key, rec);
  } catch {
    return undefined;
  }
}

const NO_META: Metadata = { createdAt: 0, updatedAt: 0, version: 0 };
