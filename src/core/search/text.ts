/**
 * Text analysis for full-text search: the one tokenizer that both indexing and querying use, the
 * text of a field, and the one-edit test of fuzzy matching. Pure functions, no I/O.
 *
 * A term is a run of letters, digits and marks (`\p{L}\p{N}\p{M}`), folded: NFKD, diacritics
 * removed (see DIACRITICS below), lower-cased (locale-independent), at most
 * {@link MAX_TERM_LENGTH} code points. Invariants the postings layout relies on: a term is never
 * empty and never contains `\u0000` or a lone surrogate.
 *
 * @packageDocumentation
 */

/** Longest term, in code points; longer runs are truncated (so they still match each other). */
export const MAX_TERM_LENGTH = 64;

type WordSegmenter = { segment(text: string): Iterable<{ segment: string }> };

/** One Segmenter for the process: constructing one costs far more than segmenting a sentence. */
let segmenter: WordSegmenter | null | undefined;
function getSegmenter(): WordSegmenter | null {
  if (segmenter === undefined) {
    const Seg = (Intl as { Segmenter?: new (l?: string, o?: { granularity: 'word' }) => WordSegmenter }).Segmenter;
    segmenter = typeof Seg === 'function' ? new Seg(undefined, { granularity: 'word' }) : null;
  }
  return segmenter;
}

/**
 * Text whose word breaks the plain regex finds exactly as UAX #29 does: ASCII, Latin-1, Latin
 * Extended, IPA, Greek and Cyrillic, combining diacritics. Within these blocks every letter is
 * ALetter and every digit Numeric, and the segmenter never breaks inside a run of them (marks
 * attach, WB4), so splitting the whole text by the regex gives the same terms. The exceptions are
 * the superscript digits and vulgar fractions of Latin-1 (`¹²³¼½¾`, word-break class Other): the
 * segmenter breaks around them, the regex would not. The test suite checks the equivalence.
 */
const REGEX_SAFE = /^[\u0000-\u00b1\u00b4-\u00b8\u00ba\u00bb\u00bf-\u052f]*$/;
const ASCII = /^[\u0000-\u007f]*$/;
const ASCII_RUN = /[a-z0-9]+/g;
const WORD_RUN = /[\p{L}\p{N}\p{M}]+/gu;
/**
 * The combining marks folding removes: those of the generic combining blocks (script Inherited:
 * the accents NFKD splits off Latin, Greek and Cyrillic letters) and the optional vowel points of
 * Hebrew, Arabic and Syriac. Kept: the vowel signs and viramas of Indic and Southeast Asian
 * scripts and the Japanese (han)dakuten U+3099/U+309A, which make a different word (Hindi काम
 * "work" vs कम "less", Japanese バ vs ハ); removing them would merge such words.
 */
const DIACRITICS = /(?![\u3099\u309a])(?=\p{M})[\p{sc=Zinh}\p{sc=Latn}\p{sc=Grek}\p{sc=Cyrl}\p{sc=Hebr}\p{sc=Arab}\p{sc=Syrc}]/gu;
const TERM = /^[\p{L}\p{N}\p{M}]+$/u;
const NON_ASCII = /[^\u0000-\u007f]/;
const SURROGATE = /[\ud800-\udfff]/;

/**
 * The terms of `text`, in order, duplicates kept.
 *
 * Word boundaries come from `Intl.Segmenter` (word granularity, cached) where it exists, which
 * splits scripts written without spaces (Chinese, Japanese, Thai…); inside each segment the terms
 * are the runs of letters, digits and marks, so punctuation never joins words (`don't` gives
 * `don` and `t`, `3.14` gives `3` and `14`, as without a Segmenter) and emoji give nothing.
 * Text the plain regex splits identically (see REGEX_SAFE) skips the Segmenter.
 *
 * @example
 * ```ts
 * tokenize('Crème Brûlée, 2 portions'); // ['creme', 'brulee', '2', 'portions']
 * ```
 */
export function tokenize(text: string): string[] {
  if (ASCII.test(text)) {
    const terms = text.toLowerCase().match(ASCII_RUN);
    if (terms === null) return [];
    for (let i = 0; i < terms.length; i++) if (terms[i]!.length > MAX_TERM_LENGTH) terms[i] = terms[i]!.slice(0, MAX_TERM_LENGTH);
    return terms;
  }
  const seg = REGEX_SAFE.test(text) ? null : getSegmenter();
  if (seg === null) return regexTokens(text);
  return segmenterTokens(text, seg);
}

/**
 * The terms found by the regex alone (the path without `Intl.Segmenter`).
 * @internal exported for tests
 */
export function regexTokens(text: string): string[] {
  const out: string[] = [];
  for (const run of text.match(WORD_RUN) ?? []) fold(run, out);
  return out;
}

/**
 * The terms found through `Intl.Segmenter` (the general path); without a Segmenter, as
 * {@link regexTokens}.
 * @internal exported for tests
 */
export function segmenterTokens(text: string, seg = getSegmenter()): string[] {
  if (seg === null) return regexTokens(text);
  const out: string[] = [];
  for (const { segment } of seg.segment(text)) {
    // Non-word-like segments are looked at too: they hold no letters, but superscript digits
    // and fractions (`²`, `½`) are numbers, as they are without a Segmenter.
    const runs = segment.match(WORD_RUN);
    if (runs !== null) for (const run of runs) fold(run, out);
  }
  return out;
}

/** Folds one run of letters/digits/marks and appends its terms (none, one, or more after NFKD). */
function fold(run: string, out: string[]): void {
  if (!NON_ASCII.test(run)) { out.push(cap(run.toLowerCase())); return; }
  const t = run.normalize('NFKD').replace(DIACRITICS, '').toLowerCase();
  if (t.length === 0) return;
  if (TERM.test(t)) { out.push(cap(t)); return; }
  // NFKD can yield other characters (`½` → `1⁄2`, `ͺ` → space): they separate terms.
  for (const part of t.match(WORD_RUN) ?? []) out.push(cap(part));
}

function cap(term: string): string {
  if (term.length <= MAX_TERM_LENGTH) return term;
  if (!SURROGATE.test(term)) return term.slice(0, MAX_TERM_LENGTH);
  let end = 0;
  for (let n = 0; n < MAX_TERM_LENGTH && end < term.length; n++) end += term.codePointAt(end)! > 0xffff ? 2 : 1;
  return term.slice(0, end);
}

const hasOwn = Object.prototype.hasOwnProperty;
const DIGITS = /^\d+$/;

/**
 * The text of the field at `path` (segments of a dotted path) in a stored value: strings as
 * they are, numbers, bigints and booleans as `String(v)`, arrays of those joined with spaces;
 * objects and everything else give nothing. The path is followed as queries follow it: own
 * properties of objects, a numeric segment indexes an array, any other segment fans out over
 * the array's object elements (one level per array). Parts are joined with spaces.
 */
export function textOf(value: unknown, path: readonly string[]): string {
  // The common case, a top-level string field: no array, no join.
  if (path.length === 1 && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const key = path[0]!;
    if (!hasOwn.call(value, key)) return '';
    const v = (value as Record<string, unknown>)[key];
    if (typeof v === 'string') return v;
  }
  const parts: string[] = [];
  collect(value, path, 0, parts);
  return parts.length === 1 ? parts[0]! : parts.join(' ');
}

function collect(value: unknown, path: readonly string[], i: number, parts: string[]): void {
  if (i === path.length) {
    if (Array.isArray(value)) {
      for (const el of value) { const s = scalarText(el); if (s !== undefined) parts.push(s); }
    } else {
      const s = scalarText(value);
      if (s !== undefined) parts.push(s);
    }
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  const seg = path[i]!;
  if (Array.isArray(value)) {
    if (DIGITS.test(seg)) {
      const idx = Number(seg);
      if (idx < value.length && hasOwn.call(value, seg)) collect(value[idx], path, i + 1, parts);
    } else {
      for (const el of value) if (typeof el === 'object' && el !== null) collect(el, path, i, parts);
    }
    return;
  }
  if (hasOwn.call(value, seg)) collect((value as Record<string, unknown>)[seg], path, i + 1, parts);
}

function scalarText(v: unknown): string | undefined {
  switch (typeof v) {
    case 'string': return v;
    case 'number': case 'bigint': case 'boolean': return String(v);
    default: return undefined;
  }
}

/**
 * True when `a` and `b` are at most one edit apart, counting code points: an insertion, a
 * deletion, a substitution or a transposition of two adjacent code points (Damerau). Equal
 * strings are within one edit.
 */
export function withinOneEdit(a: string, b: string): boolean {
  const d = a.length - b.length;
  if (d > 2 || d < -2) return false; // one edit changes the UTF-16 length by at most 2
  if (a === b) return true;
  if (SURROGATE.test(a) || SURROGATE.test(b)) return oneEdit(Array.from(a), Array.from(b));
  return oneEdit(a, b);
}

/** Works on strings (UTF-16 units = code points there) and on arrays of code points alike. */
function oneEdit(a: ArrayLike<string>, b: ArrayLike<string>): boolean {
  let la = a.length, lb = b.length;
  if (la < lb) { const t = a; a = b; b = t; la = lb; lb = b.length; }
  if (la - lb > 1) return false;
  let i = 0;
  while (i < lb && a[i] === b[i]) i++;
  if (i === lb) return true; // equal, or one trailing insertion
  let j = la - 1, k = lb - 1;
  while (k >= i && a[j] === b[k]) { j--; k--; } // common suffix, down to the mismatch
  if (la !== lb) return j === i; // the one extra code point of `a` is at i
  if (j === i) return true; // one substitution
  return j === i + 1 && a[i] === b[i + 1] && a[i + 1] === b[i]; // adjacent transposition
}
