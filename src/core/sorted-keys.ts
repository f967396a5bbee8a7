/**
 * An ordered set of strings (JS `<` order) as a list of sorted chunks, the sortedcontainers
 * layout: inserts and deletes move at most one chunk, range reads binary-search the chunk list.
 * Used by the memory engine for range reads; plain Maps cannot answer them without a full scan.
 */
const CHUNK = 1024;

export class SortedKeys {
  private chunks: string[][] = [];
  /** Largest key of each chunk, for the chunk search. */
  private maxes: string[] = [];

  get size(): number {
    let n = 0;
    for (const c of this.chunks) n += c.length;
    return n;
  }

  add(key: string): void {
    if (this.chunks.length === 0) {
      this.chunks.push([key]);
      this.maxes.push(key);
      return;
    }
    let ci = this.chunkFor(key);
    if (ci === this.chunks.length) ci--; // beyond every max: append to the last chunk
    const chunk = this.chunks[ci]!;
    const i = lowerBound(chunk, key);
    if (chunk[i] === key) return;
    chunk.splice(i, 0, key);
    if (i === chunk.length - 1) this.maxes[ci] = key;
    if (chunk.length > CHUNK * 2) {
      const tail = chunk.splice(CHUNK);
      this.chunks.splice(ci + 1, 0, tail);
      this.maxes.splice(ci, 1, chunk[chunk.length - 1]!, tail[tail.length - 1]!);
    }
  }

  delete(key: string): void {
    const ci = this.chunkFor(key);
    const chunk = this.chunks[ci];
    if (!chunk) return;
    const i = lowerBound(chunk, key);
    if (chunk[i] !== key) return;
    chunk.splice(i, 1);
    if (chunk.length === 0) {
      this.chunks.splice(ci, 1);
      this.maxes.splice(ci, 1);
    } else if (i === chunk.length) {
      this.maxes[ci] = chunk[chunk.length - 1]!;
    }
  }

  clear(): void {
    this.chunks = [];
    this.maxes = [];
  }

  /** Keys k with lo <= k (or lo < k) and k < hi (or k <= hi), ascending, at most `limit`. */
  range(lo: string | undefined, loInclusive: boolean, hi: string | undefined, hiInclusive: boolean, limit: number): string[] {
    let out: string[] = [];
    if (limit <= 0 || this.chunks.length === 0) return out;
    let ci = lo === undefined ? 0 : this.chunkFor(lo);
    let i = lo === undefined ? 0 : lowerBound(this.chunks[ci] ?? [], lo);
    if (lo !== undefined && !loInclusive && this.chunks[ci]?.[i] === lo) i++;
    // Whole chunk slices rather than one push per key: range reads copy thousands of keys.
    for (; ci < this.chunks.length; ci++, i = 0) {
      const chunk = this.chunks[ci]!;
      let end = chunk.length;
      const last = chunk[end - 1]!;
      if (hi !== undefined && (hiInclusive ? last > hi : last >= hi)) end = hiInclusive ? upperBound(chunk, hi) : lowerBound(chunk, hi);
      end = Math.min(end, i + limit - out.length);
      if (end > i) out = out.length === 0 ? chunk.slice(i, end) : out.concat(chunk.slice(i, end));
      if (end < chunk.length || out.length >= limit) return out;
    }
    return out;
  }

  /** Index of the first chunk whose max is >= key (chunks.length when none). */
  private chunkFor(key: string): number {
    return lowerBound(this.maxes, key);
  }
}

/** Index of the first element > key. */
function upperBound(arr: readonly string[], key: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid]! <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first element >= key. */
function lowerBound(arr: readonly string[], key: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
