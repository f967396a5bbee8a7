/**
 * The document operations behind `Collection` (collection.ts), loaded on first use. Each
 * document's data is the value of the key `<collection>.<id>`, so documents are ordinary entries —
 * visible to `query('users.*')`, `keys()`, transactions (`tx.get('users.<id>')`), indexes created
 * on `'users'`, TTL and events.
 */
import type { Backend } from './backend';
import { StorageConflictError, invalid } from './errors';
import { describe } from './keys';
import { Transaction, runTransaction, DEFAULT_TRANSACTION_TIMEOUT } from './transaction';
import type { Entry } from './types';
import type { QueryOptions } from './query/execute';

import type { Document, DocumentWriteOptions, FindOptions } from './collection';

const ID_RE = /^[^.*\\]+$/;
const WRITE_OPTIONS = new Set(['ttl', 'tags', 'expectedVersion']);

/** Makes a new id: time-ordered (ids sort by insertion time), 21 characters of [0-9a-z]. */
export function newId(): string {
  const random = new Uint8Array(8);
  globalThis.crypto.getRandomValues(random);
  let tail = '';
  for (const b of random) tail += (b % 36).toString(36);
  return Date.now().toString(36).padStart(9, '0') + tail + Math.floor(Math.random() * 36 ** 4).toString(36).padStart(4, '0');
}

/** The operations of one collection (see Collection for the documentation of each). */
export class Documents<T extends Record<string, unknown> = Record<string, unknown>> {
  constructor(private readonly backend: Backend, readonly name: string) {}

  /**
   * Stores a new document. Its id is `options.id`, else `data.id` when that is a string, else a
   * new time-ordered id. Fails with StorageConflictError when the id is taken.
   */
  async insert(data: T, options?: DocumentWriteOptions & { id?: string }): Promise<Document<T>> {
    const o = checkWrite(options, true);
    checkData(data);
    const given = o.id !== undefined ? o.id : typeof data.id === 'string' ? data.id : undefined;
    const id = given === undefined ? newId() : this.checkId(given, o.id !== undefined ? 'options.id' : 'data.id');
    const key = this.key(id);
    return this.run(async (tx) => {
      if (await tx.has(key)) throw new StorageConflictError(`document "${id}" already exists in "${this.name}"`);
      await tx.set(key, data, { ttl: o.ttl, tags: o.tags });
    }, key, 0);
  }

  /** The document, or undefined. */
  async get(id: string): Promise<Document<T> | undefined> {
    const entry = await this.backend.getEntry<T>(this.key(this.checkId(id)));
    return entry && this.doc(entry);
  }

  /**
   * Applies `changes` to the stored data: each key is a dotted path set to its value (`undefined`
   * removes it), e.g. `{ name: 'Ada L.', 'address.city': 'London' }`. Resolves the new document,
   * or undefined when there is none (StorageConflictError with `expectedVersion`).
   */
  async update(id: string, changes: Record<string, unknown>, options?: DocumentWriteOptions): Promise<Document<T> | undefined> {
    const key = this.key(this.checkId(id));
    const o = checkWrite(options);
    if (changes === null || typeof changes !== 'object' || Array.isArray(changes) || Object.getPrototypeOf(changes) !== Object.prototype) invalid(`changes must be a plain object of path → value, got ${describe(changes)}`);
    const paths = Object.keys(changes).map((p) => [p, p.split('.')] as const);
    for (const [p, segs] of paths) {
      if (segs.some((s) => s === '' || s === '__proto__' || s === 'constructor' || s === 'prototype')) invalid(`changes: invalid path "${p}"`);
    }
    return this.rewrite(id, key, o, (entry) => {
      const data = structuredClone(entry.value) as Record<string, unknown>;
      for (const [p, segs] of paths) setPath(data, segs, changes[p]);
      return { data: data as T, ttl: o.ttl ?? entry.metadata.ttl, tags: o.tags ?? entry.metadata.tags };
    });
  }

  /** Replaces the data of an existing document (undefined when there is none). */
  async replace(id: string, data: T, options?: DocumentWriteOptions): Promise<Document<T> | undefined> {
    const key = this.key(this.checkId(id));
    const o = checkWrite(options);
    checkData(data);
    return this.rewrite(id, key, o, () => ({ data, ttl: o.ttl, tags: o.tags }));
  }

  /**
   * Reads the document in a transaction, checks `expectedVersion`, and writes what `next` makes of
   * it (undefined when there is no document). Retried on conflicts unless a version was expected.
   */
  private async rewrite(id: string, key: string, o: ReturnType<typeof checkWrite>, next: (entry: Entry<T>) => { data: T; ttl: number | undefined; tags: string[] | undefined }): Promise<Document<T> | undefined> {
    let missing = false;
    const result = await this.run(async (tx) => {
      missing = false;
      const entry = await tx.getEntry<T>(key);
      this.checkVersion(id, entry, o.expectedVersion);
      if (!entry) {
        missing = true;
        return;
      }
      const n = next(entry);
      await tx.set(key, n.data, { ttl: n.ttl, tags: n.tags });
    }, key, o.expectedVersion === undefined ? 5 : 0);
    return missing ? undefined : result;
  }

  /** Deletes a document; true when it existed. */
  async delete(id: string, options?: { expectedVersion?: number }): Promise<boolean> {
    const key = this.key(this.checkId(id));
    const o = checkWrite(options);
    if (o.ttl !== undefined || o.tags !== undefined) invalid('delete accepts only { expectedVersion }');
    if (o.expectedVersion === undefined) return this.backend.delete(key);
    let existed = false;
    await this.run(async (tx) => {
      const entry = await tx.getEntry(key);
      this.checkVersion(id, entry, o.expectedVersion);
      existed = true;
      await tx.delete(key);
    }, undefined, 0);
    return existed;
  }

  /**
   * Documents matching a query, as `query('<name>.*', options)` with paths relative to the
   * document: `name` or `data.name` (a data field), `id`, `metadata.createdAt` /
   * `metadata.updatedAt` / `metadata.version` / `metadata.tags` / `metadata.expiresAt`.
   */
  async find(options?: FindOptions): Promise<Document<T>[]> {
    const mapped = this.mapOptions(options);
    const entries = await this.backend.query<T>(`${this.name}.*`, mapped);
    return entries.map((e) => this.doc(e));
  }

  /** How many documents match `filter`. */
  async count(options?: { filter?: Record<string, unknown> }): Promise<number> {
    return this.backend.count(`${this.name}.*`, this.mapOptions(options));
  }

  private mapOptions(options: unknown): QueryOptions {
    if (options === undefined) return {};
    if (options === null || typeof options !== 'object' || Array.isArray(options)) invalid(`options must be an object, got ${describe(options)}`);
    const o = { ...(options as QueryOptions) };
    if (o.filter !== undefined) o.filter = this.mapFilter(o.filter, 'options.filter') as Record<string, unknown>;
    if (o.sort !== undefined && o.sort !== null && typeof o.sort === 'object' && !Array.isArray(o.sort)) {
      const sort: Record<string, 1 | -1 | 'asc' | 'desc'> = {};
      for (const [p, dir] of Object.entries(o.sort)) {
        const m = this.mapPath(p);
        if (m === '$key') Object.defineProperty(sort, '$key', { value: dir, enumerable: true, configurable: true, writable: true });
        else Object.defineProperty(sort, m, { value: dir, enumerable: true, configurable: true, writable: true });
      }
      o.sort = sort;
    }
    if (o.after !== undefined) o.after = this.key(this.checkId(o.after, 'options.after'));
    return o;
  }

  /** Renames document paths to entry paths in one level of a filter (logical operators recurse). */
  private mapFilter(filter: unknown, where: string): unknown {
    // Only plain objects are renamed (query validates everything); anything else goes to query as
    // it is, to be refused there, never reshaped into something valid.
    if (!isPlain(filter) || Object.getOwnPropertySymbols(filter).length > 0) return filter;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(filter)) {
      let key = k;
      let value = v;
      if ((k === '$and' || k === '$or' || k === '$nor') && Array.isArray(v)) value = v.map((f, i) => this.mapFilter(f, `${where}.${k}[${i}]`));
      else if (!k.startsWith('$')) {
        key = this.mapPath(k);
        if (key === '$key') value = this.mapIdCondition(v, `${where}.id`);
      }
      Object.defineProperty(out, key, { value, enumerable: true, configurable: true, writable: true });
    }
    return out;
  }

  private mapPath(p: string): string {
    if (p === 'id') return '$key';
    if (p.startsWith('metadata.')) return '$meta.' + p.slice(9);
    if (p.startsWith('data.')) return p.slice(5);
    return p;
  }

  /** An id condition as a key condition: ids become keys; only comparisons and set operators. */
  private mapIdCondition(cond: unknown, where: string): unknown {
    const toKey = (v: unknown, at: string) => (typeof v === 'string' ? `${this.name}.${v}` : invalid(`${at}: ids are strings, got ${describe(v)}`));
    if (typeof cond === 'string') return toKey(cond, where);
    if (cond === null || typeof cond !== 'object' || Array.isArray(cond)) return invalid(`${where}: expected an id or an operator object, got ${describe(cond)}`);
    const out: Record<string, unknown> = {};
    for (const [op, v] of Object.entries(cond)) {
      if (['$eq', '$ne', '$gt', '$gte', '$lt', '$lte'].includes(op)) out[op] = toKey(v, `${where}.${op}`);
      else if (op === '$in' || op === '$nin') out[op] = Array.isArray(v) ? v.map((x, i) => toKey(x, `${where}.${op}[${i}]`)) : invalid(`${where}.${op} must be an array`);
      else if (op === '$exists') out[op] = v;
      else invalid(`${where}: the operator ${op} is not available on id (use $eq $ne $gt $gte $lt $lte $in $nin $exists)`);
    }
    return out;
  }

  private key(id: string): string {
    return `${this.name}.${id}`;
  }

  private checkId(id: unknown, what = 'id'): string {
    if (typeof id !== 'string' || !ID_RE.test(id) || id.length > 256) invalid(`${what} must be a non-empty string of at most 256 characters without ".", "*" or "\\", got ${describe(id)}`);
    return id;
  }

  private checkVersion(id: string, entry: Entry | undefined, expected: number | undefined): void {
    if (expected === undefined) return;
    if (!entry) throw new StorageConflictError(`document "${id}" of "${this.name}" does not exist (expected version ${expected})`);
    if (entry.metadata.version !== expected) {
      throw new StorageConflictError(`document "${id}" of "${this.name}" is at version ${entry.metadata.version}, not ${expected}`);
    }
  }

  private doc(entry: Entry<T>): Document<T> {
    return { id: entry.key.slice(this.name.length + 1), collection: this.name, data: entry.value, metadata: entry.metadata };
  }

  /** Runs fn in a transaction on this collection's backend; resolves the document stored under `key` after the commit. */
  private async run(fn: (tx: Transaction) => Promise<void>, key: string | undefined, retries: number): Promise<Document<T>> {
    const b = this.backend;
    await runTransaction(async () => {
      await b.ready();
      return new Transaction(b, b.options.durability ?? 'relaxed', DEFAULT_TRANSACTION_TIMEOUT);
    }, fn, retries);
    if (key === undefined) return undefined as never;
    const entry = await b.getEntry<T>(key);
    return (entry && this.doc(entry)) as Document<T>;
  }
}

function checkWrite(options: unknown, withId = false): DocumentWriteOptions & { id?: string } {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) invalid(`options must be an object, got ${describe(options)}`);
  for (const k of Object.keys(options)) if (!WRITE_OPTIONS.has(k) && !(withId && k === 'id')) invalid(`unknown option "${k}"`);
  const o = options as DocumentWriteOptions & { id?: string };
  if (o.expectedVersion !== undefined && (!Number.isSafeInteger(o.expectedVersion) || o.expectedVersion < 1)) invalid(`options.expectedVersion must be a positive integer, got ${describe(o.expectedVersion)}`);
  return o;
}

function isPlain(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function checkData(data: unknown): void {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) invalid(`a document's data must be an object, got ${describe(data)}`);
}

/** Sets (or, with undefined, deletes) a dotted path in a plain-object tree, creating objects on the way. */
function setPath(target: Record<string, unknown>, segs: readonly string[], value: unknown): void {
  let node = target;
  for (let i = 0; i < segs.length - 1; i++) {
    const s = segs[i]!;
    const next = Object.hasOwn(node, s) ? node[s] : undefined;
    if (next === null || typeof next !== 'object') {
      if (value === undefined) return;
      const created: Record<string, unknown> = {};
      Object.defineProperty(node, s, { value: created, enumerable: true, configurable: true, writable: true });
      node = created;
    } else node = next as Record<string, unknown>;
  }
  const last = segs[segs.length - 1]!;
  if (value === undefined) delete node[last];
  else Object.defineProperty(node, last, { value, enumerable: true, configurable: true, writable: true });
}
