/** TTL and pattern behaviour every engine must share. */
import fc from 'fast-check';
import type { Declare, Target } from './types';
import { deepEqual, equal, ok } from '../support/assert';
import { sleep } from './util';

/** Reference matcher: segment-by-segment, no regular expressions, no prefix trick. */
export function naiveMatch(pattern: string, key: string): boolean {
  const tokens: string[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') tokens.push('=' + pattern[++i]);
    else if (c === '*' && pattern[i + 1] === '*') { tokens.push('**'); i++; }
    else if (c === '*') tokens.push('*');
    else tokens.push('=' + c);
  }
  const go = (t: number, k: number): boolean => {
    if (t === tokens.length) return k === key.length;
    const tok = tokens[t]!;
    if (tok === '**') {
      for (let j = k; j <= key.length; j++) if (go(t + 1, j)) return true;
      return false;
    }
    if (tok === '*') {
      for (let j = k; j <= key.length; j++) {
        if (go(t + 1, j)) return true;
        if (key[j] === '.') return false;
      }
      return false;
    }
    return key[k] === tok[1] && go(t + 1, k + 1);
  };
  return go(0, 0);
}

export function ttlPatternTests(test: Declare, target: Target): void {
  test('an expired entry is invisible to every read path', async () => {
    const f = await target.open({ sweepInterval: 0 });
    try {
      const { storage } = f;
      await storage.set('t.short', 'gone', { ttl: 0.05 });
      await storage.batchSet([{ key: 't.batch', value: 'gone too', ttl: 0.05 }, { key: 't.keep', value: 'stays' }]);
      equal(await storage.get('t.short'), 'gone');
      await sleep(80);
      equal(await storage.get('t.short'), undefined);
      equal(await storage.getEntry('t.short'), undefined);
      equal(await storage.has('t.short'), false);
      deepEqual(await storage.batchGet(['t.short', 't.batch', 't.keep']), [undefined, undefined, 'stays']);
      deepEqual(await storage.keys('t.*'), ['t.keep']);
      deepEqual(await storage.keys('t.short'), []);
      equal(await storage.delete('t.short'), false, 'deleting an expired key reports nothing deleted');
      equal(await storage.clear('t.*'), 1);
    } finally {
      await f.cleanup();
    }
  });

  test('the sweep deletes expired entries through the expiry index and emits expire', async () => {
    const f = await target.open({ sweepInterval: 20 });
    try {
      const { storage } = f;
      const expired: string[] = [];
      storage.on('expire', (e) => expired.push(e.key));
      await storage.set('s.a', 1, { ttl: 0.03 });
      await storage.set('s.b', 2, { ttl: 0.03 });
      await storage.set('s.b', 3); // rewritten without ttl: its old index entry is stale
      await storage.set('s.c', 4, { ttl: 3600 });
      await sleep(200);
      deepEqual(expired, ['s.a']);
      deepEqual(await storage.keys('s.*'), ['s.b', 's.c']);
      equal(await storage.get('s.b'), 3);
    } finally {
      await f.cleanup();
    }
  });

  test('a sweep reads only the due part of the expiry index, never the whole store', async () => {
    const f = await target.open({ sweepInterval: 0 });
    try {
      const { storage } = f;
      await storage.batchSet(Array.from({ length: 2000 }, (_, i) => ({ key: `bulk.${i}`, value: i })));
      await storage.batchSet(Array.from({ length: 5 }, (_, i) => ({ key: `due.${i}`, value: i, ttl: 0.01 })));
      await storage.batchSet(Array.from({ length: 500 }, (_, i) => ({ key: `later.${i}`, value: i, ttl: 3600 })));
      await sleep(30);
      const backend = storage.getBackend(storage.defaultBackend)!;
      const before = f.reads();
      deepEqual((await backend.sweep()).sort(), ['due.0', 'due.1', 'due.2', 'due.3', 'due.4']);
      const read = f.reads() - before;
      ok(read <= 12, `one sweep read ${read} entries for 5 due ones among 2,505 (5 index entries, 5 records, 1 probe of the next deadline)`);
      equal((await storage.keys('due.*')).length, 0);
    } finally {
      await f.cleanup();
    }
  });

  test('a rewritten ttl replaces the old deadline', async () => {
    const f = await target.open({ sweepInterval: 10 });
    try {
      const { storage } = f;
      await storage.set('r', 'v1', { ttl: 0.03 });
      await storage.set('r', 'v2', { ttl: 3600 });
      await sleep(100);
      equal(await storage.get('r'), 'v2');
    } finally {
      await f.cleanup();
    }
  });

  test('patterns: * is one segment, ** any depth, \\ escapes, no wildcard is exact', async () => {
    const f = await target.open();
    try {
      const { storage } = f;
      const keys = ['users', 'users.', 'users.1', 'users.2', 'users.1.name', 'users.x.y.z', 'usersX.1', 'a*b', 'a.b', 'ab'];
      await storage.batchSet(keys.map((key) => ({ key, value: 0 })));
      deepEqual(await storage.keys('users.*'), ['users.', 'users.1', 'users.2']);
      deepEqual(await storage.keys('users.**'), ['users.', 'users.1', 'users.1.name', 'users.2', 'users.x.y.z']);
      deepEqual(await storage.keys('users.*.name'), ['users.1.name']);
      deepEqual(await storage.keys('users'), ['users']);
      deepEqual(await storage.keys('a\\*b'), ['a*b']);
      deepEqual(await storage.keys('*'), ['a*b', 'ab', 'users']);
      deepEqual(await storage.keys('**'), [...keys].sort());
      deepEqual(await storage.keys('*.1'), ['users.1', 'usersX.1']);
    } finally {
      await f.cleanup();
    }
  });

  test('keys() agrees with a naive reference matcher on random keys and patterns', async () => {
    const f = await target.open();
    try {
      const { storage } = f;
      const alphabet = ['a', 'b', '.', 'é', '😀', '\uffff', 'Z'];
      const keyArb = fc.array(fc.constantFrom(...alphabet), { minLength: 1, maxLength: 6 }).map((a) => a.join(''));
      const patArb = fc.array(fc.constantFrom('a', 'b', '.', '*', '**', '\\*', '😀', 'é'), { minLength: 1, maxLength: 5 }).map((a) => a.join(''))
        .filter((p) => !p.includes('***'));
      const keys = fc.sample(fc.uniqueArray(keyArb, { minLength: 50, maxLength: 50 }), { numRuns: 1, seed: 7 })[0]!;
      await storage.batchSet(keys.map((key) => ({ key, value: 1 })));
      const sorted = [...keys].sort();
      await fc.assert(
        fc.asyncProperty(patArb, async (pattern) => {
          deepEqual(await storage.keys(pattern), sorted.filter((k) => naiveMatch(pattern, k)), `pattern ${JSON.stringify(pattern)}`);
        }),
        { numRuns: 150, seed: 42 },
      );
    } finally {
      await f.cleanup();
    }
  });

  test('keys are returned in UTF-16 code-unit order on every engine', async () => {
    const f = await target.open();
    try {
      const keys = ['k.\uffff', 'k.😀', 'k.z', 'k.é', 'k.\u00ff'];
      await f.storage.batchSet(keys.map((key) => ({ key, value: 1 })));
      deepEqual(await f.storage.keys('k.*'), [...keys].sort());
      ok(true);
    } finally {
      await f.cleanup();
    }
  });
}
