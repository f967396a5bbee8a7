/**
 * Time series: points `(metric, tags, timestamp, value)` in the backend's `t` keyspace, rollups
 * (count, sum, min, max, first, last per bucket) kept up to date in the SAME atomic write as the
 * points, and retention that deletes whole key ranges.
 *
 * Key layout in space `t` (every character that decides order is below U+D800, so UTF-16 order and
 * code-point order agree and every engine returns ranges in the same order):
 *
 *   s<S>            series catalog entry → the series' tags (keys sorted)
 *   p<S><ts>        raw point → its value (a bare number)
 *   r<I><S><start>  rollup bucket of interval I → [count, sum, min, max, firstTs, first, lastTs, last, version]
 *   k<metric>       metric config → { raw, floor, r: [[interval, retention, ready, floor]] }
 *
 * S, the series id, is `metric` then, for each tag in key order, `\x01 key \x02 escaped-value`, then
 * `\x00`. Metric names and tag keys are restricted to `[A-Za-z0-9_.:/-]`; tag values are escaped
 * (code units below U+0020 and from U+D800 become `\x1f` + 4 hex digits), so the separators never
 * occur inside a part: S is prefix-free and one series' points form one contiguous key range.
 * `<ts>`/`<start>` are 12 hex digits of ms since the epoch; `<I>` is the interval in ms, 10 hex digits.
 *
 * Invariants:
 * - A rollup bucket summarises every point ever written into it whose bucket has not expired, raw
 *   points that expired since included. Every change of a bucket increments its version, so a
 *   version read earlier proves that no raw point of that bucket's range changed since.
 * - A write plans its reads (config, catalog, rollup buckets) from a cached config; the config is
 *   read again inside the write and a change of its rollup intervals re-plans the write.
 * - Values read from the engine are never mutated (the memory engine hands out what it stores).
 */
import type { Backend } from './backend';
import type { BatchOp, StoredValue } from './engine';
import { StorageConflictError, invalid } from './errors';
import { describe } from './keys';
import type { Durability } from './types';

// ------------------------------------------------------------------ public types

/** Aggregates a bucketed query can ask for. `p*` are exact percentiles (nearest rank) over raw points. */
export type TimeSeriesAggregate = 'count' | 'sum' | 'avg' | 'min' | 'max' | 'first' | 'last' | 'p50' | 'p90' | 'p95' | 'p99';

/** A duration: `'500ms'`, `'30s'`, `'5m'`, `'1h'`, `'7d'`, `'2w'`, `'1y'` (365 days), or a number of milliseconds. */
export type TimeSeriesDuration = string | number;

/** A point to write. */
export interface TimeSeriesPoint {
  /** 1–200 characters from `[A-Za-z0-9_.:/-]`. */
  metric: string;
  /** Milliseconds since the epoch (an integer from 0 to 2^48 − 1) or a Date. */
  timestamp: number | Date;
  /** A finite number (`-0` is stored as `0`). */
  value: number;
  /** Up to 16 tags: keys of 1–100 characters from `[A-Za-z0-9_.:/-]`, values strings of at most 256 characters. */
  tags?: Readonly<Record<string, string>>;
}

/** A point as a raw query returns it. Points of one series share one frozen `tags` object. */
export interface TimeSeriesSample {
  metric: string;
  timestamp: number;
  value: number;
  tags: Readonly<Record<string, string>>;
}

/** Selects series and a time range `[from, to)`. */
export interface TimeSeriesRange {
  metric: string;
  /** Inclusive start (ms or Date); default 0. */
  from?: number | Date;
  /** Exclusive end (ms or Date); default: no end. */
  to?: number | Date;
  /** Only series having every one of these tags with exactly these values (default: every series of the metric). */
  tags?: Readonly<Record<string, string>>;
}

/** A raw query: the points in time order. */
export interface TimeSeriesRawQuery extends TimeSeriesRange {
  interval?: undefined;
  aggregate?: undefined;
  /** At most this many points (the earliest). */
  limit?: number;
}

/** A bucketed query: one row per non-empty bucket of `interval`, in time order. */
export interface TimeSeriesBucketQuery extends TimeSeriesRange {
  /** Bucket width, at least 1 s. Buckets are aligned to multiples of it since the epoch (UTC). */
  interval: TimeSeriesDuration;
  /** Default: count, sum, avg, min, max, first, last. */
  aggregate?: TimeSeriesAggregate | readonly TimeSeriesAggregate[];
}

/** One bucket of a bucketed query: `[start, end)` clipped to the query range, with the aggregates asked for. */
export interface TimeSeriesBucket {
  start: number;
  end: number;
  count?: number;
  sum?: number;
  avg?: number;
  min?: number;
  max?: number;
  first?: number;
  last?: number;
  /** `null` where the bucket's raw points have (partly) expired. */
  p50?: number | null;
  p90?: number | null;
  p95?: number | null;
  p99?: number | null;
}

/** Retention of one metric. `null` or an omitted `raw` keeps raw points forever. */
export interface TimeSeriesRetention {
  /** How long raw points are kept. */
  raw?: TimeSeriesDuration | null;
  /**
   * Rollup interval (a whole number of minutes: `'1m'`, `'5m'`, `'1h'`, `'1d'`) → how long its
   * buckets are kept (`null`: forever). A new interval is added and backfilled. Intervals not listed
   * (the defaults 1m and 1h, and any added earlier) are kept as long as the raw points.
   */
  rollups?: Readonly<Record<string, TimeSeriesDuration | null>>;
}

/** A metric's retention as stored: durations in ms, `null` for forever. */
export interface TimeSeriesRetentionInfo {
  raw: number | null;
  /** Interval label (`'1m'`, `'1h'`, …) → retention in ms or null. */
  rollups: Record<string, number | null>;
  /** Intervals still being backfilled (queries do not use them yet). */
  building: string[];
}

/** Options of `write`. */
export interface TimeSeriesWriteOptions {
  durability?: Durability;
}

/** One series: a metric and its tag set. */
export interface TimeSeriesInfo {
  metric: string;
  tags: Readonly<Record<string, string>>;
}

/** @internal What TimeSeries needs from its backend. */
export type TimeSeriesHost = Pick<Backend, 'name' | 'rawWrite' | 'rawRange' | 'rawKeys' | 'rawGet' | 'addMaintenance'>;

// ------------------------------------------------------------------ limits

import { MAX_POINTS_PER_WRITE, MAX_TIMESTAMP } from './timeseries-handle';
export { MAX_POINTS_PER_WRITE, MAX_TIMESTAMP };
const MAX_TAGS = 16;
const MAX_METRIC = 200;
const MAX_TAG_KEY = 100;
const MAX_TAG_VALUE = 256;
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const MAX_INTERVAL = 3660 * DAY;
const MAX_RETENTION = 100 * 365 * DAY;
/** Keys deleted per write by retention. */
const DELETE_CHUNK = 1000;
/** Reads per backfill write. */
const BACKFILL_READS = 5000;
/** Re-plans of one write (config changed, overwritten points) before giving up. */
const MAX_ATTEMPTS = 10;
const AGGREGATES: readonly TimeSeriesAggregate[] = ['count', 'sum', 'avg', 'min', 'max', 'first', 'last', 'p50', 'p90', 'p95', 'p99'];
const DEFAULT_AGGREGATES: readonly TimeSeriesAggregate[] = ['count', 'sum', 'avg', 'min', 'max', 'first', 'last'];
const PERCENTILE: Partial<Record<TimeSeriesAggregate, number>> = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 };
const NAME_RE = /^[A-Za-z0-9_.:/-]+$/;
const ESCAPE_RE = /[\u0000-\u001f\ud800-\uffff]/;

// ------------------------------------------------------------------ keys and stored values

/** Rollup bucket: [count, sum, min, max, firstTs, first, lastTs, last, version]. */
export type RollupEntry = readonly [number, number, number, number, number, number, number, number, number];
type Agg = [number, number, number, number, number, number, number, number];

/**
 * A rollup interval of a metric: [interval ms, retention ms or null, ready 0/1 (0: being
 * backfilled), floor (buckets starting before it may have been deleted by retention; 0: none)].
 */
type RollupConfig = readonly [number, number | null, 0 | 1, number];

/** Stored config of a metric. Floors are written before retention deletes anything below them. */
interface MetricConfig {
  readonly raw: number | null;
  /** Raw points before this time may have been deleted by retention (0: none). */
  readonly floor: number;
  /** Sorted by interval; the first is always 1m. */
  readonly r: readonly RollupConfig[];
}

const DEFAULT_CONFIG: MetricConfig = Object.freeze({ raw: null, floor: 0, r: Object.freeze([[MINUTE, null, 1, 0], [HOUR, null, 1, 0]] as const) });

/** Three hex digits of each number below 4096 (hexTime runs once per point written). */
const HEX3 = Array.from({ length: 4096 }, (_, i) => i.toString(16).padStart(3, '0'));
/** 12 hex digits of an integer from 0 to MAX_TIMESTAMP: numeric order = string order. */
export function hexTime(ms: number): string {
  const hi = Math.floor(ms / 16777216);
  const lo = ms - hi * 16777216;
  return HEX3[hi >>> 12]! + HEX3[hi & 4095]! + HEX3[lo >>> 12]! + HEX3[lo & 4095]!;
}
const intervalCode = (ms: number): string => ms.toString(16).padStart(10, '0');
/** Bigger than every hex digit: the open end of a series' key range. */
const END = 'g';
/** A range's exclusive upper bound for time `t` (END past the last timestamp). */
const upTo = (t: number): string => (t > MAX_TIMESTAMP ? END : hexTime(t));
const configKey = (metric: string) => 'k' + metric;
const catalogKey = (s: string) => 's' + s;
const pointPrefix = (s: string) => 'p' + s;
const rollupPrefix = (interval: number, s: string) => 'r' + intervalCode(interval) + s;

/** Escapes a tag value so that it holds no separator and no code unit from U+D800. */
export function escapeTagValue(v: string): string {
  if (!ESCAPE_RE.test(v)) return v;
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const u = v.charCodeAt(i);
    out += u < 0x20 || u >= 0xd800 ? '\x1f' + u.toString(16).padStart(4, '0') : v[i];
  }
  return out;
}

/** The series id of a metric and a tag set whose keys are sorted. */
export function seriesId(metric: string, tags: Readonly<Record<string, string>>): string {
  let s = metric;
  for (const k of Object.keys(tags).sort()) s += '\x01' + k + '\x02' + escapeTagValue(tags[k]!);
  return s + '\x00';
}

const ts = (key: string): number => parseInt(key.slice(-12), 16);

// ------------------------------------------------------------------ validation

const isPlain = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

function checkKeys(o: Record<string, unknown>, allowed: readonly string[], what: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) invalid(`unknown option "${k}" in ${what}; accepted: ${allowed.join(', ')}`);
}

/** Checks a metric name. */
export function checkMetric(metric: unknown, what = 'metric'): string {
  if (typeof metric !== 'string' || metric.length === 0 || metric.length > MAX_METRIC || !NAME_RE.test(metric)) {
    invalid(`${what} must be a string of 1 to ${MAX_METRIC} characters from [A-Za-z0-9_.:/-], got ${describe(metric)}`);
  }
  return metric;
}

/** Checks a tag set and returns the series id of `metric` with it. */
export function tagsId(tags: unknown, metric: string, what = 'tags'): string {
  if (!isPlain(tags)) invalid(`${what} must be a plain object of string tags, got ${describe(tags)}`);
  const keys = Object.keys(tags);
  if (keys.length > MAX_TAGS) invalid(`${what} has ${keys.length} tags; at most ${MAX_TAGS} are allowed`);
  if (keys.length > 1) keys.sort();
  let id = metric;
  for (const k of keys) {
    const v = tags[k];
    if (k.length > MAX_TAG_KEY || !NAME_RE.test(k)) invalid(`${what}: tag name ${describe(k)} must have 1 to ${MAX_TAG_KEY} characters from [A-Za-z0-9_.:/-]`);
    if (typeof v !== 'string' || v.length > MAX_TAG_VALUE) invalid(`${what}.${k} must be a string of at most ${MAX_TAG_VALUE} characters, got ${describe(v)}`);
    id += '\x01' + k + '\x02' + escapeTagValue(v);
  }
  return id + '\x00';
}

/** A copy of valid tags with sorted keys (as stored in the catalog). */
const sortedTags = (tags: Readonly<Record<string, string>>): Record<string, string> => {
  const copy: Record<string, string> = {};
  for (const k of Object.keys(tags).sort()) copy[k] = tags[k]!;
  return copy;
};

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: MINUTE, h: HOUR, d: DAY, w: 7 * DAY, y: 365 * DAY };

/** Parses `'90s'`, `'5m'`, `'1h'`, `'7d'`, `'2w'`, `'1y'` (365 d), `'1.5h'`, `'250ms'` or a number of ms into an integer number of ms. */
export function parseDuration(v: unknown, what: string, min: number, max: number): number {
  let ms: number | undefined;
  if (typeof v === 'number') ms = v;
  else if (typeof v === 'string') {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)$/.exec(v);
    if (m) ms = Number(m[1]) * UNITS[m[2]!]!;
  }
  if (ms === undefined || !Number.isInteger(ms) || ms < min || ms > max) {
    invalid(`${what} must be a duration such as "30s", "5m", "1h", "7d" or an integer number of ms, from ${formatDuration(min)} to ${formatDuration(max)}; got ${describe(v)}`);
  }
  return ms;
}

/** The shortest label of a duration: `'1m'`, `'90s'`, `'1500ms'`. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [['w', 7 * DAY], ['d', DAY], ['h', HOUR], ['m', MINUTE], ['s', 1000]] as const) {
    if (ms % size === 0 && ms >= size) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

function checkTime(v: unknown, what: string): number {
  const t = v instanceof Date ? v.getTime() : v;
  if (typeof t !== 'number' || !Number.isFinite(t)) invalid(`${what} must be a number of ms since the epoch or a valid Date, got ${describe(v)}`);
  // [from, to) over integer timestamps: ceil keeps the same set of points.
  return Math.min(Math.max(Math.ceil(t), 0), MAX_TIMESTAMP + 1);
}

interface CheckedQuery {
  metric: string;
  from: number;
  to: number;
  tags: Record<string, string> | undefined;
  interval: number | undefined;
  aggregates: readonly TimeSeriesAggregate[];
  limit: number;
}

/** Validates a query. */
export function checkQuery(q: unknown): CheckedQuery {
  if (!isPlain(q)) invalid(`query must be an object { metric, from?, to?, tags?, interval?, aggregate?, limit? }, got ${describe(q)}`);
  checkKeys(q, ['metric', 'from', 'to', 'tags', 'interval', 'aggregate', 'limit'], 'query');
  const metric = checkMetric(q.metric, 'query.metric');
  const from = q.from === undefined ? 0 : checkTime(q.from, 'query.from');
  const to = q.to === undefined ? MAX_TIMESTAMP + 1 : checkTime(q.to, 'query.to');
  if (from > to) invalid(`query.from (${from}) must not be after query.to (${to})`);
  let tags: Record<string, string> | undefined;
  if (q.tags !== undefined) {
    tagsId(q.tags, metric, 'query.tags');
    tags = sortedTags(q.tags as Record<string, string>);
  }
  const interval = q.interval === undefined ? undefined : parseDuration(q.interval, 'query.interval', 1000, MAX_INTERVAL);
  let aggregates = DEFAULT_AGGREGATES;
  if (q.aggregate !== undefined) {
    if (interval === undefined) invalid('query.aggregate needs query.interval (the bucket width)');
    const list: unknown[] = Array.isArray(q.aggregate) ? q.aggregate : [q.aggregate];
    if (list.length === 0) invalid('query.aggregate must name at least one aggregate');
    for (const a of list) if (!AGGREGATES.includes(a as TimeSeriesAggregate)) invalid(`unknown aggregate ${describe(a)}; aggregates are ${AGGREGATES.join(', ')}`);
    aggregates = [...new Set(list as TimeSeriesAggregate[])];
  }
  let limit = Infinity;
  if (q.limit !== undefined) {
    if (interval !== undefined) invalid('query.limit applies to raw queries only (without interval)');
    if (typeof q.limit !== 'number' || !Number.isInteger(q.limit) || q.limit < 1) invalid(`query.limit must be a positive integer, got ${describe(q.limit)}`);
    limit = q.limit;
  }
  return { metric, from, to, tags, interval, aggregates, limit };
}

/** Validates a retention policy against nothing stored: the rollup map becomes [interval, retention]. */
export function checkRetention(metric: unknown, policy: unknown): { metric: string; raw: number | null; rollups: [number, number | null][] } {
  const m = checkMetric(metric);
  if (!isPlain(policy)) invalid(`retention must be an object { raw?, rollups? }, got ${describe(policy)}`);
  checkKeys(policy, ['raw', 'rollups'], 'retention');
  const raw = policy.raw == null ? null : parseDuration(policy.raw, 'retention.raw', 1000, MAX_RETENTION);
  const rollups: [number, number | null][] = [];
  if (policy.rollups !== undefined) {
    if (!isPlain(policy.rollups)) invalid(`retention.rollups must be an object { interval: duration }, got ${describe(policy.rollups)}`);
    for (const [label, keep] of Object.entries(policy.rollups)) {
      const interval = parseDuration(label, `retention.rollups interval "${label}"`, MINUTE, MAX_INTERVAL);
      if (interval % MINUTE !== 0) invalid(`retention.rollups interval "${label}" must be a whole number of minutes`);
      if (rollups.some(([i]) => i === interval)) invalid(`retention.rollups lists the interval ${formatDuration(interval)} twice`);
      const r = keep == null ? null : parseDuration(keep, `retention.rollups["${label}"]`, 1000, MAX_RETENTION);
      if (raw !== null && r !== null && r < raw) invalid(`retention.rollups["${label}"] (${formatDuration(r)}) must be at least retention.raw (${formatDuration(raw)}): a rollup is kept at least as long as the raw points`);
      if (raw === null && r !== null) invalid(`retention.rollups["${label}"]: raw points are kept forever (no retention.raw), so rollups must be too`);
      rollups.push([interval, r]);
    }
  }
  return { metric: m, raw, rollups };
}

// ------------------------------------------------------------------ aggregation (pure)

/** Aggregate of sorted points `ts[i0..i1)`. */
function aggOf(tsv: readonly number[], vs: readonly number[], i0: number, i1: number): Agg {
  let s = 0;
  let mn = Infinity;
  let mx = -Infinity;
  for (let i = i0; i < i1; i++) {
    const v = vs[i]!;
    s += v;
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  return [i1 - i0, s, mn, mx, tsv[i0]!, vs[i0]!, tsv[i1 - 1]!, vs[i1 - 1]!];
}

/**
 * Merges `b` into `a` (a new array). On equal first (last) timestamps `a`'s first and `b`'s last
 * win: merging series in series-id order equals reading their points in (timestamp, series) order.
 */
export function mergeAgg(a: readonly number[], b: readonly number[]): Agg {
  return [
    a[0]! + b[0]!, a[1]! + b[1]!, Math.min(a[2]!, b[2]!), Math.max(a[3]!, b[3]!),
    b[4]! < a[4]! ? b[4]! : a[4]!, b[4]! < a[4]! ? b[5]! : a[5]!,
    b[6]! >= a[6]! ? b[6]! : a[6]!, b[6]! >= a[6]! ? b[7]! : a[7]!,
  ];
}

/** Nearest-rank percentile of sorted values: the smallest value with at least q of the values at or below it. */
export function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

/** A bucket row with the requested aggregates. */
function row(start: number, end: number, a: Agg, values: number[] | undefined, aggregates: readonly TimeSeriesAggregate[]): TimeSeriesBucket {
  const out: TimeSeriesBucket = { start, end };
  let sorted: number[] | undefined;
  for (const name of aggregates) {
    switch (name) {
      case 'count': out.count = a[0]; break;
      case 'sum': out.sum = a[1]; break;
      case 'avg': out.avg = a[1] / a[0]; break;
      case 'min': out.min = a[2]; break;
      case 'max': out.max = a[3]; break;
      case 'first': out.first = a[5]; break;
      case 'last': out.last = a[7]; break;
      default:
        if (values === undefined) out[name] = null;
        else out[name] = percentile((sorted ??= values.slice().sort((x, y) => x - y)), PERCENTILE[name]!);
    }
  }
  return out;
}

/** Bucket start of `t` for width `w` (aligned to the epoch). */
const floorTo = (t: number, w: number) => t - (t % w);
const ceilTo = (t: number, w: number) => (t % w === 0 ? t : t - (t % w) + w);

/**
 * Buckets points into `interval` bucket rows, the way the rollup path does. Exported for tests:
 * `points` must be in (timestamp, series) order.
 */
export function bucketize(points: readonly { timestamp: number; value: number }[], interval: number, aggregates: readonly TimeSeriesAggregate[], from = 0, to = MAX_TIMESTAMP + 1, exact: (start: number) => boolean = () => true): TimeSeriesBucket[] {
  const buckets = new Accumulator(interval, aggregates.some((a) => a in PERCENTILE));
  for (const p of points) buckets.point(p.timestamp, p.value);
  return buckets.rows(from, to, aggregates, exact);
}

/** Bucket aggregates keyed by start, fed by points and by rollup entries. */
class Accumulator {
  private readonly map = new Map<number, { a: Agg; values?: number[] }>();
  constructor(private readonly interval: number, private readonly keepValues: boolean) {}

  point(t: number, v: number): void {
    const start = floorTo(t, this.interval);
    const b = this.map.get(start);
    if (!b) this.map.set(start, this.keepValues ? { a: [1, v, v, v, t, v, t, v], values: [v] } : { a: [1, v, v, v, t, v, t, v] });
    else {
      const a = b.a;
      a[0]++;
      a[1] += v;
      if (v < a[2]) a[2] = v;
      if (v > a[3]) a[3] = v;
      if (t < a[4]) { a[4] = t; a[5] = v; }
      if (t >= a[6]) { a[6] = t; a[7] = v; }
      b.values?.push(v);
    }
  }

  entry(start: number, e: RollupEntry): void {
    const key = floorTo(start, this.interval);
    const b = this.map.get(key);
    if (!b) this.map.set(key, { a: e.slice(0, 8) as Agg });
    else b.a = mergeAgg(b.a, e);
  }

  rows(from: number, to: number, aggregates: readonly TimeSeriesAggregate[], exact: (start: number) => boolean): TimeSeriesBucket[] {
    return [...this.map.keys()].sort((x, y) => x - y).map((start) => {
      const b = this.map.get(start)!;
      const lo = Math.max(start, from);
      return row(lo, Math.min(start + this.interval, to), b.a, b.values && exact(lo) ? b.values : undefined, aggregates);
    });
  }
}

// ------------------------------------------------------------------ write planning

/** Points of one series in one write, sorted by time, one per timestamp (the last given wins). */
interface SeriesBatch {
  metric: string;
  id: string;
  tags: Record<string, string>;
  ts: number[];
  vs: number[];
  /** Index of its catalog entry in the write's reads. */
  catalogRead: number;
  /** Per rollup interval (config order): the buckets the points fall in. */
  parts: Part[][];
}

/** The points `[i0, i1)` of a series batch that fall in one rollup bucket. */
interface Part { start: number; i0: number; i1: number; key: string; read: number }

/** A bucket whose points may overwrite stored points: what was read before planning again. */
interface Preread {
  /** Rollup key → version seen (undefined: absent). */
  versions: Map<string, number | undefined>;
  /** Series id → timestamp → stored value, over the ranges of those buckets. */
  raw: Map<string, Map<number, number>>;
}

/** Thrown inside a write's planning: the cached config of a metric is stale. */
class ConfigChanged extends Error {
  constructor(readonly metric: string, readonly config: MetricConfig) { super('time-series config changed'); }
}

/** Thrown inside a write's planning: these buckets hold points the write may overwrite; read them first. */
class NeedPreread extends Error {
  constructor(readonly buckets: { id: string; interval: number; start: number }[]) { super('time-series write needs a pre-read'); }
}

const signature = (c: MetricConfig) => c.r.map((r) => r[0]).join(',');

/** Groups, validates and sorts the points of one write call. */
function collect(input: readonly unknown[], many: boolean): SeriesBatch[] {
  const bySeries = new Map<string, SeriesBatch>();
  let lastMetric: unknown;
  let last: SeriesBatch | undefined;
  // The same tags object for the same metric (a shared constant, a frozen object) is checked once per call.
  let lastTags: unknown;
  let lastTagsMetric: unknown;
  let lastId = '';
  for (let i = 0; i < input.length; i++) {
    const p = input[i] as Record<string, unknown>;
    const where = many ? `points[${i}]` : 'point';
    if (typeof p !== 'object' || p === null || Array.isArray(p)) invalid(`${where} must be an object { metric, timestamp, value, tags? }, got ${describe(p)}`);
    for (const k in p) if (k !== 'metric' && k !== 'timestamp' && k !== 'value' && k !== 'tags') invalid(`unknown field "${k}" in ${where}; accepted: metric, timestamp, value, tags`);
    const { metric, timestamp, value, tags } = p;
    if (metric !== lastMetric) {
      checkMetric(metric, `${where}.metric`);
      lastMetric = metric;
    }
    let t: number;
    if (typeof timestamp === 'number') t = timestamp;
    else if (timestamp instanceof Date) t = timestamp.getTime();
    else t = NaN;
    if (!Number.isInteger(t) || t < 0 || t > MAX_TIMESTAMP) invalid(`${where}.timestamp must be an integer number of ms from 0 to ${MAX_TIMESTAMP} or a valid Date, got ${describe(timestamp)}`);
    if (typeof value !== 'number' || !Number.isFinite(value)) invalid(`${where}.value must be a finite number, got ${describe(value)}`);
    let id: string;
    if (tags === undefined) id = (metric as string) + '\x00';
    else if (tags === lastTags && metric === lastTagsMetric) id = lastId;
    else {
      id = lastId = tagsId(tags, metric as string, `${where}.tags`);
      lastTags = tags;
      lastTagsMetric = metric;
    }
    let b = last !== undefined && last.id === id ? last : bySeries.get(id);
    if (!b) {
      // The catalog's copy is made once per series, not per point.
      b = { metric: metric as string, id, tags: tags === undefined ? {} : sortedTags(tags as Record<string, string>), ts: [], vs: [], catalogRead: -1, parts: [] };
      bySeries.set(id, b);
    }
    last = b;
    b.ts.push(t);
    b.vs.push(value === 0 ? 0 : value); // -0 → 0: JSON (LevelDB) cannot keep it
  }
  for (const b of bySeries.values()) sortUnique(b);
  return [...bySeries.values()];
}

/** Sorts a series batch by time; of points with the same timestamp the last given wins. */
export function sortUnique(b: { ts: number[]; vs: number[] }): void {
  const { ts: t, vs } = b;
  let sorted = true;
  for (let i = 1; i < t.length; i++) if (t[i]! <= t[i - 1]!) { sorted = false; break; }
  if (sorted) return;
  const idx = t.map((_, i) => i).sort((x, y) => t[x]! - t[y]! || x - y);
  const nt: number[] = [];
  const nv: number[] = [];
  for (let j = 0; j < idx.length; j++) {
    const i = idx[j]!;
    if (j + 1 < idx.length && t[idx[j + 1]!] === t[i]) continue; // a later duplicate follows
    nt.push(t[i]!);
    nv.push(vs[i]!);
  }
  b.ts = nt;
  b.vs = nv;
}

/** Splits a sorted series batch into the buckets of `interval`. */
function partsOf(b: SeriesBatch, interval: number): Omit<Part, 'read'>[] {
  const parts: Omit<Part, 'read'>[] = [];
  const prefix = rollupPrefix(interval, b.id);
  let i0 = 0;
  let start = floorTo(b.ts[0]!, interval);
  for (let i = 1; i <= b.ts.length; i++) {
    const s = i < b.ts.length ? floorTo(b.ts[i]!, interval) : -1;
    if (s !== start) {
      parts.push({ start, i0, i1: i, key: prefix + hexTime(start) });
      i0 = i;
      start = s;
    }
  }
  return parts;
}

// ------------------------------------------------------------------ the API

/**
 * Time series of one backend: `storage.timeSeries` (the default backend's) or
 * `backend.timeSeries`. Points live in their own keyspace; they are not keys of the key-value API.
 *
 * @example
 * ```ts
 * const ts = storage.timeSeries;
 * await ts.write({ metric: 'agent.latency', timestamp: Date.now(), value: 12.5, tags: { agent: 'a1' } });
 * const points = await ts.query({ metric: 'agent.latency', from: Date.now() - 60_000, tags: { agent: 'a1' } });
 * const perMinute = await ts.query({ metric: 'agent.latency', interval: '1m', aggregate: ['avg', 'p95'] });
 * await ts.setRetention('agent.latency', { raw: '7d', rollups: { '1h': '90d' } });
 * ```
 */
export class TimeSeries {
  private readonly host: TimeSeriesHost;
  /** Config per metric as last read (writes plan their reads from it; the write checks it). */
  private readonly configs = new Map<string, MetricConfig>();
  /** Metric → earliest time its retention runs again. */
  private readonly nextRetention = new Map<string, number>();
  /** Backfills running in this context, per metric. */
  private readonly backfills = new Map<string, Promise<void>>();

  /** @internal Use `backend.timeSeries`. */
  constructor(host: TimeSeriesHost) {
    this.host = host;
    host.addMaintenance((now) => this.maintain(now));
  }

  /**
   * Writes one point or an array of up to 100,000 points atomically: all of them or, on any error,
   * none. A point with the same metric, tags and timestamp as a stored one replaces it (last write
   * wins; within one call, the later point in the array wins). Rollup buckets are updated in the
   * same atomic write.
   */
  async write(points: TimeSeriesPoint | readonly TimeSeriesPoint[], options?: TimeSeriesWriteOptions): Promise<void> {
    if (options !== undefined) {
      if (!isPlain(options)) invalid(`write options must be an object { durability? }, got ${describe(options)}`);
      checkKeys(options, ['durability'], 'write options');
      if (options.durability !== undefined && options.durability !== 'strict' && options.durability !== 'relaxed') invalid(`durability must be "strict" or "relaxed", got ${describe(options.durability)}`);
    }
    const list: readonly unknown[] = Array.isArray(points) ? points : [points];
    if (list.length > MAX_POINTS_PER_WRITE) invalid(`a write takes at most ${MAX_POINTS_PER_WRITE} points, got ${list.length}; split it into several calls`);
    if (list.length === 0) return;
    const batches = collect(list, Array.isArray(points));
    const metrics = [...new Set(batches.map((b) => b.metric))];
    let preread: Preread | undefined;
    for (let attempt = 1; ; attempt++) {
      for (const m of metrics) if (!this.configs.has(m)) await this.readConfig(m);
      const reads = this.planReads(metrics, batches);
      try {
        return await this.host.rawWrite(reads, (values, now) => this.planWrite(metrics, batches, values, now, preread), (options as TimeSeriesWriteOptions | undefined)?.durability);
      } catch (err) {
        if (attempt >= MAX_ATTEMPTS && (err instanceof ConfigChanged || err instanceof NeedPreread)) {
          throw new StorageConflictError(`time-series write to backend "${this.host.name}" kept conflicting with concurrent writes (${attempt} attempts); nothing was written`, { transient: true });
        }
        if (err instanceof ConfigChanged) this.configs.set(err.metric, err.config);
        else if (err instanceof NeedPreread) preread = await this.preread(err.buckets);
        else throw err;
      }
    }
  }

  /**
   * Raw points in `[from, to)`, in time order (points of several series with the same timestamp in
   * series order), or with `interval`, one row per non-empty bucket. See README "Time series".
   */
  query(q: TimeSeriesBucketQuery): Promise<TimeSeriesBucket[]>;
  query(q: TimeSeriesRawQuery): Promise<TimeSeriesSample[]>;
  async query(q: TimeSeriesRawQuery | TimeSeriesBucketQuery): Promise<TimeSeriesSample[] | TimeSeriesBucket[]> {
    const c = checkQuery(q);
    const config = await this.readConfig(c.metric);
    const series = await this.seriesOf(c.metric, c.tags);
    const now = Date.now();
    const visible = config.raw === null ? 0 : now - config.raw;
    if (c.interval === undefined) return this.rawPoints(c.metric, series, Math.max(c.from, visible), c.to, c.limit);
    return this.buckets(c, config, series, now);
  }

  /** The series of a metric (all of them, or those having every tag in `tags`), in series order. */
  async series(metric: string, tags?: Readonly<Record<string, string>>): Promise<TimeSeriesInfo[]> {
    checkMetric(metric);
    if (tags !== undefined) tagsId(tags, metric);
    return (await this.seriesOf(metric, tags)).map((s) => ({ metric, tags: s.tags }));
  }

  /**
   * Sets how long a metric's raw points and rollup buckets are kept, and which rollup intervals
   * exist besides the defaults (1m, 1h). Replaces the previous policy. A new interval is backfilled
   * from the coarsest existing rollup that divides it before this resolves. Expired data is
   * invisible at once and deleted by the backend's background sweep.
   */
  async setRetention(metric: string, policy: TimeSeriesRetention): Promise<void> {
    const p = checkRetention(metric, policy);
    const config = await this.host.rawWrite([{ space: 't', key: configKey(p.metric) }], (values) => {
      const old = (values[0] as MetricConfig | undefined) ?? DEFAULT_CONFIG;
      const r = new Map<number, RollupConfig>();
      for (const [interval, , ready, floor] of old.r) r.set(interval, [interval, p.raw, ready, floor]);
      for (const [interval, keep] of p.rollups) {
        const had = r.get(interval);
        r.set(interval, [interval, keep, had?.[2] ?? 0, had?.[3] ?? 0]);
      }
      const next: MetricConfig = { raw: p.raw, floor: old.floor, r: [...r.values()].sort((a, b) => a[0] - b[0]) };
      return { ops: [{ type: 'put', space: 't', key: configKey(p.metric), value: next }], result: next };
    });
    this.configs.set(p.metric, config);
    this.nextRetention.delete(p.metric);
    await this.backfill(p.metric);
  }

  /** A metric's retention as stored (defaults when none was set). */
  async getRetention(metric: string): Promise<TimeSeriesRetentionInfo> {
    const c = await this.readConfig(checkMetric(metric));
    const rollups: Record<string, number | null> = {};
    for (const [interval, keep] of c.r) rollups[formatDuration(interval)] = keep;
    return { raw: c.raw, rollups, building: c.r.filter((r) => r[2] === 0).map((r) => formatDuration(r[0])) };
  }

  /**
   * @internal One maintenance pass (the backend runs it after each sweep): finishes interrupted
   * backfills and deletes expired raw points and rollup buckets, range by range.
   */
  async maintain(now = Date.now()): Promise<void> {
    for (const [key, value] of await this.host.rawRange('t', { gte: 'k', lt: 'l' })) {
      const metric = key.slice(1);
      const config = value as MetricConfig;
      this.configs.set(metric, config);
      if (config.r.some((r) => r[2] === 0)) await this.backfill(metric);
      const keeps = [config.raw, ...config.r.map((r) => r[1])].filter((k): k is number => k !== null);
      if (keeps.length === 0 || now < (this.nextRetention.get(metric) ?? 0)) continue;
      // Expired data is already invisible: deleting it can wait a hundredth of the retention (≤ 10 min).
      this.nextRetention.set(metric, now + Math.min(Math.min(...keeps) / 100, 600_000));
      await this.expire(metric, config, now);
    }
  }

  // ---------------------------------------------------------------- internals: writes

  private async readConfig(metric: string): Promise<MetricConfig> {
    const c = ((await this.host.rawGet('t', configKey(metric))) as MetricConfig | undefined) ?? DEFAULT_CONFIG;
    this.configs.set(metric, c);
    return c;
  }

  /** The reads of a write: configs, catalog entries, every rollup bucket the points fall in. */
  private planReads(metrics: readonly string[], batches: SeriesBatch[]): { space: 't'; key: string }[] {
    const reads: { space: 't'; key: string }[] = metrics.map((m) => ({ space: 't', key: configKey(m) }));
    for (const b of batches) {
      b.catalogRead = reads.push({ space: 't', key: catalogKey(b.id) }) - 1;
      b.parts = this.configs.get(b.metric)!.r.map(([interval]) => partsOf(b, interval).map((p) => ({ ...p, read: reads.push({ space: 't', key: p.key }) - 1 })));
    }
    return reads;
  }

  /** Plans the ops of a write from what it read (runs inside the write; synchronous, pure). */
  private planWrite(metrics: readonly string[], batches: SeriesBatch[], values: (StoredValue | undefined)[], now: number, pre: Preread | undefined): { ops: BatchOp[]; result: undefined } {
    const live = new Map<string, MetricConfig>();
    metrics.forEach((m, i) => {
      const stored = (values[i] as MetricConfig | undefined) ?? DEFAULT_CONFIG;
      if (signature(stored) !== signature(this.configs.get(m)!)) throw new ConfigChanged(m, stored);
      live.set(m, stored);
    });
    // Points that may replace stored ones: inside [first, last] of their finest stored bucket.
    const affected = new Map<SeriesBatch, Set<number>[]>();
    const need: { id: string; interval: number; start: number }[] = [];
    let stale = false;
    for (const b of batches) {
      let flags: Uint8Array | undefined;
      for (const part of b.parts[0]!) {
        const e = values[part.read] as RollupEntry | undefined;
        if (!e) continue;
        for (let i = part.i0; i < part.i1; i++) if (b.ts[i]! >= e[4] && b.ts[i]! <= e[6]) (flags ??= new Uint8Array(b.ts.length))[i] = 1;
      }
      if (!flags) continue;
      const sets = b.parts.map((parts, k) => {
        const set = new Set<number>();
        for (const part of parts) {
          let hit = false;
          for (let i = part.i0; i < part.i1 && !hit; i++) hit = flags![i] === 1;
          if (!hit) continue;
          set.add(part.start);
          const version = (values[part.read] as RollupEntry | undefined)?.[8];
          need.push({ id: b.id, interval: live.get(b.metric)!.r[k]![0], start: part.start });
          if (!pre || !pre.versions.has(part.key) || pre.versions.get(part.key) !== version) stale = true;
        }
        return set;
      });
      affected.set(b, sets);
    }
    // Every bucket with replaced points needs a pre-read that is still current: else read them all again.
    if (stale) throw new NeedPreread(need);

    const ops: BatchOp[] = [];
    for (const b of batches) {
      const config = live.get(b.metric)!;
      if (values[b.catalogRead] === undefined) ops.push({ type: 'put', space: 't', key: catalogKey(b.id), value: b.tags });
      const keepFrom = config.raw === null ? 0 : now - config.raw;
      const prefix = pointPrefix(b.id);
      const { ts: t, vs } = b;
      for (let i = 0; i < t.length; i++) if (t[i]! >= keepFrom) ops.push({ type: 'put', space: 't', key: prefix + hexTime(t[i]!), value: vs[i] });
      const complete = Math.max(keepFrom, config.floor);
      config.r.forEach(([interval, keep], k) => {
        const over = affected.get(b)?.[k];
        for (const part of b.parts[k]!) {
          if (keep !== null && part.start + interval <= now - keep) continue; // already expired
          const e = values[part.read] as RollupEntry | undefined;
          let next: Agg;
          if (!over?.has(part.start)) next = e ? mergeAgg(e, aggOf(t, vs, part.i0, part.i1)) : aggOf(t, vs, part.i0, part.i1);
          else next = replaceInBucket(b, part, interval, e, pre!.raw.get(b.id) ?? new Map(), part.start >= complete);
          ops.push({ type: 'put', space: 't', key: part.key, value: [...next, (e?.[8] ?? 0) + 1] });
        }
      });
    }
    return { ops, result: undefined };
  }

  /** Reads the buckets a write may overwrite points in: their versions first, then their raw points. */
  private async preread(buckets: { id: string; interval: number; start: number }[]): Promise<Preread> {
    const versions = new Map<string, number | undefined>();
    const ranges = new Map<string, [number, number][]>();
    for (const { id, interval, start } of buckets) {
      const key = rollupPrefix(interval, id) + hexTime(start);
      versions.set(key, ((await this.host.rawGet('t', key)) as RollupEntry | undefined)?.[8]);
      let list = ranges.get(id);
      if (!list) ranges.set(id, (list = []));
      list.push([start, start + interval]);
    }
    const raw = new Map<string, Map<number, number>>();
    for (const [id, list] of ranges) {
      const values = new Map<number, number>();
      raw.set(id, values);
      list.sort((a, b) => a[0] - b[0]);
      let [lo, hi] = list[0]!;
      for (let i = 1; i <= list.length; i++) {
        const r = list[i];
        if (r && r[0] <= hi) { hi = Math.max(hi, r[1]); continue; }
        for (const [key, v] of await this.host.rawRange('t', { gte: pointPrefix(id) + hexTime(lo), lt: pointPrefix(id) + upTo(hi) })) values.set(ts(key), v as number);
        if (r) [lo, hi] = r;
      }
    }
    return { versions, raw };
  }

  // ---------------------------------------------------------------- internals: reads

  /** Series of a metric with every tag of `tags`, in series-id order. */
  private async seriesOf(metric: string, tags: Readonly<Record<string, string>> | undefined): Promise<{ id: string; tags: Readonly<Record<string, string>> }[]> {
    const out: { id: string; tags: Readonly<Record<string, string>> }[] = [];
    for (const [key, value] of await this.host.rawRange('t', { gte: catalogKey(metric + '\x00'), lt: catalogKey(metric + '\x02') })) {
      const stored = value as Record<string, string>;
      if (tags && Object.keys(tags).some((k) => stored[k] !== tags[k])) continue;
      out.push({ id: key.slice(1), tags: Object.freeze({ ...stored }) });
    }
    return out;
  }

  private async rawPoints(metric: string, series: { id: string; tags: Readonly<Record<string, string>> }[], from: number, to: number, limit: number): Promise<TimeSeriesSample[]> {
    if (from >= to) return [];
    const out: TimeSeriesSample[] = [];
    for (const s of series) {
      const q = { gte: pointPrefix(s.id) + hexTime(from), lt: pointPrefix(s.id) + upTo(to), ...(limit < Infinity ? { limit } : {}) };
      for (const [key, value] of await this.host.rawRange('t', q)) out.push({ metric, timestamp: ts(key), value: value as number, tags: s.tags });
    }
    // Stable sort: equal timestamps keep series order.
    if (series.length > 1) out.sort((a, b) => a.timestamp - b.timestamp);
    return out.length > limit ? out.slice(0, limit) : out;
  }

  /**
   * A bucketed query. The aligned interior of `[from, to)` is read from the coarsest ready rollup
   * whose interval divides the query's (raw points where percentiles are asked and raw points are
   * complete); partial edge buckets and intervals no rollup divides are computed from raw points.
   */
  private async buckets(c: CheckedQuery, config: MetricConfig, series: { id: string; tags: Readonly<Record<string, string>> }[], now: number): Promise<TimeSeriesBucket[]> {
    const interval = c.interval!;
    const wantsP = c.aggregates.some((a) => a in PERCENTILE);
    const visible = config.raw === null ? 0 : now - config.raw;
    // Raw points of buckets starting here or later are all present: percentiles are exact.
    const complete = Math.max(visible, config.floor);
    const acc = new Accumulator(interval, wantsP);
    const rollup = config.r.filter((r) => r[2] === 1 && interval % r[0] === 0).at(-1);
    const a = Math.min(ceilTo(c.from, interval), c.to);
    // Without an end, the last bucket holds every point it can: it is whole, not an edge.
    const z = Math.max(c.to > MAX_TIMESTAMP ? ceilTo(c.to, interval) : floorTo(c.to, interval), a);
    const rawRanges: [number, number][] = [];
    if (!rollup) rawRanges.push([c.from, c.to]);
    else {
      rawRanges.push([c.from, a], [z, c.to]);
      // With percentiles, buckets whose raw points are complete come from raw points.
      const split = wantsP ? Math.min(Math.max(ceilTo(complete, interval), a), z) : z;
      if (split < z) rawRanges.push([split, z]);
      const [r, keep] = rollup;
      const lo = Math.max(a, keep === null ? 0 : now - keep - r + 1);
      if (lo < split) {
        for (const s of series) {
          const prefix = rollupPrefix(r, s.id);
          for (const [key, e] of await this.host.rawRange('t', { gte: prefix + hexTime(lo), lt: prefix + upTo(split) })) acc.entry(ts(key), e as RollupEntry);
        }
      }
    }
    for (const [lo, hi] of rawRanges) {
      const from = Math.max(lo, visible);
      if (from >= hi) continue;
      for (const s of series) {
        for (const [key, v] of await this.host.rawRange('t', { gte: pointPrefix(s.id) + hexTime(from), lt: pointPrefix(s.id) + upTo(hi) })) acc.point(ts(key), v as number);
      }
    }
    return acc.rows(c.from, c.to, c.aggregates, (start) => start >= complete);
  }

  // ---------------------------------------------------------------- internals: retention and backfill

  /** Deletes a metric's expired raw points and rollup buckets, in writes of at most 1,000 keys. */
  private async expire(metric: string, config: MetricConfig, now: number): Promise<void> {
    const series = await this.seriesOf(metric, undefined);
    const rawCutoff = config.raw === null ? 0 : now - config.raw;
    const cutoffs = new Map(config.r.map(([interval, keep]) => [interval, keep === null ? 0 : now - keep - interval + 1]));
    // Floors first: once anything is gone, readers (percentiles, backfills) know data before them may be missing.
    if (rawCutoff > config.floor || config.r.some(([interval, , , floor]) => cutoffs.get(interval)! > floor)) {
      await this.host.rawWrite([{ space: 't', key: configKey(metric) }], (values) => {
        const c = values[0] as MetricConfig | undefined;
        if (!c) return { ops: [], result: undefined };
        const r = c.r.map((x): RollupConfig => [x[0], x[1], x[2], Math.max(x[3], cutoffs.get(x[0]) ?? 0)]);
        return { ops: [{ type: 'put', space: 't', key: configKey(metric), value: { ...c, floor: Math.max(c.floor, rawCutoff), r } }], result: undefined };
      });
    }
    for (const s of series) {
      await this.deleteRange(pointPrefix(s.id), rawCutoff);
      for (const [interval] of config.r) await this.deleteRange(rollupPrefix(interval, s.id), cutoffs.get(interval)!);
    }
  }

  /** Deletes the keys `prefix + hexTime(t)` with t < before. */
  private async deleteRange(prefix: string, before: number): Promise<void> {
    if (before <= 0) return;
    for (;;) {
      const keys = await this.host.rawKeys('t', { gte: prefix, lt: prefix + upTo(before), limit: DELETE_CHUNK });
      if (keys.length === 0) return;
      await this.host.rawWrite([], () => ({ ops: keys.map((key): BatchOp => ({ type: 'del', space: 't', key })), result: undefined }));
      if (keys.length < DELETE_CHUNK) return;
    }
  }

  /** Backfills a metric's rollup intervals that are not ready yet (one run at a time per metric). */
  private backfill(metric: string): Promise<void> {
    let running = this.backfills.get(metric);
    if (!running) {
      running = this.runBackfill(metric).finally(() => this.backfills.delete(metric));
      this.backfills.set(metric, running);
    }
    return running;
  }

  /**
   * Each bucket of a new interval R is recomputed from the buckets of its source (the coarsest
   * ready interval dividing R) inside one write. Writes maintain R from the moment it is in the
   * config; a version check of R's bucket proves that the source keys listed before the write are
   * still all there is (a write into the bucket would have changed R's bucket).
   */
  private async runBackfill(metric: string): Promise<void> {
    const config = await this.readConfig(metric);
    const building = config.r.filter((r) => r[2] === 0);
    if (building.length === 0) return;
    const series = await this.seriesOf(metric, undefined);
    for (const [interval] of building) {
      const [source, , , sourceFloor] = config.r.filter((r) => r[2] === 1 && interval % r[0] === 0).at(-1)!;
      // Buckets partly deleted from the source cannot be rebuilt whole: they are left out.
      const from = ceilTo(sourceFloor, interval);
      for (const s of series) {
        let pending: number[] | undefined;
        for (let attempt = 1; ; attempt++) {
          const stale = await this.backfillSeries(metric, s.id, interval, source, from, pending);
          if (stale.length === 0) break;
          if (attempt >= MAX_ATTEMPTS) throw new StorageConflictError(`backfill of the ${formatDuration(interval)} rollup of "${metric}" kept conflicting with concurrent writes; it is retried by the next sweep`, { transient: true });
          pending = stale;
        }
      }
    }
    await this.host.rawWrite([{ space: 't', key: configKey(metric) }], (values) => {
      const c = values[0] as MetricConfig | undefined;
      if (!c) return { ops: [], result: undefined };
      const r = c.r.map((x): RollupConfig => (building.some((b) => b[0] === x[0]) ? [x[0], x[1], 1, x[3]] : x));
      return { ops: [{ type: 'put', space: 't', key: configKey(metric), value: { ...c, r } }], result: undefined };
    });
    await this.readConfig(metric);
  }

  /** Rebuilds the buckets of one series (all, or `only`); returns the starts that changed meanwhile. */
  private async backfillSeries(metric: string, id: string, interval: number, source: number, from: number, only: number[] | undefined): Promise<number[]> {
    const target = rollupPrefix(interval, id);
    const seen = new Map<number, number | undefined>();
    for (const [key, e] of await this.host.rawRange('t', { gte: target + hexTime(from), lt: target + END })) seen.set(ts(key), (e as RollupEntry)[8]);
    const src = rollupPrefix(source, id);
    const groups = new Map<number, string[]>();
    for (const key of await this.host.rawKeys('t', { gte: src + hexTime(from), lt: src + END })) {
      const start = floorTo(ts(key), interval);
      if (only && !only.includes(start)) continue;
      let g = groups.get(start);
      if (!g) groups.set(start, (g = []));
      g.push(key);
    }
    const stale: number[] = [];
    let chunk: [number, string[]][] = [];
    let size = 0;
    const flush = async () => {
      if (chunk.length === 0) return;
      const todo = chunk;
      chunk = [];
      size = 0;
      const reads = [{ space: 't' as const, key: configKey(metric) }];
      for (const [start, keys] of todo) {
        reads.push({ space: 't', key: target + hexTime(start) });
        for (const key of keys) reads.push({ space: 't', key });
      }
      stale.push(...await this.host.rawWrite(reads, (values) => {
        const c = values[0] as MetricConfig | undefined;
        if (!c?.r.some((r) => r[0] === interval)) return { ops: [], result: [] };
        // Retention elsewhere may have deleted source buckets since they were listed: skip those buckets.
        const floor = ceilTo(c.r.find((r) => r[0] === source)?.[3] ?? 0, interval);
        const ops: BatchOp[] = [];
        const changed: number[] = [];
        let i = 1;
        for (const [start, keys] of todo) {
          const current = values[i++] as RollupEntry | undefined;
          let agg: Agg | undefined;
          for (const _ of keys) {
            const e = values[i++] as RollupEntry | undefined;
            if (e) agg = agg ? mergeAgg(agg, e) : (e.slice(0, 8) as Agg);
          }
          if (current?.[8] !== seen.get(start)) changed.push(start);
          else if (agg && start >= floor) ops.push({ type: 'put', space: 't', key: target + hexTime(start), value: [...agg, (current?.[8] ?? 0) + 1] });
        }
        return { ops, result: changed };
      }));
    };
    for (const group of groups) {
      if (size + group[1].length + 1 > BACKFILL_READS) await flush();
      chunk.push(group);
      size += group[1].length + 1;
    }
    await flush();
    return stale;
  }
}

/**
 * A bucket in which the write replaces stored points. With every raw point of the bucket at hand
 * (`complete`), it is recomputed from them; otherwise replaced values are swapped in the sums and
 * min/max can only widen.
 */
function replaceInBucket(b: SeriesBatch, part: Part, interval: number, e: RollupEntry | undefined, stored: Map<number, number>, complete: boolean): Agg {
  const { ts: t, vs } = b;
  if (complete) {
    const merged = new Map<number, number>();
    for (const [at, v] of stored) if (at >= part.start && at < part.start + interval) merged.set(at, v);
    for (let i = part.i0; i < part.i1; i++) merged.set(t[i]!, vs[i]!);
    const times = [...merged.keys()].sort((x, y) => x - y);
    return aggOf(times, times.map((x) => merged.get(x)!), 0, times.length);
  }
  let a: Agg | undefined = e ? (e.slice(0, 8) as Agg) : undefined;
  for (let i = part.i0; i < part.i1; i++) {
    const at = t[i]!;
    const v = vs[i]!;
    const old = stored.get(at);
    if (!a) a = [1, v, v, v, at, v, at, v];
    else if (old !== undefined) {
      a[1] += v - old;
      if (at === a[4]) a[5] = v;
      if (at === a[6]) a[7] = v;
      a[2] = Math.min(a[2], v);
      a[3] = Math.max(a[3], v);
    } else a = mergeAgg(a, [1, v, v, v, at, v, at, v]);
  }
  return a!;
}
