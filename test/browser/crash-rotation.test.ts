/**
 * Key rotation killed midway resumes and loses nothing (issue #5), in real Chromium on IndexedDB:
 * the Node test (test/node/crash-rotation.test.ts) with the browser process SIGKILLed instead of
 * a child process, and the same workload and checks (test/support/rotation.ts, run in the page,
 * crash-rotation-page.ts).
 *
 * Each scenario uses a fresh database on one profile. The page stores RECORDS encrypted,
 * compressed records under K1, then rotates to K2 while an updater overwrites records (strict,
 * each acknowledged on the console); Chromium is killed (the browser process alone, or its whole
 * process group, alternately) at the scenario's point — as the rotation starts, at the first
 * progress event, at a random record count, after the last chunk — and relaunched on the same
 * profile. Then: K1 opens exactly when the new key info had not landed, the other key is refused
 * (STORAGE_BAD_KEY); some scenarios kill the resumed rotation too (a page opened with K2); then
 * the store is opened with the key that opens it (record cache on), the rotation resumes or is run
 * again (one scenario also calls rotateEncryptionKey(K2) again during the resume), every record
 * holds its last acknowledged value or a later attempted one (read during and after the
 * rotation), one key is left and every raw record is sealed with it and still compressed; again
 * after a clean reopen with K2, where K1 is refused.
 *
 * Chromium now and then finds the origin's IndexedDB files corrupt after a kill and deletes them
 * (see crash.test.ts). A relaunch where the database is gone and Chromium's log says so counts as
 * a browser wipe: reported loudly, the scenario's checks skipped, the test not failed (with
 * TIERSTORE_CRASH_FAIL_ON_WIPE=1 it fails). A database gone without that log line is a loss.
 *
 * Env: TIERSTORE_ROTATION_RECORDS (default 1,500), TIERSTORE_ROTATION_ROUNDS=n runs the scenario
 * list n times. Run: node --import tsx --test test/browser/crash-rotation.test.ts
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { BROWSER_WIPE, kill, shutdown, sleep, startChromium, type Running } from './chromium-process';
import { browserSkipReason, modulePage, serveBundles, type Site } from './harness';
import { Model, ROTATION_LINE, note, type Findings, type KeyKind } from '../support/rotation';

const skip = browserSkipReason();
const count = (name: string, fallback: number) => {
  const n = Number(process.env[name]);
  return Number.isInteger(n) && n > 0 ? n : fallback;
};
const RECORDS = count('TIERSTORE_ROTATION_RECORDS', 1500);
const ROUNDS = count('TIERSTORE_ROTATION_ROUNDS', 1);
const FAIL_ON_WIPE = process.env.TIERSTORE_CRASH_FAIL_ON_WIPE === '1';

type KillAt = 'rotating' | 'landed' | 'last' | 'random';
interface Scenario {
  kill: KillAt;
  kind: KeyKind;
  /** Resumed rotations to kill before the checked open. */
  resumeKills?: number;
  /** The checking open calls rotateEncryptionKey(K2) again while the resume runs. */
  rerotate?: boolean;
}

/** 6 scenarios, 8 kills. Passphrases cost a full PBKDF2 per open: only where the kill needs its time. */
const SCENARIOS: Scenario[] = [
  { kill: 'rotating', kind: 'passphrase' },
  { kill: 'random', kind: 'bytes', resumeKills: 1 },
  { kill: 'landed', kind: 'bytes' },
  { kill: 'random', kind: 'bytes', rerotate: true },
  { kill: 'last', kind: 'bytes' },
  { kill: 'random', kind: 'bytes', resumeKills: 1 },
];

let site: Site | undefined;

before(async () => {
  if (skip) return;
  // One server for every launch: IndexedDB belongs to the origin, port included.
  site = await serveBundles({ 'rotation.js': 'test/browser/crash-rotation-page.ts' }, { 'rotation.html': modulePage('./rotation.js') });
});

after(async () => {
  await site?.close();
});

const rand = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));

/** What one workload (start or resume) in a page reported. */
interface Workload {
  lines: Set<string>;
  resealed: number;
  total: number;
  acks: number;
  errors: string[];
  /** Set when the kill condition held (or the workload went quiet: `quiet`). */
  due: Promise<void>;
  quiet: boolean;
}

/** Opens the test page in the browser's first tab; its workload lines go to `w` and `model` (generation `gen`). */
async function openPage(run: Running, pageErrors: string[]): Promise<Page> {
  const context = run.browser.contexts()[0]!;
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.name}: ${e.message}`));
  await page.goto(site!.url + 'rotation.html');
  await page.waitForFunction(() => typeof window.__rot === 'object');
  return page;
}

/**
 * Follows a workload's console lines: acknowledgements into `model`; `due` resolves when
 * `shouldKill` holds, or after `quietMs` without a line other than an update's.
 */
function follow(page: Page, model: Model, gen: number, quietMs: number, shouldKill: (line: string, w: Workload) => boolean): Workload {
  let fire!: () => void;
  const w: Workload = { lines: new Set(), resealed: -1, total: 0, acks: 0, errors: [], due: new Promise<void>((r) => { fire = r; }), quiet: false };
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  const quiet = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => { w.quiet = true; fire(); }, quietMs);
  };
  quiet();
  void w.due.then(() => clearTimeout(watchdog));
  page.on('console', (msg) => {
    const text = msg.text();
    if (text.startsWith('tierstore-rotation-error')) { w.errors.push(text); return; }
    if (!text.startsWith(ROTATION_LINE)) return;
    const line = text.slice(ROTATION_LINE.length);
    const [word, a, b, c] = line.split(' ');
    if (word === 'try') model.tried(Number(a), gen);
    else if (word === 'ack') { model.ack(Number(a), gen); w.acks++; }
    else {
      quiet();
      w.lines.add(word === 'progress' ? `${word} ${a}` : line);
      if (word === 'progress' && a === 'resealing') { w.resealed = Math.max(w.resealed, Number(b)); w.total = Number(c); }
    }
    if (shouldKill(line, w)) fire();
  });
  return w;
}

function killPoint(at: KillAt, upTo: number): { label: string; test: (line: string, w: Workload) => boolean } {
  if (at === 'rotating') return { label: 'as the rotation starts', test: (line) => line === 'rotating' };
  if (at === 'landed') return { label: 'at the first progress event (key info landed)', test: (line) => line.startsWith('progress resealing') };
  if (at === 'last') return { label: 'at the last re-seal progress event (the retire comes next)', test: (line, w) => line.startsWith('progress resealing') && w.resealed === w.total };
  const n = rand(1, Math.floor((RECORDS - 1) * upTo));
  return { label: `after ${n} of ${RECORDS} records re-sealed`, test: (line, w) => line.startsWith('progress resealing') && w.resealed >= n };
}

interface Totals {
  scenarios: number; kills: number; resumeKills: number; k1Opened: number; wrongKey: number; acks: number; resumed: number;
  lost: number; corrupt: number; key: number; details: string[];
  wipes: string[]; errors: string[]; perScenario: string[];
}

async function runAll(profile: string, t: Totals): Promise<void> {
  let run: Running | undefined = await startChromium(profile);
  let kills = 0;
  /** Kills Chromium (alternately the browser process and its group) and starts it again on the same profile. */
  const killAndRelaunch = async () => {
    await kill(run!, kills++ % 2 === 0 ? 'browser' : 'group');
    run = undefined;
    run = await startChromium(profile);
  };
  try {
    let n = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const s of SCENARIOS) {
        const basePath = `rotation-${n}`;
        const model = new Model(RECORDS);
        const f: Findings = { lost: 0, corrupt: 0, key: 0, details: [] };
        const log: string[] = [];
        const pageErrors: string[] = [];
        let wiped = false;
        const label = `scenario ${n} (${s.kill}, ${s.kind})`;
        t.scenarios++;
        /** After a relaunch: is the database there? A missing one is a browser wipe (Chromium says so) or a loss. */
        const present = async (page: Page): Promise<boolean> => {
          if (await page.evaluate((b) => window.__rot.exists(b), basePath)) return true;
          if (run!.storageLog.some((l) => BROWSER_WIPE.test(l))) {
            wiped = true;
            t.wipes.push(`${label}: after a kill Chromium found the IndexedDB files corrupt and DELETED the database (Chromium: ${run!.storageLog.slice(0, 3).join(' | ')})`);
          } else note(f, 'lost', 'the database is gone after a kill, and Chromium did not say it deleted it');
          return false;
        };
        const probe = (page: Page, which: 1 | 2) => page.evaluate(({ b, k, w }) => window.__rot.probe(b, k, w), { b: basePath, k: s.kind, w: which });
        const wrongKey = async (page: Page, which: 1 | 2, what: string) => {
          t.wrongKey++;
          const r = await probe(page, which);
          if (r !== 'bad-key') note(f, 'key', `${what}: K${which} gave ${r}, not STORAGE_BAD_KEY`);
        };

        scenario: {
          // 1. Write, rotate, kill.
          let page = await openPage(run, pageErrors);
          const point = killPoint(s.kill, s.resumeKills || s.rerotate ? 0.6 : 1);
          const w = follow(page, model, 2, 30_000, point.test);
          page.evaluate(({ b, k, r }) => window.__rot.start(b, k, r, 2), { b: basePath, k: s.kind, r: RECORDS }).catch(() => {});
          await w.due;
          await sleep(rand(0, 2));
          await killAndRelaunch();
          t.kills++;
          t.acks += w.acks;
          t.errors.push(...w.errors.map((e) => `${label}: ${e.split('\n')[0]}`));
          if (w.quiet) note(f, 'key', `the page went quiet for 30 s before its kill point (${[...w.lines].join(', ')})`);
          const landed = w.lines.has('progress resealing');
          log.push(`killed ${point.label} (${landed ? `${Math.max(0, w.resealed)}/${w.total} re-sealed` : 'no progress event yet'}, ${w.acks} updates acknowledged)`);

          // 2. Exactly one key opens.
          page = await openPage(run!, pageErrors);
          if (!(await present(page))) break scenario;
          const k1 = await probe(page, 1);
          if (k1 !== 'ok' && k1 !== 'bad-key') note(f, 'key', `K1 gave ${k1}`);
          const k1Opens = k1 === 'ok';
          if (landed && k1Opens) note(f, 'key', 'K1 still opens the store after the new key info landed');
          if (!w.lines.has('rotating') && !k1Opens) note(f, 'key', 'K1 no longer opens the store, and the rotation never started');
          if (k1Opens) { t.k1Opened++; await wrongKey(page, 2, 'the key info had not landed'); } else t.wrongKey++;
          log.push(k1Opens ? 'K1 opens, K2 refused' : 'K1 refused, K2 opens');

          // 3. Kill the resumed rotation.
          for (let r = 0; r < (s.resumeKills ?? 0) && !k1Opens; r++) {
            const at = rand(0, Math.floor(RECORDS * 0.8));
            const rw = follow(page, model, 3 + r, 10_000, (line, x) => line === 'ready idle' || (line.startsWith('progress resealing') && x.resealed >= at));
            page.evaluate(({ b, k, n: records, g }) => window.__rot.resume(b, k, records, g), { b: basePath, k: s.kind, n: RECORDS, g: 3 + r }).catch(() => {});
            await rw.due;
            await sleep(rand(0, 2));
            await killAndRelaunch();
            t.acks += rw.acks;
            t.errors.push(...rw.errors.map((e) => `${label}: ${e.split('\n')[0]}`));
            if (rw.quiet) note(f, 'key', `the resumed rotation made no progress for 10 s (${[...rw.lines].join(', ')})`);
            if (rw.lines.has('ready idle')) log.push(`resume ${r + 1}: nothing left to resume, killed at once`);
            else if (!rw.quiet) {
              t.kills++;
              t.resumeKills++;
              log.push(`resume ${r + 1} killed at ${rw.resealed}/${rw.total}${rw.lines.has('progress done') ? ' (after it finished)' : ''} (target ${at}, ${rw.acks} updates acknowledged)`);
            }
            page = await openPage(run!, pageErrors);
            if (!(await present(page))) break scenario;
            await wrongKey(page, 1, 'after a killed resume');
          }

          // 4. Open with the key that opens it: the rotation resumes (K2) or runs again (K1); check everything.
          const started = Date.now();
          const checked = await page.evaluate(({ b, k, w: which, a, rot }) => window.__rot.check(b, k, which, a, rot),
            { b: basePath, k: s.kind, w: (k1Opens ? 1 : 2) as 1 | 2, a: model.allowed(), rot: k1Opens || s.rerotate === true });
          model.settle(checked.found);
          if (checked.resumed) t.resumed++;
          for (const d of checked.findings.details) if (f.details.length < 20) f.details.push(d);
          f.lost += checked.findings.lost;
          f.corrupt += checked.findings.corrupt;
          f.key += checked.findings.key;
          log.push(`checked in ${Date.now() - started} ms (${k1Opens ? 'rotation run again' : checked.resumed ? `resumed at open${s.rerotate ? ', rotateEncryptionKey(K2) re-run during the resume' : ''}` : 'nothing to resume'})`);

          // 5. A clean reopen with K2 reads everything again; K1 is refused.
          if (f.lost + f.corrupt + f.key === 0) {
            const again = await page.evaluate(({ b, k, a }) => window.__rot.check(b, k, 2, a, false), { b: basePath, k: s.kind, a: model.allowed() });
            for (const d of again.findings.details) if (f.details.length < 20) f.details.push(d);
            f.lost += again.findings.lost;
            f.corrupt += again.findings.corrupt;
            f.key += again.findings.key;
            await wrongKey(page, 1, 'after the rotation finished');
          }
        }
        t.lost += f.lost;
        t.corrupt += f.corrupt;
        t.key += f.key;
        t.details.push(...f.details.map((d) => `${label}: ${d}`));
        t.errors.push(...pageErrors.map((e) => `${label}: ${e}`));
        t.perScenario.push(`${label}: ${log.join('; ')}${wiped ? '; !!! BROWSER WIPE: checks skipped' : ''}; lost ${f.lost}, corrupt ${f.corrupt}, key ${f.key}`);
        n++;
      }
    }
    await shutdown(run);
    run = undefined;
  } finally {
    if (run) await kill(run, 'group').catch(() => {});
  }
}

test(`Chromium: SIGKILL the browser during a key rotation of ${RECORDS} IndexedDB records (and during the resumed rotation); it resumes and loses nothing`, { skip, timeout: 10 * 60_000 }, async () => {
  const started = Date.now();
  const profile = await mkdtemp(join(tmpdir(), 'tierstore-rotation-crash-'));
  const t: Totals = { scenarios: 0, kills: 0, resumeKills: 0, k1Opened: 0, wrongKey: 0, acks: 0, resumed: 0, lost: 0, corrupt: 0, key: 0, details: [], wipes: [], errors: [], perScenario: [] };
  try {
    await runAll(profile, t);
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
  for (const line of t.perScenario) console.log(`  ${line}`);
  console.log(
    `rotation crash (Chromium): ${t.scenarios} scenarios, ${t.kills} kills (${t.kills - t.resumeKills} during rotateEncryptionKey, ${t.resumeKills} during the resumed rotation), ` +
    `${RECORDS} records each, ${t.acks} concurrent updates acknowledged; K1 still opened after ${t.k1Opened} kills; rotation resumed at open ${t.resumed} times; ` +
    `${t.wrongKey} wrong-key checks; lost ${t.lost}, corrupt ${t.corrupt}, key/seal problems ${t.key}; browser wipes ${t.wipes.length}; ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  for (const w of t.wipes) console.log(`  !!! ${w}`);
  const details = t.details.join('\n');
  assert.deepEqual(t.errors, [], 'the workload or the page failed');
  assert.equal(t.lost, 0, `records lost:\n${details}`);
  assert.equal(t.corrupt, 0, `records changed:\n${details}`);
  assert.equal(t.key, 0, `keys or seals wrong:\n${details}`);
  assert.ok(t.kills >= 5, `${t.kills} kills`);
  if (FAIL_ON_WIPE) assert.deepEqual(t.wipes, [], 'Chromium deleted the database as corrupt after a kill');
  else assert.ok(t.resumed >= 2 || t.wipes.length > 0, `the rotation resumed at open ${t.resumed} times`);
});
