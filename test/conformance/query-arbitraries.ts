/**
 * fast-check arbitraries for the query conformance tests: documents over a small fixed field
 * vocabulary, and valid filters, sorts and pages over the same vocabulary (docs/queries.md).
 *
 * Constants come from one small value pool shared by documents and filters (a few common values,
 * then a tail of the interesting ones), so that equality, `$in`, `$all` and ranges often hit.
 * Objects are built fresh for every generated value: none is shared between two values.
 *
 * Left out on purpose, because the page leaves them open (see reference-query.ts, "Choice:"):
 * `{}` as a bare condition, `undefined` inside values, a top-level array document, `$key`/`$meta`
 * inside an `$elemMatch` filter, and an `$elemMatch` filter made only of logical operators.
 */
import fc from 'fast-check';
import { refCompare } from './reference-query';

type Make = () => unknown;
type Filter = Record<string, unknown>;

/** Picks one factory and calls it; shrinks towards the first one. */
const fromPool = (pool: readonly Make[]): fc.Arbitrary<unknown> =>
  fc.integer({ min: 0, max: pool.length - 1 }).map((i) => pool[i]!());

const SMALL_INTS: Make[] = [0, 1, 2].map((n) => () => n);
const OTHER_NUMBERS: Make[] = [() => 3, () => -1, () => -0, () => NaN, () => 1.5, () => Infinity, () => -Infinity];
const BIGINTS: Make[] = [() => 1n, () => 0n, () => 2n, () => -1n];
const COMMON_STRINGS = ['a', 'A', 'b'];
/** Case pairs, accented (precomposed and combining), non-BMP, and the U+FFFF / U+10000 pair. */
const RARE_STRINGS = ['', 'B', 'ab', 'aB', 'Ab', 'é', 'É', 'e\u0301', '😀', '\uFFFF', '\u{10000}', 'z'];
const TAGS = ['a', 'b', 'A', 'é', '😀'];
const DATES: Make[] = [0, 1000, NaN].map((t) => () => new Date(t));

// Few common values (so equality and `$in` often hit) and a tail of the interesting ones.
const arbNumber = fc.oneof({ weight: 5, arbitrary: fromPool(SMALL_INTS) }, { weight: 2, arbitrary: fromPool(OTHER_NUMBERS) });
const arbString = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...COMMON_STRINGS) }, { weight: 2, arbitrary: fc.constantFrom(...RARE_STRINGS) });
const arbCommon = fc.oneof(fromPool(SMALL_INTS), fc.constantFrom(...COMMON_STRINGS));
const arbScalar: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: arbCommon },
  { weight: 6, arbitrary: arbNumber },
  { weight: 1, arbitrary: fromPool(BIGINTS) },
  { weight: 5, arbitrary: arbString },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fromPool(DATES) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 2).map((n) => new Uint8Array(Array.from({ length: n }, (_, i) => i + 1))) },
);
const arbScalarArray = fc.array(arbScalar, { maxLength: 3 });
const arbNestedArray = fc.array(fc.oneof(arbScalar, arbScalarArray), { maxLength: 3 });
const arbSmallObject = fc.record({ x: arbScalar, y: arbScalar }, { requiredKeys: ['x'], noNullPrototype: true });
const arbItem = fc.oneof(
  { weight: 4, arbitrary: fc.record({ p: fc.oneof({ weight: 3, arbitrary: arbScalar }, { weight: 1, arbitrary: arbScalarArray }), q: arbScalar }, { requiredKeys: [], noNullPrototype: true }) },
  { weight: 1, arbitrary: arbScalar },
);
const arbItems = fc.array(arbItem, { maxLength: 3 });

/** Any value of the pool: scalars mostly, then arrays (flat, nested, of objects) and small objects. */
const arbValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: arbScalar },
  { weight: 2, arbitrary: arbScalarArray },
  { weight: 1, arbitrary: arbNestedArray },
  { weight: 1, arbitrary: arbItems },
  { weight: 1, arbitrary: arbSmallObject },
);

/** A field that is present four times in five. */
const field = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | typeof ABSENT> => fc.option(arb, { freq: 5, nil: ABSENT });
const ABSENT = Symbol('absent');

/** Documents: a plain object over fields a b c tags n s d nested items (each may be missing), sometimes a non-object. */
export const arbDoc: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      a: field(arbValue),
      b: field(arbScalar),
      c: field(fc.oneof(arbScalar, arbScalarArray, arbNestedArray)),
      tags: field(fc.oneof({ weight: 4, arbitrary: fc.array(fc.constantFrom(...TAGS), { maxLength: 3 }) }, { weight: 1, arbitrary: fc.constantFrom(...TAGS) })),
      n: field(fc.oneof({ weight: 4, arbitrary: arbNumber }, { weight: 1, arbitrary: fromPool(BIGINTS) })),
      s: field(arbString),
      d: field(fromPool(DATES)),
      nested: field(fc.oneof({ weight: 5, arbitrary: arbSmallObject }, { weight: 1, arbitrary: arbScalar }, { weight: 1, arbitrary: fc.array(arbSmallObject, { maxLength: 2 }) })),
      items: field(fc.oneof({ weight: 5, arbitrary: arbItems }, { weight: 1, arbitrary: arbItem })),
    }).map((doc) => Object.fromEntries(Object.entries(doc).filter(([, v]) => v !== ABSENT))),
  },
  { weight: 1, arbitrary: arbScalar },
);

// ------------------------------------------------------------------ filters

/** Paths of the document: the fields, and dotted paths through arrays and objects (rarer), one never present. */
const FIELD_PATHS = ['a', 'b', 'c', 'tags', 'n', 's', 'd', 'nested.x', 'items.p'];
const OTHER_PATHS = ['nested', 'nested.y', 'items', 'items.q', 'items.0', 'items.0.p', 'items.p.0', 'a.x', 'a.0', 'a.p', 'c.1', 'zz'];
/** Paths inside an element of an array of objects (`$elemMatch` filter form). */
const ELEMENT_PATHS = ['p', 'q', 'x', 'y', 'p.0'];

const isObjectLiteral = (v: unknown): boolean =>
  typeof v === 'object' && v !== null && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);
/** The class of a value, enough to pair range bounds of one class. */
const classOf = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : v instanceof Date ? 'date' : ArrayBuffer.isView(v) ? 'binary' : typeof v;

/** A constant of a filter: mostly the common scalars, so that conditions often hit. */
const arbConstant = fc.oneof({ weight: 2, arbitrary: arbCommon }, { weight: 3, arbitrary: arbValue });

/** Constants that suit a path (its field's own pool, sometimes anything), so that conditions often hit. */
function constantsOfPath(path: string): fc.Arbitrary<unknown> {
  const own: Record<string, fc.Arbitrary<unknown>> = {
    tags: fc.constantFrom(...TAGS), n: fc.oneof({ weight: 4, arbitrary: arbNumber }, { weight: 1, arbitrary: fromPool(BIGINTS) }),
    s: arbString, d: fromPool(DATES), b: arbScalar, c: arbScalar, 'nested.x': arbScalar, 'items.p': arbScalar,
  };
  const mine = own[path];
  return mine ? fc.oneof({ weight: 3, arbitrary: mine }, { weight: 1, arbitrary: arbConstant }) : arbConstant;
}

const arbRangeOp = fc.constantFrom('$gt', '$gte', '$lt', '$lte');

const REGEX_SOURCES = ['^a', 'a', 'A$', 'b', '^$', '^.$', 'é', '😀', 'e\u0301', '^[a-z]+$'];
const arbRegex: fc.Arbitrary<Filter> = fc.oneof(
  fc.record({ $regex: fc.constantFrom(...REGEX_SOURCES), $options: fc.constantFrom('i', 'u', 'iu', 'm', 's', 'imsu') }, { requiredKeys: ['$regex'], noNullPrototype: true }),
  // RegExp objects: flags kept, `g` and `y` ignored; `$options` sometimes added on top.
  fc.record({
    $regex: fc.tuple(fc.constantFrom(...REGEX_SOURCES), fc.constantFrom('', 'i', 'u', 'g', 'y', 'gi')).map(([s, f]) => new RegExp(s, f)),
    $options: fc.constantFrom('i', 'u'),
  }, { requiredKeys: ['$regex'], noNullPrototype: true }),
);

/** An operator object for one path whose constants come from `k`; `depth` bounds `$not` / `$elemMatch` nesting. */
function arbOperators(depth: number, k: fc.Arbitrary<unknown>): fc.Arbitrary<Filter> {
  const list = fc.array(fc.oneof({ weight: 5, arbitrary: k }, { weight: 1, arbitrary: fc.constant(null) }), { maxLength: 3 });
  const simple: fc.Arbitrary<Filter>[] = [
    k.map((v) => ({ $eq: v })),
    k.map((v) => ({ $ne: v })),
    fc.tuple(arbRangeOp, k).map(([op, v]) => ({ [op]: v })),
    // two bounds of one class, low first (a gap or a point)
    fc.tuple(fc.constantFrom('$gt', '$gte'), fc.constantFrom('$lt', '$lte'), k, k)
      .filter(([, , x, y]) => classOf(x) === classOf(y))
      .map(([lo, hi, x, y]) => (refCompare(x, y) <= 0 ? { [lo]: x, [hi]: y } : { [lo]: y, [hi]: x })),
    list.map((vs) => ({ $in: vs })),
    list.map((vs) => ({ $nin: vs })),
    fc.boolean().map((b) => ({ $exists: b })),
    arbRegex,
    fc.array(k, { maxLength: 3 }).map((vs) => ({ $all: vs })),
    fc.integer({ min: 0, max: 3 }).map((n) => ({ $size: n })),
  ];
  if (depth <= 0) return fc.oneof(...simple);
  return fc.oneof(
    ...simple,
    arbOperators(depth - 1, k).map((c) => ({ $not: c })),
    fc.constantFrom('^a', 'b', '^.$').map((s) => ({ $not: new RegExp(s, 'u') })),
    // $elemMatch, condition form (on each element) and filter form (element as a document).
    arbOperators(depth - 1, k).map((c) => ({ $elemMatch: c })),
    arbElementFilter(depth - 1).map((f) => ({ $elemMatch: f })),
  );
}

/** A condition: an operator object or a bare value (never a plain object: a bare `{}` is left to the page's ambiguity). */
const arbCondition = (depth: number, k: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 3, arbitrary: arbOperators(depth, k) }, { weight: 2, arbitrary: k.filter((v) => !isObjectLiteral(v)) });

/** A filter over the fields of an array element; it always names at least one path. */
function arbElementFilter(depth: number): fc.Arbitrary<Filter> {
  const entries = fc.uniqueArray(fc.tuple(fc.constantFrom(...ELEMENT_PATHS), arbCondition(depth, arbScalar)), { minLength: 1, maxLength: 2, selector: ([p]) => p });
  const alternatives = fc.array(fc.tuple(fc.constantFrom(...ELEMENT_PATHS), arbScalar).map(([p, v]) => ({ [p]: v })), { minLength: 1, maxLength: 2 });
  return fc.tuple(entries, fc.option(alternatives, { nil: undefined }))
    .map(([es, or]) => (or ? { ...Object.fromEntries(es), $or: or } : Object.fromEntries(es)));
}

/** Conditions on the entry: `$key`, `$meta.version`, `$meta.tags`, `$meta.createdAt`. */
const arbEntryEntry: fc.Arbitrary<[string, unknown]> = fc.oneof(
  // Keys are chosen by the test, so `$key` conditions do not assume a prefix: regexes anchored at
  // the end, ranges around the whole string space, and constants that match no key.
  fc.tuple(fc.constant('$key'), fc.oneof(
    fc.constantFrom('1$', '[02468]$', '[a-m]$', '\\.[0-3]$', '\u{10000}$').map((s): unknown => ({ $regex: s, $options: 'u' })),
    fc.tuple(arbRangeOp, fc.constantFrom('', '\uFFFF', '\u{10000}')).map(([op, k]) => ({ [op]: k })),
    fc.constantFrom('no.such.key', '').map((k) => ({ $ne: k })),
    fc.array(fc.constantFrom('no.such.key', ''), { maxLength: 2 }).map((ks) => ({ $nin: ks })),
    fc.constant(null).map(() => ({ $exists: true })),
  )),
  fc.tuple(fc.constant('$meta.version'), fc.oneof(
    fc.constantFrom(1, 2, 3).map((v): unknown => v),
    fc.tuple(arbRangeOp, fc.constantFrom(1, 2, 3)).map(([op, v]) => ({ [op]: v })),
    fc.array(fc.constantFrom(1, 2), { maxLength: 2 }).map((vs) => ({ $in: vs })),
  )),
  fc.tuple(fc.constant('$meta.tags'), fc.oneof(
    fc.constantFrom(...TAGS).map((v): unknown => v),
    fc.array(fc.constantFrom(...TAGS), { maxLength: 2 }).map((vs) => ({ $all: vs })),
    fc.boolean().map((b) => ({ $exists: b })),
    fc.integer({ min: 0, max: 2 }).map((n) => ({ $size: n })),
    fc.constant(null).map(() => ({ $elemMatch: { $in: ['a', 'b'] } })),
  )),
  // Timestamps are not known in advance: bounds that split at the epoch or at the largest Date.
  fc.tuple(fc.constant('$meta.createdAt'), fromPool([
    () => ({ $gt: 0 }), () => ({ $lt: 0 }), () => ({ $exists: true }), () => ({ $gte: 8.64e15 }), () => ({ $lte: 8.64e15 }), () => ({ $eq: null }),
  ])),
);

/** `path: condition` entries, the fields more often than the other paths. */
function arbPathEntry(depth: number): fc.Arbitrary<[string, unknown]> {
  const on = (paths: string[]) => fc.oneof(...paths.map((p) => fc.tuple(fc.constant(p), arbCondition(depth, constantsOfPath(p)))));
  return fc.oneof({ weight: 3, arbitrary: on(FIELD_PATHS) }, { weight: 1, arbitrary: on(OTHER_PATHS) });
}

/** A filter at some nesting level: path entries, entry conditions and logical operators. */
function arbFilterAt(depth: number, minEntries = 0): fc.Arbitrary<Filter> {
  const entry: fc.Arbitrary<[string, unknown]> = depth <= 0
    ? fc.oneof({ weight: 5, arbitrary: arbPathEntry(1) }, { weight: 1, arbitrary: arbEntryEntry })
    : fc.oneof(
      { weight: 5, arbitrary: arbPathEntry(2) },
      { weight: 1, arbitrary: arbEntryEntry },
      { weight: 2, arbitrary: fc.tuple(fc.constantFrom('$and', '$or', '$nor'), fc.array(arbFilterAt(depth - 1, 1), { minLength: 1, maxLength: 3 })) },
    );
  return fc.uniqueArray(entry, { minLength: minEntries, maxLength: 2, selector: ([k]) => k }).map((es) => Object.fromEntries(es));
}

/** Valid filters using every operator of the page over the document vocabulary. */
export const arbFilter: fc.Arbitrary<Filter> = arbFilterAt(2);

const SORT_PATHS = ['a', 'b', 'c', 'n', 's', 'd', 'nested.x', 'items.0.p', 'c.0', 'zz', '$meta.version', '$meta.createdAt'];

/** No sort, or one or two sort paths with directions. */
export const arbSort: fc.Arbitrary<Record<string, 1 | -1> | undefined> = fc.option(
  fc.uniqueArray(fc.tuple(fc.constantFrom(...SORT_PATHS), fc.constantFrom<1 | -1>(1, -1)), { minLength: 1, maxLength: 2, selector: ([p]) => p })
    .map((es) => Object.fromEntries(es) as Record<string, 1 | -1>),
  { nil: undefined },
);

/** Paging: limit and offset, each sometimes absent. */
export const arbPage: fc.Arbitrary<{ limit?: number; offset?: number }> = fc.record(
  { limit: fc.integer({ min: 0, max: 5 }), offset: fc.integer({ min: 0, max: 5 }) },
  { requiredKeys: [], noNullPrototype: true },
);

/** Constants suited to field `f` (`$meta.*` fields have their own small pools). */
function constantsFor(f: string): fc.Arbitrary<unknown> {
  if (f === '$meta.version') return fc.constantFrom(1, 2, 3);
  if (f === '$meta.tags') return fc.constantFrom(...TAGS);
  if (f.startsWith('$meta.')) return fc.constantFrom(0, 8.64e15);
  return constantsOfPath(f);
}

/** Two bounds of one class for a two-sided range on `f`, low one first. */
function boundsFor(f: string): fc.Arbitrary<[unknown, unknown]> {
  const sorted = <T>(pair: [T, T]): [unknown, unknown] => (refCompare(pair[0], pair[1]) <= 0 ? pair : [pair[1], pair[0]]);
  if (f.startsWith('$meta.')) return fc.tuple(constantsFor(f), constantsFor(f)).map(sorted);
  return fc.oneof(fc.tuple(arbNumber, arbNumber).map(sorted), fc.tuple(arbString, arbString).map(sorted));
}

/**
 * Filters the planner can serve from an index on field `f`: equality, `$in` or a range (one- or
 * two-sided) on `f` at the top level, half the time combined with one or two other top-level
 * conditions (path or entry conditions, no logical operators).
 */
export function arbIndexedFilter(f: string): fc.Arbitrary<Filter> {
  const v = constantsFor(f);
  const onF: fc.Arbitrary<unknown> = fc.oneof(
    v.filter((x) => !isObjectLiteral(x)),
    v.map((x) => ({ $eq: x })),
    fc.array(v, { minLength: 1, maxLength: 3 }).map((xs) => ({ $in: xs })),
    fc.tuple(arbRangeOp, v).map(([op, x]) => ({ [op]: x })),
    fc.tuple(fc.constantFrom('$gt', '$gte'), fc.constantFrom('$lt', '$lte'), boundsFor(f)).map(([lo, hi, [a, b]]) => ({ [lo]: a, [hi]: b })),
  );
  return fc.tuple(onF, fc.option(arbFilterAt(0, 1), { freq: 2, nil: undefined })).map(([cond, rest]) => {
    const others = Object.entries(rest ?? {}).filter(([k]) => k !== f);
    return Object.fromEntries([[f, cond], ...others]);
  });
}
