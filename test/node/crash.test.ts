/**
 * Crash safety of the LevelDB file tier with `durability: 'strict'`.
 *
 * A child process (fixtures/crash-child.ts) writes in a loop — plain sets, batchSets and
 * transactions that move amounts between 10 accounts and log each transfer in the same
 * transaction — and prints an acknowledgement after each operation resolves. This process kills
 * it with SIGKILL at a random moment, reopens the directory with the SDK and checks:
 * - lost: every acknowledged write is present with its value (sets, whole batches, txlogs);
 * - torn: no batch is partly present; the accounts are exactly the initial balances plus every
 *   txlog present (so a transfer is all there or not at all), each account's version is
 *   1 + its transfers, and the total is unchanged;
 * - corrupt: every value present (acknowledged or not) is the value written for its key;
 * - index: the entries of every index (secondary and search, stats included) are exactly those
 *   its records imply — no entry without its record, no record without its entries — and the
 *   planner still uses the indexes (explain).
 * The same directory is reused for every kill (recovery after recovery); some kills land while
 * LevelDB opens (recovering the previous crash): one more after every 5 kills during writes.
 * A final pass re-checks every kill's acks.
 *
 * A process kill leaves the OS page cache intact, so this tests crash safety (atomic, acknowledged
 * = applied), not power-loss durability.
 *
 * CI: CRASH_KILLS (default 24) kills, each after a random 100..2,500 acknowledged operations.
 * Long run (`npm run test:crash` → scripts/crash.mjs, TIERSTORE_CRASH_LONG=1): 50 kills, each after
 * a random 5,000..15,000 acknowledged operations. CRASH_KILLS / CRASH_MIN_ACKS / CRASH_MAX_ACKS /
 * CRASH_WORKERS override.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import * as assert from 'node:assert/strict';
import { StorageSystem } from '../../src/index.node.ts';
import { ACCOUNTS, INITIAL_BALANCE, batchSize, batchValue, ixValue, setValue, type Account, type TxLog } from './fixtures/crash-child.ts';
import { prefixUpperBound } from '../../src/core/engine.ts';
import { makeDef } from '../../src/core/catalog.ts';
import { indexEntries } from '../../src/core/indexes.ts';
import { STATS_KEY, searchEntries } from '../../src/core/search/search.ts';

const CHILD = new URL('./fixtures/crash-child.ts', import.meta.url).pathname;
const LONG = process.env.TIERSTORE_CRASH_LONG === '1';
const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const CONFIG = {
  kills: env('CRASH_KILLS', LONG ? 50 : 24),
  minAcks: env('CRASH_MIN_ACKS', LONG ? 5_000 : 100),
  maxAcks: env('CRASH_MAX_ACKS', LONG ? 15_000 : 2_500),
  workers: env('CRASH_WORKERS', 6),
  /** After every Nth kill during writes, one more kill lands while the child opens the store (LevelDB recovering the previous crash). */
  openKillEvery: 5,
};

/** Acknowledged operations; `ixdel`: deletes issued (acknowledged or not). */
interface Acks { sets: number[]; batches: number[]; txs: number[]; ix: number[]; ixdel: number[] }
interface ChildRun { acks: Acks; sawReady: boolean; openMs: number | undefined; stderr: string; exit: { code: number | null; signal: NodeJS.Signals | null } }

const rand = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));

/**
 * Runs the child for one cycle and SIGKILLs it: after `target` acknowledged operations plus a
 * random 0..10 ms, or (`killInOpenAfter`) that many ms after it starts opening the store.
 */
function runChild(dir: string, cycle: number, target: number, killInOpenAfter: number | undefined): Promise<ChildRun> {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(cycle), String(CONFIG.workers)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const acks: Acks = { sets: [], batches: [], txs: [], ix: [], ixdel: [] };
  let count = 0;
  let buffered = '';
  let stderr = '';
  let sawReady = false;
  let openingAt = 0;
  let openMs: number | undefined;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const kill = () => proc.kill('SIGKILL');
  const scheduleKill = (ms: number) => { killTimer ??= setTimeout(kill, ms); };
  const guard = setTimeout(() => { stderr += '\n[crash test: no kill point within 120 s]'; kill(); }, 120_000);

  const onLine = (line: string) => {
    const [word, kind, id] = line.split(' ');
    if (word === 'try' && kind === 'ixdel') acks.ixdel.push(Number(id));
    else if (word === 'ack') {
      const n = Number(id);
      if (kind === 'set') acks.sets.push(n);
      else if (kind === 'batch') acks.batches.push(n);
      else if (kind === 'tx') acks.txs.push(n);
      else if (kind === 'ix') acks.ix.push(n);
      else if (kind === 'ixdel') { /* counted when tried */ }
      else throw new Error(`unknown ack line ${JSON.stringify(line)}`);
      if (++count >= target && killInOpenAfter === undefined) scheduleKill(rand(0, 10));
    } else if (word === 'opening') {
      openingAt = performance.now();
      if (killInOpenAfter !== undefined) scheduleKill(killInOpenAfter);
    } else if (word === 'ready') {
      sawReady = true;
      openMs = performance.now() - openingAt;
    }
  };
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      onLine(buffered.slice(0, i));
      buffered = buffered.slice(i + 1);
    }
    // A last line without its newline was cut by the kill: it is not an acknowledgement.
  });
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (chunk: string) => { stderr += chunk; });
  return new Promise((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (code, signal) => {
      clearTimeout(guard);
      clearTimeout(killTimer);
      resolve({ acks, sawReady, openMs, stderr, exit: { code, signal } });
    });
  });
}

interface Findings { lost: number; torn: number; corrupt: number; index: number; details: string[] }
const note = (f: Findings, kind: 'lost' | 'torn' | 'corrupt' | 'index', detail: string) => {
  f[kind]++;
  if (f.details.length < 20) f.details.push(`${kind}: ${detail}`);
};

/** Reads `pattern` with values. */
async function entries(storage: StorageSystem, pattern: string): Promise<[string, unknown][]> {
  const keys = await storage.keys(pattern);
  const values = await storage.batchGet(keys);
  return keys.map((k, i) => [k, values[i]]);
}

/**
 * Checks one kill cycle's keys against its acknowledgements and returns the accounts as they must
 * be: `before` plus the transfers logged in this cycle.
 */
async function checkCycle(storage: StorageSystem, cycle: number, acks: Acks, before: Account[], f: Findings): Promise<Account[]> {
  // Plain sets: every one present has its own value; every acknowledged one is present.
  const sets = new Set<number>();
  for (const [key, value] of await entries(storage, `w.${cycle}.*`)) {
    const n = Number(key.split('.')[2]);
    sets.add(n);
    if (!isDeepStrictEqual(value, setValue(cycle, n))) note(f, 'corrupt', `${key} holds ${JSON.stringify(value)}`);
  }
  for (const n of acks.sets) if (!sets.has(n)) note(f, 'lost', `acknowledged set w.${cycle}.${n} is missing`);

  // Batches: all entries of a batch or none.
  const batches = new Map<number, number>();
  for (const [key, value] of await entries(storage, `b.${cycle}.**`)) {
    const [, , id, j] = key.split('.').map(Number) as [number, number, number, number];
    batches.set(id, (batches.get(id) ?? 0) + 1);
    if (!isDeepStrictEqual(value, batchValue(cycle, id, j))) note(f, 'corrupt', `${key} holds ${JSON.stringify(value)}`);
  }
  for (const [id, n] of batches) if (n !== batchSize(id)) note(f, 'torn', `batch b.${cycle}.${id}: ${n} of ${batchSize(id)} entries present`);
  for (const id of acks.batches) if (!batches.has(id)) note(f, 'lost', `acknowledged batch b.${cycle}.${id} is missing`);

  // Transactions: every acknowledged transfer is logged; the accounts replay from the logs.
  const expected = before.map((a) => ({ ...a }));
  const logged = new Set<number>();
  for (const [key, value] of await entries(storage, `txlog.${cycle}.*`)) {
    const log = value as TxLog;
    const id = Number(key.split('.')[2]);
    if (log?.id !== id || !(log.from >= 0 && log.from < ACCOUNTS && log.to >= 0 && log.to < ACCOUNTS && log.amount > 0)) {
      note(f, 'corrupt', `${key} holds ${JSON.stringify(value)}`);
      continue;
    }
    logged.add(id);
    expected[log.from]!.balance -= log.amount;
    expected[log.from]!.applied++;
    expected[log.to]!.balance += log.amount;
    expected[log.to]!.applied++;
  }
  for (const id of acks.txs) if (!logged.has(id)) note(f, 'lost', `acknowledged transaction txlog.${cycle}.${id} is missing`);
  // Indexed collection: acknowledged writes present unless a delete of the key was issued (workers
  // race: a delete may even land before the set it targets); values exact.
  const deletedAfter = new Set(acks.ixdel);
  const ixs = new Map(await entries(storage, `ix.*`));
  for (const n of acks.ix) if (!deletedAfter.has(n) && !ixs.has(`ix.${cycle}-${n}`)) note(f, 'lost', `acknowledged ix.${cycle}-${n} is missing`);
  for (const [key, value] of ixs) {
    const [c, n] = key.slice(3).split('-').map(Number) as [number, number];
    if (!isDeepStrictEqual(value, ixValue(c, n))) note(f, 'corrupt', `${key} holds ${JSON.stringify(value)}`);
  }
  return expected;
}

/** Every index's entries must be exactly what its records imply (see indexes.ts and search.ts). */
async function checkIndexes(storage: StorageSystem, f: Findings): Promise<void> {
  const backend = storage.getBackend('file')!;
  const defs = await backend.listIndexes();
  if (defs.length !== 3 || defs.some((d) => d.state !== 'ready')) note(f, 'index', `indexes are ${JSON.stringify(defs)}`);
  for (const info of defs) {
    const def = makeDef(info);
    const want = new Map<string, unknown>();
    const stats: number[] = [];
    for (const [key, value] of await entries(storage, `${info.collection}.*`)) {
      const e = (await storage.getEntry(key))!;
      if (def.type === 'search') {
        const { entries: es, stats: contribution } = searchEntries(def.search!, key, value);
        for (const [k, v] of es) want.set(def.prefix + k, v);
        want.set(def.prefix + 'k' + key, contribution);
        contribution.forEach((x, i) => { stats[i] = (stats[i] ?? 0) + x; });
      } else {
        for (const k of indexEntries(def, key, { value, meta: e.metadata, expiresAt: 0 }).keys) want.set(k, [key, 0]);
      }
    }
    if (def.type === 'search' && want.size > 0) want.set(def.prefix + STATS_KEY, stats);
    const got = new Map(await backend.rawRange('i', { gte: def.prefix, lt: prefixUpperBound(def.prefix, 'codepoint') }));
    // Dictionary markers ('d' + term) may outlive their last posting by design: each needed one
    // must be there; the rest is compared exactly.
    if (def.type === 'search') {
      const dict = def.prefix + 'd';
      for (const k of [...want.keys()]) if (k.startsWith(dict)) {
        if (!got.has(k)) note(f, 'index', `${info.name}: dictionary entry ${JSON.stringify(k)} missing`);
        want.delete(k);
      }
      for (const k of [...got.keys()]) if (k.startsWith(dict)) got.delete(k);
    }
    for (const [k, v] of want) if (!got.has(k)) note(f, 'index', `${info.name}: entry ${JSON.stringify(k)} missing`);
    else if (!isDeepStrictEqual(got.get(k), v)) note(f, 'index', `${info.name}: entry ${JSON.stringify(k)} is ${JSON.stringify(got.get(k))}, not ${JSON.stringify(v)}`);
    for (const k of got.keys()) if (!want.has(k)) note(f, 'index', `${info.name}: stray entry ${JSON.stringify(k)}`);
  }
  const plan = await storage.explain('ix.*', { filter: { tag: 3 } });
  if (plan.index !== 'tag') note(f, 'index', `the planner no longer uses the tag index: ${JSON.stringify(plan)}`);
}

/** The accounts must be exactly `expected` (replayed from the logs), versions included; the total never changes. */
async function checkAccounts(storage: StorageSystem, expected: Account[], f: Findings): Promise<Account[]> {
  const actual: Account[] = [];
  let total = 0;
  for (let i = 0; i < ACCOUNTS; i++) {
    const e = await storage.getEntry<Account>(`acct.${i}`);
    if (!e) {
      note(f, 'lost', `acct.${i} is missing`);
      actual.push({ balance: 0, applied: 0 });
      continue;
    }
    actual.push(e.value);
    total += e.value.balance;
    if (!isDeepStrictEqual(e.value, expected[i])) {
      note(f, 'torn', `acct.${i} is ${JSON.stringify(e.value)}, but the transfer logs present say ${JSON.stringify(expected[i])}`);
    } else if (e.metadata.version !== e.value.applied + 1) {
      note(f, 'torn', `acct.${i} has version ${e.metadata.version} after ${e.value.applied} transfers`);
    }
  }
  if (total !== ACCOUNTS * INITIAL_BALANCE) note(f, 'torn', `account total is ${total}, not ${ACCOUNTS * INITIAL_BALANCE}`);
  return actual;
}

async function withStore<T>(dir: string, fn: (storage: StorageSystem) => Promise<T>): Promise<T> {
  const storage = new StorageSystem({ defaultBackend: 'file' });
  storage.createBackend('file', { basePath: dir, sweepInterval: 0 });
  try {
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

test(`crash: SIGKILL a strict-durability LevelDB writer ${CONFIG.kills} times while it writes; acknowledged writes survive, nothing is torn`, { timeout: (LONG ? 120 : 10) * 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tierstore-crash-'));
  const started = performance.now();
  try {
    const initial: Account[] = Array.from({ length: ACCOUNTS }, () => ({ balance: INITIAL_BALANCE, applied: 0 }));
    await withStore(dir, async (s) => {
      await s.batchSet(initial.map((value, i) => ({ key: `acct.${i}`, value })));
      await s.createIndex('acct', 'balance');
      await s.createIndex('ix', 'tag');
      await s.createSearchIndex('ix', { fields: ['text'] });
    });

    const all: Findings = { lost: 0, torn: 0, corrupt: 0, index: 0, details: [] };
    const history: Acks[] = [];
    let accounts = initial;
    let acked = 0;
    let ackedKeys = 0;
    let openKills = 0;
    let openHits = 0;
    let lastOpenMs = 20;
    let writeKills = 0;
    let openKillDue = false;
    for (let cycle = 0; writeKills < CONFIG.kills; cycle++) {
      // After every `openKillEvery` kills during writes, one kill is aimed at the child opening the store.
      const inOpen = openKillDue;
      openKillDue = false;
      const run = await runChild(dir, cycle, rand(CONFIG.minAcks, CONFIG.maxAcks), inOpen ? rand(0, Math.ceil(lastOpenMs * 1.2)) : undefined);
      assert.equal(run.exit.signal, 'SIGKILL', `cycle ${cycle}: the child must die by our SIGKILL, not exit by itself (code ${run.exit.code})\n${run.stderr}`);
      if (run.openMs !== undefined) lastOpenMs = run.openMs;
      if (inOpen) {
        openKills++;
        if (!run.sawReady) openHits++;
      } else openKillDue = ++writeKills % CONFIG.openKillEvery === 0 && writeKills < CONFIG.kills;
      history.push(run.acks);
      const n = run.acks.sets.length + run.acks.batches.length + run.acks.txs.length + run.acks.ix.length + run.acks.ixdel.length;
      acked += n;
      ackedKeys += run.acks.ix.length + run.acks.ixdel.length + run.acks.sets.length + run.acks.batches.reduce((s, id) => s + batchSize(id), 0) + run.acks.txs.length * 3;

      const f: Findings = { lost: 0, torn: 0, corrupt: 0, index: 0, details: [] };
      await withStore(dir, async (s) => {
        const expected = await checkCycle(s, cycle, run.acks, accounts, f);
        accounts = await checkAccounts(s, expected, f);
        await checkIndexes(s, f);
      });
      all.lost += f.lost;
      all.torn += f.torn;
      all.corrupt += f.corrupt;
      all.index += f.index;
      all.details.push(...f.details.map((d) => `cycle ${cycle}: ${d}`));
      if (process.env.CRASH_VERBOSE) console.log(`cycle ${cycle}: ${n} acks${inOpen ? ` (kill aimed at the open${run.sawReady ? ', landed after it' : ''})` : ''}, lost ${f.lost}, torn ${f.torn}, corrupt ${f.corrupt}`);
    }

    // Final pass: every kill's acknowledgements again, after all the later crashes and recoveries.
    const final: Findings = { lost: 0, torn: 0, corrupt: 0, index: 0, details: [] };
    await withStore(dir, async (s) => {
      let expected = initial;
      for (const [cycle, acks] of history.entries()) expected = await checkCycle(s, cycle, acks, expected, final);
      await checkAccounts(s, expected, final);
      await checkIndexes(s, final);
    });

    const seconds = (performance.now() - started) / 1000;
    console.log(
      `crash summary: kills ${writeKills + openKills} (${writeKills} while writing, ${openKills} aimed at the open, ${openHits} of them before it finished), acknowledged writes ${acked} ` +
      `(${ackedKeys} keys; avg ${Math.round(acked / writeKills)} per kill while writing), lost ${all.lost}, torn ${all.torn}, corrupt ${all.corrupt}; ` +
      `index disagreements ${all.index}; final re-check: lost ${final.lost}, torn ${final.torn}, corrupt ${final.corrupt}, index ${final.index}; ${seconds.toFixed(1)} s`,
    );
    const details = [...all.details, ...final.details.map((d) => `final: ${d}`)].join('\n');
    assert.equal(all.lost + final.lost, 0, `acknowledged writes were lost:\n${details}`);
    assert.equal(all.torn + final.torn, 0, `torn batches or transactions:\n${details}`);
    assert.equal(all.corrupt + final.corrupt, 0, `values changed:\n${details}`);
    assert.equal(all.index + final.index, 0, `index entries disagree with their records:\n${details}`);
    assert.ok(acked > 0, 'the child acknowledged writes');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
