/**
 * `npm run bench`: SDK vs raw-engine baselines in Node (memory, LevelDB) and Chromium
 * (IndexedDB), plus the browser bundle size of the key-value API. Rows 8–10 (transactions,
 * durability) compare the SDK with itself: transaction vs batchSet, strict vs relaxed, 8
 * concurrent transactions vs 1 at a time (bench/node-tx.ts, bench/lib/transactions.ts).
 * Rows 11–16 (issue #4): indexed queries vs full scans and vs Dexie (bench/query.ts), full-text
 * search vs MiniSearch and across tiers (bench/search.ts), time series on LevelDB
 * (bench/timeseries.ts); their IndexedDB cases run in Chromium (bench/issue4-browser.ts).
 * Rows 17–20 (issue #5, `--only protect`): encryption, compression, the record cache and
 * auto-cleanup, each against the same operations without the feature (bench/issue5.ts; row 17's
 * IndexedDB case in Chromium: bench/issue5-browser.ts).
 *
 *   npm run bench                        # everything, 3 runs per row
 *   npm run bench -- --only node         # node | browser | size | query | search | timeseries | protect | cleanup
 *                                        # (comma-separated; query, search and protect include their
 *                                        # Chromium/IndexedDB cases; cleanup is row 20 alone, with a
 *                                        # line per cleanupStrategy: lru (the row), lfu, ttl)
 *   npm run bench -- --runs 5            # runs per row (default 3; rows 1, 7 and 8–10, a few seconds
 *                                        # per run, always run at least 5 times). Medians are reported.
 *   npm run bench -- --scale 0.1         # smaller datasets, for trying the harness out
 *   npm run bench -- --json out.json     # also write every sample (default .tmp/bench-results.json)
 *
 * Each table line is the median of `--runs` runs; SDK and baseline are measured in the same run,
 * interleaved (their order alternates from run to run).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { markdownTable, samplesText, summarize, textTable, type Line } from './lib/measure.ts';
import { multipleOf } from './lib/transactions.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PARTS = ['node', 'browser', 'size', 'query', 'search', 'timeseries', 'protect', 'cleanup'] as const;
type Part = (typeof PARTS)[number];

function parseArgs(argv: string[]) {
  let only: Part[] = [...PARTS];
  let runs = 3;
  let scale = 1;
  let json = join(ROOT, '.tmp', 'bench-results.json');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--only') {
      only = value().split(',').map((s) => s.trim()) as Part[];
      for (const p of only) if (!PARTS.includes(p)) throw new Error(`--only: unknown part "${p}" (parts: ${PARTS.join(', ')})`);
    } else if (flag === '--runs') {
      runs = Number(value());
      if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
    } else if (flag === '--scale') {
      scale = Number(value());
      if (!(scale > 0 && scale <= 1)) throw new Error('--scale must be in (0, 1]');
    } else if (flag === '--json') {
      json = value();
    } else if (flag === '--help' || flag === '-h') {
      console.log(`usage: npm run bench -- [--only ${PARTS.join(',')}] [--runs N] [--scale F] [--json FILE]`);
      process.exit(0);
    } else {
      throw new Error(`unknown argument ${a} (try --help)`);
    }
  }
  return { only, runs, scale, json };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const log = (msg: string) => console.error(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}`);
  if (args.runs < 3) log(`warning: --runs ${args.runs}: medians of fewer than 3 runs are not reported figures`);
  const lines: Line[] = [];
  let size: import('./size.ts').SizeResult | undefined;
  const notes: string[] = [];

  if (args.only.includes('node')) {
    const { runNode } = await import('./node.ts');
    lines.push(...(await runNode({
      runs: args.runs,
      fastRuns: Math.max(args.runs, 5),
      keys: Math.round(100_000 * args.scale),
      groups: Math.max(2, Math.round(1000 * args.scale)),
      perGroup: 1000,
      queries: 200,
      tmp: join(ROOT, '.tmp', 'bench-node'),
      log,
    })));
    const { runNodeTransactions } = await import('./node-tx.ts');
    lines.push(...(await runNodeTransactions({
      runs: Math.max(args.runs, 5),
      memWrites: multipleOf(50_000 * args.scale, 100),
      levelWrites: multipleOf(20_000 * args.scale, 100),
      sets: multipleOf(2_000 * args.scale, 100),
      memTransfers: multipleOf(16_000 * args.scale, 8),
      levelTransfers: multipleOf(4_000 * args.scale, 8),
      tmp: join(ROOT, '.tmp', 'bench-node-tx'),
      log,
    })));
  }
  if (args.only.includes('browser')) {
    const { runBrowser } = await import('./browser.ts');
    const r = await runBrowser({
      runs: args.runs,
      keys: Math.round(20_000 * args.scale),
      txRuns: Math.max(args.runs, 5),
      txWrites: multipleOf(5_000 * args.scale, 100),
      txSets: multipleOf(500 * args.scale, 100),
      transfers: multipleOf(800 * args.scale, 8),
      root: ROOT,
      log,
    });
    lines.push(...r.lines);
    notes.push(...r.notes);
  }
  // ------------------------------------------------------------------ issue #4: rows 11–16
  if (args.only.includes('query')) {
    const { runQueryBench } = await import('./query.ts');
    lines.push(...(await runQueryBench({
      runs: args.runs,
      records: Math.round(100_000 * args.scale),
      indexed: 300,
      scans: 3,
      tmp: join(ROOT, '.tmp', 'bench-query'),
      log,
    })));
  }
  if (args.only.includes('search')) {
    const { runSearchBench } = await import('./search.ts');
    const r = await runSearchBench({
      runs: args.runs,
      docs: Math.round(10_000 * args.scale),
      queries: 300,
      tmp: join(ROOT, '.tmp', 'bench-search'),
      log,
    });
    lines.push(...r.lines);
    notes.push(...r.notes);
  }
  if (args.only.includes('query') || args.only.includes('search')) {
    const { runIssue4Browser } = await import('./issue4-browser.ts');
    const r = await runIssue4Browser({
      runs: args.runs,
      query: args.only.includes('query'),
      search: args.only.includes('search'),
      records: Math.round(100_000 * args.scale),
      indexed: 300,
      docs: Math.round(10_000 * args.scale),
      queries: 150, // IndexedDB search runs ~20 queries/s
      root: ROOT,
      log,
    });
    lines.push(...r.lines);
    notes.push(...r.notes);
  }
  if (args.only.includes('timeseries')) {
    const { runTimeSeriesBench } = await import('./timeseries.ts');
    const points = multipleOf(1_000_000 * args.scale, 100);
    const r = await runTimeSeriesBench({
      runs: args.runs,
      points,
      perCall: Math.min(10_000, points),
      bucketQueries: 20,
      tmp: join(ROOT, '.tmp', 'bench-timeseries'),
      log,
    });
    lines.push(...r.lines);
    notes.push(...r.notes);
  }
  // ------------------------------------------------------------------ issue #5: rows 17–20
  if (args.only.includes('protect')) {
    const { runIssue5 } = await import('./issue5.ts');
    const r = await runIssue5({
      runs: args.runs,
      encKeys: multipleOf(20_000 * args.scale, 100),
      docs: multipleOf(2_000 * args.scale, 10),
      cacheKeys: 10_000,
      cachePasses: Math.max(1, Math.round(10 * args.scale)),
      cleanupKeys: multipleOf(50_000 * args.scale, 100),
      cleanupStrategies: args.only.includes('cleanup') ? ['lru', 'lfu', 'ttl'] : ['lru'],
      tmp: join(ROOT, '.tmp', 'bench-issue5'),
      log,
    });
    lines.push(...r.lines);
    notes.push(...r.notes);
    const { runIssue5Browser } = await import('./issue5-browser.ts');
    const b = await runIssue5Browser({ runs: args.runs, keys: multipleOf(5_000 * args.scale, 100), root: ROOT, log });
    lines.push(...b.lines);
    notes.push(...b.notes);
  } else if (args.only.includes('cleanup')) {
    const { runIssue5 } = await import('./issue5.ts');
    const r = await runIssue5({
      runs: args.runs,
      encKeys: 0,
      docs: 0,
      cacheKeys: 0,
      cachePasses: 0,
      cleanupKeys: multipleOf(50_000 * args.scale, 100),
      rows: [20],
      cleanupStrategies: ['lru', 'lfu', 'ttl'],
      tmp: join(ROOT, '.tmp', 'bench-issue5'),
      log,
    });
    lines.push(...r.lines);
    notes.push(...r.notes);
  }
  if (args.only.includes('size')) {
    const { measureSize } = await import('./size.ts');
    size = await measureSize(ROOT);
    if (!size) notes.push('bundle size: src/index.browser.ts does not exist yet');
  }

  lines.sort((a, b) => a.row - b.row);
  const results = lines.map(summarize);
  console.log('');
  if (results.length > 0) {
    console.log(textTable(results));
    console.log('');
    console.log('Samples (ops/s per run):');
    for (const r of results) console.log(`  row ${r.row}: ${samplesText(r)}`);
  }
  if (size) {
    console.log('');
    console.log(`Browser bundle, key-value API only (set/get/keys): ${size.gzip.toLocaleString('en-US')} B minified+gzipped (${size.how})`);
    for (const d of size.details) console.log(`  ${d}`);
  }
  for (const n of notes) console.log(`note: ${n}`);
  if (results.length > 0) {
    console.log('');
    console.log('Markdown:');
    console.log(markdownTable(results));
  }
  await mkdir(dirname(args.json), { recursive: true });
  await writeFile(args.json, JSON.stringify({ date: new Date().toISOString(), args, results, size, notes }, null, 2));
  log(`done; samples written to ${args.json}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
