/** The record cache (cache tier core): LRU order, bounds, metrics, expiry, and no stale fill, against a model. */
import fc from 'fast-check';
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { NEGATIVE, NEGATIVE_OVERHEAD, RecordCache, type CacheMetrics } from '../../src/core/cache.ts';
import { recordSize, type RecordEnvelope } from '../../src/core/record.ts';

const rec = (body: string, n = 1, e = 0): RecordEnvelope => ({ f: 0, c: 1, u: 1, e, l: 0, t: undefined, n, b: JSON.stringify(body) });

function metrics(c: RecordCache): Omit<CacheMetrics, 'capacity' | 'maxBytes'> {
  const { hits, misses, evictions, staleFills, entries, bytes } = c.metrics();
  return { hits, misses, evictions, staleFills, entries, bytes };
}

test('get: miss, then hit after a fill; the envelope itself is returned; metrics exact', () => {
  const c = new RecordCache({ maxEntries: 10 });
  const r = rec('x');
  assert.equal(c.get('a', 0), undefined);
  assert.equal(c.fill('a', r, c.generation()), true);
  assert.equal(c.get('a', 0), r);
  assert.equal(c.get('a', 0), r);
  assert.deepEqual(metrics(c), { hits: 2, misses: 1, evictions: 0, staleFills: 0, entries: 1, bytes: recordSize('a', r) });
  assert.equal(c.metrics().capacity, 10);
  assert.equal(c.metrics().maxBytes, undefined);
});

test('negative entries: a fill of nothing is a hit as NEGATIVE; a put replaces it', () => {
  const c = new RecordCache({ maxEntries: 10 });
  c.fill('gone', undefined, c.generation());
  assert.equal(c.get('gone', 0), NEGATIVE);
  assert.deepEqual(metrics(c), { hits: 1, misses: 0, evictions: 0, staleFills: 0, entries: 1, bytes: 4 + NEGATIVE_OVERHEAD });
  const r = rec('back');
  c.update('gone', r);
  assert.equal(c.get('gone', 0), r);
  assert.equal(c.metrics().bytes, recordSize('gone', r));
});

test('update: a delete turns a cached entry negative in place, and leaves an uncached key unknown', () => {
  const c = new RecordCache({ maxEntries: 3 });
  const g = c.generation();
  c.fill('a', rec('a'), g);
  c.fill('b', rec('b'), g);
  c.fill('c', rec('c'), g);
  c.update('a', undefined); // a stays least recently used
  c.update('zzz', undefined);
  assert.equal(c.metrics().entries, 3);
  assert.equal(c.metrics().bytes, 1 + NEGATIVE_OVERHEAD + recordSize('b', rec('b')) + recordSize('c', rec('c')));
  c.update('d', rec('d')); // evicts a (the negative, least recent)
  assert.equal(c.get('zzz', 0), undefined);
  assert.equal(c.get('a', 0), undefined);
  assert.equal(c.metrics().evictions, 1);
  assert.deepEqual(['b', 'c', 'd'].map((k) => (c.get(k, 0) as RecordEnvelope).b), ['"b"', '"c"', '"d"']);
});

test('expiry: an expired record is dropped by get and reported unknown (a miss)', () => {
  const c = new RecordCache({ maxEntries: 10 });
  const r = rec('t', 1, 1000);
  c.update('k', r);
  assert.equal(c.get('k', 999), r);
  assert.equal(c.get('k', 1000), undefined);
  assert.deepEqual(metrics(c), { hits: 1, misses: 1, evictions: 0, staleFills: 0, entries: 0, bytes: 0 });
  assert.equal(c.get('k', 0), undefined, 'dropped, not just hidden');
});

test('LRU order: a get makes an entry most recent; eviction takes the least recent; counts exact', () => {
  const c = new RecordCache({ maxEntries: 3 });
  const g = c.generation();
  for (const k of ['a', 'b', 'c']) c.fill(k, rec(k), g);
  c.get('a', 0);
  c.fill('d', rec('d'), g); // evicts b
  assert.equal(c.get('b', 0), undefined);
  c.fill('e', rec('e'), g); // evicts c (order now a, d, e)
  assert.equal(c.get('c', 0), undefined);
  c.get('a', 0);
  c.get('a', 0); // already newest: no reordering needed
  c.fill('f', rec('f'), g); // evicts d
  assert.equal(c.get('d', 0), undefined);
  assert.notEqual(c.get('a', 0), undefined);
  assert.notEqual(c.get('e', 0), undefined);
  assert.notEqual(c.get('f', 0), undefined);
  assert.deepEqual(metrics(c), { hits: 6, misses: 3, evictions: 3, staleFills: 0, entries: 3, bytes: 3 * recordSize('a', rec('a')) });
});

test('a fill of a cached key refreshes it and makes it most recent', () => {
  const c = new RecordCache({ maxEntries: 2 });
  const g = c.generation();
  c.fill('a', rec('a'), g);
  c.fill('b', rec('b'), g);
  const a2 = rec('a2', 2);
  c.fill('a', a2, g);
  c.fill('c', rec('c'), g); // evicts b
  assert.equal(c.get('a', 0), a2);
  assert.equal(c.get('b', 0), undefined);
});

test('byte bound: evicts least recent until under maxBytes; a record larger than the bound is not cached', () => {
  const small = rec('s'.repeat(20));
  const size = recordSize('k0', small);
  const c = new RecordCache({ maxEntries: 100, maxBytes: size * 3 });
  const g = c.generation();
  for (let i = 0; i < 5; i++) c.fill(`k${i}`, small, g);
  assert.deepEqual(metrics(c), { hits: 0, misses: 0, evictions: 2, staleFills: 0, entries: 3, bytes: size * 3 });
  assert.equal(c.get('k1', 0), undefined);
  assert.equal(c.get('k2', 0), small);
  const big = rec('b'.repeat(size * 3));
  c.update('k2', big); // too big: the old entry goes too, and nothing else is evicted
  assert.equal(c.get('k2', 0), undefined);
  assert.deepEqual(metrics(c), { hits: 1, misses: 2, evictions: 2, staleFills: 0, entries: 2, bytes: size * 2 });
  const mid = rec('m'.repeat(20 + 2 * size)); // exactly the bound: evicts both older ones
  c.update('k5', mid);
  assert.deepEqual(metrics(c), { hits: 1, misses: 2, evictions: 4, staleFills: 0, entries: 1, bytes: recordSize('k5', mid) });
});

test('bytes are exactly recordSize, for every kind of key and body', () => {
  const recs: [string, RecordEnvelope][] = [
    ['ascii', rec('plain')], ['ascii', rec('é and 😀')], ['ключ', rec('plain')], ['k', rec('lone \ud800 surrogate')],
    ['bin', { ...rec(''), f: 1, b: new Uint8Array([1, 2, 3, 250]) }], ['tagged', { ...rec('x'), t: ['a', 'ü'] }], ['', rec('')],
  ];
  for (const [k, r] of recs) {
    const c = new RecordCache({ maxEntries: 1 });
    c.update(k, r);
    assert.equal(c.metrics().bytes, recordSize(k, r), `${k}: ${String(r.b)}`);
  }
});

test('stale fill: a read that started before an update cannot put back the older record', () => {
  const c = new RecordCache({ maxEntries: 10 });
  const old = rec('old', 1);
  const fresh = rec('new', 2);
  const g = c.generation(); // read issued
  c.update('k', fresh); // a write applies meanwhile
  assert.equal(c.fill('k', old, g), false); // the read resolves with what it saw
  assert.equal(c.get('k', 0), fresh);
  // Same after a delete (the read saw the record, the key is gone now) and after an invalidation.
  const g2 = c.generation();
  c.update('k', undefined);
  assert.equal(c.fill('k', fresh, g2), false);
  assert.equal(c.get('k', 0), NEGATIVE);
  const g3 = c.generation();
  c.invalidate('k');
  assert.equal(c.fill('k', undefined, g3), false);
  assert.equal(c.get('k', 0), undefined);
  // Other keys' fills are not affected; a read issued after the change fills.
  c.update('other', rec('o'));
  assert.equal(c.fill('unchanged', fresh, g3), true);
  assert.equal(c.fill('k', fresh, c.generation()), true);
  assert.equal(c.metrics().staleFills, 3);
});

test('stale fill: invalidateWhere voids every in-flight fill; a small change window stays safe', () => {
  const c = new RecordCache({ maxEntries: 10 });
  const g = c.generation();
  c.invalidateWhere((k) => k.startsWith('user.'));
  assert.equal(c.fill('other', rec('o'), g), false, 'keys of in-flight reads are unknown: all are voided');
  const w = new RecordCache({ maxEntries: 10, changeWindow: 2 });
  const g1 = w.generation();
  w.update('a', rec('a'));
  w.update('b', rec('b'));
  assert.equal(w.fill('c', rec('c'), g1), true, 'c did not change and the window still covers the changes');
  w.update('d', rec('d')); // a leaves the window: its change is only known as "at or before the floor"
  assert.equal(w.fill('a', rec('old a'), g1), false);
  assert.equal(w.fill('x', rec('x'), g1), false, 'conservative: x may have changed');
  assert.equal(w.fill('x', rec('x'), w.generation()), true);
});

test('invalidate and invalidateWhere forget entries; metrics follow', () => {
  const c = new RecordCache({ maxEntries: 10 });
  const g = c.generation();
  for (const k of ['user.1', 'user.2', 'post.1', 'post.2']) c.fill(k, rec(k), g);
  c.invalidate('post.1');
  c.invalidate('missing');
  assert.equal(c.metrics().entries, 3);
  c.invalidateWhere((k) => k.startsWith('user.'));
  assert.equal(c.metrics().entries, 1);
  assert.equal(c.metrics().bytes, recordSize('post.2', rec('post.2')));
  assert.notEqual(c.get('post.2', 0), undefined);
  c.invalidateWhere();
  assert.deepEqual(metrics(c), { hits: 1, misses: 0, evictions: 0, staleFills: 0, entries: 0, bytes: 0 });
  c.fill('post.2', rec('p'), c.generation());
  assert.equal(c.metrics().entries, 1);
});

test('resize evicts the least recent entries and counts them; 0 caches nothing', () => {
  const c = new RecordCache({ maxEntries: 5 });
  const g = c.generation();
  for (const k of ['a', 'b', 'c', 'd', 'e']) c.fill(k, rec(k), g);
  c.get('a', 0);
  c.resize(2);
  assert.equal(c.metrics().evictions, 3);
  assert.equal(c.metrics().capacity, 2);
  assert.notEqual(c.get('a', 0), undefined);
  assert.notEqual(c.get('e', 0), undefined);
  c.resize(2, recordSize('a', rec('a')));
  assert.equal(c.metrics().entries, 1);
  assert.equal(c.metrics().maxBytes, recordSize('a', rec('a')));
  c.resize(0);
  assert.equal(c.metrics().entries, 0);
  c.fill('z', rec('z'), c.generation());
  c.update('y', rec('y'));
  assert.equal(c.metrics().entries, 0);
  assert.equal(c.metrics().evictions, 5);
});

test('bad sizes are validation errors', () => {
  for (const bad of [-1, 1.5, NaN, Infinity]) {
    assert.throws(() => new RecordCache({ maxEntries: bad }), { code: 'STORAGE_VALIDATION' });
    assert.throws(() => new RecordCache({ maxEntries: 1, maxBytes: bad }), { code: 'STORAGE_VALIDATION' });
  }
  assert.throws(() => new RecordCache({ maxEntries: 1, changeWindow: 0 }), { code: 'STORAGE_VALIDATION' });
});

// ------------------------------------------------------------------------------------------------
// Model test: a naive cache (arrays, exact per-key change log) and the authoritative store.

type Cached = RecordEnvelope | typeof NEGATIVE;

/** The same policy written the obvious way: O(n) everything, unbounded change log. */
class NaiveCache {
  list: { key: string; rec: Cached; size: number }[] = [];
  hits = 0;
  misses = 0;
  evictions = 0;
  staleFills = 0;
  clock = 0;
  floor = 0;
  changes = new Map<string, number>();
  constructor(public maxEntries: number, public maxBytes: number | undefined) {}
  get bytes(): number {
    return this.list.reduce((s, e) => s + e.size, 0);
  }
  private at(key: string): number {
    return this.list.findIndex((e) => e.key === key);
  }
  get(key: string, now: number): Cached | undefined {
    const i = this.at(key);
    if (i < 0) return void this.misses++;
    const [e] = this.list.splice(i, 1);
    if (e!.rec !== NEGATIVE && e!.rec.e !== 0 && e!.rec.e <= now) return void this.misses++;
    this.hits++;
    this.list.push(e!);
    return e!.rec;
  }
  fill(key: string, rec: RecordEnvelope | undefined, g: number): boolean {
    if ((this.changes.get(key) ?? this.floor) > g) {
      this.staleFills++;
      return false;
    }
    this.put(key, rec ?? NEGATIVE);
    return true;
  }
  update(key: string, rec: RecordEnvelope | undefined): void {
    this.changes.set(key, ++this.clock);
    if (rec) return this.put(key, rec);
    const e = this.list[this.at(key)];
    if (e) {
      e.rec = NEGATIVE;
      e.size = Buffer.byteLength(key) + NEGATIVE_OVERHEAD;
    }
  }
  invalidate(key: string): void {
    this.changes.set(key, ++this.clock);
    const i = this.at(key);
    if (i >= 0) this.list.splice(i, 1);
  }
  invalidateWhere(pred?: (k: string) => boolean): void {
    this.floor = ++this.clock;
    this.changes.clear();
    this.list = this.list.filter((e) => pred !== undefined && !pred(e.key));
  }
  resize(n: number, b: number | undefined): void {
    this.maxEntries = n;
    this.maxBytes = b;
    this.evict();
  }
  private put(key: string, rec: Cached): void {
    const size = rec === NEGATIVE ? Buffer.byteLength(key) + NEGATIVE_OVERHEAD : recordSize(key, rec);
    const i = this.at(key);
    if (i >= 0) this.list.splice(i, 1);
    if (this.maxEntries === 0 || (this.maxBytes !== undefined && size > this.maxBytes)) return;
    this.list.push({ key, rec, size });
    this.evict();
  }
  private evict(): void {
    while (this.list.length > this.maxEntries || this.bytes > (this.maxBytes ?? Infinity)) {
      this.list.shift();
      this.evictions++;
    }
  }
}

const KEYS = ['a', 'b', 'c', 'd', 'e', 'f', 'é.1'];
const key = fc.constantFrom(...KEYS);
const cmd = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('get' as const), k: key, readThrough: fc.boolean() }) },
  // A read sees the store when issued (seen now) or at some later engineRead/resolve.
  { weight: 3, arbitrary: fc.record({ t: fc.constant('startRead' as const), k: key, seeNow: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('engineRead' as const), i: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('resolve' as const), i: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('put' as const), k: key, ttl: fc.constantFrom(0, 0, 5, 20), pad: fc.nat({ max: 60 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('del' as const), k: key }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('remote' as const), k: key, put: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('remoteClear' as const), prefix: fc.constantFrom('', 'a', 'é') }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 15 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('sweep' as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('resize' as const), n: fc.integer({ min: 0, max: 6 }), bytes: fc.option(fc.integer({ min: 40, max: 300 }), { nil: undefined }) }) },
);
type Cmd = typeof cmd extends fc.Arbitrary<infer C> ? C : never;

/**
 * Runs commands against a RecordCache, the authoritative store and (when `naive`) the naive cache.
 * Safety, always: a hit is exactly the authoritative record at that moment (a live one), NEGATIVE
 * only when nothing is stored. With `naive`: every answer, counter and size equals the naive one.
 */
function run(cmds: Cmd[], maxEntries: number, maxBytes: number | undefined, changeWindow: number | undefined, naive: boolean): void {
  const cache = new RecordCache(changeWindow === undefined ? { maxEntries, maxBytes } : { maxEntries, maxBytes, changeWindow });
  const model = new NaiveCache(maxEntries, maxBytes);
  const store = new Map<string, RecordEnvelope>();
  const pending: { key: string; g: number; seen?: { rec: RecordEnvelope | undefined } }[] = [];
  let now = 1000;
  let version = 0;
  const write = (k: string, ttl: number, pad: number): RecordEnvelope => {
    const r: RecordEnvelope = { f: 0, c: now, u: now, e: ttl ? now + ttl : 0, l: ttl, t: undefined, n: ++version, b: JSON.stringify(`${k}#${version}${(pad % 3 ? '.' : 'ü').repeat(pad)}`) };
    store.set(k, r);
    return r;
  };
  const fill = (k: string, r: RecordEnvelope | undefined, g: number) => {
    const stored = cache.fill(k, r, g);
    if (naive) assert.equal(stored, model.fill(k, r, g));
  };
  const update = (k: string, r: RecordEnvelope | undefined) => {
    cache.update(k, r);
    if (naive) model.update(k, r);
  };
  for (const c of cmds) {
    switch (c.t) {
      case 'get': {
        const got = cache.get(c.k, now);
        if (naive) assert.equal(got, model.get(c.k, now), `get ${c.k}`);
        const truth = store.get(c.k);
        if (got === NEGATIVE) assert.equal(truth, undefined, `NEGATIVE for ${c.k} but a record is stored`);
        else if (got !== undefined) {
          assert.equal(got, truth, `hit for ${c.k} is not the stored record`);
          assert.ok(got.e === 0 || got.e > now, 'expired record served');
        }
        if (got === undefined && c.readThrough) fill(c.k, store.get(c.k), cache.generation());
        break;
      }
      case 'startRead':
        pending.push(c.seeNow ? { key: c.k, g: cache.generation(), seen: { rec: store.get(c.k) } } : { key: c.k, g: cache.generation() });
        break;
      case 'engineRead': {
        const p = pending[c.i % Math.max(1, pending.length)];
        if (p) p.seen ??= { rec: store.get(p.key) };
        break;
      }
      case 'resolve': {
        if (pending.length === 0) break;
        const [p] = pending.splice(c.i % pending.length, 1);
        fill(p!.key, p!.seen ? p!.seen.rec : store.get(p!.key), p!.g);
        break;
      }
      case 'put':
        update(c.k, write(c.k, c.ttl, c.pad));
        break;
      case 'del':
        store.delete(c.k);
        update(c.k, undefined);
        break;
      case 'remote': // another tab's write; its notice carries no record
        if (c.put) write(c.k, 0, 0);
        else store.delete(c.k);
        cache.invalidate(c.k);
        if (naive) model.invalidate(c.k);
        break;
      case 'remoteClear': {
        const pred = c.prefix === '' ? undefined : (k: string) => k.startsWith(c.prefix);
        for (const k of [...store.keys()]) if (!pred || pred(k)) store.delete(k);
        cache.invalidateWhere(pred);
        if (naive) model.invalidateWhere(pred);
        break;
      }
      case 'tick':
        now += c.ms;
        break;
      case 'sweep':
        for (const [k, r] of [...store]) {
          if (r.e !== 0 && r.e <= now) {
            store.delete(k);
            update(k, undefined);
          }
        }
        break;
      case 'resize':
        cache.resize(c.n, c.bytes);
        if (naive) model.resize(c.n, c.bytes);
        break;
    }
    const m = cache.metrics();
    assert.ok(m.entries <= m.capacity && m.bytes <= (m.maxBytes ?? Infinity), 'bounds hold');
    if (naive) {
      assert.deepEqual(metrics(cache), {
        hits: model.hits, misses: model.misses, evictions: model.evictions, staleFills: model.staleFills,
        entries: model.list.length, bytes: model.bytes,
      });
    }
  }
}

test('model: answers, LRU order, evictions, bytes and metrics equal a naive cache; every hit is the stored record', () => {
  fc.assert(
    fc.property(
      fc.array(cmd, { maxLength: 300, size: 'large' }), fc.integer({ min: 0, max: 6 }), fc.option(fc.integer({ min: 40, max: 300 }), { nil: undefined }),
      (cmds, maxEntries, maxBytes) => run(cmds, maxEntries, maxBytes, undefined, true),
    ),
    { numRuns: 400, seed: 5 },
  );
});

test('model: with a tiny change window (conservative fills) every hit is still the stored record', () => {
  fc.assert(
    fc.property(
      fc.array(cmd, { maxLength: 300, size: 'large' }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 3 }),
      (cmds, maxEntries, changeWindow) => run(cmds, maxEntries, undefined, changeWindow, false),
    ),
    { numRuns: 1000, seed: 6 },
  );
});
