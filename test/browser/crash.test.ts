/**
 * Browser crash durability, in real Chromium: a page writes with the SDK in a loop (plain sets,
 * three-key batchSets, and transactions moving amounts between accounts), reporting each
 * ACKNOWLEDGED write to this process; the browser is killed with SIGKILL at a random moment,
 * relaunched on the same profile, and the store is checked: no acknowledged write lost, the
 * account total intact and equal to the replay of the transaction log, no torn batch or
 * transaction. Repeated for several kill cycles; then once more with `durability: 'relaxed'`,
 * whose losses are reported, not asserted (the README must not promise more than we measure).
 *
 * Chromium is started by chromium-process.ts, not by playwright, so that the test holds the pid of the
 * browser process: `--remote-debugging-port=0` on a `--user-data-dir`, then `chromium.connectOverCDP`.
 * Kills alternate between the browser process alone (its children then die on their own) and its
 * whole process group at once.
 *
 * Measured, and reported apart: now and then (about 1 kill in 50 here, Chromium 156) Chromium
 * finds the origin's IndexedDB LevelDB files corrupt at the next start ("checksum mismatch") and
 * DELETES the database, with every write acknowledged before, strict ones included. The SDK can
 * neither prevent nor undo that; a relaunch where Chromium's log says so and the store is empty
 * counts as a browser wipe (the workload then starts over on the new store), not as a loss.
 * Every other missing acknowledged write fails the test.
 *
 * Env: TIERSTORE_CRASH_KILLS=N sets the number of kill cycles of the strict run (default 5);
 * TIERSTORE_CRASH_RELAXED_KILLS=N those of the relaxed run (default 5);
 * TIERSTORE_CRASH_FAIL_ON_WIPE=1 makes a browser wipe fail the test too;
 * TIERSTORE_CRASH_KEEP=dir keeps a copy of the profile's IndexedDB files as the kill left them,
 * for each kill after which Chromium deleted the database (dir/<durability>-kill-<n>).
 * Run: node --import tsx --test test/browser/crash.test.ts
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { BROWSER_WIPE, kill, shutdown, sleep, startChromium, type Running } from './chromium-process';
import { ACCOUNTS, ACK, INITIAL_BALANCE, type Ack, type Contents, type Durability } from './crash-shared';
import { browserSkipReason, modulePage, serveBundles, type Site } from './harness';

const skip = browserSkipReason();
const count = (name: string, fallback: number) => {
  const n = Number(process.env[name]);
  return Number.isInteger(n) && n > 0 ? n : fallback;
};
const STRICT_KILLS = count('TIERSTORE_CRASH_KILLS', 5);
const RELAXED_KILLS = count('TIERSTORE_CRASH_RELAXED_KILLS', 5);
/** Acknowledgements to wait for before the random kill delay starts, so each cycle has writes in flight. */
const MIN_ACKS = 20;
/** The kill comes a random 0..MAX_KILL_DELAY ms after MIN_ACKS acknowledgements. */
const MAX_KILL_DELAY = 1000;

let site: Site | undefined;

before(async () => {
  if (skip) return;
  // One server for every cycle: IndexedDB belongs to the origin, port included.
  site = await serveBundles({ 'crash.js': 'test/browser/crash-page.ts' }, { 'crash.html': modulePage('./crash.js') });
});

after(async () => {
  await site?.close();
});

/** See TIERSTORE_CRASH_KEEP above. */
const KEEP = process.env.TIERSTORE_CRASH_KEEP;

/** A crash-test page: the bundle loaded, console lines and page errors collected. */
async function openCrashPage(run: Running, onAck: (a: Ack) => void, errors: string[]): Promise<Page> {
  const context = run.browser.contexts()[0]!;
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.name}: ${e.message}`));
  page.on('console', (msg) => {
    const text = msg.text();
    if (text.startsWith(ACK)) onAck(JSON.parse(text.slice(ACK.length)) as Ack);
    else if (text.startsWith('tierstore-crash-error')) errors.push(text);
  });
  await page.goto(site!.url + 'crash.html');
  await page.waitForFunction(() => typeof window.__crashStart === 'function');
  return page;
}

interface Check { lost: string[]; torn: string[]; total: number; replayed: boolean }

/** Compares what the store holds with every write acknowledged so far. */
function check(c: Contents, acked: readonly Ack[]): Check {
  const lost: string[] = [];
  const torn: string[] = [];
  for (const a of acked) {
    if (a.kind === 's') {
      if (c.values[a.key] !== a.value) lost.push(`set ${a.key}=${a.value} (found ${JSON.stringify(c.values[a.key])})`);
    } else if (a.kind === 'b') {
      if (!a.keys.every((k) => c.values[k] === a.value)) lost.push(`batchSet ${a.keys.join(',')}`);
    } else {
      const log = c.txlog[a.seq];
      if (!log || log.from !== a.from || log.to !== a.to || log.amount !== a.amount) lost.push(`transaction ${a.seq}`);
    }
  }
  // Batches: every three-key batch in the store is whole.
  const batches = new Map<string, number>();
  for (const k of Object.keys(c.values)) {
    if (!k.startsWith('b.')) continue;
    const id = k.slice(0, k.lastIndexOf('.'));
    batches.set(id, (batches.get(id) ?? 0) + 1);
  }
  for (const [id, n] of batches) if (n !== 3) torn.push(`batch ${id} has ${n} of its 3 keys`);
  // Transactions: the accounts are exactly the replay of the logged transactions.
  const replay = Array.from({ length: ACCOUNTS }, () => INITIAL_BALANCE);
  const lastOf = Array.from({ length: ACCOUNTS }, () => 0);
  for (const [seqText, log] of Object.entries(c.txlog)) {
    const seq = Number(seqText);
    replay[log.from]! -= log.amount;
    replay[log.to]! += log.amount;
    lastOf[log.from] = Math.max(lastOf[log.from]!, seq);
    lastOf[log.to] = Math.max(lastOf[log.to]!, seq);
  }
  c.accounts.forEach((acct, i) => {
    // The accounts are created (strict) before any acknowledged write: a missing one is a loss.
    if (!acct) lost.push(`account ${i} (created before the first kill) is missing`);
    else if (acct.last !== lastOf[i]) torn.push(`account ${i} was last moved by transaction ${acct.last}, the log says ${lastOf[i]}`);
  });
  const balances = c.accounts.map((a) => a?.balance ?? NaN);
  const replayed = balances.every((b, i) => b === replay[i]);
  if (!replayed && c.accounts.every(Boolean)) torn.push(`balances ${JSON.stringify(balances)} differ from the replay of the log ${JSON.stringify(replay)}`);
  return { lost, torn, total: balances.reduce((x, y) => x + y, 0), replayed };
}

interface Summary {
  durability: Durability;
  kills: number;
  acked: number;
  byKind: Record<Ack['kind'], number>;
  /** Acknowledged writes missing after a relaunch (the browser kept the database). */
  lost: string[];
  torn: string[];
  totalIntact: boolean;
  /**
   * Relaunches where Chromium found the database corrupt and deleted it (its log says so, and the
   * store came back empty): every write acknowledged before is gone, whatever its durability.
   */
  wipes: { cycle: number; discarded: number; log: string[] }[];
  seconds: number;
  perCycle: string[];
  /** Failures of the workload itself (before the kill), by cycle. */
  errors: string[];
}

/**
 * Runs `kills` write-then-SIGKILL cycles on one profile, checking the store after each relaunch
 * against every write acknowledged so far.
 */
async function crashCycles(durability: Durability, kills: number): Promise<Summary> {
  const started = Date.now();
  const profile = await mkdtemp(join(tmpdir(), `tierstore-crash-${durability}-`));
  const basePath = `crash-${durability}`;
  /** Writes acknowledged since the store was created (or since the browser last wiped it). */
  const acked: Ack[] = [];
  const summary: Summary = {
    durability, kills: 0, acked: 0, byKind: { s: 0, b: 0, t: 0 }, lost: [], torn: [], totalIntact: true, wipes: [], seconds: 0, perCycle: [], errors: [],
  };
  const onAck = (a: Ack) => { acked.push(a); summary.acked++; summary.byKind[a.kind]++; };
  let run: Running | undefined;
  try {
    for (let cycle = 0; ; cycle++) {
      run = await startChromium(profile);
      const errors: string[] = [];
      let cycleAcks = 0;
      const page = await openCrashPage(run, (a) => { onAck(a); cycleAcks++; }, errors);
      if (cycle === 0) {
        await page.evaluate((b) => window.__crashInit(b), basePath);
      } else {
        const contents = await page.evaluate((b) => window.__crashRead(b), basePath);
        const held = `${Object.keys(contents.values).length} keys, ${contents.accounts.filter(Boolean).length}/${ACCOUNTS} accounts, ${Object.keys(contents.txlog).length} logged transactions`;
        const empty = Object.keys(contents.values).length === 0 && contents.accounts.every((a) => a === undefined) && Object.keys(contents.txlog).length === 0;
        if (empty && run.storageLog.some((l) => BROWSER_WIPE.test(l))) {
          // Not the SDK's doing, and nothing it can prevent: counted and reported apart. The
          // workload starts over on the new, empty store.
          summary.wipes.push({ cycle: cycle - 1, discarded: acked.length, log: run.storageLog.slice(0, 4) });
          if (KEEP) await rename(join(KEEP, `${durability}-last`), join(KEEP, `${durability}-kill-${cycle - 1}-${Date.now()}`)).catch(() => {});
          summary.perCycle[cycle - 1] += `; after relaunch: Chromium found the IndexedDB database corrupt and DELETED it (${acked.length} acknowledged writes gone)`;
          acked.length = 0;
          await page.evaluate((b) => window.__crashInit(b), basePath);
        } else {
          const result = check(contents, acked);
          // Losses and tears are counted once: the next check sees the same store again.
          const newLost = result.lost.filter((l) => !summary.lost.includes(l));
          const newTorn = result.torn.filter((t) => !summary.torn.includes(t));
          summary.lost.push(...newLost);
          summary.torn.push(...newTorn);
          // (Missing accounts are counted as lost; the total is judged when they are all there.)
          if (contents.accounts.every(Boolean)) summary.totalIntact &&= result.total === ACCOUNTS * INITIAL_BALANCE && result.replayed;
          summary.perCycle[cycle - 1] += `; after relaunch: ${held}, lost ${newLost.length}, torn ${newTorn.length}, total ${result.total}`;
          if (run.storageLog.length > 0) summary.perCycle[cycle - 1] += `; Chromium said: ${run.storageLog.slice(0, 4).join(' | ')}`;
        }
      }
      if (cycle === kills) {
        await shutdown(run);
        run = undefined;
        break;
      }
      page.evaluate(({ b, cycle: c, d }) => window.__crashStart(b, c, d, (c + 1) * 1_000_000), { b: basePath, cycle, d: durability }).catch(() => {});
      const deadline = Date.now() + 30_000;
      while (cycleAcks < MIN_ACKS && errors.length === 0) {
        if (Date.now() > deadline) throw new Error(`cycle ${cycle}: only ${cycleAcks} writes acknowledged in 30 s`);
        await sleep(10);
      }
      const delay = Math.floor(Math.random() * MAX_KILL_DELAY);
      await sleep(delay);
      // Recorded, not thrown: the relaunch after this kill still shows what the store holds.
      summary.errors.push(...errors.map((e) => `cycle ${cycle}: ${e.split('\n')[0]}`));
      const mode = cycle % 2 === 0 ? 'browser' : 'group';
      const before = cycleAcks;
      await kill(run, mode);
      run = undefined;
      summary.kills++;
      if (KEEP) {
        await rm(join(KEEP, `${durability}-last`), { recursive: true, force: true });
        await cp(join(profile, 'Default', 'IndexedDB'), join(KEEP, `${durability}-last`), { recursive: true }).catch(() => {});
      }
      summary.perCycle.push(`cycle ${cycle}: SIGKILL (${mode}) ${delay} ms after ${MIN_ACKS} acks, ${before} acks in the cycle (${cycleAcks} incl. in flight)`);
    }
  } finally {
    if (run) await kill(run, 'group').catch(() => {});
    await rm(profile, { recursive: true, force: true });
  }
  summary.seconds = (Date.now() - started) / 1000;
  return summary;
}

function report(s: Summary): void {
  for (const line of s.perCycle) console.log(`#   ${line}`);
  const discarded = s.wipes.reduce((n, w) => n + w.discarded, 0);
  console.log(
    `# crash ${s.durability}: kills ${s.kills}, acknowledged writes ${s.acked} (sets ${s.byKind.s}, batchSets ${s.byKind.b}, transactions ${s.byKind.t}), ` +
    `lost ${s.lost.length}, torn ${s.torn.length}, account total ${s.totalIntact ? 'intact' : 'BROKEN'}, ` +
    `browser wipes ${s.wipes.length}${s.wipes.length > 0 ? ` (${discarded} acknowledged writes discarded with the database)` : ''}, ${s.seconds.toFixed(1)} s`,
  );
  for (const w of s.wipes) {
    console.log(`#   !!! after kill ${w.cycle}, Chromium deleted the corrupt IndexedDB database: ${w.discarded} acknowledged writes gone. Chromium: ${w.log.join(' | ')}`);
  }
  for (const l of s.lost.slice(0, 10)) console.log(`#   lost: ${l}`);
  for (const t of s.torn.slice(0, 10)) console.log(`#   torn: ${t}`);
  for (const e of s.errors.slice(0, 10)) console.log(`#   workload error: ${e}`);
}

test('the crash check itself detects a lost write, a torn batch and a torn transaction', () => {
  const acct = (balance: number, last: number) => ({ balance, last });
  const base = (): Contents => ({
    values: { 's.0.0.0': 0, 'b.0.0.0': 0, 'b.0.0.1': 0, 'b.0.0.2': 0 },
    accounts: [acct(990, 7), acct(1010, 7), ...Array.from({ length: ACCOUNTS - 2 }, () => acct(INITIAL_BALANCE, 0))],
    txlog: { 7: { from: 0, to: 1, amount: 10 } },
  });
  const acks: Ack[] = [{ kind: 's', key: 's.0.0.0', value: 0 }, { kind: 'b', keys: ['b.0.0.0', 'b.0.0.1', 'b.0.0.2'], value: 0 }, { kind: 't', seq: 7, from: 0, to: 1, amount: 10 }];
  assert.deepEqual(check(base(), acks), { lost: [], torn: [], total: ACCOUNTS * INITIAL_BALANCE, replayed: true });
  const noSet = base();
  delete noSet.values['s.0.0.0'];
  assert.equal(check(noSet, acks).lost.length, 1);
  const tornBatch = base();
  delete tornBatch.values['b.0.0.1'];
  assert.deepEqual([check(tornBatch, acks).lost.length, check(tornBatch, acks).torn.length], [1, 1]);
  const halfTx = base();
  halfTx.accounts[1] = acct(INITIAL_BALANCE, 0); // the credit of transaction 7 missing
  assert.ok(check(halfTx, acks).torn.length >= 2);
  assert.notEqual(check(halfTx, acks).total, ACCOUNTS * INITIAL_BALANCE);
  const noLog = base();
  noLog.txlog = {};
  assert.equal(check(noLog, acks).lost.length, 1);
  assert.ok(check(noLog, acks).torn.length >= 2, 'accounts moved by an unlogged transaction');
});

/** With TIERSTORE_CRASH_FAIL_ON_WIPE=1, a database Chromium deleted as corrupt fails the test instead of being reported. */
const FAIL_ON_WIPE = process.env.TIERSTORE_CRASH_FAIL_ON_WIPE === '1';

test(`durability 'strict': no acknowledged write lost and no torn transaction across ${STRICT_KILLS} browser SIGKILLs`, { skip, timeout: 30_000 + STRICT_KILLS * 20_000 }, async () => {
  const s = await crashCycles('strict', STRICT_KILLS);
  report(s);
  assert.deepEqual(s.errors, [], 'the workload failed');
  assert.equal(s.kills, STRICT_KILLS);
  assert.ok(s.acked > STRICT_KILLS * MIN_ACKS, 'writes were acknowledged in every cycle');
  assert.deepEqual(s.lost, [], 'acknowledged strict writes lost');
  assert.deepEqual(s.torn, [], 'torn batches or transactions');
  assert.equal(s.totalIntact, true, 'account total');
  if (FAIL_ON_WIPE) assert.deepEqual(s.wipes, [], 'Chromium deleted the database as corrupt after a kill');
});

test(`durability 'relaxed': losses across ${RELAXED_KILLS} browser SIGKILLs are measured and reported (atomicity still asserted)`, { skip, timeout: 30_000 + RELAXED_KILLS * 20_000 }, async () => {
  const s = await crashCycles('relaxed', RELAXED_KILLS);
  report(s);
  assert.deepEqual(s.errors, [], 'the workload failed');
  // Reported, not asserted: relaxed promises less (README, Durability).
  const discarded = s.wipes.reduce((n, w) => n + w.discarded, 0);
  console.log(`# relaxed: ${s.lost.length} of ${s.acked} acknowledged writes lost with the database kept (${((100 * s.lost.length) / Math.max(1, s.acked)).toFixed(2)}%), ${discarded} discarded by ${s.wipes.length} browser wipe(s)`);
  // A crash never tears a batch or a transaction, whatever the durability.
  assert.deepEqual(s.torn, [], 'torn batches or transactions');
  assert.equal(s.totalIntact, true, 'account total');
  if (FAIL_ON_WIPE) assert.deepEqual(s.wipes, [], 'Chromium deleted the database as corrupt after a kill');
});
