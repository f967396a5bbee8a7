/**
 * Optimistic, serializable transactions on one backend.
 *
 * A transaction buffers its writes and remembers what it read: each key (with the backend's write
 * sequence before the read was issued) and each `keys(pattern)` range. `commit()` goes through the
 * backend's write queue, where writes are applied one group at a time; there it checks that no key
 * it read, no key under a pattern it listed, and no key it writes was changed since, and then
 * applies all of its writes — records and expiry-index entries — as ONE engine batch (one LevelDB
 * write, one IndexedDB transaction). Otherwise it rejects with StorageConflictError and writes
 * nothing. Reads see the transaction's own writes.
 */
import { buildRecord, metadataOf, prepare, type Backend, type Mutation, type PreparedPut } from './backend';
import { decodeValue } from './codec/value';
import { StorageConflictError, StorageError, StorageTimeoutError, invalid } from './errors';
import { checkKey, compilePattern, describe, type Pattern } from './keys';
import { checkBatchEntry, checkRouteOptions, checkSetOptions, type WriteOptions } from './options';
import type { BatchEntry, Durability, Entry } from './types';

/** Options of `beginTransaction`. */
export interface TransactionOptions {
  /** Backend the transaction runs on (default: the default backend). */
  backend?: string;
  /** Durability of the commit (default `'strict'`). */
  durability?: Durability;
  /** Milliseconds after which an unfinished transaction is rolled back (default 30000). */
  timeout?: number;
}

/** Options of `transaction(fn)`. */
export interface RunTransactionOptions extends TransactionOptions {
  /** How many times to re-run `fn` after a StorageConflictError (default 5). */
  retries?: number;
}

/** Default `timeout` of a transaction, in ms. */
export const DEFAULT_TRANSACTION_TIMEOUT = 30_000;

type State = 'active' | 'committing' | 'committed' | 'rolled back' | 'failed' | 'timed out';

/**
 * A transaction on one backend, from `storage.beginTransaction()`.
 *
 * @example
 * ```ts
 * const tx = await storage.beginTransaction();
 * await tx.set('user.balance', 100);
 * await tx.commit();
 * ```
 */
export class Transaction {
  /** Name of the backend the transaction runs on. */
  readonly backend: string;
  private state: State = 'active';
  private readonly startSeq: number;
  private readonly reads = new Map<string, number>();
  private readonly stamps = new Map<string, string>();
  private readonly ranges: { pattern: Pattern; seq: number }[] = [];
  /** Final state of each written key: a prepared put, or null for a delete. */
  private readonly writes = new Map<string, PreparedPut | null>();
  private readonly timer: ReturnType<typeof setTimeout>;
  /** Identifies this transaction's commit marker (see `landed`). */
  private readonly id = Date.now().toString(36) + Math.random().toString(36).slice(2);

  /** @internal Use `storage.beginTransaction()`. */
  constructor(private readonly store: Backend, private readonly durability: Durability, timeout: number) {
    this.backend = store.name;
    this.startSeq = store.writeSeq;
    store.transactionOpened(this.startSeq);
    this.timer = setTimeout(() => this.finish('timed out'), timeout);
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** `active` until commit or rollback; then `committed`, `rolled back`, `failed` or `timed out`. */
  get status(): State {
    return this.state;
  }

  /** The value under `key` as this transaction sees it (its own writes included). */
  async get<T = unknown>(key: string, options?: { backend?: string }): Promise<T | undefined> {
    this.usable(options, key);
    if (this.writes.has(key)) {
      const w = this.writes.get(key);
      return w ? (decodeValue(w.body) as T) : undefined;
    }
    const rec = await this.read(key);
    return rec && ((await this.store.decodeRecord(rec, key)) as T);
  }

  /** Value and metadata as this transaction sees them; metadata of a pending write is what commit will store. */
  async getEntry<T = unknown>(key: string, options?: { backend?: string }): Promise<Entry<T> | undefined> {
    this.usable(options, key);
    const w = this.writes.get(key);
    const rec = w === null ? undefined : w ? buildRecord(w, await this.read(key), Date.now()) : await this.read(key);
    return rec && { key, value: (await this.store.decodeRecord(rec, key)) as T, metadata: metadataOf(rec) };
  }

  /** Does a live entry exist under `key`, as this transaction sees it? */
  async has(key: string, options?: { backend?: string }): Promise<boolean> {
    this.usable(options, key);
    if (this.writes.has(key)) return this.writes.get(key) !== null;
    return (await this.read(key)) !== undefined;
  }

  /** Values of `keys`, aligned with them. */
  async batchGet<T = unknown>(keys: readonly string[], options?: { backend?: string }): Promise<(T | undefined)[]> {
    this.usable(options);
    if (!Array.isArray(keys)) invalid(`keys must be an array of keys, got ${describe(keys)}`);
    keys.forEach((k, i) => checkKey(k, `keys[${i}]`));
    return Promise.all(keys.map((k) => this.get<T>(k)));
  }

  /** Live keys matching `pattern` as this transaction sees them. A later change under the pattern is a conflict. */
  async keys(pattern = '**', options?: { backend?: string }): Promise<string[]> {
    this.usable(options);
    const p = compilePattern(pattern);
    const seq = this.store.writeSeq;
    const stored = await this.store.keys(p.source);
    this.ranges.push({ pattern: p, seq });
    const out = new Set(stored);
    for (const [key, w] of this.writes) {
      if (!key.startsWith(p.prefix) || !p.matches(key)) continue;
      if (w) out.add(key);
      else out.delete(key);
    }
    return [...out].sort();
  }

  /** Buffers a write; applied at commit. */
  async set(key: string, value: unknown, options?: WriteOptions): Promise<void> {
    this.usable(undefined, key);
    const o = checkSetOptions(options);
    this.checkBackend(o.backend);
    if (o.durability !== undefined) invalid('durability is set per transaction (beginTransaction({ durability })), not per write');
    this.buffer(key, prepare(key, value, o.ttl, o.tags));
  }

  /** Buffers one write; the key is pinned (auto-cleanup never evicts it) until the transaction ends. */
  private buffer(key: string, w: PreparedPut | null): void {
    if (!this.writes.has(key)) this.store.pin(key);
    this.writes.set(key, w);
  }

  /** Buffers writes of every entry (validated first: one bad entry buffers none). */
  async batchSet(entries: readonly BatchEntry[], options?: { backend?: string }): Promise<void> {
    this.usable(options);
    if (!Array.isArray(entries)) invalid(`entries must be an array of { key, value }, got ${describe(entries)}`);
    const prepared = entries.map((e, i) => {
      const entry = checkBatchEntry(e, `entries[${i}]`);
      checkKey(entry.key, `entries[${i}].key`);
      return prepare(entry.key, entry.value, entry.ttl, entry.tags, `entries[${i}].value`);
    });
    for (const p of prepared) this.buffer(p.key, p);
  }

  /** Buffers a delete; resolves whether a live entry existed as this transaction sees it. */
  async delete(key: string, options?: { backend?: string }): Promise<boolean> {
    const existed = await this.has(key, options);
    this.buffer(key, null);
    return existed;
  }

  /**
   * Applies every buffered write atomically if nothing the transaction read or writes changed
   * since; otherwise rejects with StorageConflictError and writes nothing.
   */
  async commit(): Promise<void> {
    this.usable();
    this.state = 'committing';
    const muts: Mutation[] = [];
    for (const [key, w] of this.writes) muts.push(w ?? { key, del: true });
    try {
      await this.store.commitWrites(muts, { startSeq: this.startSeq, reads: this.reads, stamps: this.stamps, ranges: this.ranges, writes: [...this.writes.keys()] }, this.durability, this.id);
      this.finish('committed');
    } catch (err) {
      this.finish('failed');
      throw err;
    }
  }

  /**
   * After `commit()` failed with code STORAGE_INDETERMINATE: did it land after all? Reads the
   * commit marker written in the same atomic batch as the writes.
   */
  async landed(): Promise<boolean> {
    return this.state === 'committed' || (this.state === 'failed' && this.store.committed(this.id));
  }

  /** Discards the buffered writes. Allowed after a failed commit or a timeout; an error after a commit. */
  async rollback(): Promise<void> {
    if (this.state === 'committed' || this.state === 'committing') this.usable();
    if (this.state === 'active') this.finish('rolled back');
  }

  private finish(state: State): void {
    if (this.state !== 'active' && this.state !== 'committing') return;
    this.state = state;
    clearTimeout(this.timer);
    this.store.transactionClosed(this.startSeq);
    this.store.unpin(this.writes.keys());
  }

  /** Throws unless the transaction is active; checks the key and routing option. */
  private usable(options?: unknown, key?: unknown): void {
    if (this.state === 'timed out') throw new StorageTimeoutError(`the transaction on backend "${this.backend}" timed out and was rolled back`);
    if (this.state !== 'active') {
      throw new StorageError(`the transaction on backend "${this.backend}" is ${this.state}; start a new one`, { code: 'STORAGE_TX_CLOSED' });
    }
    if (options !== undefined) this.checkBackend(checkRouteOptions(options).backend);
    if (key !== undefined) checkKey(key);
  }

  private checkBackend(name: string | undefined): void {
    if (name !== undefined && name !== this.backend) {
      invalid(`a transaction spans one backend: this one runs on "${this.backend}", not "${name}"`);
    }
  }

  private async read(key: string) {
    const seq = this.store.writeSeq;
    const { live, stamp } = await this.store.readRecord(key);
    if (!this.reads.has(key)) {
      this.reads.set(key, seq);
      this.stamps.set(key, stamp);
    }
    return live;
  }
}

/** Runs `fn` in a transaction, commits, and re-runs it on conflict up to `retries` times. */
export async function runTransaction<T>(begin: () => Promise<Transaction>, fn: (tx: Transaction) => Promise<T> | T, retries: number): Promise<T> {
  if (typeof fn !== 'function') invalid(`transaction(fn): fn must be a function, got ${describe(fn)}`);
  for (let attempt = 0; ; attempt++) {
    const tx = await begin();
    let result: T | undefined;
    try {
      result = await fn(tx);
      await tx.commit();
      return result;
    } catch (err) {
      await tx.rollback().catch(() => {});
      // An indeterminate commit is re-run only once we know it did not land: never twice.
      if ((err as StorageError).code === 'STORAGE_INDETERMINATE' && tx.status === 'failed') {
        let landed: boolean;
        try {
          landed = await tx.landed();
        } catch {
          throw err;
        }
        if (landed) return result!;
        if (attempt < retries) continue;
      }
      if (!(err instanceof StorageConflictError) || attempt >= retries) throw err;
    }
  }
}
