/**
 * Issue #4, rows 13–14 in Node: full-text search over 10,000 short documents (bench/lib/corpus.ts)
 * against MiniSearch on the same corpus and the same queries, and on LevelDB against the memory tier.
 * (Row 14 on IndexedDB is in bench/issue4-browser.ts.)
 *
 *   13  memory tier, `search('docs.*', { query })` (default limit 20, prefix on the last word) vs
 *       MiniSearch `search(q, { prefix: true })` (its top 20 kept); queries per second.
 *   13  build, two ways, each vs MiniSearch `addAll` of the same documents (docs/s):
 *       - batchSet of the corpus (chunks of 1,000) into a fresh store that already has the search
 *         index (records stored and indexed);
 *       - createSearchIndex over the corpus already stored (untimed batchSet before).
 *       The target applies to the faster of the two (the other line is reported with no target).
 *   14  LevelDB search vs the memory-tier search of the same run (ratio reported, no target).
 *
 * MiniSearch is `new MiniSearch({ fields: ['title', 'content'] })` (ids: the keys' last segment);
 * it stores no documents, while the SDK's hits carry their stored values.
 * The query stores (memory, LevelDB, MiniSearch) are built once; every run then builds three more
 * (batchSet, createSearchIndex, addAll) and drops them.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import MiniSearch from 'minisearch';
import { StorageSystem } from '../src/index.node.ts';
import type { BatchEntry } from '../src/index.node.ts';
import { Samples, interleaved, opsPerSecond, median, type Line } from './lib/measure.ts';
import { makeCorpus, makeQueries } from './lib/corpus.ts';

export interface SearchBenchOptions {
  runs: number;
  /** Documents (10,000). */
  docs: number;
  /** Queries per run and side (300). */
  queries: number;
  tmp: string;
  log: (msg: string) => void;
}

const CHUNK = 1000;
const FIELDS = ['title', 'content'];

export async function runSearchBench(o: SearchBenchOptions): Promise<{ lines: Line[]; notes: string[] }> {
  const samples = new Samples();
  const notes: string[] = [];
  const { keys, ids, docs } = makeCorpus(o.docs);
  const queries = makeQueries(o.queries);
  const chunks: BatchEntry[][] = [];
  for (let s = 0; s < o.docs; s += CHUNK) chunks.push(keys.slice(s, s + CHUNK).map((key, j) => ({ key, value: docs[s + j] })));
  const miniDocs = docs.map((d, i) => ({ id: ids[i]!, title: d.title, content: d.content }));
  const newMini = () => new MiniSearch({ fields: FIELDS });

  await rm(o.tmp, { recursive: true, force: true });
  await mkdir(o.tmp, { recursive: true });
  const openLevel = async (dir: string) => {
    const s = new StorageSystem({ defaultBackend: 'file' });
    await s.createBackend('file', { basePath: dir }).open();
    return s;
  };
  const fill = async (s: StorageSystem) => {
    for (const c of chunks) await s.batchSet(c);
  };

  // ------------------------------------------------------------------ the query stores (built once)
  const mem = new StorageSystem();
  await mem.createSearchIndex('docs', { fields: FIELDS });
  await fill(mem);
  const t0 = performance.now();
  const level = await openLevel(join(o.tmp, 'query'));
  await level.createSearchIndex('docs', { fields: FIELDS });
  await fill(level);
  const levelBuild = (o.docs * 1000) / (performance.now() - t0);
  o.log(`rows 13–14: query stores built (LevelDB: batchSet into a store with the search index, ${Math.round(levelBuild).toLocaleString('en-US')} docs/s, once)`);
  notes.push(`row 14: LevelDB build (batchSet of ${o.docs.toLocaleString('en-US')} docs into a store with the search index, measured once while preparing the query store): ${Math.round(levelBuild).toLocaleString('en-US')} docs/s`);
  const mini = newMini();
  mini.addAll(miniDocs);

  // Sanity: every side answers, and their top hits mostly agree (the rankings differ in details).
  let same = 0;
  let hits = 0;
  for (const q of queries.slice(0, 100)) {
    const a = await mem.search('docs.*', { query: q });
    const b = await level.search('docs.*', { query: q });
    if (a.map((h) => h.key).join() !== b.map((h) => h.key).join()) throw new Error(`bench: memory and LevelDB search disagree on "${q}"`);
    const m = mini.search(q, { prefix: true });
    hits += a.length;
    if (a[0] && m[0] && a[0].key === `docs.${m[0].id}`) same++;
  }
  if (hits === 0) throw new Error('bench: no search returned anything');
  o.log(`rows 13–14: ${hits} hits on the first 100 queries; same top hit as MiniSearch on ${same}/100`);
  notes.push(`row 13: the SDK's top hit equals MiniSearch's on ${same} of the first 100 queries (BM25 variants and prefix rules differ)`);

  let sink = 0;
  const searchAll = (s: StorageSystem, qs: readonly string[]) => async () => {
    for (const query of qs) sink += (await s.search('docs.*', { query })).length;
  };
  const miniAll = (qs: readonly string[]) => async () => {
    for (const q of qs) sink += mini.search(q, { prefix: true }).slice(0, 20).length;
  };

  /** One run; the warm-up (f < 1) builds from the first chunks only and runs a share of the queries. */
  const oneRun = async (run: number, record: boolean, f = 1) => {
    const part = chunks.slice(0, Math.max(1, Math.round(chunks.length * f)));
    const docCount = part.reduce((a, c) => a + c.length, 0);
    const partDocs = miniDocs.slice(0, docCount);
    const qs = queries.slice(0, Math.max(1, Math.round(queries.length * f)));
    // Builds: a fresh store (or MiniSearch) per case, dropped afterwards.
    const build = await interleaved(run, {
      batchSet: async () => {
        const s = new StorageSystem();
        await s.createSearchIndex('docs', { fields: FIELDS });
        const r = await opsPerSecond(docCount, async () => {
          for (const c of part) await s.batchSet(c);
        });
        await s.close();
        return r;
      },
      create: async () => {
        const s = new StorageSystem();
        for (const c of part) await s.batchSet(c);
        const r = await opsPerSecond(docCount, () => s.createSearchIndex('docs', { fields: FIELDS }));
        await s.close();
        return r;
      },
      mini: () => opsPerSecond(docCount, async () => {
        const m = newMini();
        m.addAll(partDocs);
        sink += m.documentCount;
      }),
    });
    const query = await interleaved(run, {
      mem: () => opsPerSecond(qs.length, searchAll(mem, qs)),
      level: () => opsPerSecond(qs.length, searchAll(level, qs)),
      mini: () => opsPerSecond(qs.length, miniAll(qs)),
    });
    if (record) {
      samples.add(build, 'build.');
      samples.add(query, 'query.');
    }
  };
  o.log('rows 13–14: warm-up');
  await oneRun(0, false, 0.2);
  for (let run = 0; run < o.runs; run++) {
    o.log(`rows 13–14: run ${run + 1}/${o.runs}`);
    await oneRun(run, true);
  }
  await mem.close();
  await level.close();
  await rm(o.tmp, { recursive: true, force: true });
  if (sink === 0) throw new Error('bench: nothing was searched');

  const n = o.docs.toLocaleString('en-US');
  const q = queries.length.toLocaleString('en-US');
  const fasterBuild = median(samples.get('build.batchSet')) >= median(samples.get('build.create')) ? 'batchSet' : 'create';
  const buildLine = (which: 'batchSet' | 'create', operation: string): Line => ({
    row: 13,
    operation: operation + (which === fasterBuild ? ' — the faster build' : ''),
    baseline: 'MiniSearch addAll',
    target: which === fasterBuild ? 0.5 : null,
    sdk: samples.get(`build.${which}`),
    base: samples.get('build.mini'),
  });
  return {
    notes,
    lines: [
      { row: 13, operation: `memory search, ${n} docs, ${q} two-word queries, limit 20 (queries/s)`, baseline: 'MiniSearch search(q, { prefix: true })', target: 0.5, sdk: samples.get('query.mem'), base: samples.get('query.mini') },
      buildLine('batchSet', `memory search build: batchSet of ${n} docs into a store with the search index (docs/s)`),
      buildLine('create', `memory search build: createSearchIndex over ${n} stored docs (docs/s)`),
      { row: 14, operation: `LevelDB search, same docs and queries (queries/s)`, baseline: 'memory-tier search, same run', target: null, sdk: samples.get('query.level'), base: samples.get('query.mem') },
    ],
  };
}
