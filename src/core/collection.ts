/**
 * Documents: `storage.collection('users')` stores each document's data as the value of the key
 * `users.<id>`, so documents are ordinary entries — visible to `query('users.*')`, `keys()`,
 * transactions (`tx.get('users.<id>')`), indexes created on `'users'`, TTL and events. The
 * operations (documents.ts) are loaded on first use.
 */
import type { Backend } from './backend';
import type { Documents } from './documents';
import { checkCollection } from './keys';
import type { Metadata } from './types';
import type { QueryOptions } from './query/execute';

/** A document: its id, collection, data and metadata. */
export interface Document<T = Record<string, unknown>> {
  /** The id: the last segment of the key `<collection>.<id>`. */
  id: string;
  /** The collection's name. */
  collection: string;
  /** The stored data (the entry's value). */
  data: T;
  /** createdAt, updatedAt, version (1 on insert, +1 per write), and ttl/expiresAt/tags when set. */
  metadata: Metadata;
}

/** Options of `insert`, `replace` and `update`. */
export interface DocumentWriteOptions {
  /** Seconds until the document expires. */
  ttl?: number;
  /** Tags stored in the metadata. */
  tags?: string[];
  /** Fail with StorageConflictError unless the stored version is this one (optimistic locking). */
  expectedVersion?: number;
}

/** Options of `find`: the options of `query`, with paths relative to the document (see `Collection.find`). */
export type FindOptions = Omit<QueryOptions, 'index'> & { index?: string };

/**
 * A collection of documents stored under `<name>.<id>`.
 *
 * @example
 * ```ts
 * const users = storage.collection('users');
 * const ada = await users.insert({ name: 'Ada', email: 'ada@x.org' });
 * await users.update(ada.id, { name: 'Ada L.' }, { expectedVersion: 1 });
 * ```
 */
export class Collection<T extends Record<string, unknown> = Record<string, unknown>> {
  private ops: Promise<Documents<T>> | undefined;

  /** @internal Use `storage.collection(name)`. */
  constructor(private readonly backend: Backend, readonly name: string) {
    checkCollection(name, 'collection name');
  }

  private load(): Promise<Documents<T>> {
    return (this.ops ??= import('./documents').then((m) => new m.Documents<T>(this.backend, this.name)));
  }

  /**
   * Stores a new document. Its id is `options.id`, else `data.id` when that is a string, else a
   * new time-ordered id. Fails with StorageConflictError when the id is taken.
   */
  async insert(data: T, options?: DocumentWriteOptions & { id?: string }): Promise<Document<T>> {
    return (await this.load()).insert(data, options);
  }

  /** The document, or undefined. */
  async get(id: string): Promise<Document<T> | undefined> {
    return (await this.load()).get(id);
  }

  /**
   * Applies `changes` to the stored data: each key is a dotted path set to its value (`undefined`
   * removes it), e.g. `{ name: 'Ada L.', 'address.city': 'London' }`. Resolves the new document,
   * or undefined when there is none (StorageConflictError with `expectedVersion`).
   */
  async update(id: string, changes: Record<string, unknown>, options?: DocumentWriteOptions): Promise<Document<T> | undefined> {
    return (await this.load()).update(id, changes, options);
  }

  /** Replaces the data of an existing document (undefined when there is none). */
  async replace(id: string, data: T, options?: DocumentWriteOptions): Promise<Document<T> | undefined> {
    return (await this.load()).replace(id, data, options);
  }

  /** Deletes a document; true when it existed (StorageConflictError when `expectedVersion` differs). */
  async delete(id: string, options?: { expectedVersion?: number }): Promise<boolean> {
    return (await this.load()).delete(id, options);
  }

  /**
   * Documents matching a query, as `query('<name>.*', options)` with paths relative to the
   * document: `name` or `data.name` (a data field), `id`, `metadata.createdAt` /
   * `metadata.updatedAt` / `metadata.version` / `metadata.tags` / `metadata.expiresAt`.
   */
  async find(options?: FindOptions): Promise<Document<T>[]> {
    return (await this.load()).find(options);
  }

  /** How many documents match `filter`. */
  async count(options?: { filter?: Record<string, unknown> }): Promise<number> {
    return (await this.load()).count(options);
  }
}
