/**
 * Page-side test collector: the suites declare their cases through `declare`, and the Node side
 * runs them one at a time through `run([name])`, so each case is its own node:test subtest.
 * No test framework in the page: results are plain data that cross `page.evaluate`.
 */
import type { Declare } from '../conformance/types';

/** Outcome of one case, as returned to Node. */
export interface CaseResult {
  name: string;
  ok: boolean;
  error?: string;
  ms: number;
}

/** A set of declared cases. */
export interface Suite {
  declare: Declare;
  names(): string[];
  /** Runs the named cases (default: all) in declaration order, one after the other. */
  run(names?: string[]): Promise<CaseResult[]>;
}

export function createSuite(): Suite {
  const cases: [string, () => Promise<void> | void][] = [];
  return {
    declare: (name, fn) => {
      if (cases.some(([n]) => n === name)) throw new Error(`duplicate test name: ${name}`);
      cases.push([name, fn]);
    },
    names: () => cases.map(([n]) => n),
    async run(names) {
      const results: CaseResult[] = [];
      for (const [name, fn] of cases) {
        if (names && !names.includes(name)) continue;
        const start = performance.now();
        try {
          await fn();
          results.push({ name, ok: true, ms: performance.now() - start });
        } catch (err) {
          const e = err as Error;
          const head = e instanceof Error ? `${e.name}: ${e.message}` : String(err);
          const error = e instanceof Error && e.stack?.includes(e.message) ? e.stack : `${head}\n${e?.stack ?? ''}`;
          results.push({ name, ok: false, error, ms: performance.now() - start });
        }
      }
      return results;
    },
  };
}

/**
 * Deletes an IndexedDB database and reports whether the delete was ever `blocked` (an open
 * connection did not close on `versionchange`). Waits through `blocked`, since closing connections
 * finish their transactions first, but never longer than `timeout`: a test must fail, not hang.
 */
export function deleteDatabase(name: string, timeout = 10_000): Promise<{ blocked: boolean }> {
  return new Promise((resolve, reject) => {
    let blocked = false;
    const timer = setTimeout(() => reject(new Error(`deleteDatabase("${name}") still blocked after ${timeout} ms: a connection was not released`)), timeout);
    const req = indexedDB.deleteDatabase(name);
    req.onblocked = () => { blocked = true; };
    req.onsuccess = () => { clearTimeout(timer); resolve({ blocked }); };
    req.onerror = () => { clearTimeout(timer); reject(req.error); };
  });
}
