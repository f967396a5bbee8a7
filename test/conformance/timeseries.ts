/**
 * Time series on every engine: raw queries and bucket aggregates compared with a reference model
 * computed from the points the test wrote (random data, seeded), rollups after overwrites,
 * retention, backfill of new rollup intervals, and rejected input leaving the keyspace unchanged.
 */
import type { Backend } from '../../src/core/backend';
import type { StorageSystem } from '../../src/core/system';
import {
  seriesId, type TimeSeriesAggregate, type TimeSeriesBucket, type TimeSeriesPoint, type TimeSeriesSample,
} from '../../src/core/timeseries';
import type { TimeSeries } from '../../src/core/timeseries-handle';
import { AssertionError, deepEqual, equal, ok, rejects } from '../support/assert';
import type { Declare, Fixture, Target } from './types';
import { storeRunner } from './util';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
export const ALL_AGGREGATES: TimeSeriesAggregate[] = ['count', 'sum', 'avg', 'min', 'max', 'first', 'last', 'p50', 'p90', 'p95', 'p99'];

/** Deterministic pseudo-random numbers (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * What the store should hold: last write wins per (series, timestamp). Written independently of
 * the implementation; only the tie order of equal timestamps uses the documented series order.
 */
export class Model {
  readonly series = new Map<string, { metric: string; tags: Record<string, string>; points: Map<number, number> }>();

  write(points: readonly TimeSeriesPoint[]): void {
    for (const p of points) {
      const tags = p.tags ?? {};
      const id = seriesId(p.metric, tags);
      let s = this.series.get(id);
      if (!s) this.series.set(id, (s = { metric: p.metric, tags: { ...tags }, points: new Map() }));
      s.points.set(+p.timestamp, p.value === 0 ? 0 : p.value);
    }
  }

  /** Points in [from, to) of the matching series, by (timestamp, series id). */
  raw(metric: string, from = 0, to = Infinity, tags: Record<string, string> = {}): TimeSeriesSample[] {
    const out: (TimeSeriesSample & { id: string })[] = [];
    for (const [id, s] of this.series) {
      if (s.metric !== metric || Object.entries(tags).some(([k, v]) => s.tags[k] !== v)) continue;
      for (const [t, value] of s.points) if (t >= from && t < to) out.push({ id, metric, timestamp: t, value, tags: s.tags });
    }
    out.sort((a, b) => a.timestamp - b.timestamp || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return out.map(({ id: _, ...rest }) => rest);
  }

  /** Non-empty buckets of `interval` (aligned to the epoch), clipped to [from, to). */
  buckets(metric: string, interval: number, aggregates: readonly TimeSeriesAggregate[], from = 0, to = Infinity, tags: Record<string, string> = {}, pExact: (start: number) => boolean = () => true): TimeSeriesBucket[] {
    const groups = new Map<number, TimeSeriesSample[]>();
    for (const p of this.raw(metric, from, to, tags)) {
      const b = p.timestamp - (p.timestamp % interval);
      if (!groups.has(b)) groups.set(b, []);
      groups.get(b)!.push(p);
    }
    return [...groups.keys()].sort((a, b) => a - b).map((b) => {
      const pts = groups.get(b)!;
      const values = pts.map((p) => p.value);
      const sorted = [...values].sort((x, y) => x - y);
      const start = Math.max(b, from);
      const row: TimeSeriesBucket = { start, end: Math.min(b + interval, to) };
      for (const a of aggregates) {
        if (a === 'count') row.count = pts.length;
        else if (a === 'sum') row.sum = values.reduce((x, y) => x + y, 0);
        else if (a === 'avg') row.avg = values.reduce((x, y) => x + y, 0) / pts.length;
        else if (a === 'min') row.min = sorted[0]!;
        else if (a === 'max') row.max = sorted.at(-1)!;
        else if (a === 'first') row.first = pts[0]!.value;
        else if (a === 'last') row.last = pts.at(-1)!.value;
        else {
          const q = Number(a.slice(1)) / 100;
          // Nearest rank: the smallest value with at least q of the values at or below it.
          let v = sorted[0]!;
          for (let i = 0; i < sorted.length; i++) if ((i + 1) / sorted.length >= q - 1e-12) { v = sorted[i]!; break; }
          row[a] = pExact(start) ? v : null;
        }
      }
      return row;
    });
  }
}

/** Random points: `series` tag sets, timestamps in [base, base + span), integer values (sums are exact in any order). */
export function randomPoints(random: () => number, n: number, base: number, span: number, metric = 'm.rand', series = 5): TimeSeriesPoint[] {
  const out: TimeSeriesPoint[] = [];
  for (let i = 0; i < n; i++) {
    const s = Math.floor(random() * series);
    out.push({ metric, timestamp: base + Math.floor(random() * span), value: Math.floor(random() * 2001) - 1000, tags: { host: `h${s % 3}`, shard: String(s) } });
  }
  return out;
}

/** Compares bucket rows; `avg` within a relative 1e-9 (its sum is exact, the division may round differently). */
export function sameBuckets(actual: TimeSeriesBucket[], expected: TimeSeriesBucket[], label: string): void {
  const strip = (rows: TimeSeriesBucket[]) => rows.map(({ avg: _, ...r }) => r);
  deepEqual(strip(actual), strip(expected), label);
  expected.forEach((e, i) => {
    if (e.avg === undefined) return;
    const a = actual[i]!.avg!;
    if (!(Math.abs(a - e.avg) <= 1e-9 * Math.max(1, Math.abs(e.avg)))) throw new AssertionError(`${label}: bucket ${i} avg ${a} != ${e.avg}`);
  });
}

/** Every entry of the time-series keyspace of the storage's default backend. */
export async function dumpSeries(storage: StorageSystem): Promise<[string, unknown][]> {
  return backendOf(storage).rawRange('t', {});
}

/** The storage's default backend (fixtures create it before handing the storage out). */
export const backendOf = (storage: StorageSystem): Backend => storage.getBackend(storage.defaultBackend)!;

/** Asserts `action` rejects with `code` and leaves the time-series keyspace as it was. */
async function rejectsUnchanged(storage: StorageSystem, action: () => Promise<unknown>, code: string, label: string): Promise<void> {
  const before = await dumpSeries(storage);
  await rejects(action, code, label);
  deepEqual(await dumpSeries(storage), before, `${label}: the time-series keyspace changed after a rejected call`);
}

/** Writes `points` in chunks of `chunk`, in order. */
async function writeAll(ts: TimeSeries, points: TimeSeriesPoint[], chunk: number): Promise<void> {
  for (let i = 0; i < points.length; i += chunk) await ts.write(points.slice(i, i + chunk));
}

export function timeSeriesTests(test: Declare, target: Target): void {
  const withStore = storeRunner(target, { sweepInterval: 0 });

  test('time series: write one point or a batch; raw query in time order over [from, to), by tags, with a limit', withStore(async ({ storage }) => {
    const ts = storage.timeSeries;
    const t0 = Date.UTC(2024, 0, 1);
    await ts.write({ metric: 'agent.latency', timestamp: t0 + 2000, value: 12.5, tags: { agent: 'a1' } });
    await ts.write([
      { metric: 'agent.latency', timestamp: new Date(t0), value: 10, tags: { agent: 'a1' } },
      { metric: 'agent.latency', timestamp: t0 + 1000, value: 7, tags: { agent: 'a2', region: 'eu' } },
      { metric: 'agent.latency', timestamp: t0 + 2000, value: 8, tags: { region: 'eu', agent: 'a2' } }, // same series, other key order
      { metric: 'agent.calls', timestamp: t0, value: 1 },
    ]);
    const a1 = { agent: 'a1' };
    const a2 = { agent: 'a2', region: 'eu' };
    deepEqual(await ts.query({ metric: 'agent.latency', tags: { agent: 'a1' } }), [
      { metric: 'agent.latency', timestamp: t0, value: 10, tags: a1 },
      { metric: 'agent.latency', timestamp: t0 + 2000, value: 12.5, tags: a1 },
    ]);
    // Several series: time order; equal timestamps in series order (a1 before a2).
    deepEqual(await ts.query({ metric: 'agent.latency', from: t0 + 1000, to: new Date(t0 + 3000) }), [
      { metric: 'agent.latency', timestamp: t0 + 1000, value: 7, tags: a2 },
      { metric: 'agent.latency', timestamp: t0 + 2000, value: 12.5, tags: a1 },
      { metric: 'agent.latency', timestamp: t0 + 2000, value: 8, tags: a2 },
    ]);
    deepEqual((await ts.query({ metric: 'agent.latency', from: t0, to: t0 + 2000 })).map((p) => p.timestamp), [t0, t0 + 1000], 'to is exclusive');
    deepEqual((await ts.query({ metric: 'agent.latency', limit: 2 })).map((p) => p.value), [10, 7]);
    deepEqual(await ts.query({ metric: 'agent.latency', tags: { region: 'us' } }), []);
    deepEqual(await ts.query({ metric: 'agent.missing' }), []);
    deepEqual(await ts.query({ metric: 'agent.calls' }), [{ metric: 'agent.calls', timestamp: t0, value: 1, tags: {} }]);
    deepEqual(await ts.series('agent.latency'), [{ metric: 'agent.latency', tags: a1 }, { metric: 'agent.latency', tags: a2 }]);
    deepEqual(await ts.series('agent.latency', { region: 'eu' }), [{ metric: 'agent.latency', tags: a2 }]);
    // Last write wins, across calls and within one call; -0 is stored as 0.
    await ts.write([{ metric: 'agent.calls', timestamp: t0, value: 5 }, { metric: 'agent.calls', timestamp: t0, value: -0 }]);
    const [only] = await ts.query({ metric: 'agent.calls' });
    ok(only && Object.is(only.value, 0), 'the later point of a call wins, -0 reads back as 0');
    const [p] = await ts.query({ metric: 'agent.latency', limit: 1 });
    ok(Object.isFrozen(p!.tags), 'tags of a result are frozen');
    await ts.write([]);
  }));

  test('time series: bucket aggregates equal a reference computed from the raw points (rollup and raw paths)', withStore(async ({ storage }) => {
    const ts = storage.timeSeries;
    const random = rng(42);
    const model = new Model();
    const base = Date.UTC(2024, 2, 1, 22);
    const points = randomPoints(random, 3000, base, 5 * HOUR);
    // Out of order, with duplicates across and within calls.
    for (let i = 0; i < 200; i++) points.push({ ...points[Math.floor(random() * points.length)]!, value: Math.floor(random() * 100) });
    await writeAll(ts, points, 700);
    model.write(points);
    deepEqual(await ts.query({ metric: 'm.rand' }), model.raw('m.rand'), 'raw points');
    const cases: { interval: string | number; ms: number; from?: number; to?: number; tags?: Record<string, string> }[] = [
      { interval: '1m', ms: MINUTE },
      { interval: '1h', ms: HOUR },
      { interval: '2h', ms: 2 * HOUR },
      { interval: '1d', ms: DAY },
      { interval: '5m', ms: 5 * MINUTE, tags: { host: 'h1' } },
      { interval: '90s', ms: 90_000 },                                   // no rollup divides it: raw
      { interval: 7000, ms: 7000, from: base + 1234, to: base + HOUR },  // raw
      { interval: '1h', ms: HOUR, from: base + 17 * MINUTE + 5, to: base + 4 * HOUR + 3 }, // partial edges from raw
      { interval: '1m', ms: MINUTE, tags: { shard: '3' }, from: base, to: base + 2 * HOUR },
    ];
    for (const c of cases) {
      const q = { metric: 'm.rand', interval: c.interval, aggregate: ALL_AGGREGATES, ...(c.from !== undefined ? { from: c.from } : {}), ...(c.to !== undefined ? { to: c.to } : {}), ...(c.tags ? { tags: c.tags } : {}) };
      sameBuckets(await ts.query(q), model.buckets('m.rand', c.ms, ALL_AGGREGATES, c.from, c.to, c.tags), `interval ${c.interval}`);
      // Without percentiles the aligned part is read from rollups only.
      const plain = ALL_AGGREGATES.filter((a) => !a.startsWith('p'));
      sameBuckets(await ts.query({ ...q, aggregate: plain }), model.buckets('m.rand', c.ms, plain, c.from, c.to, c.tags), `interval ${c.interval} without percentiles`);
    }
    // Default aggregates and a single aggregate name.
    const rows = await ts.query({ metric: 'm.rand', interval: '1h' });
    deepEqual(Object.keys(rows[0]!), ['start', 'end', 'count', 'sum', 'avg', 'min', 'max', 'first', 'last']);
    deepEqual((await ts.query({ metric: 'm.rand', interval: '1h', aggregate: 'max' })).map((r) => Object.keys(r)), rows.map(() => ['start', 'end', 'max']));
  }));

  test('time series: replacing points (also a bucket\'s min, max, first and last) keeps every rollup exact', withStore(async ({ storage }) => {
    const ts = storage.timeSeries;
    const model = new Model();
    const base = Date.UTC(2024, 5, 1);
    const pts: TimeSeriesPoint[] = [];
    for (let i = 0; i < 240; i++) pts.push({ metric: 'm.over', timestamp: base + i * 15_000, value: (i * 37) % 101 });
    await ts.write(pts);
    model.write(pts);
    const check = async (label: string) => {
      for (const [interval, ms] of [['1m', MINUTE], ['1h', HOUR], ['2h', 2 * HOUR]] as const) {
        sameBuckets(await ts.query({ metric: 'm.over', interval, aggregate: ALL_AGGREGATES }), model.buckets('m.over', ms, ALL_AGGREGATES), `${label}, ${interval}`);
        const plain = ALL_AGGREGATES.filter((a) => !a.startsWith('p'));
        sameBuckets(await ts.query({ metric: 'm.over', interval, aggregate: plain }), model.buckets('m.over', ms, plain), `${label}, ${interval} from rollups`);
      }
    };
    // The maximum (100 at i = 100... ) and the minimum of the whole range, the first and last points.
    const max = pts.reduce((a, b) => (b.value > a.value ? b : a));
    const min = pts.reduce((a, b) => (b.value < a.value ? b : a));
    const over = [
      { ...max, value: 50 }, { ...min, value: 60 }, { ...pts[0]!, value: -5 }, { ...pts.at(-1)!, value: 500 },
      { metric: 'm.over', timestamp: base + 7_500, value: 1 }, // a new point between two stored ones
    ];
    await ts.write(over);
    model.write(over);
    await check('after replacing extremes');
    const again = [{ ...max, value: 100 }, { ...pts[1]!, value: 3 }];
    await Promise.all([ts.write(again[0]!), ts.write(again[1]!)]);
    model.write(again);
    await check('after concurrent replacements');
    deepEqual(await ts.query({ metric: 'm.over' }), model.raw('m.over'));
  }));

  test('time series: retention hides expired points at once and maintenance deletes them by range', withStore(async ({ storage }) => {
    const ts = storage.timeSeries;
    const now = Date.now();
    const model = new Model();
    const old = Array.from({ length: 30 }, (_, i) => ({ metric: 'm.ret', timestamp: now - 3 * HOUR + i * MINUTE, value: i, tags: { k: 'v' } }));
    const recent = Array.from({ length: 30 }, (_, i) => ({ metric: 'm.ret', timestamp: now - 20 * MINUTE + i * 10_000, value: 100 + i, tags: { k: 'v' } }));
    const other = [{ metric: 'm.keep', timestamp: now - 3 * HOUR, value: 1 }];
    await ts.write([...old, ...recent, ...other]);
    model.write([...old, ...recent]);
    deepEqual(await ts.getRetention('m.ret'), { raw: null, rollups: { '1m': null, '1h': null }, building: [] });

    await ts.setRetention('m.ret', { raw: '1h', rollups: { '1d': '30d' } });
    deepEqual(await ts.getRetention('m.ret'), { raw: HOUR, rollups: { '1m': HOUR, '1h': HOUR, '1d': 30 * DAY }, building: [] });
    // Invisible before any deletion.
    const cutoff = Date.now() - HOUR;
    deepEqual(await ts.query({ metric: 'm.ret' }), model.raw('m.ret', cutoff), 'raw points older than the retention are invisible');
    // The 1d rollup keeps summarising expired points; their percentiles are null.
    const day = await ts.query({ metric: 'm.ret', interval: '1d', aggregate: ['count', 'sum', 'min', 'max', 'p50'] });
    deepEqual(day, model.buckets('m.ret', DAY, ['count', 'sum', 'min', 'max', 'p50'], 0, Infinity, {}, () => false));

    await (await storage.getBackend(storage.defaultBackend)!.loadTimeSeries()).maintain();
    const keys = (await dumpSeries(storage)).map(([k]) => k);
    const pointTimes = keys.filter((k) => k.startsWith('pm.ret')).map((k) => parseInt(k.slice(-12), 16));
    ok(pointTimes.length >= 20 && pointTimes.every((t) => t >= cutoff - 5000), `only recent raw points remain (${pointTimes.length})`);
    const minuteBuckets = keys.filter((k) => k.startsWith('r' + MINUTE.toString(16).padStart(10, '0') + 'm.ret')).map((k) => parseInt(k.slice(-12), 16));
    ok(minuteBuckets.length > 0 && minuteBuckets.every((t) => t + MINUTE > cutoff - 5000), 'expired 1m buckets are deleted');
    ok(keys.some((k) => k.startsWith('r' + DAY.toString(16).padStart(10, '0') + 'm.ret')), '1d buckets are kept');
    ok(keys.some((k) => k.startsWith('pm.keep')), 'another metric without retention is untouched');
    deepEqual(await ts.query({ metric: 'm.ret', interval: '1d', aggregate: ['count', 'sum'] }), model.buckets('m.ret', DAY, ['count', 'sum']), 'the 1d rollup survives');
    deepEqual(await ts.query({ metric: 'm.ret', interval: '1m', aggregate: ['count'] }), model.buckets('m.ret', MINUTE, ['count'], cutoff - (cutoff % MINUTE) + MINUTE), '1m buckets are only the recent ones');

    // A point older than every retention is accepted and expires at once.
    await ts.write({ metric: 'm.ret', timestamp: now - 100 * DAY, value: 1, tags: { k: 'v' } });
    deepEqual((await ts.query({ metric: 'm.ret', from: 0, to: now - 50 * DAY })), []);
  }));

  test('time series: adding a rollup interval backfills it; queries then use it and stay exact', withStore(async ({ storage }) => {
    const ts = storage.timeSeries;
    const random = rng(7);
    const model = new Model();
    const base = Date.UTC(2024, 3, 1) - 36 * HOUR;
    const first = randomPoints(random, 2000, base, 3 * DAY, 'm.bf');
    await writeAll(ts, first, 500);
    model.write(first);
    // Writes racing the backfill are counted exactly once.
    const racing = randomPoints(random, 300, base, 3 * DAY, 'm.bf');
    await Promise.all([ts.setRetention('m.bf', { rollups: { '1d': null, '5m': null } }), writeAll(ts, racing, 50)]);
    model.write(racing);
    const info = await ts.getRetention('m.bf');
    deepEqual(info, { raw: null, rollups: { '1m': null, '5m': null, '1h': null, '1d': null }, building: [] });
    const dayKeys = (await dumpSeries(storage)).filter(([k]) => k.startsWith('r' + DAY.toString(16).padStart(10, '0') + 'm.bf'));
    ok(dayKeys.length >= 3, `1d rollup buckets exist (${dayKeys.length})`);
    const plain = ALL_AGGREGATES.filter((a) => !a.startsWith('p'));
    for (const [interval, ms] of [['1d', DAY], ['2d', 2 * DAY], ['5m', 5 * MINUTE], ['15m', 15 * MINUTE]] as const) {
      sameBuckets(await ts.query({ metric: 'm.bf', interval, aggregate: plain }), model.buckets('m.bf', ms, plain), `interval ${interval}`);
    }
    // Later writes maintain the new interval.
    const later = randomPoints(random, 200, base, 3 * DAY, 'm.bf');
    await ts.write(later);
    model.write(later);
    sameBuckets(await ts.query({ metric: 'm.bf', interval: '1d', aggregate: ALL_AGGREGATES }), model.buckets('m.bf', DAY, ALL_AGGREGATES), 'after more writes');
  }));

  test('time series: tag values with any characters are distinct series and read back as written', withStore(async ({ storage }) => {
    const ts = storage.timeSeries;
    const values = ['', 'a', 'a\u0000', 'a\u0001b', '\u0002', 'é', '😀', '\ud800', 'a\u001fb', '\uffff', 'x'.repeat(256)];
    await ts.write(values.map((v, i) => ({ metric: 'm.tags', timestamp: 1000 + i, value: i, tags: { v } })));
    for (const [i, v] of values.entries()) {
      deepEqual(await ts.query({ metric: 'm.tags', tags: { v } }), [{ metric: 'm.tags', timestamp: 1000 + i, value: i, tags: { v } }], `tag value #${i}`);
    }
    await ts.write({ metric: 'm.tags', timestamp: 5, value: -1, tags: { v: 'a', w: 'b' } });
    equal((await ts.series('m.tags')).length, values.length + 1);
    deepEqual((await ts.query({ metric: 'm.tags', tags: { v: 'a' } })).map((p) => p.value), [-1, 1], 'a partial tag filter matches both series');
    const keys = (await dumpSeries(storage)).map(([k]) => k);
    ok(keys.every((k) => ![...k].some((c) => c.charCodeAt(0) >= 0xd800)), 'no key holds a code unit from U+D800');
  }));

  test('time series: rejected input writes nothing and names the problem', withStore(async ({ storage }) => {
    const ts = storage.timeSeries;
    const t = Date.now() - HOUR;
    await ts.write({ metric: 'm.ok', timestamp: t, value: 1, tags: { a: 'b' } });
    await ts.setRetention('m.ok', { raw: '7d' });
    const good = { metric: 'm.ok', timestamp: t + 1, value: 2 };
    const bad: [string, unknown][] = [
      ['empty metric', { ...good, metric: '' }],
      ['metric with a space', { ...good, metric: 'a b' }],
      ['metric too long', { ...good, metric: 'm'.repeat(201) }],
      ['metric not a string', { ...good, metric: 5 }],
      ['fractional timestamp', { ...good, timestamp: 1.5 }],
      ['negative timestamp', { ...good, timestamp: -1 }],
      ['timestamp too large', { ...good, timestamp: 2 ** 48 }],
      ['timestamp a string', { ...good, timestamp: '2024-01-01' }],
      ['invalid Date', { ...good, timestamp: new Date('nope') }],
      ['NaN value', { ...good, value: NaN }],
      ['Infinity value', { ...good, value: Infinity }],
      ['string value', { ...good, value: '1' }],
      ['missing value', { metric: 'm.ok', timestamp: t }],
      ['tags an array', { ...good, tags: ['a'] }],
      ['tag value a number', { ...good, tags: { a: 1 } }],
      ['tag value too long', { ...good, tags: { a: 'x'.repeat(257) } }],
      ['tag name with a space', { ...good, tags: { 'a b': 'c' } }],
      ['17 tags', { ...good, tags: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`t${i}`, 'v'])) }],
      ['unknown field', { ...good, tag: { a: 'b' } }],
      ['not an object', 42],
      ['null', null],
    ];
    for (const [label, point] of bad) {
      await rejectsUnchanged(storage, () => ts.write(point as TimeSeriesPoint), 'STORAGE_VALIDATION', `write: ${label}`);
      // One bad point in a batch: none of the batch is written.
      await rejectsUnchanged(storage, () => ts.write([good, { ...good, timestamp: t + 2 }, point as TimeSeriesPoint]), 'STORAGE_VALIDATION', `batch: ${label}`);
    }
    await rejectsUnchanged(storage, () => ts.write(Array.from({ length: 100_001 }, (_, i) => ({ ...good, timestamp: i }))), 'STORAGE_VALIDATION', 'more than 100,000 points');
    await rejectsUnchanged(storage, () => ts.write(good, { durabilty: 'strict' } as never), 'STORAGE_VALIDATION', 'unknown write option');
    await rejectsUnchanged(storage, () => ts.write(good, { durability: 'fast' } as never), 'STORAGE_VALIDATION', 'bad durability');
    const queries: [string, unknown][] = [
      ['unknown option', { metric: 'm.ok', form: 0 }],
      ['from after to', { metric: 'm.ok', from: 10, to: 5 }],
      ['bad from', { metric: 'm.ok', from: 'yesterday' }],
      ['interval under 1 s', { metric: 'm.ok', interval: '500ms' }],
      ['interval not a duration', { metric: 'm.ok', interval: 'hourly' }],
      ['unknown aggregate', { metric: 'm.ok', interval: '1m', aggregate: ['median'] }],
      ['no aggregate', { metric: 'm.ok', interval: '1m', aggregate: [] }],
      ['aggregate without interval', { metric: 'm.ok', aggregate: ['avg'] }],
      ['limit 0', { metric: 'm.ok', limit: 0 }],
      ['limit with interval', { metric: 'm.ok', interval: '1m', limit: 5 }],
      ['bad tags', { metric: 'm.ok', tags: { a: 1 } }],
      ['bad metric', { metric: 'a b' }],
      ['not an object', 'm.ok'],
    ];
    for (const [label, q] of queries) await rejects(() => ts.query(q as never), 'STORAGE_VALIDATION', `query: ${label}`);
    const policies: [string, unknown][] = [
      ['raw 0', { raw: '0s' }],
      ['raw not a duration', { raw: 'a week' }],
      ['rollup of 30 s', { rollups: { '30s': null } }],
      ['rollup of 90 s', { raw: '1d', rollups: { '90s': '2d' } }],
      ['rollup kept shorter than raw', { raw: '7d', rollups: { '1h': '1d' } }],
      ['rollup kept less than forever while raw is forever', { rollups: { '1h': '90d' } }],
      ['the same interval twice', { raw: '1d', rollups: { '1h': '2d', '60m': '3d' } }],
      ['unknown option', { raw: '1d', rollup: {} }],
      ['rollups an array', { raw: '1d', rollups: [] }],
      ['not an object', '7d'],
    ];
    for (const [label, p] of policies) await rejectsUnchanged(storage, () => ts.setRetention('m.ok', p as never), 'STORAGE_VALIDATION', `setRetention: ${label}`);
    await rejectsUnchanged(storage, () => ts.setRetention('bad metric', { raw: '1d' }), 'STORAGE_VALIDATION', 'setRetention: bad metric');
    equal((await ts.query({ metric: 'm.ok' })).length, 1);
  }));

  test('time series: points, rollups and retention survive closing and reopening', async () => {
    const f = await target.open({ sweepInterval: 0 });
    let current = f;
    try {
      if (!f.reopen) return;
      const now = Date.now();
      const points = Array.from({ length: 100 }, (_, i) => ({ metric: 'm.persist', timestamp: now - 50 * MINUTE + i * 30_000, value: i, tags: { a: String(i % 2) } }));
      await f.storage.timeSeries.write(points);
      await f.storage.timeSeries.setRetention('m.persist', { raw: '2h', rollups: { '1d': '30d' } });
      const raw = await f.storage.timeSeries.query({ metric: 'm.persist' });
      const hourly = await f.storage.timeSeries.query({ metric: 'm.persist', interval: '1h' });
      current = await f.reopen();
      const ts = current.storage.timeSeries;
      deepEqual(await ts.query({ metric: 'm.persist' }), raw);
      deepEqual(await ts.query({ metric: 'm.persist', interval: '1h' }), hourly);
      deepEqual((await ts.getRetention('m.persist')).rollups, { '1m': 2 * HOUR, '1h': 2 * HOUR, '1d': 30 * DAY });
    } finally {
      await current.cleanup();
    }
  });
}
