/**
 * `storage.timeSeries`: the time-series API of one backend. The implementation (timeseries.ts) is
 * loaded with import() on the first call, so apps that never use time series never load it.
 */
import type { Backend } from './backend';
import type {
  TimeSeriesBucket, TimeSeriesBucketQuery, TimeSeriesInfo, TimeSeriesPoint, TimeSeriesRawQuery, TimeSeriesRetention,
  TimeSeriesRetentionInfo, TimeSeriesSample, TimeSeriesWriteOptions,
} from './timeseries';

/** Largest timestamp: 12 hex digits of ms (year 10889). */
export const MAX_TIMESTAMP = 2 ** 48 - 1;
/** Points per `write` call; one call is one atomic write. */
export const MAX_POINTS_PER_WRITE = 100_000;

/**
 * Numeric points `(metric, tags, timestamp, value)` of one backend: raw queries, bucket aggregates
 * served from rollups, retention. See README "Time series".
 *
 * @example
 * ```ts
 * await storage.timeSeries.write({ metric: 'agent.latency', timestamp: Date.now(), value: 12.5, tags: { agent: 'a1' } });
 * const buckets = await storage.timeSeries.query({ metric: 'agent.latency', interval: '1m', aggregate: ['avg', 'max'] });
 * ```
 */
export class TimeSeries {
  /** @internal Use `storage.timeSeries` or `backend.timeSeries`. */
  constructor(private readonly backend: Backend) {}

  /** Writes one point or up to 100,000 in one atomic write, with the rollup buckets they fall in. */
  async write(points: TimeSeriesPoint | readonly TimeSeriesPoint[], options?: TimeSeriesWriteOptions): Promise<void> {
    return (await this.backend.loadTimeSeries()).write(points, options);
  }

  /** Bucket aggregates (`interval` given), in time order. */
  query(q: TimeSeriesBucketQuery): Promise<TimeSeriesBucket[]>;
  /** Raw points in `[from, to)`, in time order. */
  query(q: TimeSeriesRawQuery): Promise<TimeSeriesSample[]>;
  async query(q: TimeSeriesRawQuery | TimeSeriesBucketQuery): Promise<TimeSeriesSample[] | TimeSeriesBucket[]> {
    return (await this.backend.loadTimeSeries()).query(q as TimeSeriesRawQuery);
  }

  /** The series (tag sets) of a metric, optionally only those having every tag in `tags`. */
  async series(metric: string, tags?: Readonly<Record<string, string>>): Promise<TimeSeriesInfo[]> {
    return (await this.backend.loadTimeSeries()).series(metric, tags);
  }

  /** Sets how long raw points and rollup buckets of a metric are kept; adds (and backfills) rollup intervals. */
  async setRetention(metric: string, policy: TimeSeriesRetention): Promise<void> {
    return (await this.backend.loadTimeSeries()).setRetention(metric, policy);
  }

  /** The metric's retention: `{ raw, rollups, building }` in ms (`null`: forever). */
  async getRetention(metric: string): Promise<TimeSeriesRetentionInfo> {
    return (await this.backend.loadTimeSeries()).getRetention(metric);
  }
}
