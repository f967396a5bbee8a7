/**
 * Model-based test: random command sequences (fast-check `fc.commands` + `fc.asyncModelRun`) run
 * against a StorageSystem and against a plain Map model, on the memory engine and on LevelDB.
 *
 * Commands: set (with/without a far-future ttl, tags), delete, batchSet, batchGet, get/has/getEntry
 * (value, metadata.version, tags, ttl, expiresAt, createdAt kept across overwrites), keys(pattern),
 * clear(pattern), bursts of writes issued together (applied in call order), transactions (buffered
 * writes and reads, commit or rollback, with an optional outside write in the middle: a conflict is
 * expected exactly when the outside write changed a key the transaction read before it, a key under
 * a pattern it listed before it, or a key it writes), a commit issued together with plain writes
 * before and after it, `transaction(fn, { retries })`, full-state checks and, on LevelDB only,
 * close-and-reopen (with writes still queued at close).
 *
 * Seeds are fixed, so a run is reproducible; the number of executed commands per engine is counted
 * in run(), printed, and must be at least MIN_COMMANDS.
 * Env: MODEL_SCALE=<factor> multiplies the number of runs; MODEL_PROFILE=1 prints time per command
 * kind; MODEL_BURST_CLEAR=0 keeps clear() out of bursts (it is in them by default: clear() is
 * queued in call order, see the last test).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_TTL_SECONDS, StorageConflictError, StorageSystem, type Entry, type Transaction } from '../../src/index.node.ts';

// ------------------------------------------------------------------ the model

type Tags = string[] | undefined;
/** What one write stores. */
interface Put { value: unknown; ttl: number | undefined; tags: Tags }
/** A live entry of the model. `createdAt` is learnt from the first getEntry and must then stay the same. */
interface ModelEntry extends Put { version: number; createdAt: number | undefined }
type Model = Map<string, ModelEntry>;

function putInto(model: Model, key: string, put: Put): void {
  const old = model.get(key);
  model.set(key, { value: put.value, ttl: put.ttl, tags: put.tags, version: (old?.version ?? 0) + 1, createdAt: old?.createdAt });
}

// ------------------------------------------------------------------ keys and patterns

/** Few keys, so commands collide; dots for patterns, an escaped `*`, non-BMP and high BMP characters for ordering. */
const KEYS = ['a.1', 'a.2', 'a.x.1', 'a.x.2', 'b.1', 'b.2', 'b.x.1', 'c', 'c.1', 'q.a*b', 'u.ｆ', 'u.😀'] as const;
const PATTERNS = ['**', 'a.*', 'a.**', '*.1', 'a.x.*', '*.x.*', 'b.**', 'c', 'c.*', '*', '**.1', 'q.a\\*b', 'q.a\\**', 'u.*', 'zz.*'] as const;

type Token = { lit: string } | 'one' | 'any';
const globCache = new Map<string, Token[]>();

/** The documented glob semantics, written independently of src/core/keys.ts. */
function globMatches(pattern: string, key: string): boolean {
  let tokens = globCache.get(pattern);
  if (!tokens) {
    tokens = [];
    for (let i = 0; i < pattern.length; i++) {
      const ch = pattern[i]!;
      if (ch === '\\') tokens.push({ lit: pattern[++i]! });
      else if (ch === '*' && pattern[i + 1] === '*') { tokens.push('any'); i++; }
      else if (ch === '*') tokens.push('one');
      else tokens.push({ lit: ch });
    }
    globCache.set(pattern, tokens);
  }
  const t = tokens;
  const at = (i: number, j: number): boolean => {
    if (i === t.length) return j === key.length;
    const tok = t[i]!;
    if (tok === 'any' || tok === 'one') {
      for (let k = j; k <= key.length; k++) {
        if (at(i + 1, k)) return true;
        if (tok === 'one' && key[k] === '.') return false;
      }
      return false;
    }
    return key[j] === tok.lit && at(i + 1, j + 1);
  };
  return at(0, 0);
}

const sortedKeys = (keys: Iterable<string>) => [...keys].sort(); // UTF-16 code-unit order

// ------------------------------------------------------------------ operations

type WriteOp =
  | { op: 'set'; key: string; put: Put }
  | { op: 'delete'; key: string }
  | { op: 'batchSet'; entries: { key: string; put: Put }[] }
  | { op: 'clear'; pattern: string };

type ReadOp =
  | { op: 'get'; key: string }
  | { op: 'has'; key: string }
  | { op: 'getEntry'; key: string }
  | { op: 'batchGet'; keys: string[] }
  | { op: 'keys'; pattern: string };

/** Buffered writes inside a transaction. */
type TxWriteOp = Exclude<WriteOp, { op: 'clear' }>;
type TxStep = { step: 'read'; r: ReadOp } | { step: 'write'; w: TxWriteOp } | { step: 'outside'; w: WriteOp };

const show = (v: unknown): string => {
  try {
    return typeof v === 'bigint' ? `${v}n` : Object.is(v, -0) ? '-0' : v instanceof Map || v instanceof Set || v instanceof Uint8Array || v instanceof Date
      ? `${v.constructor.name}(${JSON.stringify(v instanceof Date ? v.toISOString() : [...(v as Iterable<unknown>)], (_, x) => (typeof x === 'bigint' ? `${x}n` : x))})`
      : JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : Number.isNaN(x) ? 'NaN' : x)) ?? String(v);
  } catch {
    return String(v);
  }
};
const showPut = (p: Put) => `${show(p.value)}${p.ttl !== undefined ? ` ttl=${p.ttl}` : ''}${p.tags ? ` tags=${JSON.stringify(p.tags)}` : ''}`;
const showWrite = (w: WriteOp): string =>
  w.op === 'set' ? `set(${w.key}, ${showPut(w.put)})`
    : w.op === 'delete' ? `delete(${w.key})`
      : w.op === 'clear' ? `clear(${w.pattern})`
        : `batchSet([${w.entries.map((e) => `${e.key}: ${showPut(e.put)}`).join(', ')}])`;
const showRead = (r: ReadOp): string => (r.op === 'batchGet' ? `batchGet(${r.keys.join(',')})` : r.op === 'keys' ? `keys(${r.pattern})` : `${r.op}(${r.key})`);
const showStep = (s: TxStep): string => (s.step === 'read' ? `tx.${showRead(s.r)}` : s.step === 'write' ? `tx.${showWrite(s.w)}` : `OUTSIDE ${showWrite(s.w)}`);

function setOptions(put: Put): { ttl?: number; tags?: string[] } | undefined {
  if (put.ttl === undefined && put.tags === undefined) return undefined;
  const o: { ttl?: number; tags?: string[] } = {};
  if (put.ttl !== undefined) o.ttl = put.ttl;
  if (put.tags !== undefined) o.tags = put.tags;
  return o;
}

function batchEntries(entries: { key: string; put: Put }[]) {
  return entries.map(({ key, put }) => ({ key, value: put.value, ...setOptions(put) }));
}

/** Issues a write on the store or a transaction (not awaited). */
function issueWrite(target: StorageSystem | Transaction, w: WriteOp): Promise<unknown> {
  switch (w.op) {
    case 'set': return target.set(w.key, w.put.value, setOptions(w.put));
    case 'delete': return target.delete(w.key);
    case 'batchSet': return target.batchSet(batchEntries(w.entries));
    case 'clear': return (target as StorageSystem).clear(w.pattern);
  }
}

/** Applies a plain write to the model: its expected result and the keys whose stored state it changes. */
function applyWrite(model: Model, w: WriteOp): { result: unknown; changed: string[] } {
  switch (w.op) {
    case 'set':
      putInto(model, w.key, w.put);
      return { result: undefined, changed: [w.key] };
    case 'delete': {
      const existed = model.delete(w.key);
      return { result: existed, changed: existed ? [w.key] : [] };
    }
    case 'batchSet':
      for (const e of w.entries) putInto(model, e.key, e.put); // entries apply in order; a repeated key is written twice
      return { result: undefined, changed: w.entries.map((e) => e.key) };
    case 'clear': {
      const hit = [...model.keys()].filter((k) => globMatches(w.pattern, k));
      for (const k of hit) model.delete(k);
      return { result: hit.length, changed: hit };
    }
  }
}

/** What a reader sees: the model, or a transaction's pending writes over the model. */
interface View {
  /** The live entry, with `pending` when it is a transaction's buffered put (its version is what commit stores). */
  lookup(key: string): { put: Put; version: number; createdAt: number | undefined; base: ModelEntry | undefined } | undefined;
  keys(): Iterable<string>;
}

const modelView = (model: Model): View => ({
  lookup: (key) => {
    const e = model.get(key);
    return e && { put: e, version: e.version, createdAt: e.createdAt, base: e };
  },
  keys: () => model.keys(),
});

const txView = (model: Model, pending: Map<string, Put | null>): View => ({
  lookup: (key) => {
    if (!pending.has(key)) return modelView(model).lookup(key);
    const p = pending.get(key);
    if (!p) return undefined;
    const base = model.get(key);
    return { put: p, version: (base?.version ?? 0) + 1, createdAt: base?.createdAt, base: undefined };
  },
  keys: () => {
    const out = new Set(model.keys());
    for (const [k, p] of pending) (p ? out.add(k) : out.delete(k));
    return out;
  },
});

function checkEntry(actual: Entry | undefined, key: string, view: View, label: string): void {
  const want = view.lookup(key);
  if (!want) {
    assert.equal(actual, undefined, `${label}: expected no entry`);
    return;
  }
  assert.ok(actual, `${label}: entry missing`);
  assert.equal(actual.key, key, `${label}: key`);
  assert.deepStrictEqual(actual.value, want.put.value, `${label}: value`);
  const m = actual.metadata;
  assert.equal(m.version, want.version, `${label}: metadata.version`);
  assert.deepStrictEqual(m.tags, want.put.tags, `${label}: metadata.tags`);
  assert.equal(m.ttl, want.put.ttl, `${label}: metadata.ttl`);
  assert.equal(m.expiresAt, want.put.ttl === undefined ? undefined : m.updatedAt + Math.round(want.put.ttl * 1000), `${label}: metadata.expiresAt`);
  assert.ok(m.createdAt <= m.updatedAt, `${label}: createdAt <= updatedAt`);
  if (want.version === 1) assert.equal(m.createdAt, m.updatedAt, `${label}: a new entry has createdAt = updatedAt`);
  if (want.createdAt !== undefined) assert.equal(m.createdAt, want.createdAt, `${label}: createdAt is kept across overwrites`);
  else if (want.base) want.base.createdAt = m.createdAt; // learn it once
}

async function checkRead(actual: unknown, r: ReadOp, view: View, label: string): Promise<void> {
  const value = (k: string) => view.lookup(k)?.put.value;
  switch (r.op) {
    case 'get': assert.deepStrictEqual(actual, value(r.key), `${label}: value`); break;
    case 'has': assert.equal(actual, view.lookup(r.key) !== undefined, label); break;
    case 'getEntry': checkEntry(actual as Entry | undefined, r.key, view, label); break;
    case 'batchGet': assert.deepStrictEqual(actual, r.keys.map(value), label); break;
    case 'keys': assert.deepStrictEqual(actual, sortedKeys([...view.keys()].filter((k) => globMatches(r.pattern, k))), label); break;
  }
}

function issueRead(target: StorageSystem | Transaction, r: ReadOp): Promise<unknown> {
  switch (r.op) {
    case 'get': return target.get(r.key);
    case 'has': return target.has(r.key);
    case 'getEntry': return target.getEntry(r.key);
    case 'batchGet': return target.batchGet(r.keys);
    case 'keys': return target.keys(r.pattern);
  }
}

// ------------------------------------------------------------------ the system under test

interface Real {
  storage: StorageSystem;
  /** LevelDB directory, undefined on memory. */
  readonly dir: string | undefined;
}

type EngineName = 'memory' | 'leveldb';

async function openReal(engine: EngineName, dir?: string): Promise<Real> {
  if (engine === 'memory') {
    const storage = new StorageSystem();
    await storage.createBackend('memory', { sweepInterval: 0 }).open();
    return { storage, dir: undefined };
  }
  const storage = new StorageSystem({ defaultBackend: 'file' });
  await storage.createBackend('file', { basePath: dir! }).open();
  return { storage, dir };
}

// ------------------------------------------------------------------ statistics

interface Stats { commands: number; byKind: Record<string, number>; commits: number; conflicts: number; rollbacks: number; retried: number; reopens: number }
const newStats = (): Stats => ({ commands: 0, byKind: {}, commits: 0, conflicts: 0, rollbacks: 0, retried: 0, reopens: 0 });
const stats: Record<EngineName, Stats> = { memory: newStats(), leveldb: newStats() };
let current: Stats = stats.memory;
/** MODEL_PROFILE=1: milliseconds per command kind (from one command's start to the next one's). */
const TIMES: Record<string, number> = {};
let lastKind = '';
let lastStart = 0;
const count = (kind: string) => {
  if (process.env.MODEL_PROFILE) {
    const now = performance.now();
    if (lastKind) TIMES[lastKind] = (TIMES[lastKind] ?? 0) + now - lastStart;
    lastKind = kind;
    lastStart = now;
  }
  current.commands++;
  current.byKind[kind] = (current.byKind[kind] ?? 0) + 1;
};

// ------------------------------------------------------------------ commands

type Cmd = fc.AsyncCommand<Model, Real>;

async function checkAll(model: Model, real: Real, label: string): Promise<void> {
  const keys = await real.storage.keys('**');
  assert.deepStrictEqual(keys, sortedKeys(model.keys()), `${label}: keys('**')`);
  const view = modelView(model);
  for (const key of keys) checkEntry(await real.storage.getEntry(key), key, view, `${label}: getEntry(${key})`);
}

class WriteCmd implements Cmd {
  constructor(readonly w: WriteOp) {}
  check = () => true;
  async run(model: Model, real: Real) {
    count(this.w.op);
    const { result } = applyWrite(model, this.w);
    const got = await issueWrite(real.storage, this.w);
    assert.deepStrictEqual(got, result, `${showWrite(this.w)} resolved`);
  }
  toString = () => showWrite(this.w);
}

class ReadCmd implements Cmd {
  constructor(readonly r: ReadOp) {}
  check = () => true;
  async run(model: Model, real: Real) {
    count(this.r.op);
    await checkRead(await issueRead(real.storage, this.r), this.r, modelView(model), showRead(this.r));
  }
  toString = () => showRead(this.r);
}

/** Writes issued together without awaiting each: one engine batch, applied in call order. */
class BurstCmd implements Cmd {
  constructor(readonly ws: WriteOp[]) {}
  check = () => true;
  async run(model: Model, real: Real) {
    count('burst');
    const promises = this.ws.map((w) => issueWrite(real.storage, w));
    const expected = this.ws.map((w) => applyWrite(model, w).result);
    assert.deepStrictEqual(await Promise.all(promises), expected, `${this} results`);
  }
  toString = () => `burst[${this.ws.map(showWrite).join('; ')}]`;
}

class CheckAllCmd implements Cmd {
  check = () => true;
  async run(model: Model, real: Real) {
    count('checkAll');
    await checkAll(model, real, 'checkAll');
  }
  toString = () => 'checkAll';
}

/** LevelDB only: queue writes, close the StorageSystem at once, open a new one on the same directory. */
class ReopenCmd implements Cmd {
  constructor(readonly pending: WriteOp[]) {}
  check = () => true;
  async run(model: Model, real: Real) {
    count('reopen');
    current.reopens++;
    const promises = this.pending.map((w) => issueWrite(real.storage, w));
    const expected = this.pending.map((w) => applyWrite(model, w).result);
    await real.storage.close();
    assert.deepStrictEqual(await Promise.all(promises), expected, 'writes queued before close() resolve');
    real.storage = (await openReal('leveldb', real.dir)).storage;
    await checkAll(model, real, `after reopen`);
  }
  toString = () => `reopen(pending: [${this.pending.map(showWrite).join('; ')}])`;
}

type TxEnd = 'commit' | 'rollback';
type Durability = 'strict' | 'relaxed' | undefined;

/**
 * Runs the steps of one transaction attempt against `tx`, checking every read against the model
 * (pending writes over the stored state). Returns the pending writes and whether commit must conflict.
 */
interface StepsOutcome {
  pending: Map<string, Put | null>;
  /** Must commit fail (an outside write changed what the transaction depends on)? */
  conflict: boolean;
  /** Does a change of `key` now conflict with the transaction (it read, listed or writes it)? */
  dependsOn(key: string): boolean;
}

async function runSteps(tx: Transaction, storage: StorageSystem, steps: TxStep[], model: Model, withOutside: boolean): Promise<StepsOutcome> {
  const pending = new Map<string, Put | null>();
  const read = new Set<string>();
  const listed: string[] = [];
  const changedOutside = new Set<string>();
  let conflict = false;
  for (const [i, s] of steps.entries()) {
    const label = `step ${i} ${showStep(s)}`;
    if (s.step === 'outside') {
      if (!withOutside) continue;
      const { result, changed } = applyWrite(model, s.w);
      assert.deepStrictEqual(await issueWrite(storage, s.w), result, label);
      for (const k of changed) {
        changedOutside.add(k);
        if (read.has(k) || listed.some((p) => globMatches(p, k))) conflict = true;
      }
    } else if (s.step === 'read') {
      const r = s.r;
      await checkRead(await issueRead(tx, r), r, txView(model, pending), label);
      if (r.op === 'keys') listed.push(r.pattern);
      else if (r.op === 'batchGet') for (const k of r.keys) read.add(k);
      else read.add(r.key);
    } else {
      const w = s.w;
      const view = txView(model, pending);
      const expected = w.op === 'delete' ? view.lookup(w.key) !== undefined : undefined;
      assert.deepStrictEqual(await issueWrite(tx, w), expected, label);
      if (w.op === 'set') pending.set(w.key, w.put);
      else if (w.op === 'delete') { pending.set(w.key, null); read.add(w.key); }
      else for (const e of w.entries) pending.set(e.key, e.put);
    }
  }
  for (const k of pending.keys()) if (changedOutside.has(k)) conflict = true;
  return { pending, conflict, dependsOn: (k) => pending.has(k) || read.has(k) || listed.some((p) => globMatches(p, k)) };
}

function commitInto(model: Model, pending: Map<string, Put | null>): void {
  for (const [k, p] of pending) (p ? putInto(model, k, p) : model.delete(k));
}

const isConflict = (e: unknown) => e instanceof StorageConflictError && (e as { code?: string }).code === 'STORAGE_CONFLICT';

/** beginTransaction → steps (reads, buffered writes, maybe one outside write) → commit or rollback. */
class TxCmd implements Cmd {
  constructor(readonly steps: TxStep[], readonly end: TxEnd, readonly durability: Durability) {}
  check = () => true;
  async run(model: Model, real: Real) {
    count('tx');
    const tx = await real.storage.beginTransaction(this.durability ? { durability: this.durability } : undefined);
    assert.equal(tx.status, 'active');
    const { pending, conflict } = await runSteps(tx, real.storage, this.steps, model, true);
    if (this.end === 'rollback') {
      await tx.rollback();
      assert.equal(tx.status, 'rolled back');
      current.rollbacks++;
    } else if (conflict) {
      await assert.rejects(tx.commit(), isConflict, 'commit must fail with StorageConflictError');
      assert.equal(tx.status, 'failed');
      current.conflicts++;
    } else {
      await tx.commit();
      assert.equal(tx.status, 'committed');
      commitInto(model, pending);
      current.commits++;
    }
    await assert.rejects(tx.get('a.1'), (e: unknown) => (e as { code?: string }).code === 'STORAGE_TX_CLOSED');
  }
  toString = () => `tx(${this.durability ?? 'default'})[${this.steps.map(showStep).join('; ')}] ${this.end}`;
}

/**
 * A commit issued together with plain writes (not awaited one by one): the writes called before
 * commit() are applied before it — a conflict when they change what the transaction depends on —
 * and the writes called after it are applied after it.
 */
class TxBurstCmd implements Cmd {
  constructor(readonly steps: TxStep[], readonly before: WriteOp[], readonly afterCommit: WriteOp[]) {}
  check = () => true;
  async run(model: Model, real: Real) {
    count('txburst');
    const tx = await real.storage.beginTransaction({ durability: 'relaxed' });
    const outcome = await runSteps(tx, real.storage, this.steps, model, false);
    const pre = this.before.map((w) => issueWrite(real.storage, w));
    const commit = tx.commit().then(() => 'committed', (e: unknown) => (isConflict(e) ? 'conflict' : Promise.reject(e)));
    const post = this.afterCommit.map((w) => issueWrite(real.storage, w));

    let conflict = false;
    const expectedPre = this.before.map((w) => {
      const { result, changed } = applyWrite(model, w);
      if (changed.some(outcome.dependsOn)) conflict = true;
      return result;
    });
    if (!conflict) commitInto(model, outcome.pending);
    const expectedPost = this.afterCommit.map((w) => applyWrite(model, w).result);
    assert.deepStrictEqual(await Promise.all(pre), expectedPre, 'writes issued before commit()');
    assert.equal(await commit, conflict ? 'conflict' : 'committed', 'commit issued between writes');
    assert.deepStrictEqual(await Promise.all(post), expectedPost, 'writes issued after commit()');
    if (conflict) current.conflicts++;
    else current.commits++;
  }
  toString = () => `txburst[${this.steps.map(showStep).join('; ')}] then together: [${this.before.map(showWrite).join('; ')}] COMMIT [${this.afterCommit.map(showWrite).join('; ')}]`;
}

/** storage.transaction(fn, { retries }): the outside write happens in the first attempt only. */
class TxFnCmd implements Cmd {
  constructor(readonly steps: TxStep[], readonly end: TxEnd, readonly retries: number) {}
  check = () => true;
  async run(model: Model, real: Real) {
    count('txfn');
    let attempts = 0;
    let last: StepsOutcome | undefined;
    let firstConflict = false;
    const outcome = await real.storage.transaction(async (tx) => {
      attempts++;
      last = await runSteps(tx, real.storage, this.steps, model, attempts === 1);
      if (attempts === 1) firstConflict = last.conflict;
      if (this.end === 'rollback') throw new Error('abort by fn');
      return 'done';
    }, { retries: this.retries, durability: 'relaxed' }).then((v) => ({ ok: v }), (e: unknown) => ({ err: e }));

    if (this.end === 'rollback') {
      assert.ok('err' in outcome && (outcome.err as Error).message === 'abort by fn', `fn error is rethrown, got ${show(outcome)}`);
      assert.equal(attempts, 1, 'an error of fn is not retried');
      current.rollbacks++;
      return;
    }
    if (firstConflict && this.retries === 0) {
      assert.ok('err' in outcome && isConflict(outcome.err), 'retries: 0 and a conflict: StorageConflictError');
      assert.equal(attempts, 1);
      current.conflicts++;
      return;
    }
    if ('err' in outcome) throw outcome.err;
    assert.equal(outcome.ok, 'done');
    assert.equal(attempts, firstConflict ? 2 : 1, 'a conflicting attempt is re-run once (the outside write is not repeated)');
    assert.equal(last!.conflict, false);
    if (firstConflict) current.retried++;
    commitInto(model, last!.pending);
    current.commits++;
  }
  toString = () => `transaction(fn, retries=${this.retries})[${this.steps.map(showStep).join('; ')}] ${this.end}`;
}

// ------------------------------------------------------------------ arbitraries

const keyArb = fc.constantFrom(...KEYS);
const patternArb = fc.constantFrom(...PATTERNS);

const valueArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.integer() },
  { weight: 4, arbitrary: fc.string({ maxLength: 6 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 4, unit: 'binary' }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 3, unit: fc.integer({ min: 0xd7f0, max: 0xdfff }).map((c) => String.fromCharCode(c)) }) }, // lone surrogates
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 2, arbitrary: fc.double() }, // NaN, ±Infinity, -0
  { weight: 2, arbitrary: fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.constant(null)), { maxLength: 4 }) },
  { weight: 2, arbitrary: fc.record({ n: fc.integer(), s: fc.string({ maxLength: 4 }), d: fc.option(fc.double(), { nil: undefined }) }, { noNullPrototype: true }) },
  { weight: 1, arbitrary: fc.date({ noInvalidDate: true }) },
  { weight: 1, arbitrary: fc.bigInt() },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 6 }) },
  { weight: 1, arbitrary: fc.array(fc.tuple(fc.string({ maxLength: 2 }), fc.integer()), { maxLength: 3 }).map((kv) => new Map(kv)) },
  { weight: 1, arbitrary: fc.uniqueArray(fc.integer({ min: -5, max: 5 }), { maxLength: 4 }).map((a) => new Set(a)) },
);

/** No ttl, or a ttl far enough in the future never to expire during the test (fractional too). */
const ttlArb = fc.constantFrom<number | undefined>(undefined, undefined, undefined, 3600, 86_400.5, 1e7, MAX_TTL_SECONDS);
const tagsArb = fc.constantFrom<Tags>(undefined, undefined, ['t1'], ['t1', 't2'], [], ['ü-tag', 't1', 't1']);
const putArb: fc.Arbitrary<Put> = fc.record({ value: valueArb, ttl: ttlArb, tags: tagsArb });

const setArb = fc.record({ op: fc.constant('set' as const), key: keyArb, put: putArb });
const deleteArb = fc.record({ op: fc.constant('delete' as const), key: keyArb });
const batchSetArb = fc.record({ op: fc.constant('batchSet' as const), entries: fc.array(fc.record({ key: keyArb, put: putArb }), { maxLength: 5 }) });
const clearArb = fc.record({ op: fc.constant('clear' as const), pattern: patternArb });
const txWriteArb: fc.Arbitrary<TxWriteOp> = fc.oneof({ weight: 5, arbitrary: setArb }, { weight: 2, arbitrary: deleteArb }, { weight: 1, arbitrary: batchSetArb });
const writeArb: fc.Arbitrary<WriteOp> = fc.oneof({ weight: 5, arbitrary: setArb }, { weight: 2, arbitrary: deleteArb }, { weight: 1, arbitrary: batchSetArb }, { weight: 1, arbitrary: clearArb });

const readArb: fc.Arbitrary<ReadOp> = fc.oneof(
  fc.record({ op: fc.constant('get' as const), key: keyArb }),
  fc.record({ op: fc.constant('has' as const), key: keyArb }),
  { weight: 2, arbitrary: fc.record({ op: fc.constant('getEntry' as const), key: keyArb }) },
  fc.record({ op: fc.constant('batchGet' as const), keys: fc.array(keyArb, { maxLength: 5 }) }),
  { weight: 2, arbitrary: fc.record({ op: fc.constant('keys' as const), pattern: patternArb }) },
);

/** A transaction's steps: reads and buffered writes, plus (half the time) one outside write somewhere. */
const stepsArb: fc.Arbitrary<TxStep[]> = fc
  .tuple(
    fc.array(fc.oneof(
      { weight: 1, arbitrary: readArb.map((r): TxStep => ({ step: 'read', r })) },
      { weight: 1, arbitrary: txWriteArb.map((w): TxStep => ({ step: 'write', w })) },
    ), { minLength: 1, maxLength: 6 }),
    fc.option(fc.tuple(writeArb, fc.nat()), { nil: undefined }),
  )
  .map(([steps, outside]) => {
    if (!outside) return steps;
    const out = [...steps];
    out.splice(outside[1] % (steps.length + 1), 0, { step: 'outside', w: outside[0] });
    return out;
  });

// Bursts hold set/delete/batchSet and clear(), which is ordered with writes issued together with it
// (see the test "clear() takes its place in the write queue" below). MODEL_BURST_CLEAR=0 leaves it out.
const BURST_CLEAR = process.env.MODEL_BURST_CLEAR !== '0';
const burstWriteArb: fc.Arbitrary<WriteOp> = BURST_CLEAR ? writeArb : txWriteArb;
const burstArb = fc.array(burstWriteArb, { minLength: 2, maxLength: 8 }).map((ws) => new BurstCmd(ws));

function commandArb(engine: EngineName): fc.Arbitrary<Cmd> {
  const txEnd = fc.constantFrom<TxEnd>('commit', 'commit', 'commit', 'rollback');
  const arbs: fc.WeightedArbitrary<Cmd>[] = [
    { weight: 16 * 7, arbitrary: setArb.map((w) => new WriteCmd(w)) },
    { weight: 6 * 7, arbitrary: deleteArb.map((w) => new WriteCmd(w)) },
    { weight: 4 * 7, arbitrary: batchSetArb.map((w) => new WriteCmd(w)) },
    { weight: 2 * 7, arbitrary: clearArb.map((w) => new WriteCmd(w)) },
    { weight: 16 * 7, arbitrary: readArb.map((r) => new ReadCmd(r)) },
    { weight: 4 * 7, arbitrary: burstArb },
    // Commits default to strict durability (fsync on LevelDB): a quarter of them keep the default.
    { weight: 6 * 7, arbitrary: fc.tuple(stepsArb, txEnd, fc.constantFrom<Durability>(undefined, 'relaxed', 'relaxed', 'relaxed')).map(([s, e, d]) => new TxCmd(s, e, d)) },
    { weight: 2 * 7, arbitrary: fc.tuple(stepsArb, txEnd, fc.constantFrom(0, 1, 3)).map(([s, e, r]) => new TxFnCmd(s, e, r)) },
    { weight: 1 * 7, arbitrary: fc.constant(new CheckAllCmd()) },
    { weight: 2 * 7, arbitrary: fc.tuple(stepsArb, fc.array(burstWriteArb, { maxLength: 3 }), fc.array(burstWriteArb, { maxLength: 3 })).map(([s, b, a]) => new TxBurstCmd(s, b, a)) },
  ];
  // About one command in 400 (a reopen costs ~20 commands' time).
  if (engine === 'leveldb') arbs.push({ weight: 1, arbitrary: fc.array(burstWriteArb, { maxLength: 4 }).map((p) => new ReopenCmd(p)) });
  return fc.oneof(...arbs);
}

// ------------------------------------------------------------------ the runs

const MIN_COMMANDS = 100_000;
const SCALE = Number(process.env.MODEL_SCALE ?? 1);
/**
 * Per engine: `streams` independent fc.assert runs at once (LevelDB waits on its I/O threads, so
 * several streams use the two cores better), each with a fixed seed, `numRuns` runs of up to
 * `maxCommands` commands. The executed count is asserted, not assumed.
 */
const PLAN: Record<EngineName, { seed: number; streams: number; numRuns: number; maxCommands: number }> = {
  memory: { seed: 0x7135_2024, streams: 1, numRuns: Math.ceil(260 * SCALE), maxCommands: 800 },
  leveldb: { seed: 0x1e7e_1db5, streams: 3, numRuns: Math.ceil(92 * SCALE), maxCommands: 800 },
};

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
  for (const engine of ['memory', 'leveldb'] as const) {
    const s = stats[engine];
    if (s.commands === 0) continue;
    console.log(`model ${engine}: ${s.commands} commands executed (tx: ${s.commits} committed, ${s.conflicts} conflicts, ${s.rollbacks} rolled back, ${s.retried} retried after a conflict; ${s.reopens} reopens) ${JSON.stringify(s.byKind)}`);
  }
});

for (const engine of ['memory', 'leveldb'] as const) {
  test(`model: random command sequences agree with a Map model (${engine})`, { timeout: 10 * 60_000 }, async () => {
    current = stats[engine];
    const started = Date.now();
    const { seed, streams, numRuns, maxCommands } = PLAN[engine];
    const property = fc.asyncProperty(fc.commands([commandArb(engine)], { maxCommands, size: 'max' }), async (cmds) => {
      let dir: string | undefined;
      if (engine === 'leveldb') {
        dir = await mkdtemp(join(tmpdir(), 'tierstore-model-'));
        dirs.push(dir);
      }
      const real = await openReal(engine, dir);
      const model: Model = new Map();
      try {
        await fc.asyncModelRun(() => ({ model, real }), cmds);
        await checkAll(model, real, 'end of run');
      } finally {
        await real.storage.close().catch(() => {});
        if (dir) await rm(dir, { recursive: true, force: true });
      }
    });
    await Promise.all(Array.from({ length: streams }, (_, i) => fc.assert(property, { numRuns, seed: seed + i, includeErrorInReport: true })));
    if (process.env.MODEL_PROFILE) console.log(engine, JSON.stringify(Object.fromEntries(Object.entries(TIMES).map(([k, v]) => [k, Math.round(v)]))));
    for (const k of Object.keys(TIMES)) delete TIMES[k];
    lastKind = '';
    const s = stats[engine];
    console.log(`model ${engine}: ${s.commands} commands in ${((Date.now() - started) / 1000).toFixed(1)} s (${streams} stream(s) × ${numRuns} runs), 0 divergences`);
    assert.ok(s.commands >= MIN_COMMANDS * Math.min(1, SCALE), `only ${s.commands} commands executed on ${engine}; at least ${MIN_COMMANDS} are required`);
  });
}
// ------------------------------------------------------------------ found by the model

for (const engine of ['memory', 'leveldb'] as const) {
  test(`clear() takes its place in the write queue when it is called (${engine})`, async () => {
    // README: "Writes to one backend apply in call order" and close() "finishes queued writes".
    const failures: string[] = [];
    const scenario = async (name: string, fn: (storage: StorageSystem) => Promise<string | undefined>) => {
      const dir = engine === 'leveldb' ? await mkdtemp(join(tmpdir(), 'tierstore-model-')) : undefined;
      if (dir) dirs.push(dir);
      const { storage } = await openReal(engine, dir);
      try {
        const problem = await fn(storage);
        if (problem) failures.push(`${name}: ${problem}`);
      } finally {
        await storage.close().catch(() => {});
      }
    };
    await scenario('clear("a.*") then set("a.5") issued together', async (storage) => {
      await storage.set('a.5', 'old');
      const [cleared] = await Promise.all([storage.clear('a.*'), storage.set('a.5', 'new')]);
      const now = await storage.get('a.5');
      return cleared === 1 && now === 'new' ? undefined : `clear resolved ${cleared} (expected 1), a.5 is ${JSON.stringify(now)} (expected "new": the later set was deleted by the earlier clear)`;
    });
    await scenario('set("a.7") then clear("a.*") issued together', async (storage) => {
      const [, cleared] = await Promise.all([storage.set('a.7', 1), storage.clear('a.*')]);
      const now = await storage.get('a.7');
      return cleared === 1 && now === undefined ? undefined : `clear resolved ${cleared} (expected 1), a.7 is ${JSON.stringify(now)} (expected deleted: the earlier set escaped the later clear)`;
    });
    await scenario('clear("a.*") then close()', async (storage) => {
      await storage.set('a.1', 1);
      const cleared = storage.clear('a.*').then((n) => `resolved ${n}`, (e: { code?: string }) => `rejected ${e.code}`);
      await storage.close();
      const outcome = await cleared;
      return outcome === 'resolved 1' ? undefined : `clear() called before close() ${outcome} (expected: resolved 1)`;
    });
    assert.deepStrictEqual(failures, [], failures.join('\n'));
  });
}
