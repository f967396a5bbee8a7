/**
 * The index catalog: which secondary and search indexes a backend has. Definitions live in the
 * `m` space (`index:<id>`), so they persist with the data and every process or tab opening the
 * store maintains them; `catalog` holds a version that every definition change bumps, so other
 * tabs notice. Small on purpose: the write path loads the entry code (indexes.ts) only once a
 * backend has an index.
 */
import { StorageError } from './errors';
import type { SearchIndexDef } from './search/search';

/** What `listIndexes` reports about one index. */
export interface IndexInfo {
  /** `index` (secondary index) or `search` (full-text search index). */
  type: 'index' | 'search';
  /** The indexed keys are `<collection>.<id>`. */
  collection: string;
  /** Name, unique within the collection (default: the fields joined by `,`; `search` for a search index). */
  name: string;
  /** Indexed paths. */
  fields: string[];
  /** A unique index refuses two records with equal values. */
  unique: boolean;
  /** `building` while entries for existing records are being written; queries use only `ready` indexes. */
  state: 'building' | 'ready';
  /** The index has held an array value (one record, several entries); such an index does not serve sorts. */
  multikey: boolean;
  /** Search index field boosts. */
  boosts?: Record<string, number>;
  /**
   * A blind index (every index of an encrypted backend): its entries hold keyed HMACs of the field
   * values instead of the values, so they serve equality and `$in` lookups (and unique checks),
   * never ranges or sorts, and reveal only which records share a value.
   */
  blind?: boolean;
}

/** @internal An index definition with what the write path needs precomputed. */
export interface IndexDef extends IndexInfo {
  /** `<collection>\u0001<name>`: the catalog id. */
  id: string;
  /** Key prefix of the index's entries in the `i` space. */
  prefix: string;
  /** Path segments per field. */
  segs: string[][];
  /** Per field: the path addresses metadata (`$meta.x`). */
  meta: boolean[];
  /** Search definition (type `search`). */
  search?: SearchIndexDef;
  /** Search dictionary markers this process has written (they are never rewritten by it). */
  knownTerms?: Set<string>;
  /** Blind indexes: the backend's keyed MAC (see `Catalog.blinder`). */
  mac?: (scope: string, value: string) => string;
}

/** `m`-space key prefix of index definitions. */
export const CATALOG_PREFIX = 'index:';
/** `m`-space key of the catalog version, bumped by every definition change (other tabs reload). */
export const CATALOG_VERSION_KEY = 'catalog';
/** Most indexes per collection. */
export const MAX_INDEXES_PER_COLLECTION = 32;

/** @internal Builds a definition from its stored description. */
export function makeDef(info: IndexInfo): IndexDef {
  const id = `${info.collection}\u0001${info.name}`;
  const segs = info.fields.map((f) => (f.startsWith('$meta.') ? f.slice(6).split('.') : f.split('.')));
  const def: IndexDef = { ...info, id, prefix: id + '\u0000', segs, meta: info.fields.map((f) => f.startsWith('$meta.')) };
  if (info.type === 'search') def.search = { name: id, collection: info.collection, fields: info.fields, boosts: info.boosts };
  return def;
}

/** The blind form of an encoded value (see `encodeOrdered`) of field `f` of a blind index. */
export function blindValue(def: IndexDef, f: number, enc: string): string {
  return def.mac!(def.id + '\u0000' + f, enc);
}

/** The description of a definition as stored and listed (a fresh object). */
export function infoOf(def: IndexDef): IndexInfo {
  const info: IndexInfo = {
    type: def.type, collection: def.collection, name: def.name, fields: [...def.fields], unique: def.unique, state: def.state, multikey: def.multikey,
  };
  if (def.boosts) info.boosts = { ...def.boosts };
  if (def.blind) info.blind = true;
  return info;
}

/** The indexes of a backend, by id and by collection. */
export class Catalog {
  /** Version of the stored catalog this copy reflects. */
  version = 0;
  /** The keyed MAC of an encrypted backend, given to its blind indexes (set before the catalog loads). */
  blinder: ((scope: string, value: string) => string) | undefined;
  private readonly byId = new Map<string, IndexDef>();
  private readonly byCollection = new Map<string, IndexDef[]>();

  /** Is there any index at all? (The write path skips every index step when not.) */
  get empty(): boolean {
    return this.byId.size === 0;
  }

  /** Replaces the catalog with stored definitions. */
  load(infos: readonly IndexInfo[], version: number): void {
    this.byId.clear();
    this.byCollection.clear();
    for (const info of infos) this.put(makeDef(info));
    this.version = version;
  }

  put(def: IndexDef): void {
    if (def.blind) {
      if (!this.blinder) throw new StorageError(`internal: blind index "${def.name}" of "${def.collection}" on a backend without a blind-index key`);
      def.mac = this.blinder;
    }
    this.remove(def.id);
    this.byId.set(def.id, def);
    const list = this.byCollection.get(def.collection) ?? [];
    list.push(def);
    this.byCollection.set(def.collection, list);
  }

  remove(id: string): void {
    const old = this.byId.get(id);
    if (!old) return;
    this.byId.delete(id);
    const list = this.byCollection.get(old.collection)!.filter((d) => d !== old);
    if (list.length === 0) this.byCollection.delete(old.collection);
    else this.byCollection.set(old.collection, list);
  }

  get(id: string): IndexDef | undefined {
    return this.byId.get(id);
  }

  /** Indexes covering a record key (`<collection>.<segment>`), or undefined. */
  forKey(key: string): IndexDef[] | undefined {
    if (this.byId.size === 0) return undefined;
    const dot = key.lastIndexOf('.');
    return dot <= 0 ? undefined : this.byCollection.get(key.slice(0, dot));
  }

  forCollection(collection: string): readonly IndexDef[] {
    return this.byCollection.get(collection) ?? [];
  }

  all(): IndexDef[] {
    return [...this.byId.values()];
  }
}
