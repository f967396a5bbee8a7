/**
 * The memory engine: one Map per keyspace, with an ordered key view for range reads. The ordered
 * view is brought up to date lazily, on the first range read after writes, so pure key-value
 * workloads pay one Set insertion per new or deleted key and nothing more.
 */
import type { BatchOp, Engine, EngineCapabilities, RangeQuery, Space, StoredValue } from './engine';
import { SPACES } from './engine';
import { SortedKeys } from './sorted-keys';

const CAPABILITIES: EngineCapabilities = Object.freeze({
  engine: 'memory',
  persistent: false,
  keyOrder: 'utf16',
  durableWrites: false,
  synchronous: true,
});

class Keyspace {
  readonly map = new Map<string, StoredValue>();
  private readonly order = new SortedKeys();
  /** Keys added or removed since the ordered view was last brought up to date. */
  private touched = new Set<string>();

  put(key: string, value: StoredValue): void {
    const before = this.map.size;
    this.map.set(key, value);
    if (this.map.size !== before) this.touched.add(key);
  }

  del(key: string): void {
    if (this.map.delete(key)) this.touched.add(key);
  }

  clear(): void {
    this.map.clear();
    this.order.clear();
    this.touched.clear();
  }

  orderedKeys(q: RangeQuery): string[] {
    if (this.touched.size > 0) {
      for (const k of this.touched) {
        if (this.map.has(k)) this.order.add(k);
        else this.order.delete(k);
      }
      this.touched = new Set();
    }
    const limit = q.limit ?? Infinity;
    const lo = q.gte ?? q.gt;
    const hi = q.lte ?? q.lt;
    // gte wins over gt and lte over lt when both are given, as in the LevelDB and IndexedDB engines.
    const loIncl = q.gte !== undefined;
    const hiIncl = q.lte !== undefined;
    if (!q.reverse) return this.order.range(lo, loIncl, hi, hiIncl, limit);
    const all = this.order.range(lo, loIncl, hi, hiIncl, Infinity);
    all.reverse();
    return all.length > limit ? all.slice(0, limit) : all;
  }
}

/** Counters a test can read to prove which ranges were scanned. */
export interface EngineReadStats {
  /** Entries returned by get/getMany/range/keys since the engine was created. */
  reads: number;
}

/** Creates a memory engine. Values are kept as given; the Backend never mutates them. */
export function createMemoryEngine(): Engine & { readonly stats: EngineReadStats } {
  const spaces = new Map<Space, Keyspace>(SPACES.map((s) => [s, new Keyspace()]));
  const space = (s: Space) => spaces.get(s)!;
  const stats: EngineReadStats = { reads: 0 };
  return {
    capabilities: CAPABILITIES,
    stats,
    async open() {},
    async close() {},
    get(s, key) {
      stats.reads++;
      return space(s).map.get(key);
    },
    getMany(s, keys) {
      stats.reads += keys.length;
      const map = space(s).map;
      return keys.map((k) => map.get(k));
    },
    batch(ops: readonly BatchOp[]) {
      for (const op of ops) {
        if (op.type === 'put') space(op.space).put(op.key, op.value);
        else space(op.space).del(op.key);
      }
    },
    range(s, q) {
      const ks = space(s);
      const keys = ks.orderedKeys(q);
      stats.reads += keys.length;
      return keys.map((k) => [k, ks.map.get(k)] as [string, StoredValue]);
    },
    keys(s, q) {
      const keys = space(s).orderedKeys(q);
      stats.reads += keys.length;
      return keys;
    },
    wipe() {
      for (const ks of spaces.values()) ks.clear();
    },
  };
}
