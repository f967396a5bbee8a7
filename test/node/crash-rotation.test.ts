/**
 * Key rotation killed midway resumes and loses nothing (issue #5), with real SIGKILLs on LevelDB.
 *
 * Each scenario starts on a fresh directory. A child process (fixtures/rotation-child.ts) stores
 * RECORDS encrypted and compressed records under the old key K1, then calls
 * `rotateEncryptionKey(K2)` while an updater overwrites records (strict, acknowledged one by one),
 * and prints every `rotate` progress event. This process SIGKILLs it at the scenario's point:
 * - `rotating`: as the rotation starts, before the new key info lands (passphrases: PBKDF2 alone
 *   takes ~250 ms there);
 * - `landed`: at the first progress event (the new key info has just landed, nothing re-sealed);
 * - a random record count while re-sealing;
 * - `last`: after the last chunk, before the old keys are retired;
 * - `done`: after the rotation finished.
 * Some scenarios then open the store in a second child, where the interrupted rotation resumes in
 * the background, and kill that one too at a random point of the resumed rotation (once or twice).
 *
 * After every kill: K1 opens exactly when the new key info had not landed (a kill at `rotating`
 * may land on either side; then exactly one of K1/K2 opens), the other key is refused with
 * STORAGE_BAD_KEY. Then the store is opened with the key that opens it (record cache on): the
 * rotation resumes and finishes (K2), or is run again (K1: the kill came before it started); some
 * scenarios also call `rotateEncryptionKey(K2)` again while the resume still runs (an app that
 * re-runs a rotation it does not know finished). Every record is read while the rotation runs
 * (filling the cache) and again after it. Checked:
 * - lost: every record present and readable, holding its last acknowledged value or a later
 *   attempted one (never an older one);
 * - corrupt: no value other than those;
 * - key: the stored key info holds only the current key, every record is sealed with it (raw
 *   LevelDB values) and large records are still stored compressed;
 * and once more after a clean reopen with K2, where K1 is refused again.
 *
 * CI: the 10 scenarios below, 15 kills (10 of rotateEncryptionKey, 5 of resumed rotations, fewer
 * when a rotation finished before its resume could be killed), ~40-55 s on a loaded 2-core
 * machine. ROTATION_RECORDS (default 2,000) sets the store size, ROTATION_ROUNDS=n runs the
 * scenario list n times, ROTATION_VERBOSE=1 prints each scenario.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { build } from 'esbuild';
import { StorageSystem } from '../../src/index.node.ts';
import { Model, checkRotation, note, rotationKey, rotationStoreOptions, type Findings, type KeyKind } from '../support/rotation.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
/** The child, bundled once with esbuild: a plain `node` start is ~1.5 s faster per kill than `--import tsx` here. */
const CHILD = join(ROOT, '.tmp', `rotation-child-${process.pid}.mjs`);
const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const RECORDS = env('ROTATION_RECORDS', 2000);
const ROUNDS = env('ROTATION_ROUNDS', 1);
const VERBOSE = process.env.ROTATION_VERBOSE === '1';

/** Where the rotating child dies (see the module comment). */
type KillAt = 'rotating' | 'landed' | 'last' | 'done' | 'random';
interface Scenario {
  kill: KillAt;
  kind: KeyKind;
  /** Resumed rotations to kill (each in a child that opens with K2) before the checked open. */
  resumeKills?: number;
  /** The checking open calls rotateEncryptionKey(K2) again while the resume runs. */
  rerotate?: boolean;
}

/**
 * Passphrases cost a full PBKDF2 (600,000 iterations: the backend has no test-only lower count)
 * at every open, so most scenarios use key bytes; `rotating` needs the PBKDF2 time to land before
 * the key info.
 */
const SCENARIOS: Scenario[] = [
  { kill: 'rotating', kind: 'passphrase' },
  { kill: 'landed', kind: 'bytes' },
  { kill: 'random', kind: 'passphrase', resumeKills: 1 },
  { kill: 'random', kind: 'bytes' },
  { kill: 'last', kind: 'bytes' },
  { kill: 'random', kind: 'bytes', resumeKills: 2 },
  { kill: 'random', kind: 'passphrase', rerotate: true },
  { kill: 'done', kind: 'bytes' },
  { kill: 'landed', kind: 'bytes', resumeKills: 1, rerotate: true },
  { kill: 'random', kind: 'bytes', resumeKills: 1 },
];

const rand = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));

interface ChildRun {
  lines: Set<string>;
  /** Highest `done` of the `resealing` progress events seen. */
  resealed: number;
  total: number;
  acks: number;
  /** Killed by the watchdog: the child went quiet before its kill point (a hang, or a resume that never ran). */
  quiet: boolean;
  stderr: string;
  exit: { code: number | null; signal: NodeJS.Signals | null };
}

/**
 * Runs the child in `mode` and SIGKILLs it a random 0..2 ms after `shouldKill` says so (checked
 * at every line), or after `quietMs` without a line other than an update's (`quiet`). The
 * acknowledgements go into `model`.
 */
function runChild(dir: string, mode: 'write' | 'resume', kind: KeyKind, gen: number, model: Model, quietMs: number, shouldKill: (line: string, run: ChildRun) => boolean): Promise<ChildRun> {
  const proc = spawn(process.execPath, [CHILD, dir, mode, kind, String(RECORDS), String(gen)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const run: ChildRun = { lines: new Set(), resealed: -1, total: 0, acks: 0, quiet: false, stderr: '', exit: { code: null, signal: null } };
  let buffered = '';
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const kill = () => proc.kill('SIGKILL');
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  const quiet = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => { run.quiet = true; kill(); }, quietMs);
  };
  quiet();
  const onLine = (line: string) => {
    const [word, a, b, c] = line.split(' ');
    if (word === 'try') model.tried(Number(a), gen);
    else if (word === 'ack') { model.ack(Number(a), gen); run.acks++; }
    else {
      quiet();
      run.lines.add(word === 'progress' ? `${word} ${a}` : line);
      if (word === 'progress' && a === 'resealing') { run.resealed = Math.max(run.resealed, Number(b)); run.total = Number(c); }
    }
    if (killTimer === undefined && shouldKill(line, run)) killTimer = setTimeout(kill, rand(0, 2));
  };
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      onLine(buffered.slice(0, i));
      buffered = buffered.slice(i + 1);
    }
  });
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (chunk: string) => { run.stderr += chunk; });
  return new Promise((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (code, signal) => {
      clearTimeout(watchdog);
      clearTimeout(killTimer);
      run.exit = { code, signal };
      resolve(run);
    });
  });
}

/** The kill condition of the rotating child; `random` kills land in the first `upTo` of the records (so that a resume has work left). */
function killPoint(at: KillAt, upTo = 1): { label: string; test: (line: string, run: ChildRun) => boolean } {
  if (at === 'rotating') return { label: 'as the rotation starts', test: (line) => line === 'rotating' };
  if (at === 'landed') return { label: 'at the first progress event (key info landed)', test: (line) => line.startsWith('progress resealing') };
  if (at === 'last') return { label: 'at the last re-seal progress event (the retire comes next)', test: (line, r) => line.startsWith('progress resealing') && r.resealed === r.total };
  if (at === 'done') return { label: 'after the rotation finished', test: (line) => line.startsWith('progress done') };
  const n = rand(1, Math.floor((RECORDS - 1) * upTo));
  return { label: `after ${n} of ${RECORDS} records re-sealed`, test: (line, r) => line.startsWith('progress resealing') && r.resealed >= n };
}

/** Opens the store with `key` and closes it: 'ok', or 'bad-key' for STORAGE_BAD_KEY (any other error is thrown). */
async function probe(dir: string, key: string | Uint8Array): Promise<'ok' | 'bad-key'> {
  const storage = new StorageSystem({ defaultBackend: 'file' });
  const backend = storage.createBackend('file', rotationStoreOptions(dir, key));
  try {
    await backend.open();
    return 'ok';
  } catch (err) {
    if ((err as { code?: string }).code === 'STORAGE_BAD_KEY') return 'bad-key';
    throw err;
  } finally {
    await storage.close().catch(() => {});
  }
}

/** Opens the store with `key` (record cache on) and checks it (see checkRotation); the findings go into `f`, the values found into `model`. */
async function checkStore(dir: string, key: string | Uint8Array, model: Model, f: Findings, rotateTo?: string | Uint8Array): Promise<{ resumed: boolean; ms: number }> {
  const started = performance.now();
  const storage = new StorageSystem({ defaultBackend: 'file', enableCaching: true, cacheSize: RECORDS });
  storage.createBackend('file', rotationStoreOptions(dir, key));
  const { findings, resumed, found } = await checkRotation(storage, model.allowed(), rotateTo);
  model.settle(found);
  f.lost += findings.lost;
  f.corrupt += findings.corrupt;
  f.key += findings.key;
  f.details.push(...findings.details);
  return { resumed, ms: performance.now() - started };
}

interface Totals { kills: number; resumeKills: number; k1Opened: number; wrongKey: number; acks: number; resumed: number; lost: number; corrupt: number; key: number; details: string[] }

async function runScenario(s: Scenario, n: number, t: Totals): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tierstore-rotation-crash-'));
  const k1 = rotationKey(s.kind, 1);
  const k2 = rotationKey(s.kind, 2);
  const model = new Model(RECORDS);
  const f: Findings = { lost: 0, corrupt: 0, key: 0, details: [] };
  const log: string[] = [];
  const wrongKey = async (key: string | Uint8Array, label: string) => {
    const r = await probe(dir, key);
    t.wrongKey++;
    if (r !== 'bad-key') note(f, 'key', `${label} opened the store`);
  };
  try {
    // 1. The rotating child, killed at the scenario's point.
    const point = killPoint(s.kill, s.resumeKills || s.rerotate ? 0.6 : 1);
    const run = await runChild(dir, 'write', s.kind, 2, model, 30_000, point.test);
    assert.equal(run.exit.signal, 'SIGKILL', `scenario ${n}: the writer must die by our SIGKILL (code ${run.exit.code})\n${run.stderr}`);
    if (run.quiet) note(f, 'key', `the rotating child went quiet for 30 s before its kill point (${[...run.lines].join(', ')})`);
    t.kills++;
    t.acks += run.acks;
    const landed = run.lines.has('progress resealing');
    log.push(`killed ${point.label} (${landed ? `${Math.max(0, run.resealed)}/${run.total} re-sealed` : 'no progress event yet'}${run.lines.has('progress done') ? ', done' : ''}, ${run.acks} updates acknowledged)`);

    // 2. Exactly one key opens: K1 before the new key info landed, K2 after.
    const k1Opens = (await probe(dir, k1)) === 'ok';
    if (landed && k1Opens) note(f, 'key', 'K1 still opens the store after the new key info landed');
    if (!run.lines.has('rotating') && !k1Opens) note(f, 'key', 'K1 no longer opens the store, and the rotation never started');
    if (k1Opens) { t.k1Opened++; await wrongKey(k2, 'K2 (the key info had not landed)'); } else t.wrongKey++;
    log.push(k1Opens ? 'K1 opens, K2 refused' : 'K1 refused, K2 opens');

    // 3. Kill the resumed rotation, in a child that opens with K2.
    for (let r = 0; r < (s.resumeKills ?? 0) && !k1Opens; r++) {
      const at = rand(0, Math.floor(RECORDS * 0.8));
      const resume = await runChild(dir, 'resume', s.kind, 3 + r, model, 10_000, (line, cr) => line === 'ready idle' || (line.startsWith('progress resealing') && cr.resealed >= at));
      assert.equal(resume.exit.signal, 'SIGKILL', `scenario ${n}: the resuming child must die by our SIGKILL (code ${resume.exit.code})\n${resume.stderr}`);
      if (resume.quiet) note(f, 'key', `the resumed rotation made no progress for 10 s (${[...resume.lines].join(', ')})`);
      t.acks += resume.acks;
      if (resume.quiet) break;
      if (resume.lines.has('ready idle')) {
        log.push(`resume ${r + 1}: nothing left to resume (the rotation had finished), killed at once`);
        break;
      }
      t.kills++;
      t.resumeKills++;
      log.push(`resume ${r + 1} killed at ${resume.resealed}/${resume.total}${resume.lines.has('progress done') ? ' (after it finished)' : ''} (target ${at}, ${resume.acks} updates acknowledged)`);
      await wrongKey(k1, 'K1 (after a killed resume)');
    }

    // 4. Open with the key that opens it: the rotation resumes (K2) or runs again (K1); check everything.
    const checked = await checkStore(dir, k1Opens ? k1 : k2, model, f, k1Opens || s.rerotate ? k2 : undefined);
    if (checked.resumed) t.resumed++;
    log.push(`checked in ${Math.round(checked.ms)} ms (${k1Opens ? 'rotation run again' : checked.resumed ? `resumed at open${s.rerotate ? ', rotateEncryptionKey(K2) re-run during the resume' : ''}` : 'nothing to resume'})`);

    // 5. A clean reopen with K2 reads everything again; K1 is refused. (Skipped after a failure: a failing run stays short.)
    if (f.lost + f.corrupt + f.key === 0) {
      await checkStore(dir, k2, model, f);
      await wrongKey(k1, 'K1 (after the rotation finished)');
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  t.lost += f.lost;
  t.corrupt += f.corrupt;
  t.key += f.key;
  t.details.push(...f.details.map((d) => `scenario ${n} (${s.kill}, ${s.kind}): ${d}`));
  return `scenario ${n} (${s.kind}): ${log.join('; ')}; lost ${f.lost}, corrupt ${f.corrupt}, key ${f.key}`;
}

test(`crash: SIGKILL a key rotation of ${RECORDS} records at ${SCENARIOS.length * ROUNDS} points (and the resumed rotation after some); it resumes and loses nothing`, { timeout: 10 * 60_000 }, async () => {
  const started = performance.now();
  await mkdir(join(ROOT, '.tmp'), { recursive: true });
  await build({ entryPoints: [join(ROOT, 'test/node/fixtures/rotation-child.ts')], outfile: CHILD, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'warning' });
  const t: Totals = { kills: 0, resumeKills: 0, k1Opened: 0, wrongKey: 0, acks: 0, resumed: 0, lost: 0, corrupt: 0, key: 0, details: [] };
  let n = 0;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const s of SCENARIOS) {
        const line = await runScenario(s, n++, t);
        if (VERBOSE) console.log(line);
      }
    }
  } finally {
    await rm(CHILD, { force: true });
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `rotation crash summary: ${n} scenarios, ${t.kills} kills (${t.kills - t.resumeKills} during rotateEncryptionKey, ${t.resumeKills} during the resumed rotation), ` +
    `${RECORDS} records each, ${t.acks} concurrent updates acknowledged; K1 still opened after ${t.k1Opened} kills; ` +
    `rotation resumed at open ${t.resumed} times; ${t.wrongKey} wrong-key checks; lost ${t.lost}, corrupt ${t.corrupt}, key/seal problems ${t.key}; ${seconds.toFixed(1)} s`,
  );
  const details = t.details.join('\n');
  assert.equal(t.lost, 0, `records lost:\n${details}`);
  assert.equal(t.corrupt, 0, `records changed:\n${details}`);
  assert.equal(t.key, 0, `keys or seals wrong:\n${details}`);
  assert.ok(t.kills >= 10, `${t.kills} kills`);
  assert.ok(t.resumed >= 3, `the rotation resumed at open ${t.resumed} times`);
});
