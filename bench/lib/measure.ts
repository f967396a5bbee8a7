/**
 * Timing and reporting helpers of the bench (Node side).
 *
 * A "line" of the result table compares one SDK operation with one baseline. Every run measures
 * each side once, in the same process and the same run, in alternating order (run 0: SDK first,
 * run 1: baseline first, ...), and the table shows the median over runs of each side.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** A full garbage collection when possible, so one side's garbage is not collected on the other side's clock. */
export const collectGarbage: () => void = (() => {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (() => void) | undefined;
    if (typeof gc === 'function') return gc;
  } catch {
    // fall through: no forced GC
  }
  return () => {};
})();

/** Runs `body` (which performs `ops` operations) and returns operations per second. */
export async function opsPerSecond(ops: number, body: () => Promise<unknown>): Promise<number> {
  collectGarbage();
  const t0 = performance.now();
  await body();
  const ms = performance.now() - t0;
  return (ops * 1000) / ms;
}

/** `items` rotated by `run`: with two items, run 0 keeps the order and run 1 swaps it. */
export function rotate<T>(items: readonly T[], run: number): T[] {
  const k = run % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** Runs the named cases once each, in the order given by `rotate(…, run)`; returns ops/s by name. */
export async function interleaved(run: number, cases: Record<string, () => Promise<number>>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, fn] of rotate(Object.entries(cases), run)) out[name] = await fn();
  return out;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Samples (ops/s, one per run) collected under a name, e.g. `leveldb.get.sdk`. */
export class Samples {
  private readonly data = new Map<string, number[]>();

  add(values: Record<string, number>, prefix = ''): void {
    for (const [k, v] of Object.entries(values)) {
      const name = prefix + k;
      const list = this.data.get(name) ?? [];
      list.push(v);
      this.data.set(name, list);
    }
  }

  get(name: string): number[] {
    return this.data.get(name) ?? [];
  }

  toJSON(): Record<string, number[]> {
    return Object.fromEntries(this.data);
  }
}

/** One line of the result table. */
export interface Line {
  row: number;
  operation: string;
  baseline: string;
  sdk: number[];
  base: number[];
  /** Least SDK/baseline ratio that passes; null: no target, the ratio is reported only. */
  target: number | null;
  /** Set when the line could not be measured (e.g. the SDK part is missing). */
  skipped?: string;
}

export interface LineResult extends Line {
  sdkMedian: number;
  baseMedian: number;
  ratio: number;
  pass: boolean | undefined;
}

export function summarize(line: Line): LineResult {
  const sdkMedian = median(line.sdk);
  const baseMedian = median(line.base);
  const ratio = sdkMedian / baseMedian;
  return { ...line, sdkMedian, baseMedian, ratio, pass: line.skipped || line.target === null || !Number.isFinite(ratio) ? undefined : ratio >= line.target };
}

/** Whole numbers, except below 10 (e.g. full scans at ~1 query/s), where two decimals are kept. */
const fmtOps = (x: number): string => (!Number.isFinite(x) ? '—' : x < 10 ? x.toFixed(2) : Math.round(x).toLocaleString('en-US'));
const fmtRatio = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '—');
const verdict = (r: LineResult): string => (r.skipped ? 'SKIP' : r.target === null ? 'ratio only' : r.pass === undefined ? '—' : r.pass ? 'PASS' : 'MISS');

function cells(r: LineResult): string[] {
  return [
    String(r.row), r.operation, fmtOps(r.sdkMedian), r.baseline, fmtOps(r.baseMedian), fmtRatio(r.ratio), r.target === null ? 'none' : `≥ ${r.target}`,
    verdict(r) + (r.skipped ? ` (${r.skipped})` : ''),
  ];
}

const HEAD = ['#', 'operation', 'SDK ops/s', 'baseline', 'baseline ops/s', 'ratio', 'target', 'result'];

/** A fixed-width text table for the terminal. */
export function textTable(results: readonly LineResult[]): string {
  const rows = [HEAD, ...results.map(cells)];
  const widths = HEAD.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const right = new Set([2, 4, 5]);
  const fmt = (r: string[]) => r.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  return [fmt(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(fmt)].join('\n');
}

/** The same table in Markdown. */
export function markdownTable(results: readonly LineResult[]): string {
  const align = ['--:', ':--', '--:', ':--', '--:', '--:', ':--', ':--'];
  return [
    `| ${HEAD.join(' | ')} |`,
    `|${align.join('|')}|`,
    ...results.map((r) => `| ${cells(r).map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`),
  ].join('\n');
}

/** SDK/baseline of each run (both measured in the same run, next to each other). */
export function pairedRatios(r: Line): number[] {
  return r.sdk.map((s, i) => s / r.base[i]!).filter(Number.isFinite);
}

/** Per-run samples of a line, for the log: `SDK [a, b, c]  baseline [x, y, z]  per-run ratio [..]`. */
export function samplesText(r: Line): string {
  const f = (xs: number[]) => `[${xs.map(fmtOps).join(', ')}]`;
  const ratios = pairedRatios(r);
  return `${r.operation} vs ${r.baseline}: SDK ${f(r.sdk)}  baseline ${f(r.base)}  per-run ratio ` +
    `[${ratios.map((x) => x.toFixed(2)).join(', ')}] (median ${median(ratios).toFixed(2)})`;
}
