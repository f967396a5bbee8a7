/**
 * A small typed event emitter, the same in every runtime (no Node `events`, no DOM EventTarget).
 * A throwing listener never breaks the operation that emitted: its error goes to `error`
 * listeners, or is rethrown asynchronously when there are none, so it is never swallowed.
 */
import { invalid } from './errors';
import type { StorageEventName, StorageEvents, StorageListener } from './types';

const NAMES: ReadonlySet<string> = new Set<StorageEventName>(['set', 'delete', 'expire', 'evict', 'index', 'rotate', 'error']);

export class Emitter {
  private readonly listeners = new Map<StorageEventName, Set<(e: never) => void>>();

  /** Is anybody listening? Callers skip building payloads when not. */
  has(name: StorageEventName): boolean {
    return (this.listeners.get(name)?.size ?? 0) > 0;
  }

  on<E extends StorageEventName>(name: E, listener: StorageListener<E>): () => void {
    check(name, listener);
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener as (e: never) => void);
    return () => this.off(name, listener);
  }

  off<E extends StorageEventName>(name: E, listener: StorageListener<E>): void {
    check(name, listener);
    this.listeners.get(name)?.delete(listener as (e: never) => void);
  }

  once<E extends StorageEventName>(name: E, listener: StorageListener<E>): () => void {
    const wrapped: StorageListener<E> = (e) => {
      this.off(name, wrapped);
      listener(e);
    };
    return this.on(name, wrapped);
  }

  emit<E extends StorageEventName>(name: E, event: StorageEvents[E]): void {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const l of [...set]) {
      try {
        (l as StorageListener<E>)(event);
      } catch (error) {
        if (name !== 'error' && this.has('error')) {
          this.emit('error', { error: error as Error, backend: (event as { backend: string }).backend, operation: `${name} listener` });
        } else {
          queueMicrotask(() => { throw error; });
        }
      }
    }
  }

  removeAll(): void {
    this.listeners.clear();
  }
}

function check(name: unknown, listener: unknown): void {
  if (typeof name !== 'string' || !NAMES.has(name)) invalid(`unknown event ${String(name)}; events are ${[...NAMES].join(', ')}`);
  if (typeof listener !== 'function') invalid(`listener for "${name}" must be a function`);
}
