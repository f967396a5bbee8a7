/**
 * Time series in Node: the pure parts (key encoding, validation, bucket math, rollup merge) as
 * properties, then behaviour on the memory engine and LevelDB that the cross-engine cases in
 * test/conformance/timeseries.ts do not cover: read counts of the rollup path, retention in chunks
 * and by range, the background sweep, re-planning on a stale config, concurrency, large batches.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { StorageSystem } from '../../src/index.node.ts';
import type { Backend } from '../../src/core/backend';
import {
  MAX_TIMESTAMP, TimeSeries, bucketize, checkQuery, checkRetention, escapeTagValue, formatDuration, hexTime, mergeAgg,
  parseDuration, percentile, seriesId, sortUnique, type TimeSeriesPoint,
} from '../../src/core/timeseries';
import { ALL_AGGREGATES, Model, randomPoints, rng, sameBuckets } from '../conformance/timeseries';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return 'no error';
};

// ------------------------------------------------------------------ pure parts

describe('time-series keys', () => {
  const arbName = fc.stringMatching(/^[A-Za-z0-9_.:/-]{1,12}$/);
  const arbTags = fc.dictionary(fc.stringMatching(/^[a-z0-9_.:/-]{1,6}$/), fc.string({ unit: 'binary', maxLength: 8 }), { maxKeys: 4 });

  test('series ids use only code units below U+D800, never contain a separator inside a part, and are prefix-free', () => {
    fc.assert(fc.property(arbName, arbTags, arbName, arbTags, (m1, t1, m2, t2) => {
      const a = seriesId(m1, t1);
      const b = seriesId(m2, t2);
      for (const id of [a, b]) {
        assert.ok([...id].every((c) => c.charCodeAt(0) < 0xd800), JSON.stringify(id));
        assert.equal(id.indexOf('\x00'), id.length - 1, 'the terminator only at the end');
      }
      const same = m1 === m2 && JSON.stringify(Object.entries(t1).sort()) === JSON.stringify(Object.entries(t2).sort());
      assert.equal(a === b, same, 'one id per (metric, tag set)');
      if (!same) assert.ok(!a.startsWith(b) && !b.startsWith(a), 'no id is a prefix of another');
    }), { numRuns: 2000 });
  });

  test('tag order does not matter; escaping is injective', () => {
    assert.equal(seriesId('m', { b: '1', a: '2' }), seriesId('m', { a: '2', b: '1' }));
    fc.assert(fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (x, y) => {
      assert.equal(escapeTagValue(x) === escapeTagValue(y), x === y);
      assert.ok(!/[\x00-\x02]/.test(escapeTagValue(x)));
    }), { numRuns: 2000 });
  });

  test('12 hex digits keep numeric order as string order up to MAX_TIMESTAMP', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: MAX_TIMESTAMP }), fc.integer({ min: 0, max: MAX_TIMESTAMP }), (a, b) => {
      assert.equal(hexTime(a).length, 12);
      assert.equal(Math.sign(a - b), hexTime(a) < hexTime(b) ? -1 : hexTime(a) > hexTime(b) ? 1 : 0);
    }));
  });
});

describe('time-series validation', () => {
  test('durations parse and print', () => {
    assert.equal(parseDuration('1m', 'd', 1000, 1e15), MINUTE);
    assert.equal(parseDuration('1.5h', 'd', 1000, 1e15), 90 * MINUTE);
    assert.equal(parseDuration('2w', 'd', 1000, 1e15), 14 * DAY);
    assert.equal(parseDuration(2500, 'd', 1000, 1e15), 2500);
    for (const bad of ['1', '1x', ' 1m', '-1m', '1.0001s', 999, 1.5, Infinity, null, '']) assert.equal(code(() => parseDuration(bad, 'd', 1000, 1e15)), 'STORAGE_VALIDATION', String(bad));
    assert.deepEqual([MINUTE, HOUR, DAY, 7 * DAY, 90_000, 1500].map(formatDuration), ['1m', '1h', '1d', '1w', '90s', '1500ms']);
    fc.assert(fc.property(fc.integer({ min: 1000, max: 1e13 }), (ms) => assert.equal(parseDuration(formatDuration(ms), 'd', 1000, 1e13), ms)));
  });

  test('queries are normalised: [from, to) over integer ms, Dates accepted, defaults', () => {
    const q = checkQuery({ metric: 'm', from: new Date(1000), to: 2000.5, interval: '1m', aggregate: ['p95', 'avg', 'p95'] });
    assert.deepEqual(q, { metric: 'm', from: 1000, to: 2001, tags: undefined, interval: MINUTE, aggregates: ['p95', 'avg'], limit: Infinity });
    const d = checkQuery({ metric: 'm', tags: { b: 'x', a: 'y' } });
    assert.deepEqual([d.from, d.to, d.interval, d.aggregates.length, Object.keys(d.tags!)], [0, MAX_TIMESTAMP + 1, undefined, 7, ['a', 'b']]);
    assert.equal(checkQuery({ metric: 'm', from: -5 }).from, 0, 'times before the epoch clamp to 0');
  });

  test('retention: intervals are whole minutes, rollups kept at least as long as raw points', () => {
    assert.deepEqual(checkRetention('m', { raw: '7d', rollups: { '1h': '90d', '1d': null } }), { metric: 'm', raw: 7 * DAY, rollups: [[HOUR, 90 * DAY], [DAY, null]] });
    assert.deepEqual(checkRetention('m', { raw: null }), { metric: 'm', raw: null, rollups: [] });
    assert.equal(code(() => checkRetention('m', { raw: '7d', rollups: { '1h': '6d' } })), 'STORAGE_VALIDATION');
    assert.equal(code(() => checkRetention('m', { rollups: { '45s': null } })), 'STORAGE_VALIDATION');
    assert.equal(code(() => checkRetention('m', { raw: '1s' })), 'no error');
  });
});

describe('time-series aggregation', () => {
  const arbPoints = fc.array(fc.record({ timestamp: fc.integer({ min: 0, max: 10 * HOUR }), value: fc.integer({ min: -1000, max: 1000 }) }), { maxLength: 300 })
    .map((ps) => ps.sort((a, b) => a.timestamp - b.timestamp));

  test('merging bucket aggregates of any split equals aggregating all points (the rollup invariant)', () => {
    fc.assert(fc.property(arbPoints, fc.array(fc.nat(), { maxLength: 5 }), fc.constantFrom(MINUTE, HOUR, 7000), (points, cuts, interval) => {
      const whole = bucketize(points, interval, ALL_AGGREGATES.filter((a) => !a.startsWith('p')));
      // Aggregates of consecutive slices, merged bucket by bucket.
      const bounds = [0, ...cuts.map((c) => c % (points.length + 1)).sort((a, b) => a - b), points.length];
      const merged = new Map<number, number[]>();
      for (let i = 0; i + 1 < bounds.length; i++) {
        for (const b of bucketize(points.slice(bounds[i], bounds[i + 1]), interval, ['count', 'sum', 'min', 'max', 'first', 'last'])) {
          const agg = [b.count!, b.sum!, b.min!, b.max!, 0, b.first!, 0, b.last!];
          const firstTs = points.find((p) => p.timestamp >= b.start && p.timestamp < b.end && p.value === b.first)!.timestamp;
          agg[4] = firstTs;
          agg[6] = points.findLast((p) => p.timestamp >= b.start && p.timestamp < b.end && p.value === b.last)!.timestamp;
          merged.set(b.start, merged.has(b.start) ? mergeAgg(merged.get(b.start)!, agg) : agg);
        }
      }
      assert.deepEqual(whole.map((r) => [r.start, r.count, r.sum, r.min, r.max, r.first, r.last]), [...merged].sort((a, b) => a[0] - b[0]).map(([s, a]) => [s, a[0], a[1], a[2], a[3], a[5], a[7]]));
    }), { numRuns: 300 });
  });

  test('bucketize equals the reference model', () => {
    fc.assert(fc.property(arbPoints, fc.constantFrom(MINUTE, HOUR, 1000, 90_000), (points, interval) => {
      const model = new Model();
      const unique = [...new Map(points.map((p) => [p.timestamp, p])).values()];
      model.write(unique.map((p) => ({ metric: 'm', ...p })));
      sameBuckets(bucketize(unique, interval, ALL_AGGREGATES), model.buckets('m', interval, ALL_AGGREGATES), 'bucketize');
    }), { numRuns: 300 });
  });

  test('merge tie rules: equal first timestamps keep the left one, equal last timestamps take the right one', () => {
    assert.deepEqual(mergeAgg([1, 1, 1, 1, 5, 1, 9, 1], [1, 2, 2, 2, 5, 2, 9, 2]), [2, 3, 1, 2, 5, 1, 9, 2]);
  });

  test('percentiles use the nearest rank', () => {
    const v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert.deepEqual([0.5, 0.9, 0.95, 0.99].map((q) => percentile(v, q)), [5, 9, 10, 10]);
    assert.equal(percentile([42], 0.99), 42);
    assert.equal(percentile([1, 2], 0.5), 1);
  });

  test('sortUnique sorts by time and keeps the last of equal timestamps', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer())), (pairs) => {
      const b = { ts: pairs.map((p) => p[0]), vs: pairs.map((p) => p[1]) };
      sortUnique(b);
      const expected = [...new Map(pairs).entries()].sort((x, y) => x[0] - y[0]);
      assert.deepEqual(b.ts.map((t, i) => [t, b.vs[i]]), expected);
    }));
  });
});

// ------------------------------------------------------------------ on engines

interface Store { storage: StorageSystem; backend: Backend; ts: TimeSeries; close(): Promise<void> }

const engines: Record<string, (options?: Record<string, unknown>) => Promise<Store>> = {
  async memory(options = {}) {
    const storage = new StorageSystem();
    const backend = storage.createBackend('memory', { sweepInterval: 0, ...options });
    await backend.open();
    return { storage, backend, ts: await backend.loadTimeSeries(), close: () => storage.close() };
  },
  async leveldb(options = {}) {
    const dir = await mkdtemp(join(tmpdir(), 'tierstore-ts-'));
    const storage = new StorageSystem({ defaultBackend: 'file' });
    const backend = storage.createBackend('file', { basePath: dir, sweepInterval: 0, ...options });
    await backend.open();
    return { storage, backend, ts: await backend.loadTimeSeries(), close: async () => { await storage.close(); await rm(dir, { recursive: true, force: true }); } };
  },
};

for (const [engine, open] of Object.entries(engines)) {
  describe(`time series on ${engine}`, () => {
    test('a 1h query over 20,000 points reads rollup buckets, not the points', async () => {
      const s = await open();
      try {
        const base = Date.UTC(2024, 0, 1);
        const points = Array.from({ length: 20_000 }, (_, i): TimeSeriesPoint => ({ metric: 'm.fast', timestamp: base + i * 1000, value: i % 97 }));
        await s.ts.write(points);
        const ranges: string[] = [];
        const read = s.backend.rawRange.bind(s.backend);
        s.backend.rawRange = async (space, q) => {
          const out = await read(space, q);
          ranges.push(`${q.gte?.[0]}:${out.length}`);
          return out;
        };
        const rows = await s.ts.query({ metric: 'm.fast', interval: '1h', aggregate: ['count', 'avg', 'max'] });
        const model = new Model();
        model.write(points);
        sameBuckets(rows, model.buckets('m.fast', HOUR, ['count', 'avg', 'max']), 'rollup answer');
        const entries = ranges.reduce((n, r) => n + Number(r.split(':')[1]), 0);
        assert.ok(entries < 20, `entries read: ${ranges.join(' ')}`);
        assert.ok(!ranges.some((r) => r.startsWith('p')), 'no raw point range read');
        ranges.length = 0;
        await s.ts.query({ metric: 'm.fast', interval: '1h', aggregate: ['p95'] });
        assert.ok(ranges.some((r) => r.startsWith('p')), 'percentiles read raw points');
      } finally {
        await s.close();
      }
    });

    test('retention lists only the expired range and deletes at most 1,000 keys per write', async () => {
      const s = await open();
      try {
        const now = Date.now();
        await s.ts.write(Array.from({ length: 2500 }, (_, i) => ({ metric: 'm.chunks', timestamp: now - 5 * HOUR + i * 100, value: i })));
        await s.ts.write(Array.from({ length: 50 }, (_, i) => ({ metric: 'm.chunks', timestamp: now - 10 * MINUTE + i * 1000, value: i })));
        await s.ts.write({ metric: 'm.other', timestamp: now - 5 * HOUR, value: 1 });
        await s.ts.setRetention('m.chunks', { raw: '1h' });
        const before = (await s.backend.rawKeys('t', {})).length;
        const writes: number[] = [];
        const listed: string[] = [];
        const write = s.backend.rawWrite.bind(s.backend);
        const keys = s.backend.rawKeys.bind(s.backend);
        s.backend.rawWrite = (reads, fn, d) => write(reads, (values, now) => {
          const out = fn(values, now);
          writes.push(out.ops.filter((o) => o.type === 'del').length);
          return out;
        }, d);
        s.backend.rawKeys = async (space, q) => {
          const out = await keys(space, q);
          listed.push(...out);
          return out;
        };
        await s.ts.maintain();
        assert.ok(writes.every((n) => n <= 1000), `deletes per write: ${writes}`);
        const after = (await keys('t', {})).length;
        assert.ok(before - after >= 2500 + 5, `every expired point and bucket (${before - after})`);
        assert.equal(writes.reduce((a, b) => a + b, 0), before - after);
        assert.ok(listed.every((k) => k.includes('m.chunks')), `nothing of another metric is listed: ${JSON.stringify(listed.filter((k) => !k.includes('m.chunks')).slice(0, 5))}`);
        const left = (await s.backend.rawKeys('t', { gte: 'p', lt: 'q' })).filter((k) => k.includes('m.chunks'));
        assert.equal(left.length, 50);
        // A second pass right away has nothing to do (and is throttled).
        writes.length = 0;
        await s.ts.maintain();
        assert.deepEqual(writes, []);
      } finally {
        await s.close();
      }
    });

    test('the background sweep runs retention', async () => {
      const s = await open({ sweepInterval: 20 });
      try {
        const now = Date.now();
        await s.ts.write([{ metric: 'm.sweep', timestamp: now - 10_000, value: 1 }, { metric: 'm.sweep', timestamp: now + 60_000, value: 2 }]);
        await s.ts.setRetention('m.sweep', { raw: '2s' });
        for (let i = 0; i < 100; i++) {
          const keys = await s.backend.rawKeys('t', { gte: 'pm.sweep', lt: 'pm.sweep\x01' });
          if (keys.length === 1) return;
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.fail('the expired point was not deleted by the sweep');
      } finally {
        await s.close();
      }
    });

    test('a write planned with a stale config is re-planned: a rollup added elsewhere is maintained', async () => {
      const s = await open();
      try {
        const other = new TimeSeries(s.backend); // another context's view of the same keyspace
        const model = new Model();
        const base = Date.UTC(2024, 0, 1);
        const first = randomPoints(rng(1), 300, base, 6 * HOUR, 'm.stale');
        await s.ts.write(first);
        model.write(first);
        await other.setRetention('m.stale', { rollups: { '5m': null } });
        const second = randomPoints(rng(2), 300, base, 6 * HOUR, 'm.stale');
        await s.ts.write(second); // s.ts still believes m.stale has 1m and 1h only
        model.write(second);
        const plain = ALL_AGGREGATES.filter((a) => !a.startsWith('p'));
        sameBuckets(await s.ts.query({ metric: 'm.stale', interval: '5m', aggregate: plain }), model.buckets('m.stale', 5 * MINUTE, plain), '5m from its rollup');
        const fives = await s.backend.rawRange('t', { gte: 'r' + (5 * MINUTE).toString(16).padStart(10, '0'), lt: 'r' + (5 * MINUTE + 1).toString(16).padStart(10, '0') });
        assert.equal(fives.reduce((n, [, e]) => n + (e as number[])[0]!, 0), model.raw('m.stale').length, 'the 5m buckets count every point once');
      } finally {
        await s.close();
      }
    });

    test('concurrent writes, overwrites and queries end in the state of the model', async () => {
      const s = await open();
      try {
        const random = rng(99);
        const model = new Model();
        const base = Date.UTC(2024, 6, 1);
        for (let round = 0; round < 5; round++) {
          // Calls in one round touch disjoint timestamps; rounds overwrite each other's points.
          const calls = Array.from({ length: 8 }, (_, c) => randomPoints(random, 200, base + c * 3 * HOUR, 3 * HOUR, 'm.conc', 4));
          await Promise.all(calls.map((points) => s.ts.write(points)));
          for (const points of calls) model.write(points);
        }
        assert.deepEqual(await s.ts.query({ metric: 'm.conc' }), model.raw('m.conc'));
        for (const [interval, ms] of [['1m', MINUTE], ['1h', HOUR], ['1d', DAY]] as const) {
          sameBuckets(await s.ts.query({ metric: 'm.conc', interval, aggregate: ALL_AGGREGATES }), model.buckets('m.conc', ms, ALL_AGGREGATES), interval);
          const plain = ALL_AGGREGATES.filter((a) => !a.startsWith('p'));
          sameBuckets(await s.ts.query({ metric: 'm.conc', interval, aggregate: plain }), model.buckets('m.conc', ms, plain), `${interval} from rollups`);
        }
      } finally {
        await s.close();
      }
    });

    test('100,000 points in one call are one atomic write', async () => {
      const s = await open();
      try {
        const base = Date.UTC(2024, 0, 1);
        const points = Array.from({ length: 100_000 }, (_, i): TimeSeriesPoint => ({ metric: 'm.big', timestamp: base + i * 250, value: i, tags: { s: String(i % 10) } }));
        let batches = 0;
        const write = s.backend.rawWrite.bind(s.backend);
        s.backend.rawWrite = (reads, fn, d) => { batches++; return write(reads, fn, d); };
        await s.ts.write(points);
        assert.equal(batches, 1);
        const [row] = await s.ts.query({ metric: 'm.big', interval: '1d', aggregate: ['count', 'sum'] });
        assert.deepEqual(row, { start: base, end: base + DAY, count: 100_000, sum: (99_999 * 100_000) / 2 });
        // One bad point at the end: nothing of the call is written.
        const before = (await s.backend.rawKeys('t', {})).length;
        await assert.rejects(s.ts.write([...points.map((p) => ({ ...p, timestamp: (p.timestamp as number) + DAY })).slice(0, 99_999), { metric: 'm.big', timestamp: 1, value: NaN }]), { code: 'STORAGE_VALIDATION' });
        assert.equal((await s.backend.rawKeys('t', {})).length, before);
      } finally {
        await s.close();
      }
    });

    test('replacing a point in a bucket whose raw points partly expired: count, sum, first and last stay exact', async () => {
      const s = await open();
      try {
        const now = Date.now();
        // Raw points kept 1 s: once maintained, only the 1d rollup knows these points.
        const points = Array.from({ length: 20 }, (_, i) => ({ metric: 'm.part', timestamp: now - 30 * MINUTE + i * MINUTE, value: i + 1 }));
        await s.ts.write(points);
        await s.ts.setRetention('m.part', { raw: '1s', rollups: { '1d': null } });
        await s.ts.maintain();
        const last = points.at(-1)!;
        await new Promise((r) => setTimeout(r, 5));
        await s.ts.write({ ...last, value: 100 }); // older than 1 s: merged as a new point (its raw point is gone)
        const rows = await s.ts.query({ metric: 'm.part', interval: '1d', aggregate: ['count', 'sum', 'last', 'p50'] });
        assert.deepEqual([rows.reduce((n, r) => n + r.count!, 0), rows.reduce((n, r) => n + r.sum!, 0), rows.at(-1)!.last, rows.map((r) => r.p50)], [21, 310, 100, rows.map(() => null)]);
      } finally {
        await s.close();
      }
    });
  });
}
