#!/usr/bin/env node
/**
 * `npm run test:crash`: the long crash-safety run of test/node/crash.test.ts — 50 SIGKILLs of a
 * strict-durability LevelDB writer, each after a random 5,000..15,000 acknowledged operations
 * (about 10,000 on average), checking after every kill that no acknowledged write was lost and
 * no batch or transaction was torn. Extra arguments go to `node --test`; CRASH_KILLS,
 * CRASH_MIN_ACKS, CRASH_MAX_ACKS, CRASH_WORKERS and CRASH_VERBOSE=1 tune it.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const child = spawn(process.execPath, ['--import', 'tsx', '--test', ...process.argv.slice(2), 'test/node/crash.test.ts'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, TIERSTORE_CRASH_LONG: '1' },
});
child.on('exit', (code, signal) => process.exit(signal ? 1 : code ?? 1));
