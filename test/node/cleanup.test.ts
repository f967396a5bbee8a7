/**
 * Auto-cleanup's core (src/core/cleanup.ts): the access order against a model, walks that pause
 * while keys move, and the choice of victims (expired first, keep/pinned skipped, sizes recorded
 * or read, all or nothing) with the synchronous and the asynchronous driver.
 */
import fc from 'fast-check';
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { AccessOrder, evictions, victims, type Cursor, type ExpiryIndex, type Room } from '../../src/core/cleanup.ts';
import { createMemoryEngine } from '../../src/core/memory-engine.ts';
import { recordSize, type RecordEnvelope } from '../../src/core/record.ts';

const walk = (c: Cursor): string[] => {
  const out: string[] = [];
  for (let k = c.next(); k !== undefined; k = c.next()) out.push(k);
  return out;
};

type Op = { touch: string } | { forget: string } | { seed: string[] };
const key = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: key.map((k) => ({ touch: k })) },
  { weight: 2, arbitrary: key.map((k) => ({ forget: k })) },
  { weight: 1, arbitrary: fc.uniqueArray(key, { maxLength: 4 }).map((ks) => ({ seed: ks })) },
);

test('access order: lru and lfu walks agree with a model through uses, forgets and seeds', () => {
  fc.assert(fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 0, max: 60 }), (ops, lfuFrom) => {
    const order = new AccessOrder();
    /** Keys least recent first, with use counts. */
    let model: [string, number][] = [];
    ops.forEach((o, i) => {
      if (i === lfuFrom) walk(order.cursor('lfu')); // from here on the count rings are kept up to date
      if ('touch' in o) {
        const n = model.find(([k]) => k === o.touch)?.[1] ?? 0;
        model = [...model.filter(([k]) => k !== o.touch), [o.touch, n + 1]];
        order.touch(o.touch);
      } else if ('forget' in o) {
        model = model.filter(([k]) => k !== o.forget);
        order.forget(o.forget);
      } else {
        model = [...o.seed.filter((k) => !model.some(([m]) => m === k)).map((k): [string, number] => [k, 0]), ...model];
        order.seed(o.seed.map((k) => [k, 10]));
      }
      assert.deepEqual(walk(order.cursor('lru')), model.map(([k]) => k));
      assert.deepEqual(walk(order.cursor('lfu')), [...model].sort((x, y) => x[1] - y[1]).map(([k]) => k), 'lfu: stable by count');
    });
  }));
});

test('access order: a walk that pauses while keys are used or forgotten ends, visits every key that stayed put, and repeats only moved keys or after a restart', () => {
  fc.assert(fc.property(fc.array(key, { minLength: 1, maxLength: 12 }), fc.integer({ min: 0, max: 6 }), fc.array(op, { maxLength: 8 }), fc.boolean(), (start, steps, meanwhile, lfu) => {
    const order = new AccessOrder();
    for (const k of start) order.touch(k);
    const c = order.cursor(lfu ? 'lfu' : 'lru');
    const seen: string[] = [];
    for (let i = 0; i < steps; i++) {
      const k = c.next();
      if (k !== undefined) seen.push(k);
    }
    const moved = new Set<string>();
    for (const o of meanwhile) {
      if ('touch' in o) (order.touch(o.touch), moved.add(o.touch));
      else if ('forget' in o) (order.forget(o.forget), moved.add(o.forget));
      else for (const k of o.seed) (order.seed([[k, 1]]), moved.add(k));
    }
    const rest = walk(c);
    for (const k of new Set(start)) if (!moved.has(k)) assert.ok(seen.includes(k) || rest.includes(k), `${k} was skipped`);
    const all = [...seen, ...rest];
    const twice = all.filter((k, i) => all.indexOf(k) !== i);
    if (c.restarts === 0) for (const k of twice) assert.ok(moved.has(k), `${k} came twice, though it stayed put and the walk never restarted`);
  }));
});

test('access order: sizes are recorded per record, and spare entries are reused without leaking sizes', () => {
  const order = new AccessOrder();
  const r1 = { b: 'x' } as unknown as RecordEnvelope;
  const r2 = { b: 'y' } as unknown as RecordEnvelope;
  order.touch('a', 50, r1);
  assert.equal(order.sizeOf('a', r1), 50);
  assert.equal(order.sizeOf('a', r2), undefined, 'another record of the key: not known');
  order.touch('a'); // a read keeps the size
  assert.equal(order.knownSize('a'), 50);
  order.touch('a', -1); // a write of unknown size
  assert.equal(order.sizeOf('a', r1), undefined);
  order.touch('a', 60);
  assert.equal(order.knownSize('a'), 60);
  assert.equal(order.sizeOf('a', r1), undefined, 'no record given: sizes are not matched by record');
  order.forget('a');
  order.touch('b'); // reuses a's entry
  assert.equal(order.knownSize('b'), -1);
  assert.equal(order.knownSize('a'), -1);
  assert.deepEqual(walk(order.cursor('lfu')), ['b']);
});

const rec = (body: string, e = 0): RecordEnvelope => ({ f: 0, c: 1, u: 1, e, l: 0, t: undefined, n: 1, b: JSON.stringify(body) });
const expiryKey = (e: number, k: string) => e.toString(16).padStart(12, '0') + k;

/** A memory engine with records k0..k9 (k5 expired, with its expiry-index entry), used in order. */
function store(now: number) {
  const engine = createMemoryEngine();
  const order = new AccessOrder();
  const recs = new Map<string, RecordEnvelope>();
  for (let i = 0; i < 10; i++) {
    const k = `k${i}`;
    const r = rec('v'.repeat(10 + i), i === 5 ? now - 1 : 0);
    recs.set(k, r);
    engine.batch([{ type: 'put', space: 'r', key: k, value: r }]);
    if (r.e) engine.batch([{ type: 'put', space: 'x', key: expiryKey(r.e, k), value: 0 }]);
    order.touch(k, recordSize(k, r), r);
  }
  const size = (...ks: string[]) => ks.reduce((t, k) => t + recordSize(k, recs.get(k)!), 0);
  const expiry = (due: boolean): ExpiryIndex => ({ space: 'x', digits: 12, due: due ? { lt: expiryKey(now + 1, '') } : undefined });
  return { engine, order, size, expiry };
}

const room = (bytes: number, ahead: number, extra: Partial<Room> = {}): Room => ({ bytes, ahead, keep: new Set(), pinned: new Map(), exclusive: false, ...extra });

test('victims: expired first, then least recently used, until `ahead` is freed; keep and pinned keys are skipped', async () => {
  const now = Date.now();
  for (const sync of [true, false] as const) {
    const s = store(now);
    const pick = (r: Room, due = true) => (sync ? victims(s.engine, 'lru', s.order, r, s.expiry(due), true) : victims(s.engine, 'lru', s.order, r, s.expiry(due)));
    assert.deepEqual(await pick(room(1, s.size('k5', 'k0', 'k1'))), ['k5', 'k0', 'k1']);
    assert.deepEqual(await pick(room(1, s.size('k0', 'k1')), false), ['k0', 'k1'], 'nothing due: the order alone');
    assert.deepEqual(await pick(room(1, s.size('k5', 'k0', 'k2'), { keep: new Set(['k1']), pinned: new Map([['k3', 1]]) })), ['k5', 'k0', 'k2']);
    assert.deepEqual(await pick(room(s.size('k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8', 'k9') + 1, Infinity)), [], 'not enough: nothing');
    s.order.touch('k0');
    assert.deepEqual(await pick(room(1, 1), false), ['k1'], 'a use moves a key to the back');
  }
});

test('victims: recorded sizes are used without reading (exclusive); otherwise records are read, and keys gone are forgotten', () => {
  const now = Date.now();
  const s = store(now);
  const reads = () => s.engine.stats.reads;
  let before = reads();
  assert.deepEqual(victims(s.engine, 'lru', s.order, room(1, s.size('k0', 'k1'), { exclusive: true }), s.expiry(false), true), ['k0', 'k1']);
  assert.equal(reads() - before, 0, 'no read');
  s.engine.batch([{ type: 'del', space: 'r', key: 'k0' }]); // gone where the order did not see it
  before = reads();
  assert.deepEqual(victims(s.engine, 'lru', s.order, room(1, s.size('k1')), s.expiry(false), true), ['k1']);
  assert.ok(reads() - before > 0, 'read');
  assert.deepEqual(walk(s.order.cursor('lru')).slice(0, 2), ['k1', 'k2'], 'k0 forgotten');
});

test('victims: lfu picks the least used first; ttl the soonest deadline first', async () => {
  const now = Date.now();
  const s = store(now);
  for (let i = 0; i < 3; i++) s.order.touch('k0');
  s.order.touch('k1');
  assert.deepEqual(victims(s.engine, 'lfu', s.order, room(1, s.size('k2', 'k3')), s.expiry(false), true), ['k2', 'k3']);
  // A deadline far off for k8: ttl evicts it before entries without one (then the lru order: k2 on).
  s.engine.batch([{ type: 'put', space: 'x', key: expiryKey(now + 1e9, 'k8'), value: 0 }]);
  assert.deepEqual(await victims(s.engine, 'ttl', s.order, room(1, s.size('k5', 'k8', 'k2')), s.expiry(true)), ['k5', 'k8', 'k2']);
});

test('evictions: deletes each stored victim and its expiry-index entry, counts its bytes, names the reason', () => {
  const now = Date.now();
  const s = store(now);
  const keys = ['k5', 'k1', 'gone'];
  const olds = keys.map((k) => s.engine.get('r', k)) as (RecordEnvelope | undefined)[];
  const e = evictions(keys, olds, 'lru', s.order, 'mem', expiryKey);
  assert.deepEqual(e.evicted, ['k5', 'k1']);
  assert.equal(e.freed, s.size('k5', 'k1'));
  assert.deepEqual(e.batch, [
    { type: 'del', space: 'r', key: 'k5' }, { type: 'del', space: 'x', key: expiryKey(olds[0]!.e, 'k5') },
    { type: 'del', space: 'r', key: 'k1' },
  ]);
  assert.deepEqual(e.events, [['evict', { key: 'k5', backend: 'mem', reason: 'expired' }], ['evict', { key: 'k1', backend: 'mem', reason: 'lru' }]]);
  assert.equal(evictions(keys, olds, 'lru', undefined, undefined, expiryKey).events, undefined, 'no listener: no events');
});
