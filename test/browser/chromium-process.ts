/**
 * Chromium as a process the crash tests can kill (test/browser/crash.test.ts,
 * crash-rotation.test.ts): started here, not by playwright, so that the test holds the pid of the
 * browser process — `--remote-debugging-port=0` on a `--user-data-dir`, then
 * `chromium.connectOverCDP` — and SIGKILLed alone or with its whole process group.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM_PATH, LAUNCH } from './harness';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pids of the live (not zombie) processes of process group `pgid`; undefined when /proc cannot tell. */
export function groupMembers(pgid: number): number[] | undefined {
  if (!existsSync('/proc/self/stat')) return undefined;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // pid (comm) state ppid pgrp …; comm may contain spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') pids.push(Number(entry));
  }
  return pids;
}

export interface Running {
  proc: ChildProcess;
  pid: number;
  browser: Browser;
  /** The last chunks of Chromium's stderr (for start failures). */
  stderr: string[];
  /** Every line of Chromium's log about IndexedDB / LevelDB storage. */
  storageLog: string[];
}

/** What Chromium logs when it finds an IndexedDB database corrupt at open, and deletes it. */
export const BROWSER_WIPE = /recovering from a corrupted \(and deleted\) database/i;

/** Starts Chromium on `profile` in a process group of its own and connects to it over CDP. */
export async function startChromium(profile: string): Promise<Running> {
  const args = [
    ...(LAUNCH.args ?? []), '--headless', '--remote-debugging-port=0', `--user-data-dir=${profile}`,
    '--password-store=basic', '--use-mock-keychain', 'about:blank',
  ];
  const proc = spawn(CHROMIUM_PATH, args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr: string[] = [];
  const storageLog: string[] = [];
  let partial = '';
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Chromium printed no DevTools endpoint within 20 s:\n${stderr.join('')}`)), 20_000);
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => {
      stderr.push(chunk);
      if (stderr.length > 50) stderr.shift();
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      storageLog.push(...lines.filter((l) => /indexed_?db|leveldb|corrupt/i.test(l)));
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(stderr.join(''));
      if (m) { clearTimeout(timer); resolve(m[1]!); }
    });
    proc.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`Chromium exited at start (${code ?? signal}):\n${stderr.join('')}`)); });
  });
  const browser = await chromium.connectOverCDP(endpoint);
  return { proc, pid: proc.pid!, browser, stderr, storageLog };
}

/**
 * SIGKILLs the browser process (`browser`) or its whole process group (`group`), waits for it to
 * exit, then for every process of the group to be gone (killing leftovers after 5 s).
 */
export async function kill(run: Running, mode: 'browser' | 'group'): Promise<void> {
  const exited = run.proc.exitCode !== null || run.proc.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((r) => run.proc.once('exit', () => r()));
  process.kill(mode === 'group' ? -run.pid : run.pid, 'SIGKILL');
  await exited;
  const deadline = Date.now() + 5000;
  for (;;) {
    const left = groupMembers(run.pid);
    if (left === undefined) { await sleep(500); break; }
    if (left.length === 0) break;
    if (Date.now() > deadline) {
      try { process.kill(-run.pid, 'SIGKILL'); } catch { /* gone meanwhile */ }
    }
    await sleep(50);
  }
  run.proc.stderr?.destroy();
}

/** Closes Chromium normally (the last cycle), or kills it when it does not close. */
export async function shutdown(run: Running): Promise<void> {
  await Promise.race([run.browser.close().catch(() => {}), sleep(5000)]);
  if (run.proc.exitCode === null && run.proc.signalCode === null) await kill(run, 'group');
  run.proc.stderr?.destroy();
}
