/**
 * Issue #4, rows 15–16: time series on LevelDB.
 *
 *   15  `timeSeries.write(points)` of 1,000,000 points of one series (metric `cpu.load`, tag
 *       `host: web-1`, one point per second from an hour boundary), in calls of 10,000 points, into
 *       a fresh directory; points per second. Baseline: classic-level `batch` of the same bytes.
 *   16  `timeSeries.query({ metric, tags, from, to, interval: '1h' })` (default aggregates: count,
 *       sum, avg, min, max, first, last) over the 1,000,000 points (~11.6 days, 278 buckets; the last,
 *       partial hour is read from raw points), vs the same range read as raw points (`query`
 *       without `interval`, 1,000,000 samples); queries per second. Target: the bucketed query
 *       (served by the 1h rollup) at least 10x faster. A second line runs the bucketed query over
 *       the whole hours only (no partial last bucket: nothing is read from raw points).
 *
 * How row 15's baseline gets "the same bytes": once per bench, before the timed runs, the SDK
 * writes the whole series into a scratch directory while `ClassicLevel.prototype.batch` is wrapped
 * to keep the operations array the LevelDB engine hands to classic-level (keys with their keyspace
 * prefix, values as the engine encoded them: `t` keyspace values are UTF-8 JSON, see
 * src/adapters/node/level-engine.ts). That capture (also the warm-up) is untimed; the wrapper is
 * removed before timing. The baseline then replays the captured batches, one classic-level `batch`
 * per captured call (`{ keyEncoding: 'utf8', valueEncoding: 'view' }`, no sync, like the engine's
 * relaxed writes), into a fresh directory. It writes exactly what the SDK writes (points, rollup
 * buckets, catalog, config), but reads nothing: the SDK reads the rollup buckets and catalog entry
 * each call updates before writing them, and encodes the points, inside its timing.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { StorageSystem } from '../src/index.node.ts';
import type { TimeSeriesPoint } from '../src/core/timeseries.ts';
import { Samples, interleaved, opsPerSecond, type Line } from './lib/measure.ts';

export interface TimeSeriesBenchOptions {
  runs: number;
  /** Points (1,000,000). */
  points: number;
  /** Points per write call (10,000). */
  perCall: number;
  /** Bucketed queries per run (20); raw reads per run: 1. */
  bucketQueries: number;
  tmp: string;
  log: (msg: string) => void;
}

type RawDB = ClassicLevel<string, Uint8Array>;
type RawOp = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

const METRIC = 'cpu.load';
const TAGS = Object.freeze({ host: 'web-1' });
/** 2023-11-14T22:00:00Z, an hour boundary (472,222 h since the epoch). */
export const TS_START = 1_699_999_200_000;

/** The points of write call `c`. */
function callPoints(c: number, perCall: number, total: number): TimeSeriesPoint[] {
  const out: TimeSeriesPoint[] = [];
  for (let i = c * perCall; i < Math.min(total, (c + 1) * perCall); i++) {
    out.push({ metric: METRIC, timestamp: TS_START + i * 1000, value: Math.round(Math.sin(i / 500) * 1000 + (i % 7) * 3) / 10 + 50, tags: TAGS });
  }
  return out;
}

async function openSdk(dir: string): Promise<StorageSystem> {
  const s = new StorageSystem({ defaultBackend: 'file' });
  await s.createBackend('file', { basePath: dir }).open();
  return s;
}

async function openRaw(dir: string): Promise<RawDB> {
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  return db;
}

/** Writes every call of points through the SDK; returns the batches classic-level received when `capture`. */
async function sdkWrite(dir: string, calls: TimeSeriesPoint[][], capture: boolean): Promise<{ ms: number; batches: RawOp[][] }> {
  const batches: RawOp[][] = [];
  const proto = ClassicLevel.prototype as unknown as { batch: (...a: unknown[]) => unknown };
  const original = proto.batch;
  const s = await openSdk(dir);
  if (capture) {
    proto.batch = function (this: { location: string }, ...args: unknown[]) {
      if (Array.isArray(args[0]) && this.location === dir) batches.push(args[0] as RawOp[]);
      return original.apply(this, args);
    };
  }
  try {
    const ts = s.timeSeries;
    const t0 = performance.now();
    for (const pts of calls) await ts.write(pts);
    const ms = performance.now() - t0;
    return { ms, batches };
  } finally {
    proto.batch = original;
    await s.close();
  }
}

export async function runTimeSeriesBench(o: TimeSeriesBenchOptions): Promise<{ lines: Line[]; notes: string[] }> {
  const samples = new Samples();
  const notes: string[] = [];
  const callCount = Math.ceil(o.points / o.perCall);
  const calls = Array.from({ length: callCount }, (_, c) => callPoints(c, o.perCall, o.points));
  await rm(o.tmp, { recursive: true, force: true });
  await mkdir(o.tmp, { recursive: true });

  // ------------------------------------------------------------------ capture (untimed, also the warm-up)
  o.log(`rows 15–16: capturing the engine's classic-level batches of ${o.points.toLocaleString('en-US')} points (untimed, warm-up)`);
  const captureDir = join(o.tmp, 'capture');
  const { batches, ms: captureMs } = await sdkWrite(captureDir, calls, true);
  await rm(captureDir, { recursive: true, force: true });
  const opCount = batches.reduce((a, b) => a + b.length, 0);
  const bytes = batches.reduce((a, b) => a + b.reduce((x, op) => x + op.key.length + (op.type === 'put' ? op.value.byteLength : 0), 0), 0);
  if (batches.length < callCount) throw new Error(`bench: captured ${batches.length} batches for ${callCount} write calls`);
  o.log(`rows 15–16: captured ${batches.length} batches, ${opCount.toLocaleString('en-US')} operations, ${(bytes / 1e6).toFixed(1)} MB (keys + values) in ${(captureMs / 1000).toFixed(1)} s`);
  notes.push(`row 15: the SDK's ${callCount} write calls reach classic-level as ${batches.length} batches of ${opCount.toLocaleString('en-US')} operations in all ` +
    `(${(bytes / 1e6).toFixed(1)} MB of keys and values); the baseline replays exactly those batches`);

  // ------------------------------------------------------------------ row 15: writes
  // The SDK directory of the last run is kept: row 16 queries it (after a full compaction).
  const dir = join(o.tmp, 'query');
  const writeRun = async (run: number, last: boolean) => {
    const sdkDir = last ? dir : join(o.tmp, `sdk-${run}`);
    const rawDir = join(o.tmp, `raw-${run}`);
    const r = await interleaved(run, {
      sdk: async () => {
        const { ms } = await sdkWrite(sdkDir, calls, false);
        return (o.points * 1000) / ms;
      },
      base: async () => {
        const raw = await openRaw(rawDir);
        const ops = await opsPerSecond(o.points, async () => {
          for (const b of batches) await raw.batch(b);
        });
        await raw.close();
        return ops;
      },
    });
    if (!last) await rm(sdkDir, { recursive: true, force: true });
    await rm(rawDir, { recursive: true, force: true });
    samples.add(r, 'write.');
  };
  for (let run = 0; run < o.runs; run++) {
    o.log(`row 15 (time-series write): run ${run + 1}/${o.runs}`);
    await writeRun(run, run === o.runs - 1);
  }

  // ------------------------------------------------------------------ row 16: bucketed vs raw query
  {
    const db = await openRaw(dir);
    await db.compactRange('\u0000', '\uffff');
    await db.close();
  }
  const s = await openSdk(dir);
  const ts = s.timeSeries;
  const range = { metric: METRIC, tags: TAGS, from: TS_START, to: TS_START + o.points * 1000 };
  const buckets = await ts.query({ ...range, interval: '1h' });
  const expectBuckets = Math.ceil(o.points / 3600);
  const counted = buckets.reduce((a, b) => a + (b.count ?? 0), 0);
  if (buckets.length !== expectBuckets || counted !== o.points) throw new Error(`bench: 1h query returned ${buckets.length} buckets counting ${counted} points, expected ${expectBuckets} and ${o.points}`);
  let sink = 0;
  const bucketQuery = async () => {
    sink += (await ts.query({ ...range, interval: '1h' })).length;
  };
  // The same query over the whole hours only (no partial last bucket, so no raw points read).
  const whole = { ...range, to: TS_START + Math.floor(o.points / 3600) * 3_600_000 };
  const wholeQuery = async () => {
    sink += (await ts.query({ ...whole, interval: '1h' })).length;
  };
  const queryRun = async (run: number) => {
    const r = await interleaved(run, {
      sdk: () => opsPerSecond(o.bucketQueries, async () => {
        for (let i = 0; i < o.bucketQueries; i++) await bucketQuery();
      }),
      whole: () => opsPerSecond(o.bucketQueries, async () => {
        for (let i = 0; i < o.bucketQueries; i++) await wholeQuery();
      }),
      base: () => opsPerSecond(1, async () => {
        const points = await ts.query(range);
        if (points.length !== o.points) throw new Error(`bench: raw query returned ${points.length} points, expected ${o.points}`);
        sink += points.length;
      }),
    });
    samples.add(r, 'buckets.');
  };
  // Warm-up: bucketed queries only (one raw read of 1,000,000 points warms itself up).
  for (let i = 0; i < o.bucketQueries / 4; i++) {
    await bucketQuery();
    await wholeQuery();
  }
  for (let run = 0; run < o.runs; run++) {
    o.log(`row 16 (1h buckets vs raw points): run ${run + 1}/${o.runs}`);
    await queryRun(run);
  }
  await s.close();
  await rm(o.tmp, { recursive: true, force: true });
  if (sink === 0) throw new Error('bench: nothing was read');

  const n = o.points.toLocaleString('en-US');
  return {
    notes,
    lines: [
      { row: 15, operation: `LevelDB timeSeries.write, ${n} points in calls of ${o.perCall.toLocaleString('en-US')} (points/s, fresh dir)`, baseline: 'classic-level batch of the same bytes (captured)', target: 0.6, sdk: samples.get('write.sdk'), base: samples.get('write.base') },
      { row: 16, operation: `LevelDB timeSeries.query, 1h buckets over ${n} points (${expectBuckets} buckets, queries/s)`, baseline: `raw points of the same range (${n} samples, queries/s)`, target: 10, sdk: samples.get('buckets.sdk'), base: samples.get('buckets.base') },
      { row: 16, operation: `the same, whole hours only (${Math.floor(o.points / 3600)} buckets, all from the rollup; queries/s)`, baseline: `raw points of the full range (${n} samples, queries/s)`, target: null, sdk: samples.get('buckets.whole'), base: samples.get('buckets.base') },
    ],
  };
}
