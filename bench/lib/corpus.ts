/**
 * Issue #4 data, shared by the Node suites and the Chromium page (no Node imports here).
 *
 * - Query records: the ~200-byte users of records.ts plus `group` (i % 1000: every value is held
 *   by exactly 100 of 100,000 records, spread over the whole key range).
 * - Search corpus: short documents `{ title, content }` (a 3–6-word title and an 18–22-word body)
 *   drawn from a fixed word list with a Zipf-like distribution, and a query set over the same list
 *   (two words; in 60 % of the queries the last word is cut to a prefix of at least 3 letters).
 *   The word list is 6,000 pronounceable words built from a fixed syllable table by a seeded LCG.
 *
 * Everything is deterministic: the same `n` gives the same data in Node and in the page.
 */
import { makeRecord, type BenchRecord } from './records.ts';

export interface QueryRecord extends BenchRecord {
  /** `i % 1000`: the equality field of the indexed query (100 records per value at 100,000). */
  group: number;
}

/** The i-th query record. */
export function makeQueryRecord(i: number): QueryRecord {
  return { ...makeRecord(i), group: i % 1000 };
}

/** Key of the i-th query record: `users.00000042`. */
export function queryKey(i: number): string {
  return `users.${String(i).padStart(8, '0')}`;
}

/** Seeded linear congruential generator in [0, 1). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 0x1_0000_0000;
  };
}

const SYLLABLES = ['ka', 'lo', 'mi', 'ner', 'to', 'sa', 'vi', 'ra', 'den', 'po', 'lu', 'qui', 'ben', 'mar', 'tis', 'ol', 'an', 'ge', 'hu', 'rim'];

let cachedWords: string[] | undefined;

/** The word list (6,000 distinct words of 2–4 syllables), most frequent first. */
export function wordList(): string[] {
  if (cachedWords) return cachedWords;
  const rand = lcg(2026);
  const seen = new Set<string>();
  const words: string[] = [];
  while (words.length < 6000) {
    let w = '';
    const n = 2 + Math.floor(rand() * 3);
    for (let j = 0; j < n; j++) w += SYLLABLES[Math.floor(rand() * SYLLABLES.length)];
    if (!seen.has(w)) {
      seen.add(w);
      words.push(w);
    }
  }
  return (cachedWords = words);
}

export interface SearchDoc {
  title: string;
  content: string;
}

/** Key of the i-th document: `docs.00042`. */
export function docKey(i: number): string {
  return `docs.${String(i).padStart(5, '0')}`;
}

/** `n` documents (and their ids, the key's last segment, for MiniSearch). */
export function makeCorpus(n: number): { keys: string[]; ids: string[]; docs: SearchDoc[] } {
  const words = wordList();
  const rand = lcg(7);
  // Zipf-like: index floor(V * u^3) favours the first words.
  const word = () => words[Math.floor(words.length * rand() ** 3)]!;
  const sentence = (k: number) => Array.from({ length: k }, word).join(' ');
  const keys: string[] = [];
  const ids: string[] = [];
  const docs: SearchDoc[] = [];
  for (let i = 0; i < n; i++) {
    const title = sentence(3 + Math.floor(rand() * 4));
    const content = sentence(18 + Math.floor(rand() * 5));
    keys.push(docKey(i));
    ids.push(docKey(i).slice('docs.'.length));
    docs.push({ title: title[0]!.toUpperCase() + title.slice(1), content: content + '.' });
  }
  return { keys, ids, docs };
}

/** `n` queries of two words over the word list (60 %: the last one cut to a prefix of ≥ 3 letters). */
export function makeQueries(n: number): string[] {
  const words = wordList();
  const rand = lcg(99);
  const word = () => words[Math.floor(words.length * rand() ** 3)]!;
  return Array.from({ length: n }, () => {
    const a = word();
    const b = word();
    return rand() < 0.6 ? `${a} ${b.slice(0, Math.max(3, Math.ceil(b.length * 0.6)))}` : `${a} ${b}`;
  });
}
